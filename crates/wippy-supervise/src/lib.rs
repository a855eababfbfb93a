//! Supervision for wippy-rs: `process.service` entries started in dependency
//! order, monitored, restarted with exponential backoff and jitter when they
//! crash, given up after too many consecutive failures, and stopped in
//! reverse order (CANCEL, then terminate after the stop timeout).
//!
//! The supervisor is itself a native process; services are started through a
//! [`StartFn`], so any kind of process (Lua or native) can be supervised.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use wippy_process::{Payload, Runtime, SpawnOptions};
//! use wippy_supervise::{RestartPolicy, Service, Supervisor};
//!
//! let rt = Runtime::new(Default::default()).unwrap();
//! let host = rt.native_host("doc:system", 1).unwrap();
//! let h = host.clone();
//! let svc = Service {
//!     name: "doc:echo".into(),
//!     restart: RestartPolicy::default(),
//!     stop_timeout: Duration::from_secs(1),
//!     start: Arc::new(move |opts: SpawnOptions| {
//!         h.spawn_async(opts, |cx| async move {
//!             cx.next_event().await; // CANCEL
//!             Ok(Payload::Nil)
//!         })
//!         .map_err(|e| e.to_string())
//!     }),
//! };
//! let sup = Supervisor::start(&host, vec![svc]).unwrap();
//! assert!(sup.stop(Duration::from_secs(5)));
//! ```

mod backoff;
mod error;
mod order;
mod supervisor;

pub use backoff::RestartPolicy;
pub use error::SuperviseError;
pub use order::start_order;
pub use supervisor::{Service, ServiceStatus, StartFn, Supervisor};
