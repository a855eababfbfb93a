//! What processes receive: messages on topics, lifecycle events, exit results.

use std::fmt;
use std::time::Instant;

use smol_str::SmolStr;

use crate::payload::Payload;
use crate::pid::Pid;

/// A message topic. Short topics are stored inline (no allocation).
pub type Topic = SmolStr;

/// A message in a mailbox: who sent it, its topic and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The sending process, if the sender was one.
    pub from: Option<Pid>,
    /// The topic the sender chose.
    pub topic: Topic,
    /// The value, owned by the receiver.
    pub payload: Payload,
}

impl Message {
    /// Bytes the message takes while it is queued: its own size plus what
    /// its topic and payload own on the heap (see [`Payload::byte_size`]).
    ///
    /// ```
    /// use wippy_process::{Message, Payload};
    /// let m = Message { from: None, topic: "t".into(), payload: Payload::Bytes(vec![0; 1000]) };
    /// assert_eq!(m.byte_size(), std::mem::size_of::<Message>() + 1000);
    /// ```
    pub fn byte_size(&self) -> usize {
        let topic = if self.topic.is_heap_allocated() {
            self.topic.len()
        } else {
            0
        };
        std::mem::size_of::<Message>() - std::mem::size_of::<Payload>()
            + self.payload.byte_size()
            + topic
    }
}

/// Why a process ended abnormally.
///
/// ```
/// use wippy_process::ExitError;
/// let e = ExitError::new("boom");
/// assert_eq!(e.to_string(), "boom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitError {
    message: String,
}

impl ExitError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> ExitError {
        ExitError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error of a process ended by `terminate`.
    pub fn terminated() -> ExitError {
        ExitError::new("terminated")
    }

    /// The error of a process whose cancel deadline passed.
    pub fn cancelled() -> ExitError {
        ExitError::new("cancelled: deadline exceeded")
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}

/// How a process ended: its return value, or an error.
pub type ExitResult = Result<Payload, ExitError>;

/// A lifecycle event delivered to a process (its `events` stream).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A monitored process ended (`pid.exit`).
    Exit {
        /// The process that ended.
        from: Pid,
        /// Its result.
        result: ExitResult,
    },
    /// A linked process ended abnormally and this process traps links
    /// (`pid.link.down`).
    LinkDown {
        /// The linked process that ended.
        from: Pid,
        /// Its error.
        error: ExitError,
    },
    /// Someone asked this process to stop by `deadline` (`pid.cancel`).
    Cancel {
        /// Who asked, if a process did.
        from: Option<Pid>,
        /// When the process will be terminated if it has not ended: the
        /// cancel's grace after the process first ran with the CANCEL
        /// queued (see [`Node::cancel`](crate::Node::cancel)).
        deadline: Instant,
    },
}

impl Event {
    /// The event kind as the Lua API names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Exit { .. } => EXIT,
            Event::LinkDown { .. } => LINK_DOWN,
            Event::Cancel { .. } => CANCEL,
        }
    }
}

/// Kind string of [`Event::Exit`].
pub const EXIT: &str = "pid.exit";
/// Kind string of [`Event::LinkDown`].
pub const LINK_DOWN: &str = "pid.link.down";
/// Kind string of [`Event::Cancel`].
pub const CANCEL: &str = "pid.cancel";
