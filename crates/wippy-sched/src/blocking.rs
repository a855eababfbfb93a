//! A bounded pool of threads for blocking work (file or terminal I/O), so
//! a process waiting on it frees its scheduler worker.
//!
//! Threads start lazily, one per queued job that finds no idle thread, up
//! to `max_threads`; beyond that jobs wait in a FIFO queue. A thread idle
//! for [`KEEP_ALIVE`] exits.

use crate::error::SchedError;
use crate::sync::lock_std as lock;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle pool thread waits for a job before it exits.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Grace period used when a [`BlockingPool`] is dropped.
const DROP_GRACE: Duration = Duration::from_millis(100);

type Job = Box<dyn FnOnce() + Send>;

struct State {
    queue: VecDeque<Job>,
    /// Live pool threads (idle or busy).
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Threads running a job.
    busy: usize,
    shutdown: bool,
    next_id: usize,
    /// Join handles of live threads and of exited, not yet joined ones.
    handles: Vec<(usize, JoinHandle<()>)>,
    /// Ids of threads that have left their loop (joinable without blocking
    /// for long).
    exited: Vec<usize>,
}

struct Inner {
    /// Invariant: all of `State` is guarded by this lock; jobs run, and
    /// dropped jobs are dropped, outside it.
    state: Mutex<State>,
    /// Signalled when a job is queued or at shutdown.
    work: Condvar,
    /// Signalled when a job finishes or a thread exits.
    done: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

/// Owns the blocking threads. Dropping it is
/// [`BlockingPool::shutdown`] with a short grace period.
pub struct BlockingPool {
    handle: BlockingHandle,
    stopped: bool,
}

impl BlockingPool {
    /// A pool of at most `max_threads` threads (`0` is treated as `1`);
    /// no thread starts until the first job.
    pub fn new(max_threads: usize) -> BlockingPool {
        BlockingPool::with_keep_alive(max_threads, KEEP_ALIVE)
    }

    /// Like [`BlockingPool::new`] with a custom idle keep-alive.
    pub fn with_keep_alive(max_threads: usize, keep_alive: Duration) -> BlockingPool {
        BlockingPool {
            handle: BlockingHandle {
                inner: Arc::new(Inner {
                    state: Mutex::new(State {
                        queue: VecDeque::new(),
                        threads: 0,
                        idle: 0,
                        busy: 0,
                        shutdown: false,
                        next_id: 0,
                        handles: Vec::new(),
                        exited: Vec::new(),
                    }),
                    work: Condvar::new(),
                    done: Condvar::new(),
                    max_threads: max_threads.max(1),
                    keep_alive,
                }),
            },
            stopped: false,
        }
    }

    /// A handle to submit jobs.
    pub fn handle(&self) -> BlockingHandle {
        self.handle.clone()
    }

    /// Stops accepting jobs, drops queued jobs that have not started, and
    /// waits up to `grace` for running jobs. Joins every thread that
    /// finished and returns how many were still busy: those (for example
    /// blocked forever on stdin) are **detached** and exit on their own
    /// when their job returns.
    pub fn shutdown(mut self, grace: Duration) -> usize {
        self.stop(grace)
    }

    fn stop(&mut self, grace: Duration) -> usize {
        if std::mem::replace(&mut self.stopped, true) {
            return 0;
        }
        let inner = &self.handle.inner;
        let deadline = Instant::now() + grace;
        let mut state = lock(&inner.state);
        state.shutdown = true;
        let dropped = std::mem::take(&mut state.queue);
        inner.work.notify_all();
        drop(state);
        drop(dropped);
        let mut state = lock(&inner.state);
        // Idle threads exit at once (always waited for); busy ones when
        // their job returns (waited for until the grace period ends).
        loop {
            let now = Instant::now();
            let idle_left = state.threads > state.busy;
            let busy_waiting = state.busy > 0 && now < deadline;
            if !idle_left && !busy_waiting {
                break;
            }
            let wait = if busy_waiting {
                deadline - now
            } else {
                Duration::from_secs(1)
            };
            state = inner
                .done
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let busy = state.busy;
        let exited = std::mem::take(&mut state.exited);
        let handles = std::mem::take(&mut state.handles);
        drop(state);
        for (id, handle) in handles {
            if exited.contains(&id) {
                if handle.join().is_err() {
                    tracing::error!("blocking thread panicked");
                }
            } else {
                tracing::warn!("blocking thread still busy at shutdown; detached");
            }
        }
        busy
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        self.stop(DROP_GRACE);
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.handle.inner.max_threads)
            .finish_non_exhaustive()
    }
}

/// A cheap, cloneable handle to submit jobs to a [`BlockingPool`].
#[derive(Clone)]
pub struct BlockingHandle {
    inner: Arc<Inner>,
}

impl BlockingHandle {
    /// Queues `job` to run on a pool thread. A panic in the job is caught
    /// and logged. Fails with [`SchedError::ShutDown`] after shutdown, or
    /// [`SchedError::Spawn`] if no thread could be started for it.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> Result<(), SchedError> {
        let inner = &self.inner;
        let mut state = lock(&inner.state);
        if state.shutdown {
            return Err(SchedError::ShutDown);
        }
        state.queue.push_back(Box::new(job));
        if state.queue.len() <= state.idle {
            inner.work.notify_one();
            return Ok(());
        }
        if state.threads >= inner.max_threads {
            return Ok(()); // a busy thread takes it when done
        }
        // Reap handles of threads that exited after their keep-alive.
        let exited = std::mem::take(&mut state.exited);
        let mut reaped = Vec::new();
        let mut kept = Vec::with_capacity(state.handles.len());
        for (id, handle) in state.handles.drain(..) {
            if exited.contains(&id) {
                reaped.push(handle);
            } else {
                kept.push((id, handle));
            }
        }
        state.handles = kept;
        let id = state.next_id;
        state.next_id += 1;
        let thread_inner = inner.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wippy-blocking-{id}"))
            .spawn(move || work(&thread_inner, id));
        let result = match spawned {
            Ok(handle) => {
                state.threads += 1;
                state.handles.push((id, handle));
                Ok(())
            }
            Err(err) if state.threads == 0 => {
                let job = state.queue.pop_back();
                drop(state);
                drop(job);
                for handle in reaped {
                    let _ = handle.join();
                }
                return Err(SchedError::Spawn(err));
            }
            Err(err) => {
                tracing::warn!(%err, "could not start another blocking thread");
                Ok(())
            }
        };
        drop(state);
        for handle in reaped {
            let _ = handle.join();
        }
        result
    }
}

impl fmt::Debug for BlockingHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingHandle").finish_non_exhaustive()
    }
}

/// The loop of pool thread `id`.
fn work(inner: &Inner, id: usize) {
    let mut state = lock(&inner.state);
    loop {
        if state.shutdown {
            break;
        }
        if let Some(job) = state.queue.pop_front() {
            state.busy += 1;
            drop(state);
            if catch_unwind(AssertUnwindSafe(job)).is_err() {
                tracing::error!("blocking job panicked");
            }
            state = lock(&inner.state);
            state.busy -= 1;
            inner.done.notify_all();
            continue;
        }
        state.idle += 1;
        let (next, timeout) = inner
            .work
            .wait_timeout(state, inner.keep_alive)
            .unwrap_or_else(|e| e.into_inner());
        state = next;
        state.idle -= 1;
        if timeout.timed_out() && state.queue.is_empty() {
            break;
        }
    }
    state.threads -= 1;
    state.exited.push(id);
    inner.done.notify_all();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const PATIENCE: Duration = Duration::from_secs(10);

    #[test]
    fn job_runs_and_shutdown_joins_idle_threads() {
        let pool = BlockingPool::new(2);
        let (tx, rx) = mpsc::channel();
        pool.handle()
            .run(move || tx.send(()).expect("receiver alive"))
            .expect("pool accepts");
        rx.recv_timeout(PATIENCE).expect("job runs");
        assert_eq!(pool.shutdown(Duration::from_secs(5)), 0);
    }

    #[test]
    fn run_after_shutdown_fails() {
        let pool = BlockingPool::new(1);
        let handle = pool.handle();
        pool.shutdown(Duration::ZERO);
        assert!(matches!(handle.run(|| {}), Err(SchedError::ShutDown)));
    }

    #[test]
    fn panicking_job_does_not_kill_the_pool() {
        let pool = BlockingPool::new(1);
        let handle = pool.handle();
        handle.run(|| panic!("boom")).expect("pool accepts");
        let (tx, rx) = mpsc::channel();
        handle
            .run(move || tx.send(()).expect("receiver alive"))
            .expect("pool accepts");
        rx.recv_timeout(PATIENCE).expect("next job runs");
    }

    #[test]
    fn idle_thread_exits_after_keep_alive() {
        let pool = BlockingPool::with_keep_alive(1, Duration::from_millis(10));
        let handle = pool.handle();
        handle.run(|| {}).expect("pool accepts");
        let inner = &handle.inner;
        let mut state = lock(&inner.state);
        let deadline = Instant::now() + PATIENCE;
        while state.exited.is_empty() {
            assert!(Instant::now() < deadline, "idle thread never exited");
            state = inner
                .done
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        assert_eq!(state.threads, 0);
        drop(state);
        // A new job starts a new thread.
        let (tx, rx) = mpsc::channel();
        handle
            .run(move || tx.send(()).expect("receiver alive"))
            .expect("pool accepts");
        rx.recv_timeout(PATIENCE)
            .expect("job runs on a fresh thread");
    }
}
