//! Driving one step of a process: the kernel side of [`Process::step`].
//!
//! Runners (the native host's scheduler task, a VM shard) call [`drive`]
//! when the wake protocol (see `cell.rs`) has handed them the process.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::cell::{IdlePark, OpsPark, ProcessCell, StepStart};
use crate::context::Context;
use crate::message::{ExitError, ExitResult};
use crate::node::Node;
use crate::payload::Payload;
use crate::process::{Completion, OpKind, Process, Step, Wait};

/// What the runner does with the process after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The process waits; a wake-up will hand it back.
    Parked,
    /// Run it again (it yielded, or something arrived while it ran). Put it
    /// at the back of the run queue.
    Requeue,
    /// The process has ended; its state may be dropped.
    Exited,
}

/// The message of a panic payload.
pub(crate) fn panic_message(panic: Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

fn panic_error(panic: Box<dyn Any + Send>) -> ExitError {
    ExitError::new(format!("panic: {}", panic_message(panic)))
}

/// Runs one step of `process`, the state machine of `cell`, and applies what
/// it returned. A panic in the process ends it with an error; the runtime
/// goes on.
pub fn drive(node: &Node, cell: &Arc<ProcessCell>, process: &mut Box<dyn Process>) -> Outcome {
    let (seen, first) = match cell.begin_step() {
        StepStart::Ended => return Outcome::Exited,
        StepStart::Killed(kill) => return finish(node, cell, process, Err(kill)),
        StepStart::Run {
            seen,
            first,
            cancel,
        } => {
            if cancel {
                start_cancel_deadline(node, cell);
            }
            (seen, first)
        }
    };
    let mut cx = Context::new(node, cell);
    if first && let Err(e) = init(process.as_mut(), &mut cx) {
        return finish(node, cell, process, Err(e));
    }
    let step = match catch_unwind(AssertUnwindSafe(|| process.step(&mut cx))) {
        Ok(step) => step,
        Err(panic) => return finish(node, cell, process, Err(panic_error(panic))),
    };
    match step {
        Step::Complete(result) => finish(node, cell, process, result),
        Step::Upgrade(new) => {
            *process = new;
            match init(process.as_mut(), &mut cx) {
                Ok(()) => Outcome::Requeue,
                Err(e) => finish(node, cell, process, Err(e)),
            }
        }
        Step::Idle => match cell.park_idle(seen) {
            IdlePark::Parked => Outcome::Parked,
            IdlePark::Again => Outcome::Requeue,
            IdlePark::Overdue => finish(node, cell, process, Err(ExitError::cancelled())),
        },
        Step::Yield(wait) if wait.ops.is_empty() => Outcome::Requeue,
        Step::Yield(wait) => match park_ops(node, cell, wait) {
            Ok(outcome) => outcome,
            Err(error) => finish(node, cell, process, Err(error)),
        },
    }
}

fn init(process: &mut dyn Process, cx: &mut Context<'_>) -> Result<(), ExitError> {
    match catch_unwind(AssertUnwindSafe(|| process.init(cx))) {
        Ok(r) => r,
        Err(panic) => Err(panic_error(panic)),
    }
}

/// Starts the deadline of the cancel the process now gets to see.
#[cold]
fn start_cancel_deadline(node: &Node, cell: &Arc<ProcessCell>) {
    if let Some(grace) = cell.take_cancel_grace() {
        node.start_cancel_deadline(cell, grace);
    }
}

/// Closes the process and applies the exit rules.
fn finish(
    node: &Node,
    cell: &Arc<ProcessCell>,
    process: &mut Box<dyn Process>,
    result: ExitResult,
) -> Outcome {
    let mut cx = Context::new(node, cell);
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| process.close(&mut cx, &result))) {
        tracing::error!(pid = %cell.pid(), "process panicked in close: {}", panic_message(panic));
    }
    node.exit(cell, result);
    Outcome::Exited
}

/// Registers the ops of a wait and parks unless it is already satisfied;
/// the error to end it with if this was its last step after a cancel
/// deadline.
fn park_ops(node: &Node, cell: &Arc<ProcessCell>, wait: Wait) -> Result<Outcome, ExitError> {
    cell.begin_wait(wait.mode, wait.ops.len());
    for op in wait.ops {
        let tag = op.tag;
        match op.kind {
            OpKind::Receive => cell.wait_receive(tag),
            OpKind::Until(deadline) => {
                let target = cell.clone();
                node.timers().at(deadline, move || {
                    target.complete(Completion {
                        tag,
                        value: Payload::Nil,
                    })
                });
            }
            OpKind::Blocking(job) => {
                let target = cell.clone();
                let done = cell.clone();
                let run = node.blocking().run(move || {
                    let value = catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|panic| {
                        Payload::Str(format!("panic: {}", panic_message(panic)).into())
                    });
                    target.complete(Completion { tag, value });
                });
                if run.is_err() {
                    // The pool is shut down: complete so the process is not stuck.
                    done.complete(Completion {
                        tag,
                        value: Payload::Nil,
                    });
                }
            }
        }
    }
    match cell.park_ops(wait.mode) {
        OpsPark::Ready => Ok(Outcome::Requeue),
        OpsPark::Parked { cancel } => {
            if cancel {
                // After parking: the deadline must find it parked (and
                // kill it), never still running.
                start_cancel_deadline(node, cell);
            }
            Ok(Outcome::Parked)
        }
        OpsPark::Overdue => Err(ExitError::cancelled()),
    }
}
