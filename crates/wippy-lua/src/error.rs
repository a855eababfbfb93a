//! What the Lua host API's calls fail with ([`Error`]). Inside a process,
//! failures reach Lua code as `nil, err` strings (the API's conventions);
//! this type is for the Rust callers of the crate.

use std::path::PathBuf;

use wippy_host::registry::{EntryId, EntryKind};

/// Why a call of the Lua host API failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No entry of the registry has this id.
    #[error("unknown entry {0}")]
    UnknownEntry(EntryId),
    /// The entry is not Lua code.
    #[error("entry {id} is a {kind}, not Lua code")]
    NotLua {
        /// The entry.
        id: EntryId,
        /// What it is instead.
        kind: EntryKind,
    },
    /// The entry's source does not compile.
    #[error("{id} ({}): {message}", path.display())]
    Compile {
        /// The entry.
        id: EntryId,
        /// Its source file.
        path: PathBuf,
        /// The compiler's message, with the line it names.
        message: String,
    },
    /// A Luau VM could not be set up (out of memory, most likely).
    #[error("cannot start a Lua VM: {0}")]
    VmStart(String),
}
