//! Cheap per-worker counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of one worker. Written only by the worker's own thread (so a
/// relaxed load + store is enough, no read-modify-write), read by anyone.
/// `Relaxed` everywhere: the counters synchronise with nothing, a reader
/// gets a recent value.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    tasks_run: AtomicU64,
    steals: AtomicU64,
    parks: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Relaxed) + 1, Relaxed);
}

impl Counters {
    pub(crate) fn task_run(&self) {
        bump(&self.tasks_run);
    }
    pub(crate) fn steal(&self) {
        bump(&self.steals);
    }
    pub(crate) fn park(&self) {
        bump(&self.parks);
    }
    pub(crate) fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            tasks_run: self.tasks_run.load(Relaxed),
            steals: self.steals.load(Relaxed),
            parks: self.parks.load(Relaxed),
        }
    }
}

/// A snapshot of one worker's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Tasks this worker has run.
    pub tasks_run: u64,
    /// Successful steals from other workers' queues.
    pub steals: u64,
    /// Times this worker blocked waiting for work.
    pub parks: u64,
}

/// A snapshot of a scheduler's counters, see [`crate::Handle::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// One entry per worker, by worker index.
    pub workers: Vec<WorkerStats>,
}

impl Stats {
    /// Tasks run by all workers.
    pub fn tasks_run(&self) -> u64 {
        self.workers.iter().map(|w| w.tasks_run).sum()
    }
    /// Steals by all workers.
    pub fn steals(&self) -> u64 {
        self.workers.iter().map(|w| w.steals).sum()
    }
    /// Parks by all workers.
    pub fn parks(&self) -> u64 {
        self.workers.iter().map(|w| w.parks).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_the_workers() {
        let a = Counters::default();
        let b = Counters::default();
        a.task_run();
        a.task_run();
        b.steal();
        b.park();
        let stats = Stats {
            workers: vec![a.snapshot(), b.snapshot()],
        };
        assert_eq!(
            (stats.tasks_run(), stats.steals(), stats.parks()),
            (2, 1, 1)
        );
    }
}
