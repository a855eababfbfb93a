//! Which workers are parked and which are searching for work: the
//! lost-wakeup-free notification protocol (after tokio's `Idle`).
//!
//! # Protocol
//!
//! A *pusher* makes a task visible in some queue, then calls
//! [`Idle::worker_to_notify`], which issues a `SeqCst` fence and loads the
//! state. It wakes one parked worker only if **no worker is searching** and
//! **some worker is parked** — in the common case (every worker busy) this is
//! one atomic load and nothing more.
//!
//! A *parker* first registers itself with [`Idle::park`] (a `SeqCst`
//! read-modify-write of the state), issues a `SeqCst` fence, then re-checks
//! every queue; only if all are empty does it block.
//!
//! **Invariant (Dekker pairing):** for a push P and a parker W, either W's
//! re-check sees P's task, or P's state load sees W registered as parked.
//! Both sides do "write; SeqCst fence; read", so they cannot both read the
//! old value.
//!
//! If P sees a searching worker it does not wake anyone; that searcher is
//! then guaranteed to either take some task — and when the *last* searcher
//! stops searching it wakes another parked worker, which searches in turn —
//! or to park, re-checking the queues after P's push and so finding P's task.
//!
//! **Invariant (counts):** `sleepers` and the `unparked` count change together
//! under the `sleepers` lock, so under that lock
//! `unparked == num_workers - sleepers.stack.len()`. A worker woken by a
//! notifier is counted as unparked *and* searching by the notifier, before
//! it runs.

use crate::sync::{AtomicUsize, Mutex, fence, lock};
use std::sync::atomic::Ordering::SeqCst;

/// The low bits of `state` count searching workers, the high bits unparked
/// ones.
const UNPARKED_SHIFT: u32 = 16;
const SEARCHING_MASK: usize = (1 << UNPARKED_SHIFT) - 1;
const ONE_UNPARKED: usize = 1 << UNPARKED_SHIFT;
const ONE_SEARCHING: usize = 1;

fn searching(state: usize) -> usize {
    state & SEARCHING_MASK
}

fn unparked(state: usize) -> usize {
    state >> UNPARKED_SHIFT
}

/// The most workers the state word can count: every worker may be
/// searching at once (a notifier counts the worker it wakes as searching),
/// and the searching count must stay within its bits.
pub(crate) const MAX_WORKERS: usize = SEARCHING_MASK - 1;

#[derive(Debug)]
struct Sleepers {
    /// Parked workers, most recent last.
    stack: Vec<usize>,
    /// `asleep[i]` is true while worker `i` is in `stack`.
    asleep: Vec<bool>,
}

/// Shared idle-worker bookkeeping of one scheduler.
#[derive(Debug)]
pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Sleepers>,
    num_workers: usize,
}

impl Idle {
    /// All `num_workers` workers start unparked and not searching.
    ///
    /// `num_workers` is at most [`MAX_WORKERS`]: `Scheduler::new` refuses
    /// more with an error before it gets here.
    pub(crate) fn new(num_workers: usize) -> Idle {
        debug_assert!(
            num_workers <= MAX_WORKERS,
            "Scheduler::new checks the count"
        );
        Idle {
            state: AtomicUsize::new(num_workers << UNPARKED_SHIFT),
            sleepers: Mutex::new(Sleepers {
                stack: Vec::with_capacity(num_workers),
                asleep: vec![false; num_workers],
            }),
            num_workers,
        }
    }

    fn should_wake(&self, state: usize) -> bool {
        searching(state) == 0 && unparked(state) < self.num_workers
    }

    /// Called by a pusher after its task is visible in a queue. Returns the
    /// worker to unpark, already counted as unparked and searching.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        // Pairs with the fence in the parker's `Worker::park` (see the
        // module docs): the push above is ordered before the state load.
        fence(SeqCst);
        if !self.should_wake(self.state.load(SeqCst)) {
            return None;
        }
        let mut sleepers = lock(&self.sleepers);
        // Re-check under the lock, where the counts match `sleepers`.
        if !self.should_wake(self.state.load(SeqCst)) {
            return None;
        }
        let index = sleepers.stack.pop()?;
        sleepers.asleep[index] = false;
        self.state.fetch_add(ONE_UNPARKED | ONE_SEARCHING, SeqCst);
        Some(index)
    }

    /// Tries to become a searcher. Fails when half the workers already
    /// search, to bound contention on the queues.
    pub(crate) fn try_start_searching(&self) -> bool {
        let state = self.state.load(SeqCst);
        if 2 * searching(state) >= self.num_workers.max(2) {
            return false;
        }
        self.state.fetch_add(ONE_SEARCHING, SeqCst);
        true
    }

    /// A searcher found work. Returns true if it was the last searcher, in
    /// which case the caller must notify another parked worker.
    pub(crate) fn stop_searching(&self) -> bool {
        let prev = self.state.fetch_sub(ONE_SEARCHING, SeqCst);
        searching(prev) == 1
    }

    /// Registers worker `index` as parked (and no longer searching if it
    /// was). The caller must then fence and re-check every queue before
    /// blocking.
    pub(crate) fn park(&self, index: usize, was_searching: bool) {
        let mut sleepers = lock(&self.sleepers);
        let dec = ONE_UNPARKED + if was_searching { ONE_SEARCHING } else { 0 };
        let prev = self.state.fetch_sub(dec, SeqCst);
        debug_assert!(
            !was_searching || searching(prev) > 0,
            "searching count underflow"
        );
        sleepers.stack.push(index);
        sleepers.asleep[index] = true;
    }

    /// Worker `index` found work after registering as parked and takes
    /// itself off the sleepers list. Either way it is afterwards counted as
    /// unparked and searching (a notifier may have beaten it to it).
    pub(crate) fn unpark_self(&self, index: usize) {
        let mut sleepers = lock(&self.sleepers);
        if sleepers.asleep[index] {
            sleepers.asleep[index] = false;
            sleepers.stack.retain(|&i| i != index);
            self.state.fetch_add(ONE_UNPARKED | ONE_SEARCHING, SeqCst);
        }
    }

    /// Whether worker `index` is still registered as parked (no notifier has
    /// picked it yet).
    pub(crate) fn is_asleep(&self, index: usize) -> bool {
        lock(&self.sleepers).asleep[index]
    }

    /// Number of parked workers (diagnostics and tests).
    pub(crate) fn num_parked(&self) -> usize {
        self.num_workers - unparked(self.state.load(SeqCst))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn no_worker_is_notified_while_all_are_busy() {
        let idle = Idle::new(2);
        assert_eq!(idle.worker_to_notify(), None);
    }

    #[test]
    fn parked_worker_is_notified_once_and_counted_searching() {
        let idle = Idle::new(2);
        idle.park(1, false);
        assert_eq!(idle.num_parked(), 1);
        assert_eq!(idle.worker_to_notify(), Some(1));
        assert!(!idle.is_asleep(1));
        // Worker 1 now counts as searching, so nobody else is woken.
        idle.park(0, false);
        assert_eq!(idle.worker_to_notify(), None);
        assert!(idle.stop_searching());
        assert_eq!(idle.worker_to_notify(), Some(0));
    }

    #[test]
    fn searcher_limit_is_half_the_workers() {
        let idle = Idle::new(4);
        assert!(idle.try_start_searching());
        assert!(idle.try_start_searching());
        assert!(!idle.try_start_searching());
        assert!(!idle.stop_searching());
        assert!(idle.stop_searching());
    }

    #[test]
    fn unpark_self_restores_counts() {
        let idle = Idle::new(2);
        assert!(idle.try_start_searching());
        idle.park(0, true);
        idle.unpark_self(0);
        assert_eq!(idle.num_parked(), 0);
        assert!(idle.stop_searching());
    }
}

/// Loom models of the push/park race (`.ci/run` runs them): run with
/// `RUSTFLAGS="--cfg loom" cargo test -p wippy-sched --lib --release idle::loom`
/// (`LOOM_MAX_PREEMPTIONS` overrides the larger model's bound of 2).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::park::Parker;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, AtomicUsize as Counter};
    use std::sync::atomic::Ordering::{Acquire, Release};

    /// A scheduler reduced to the parts the protocol touches: the queue is
    /// a counter of queued tasks.
    struct Model {
        idle: Idle,
        parkers: Vec<Parker>,
        queue: Counter,
        taken: Counter,
        total: usize,
        shutdown: AtomicBool,
    }

    impl Model {
        fn new(workers: usize, total: usize) -> Arc<Model> {
            Arc::new(Model {
                idle: Idle::new(workers),
                parkers: (0..workers).map(|_| Parker::default()).collect(),
                queue: Counter::new(0),
                taken: Counter::new(0),
                total,
                shutdown: AtomicBool::new(false),
            })
        }

        fn notify(&self) {
            if let Some(i) = self.idle.worker_to_notify() {
                self.parkers[i].unpark();
            }
        }

        fn push(&self) {
            self.queue.fetch_add(1, Release);
            self.notify();
        }

        fn try_take(&self) -> bool {
            let n = self.queue.load(Acquire);
            n > 0
                && self
                    .queue
                    .compare_exchange(n, n - 1, Acquire, Acquire)
                    .is_ok()
        }

        /// `Worker::run_loop` and `Worker::park`, reduced.
        fn worker(&self, index: usize) {
            let mut searching = false;
            while !self.shutdown.load(SeqCst) {
                if self.try_take() {
                    if searching {
                        searching = false;
                        if self.idle.stop_searching() {
                            self.notify();
                        }
                    }
                    if self.taken.fetch_add(1, SeqCst) + 1 == self.total {
                        self.shutdown.store(true, SeqCst);
                        for p in &self.parkers {
                            p.unpark();
                        }
                    }
                    continue;
                }
                self.idle.park(index, searching);
                fence(SeqCst);
                if self.queue.load(Acquire) > 0 || self.shutdown.load(SeqCst) {
                    self.idle.unpark_self(index);
                    searching = true;
                    continue;
                }
                loop {
                    self.parkers[index].park();
                    if self.shutdown.load(SeqCst) || !self.idle.is_asleep(index) {
                        break;
                    }
                }
                searching = true;
            }
        }
    }

    #[test]
    fn push_racing_with_park_is_never_lost() {
        loom::model(|| {
            let model = Model::new(1, 1);
            let pusher = {
                let model = model.clone();
                loom::thread::spawn(move || model.push())
            };
            model.worker(0);
            pusher.join().unwrap();
        });
    }

    #[test]
    fn two_workers_two_pushes_never_strand_a_task() {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        builder.check(|| {
            let model = Model::new(2, 2);
            let other = {
                let model = model.clone();
                loom::thread::spawn(move || model.worker(1))
            };
            let pusher = {
                let model = model.clone();
                loom::thread::spawn(move || {
                    model.push();
                    model.push();
                })
            };
            model.worker(0);
            pusher.join().unwrap();
            other.join().unwrap();
        });
    }
}
