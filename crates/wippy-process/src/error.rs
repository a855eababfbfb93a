//! Errors of the process kernel.

use crate::message::Topic;
use crate::node_id::NodeId;
use crate::pid::{HostId, Pid};

/// What went wrong in a kernel operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process has ended (or never existed).
    #[error("no such process: {0}")]
    NoProcess(Pid),
    /// Another process holds the name.
    #[error("name {name:?} is already registered by {holder}")]
    NameTaken {
        /// The name.
        name: Topic,
        /// Its current holder.
        holder: Pid,
    },
    /// No process is registered under the name.
    #[error("no process registered as {0:?}")]
    NameNotFound(Topic),
    /// Names must be non-empty.
    #[error("invalid name {0:?}: names must be non-empty")]
    InvalidName(Topic),
    /// Topics starting with `@` belong to the runtime.
    #[error("topic {0:?} is reserved: topics starting with '@' belong to the runtime")]
    ReservedTopic(Topic),
    /// The receiver's host refuses messages from the sender's host.
    #[error("host {to} does not accept messages from host {from}")]
    NotAccepted {
        /// The receiver's host.
        to: HostId,
        /// The sender's host.
        from: HostId,
    },
    /// The pid names a node this runtime cannot reach: one that is not in
    /// its cluster (or has left it, or restarted since the pid was made), or
    /// any other node when the runtime is in no cluster.
    #[error("node not found: {0}")]
    NodeNotFound(NodeId),
    /// A message too big to cross to another node.
    #[error("message of {size} bytes is too large to send to another node (at most {max})")]
    MessageTooLarge {
        /// Its encoded size.
        size: usize,
        /// The most a message to another node may have.
        max: usize,
    },
    /// A process asked for something on another node, but its home cannot
    /// say who it acts as ([`Home::credentials`](crate::Home::credentials)),
    /// so the other node could not check it.
    #[error("process {0} cannot act on another node: its host gives no credentials")]
    NoCredentials(Pid),
    /// The process table is full.
    #[error("process table full ({capacity} processes)")]
    TableFull {
        /// The table's capacity.
        capacity: usize,
    },
    /// The runtime is shutting down.
    #[error("runtime is shut down")]
    ShutDown,
    /// A scheduler could not start.
    #[error(transparent)]
    Sched(#[from] wippy_sched::SchedError),
}
