//! Process hosts of wippy-rs: the app registry (entries loaded from
//! `_index.yaml` files), the host abstraction every kind of process host
//! implements and the spawn requests it takes (with the context a process
//! is spawned with), module permissions, and the terminal (stdio) that only
//! the terminal host may hand out.
//!
//! The registry lives here because everything above reads it (Lua hosts,
//! supervision, the CLI) while the kernel and security crates below need
//! none of it.

mod context;
mod env;
mod error;
mod events;
mod host;
pub mod limits;
pub mod registry;
mod terminal;
pub mod units;

pub use context::SpawnContext;
pub use env::Env;
pub use error::{HostError, ParseError};
pub use events::{BusEvent, EventBus, SubscriptionId};
pub use host::{App, BUILTIN_MODULES, ModuleSet, ProcessHost, SpawnRequest, WIPPY_ONLY_MODULES};
pub use terminal::{ReadKind, Terminal};
