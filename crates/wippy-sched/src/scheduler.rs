//! The scheduler: its worker threads, the state they share, and the
//! [`Handle`] through which tasks enter it.

use crate::config::Config;
use crate::error::SchedError;
use crate::idle::Idle;
use crate::park::Parker;
use crate::queue::LocalQueue;
use crate::stats::{Counters, Stats};
use crate::task::TaskRef;
use crate::worker::{self, Entry};
use crossbeam_deque::{Injector, Steal, Stealer};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Settings the workers read on their hot path (validated copies).
#[derive(Debug)]
pub(crate) struct Tuning {
    pub(crate) global_queue_interval: u32,
    pub(crate) lifo_budget: u32,
}

/// State shared by a scheduler's workers and handles.
pub(crate) struct Shared {
    pub(crate) name: String,
    /// The global queue: tasks from outside, overflow of local queues.
    pub(crate) injector: Injector<TaskRef>,
    /// One per worker, by index (a worker's own is included).
    pub(crate) stealers: Vec<Stealer<TaskRef>>,
    pub(crate) idle: Idle,
    /// One per worker, by index.
    pub(crate) parkers: Vec<Parker>,
    /// One per worker, by index.
    pub(crate) counters: Vec<Counters>,
    pub(crate) config: Tuning,
    /// Set once, by `Scheduler::stop`; never cleared.
    shutdown: AtomicBool,
}

impl Shared {
    /// Whether shutdown has begun (`SeqCst`: pairs with the store in
    /// `Scheduler::stop`, see `push_remote`).
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Wakes one parked worker if the idle protocol says so.
    pub(crate) fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.parkers[index].unpark();
        }
    }

    /// Pushes to the injector from a thread that is not one of our workers.
    pub(crate) fn push_remote(&self, task: TaskRef) {
        self.injector.push(task);
        // `notify_parked` starts with a SeqCst fence, so the shutdown load
        // below is ordered after the push. Invariant: `stop` stores the flag
        // (SeqCst) before it drains the injector, so either the drain sees
        // this task or this load sees the flag and drains it here. Either
        // way no task is left in a dead scheduler.
        self.notify_parked();
        if self.is_shutdown() {
            self.drain_injector();
        }
    }

    /// Whether any queue visible to other workers holds a task.
    pub(crate) fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(task) => drop(task),
                Steal::Retry => std::hint::spin_loop(),
                Steal::Empty => break,
            }
        }
    }
}

/// A work-stealing scheduler: `workers` OS threads running [`crate::Task`]s.
///
/// Fairness, in short: a worker runs the task it woke last (its LIFO slot,
/// at most `lifo_budget` times in a row), then its local FIFO queue, then
/// the global queue, then steals from other workers; every
/// `global_queue_interval` tasks it checks the global queue first. Idle
/// workers park on a condvar and use no CPU.
///
/// Dropping it shuts it down like [`Scheduler::shutdown`].
pub struct Scheduler {
    handle: Handle,
    threads: Vec<JoinHandle<()>>,
    stopped: bool,
}

impl Scheduler {
    /// The most workers one scheduler can have (what its parking protocol
    /// can count; far above what a machine can run usefully, so callers
    /// that take a count from users bound it lower).
    pub const MAX_WORKERS: usize = crate::idle::MAX_WORKERS;

    /// Starts `config.workers` worker threads named `{name}-w{i}`.
    ///
    /// Fails with [`SchedError::TooManyWorkers`] above
    /// [`Scheduler::MAX_WORKERS`], and with [`SchedError::Spawn`] when the
    /// OS refuses a thread (the threads started so far are stopped).
    pub fn new(config: Config) -> Result<Scheduler, SchedError> {
        let workers = config.workers.max(1);
        if workers > Self::MAX_WORKERS {
            return Err(SchedError::TooManyWorkers {
                requested: workers,
                max: Self::MAX_WORKERS,
            });
        }
        let (queues, stealers): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| LocalQueue::new(config.local_queue_capacity, config.global_queue_capacity))
            .unzip();
        let shared = Arc::new(Shared {
            name: config.name.clone(),
            injector: Injector::new(),
            stealers,
            idle: Idle::new(workers),
            parkers: (0..workers).map(|_| Parker::default()).collect(),
            counters: (0..workers).map(|_| Counters::default()).collect(),
            config: Tuning {
                global_queue_interval: config.global_queue_interval.max(1),
                lifo_budget: config.lifo_budget,
            },
            shutdown: AtomicBool::new(false),
        });
        let mut scheduler = Scheduler {
            handle: Handle {
                shared: shared.clone(),
            },
            threads: Vec::with_capacity(workers),
            stopped: false,
        };
        for (index, queue) in queues.into_iter().enumerate() {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-w{index}", config.name))
                .spawn(move || worker::run(shared, index, queue));
            match spawned {
                Ok(thread) => scheduler.threads.push(thread),
                Err(err) => {
                    scheduler.stop();
                    return Err(SchedError::Spawn(err));
                }
            }
        }
        tracing::debug!(scheduler = %config.name, workers, "scheduler started");
        Ok(scheduler)
    }

    /// A handle to schedule tasks on this scheduler.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stops the scheduler: marks it shut down, wakes every worker, waits
    /// for each to finish the task it is running, and joins the threads.
    ///
    /// Tasks still queued are **dropped without running** (cancelled), and
    /// so is any task scheduled afterwards through a [`Handle`].
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let shared = &self.handle.shared;
        shared.shutdown.store(true, Ordering::SeqCst);
        for parker in &shared.parkers {
            parker.unpark();
        }
        let me = std::thread::current().id();
        for thread in self.threads.drain(..) {
            if thread.thread().id() == me {
                // Dropped from inside one of its own tasks: this worker
                // exits (and drops its queue) when the task returns.
                tracing::warn!(scheduler = %shared.name, "scheduler stopped from its own worker");
                continue;
            }
            if thread.join().is_err() {
                tracing::error!(scheduler = %shared.name, "worker thread panicked");
            }
        }
        shared.drain_injector();
        tracing::debug!(scheduler = %shared.name, "scheduler stopped");
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("name", &self.handle.shared.name)
            .field("workers", &self.threads.len())
            .field("stopped", &self.stopped)
            .finish()
    }
}

/// A cheap, cloneable handle to put tasks on a [`Scheduler`].
///
/// Every method may be called from any thread, including workers of other
/// schedulers (the task then goes through this scheduler's global queue).
/// After shutdown, `schedule`, `spawn` and `yield_now` drop the task
/// silently (it is cancelled, as if it had been queued at shutdown).
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// Wakes `task`: on one of this scheduler's workers it goes into the
    /// worker's LIFO slot and runs next (a task already there moves to the
    /// local queue and an idle worker is notified); from any other thread it
    /// goes to the global queue and an idle worker is notified.
    pub fn schedule(&self, task: TaskRef) {
        self.enqueue(task, Entry::Wake);
    }

    /// Starts a new task: the local queue on one of this scheduler's
    /// workers, else the global queue; an idle worker is notified.
    pub fn spawn(&self, task: TaskRef) {
        self.enqueue(task, Entry::Spawn);
    }

    /// Re-queues a task that yielded cooperatively (used up its slice): the
    /// back of the global queue, behind tasks woken from other threads, and
    /// never the LIFO slot. From any thread.
    pub fn yield_now(&self, task: TaskRef) {
        self.enqueue(task, Entry::Yield);
    }

    fn enqueue(&self, task: TaskRef, entry: Entry) {
        // Early drop after shutdown; `Relaxed` is enough because this check
        // is only an optimisation: the authoritative check is the SeqCst
        // one after the push in `push_remote` (or the worker's own drain
        // when it exits).
        if self.shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        worker::enqueue(&self.shared, task, entry);
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.parkers.len()
    }

    /// Whether the scheduler has been shut down.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

    /// The scheduler's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Index of the calling thread among this scheduler's workers, or
    /// `None` on any other thread (including other schedulers' workers).
    pub fn current_worker(&self) -> Option<usize> {
        worker::current_index(&self.shared)
    }

    /// A snapshot of the per-worker counters.
    pub fn stats(&self) -> Stats {
        Stats {
            workers: self
                .shared
                .counters
                .iter()
                .map(Counters::snapshot)
                .collect(),
        }
    }

    /// Number of workers currently parked (diagnostics).
    pub fn parked_workers(&self) -> usize {
        self.shared.idle.num_parked()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.shared.name)
            .field("workers", &self.workers())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}
