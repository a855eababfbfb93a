//! Errors of hosts.

/// What went wrong starting or running a process on a host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// No running host has this id.
    #[error("unknown host {0:?}")]
    UnknownHost(String),
    /// No registry entry has this id.
    #[error("unknown entry {0:?}")]
    UnknownEntry(String),
    /// The entry cannot run as a process.
    #[error("entry {entry} is a {kind}, not a runnable lua entry")]
    NotRunnable {
        /// The entry id.
        entry: String,
        /// Its kind.
        kind: String,
    },
    /// The host has as many processes as it allows.
    #[error("host {host} is full ({max} processes)")]
    HostFull {
        /// The host id.
        host: String,
        /// Its limit.
        max: usize,
    },
    /// The host is shutting down.
    #[error("host {0} is shut down")]
    ShutDown(String),
    /// The entry's code failed to load.
    #[error("{0}")]
    Load(String),
    /// The kernel refused.
    #[error(transparent)]
    Kernel(#[from] wippy_process::Error),
}
