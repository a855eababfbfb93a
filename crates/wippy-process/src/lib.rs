//! The process kernel of wippy-rs: processes as state machines, pids,
//! mailboxes, payloads, links, monitors, names, and native Rust processes.
//!
//! Every process — native or Lua — is a [`Process`] the kernel steps. It has
//! a generation-checked [`Pid`], a mailbox of [`Message`]s, and lifecycle
//! [`Event`]s (EXIT, LINK_DOWN, CANCEL). The [`Node`] implements the rules:
//! fire-and-forget `send` (FIFO per sender→receiver pair), spawn with links
//! and monitors, cancel with a deadline, terminate, a local name registry.
//! The scheduler below ([`wippy_sched`]) knows nothing of this.
//!
//! A pid carries its node ([`NodeId`]): one of another node is handed to
//! the [`Remote`] router a cluster installs (`remote.rs`), at the cost of
//! one compare on the local paths.
//!
//! ```
//! use wippy_process::{Payload, Runtime, SpawnOptions};
//!
//! let rt = Runtime::new(Default::default()).unwrap();
//! let host = rt.native_host("example:host", 2).unwrap();
//! let (done_tx, done_rx) = std::sync::mpsc::channel();
//! let ponger = host
//!     .spawn_async(SpawnOptions::default(), |cx| async move {
//!         let ping = cx.recv().await;
//!         cx.send(ping.from.unwrap(), "pong", ping.payload).unwrap();
//!         Ok(Payload::Nil)
//!     })
//!     .unwrap();
//! let h = host.clone();
//! host.spawn_async(SpawnOptions::default(), move |cx| async move {
//!     cx.spawn(&h, SpawnOptions::default(), |_| async { Ok(Payload::Nil) }).unwrap();
//!     cx.send(ponger, "ping", Payload::Int(42)).unwrap();
//!     let pong = cx.recv().await;
//!     done_tx.send(pong.payload).unwrap();
//!     Ok(Payload::Nil)
//! })
//! .unwrap();
//! assert_eq!(done_rx.recv().unwrap(), Payload::Int(42));
//! ```

mod cell;
mod context;
mod error;
mod exit_error;
mod grace;
mod message;
mod names;
mod native;
mod node;
mod node_id;
mod payload;
mod pid;
mod process;
mod remote;
mod run;
mod runtime;
mod sync;
mod table;

pub use cell::{CellStatus, Home, MailboxLimit, ProcessCell, RunState};
pub use context::Context;
pub use error::Error;
pub use exit_error::{ErrorKind, ExitError};
pub use message::{CANCEL, EXIT, Event, ExitResult, LINK_DOWN, Message, Topic};
pub use native::{Ctx, NativeHost, Sleep};
pub use node::{Node, NodeStats, SpawnOptions};
pub use node_id::{InvalidNode, NodeId};
pub use payload::Payload;
pub use pid::{HostId, ParsePidError, Pid};
pub use process::{Completion, Op, OpTag, Process, Step, Wait, WaitMode};
pub use remote::{Credential, Credentials, Remote};
pub use run::{Outcome, drive};
pub use runtime::{Runtime, RuntimeConfig};
pub use wippy_sched;
