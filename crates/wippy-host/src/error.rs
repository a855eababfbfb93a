//! Errors of wippy-host: what goes wrong on a host ([`HostError`]), and a
//! value of an app file that does not parse ([`ParseError`]). Loading an
//! app reports [`LoadError`](crate::registry::LoadError)s instead, each
//! with its file and line; a `ParseError` met while loading becomes the
//! message of one.

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
    /// An environment variable was asked for by an empty key.
    #[error("empty key")]
    EnvKeyEmpty,
    /// No environment variable by this key, or it has no value.
    #[error("environment variable not found: {0}")]
    EnvNotFound(String),
    /// The environment variable is `readonly`.
    #[error("environment variable is read-only: {0}")]
    EnvReadOnly(String),
    /// The variable's storage cannot be written (`os`, `static`).
    #[error("storage is read-only: {0}")]
    EnvStorageReadOnly(String),
    /// An env storage failed (a file storage's file).
    #[error("env storage {storage}: {message}")]
    EnvStorage {
        /// The storage's entry id.
        storage: String,
        /// What failed.
        message: String,
    },
}

/// A value written in an app file (or given on the command line or to a Lua
/// API) that does not parse: a duration, a size, an entry id. The messages
/// quote the text and show what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A duration with nothing in it.
    #[error("empty duration")]
    EmptyDuration,
    /// A duration below zero.
    #[error("negative duration `{text}`")]
    NegativeDuration {
        /// The text as given.
        text: String,
    },
    /// Not a Go duration (a number and a unit, repeated).
    #[error("invalid duration `{text}` (expected e.g. 250ms, 1.5s, 1h30m)")]
    InvalidDuration {
        /// The text as given.
        text: String,
    },
    /// A duration beyond what a [`std::time::Duration`] of nanoseconds holds.
    #[error("duration `{text}` is too large")]
    DurationTooLarge {
        /// The text as given.
        text: String,
    },
    /// Not a size (a number and an optional unit).
    #[error("invalid size `{text}` (expected e.g. 64MB, 512KB, 1GB)")]
    InvalidSize {
        /// The text as given.
        text: String,
    },
    /// A size beyond 64 bits of bytes.
    #[error("size `{text}` is too large")]
    SizeTooLarge {
        /// The text as given.
        text: String,
    },
    /// Not an entry id (`namespace:name`, neither part empty).
    #[error("`{text}` is not an entry id (expected namespace:name)")]
    InvalidEntryId {
        /// The text as given.
        text: String,
    },
}
