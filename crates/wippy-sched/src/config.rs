//! Scheduler settings.

/// Scheduler settings.
///
/// Build one with struct-update syntax so that new fields keep their
/// defaults: `Config { name: "web".into(), workers: 2, ..Config::default() }`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Name of the scheduler; worker threads are named `{name}-w{i}`.
    pub name: String,
    /// Number of worker threads (one OS thread each). `0` is treated as `1`.
    /// Default: the number of available cores.
    pub workers: usize,
    /// Soft bound on each worker's local queue. When a push finds the queue
    /// at this length, half of it moves to the global queue. Default: 256
    /// (Wippy's `local_queue_size`).
    pub local_queue_capacity: usize,
    /// Soft bound on the global queue: a local queue overflows into it only
    /// while it holds fewer tasks (else the overflow stays local, for other
    /// workers to steal). Tasks woken from other threads always enter it.
    /// Default: unbounded; Wippy's `queue_size` sets it for a host.
    pub global_queue_capacity: usize,
    /// A worker looks at the global queue before its local queue once every
    /// this many tasks, so tasks woken from outside cannot starve.
    /// Default: 61 (as in tokio and Go).
    pub global_queue_interval: u32,
    /// How many times in a row a worker may run the task in its LIFO slot
    /// before it takes one from its local queue instead. Default: 3.
    pub lifo_budget: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "wippy".into(),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            local_queue_capacity: 256,
            global_queue_capacity: usize::MAX,
            global_queue_interval: 61,
            lifo_budget: 3,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn default_is_one_worker_per_available_core() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(Config::default().workers, cores);
    }
}
