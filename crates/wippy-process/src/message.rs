//! What processes receive: messages on topics, lifecycle events, exit results.

use std::time::Instant;

use smol_str::SmolStr;

pub use crate::exit_error::ExitError;
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
    /// The payload is a [`Payload::Array`] of several values sent at once
    /// (Lua's `process.send(to, topic, a, b)`): a receiver that reads
    /// payloads one by one gets one per value, a receiver that reads the
    /// value gets the array.
    pub multi: bool,
    /// [`Message::byte_size`], taken when the message is made: a bounded
    /// mailbox counts every message it queues, and sizing a payload walks
    /// it, so whoever builds the payload and knows its size says it
    /// ([`Message::sized`]). In the padding after `multi`: no bigger
    /// message. Messages are not changed once made (a payload replaced
    /// afterwards would be counted at the old size).
    size: u32,
}

impl Message {
    /// A message of one value.
    pub fn new(from: Option<Pid>, topic: impl Into<Topic>, payload: Payload) -> Message {
        Message::with(from, topic.into(), payload, false)
    }

    /// A message of one value, or of several (`multi`: `payload` is the
    /// [`Payload::Array`] of them).
    pub fn with(from: Option<Pid>, topic: Topic, payload: Payload, multi: bool) -> Message {
        let payload_bytes = payload.byte_size();
        Message::sized(from, topic, payload, multi, payload_bytes)
    }

    /// [`Message::with`] for a caller that built the payload and counted
    /// its [`Payload::byte_size`] (`payload_bytes`) as it went.
    #[inline]
    pub fn sized(
        from: Option<Pid>,
        topic: Topic,
        payload: Payload,
        multi: bool,
        payload_bytes: usize,
    ) -> Message {
        debug_assert_eq!(payload_bytes, payload.byte_size(), "a payload's size");
        let topic_bytes = if topic.is_heap_allocated() {
            topic.len()
        } else {
            0
        };
        let size = std::mem::size_of::<Message>() - std::mem::size_of::<Payload>()
            + payload_bytes
            + topic_bytes;
        Message {
            from,
            topic,
            payload,
            multi,
            // A message of 4 GiB or more counts as 4 GiB (more than any
            // memory limit a mailbox's bound comes from allows in a queue).
            size: u32::try_from(size).unwrap_or(u32::MAX),
        }
    }

    /// Bytes the message takes while it is queued: its own size plus what
    /// its topic and payload own on the heap (see [`Payload::byte_size`]).
    ///
    /// ```
    /// use wippy_process::{Message, Payload};
    /// let m = Message::new(None, "t", Payload::Bytes(vec![0; 1000]));
    /// assert_eq!(m.byte_size(), std::mem::size_of::<Message>() + 1000);
    /// ```
    #[inline]
    pub fn byte_size(&self) -> usize {
        self.size as usize
    }
}

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
        /// Why, as the canceller said (`""` when it said nothing; a
        /// supervisor stopping a service says `"service stopping"`).
        reason: Topic,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_stays_small() {
        // A sender costs no tag (a host id is never zero), so the flag of a
        // message of several values fits in the padding: 80 bytes, what a
        // message object's userdata holds.
        assert_eq!(
            std::mem::size_of::<Option<Pid>>(),
            std::mem::size_of::<Pid>()
        );
        assert!(std::mem::size_of::<Message>() <= 80);
    }
}
