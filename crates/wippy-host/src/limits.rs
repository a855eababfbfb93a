//! The limits every host has, whether its entry sets them or not: how many
//! worker threads it may ask for, how much memory one of its processes
//! may hold, and how long a cancelled one may take to end (`docs/registry.md`, "Host settings").
//!
//! ```
//! use wippy_host::limits::{self, DEFAULT_MEMORY_LIMIT};
//! assert!(limits::max_workers() >= limits::WORKERS_PER_CORE);
//! assert_eq!(DEFAULT_MEMORY_LIMIT, 512 << 20);
//! ```

use std::time::Duration;

use wippy_process::wippy_sched::Scheduler;

/// Workers a host may have per core of the machine (see [`max_workers`]).
pub const WORKERS_PER_CORE: usize = 64;

/// The most worker threads one host may have on this machine:
/// [`WORKERS_PER_CORE`] per available core (and never more than a
/// scheduler can count).
///
/// Each worker is an OS thread with four VM shards of its own, a few MB in
/// all (2,000 workers took 7.5 GB), and Lua processes never block a worker
/// (blocking work runs on the blocking pool), so workers beyond the core
/// count add memory, not throughput. 64 per core keeps the worst case
/// near 250 MB per core while leaving far more room than any app needs.
/// The bound depends on the machine: an app that asks for 200 workers
/// loads on a 4-core machine and not on a 2-core one.
pub fn max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores
        .saturating_mul(WORKERS_PER_CORE)
        .min(Scheduler::MAX_WORKERS)
}

/// The memory a process may hold when its host's `memory_limit` is not
/// given: 512 MB. It is there to stop a runaway process (a table that
/// grows without end reached 3 GB in 8 s) before it takes the machine
/// down, so it is set far above what a process normally holds. A host
/// sets its own with `memory_limit`, or none with `memory_limit: 0`.
pub const DEFAULT_MEMORY_LIMIT: u64 = 512 << 20;

/// How long a cancelled process may take to end before it is terminated,
/// when its host's `cancel_deadline` is not given: 5 s (counted from when
/// it gets to see the CANCEL; `docs/registry.md`, "Host settings").
pub const DEFAULT_CANCEL_DEADLINE: Duration = Duration::from_secs(5);

/// The smallest `memory_limit` a host may set besides 0 (no limit): 1 MB.
/// A limit of a few bytes would end every process at its first
/// allocation, which is a mistake in the app file, so it is a load error.
pub const MIN_MEMORY_LIMIT: u64 = 1 << 20;

/// The memory limit of a process from its host's `memory_limit` setting:
/// not given → [`DEFAULT_MEMORY_LIMIT`]; `0` → none; otherwise as given.
///
/// ```
/// use wippy_host::limits::{memory_limit, DEFAULT_MEMORY_LIMIT};
/// assert_eq!(memory_limit(None), Some(DEFAULT_MEMORY_LIMIT));
/// assert_eq!(memory_limit(Some(0)), None);
/// assert_eq!(memory_limit(Some(16 << 20)), Some(16 << 20));
/// ```
pub fn memory_limit(setting: Option<u64>) -> Option<u64> {
    match setting {
        None => Some(DEFAULT_MEMORY_LIMIT),
        Some(0) => None,
        Some(bytes) => Some(bytes),
    }
}
