//! Cancel deadlines: when a cancel's deadline starts, and what happens
//! when it passes (the lifecycle rule is `Node::cancel`'s).
//!
//! At scale a deadline counted from the send killed well-behaved
//! processes that had not yet run: a CANCEL sent to a million processes
//! waits in their shards' run queues for seconds. So:
//!
//! 1. The deadline starts when the process next begins a step with the
//!    CANCEL queued ([`super::StepStart::Run`]'s `cancel`, armed by the runner),
//!    or at delivery if it is parked on operations, which an event does not
//!    end ([`CancelStart::Now`]; also when a step during which it arrived
//!    parks on operations: [`super::OpsPark::Parked`]'s `cancel`).
//! 2. When it passes, a parked process is killed: it has seen the CANCEL
//!    and chose to wait. A queued or running one is not charged for
//!    waiting for a worker (a step the watchdog preempted right after it
//!    began goes to the back of its run queue): it is killed when it next
//!    parks, or when it would begin a step past [`LAST_STEPS`] more.
//!
//! A later cancel replaces the deadline of an earlier one. The deadline a
//! process reads in its CANCEL event is the one its timer was set for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ExitError, ProcessCell, W_EVENT, W_KILL, W_OPS};
use crate::message::Event;
use crate::pid::Pid;

/// Steps a process that was queued or running when its cancel deadline
/// passed may still begin (see [`ProcessCell::deadline_passed`]). One is
/// all a well-behaved process needs to end; three, because on a loaded
/// machine the watchdog can preempt a step that had barely run (its
/// worker thread descheduled by the OS), and a preempted process goes back
/// to the end of its run queue.
const LAST_STEPS: u8 = 3;

/// Where a process's cancel deadlines stand, in one byte (read at every
/// step's begin and park, so zero means "nothing to do" in one compare):
/// bit 0, a CANCEL arrived whose deadline starts with the next step (its
/// grace is `Relations::cancel_grace`); bits 1-3, the steps it may still
/// begin after a deadline that passed while it was not parked, plus one
/// (0: no such deadline).
#[derive(Clone, Copy, Default)]
pub(super) struct CancelState(u8);

const PENDING: u8 = 1;
const OVERDUE_SHIFT: u8 = 1;

/// What a step's begin does about cancels ([`CancelState::step_begins`]).
pub(super) enum StepCancel {
    /// Nothing.
    Nothing,
    /// Start the deadline of a pending cancel.
    StartDeadline,
    /// Kill the process: its steps after a passed deadline are used up.
    Kill,
}

impl CancelState {
    /// Whether anything is pending or overdue.
    #[inline(always)]
    pub(super) fn needs_attention(self) -> bool {
        self.0 != 0
    }

    /// Whether a deadline passed while the process was not parked.
    #[inline(always)]
    pub(super) fn overdue(self) -> bool {
        self.0 >> OVERDUE_SHIFT != 0
    }

    /// Marks a cancel whose deadline starts with the next step.
    fn set_pending(&mut self) {
        self.0 |= PENDING;
    }

    /// Takes the pending mark: true if a deadline is to start now.
    pub(super) fn take_pending(&mut self) -> bool {
        let pending = self.0 & PENDING != 0;
        self.0 &= !PENDING;
        pending
    }

    /// A deadline passed while the process was not parked: it may begin
    /// [`LAST_STEPS`] more steps (unless one already passed).
    fn mark_overdue(&mut self) {
        if !self.overdue() {
            self.0 |= (LAST_STEPS + 1) << OVERDUE_SHIFT;
        }
    }

    /// A step begins: counts it against an overdue process's last steps
    /// and takes the pending mark.
    #[cold]
    pub(super) fn step_begins(&mut self) -> StepCancel {
        let left = self.0 >> OVERDUE_SHIFT;
        if left == 1 {
            return StepCancel::Kill;
        }
        if left > 1 {
            self.0 = ((left - 1) << OVERDUE_SHIFT) | (self.0 & PENDING);
        }
        if self.take_pending() {
            StepCancel::StartDeadline
        } else {
            StepCancel::Nothing
        }
    }
}

/// When the deadline of a delivered CANCEL starts (see
/// [`ProcessCell::deliver_cancel`]).
pub(crate) enum CancelStart {
    /// The process has ended: nothing was delivered.
    Ended,
    /// Now: the process is parked on operations and will not run for it.
    Now,
    /// With the process's next step ([`super::StepStart::Run`]'s `cancel`).
    AtStep,
}

impl ProcessCell {
    /// Delivers a CANCEL from `from` (with `reason`) whose deadline is `grace` after the
    /// process gets to see it: when it next begins a step, or now if it is
    /// parked on operations (a wait that events do not end, so it would not
    /// run for the CANCEL). Counting from the send instead killed
    /// well-behaved processes that sat in a long run queue past their
    /// deadline. The event carries a provisional deadline, replaced when it
    /// is taken by the one the deadline timer was set for.
    pub(crate) fn deliver_cancel(
        self: &Arc<Self>,
        from: Option<Pid>,
        grace: Duration,
        reason: crate::Topic,
    ) -> CancelStart {
        let mut inner = self.lock();
        if !inner.alive {
            return CancelStart::Ended;
        }
        inner.push_event(Event::Cancel {
            from,
            deadline: Instant::now() + grace,
            reason,
        });
        let start = if inner.wait == W_OPS {
            CancelStart::Now
        } else {
            inner.cancel.set_pending();
            inner
                .relations
                .get_or_insert_with(Default::default)
                .cancel_grace = Some(grace);
            CancelStart::AtStep
        };
        let wake = inner.arrive(W_EVENT);
        drop(inner);
        self.wake_if(wake);
        start
    }

    /// The grace of the cancel whose deadline starts now (after a
    /// [`super::StepStart::Run`] or an [`super::OpsPark::Parked`] said so);
    /// `None` if a later one took it already.
    pub(crate) fn take_cancel_grace(&self) -> Option<Duration> {
        self.unrelate(|rel| rel.cancel_grace.take()).flatten()
    }

    /// Records the kill timer `id` of a cancel whose deadline has started,
    /// firing at `deadline`; returns the timer it replaces (`Ok(None)` if
    /// none), or `Err(())` if the process has ended (the caller cancels
    /// `id`).
    pub(crate) fn set_cancel_timer(
        &self,
        id: wippy_sched::TimerId,
        deadline: Instant,
    ) -> Result<Option<wippy_sched::TimerId>, ()> {
        self.relate(|rel| {
            rel.cancel_deadline = Some(deadline);
            rel.cancel_timer.replace(id)
        })
        .ok_or(())
    }

    /// The deadline of a cancel has passed (its timer fired). A parked
    /// process is killed now: it has seen its CANCEL (the deadline starts
    /// when it does) and chose to wait. A queued or running one is not
    /// charged for waiting for a worker: it is killed when it next parks,
    /// or when it would begin a step after [`LAST_STEPS`] more
    /// (`begin_step`, `park_idle`, `park_ops`). Without this, a
    /// well-behaved process preempted while handling its CANCEL went to
    /// the back of a run queue of a million and was killed there.
    pub(crate) fn deadline_passed(self: &Arc<Self>) {
        let mut inner = self.lock();
        if !inner.alive {
            return;
        }
        if inner.wait == 0 {
            inner.cancel.mark_overdue();
            return;
        }
        if inner.kill.is_none() {
            inner.kill = Some(Box::new(ExitError::cancelled()));
        }
        let wake = inner.arrive(W_KILL);
        drop(inner);
        self.wake_if(wake);
    }
}
