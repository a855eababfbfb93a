//! The process state machine: initialise, step until it yields, close.
//!
//! Every kind of process — native Rust, async blocks, Lua threads on a VM
//! shard — implements [`Process`]. The kernel calls [`Process::step`]; the
//! step runs until the process has to wait and says what it waits for:
//!
//! * [`Step::Yield`] with pending [`Op`]s (receive, sleep, blocking work),
//!   resuming when any or all of them complete ([`WaitMode`]); with no ops it
//!   is a cooperative yield and the process is requeued at once,
//! * [`Step::Idle`]: wake me when anything new arrives (message, event,
//!   completion, waker),
//! * [`Step::Complete`] with the exit result,
//! * [`Step::Upgrade`]: replace my code, keeping pid, mailbox, links, monitors.

use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::context::Context;
use crate::message::{ExitError, ExitResult};
use crate::payload::Payload;

/// A process: a state machine the kernel drives.
///
/// ```
/// use wippy_process::{Context, Process, Step, Payload};
///
/// /// Answers every message with its payload, forever.
/// struct Echo;
///
/// impl Process for Echo {
///     fn step(&mut self, cx: &mut Context<'_>) -> Step {
///         while let Some(msg) = cx.recv() {
///             if let Some(from) = msg.from {
///                 cx.send(from, msg.topic, msg.payload);
///             }
///         }
///         Step::Idle
///     }
/// }
/// ```
pub trait Process: Send + 'static {
    /// Called once before the first step (and on the new code after an upgrade).
    /// An error ends the process with that error.
    fn init(&mut self, cx: &mut Context<'_>) -> Result<(), ExitError> {
        let _ = cx;
        Ok(())
    }

    /// Runs until the process must wait; see [`Step`].
    fn step(&mut self, cx: &mut Context<'_>) -> Step;

    /// Called once when the process ends, however it ends (result, error,
    /// terminate, panic in `step`). Must not block.
    fn close(&mut self, cx: &mut Context<'_>, result: &ExitResult) {
        let _ = (cx, result);
    }
}

/// What a step ended with.
pub enum Step {
    /// Waiting on operations (or, with none, yielding the worker).
    Yield(Wait),
    /// Waiting for anything new: a message, an event, a completion or a wake.
    Idle,
    /// Finished with this result.
    Complete(ExitResult),
    /// Replace the process's code; the new code's `init` runs next.
    Upgrade(Box<dyn Process>),
}

/// Operations a process waits on, and whether any or all must complete.
#[derive(Default)]
pub struct Wait {
    pub(crate) ops: SmallVec<[Op; 2]>,
    pub(crate) mode: WaitMode,
}

impl Wait {
    /// Resume when the first of `ops` completes; the others stay pending and
    /// complete later (see [`Context::take_completion`]).
    pub fn any(ops: impl IntoIterator<Item = Op>) -> Wait {
        Wait {
            ops: ops.into_iter().collect(),
            mode: WaitMode::Any,
        }
    }

    /// Resume when every one of `ops` has completed.
    pub fn all(ops: impl IntoIterator<Item = Op>) -> Wait {
        Wait {
            ops: ops.into_iter().collect(),
            mode: WaitMode::All,
        }
    }

    /// No operations: give the worker up and run again soon.
    pub fn yield_now() -> Wait {
        Wait::default()
    }
}

/// Whether a [`Wait`] resumes on the first completion or on all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitMode {
    /// First completion resumes.
    #[default]
    Any,
    /// Last completion resumes.
    All,
}

/// A tag the process chooses for an operation, returned with its completion.
pub type OpTag = u64;

/// A pending operation.
pub struct Op {
    pub(crate) tag: OpTag,
    pub(crate) kind: OpKind,
}

pub(crate) enum OpKind {
    Receive,
    Until(Instant),
    Blocking(Box<dyn FnOnce() -> Payload + Send>),
}

impl Op {
    /// Completes when the mailbox holds a message (the message stays there;
    /// take it with [`Context::recv`]).
    pub fn receive(tag: OpTag) -> Op {
        Op {
            tag,
            kind: OpKind::Receive,
        }
    }

    /// Completes after `delay`.
    pub fn sleep(tag: OpTag, delay: Duration) -> Op {
        Op::until(tag, Instant::now() + delay)
    }

    /// Completes at `deadline`.
    pub fn until(tag: OpTag, deadline: Instant) -> Op {
        Op {
            tag,
            kind: OpKind::Until(deadline),
        }
    }

    /// Runs `job` on the blocking pool (file or terminal I/O) and completes
    /// with its value; the worker runs other processes meanwhile.
    pub fn blocking(tag: OpTag, job: impl FnOnce() -> Payload + Send + 'static) -> Op {
        Op {
            tag,
            kind: OpKind::Blocking(Box::new(job)),
        }
    }
}

/// A completed operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The tag given when the op was created.
    pub tag: OpTag,
    /// The value: `Nil` for receive and sleep, the job's value for blocking work.
    pub value: Payload,
}
