//! Supervision trees for wippy-rs, after Erlang/OTP.
//!
//! A [`Supervisor`] is a native process that starts its children in order,
//! watches them (each is spawned monitored, so its end arrives as an EXIT
//! event), restarts them as their [`ChildSpec`] says (permanent, transient,
//! temporary; at once, or after a [`Backoff`] delay), and stops them in
//! reverse order. Its [`Strategy`] decides which siblings restart with a
//! failed child (`one_for_one`, `one_for_all`, `rest_for_one`, and
//! `simple_one_for_one` for dynamic instances of one template). Its
//! [`Intensity`] bounds the restarts: more than R within T seconds and the
//! supervisor stops its children and ends with an error, for its own
//! supervisor to decide. A child can itself be a supervisor
//! ([`ChildSpec::supervisor`]), which makes a tree.
//!
//! Children are started by a [`StartFn`], so any kind of process can be
//! supervised: the CLI's root supervisor starts Lua processes of the app's
//! `process.service` entries this way.
//!
//! A tree of two supervisors and three workers, one of which crashes on its
//! first two runs:
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::{Arc, mpsc};
//! use std::time::Duration;
//! use wippy_process::{ExitError, Payload, Runtime};
//! use wippy_supervise::{ChildSpec, ChildState, Strategy, Supervisor, SupervisorSpec};
//!
//! let rt = Runtime::new(Default::default()).unwrap();
//! let host = rt.native_host("doc:tree", 2).unwrap();
//! // A worker that runs until it is stopped.
//! let steady = |id: &str| {
//!     ChildSpec::native(id, &host, |cx, _| async move {
//!         cx.next_event().await; // CANCEL
//!         Ok(Payload::Nil)
//!     })
//! };
//! // A worker that crashes on its first two runs and says when it is up.
//! let runs = Arc::new(AtomicU32::new(0));
//! let (up, is_up) = mpsc::channel();
//! let flaky = ChildSpec::native("flaky", &host, move |cx, _| {
//!     let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
//!     let up = up.clone();
//!     async move {
//!         if run <= 2 {
//!             return Err(ExitError::new(format!("crash {run}")));
//!         }
//!         up.send(run).ok();
//!         cx.next_event().await;
//!         Ok(Payload::Nil)
//!     }
//! });
//! let workers = SupervisorSpec::new(Strategy::OneForOne, vec![steady("a"), flaky])
//!     .intensity(5, Duration::from_secs(1));
//! let root = SupervisorSpec::new(
//!     Strategy::OneForAll,
//!     vec![steady("b"), ChildSpec::supervisor("workers", &host, workers)],
//! );
//! let root = Supervisor::start(&host, root).unwrap();
//!
//! assert_eq!(is_up.recv_timeout(Duration::from_secs(10)), Ok(3));
//! let top = root.which_children().unwrap();
//! assert_eq!(top[1].id, "workers");
//! let workers = top[1].supervisor.clone().expect("a supervisor child has a handle");
//! let kids = workers.which_children().unwrap();
//! assert_eq!(kids[1].id, "flaky");
//! assert_eq!((kids[1].state, kids[1].restarts), (ChildState::Running, 2));
//! assert_eq!(kids[1].last_error.as_ref().unwrap().message(), "crash 2");
//! // The crashes stayed inside the nested supervisor's intensity.
//! assert_eq!(top[1].restarts, 0);
//! assert!(root.stop(root.stop_bound()));
//! ```

mod backoff;
mod children;
mod crashlog;
mod error;
mod intensity;
mod order;
mod process;
mod spec;
mod stop;
mod supervisor;

pub use backoff::Backoff;
pub use error::SuperviseError;
pub use order::start_order;
pub use spec::{
    ChildKind, ChildSpec, Intensity, Restart, Shutdown, StartError, StartFn, Strategy,
    SupervisorSpec,
};
pub use stop::STOP_REASON;
pub use supervisor::{ChildCounts, ChildInfo, ChildRef, ChildState, Supervisor};
