//! Work-stealing scheduler for wippy-rs, with its timer service and
//! blocking pool.
//!
//! The scheduler knows nothing of processes: it runs [`Task`]s, each an
//! `Arc<dyn Task>` whose owner guarantees it is queued at most once until
//! it runs. A [`Scheduler`] owns one OS thread per worker; each worker has a
//! local FIFO queue, a LIFO slot for the task it woke most recently, and
//! steals from the others when idle; a shared injector takes tasks from
//! other threads. Idle workers park and use no CPU. Several schedulers can
//! live in one OS process (one per process host); nothing is global except
//! a thread-local naming the worker a thread is.
//!
//! * [`Scheduler`] / [`Handle`]: start, schedule ([`Handle::schedule`] for
//!   wake-ups, [`Handle::spawn`] for new tasks, [`Handle::yield_now`] for
//!   tasks that yielded), shut down. See the `worker` module docs for the
//!   fairness rules and `idle` for the parking protocol.
//! * [`TimerService`] / [`TimerHandle`]: one thread and a hierarchical
//!   millisecond wheel shared by many schedulers.
//! * [`BlockingPool`] / [`BlockingHandle`]: bounded, lazily started threads
//!   for blocking I/O.
//!
//! # Example
//!
//! ```
//! use std::sync::{mpsc, Arc, Mutex};
//! use std::time::Duration;
//! use wippy_sched::{Config, Scheduler, Task, TimerService};
//!
//! struct Hello(Mutex<mpsc::Sender<&'static str>>);
//! impl Task for Hello {
//!     fn run(self: Arc<Self>) {
//!         self.0.lock().unwrap().send("hello from a worker").unwrap();
//!     }
//! }
//!
//! let sched = Scheduler::new(Config { name: "demo".into(), workers: 2, ..Config::default() })?;
//! let timers = TimerService::start()?;
//! let (tx, rx) = mpsc::channel();
//! let task = Arc::new(Hello(Mutex::new(tx)));
//!
//! // Wake the task in 5 ms: the timer action only enqueues it.
//! let handle = sched.handle();
//! timers.handle().after(Duration::from_millis(5), move || handle.schedule(task));
//!
//! assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, "hello from a worker");
//! timers.shutdown();
//! sched.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod blocking;
mod config;
mod error;
mod idle;
mod park;
mod queue;
mod scheduler;
mod stats;
mod sync;
mod task;
mod timer;
mod worker;

pub use blocking::{BlockingHandle, BlockingPool, KEEP_ALIVE};
pub use config::Config;
pub use error::SchedError;
pub use scheduler::{Handle, Scheduler};
pub use stats::{Stats, WorkerStats};
pub use task::{Task, TaskRef};
pub use timer::{TimerHandle, TimerId, TimerService};
