//! A worker thread: its run loop, its LIFO slot, and the thread-local that
//! tells [`crate::Handle`] whether it is called from one of its own workers.
//!
//! # Where a worker looks for its next task (fairness rules)
//!
//! 1. Every `global_queue_interval` ticks (default 61) it looks at the
//!    **global injector first**, so tasks woken from other threads cannot be
//!    starved by a busy local queue.
//! 2. The **LIFO slot** holds the task most recently woken on this worker
//!    ([`crate::Handle::schedule`]); running it next keeps a message
//!    ping-pong on one core with hot caches. At most `lifo_budget` (default
//!    3) LIFO tasks run in a row, then the local queue gets a turn, so two
//!    tasks waking each other cannot starve the rest. The LIFO slot is not
//!    stealable.
//! 3. The **local queue** (FIFO): spawned tasks and tasks pushed out of the
//!    LIFO slot. Yielded tasks (a whole slice used) go to the back of the
//!    injector instead, behind wake-ups from other threads.
//! 4. The **injector**, taking a batch into the local queue.
//! 5. **Stealing**: as a "searcher" (at most half the workers search at
//!    once), a batch from the injector, then from each other worker's queue
//!    starting at a random one.
//! 6. Nothing found: **park** (see [`crate::idle`] for the protocol). A
//!    parked worker blocks on its condvar and uses no CPU.

use crate::queue::{LocalQueue, Taken};
use crate::scheduler::Shared;
use crate::stats::Counters;
use crate::task::TaskRef;
use std::cell::{Cell, OnceCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{Ordering::SeqCst, fence};

thread_local! {
    /// Set once, when a thread starts as a worker; a thread is a worker of
    /// exactly one scheduler for its whole life. This is the only
    /// process-wide state of the crate.
    static CURRENT: OnceCell<Rc<Local>> = const { OnceCell::new() };
}

/// How a task enters the scheduler.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry {
    /// Woken: LIFO slot when on one of our workers.
    Wake,
    /// New: local queue when on one of our workers.
    Spawn,
    /// Yielded: back of the global queue, never the LIFO slot.
    Yield,
}

/// Enqueues `task` on the scheduler `shared`: locally if the calling thread
/// is one of its workers, else through the injector.
pub(crate) fn enqueue(shared: &Arc<Shared>, task: TaskRef, entry: Entry) {
    let mut task = Some(task);
    let _ = CURRENT.try_with(|current| {
        if let Some(local) = current.get()
            && Arc::ptr_eq(&local.shared, shared)
            && let Some(task) = task.take()
        {
            local.enqueue(task, entry);
        }
    });
    if let Some(task) = task {
        shared.push_remote(task);
    }
}

/// Index of the calling thread among `shared`'s workers, if it is one.
pub(crate) fn current_index(shared: &Arc<Shared>) -> Option<usize> {
    CURRENT
        .try_with(|current| {
            current
                .get()
                .filter(|local| Arc::ptr_eq(&local.shared, shared))
                .map(|local| local.index)
        })
        .ok()
        .flatten()
}

/// The body of worker thread `index`.
pub(crate) fn run(shared: Arc<Shared>, index: usize, queue: LocalQueue) {
    let local = Rc::new(Local {
        shared,
        index,
        queue,
        lifo: Cell::new(None),
        lifo_streak: Cell::new(0),
        tick: Cell::new(0),
        searching: Cell::new(false),
        rng: Cell::new(0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(index as u64 + 1) | 1),
    });
    CURRENT.with(|current| {
        if current.set(local.clone()).is_err() {
            unreachable!("a worker thread runs one worker loop");
        }
    });
    local.run_loop();
    // Shutdown: tasks still queued here are cancelled (dropped). A task's
    // `Drop` that schedules again sees the scheduler shut down and drops.
    local.queue.clear();
    drop(local.lifo.take());
    tracing::trace!(worker = index, "worker exited");
}

/// Worker-local state. Lives in an `Rc` shared by the run loop and the
/// thread-local; only the worker thread touches it, hence plain `Cell`s.
pub(crate) struct Local {
    shared: Arc<Shared>,
    index: usize,
    queue: LocalQueue,
    /// Most recently woken task; not stealable.
    lifo: Cell<Option<TaskRef>>,
    /// LIFO tasks run in a row.
    lifo_streak: Cell<u32>,
    tick: Cell<u32>,
    /// Whether this worker is counted as searching in `Idle`.
    searching: Cell<bool>,
    rng: Cell<u64>,
}

impl Local {
    fn counters(&self) -> &Counters {
        &self.shared.counters[self.index]
    }

    fn enqueue(&self, task: TaskRef, entry: Entry) {
        let task = match entry {
            Entry::Wake => match self.lifo.replace(Some(task)) {
                None => return,
                Some(prev) => prev,
            },
            Entry::Spawn => task,
            // A yielded task used up its slice: it queues behind the tasks
            // woken from other threads (timers, I/O), so a few long-running
            // tasks cannot delay those for `global_queue_interval` slices.
            Entry::Yield => {
                self.shared.injector.push(task);
                self.shared.notify_parked();
                return;
            }
        };
        self.queue.push(task, &self.shared.injector);
        self.shared.notify_parked();
    }

    fn run_loop(&self) {
        while !self.shared.is_shutdown() {
            let Some(task) = self.next_task().or_else(|| self.steal_work()) else {
                self.park();
                continue;
            };
            if self.searching.replace(false) && self.shared.idle.stop_searching() {
                // The last searcher found work: there may be more, so wake
                // another worker to keep searching.
                self.shared.notify_parked();
            }
            self.counters().task_run();
            if catch_unwind(AssertUnwindSafe(|| task.run())).is_err() {
                tracing::error!(
                    scheduler = %self.shared.name,
                    worker = self.index,
                    "task panicked; worker continues"
                );
            }
        }
    }

    fn next_task(&self) -> Option<TaskRef> {
        let config = &self.shared.config;
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick.is_multiple_of(config.global_queue_interval)
            && let Some(task) = self.take_from_injector()
        {
            return Some(task);
        }
        if self.lifo_streak.get() < config.lifo_budget
            && let Some(task) = self.lifo.take()
        {
            self.lifo_streak.set(self.lifo_streak.get() + 1);
            return Some(task);
        }
        self.lifo_streak.set(0);
        if let Some(task) = self.queue.pop() {
            return Some(task);
        }
        if let Some(task) = self.lifo.take() {
            self.lifo_streak.set(1);
            return Some(task);
        }
        self.take_from_injector()
    }

    fn take_from_injector(&self) -> Option<TaskRef> {
        loop {
            match self.queue.refill_from(&self.shared.injector) {
                Taken::Task(task) => return Some(task),
                Taken::Empty => return None,
                Taken::Retry => std::hint::spin_loop(),
            }
        }
    }

    fn next_rand(&self) -> u64 {
        // xorshift64: good enough to spread steal start points.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    fn steal_work(&self) -> Option<TaskRef> {
        let shared = &self.shared;
        if !self.searching.get() {
            if !shared.idle.try_start_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let n = shared.stealers.len();
        // A few passes while some queue reports a lost race; anything left
        // after that is caught by the re-check before parking.
        for _ in 0..3 {
            let mut retry = false;
            match self.queue.refill_from(&shared.injector) {
                Taken::Task(task) => return Some(task),
                Taken::Retry => retry = true,
                Taken::Empty => {}
            }
            let start = (self.next_rand() % n as u64) as usize;
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == self.index {
                    continue;
                }
                match self.queue.steal_from(&shared.stealers[victim]) {
                    Taken::Task(task) => {
                        self.counters().steal();
                        return Some(task);
                    }
                    Taken::Retry => retry = true,
                    Taken::Empty => {}
                }
            }
            if !retry {
                break;
            }
        }
        None
    }

    /// Blocks until notified, following the protocol in [`crate::idle`].
    fn park(&self) {
        let shared = &self.shared;
        shared.idle.park(self.index, self.searching.replace(false));
        // Invariant: registration above; SeqCst fence; re-check below. Pairs
        // with the fence in `Idle::worker_to_notify` that every pusher
        // issues after its push: either we see its task here, or it sees us
        // parked and wakes a worker (or a searcher that will).
        fence(SeqCst);
        if shared.has_work() || shared.is_shutdown() {
            shared.idle.unpark_self(self.index);
            self.searching.set(true);
            return;
        }
        loop {
            self.counters().park();
            shared.parkers[self.index].park();
            if shared.is_shutdown() || !shared.idle.is_asleep(self.index) {
                break;
            }
        }
        // The notifier counted us as searching.
        self.searching.set(true);
    }
}
