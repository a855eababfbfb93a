//! Errors of the process kernel.

use crate::exit_error::{ErrorKind, ExitError};
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

impl Error {
    /// The kind of the error as Lua code sees it (`err:kind()`), Wippy's
    /// where Wippy has the same failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoProcess(_) | Error::NameNotFound(_) | Error::NodeNotFound(_) => {
                ErrorKind::NotFound
            }
            Error::MessageTooLarge { .. } => ErrorKind::LimitExceeded,
            Error::NoCredentials(_) => ErrorKind::PermissionDenied,
            Error::NameTaken { .. } => ErrorKind::AlreadyExists,
            Error::InvalidName(_) | Error::ReservedTopic(_) => ErrorKind::Invalid,
            Error::NotAccepted { .. } => ErrorKind::PermissionDenied,
            Error::TableFull { .. }
            | Error::MailboxFull { .. }
            | Error::MailboxOverMemoryLimit { .. } => ErrorKind::LimitExceeded,
            Error::ShutDown => ErrorKind::Unavailable,
            Error::Sched(_) => ErrorKind::Internal,
        }
    }

    /// The error as Lua code sees it (`nil, err`): its [`Error::kind`], not
    /// retryable, and Wippy's text where Wippy has the same failure
    /// (`process not found`, `name already registered`, `cannot send to @
    /// topics`).
    pub fn to_exit_error(&self) -> ExitError {
        let message = match self {
            Error::NoProcess(_) => "process not found".to_owned(),
            Error::NameTaken { .. } => "name already registered".to_owned(),
            Error::NameNotFound(_) => "name not registered".to_owned(),
            Error::ReservedTopic(_) => "cannot send to @ topics".to_owned(),
            Error::NodeNotFound(_) => "node not found".to_owned(),
            other => other.to_string(),
        };
        ExitError::non_retryable(self.kind(), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pid::{HostId, Pid};

    #[test]
    fn kernel_errors_reach_lua_with_wippys_kinds_and_texts() {
        let pid = Pid::new(HostId::intern("test:host"), 1);
        let cases = [
            (
                Error::NoProcess(pid),
                ErrorKind::NotFound,
                "process not found",
            ),
            (
                Error::NameTaken {
                    name: "n".into(),
                    holder: pid,
                },
                ErrorKind::AlreadyExists,
                "name already registered",
            ),
            (
                Error::NameNotFound("n".into()),
                ErrorKind::NotFound,
                "name not registered",
            ),
            (
                Error::ReservedTopic("@x".into()),
                ErrorKind::Invalid,
                "cannot send to @ topics",
            ),
            (
                Error::ShutDown,
                ErrorKind::Unavailable,
                "runtime is shut down",
            ),
        ];
        for (e, kind, text) in cases {
            let lua = e.to_exit_error();
            assert_eq!((lua.kind(), lua.message()), (&kind, text), "{e:?}");
            assert_eq!(lua.is_retryable(), Some(false));
        }
    }
}
