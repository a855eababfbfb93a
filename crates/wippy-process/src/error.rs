//! Errors of the process kernel.

use crate::message::Topic;
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
    /// The receiver's mailbox holds as many messages as its host allows
    /// (`max_mailbox`); the message was not delivered.
    #[error("mailbox of {to} is full ({messages} messages queued, its host's max_mailbox)")]
    MailboxFull {
        /// The receiver.
        to: Pid,
        /// The bound it is at.
        messages: usize,
    },
    /// Queuing the message would take the receiver's queued messages past
    /// its memory limit; the message was not delivered.
    #[error(
        "mailbox of {to} is full: a {size}-byte message does not fit its memory limit \
         ({queued} of {limit} bytes queued)"
    )]
    MailboxOverMemoryLimit {
        /// The receiver.
        to: Pid,
        /// The message's size ([`Message::byte_size`](crate::Message::byte_size)).
        size: usize,
        /// Bytes already queued for the receiver.
        queued: usize,
        /// The receiver's memory limit.
        limit: usize,
    },
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
