//! Process hosts of wippy-rs: the app registry (entries loaded from
//! `_index.yaml` files), the host abstraction every kind of process host
//! implements, module permissions, and the terminal (stdio) that only the
//! terminal host may hand out.
//!
//! The registry lives here because everything above reads it (Lua hosts,
//! supervision, the CLI) while the kernel and security crates below need
//! none of it.

mod error;
mod host;
pub mod registry;
mod terminal;
pub mod units;

pub use error::HostError;
pub use host::{App, ModuleSet, ProcessHost, SpawnRequest};
pub use terminal::Terminal;
