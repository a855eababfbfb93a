//! The shared part of a process: pid, mailbox, events and completions,
//! relations, and the wake protocol that decides who schedules it.
//!
//! # The wake protocol
//!
//! Everything that can make a process runnable — a message, an event, an op
//! completion, a waker, a kill — is pushed under the cell's one mutex
//! (`Inner`). A parked process has a non-zero `wait` mask saying which of
//! those wake it. Invariants:
//!
//! * `wait != 0` ⇔ the process is parked: neither queued nor running.
//! * Whoever clears a non-zero `wait` (under the lock) owns the one wake-up
//!   and must schedule the process exactly once, after unlocking.
//! * Only the thread running a step sets `wait` (in
//!   [`ProcessCell::park_idle`] and [`ProcessCell::park_ops`]), under the
//!   lock, after checking that nothing it waits for arrived since the step
//!   began (the `arrivals` counter). So a push racing with parking is seen
//!   by one side or the other, never lost.
//!
//! Hence at most one copy of a process is ever queued or running, and the
//! runner may touch the process's state without further locking.
//!
//! # What the lock costs
//!
//! Senders of every host (and the timer thread, and the blocking pool)
//! take a cell's lock to deliver, so nothing done under it may grow with
//! what the process has queued: a process that lets 80,000 timer
//! completions pile up must not make the next EXIT delivered to it, nor the
//! timers of every other host, wait. Messages, events and completions sit
//! in three FIFO queues; pushing and taking are O(1) amortised, and so is
//! asking whether any completion is ready. The queues of a process that
//! ends are taken out under the lock and dropped after it.
//!
//! # The mailbox policy
//!
//! A mailbox is bounded by its home ([`Home::mailbox_limit`], read when the
//! process is created): at most so many messages, and at most so many
//! bytes ([`Message::byte_size`] of each, summed while they are queued: the
//! receiver's memory limit, so queued messages count against it). A message
//! that does not fit is refused and the sender told
//! ([`crate::Error::MailboxFull`], [`crate::Error::MailboxOverMemoryLimit`]);
//! nothing already queued is dropped and the receiver goes on. Events and
//! completions are not bounded: they are bounded already by the process's
//! relations and its own operations, and losing one would break the rules
//! built on them. Native processes are unbounded.
//!
//! # Cancel deadlines
//!
//! A cancel's deadline counts from when the process gets to see its
//! CANCEL, and time spent waiting for a worker is not held against it:
//! `cell/cancel.rs` says how.
//!
//! The fields these invariants govern never leave this module: `run.rs`
//! (the runner) and `node.rs` (the lifecycle rules) go through the methods
//! of [`ProcessCell`], each of which keeps them.
//!
//! The protocol is model-checked with loom (`cell/loom_tests.rs`; `.ci/run`
//! runs them): `RUSTFLAGS="--cfg loom" cargo test -p wippy-process --lib
//! --release cell::loom`.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::message::{Event, ExitError, Message, Topic};
use crate::pid::{HostId, Pid};
use crate::process::{Completion, OpTag, Process, WaitMode};
use crate::sync::{Mutex, MutexGuard};

const W_MESSAGE: u8 = 1;
const W_EVENT: u8 = 2;
const W_COMPLETION: u8 = 4;
const W_WAKE: u8 = 8;
const W_KILL: u8 = 16;
const W_IDLE: u8 = W_MESSAGE | W_EVENT | W_COMPLETION | W_WAKE | W_KILL;
const W_OPS: u8 = W_COMPLETION | W_KILL;

/// How much a process's mailbox may hold (see the module's mailbox policy).
///
/// ```
/// use wippy_process::MailboxLimit;
/// let limit = MailboxLimit { messages: 1000, bytes: 1 << 20 };
/// assert!(limit.messages < MailboxLimit::UNBOUNDED.messages);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimit {
    /// Most messages queued at once.
    pub messages: usize,
    /// Most bytes queued at once ([`Message::byte_size`] of each): the
    /// receiver's memory limit.
    pub bytes: usize,
}

impl MailboxLimit {
    /// No bound (native processes, homes that set none).
    pub const UNBOUNDED: MailboxLimit = MailboxLimit {
        messages: usize::MAX,
        bytes: usize::MAX,
    };
}

/// Where a process runs: something that can put it back on a run queue.
///
/// Native processes run as their own scheduler task; Lua processes live in a
/// VM shard and are woken by marking them ready in it.
pub trait Home: Send + Sync + 'static {
    /// Makes the process runnable. Called at most once per park (see the
    /// module's wake protocol), never while the cell's lock is held.
    fn wake(&self, cell: &Arc<ProcessCell>);

    /// Whether processes of host `from` may send messages to processes of
    /// this home (a host that refuses other hosts' messages,
    /// `accept_from`). Asked only for a sender of another host than the
    /// receiver's; messages from outside any process are always accepted.
    fn accepts(&self, from: HostId) -> bool {
        let _ = from;
        true
    }

    /// Who the process of `cell` acts as, for the checks another node makes
    /// when it asks for something there (a send, a spawn): the security
    /// layer's principal, type-erased because the kernel knows no security
    /// types. `None` (the default): the home cannot say, and the process
    /// may not act on other nodes ([`Error::NoCredentials`](crate::Error::NoCredentials)).
    fn credentials(&self, cell: &Arc<ProcessCell>) -> Option<crate::remote::Credential> {
        let _ = cell;
        None
    }

    /// What the mailbox of a process of this home may hold; read once, when
    /// the process is created.
    fn mailbox_limit(&self) -> MailboxLimit {
        MailboxLimit::UNBOUNDED
    }
}

/// A process's state as the wake protocol sees it (see [`ProcessCell::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Queued or running.
    Ready,
    /// Parked until anything arrives (a message, an event, a wake-up).
    Idle,
    /// Parked on operations (a sleep, a blocking call, a receive op).
    Waiting,
    /// Ended; the cell outlives it while someone holds it.
    Ended,
}

/// A snapshot of a process's cell (see [`ProcessCell::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellStatus {
    /// What it is doing.
    pub state: RunState,
    /// Messages in its mailbox.
    pub mailbox: usize,
}

/// Where a cell runs.
pub(crate) enum Residence {
    /// A native process: the cell is its own scheduler task.
    Native(Arc<crate::native::HostInner>),
    /// A process kept by a [`Home`] (a VM shard).
    Hosted(Arc<dyn Home>),
}

/// Links, monitors and names of a live process; allocated on first use.
#[derive(Default)]
pub(crate) struct Relations {
    pub(crate) links: SmallVec<[Pid; 2]>,
    /// Processes that monitor this one (they get its EXIT).
    pub(crate) watchers: SmallVec<[Pid; 2]>,
    pub(crate) names: SmallVec<[Topic; 1]>,
    /// The kill timer of the latest cancel whose deadline has started.
    pub(crate) cancel_timer: Option<wippy_sched::TimerId>,
    /// When that timer fires (shown to the process in its CANCEL event).
    pub(crate) cancel_deadline: Option<Instant>,
    /// The grace of the latest cancel whose deadline has not started: it
    /// starts when the process next begins a step (`Inner::cancel_pending`).
    pub(crate) cancel_grace: Option<Duration>,
}

/// The state under a cell's lock. Private to this module: the rest of the
/// crate goes through the methods of [`ProcessCell`], which keep the wake
/// protocol's invariants (module docs).
struct Inner {
    messages: VecDeque<Message>,
    /// The sum of the [`Message::byte_size`] of the messages in `messages`,
    /// for a mailbox with a byte bound (0 always for one without: nothing
    /// to hold sizes against). A message carries its size, so taking one
    /// subtracts what delivering it added.
    queued_bytes: usize,
    /// Lifecycle events and op completions, each in arrival order. Two
    /// queues, not one: a process takes them by kind, and taking one kind
    /// from a queue shared with the other meant walking past everything of
    /// the other kind (tens of thousands of unread timer completions), under
    /// this lock. The events' queue is allocated with the first event: most
    /// processes get none, and an empty queue is four words of every cell.
    #[allow(clippy::box_collection, reason = "one word in every cell, not four")]
    events: Option<Box<VecDeque<Event>>>,
    completions: VecDeque<Completion>,
    /// Wake mask while parked, 0 while queued or running (see module docs).
    wait: u8,
    alive: bool,
    started: bool,
    trap_links: bool,
    /// Where its cancel deadlines stand (`cell/cancel.rs`): one byte that
    /// is zero unless a cancel needs the runner's attention.
    cancel: CancelState,
    /// Arrivals since the cell was created; a step compares it to decide
    /// whether it may park.
    arrivals: u32,
    /// Ops of the current `WaitMode::All` wait still outstanding.
    pending_all: u16,
    /// A receive op is pending, completed by the next message: its tag is
    /// `recv_tag`. A flag and a tag, not an `Option<OpTag>` (any `u64` is a
    /// tag, so the option takes 16 bytes): the flag fits beside the other
    /// small fields, and the cell stays 8 bytes smaller.
    recv_waiting: bool,
    recv_tag: OpTag,
    kill: Option<Box<ExitError>>,
    relations: Option<Box<Relations>>,
}

impl Inner {
    /// Takes the mailbox, events and completions out, for the caller to drop
    /// once it has released the lock (dropping them takes time that grows
    /// with their length).
    #[allow(
        clippy::box_collection,
        reason = "the events' queue as `Inner` holds it"
    )]
    fn take_queues(
        &mut self,
    ) -> (
        VecDeque<Message>,
        Option<Box<VecDeque<Event>>>,
        VecDeque<Completion>,
    ) {
        self.queued_bytes = 0;
        (
            std::mem::take(&mut self.messages),
            self.events.take(),
            std::mem::take(&mut self.completions),
        )
    }

    /// Queues a lifecycle event (allocating the queue for the first).
    fn push_event(&mut self, event: Event) {
        self.events
            .get_or_insert_with(Default::default)
            .push_back(event);
    }

    /// Records an arrival of `kind`; true if the caller must wake the process.
    fn arrive(&mut self, kind: u8) -> bool {
        self.arrivals = self.arrivals.wrapping_add(1);
        let wanted = self.wait & kind != 0 && (kind != W_COMPLETION || self.pending_all == 0);
        if wanted {
            self.wait = 0;
        }
        wanted
    }
}

/// How a step begins (see [`ProcessCell::begin_step`]).
pub(crate) enum StepStart {
    /// The process has ended: there is nothing to run.
    Ended,
    /// A kill arrived: the process must end with this error, unstepped.
    Killed(ExitError),
    /// Run the step. `seen` is the arrivals count to hand to
    /// [`ProcessCell::park_idle`]; `first` says the process has never run
    /// (its `init` comes first); `cancel` says the deadline of a cancel
    /// starts now, before the step ([`ProcessCell::take_cancel_grace`]).
    Run {
        seen: u32,
        first: bool,
        cancel: bool,
    },
}

/// What became of a message handed to [`ProcessCell::deliver`].
pub(crate) enum Delivery {
    /// It is in the mailbox.
    Delivered,
    /// The process has ended: a dead letter.
    Ended,
    /// Refused (the mailbox is at its bound, or the receiver's host does
    /// not accept the sender's), with the error for the sender (boxed:
    /// this is returned on every send, and is two words so).
    Refused(Box<crate::Error>),
}

/// What [`ProcessCell::park_idle`] did.
pub(crate) enum IdlePark {
    /// Parked: a later arrival owns the wake-up.
    Parked,
    /// Something arrived since the step began (or a kill is pending, or it
    /// has ended): run it again.
    Again,
    /// It parks after its cancel deadline passed: end it
    /// ([`ExitError::cancelled`]).
    Overdue,
}

/// What [`ProcessCell::park_ops`] did.
pub(crate) enum OpsPark {
    /// Not parked: the wait is satisfied (or a kill is pending, or the
    /// process ended); run it again.
    Ready,
    /// Parked; `cancel` says the deadline of a cancel starts now
    /// ([`ProcessCell::take_cancel_grace`]).
    Parked { cancel: bool },
    /// It parks after its cancel deadline passed: end it
    /// ([`ExitError::cancelled`]).
    Overdue,
}

/// What [`ProcessCell::end`] found.
pub(crate) enum Ending {
    /// The process had ended already; nothing was done.
    AlreadyEnded,
    /// The process has ended now; these were its relations, if it had any.
    Now(Option<Box<Relations>>),
}

/// One process's shared state. Reached through the process table by pid.
///
/// Named `ProcessCell`, not `Cell`, so that it never shadows
/// [`std::cell::Cell`] in a module that uses both.
pub struct ProcessCell {
    pid: Pid,
    residence: Residence,
    /// Slot of the process in its home (a shard's index; 0 for native).
    slot: u32,
    /// What its mailbox may hold (its home's, fixed at creation): the
    /// message bound as a `u32`, in the padding after `slot` (a bound of
    /// `u32::MAX` or more is none: no mailbox holds 4 G messages), and the
    /// byte bound. Eight bytes of every cell fewer than a [`MailboxLimit`].
    max_messages: u32,
    max_bytes: usize,
    inner: Mutex<Inner>,
    /// The state machine of a native process. Only the thread running the
    /// process touches it: the wake protocol guarantees one runner at a time.
    process: UnsafeCell<Option<Box<dyn Process>>>,
}

// SAFETY: every field but `process` is Sync. `process` is accessed only by
// the single runner the wake protocol admits (see module docs), never
// concurrently, and `Box<dyn Process>` is Send.
unsafe impl Sync for ProcessCell {}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // No code panics while holding a cell lock; recover from poisoning anyway.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Residence {
    /// See [`Home::accepts`]; native hosts accept every host.
    fn accepts(&self, from: HostId) -> bool {
        match self {
            Residence::Native(_) => true,
            Residence::Hosted(home) => home.accepts(from),
        }
    }
}

impl ProcessCell {
    /// Whether a message from `from` may be delivered here: always from
    /// outside any process and from the receiver's own host, otherwise as
    /// the receiver's home says ([`Home::accepts`]).
    #[inline(always)]
    pub(crate) fn accepts(&self, from: Option<Pid>) -> Result<(), crate::Error> {
        match from {
            Some(f) if f.host() != self.pid.host() => self.accepts_host(f.host()),
            _ => Ok(()),
        }
    }

    /// The part of [`ProcessCell::accepts`] that asks the home.
    #[inline(never)]
    fn accepts_host(&self, from: HostId) -> Result<(), crate::Error> {
        if self.residence.accepts(from) {
            return Ok(());
        }
        Err(crate::Error::NotAccepted {
            to: self.pid.host(),
            from,
        })
    }

    pub(crate) fn new(
        pid: Pid,
        residence: Residence,
        slot: u32,
        process: Option<Box<dyn Process>>,
        trap_links: bool,
    ) -> ProcessCell {
        let limit = match &residence {
            Residence::Native(_) => MailboxLimit::UNBOUNDED,
            Residence::Hosted(home) => home.mailbox_limit(),
        };
        ProcessCell {
            pid,
            residence,
            slot,
            max_messages: u32::try_from(limit.messages).unwrap_or(u32::MAX),
            max_bytes: limit.bytes,
            inner: Mutex::new(Inner {
                messages: VecDeque::new(),
                queued_bytes: 0,
                events: None,
                completions: VecDeque::new(),
                wait: 0,
                alive: true,
                started: false,
                trap_links,
                cancel: CancelState::default(),
                arrivals: 0,
                pending_all: 0,
                recv_waiting: false,
                recv_tag: 0,
                kill: None,
                relations: None,
            }),
            process: UnsafeCell::new(process),
        }
    }

    /// The process's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The process's slot in its home.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Where the process runs.
    pub(crate) fn residence(&self) -> &Residence {
        &self.residence
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Whether the process has not ended yet.
    pub fn is_alive(&self) -> bool {
        self.lock().alive
    }

    /// Number of messages waiting in the mailbox.
    pub fn mailbox_len(&self) -> usize {
        self.lock().messages.len()
    }

    /// What the process is doing and how many messages wait for it, read
    /// under the cell's lock at once (for tools such as `wippy top`; not
    /// for deciding anything, it may change as soon as it is read).
    pub fn status(&self) -> CellStatus {
        let inner = self.lock();
        let state = if !inner.alive {
            RunState::Ended
        } else if inner.wait == 0 {
            RunState::Ready
        } else if inner.wait & W_MESSAGE != 0 {
            RunState::Idle
        } else {
            RunState::Waiting
        };
        CellStatus {
            state,
            mailbox: inner.messages.len(),
        }
    }

    fn wake_if(self: &Arc<Self>, wake: bool) {
        if wake {
            match &self.residence {
                Residence::Native(host) => host.wake(self),
                Residence::Hosted(home) => home.wake(self),
            }
        }
    }

    /// Delivers a message, unless the process has ended (a dead letter) or
    /// its mailbox is at its bound ([`MailboxLimit`]: the message is
    /// refused, and the sender told).
    pub(crate) fn deliver(self: &Arc<Self>, msg: Message) -> Delivery {
        // Sized before the lock (the walk grows with the payload), and only
        // for a mailbox with a byte bound: an unbounded one has nothing to
        // hold the size against.
        let bounded = self.max_bytes != usize::MAX;
        let size = if bounded { msg.byte_size() } else { 0 };
        let mut inner = self.lock();
        if !inner.alive {
            return Delivery::Ended;
        }
        if inner.messages.len() >= self.max_messages as usize {
            drop(inner);
            return Delivery::Refused(self.refusal(size, None));
        }
        if bounded {
            // `queued_bytes <= max_bytes` always: only what fits is added.
            let queued = inner.queued_bytes;
            if size > self.max_bytes - queued {
                drop(inner);
                return Delivery::Refused(self.refusal(size, Some(queued)));
            }
            inner.queued_bytes = queued + size;
        }
        inner.messages.push_back(msg);
        let mut wake = inner.arrive(W_MESSAGE);
        if std::mem::take(&mut inner.recv_waiting) {
            let tag = inner.recv_tag;
            inner.completions.push_back(Completion {
                tag,
                value: crate::Payload::Nil,
            });
            inner.pending_all = inner.pending_all.saturating_sub(1);
            wake |= inner.arrive(W_COMPLETION);
        }
        drop(inner);
        self.wake_if(wake);
        Delivery::Delivered
    }

    /// The error of a message of `size` bytes refused: over the byte
    /// bound with `queued` bytes in the mailbox, or (`None`) at the message
    /// bound. Out of the way of the delivering path.
    #[cold]
    #[inline(never)]
    fn refusal(&self, size: usize, queued: Option<usize>) -> Box<crate::Error> {
        Box::new(match queued {
            Some(queued) => crate::Error::MailboxOverMemoryLimit {
                to: self.pid,
                size,
                queued,
                limit: self.max_bytes,
            },
            None => crate::Error::MailboxFull {
                to: self.pid,
                messages: self.mailbox_limit().messages,
            },
        })
    }

    /// Delivers a lifecycle event; false if the process has ended.
    pub(crate) fn deliver_event(self: &Arc<Self>, event: Event) -> bool {
        let mut inner = self.lock();
        if !inner.alive {
            return false;
        }
        inner.push_event(event);
        let wake = inner.arrive(W_EVENT);
        drop(inner);
        self.wake_if(wake);
        true
    }

    /// Delivers an op completion (a timer fired, blocking work finished).
    /// Hosts that register their own operations (a VM shard's timers) use it
    /// to hand the result to the process; it wakes an idle process.
    pub fn complete(self: &Arc<Self>, completion: Completion) {
        let mut inner = self.lock();
        if !inner.alive {
            return;
        }
        inner.completions.push_back(completion);
        inner.pending_all = inner.pending_all.saturating_sub(1);
        let wake = inner.arrive(W_COMPLETION);
        drop(inner);
        self.wake_if(wake);
    }

    /// Asks the process to end with `error` before its next step.
    pub(crate) fn kill(self: &Arc<Self>, error: ExitError) -> bool {
        let mut inner = self.lock();
        if !inner.alive {
            return false;
        }
        if inner.kill.is_none() {
            inner.kill = Some(Box::new(error));
        }
        let wake = inner.arrive(W_KILL);
        drop(inner);
        self.wake_if(wake);
        true
    }

    /// Takes the oldest message from the mailbox (for the process's runner).
    pub fn try_recv(&self) -> Option<Message> {
        let mut inner = self.lock();
        let msg = inner.messages.pop_front();
        if self.max_bytes != usize::MAX
            && let Some(m) = &msg
        {
            // What `deliver` added for it (a message's size never changes).
            inner.queued_bytes = inner.queued_bytes.saturating_sub(m.byte_size());
        }
        msg
    }

    /// Bytes of the messages waiting in the mailbox ([`Message::byte_size`]
    /// of each): what they charge against the process's memory limit.
    /// Counted only for a mailbox with a byte bound (0 otherwise).
    pub fn queued_bytes(&self) -> usize {
        self.lock().queued_bytes
    }

    /// What the mailbox may hold.
    pub fn mailbox_limit(&self) -> MailboxLimit {
        MailboxLimit {
            messages: match self.max_messages {
                u32::MAX => usize::MAX,
                n => n as usize,
            },
            bytes: self.max_bytes,
        }
    }

    /// Takes the oldest lifecycle event (for the process's runner).
    pub fn try_event(&self) -> Option<Event> {
        let mut inner = self.lock();
        let mut event = inner.events.as_mut()?.pop_front()?;
        if let Event::Cancel { deadline, .. } = &mut event
            && let Some(set) = inner.relations.as_ref().and_then(|r| r.cancel_deadline)
        {
            *deadline = set;
        }
        Some(event)
    }

    /// Takes the oldest op completion (for the process's runner).
    pub fn try_completion(&self) -> Option<Completion> {
        self.lock().completions.pop_front()
    }

    /// Whether the process traps links.
    pub fn trap_links(&self) -> bool {
        self.lock().trap_links
    }

    /// Sets whether the process traps links.
    pub(crate) fn set_trap_links(&self, trap: bool) {
        self.lock().trap_links = trap;
    }

    /// Wakes an idle process without delivering anything (async wakers).
    pub fn notify(self: &Arc<Self>) {
        let mut inner = self.lock();
        if !inner.alive {
            return;
        }
        let wake = inner.arrive(W_WAKE);
        drop(inner);
        self.wake_if(wake);
    }

    // The runner's side of the wake protocol. Only the thread the protocol
    // handed the process to calls these (`run.rs`).

    /// Starts a step: takes a pending kill, marks the process started, and
    /// notes the arrivals count the step begins with.
    pub(crate) fn begin_step(&self) -> StepStart {
        let mut inner = self.lock();
        if !inner.alive {
            return StepStart::Ended;
        }
        if let Some(kill) = inner.kill.take() {
            return StepStart::Killed(*kill);
        }
        let first = !inner.started;
        inner.started = true;
        let mut cancel = false;
        if inner.cancel.needs_attention() {
            match inner.cancel.step_begins() {
                StepCancel::Kill => return StepStart::Killed(ExitError::cancelled()),
                StepCancel::StartDeadline => cancel = true,
                StepCancel::Nothing => {}
            }
        }
        StepStart::Run {
            seen: inner.arrivals,
            first,
            cancel,
        }
    }

    /// Parks a process whose step returned `Step::Idle`, waiting for
    /// anything, unless something arrived since the step began (`seen`, from
    /// [`ProcessCell::begin_step`]), a kill is pending or it has ended.
    /// A park after a cancel deadline passed ends it instead
    /// ([`ProcessCell::deadline_passed`]).
    pub(crate) fn park_idle(&self, seen: u32) -> IdlePark {
        let mut inner = self.lock();
        if inner.cancel.overdue() && inner.alive {
            return IdlePark::Overdue;
        }
        if inner.arrivals != seen || inner.kill.is_some() || !inner.alive {
            return IdlePark::Again;
        }
        inner.wait = W_IDLE;
        IdlePark::Parked
    }

    /// Begins registering the `ops` ops of a wait in `mode` (before any of
    /// them can complete): an `All` wait counts them down.
    pub(crate) fn begin_wait(&self, mode: WaitMode, ops: usize) {
        self.lock().pending_all = match mode {
            WaitMode::All => ops.min(u16::MAX as usize) as u16,
            WaitMode::Any => 0,
        };
    }

    /// Registers a receive op: completed at once if a message is waiting,
    /// else by the next message delivered.
    pub(crate) fn wait_receive(&self, tag: OpTag) {
        let mut inner = self.lock();
        if inner.messages.is_empty() {
            inner.recv_waiting = true;
            inner.recv_tag = tag;
        } else {
            inner.completions.push_back(Completion {
                tag,
                value: crate::Payload::Nil,
            });
            inner.pending_all = inner.pending_all.saturating_sub(1);
        }
    }

    /// Parks the process on the ops of its wait (all registered) unless the
    /// wait is already satisfied, a kill is pending or it has ended.
    /// `Parked` (a completion or a kill owns the wake-up) carries the grace
    /// of a CANCEL that arrived during the step: a parked process does not
    /// run for it, so its deadline starts now (see
    /// [`ProcessCell::deliver_cancel`]).
    pub(crate) fn park_ops(&self, mode: WaitMode) -> OpsPark {
        let mut inner = self.lock();
        if inner.cancel.overdue() && inner.alive {
            return OpsPark::Overdue;
        }
        let ready = inner.kill.is_some()
            || !inner.alive
            || match mode {
                WaitMode::All => inner.pending_all == 0,
                WaitMode::Any => !inner.completions.is_empty(),
            };
        if ready {
            return OpsPark::Ready;
        }
        inner.wait = W_OPS;
        let cancel = inner.cancel.take_pending();
        OpsPark::Parked { cancel }
    }

    /// Runs `f` on the process's state machine (`None` for a process whose
    /// home keeps its own, or once it has ended).
    ///
    /// # Safety
    ///
    /// The caller must be the one runner the wake protocol has handed the
    /// process to (module docs), or the only thread left that can reach it
    /// (the runtime's drain, after every worker has been joined): no other
    /// call of `with_process` on this cell may run at the same time.
    pub(crate) unsafe fn with_process<R>(
        &self,
        f: impl FnOnce(&mut Option<Box<dyn Process>>) -> R,
    ) -> R {
        // SAFETY: the caller guarantees exclusive access (see `# Safety`),
        // and the reference does not outlive `f`.
        f(unsafe { &mut *self.process.get() })
    }

    // Relations and the end of a process: the lifecycle rules in `node.rs`.

    /// Runs `f` on the relations of a live process (allocated on first
    /// use), under the cell's lock; `None` if the process has ended. What a
    /// live process gains here is released by [`ProcessCell::end`].
    pub(crate) fn relate<R>(&self, f: impl FnOnce(&mut Relations) -> R) -> Option<R> {
        let mut inner = self.lock();
        if !inner.alive {
            return None;
        }
        Some(f(inner.relations.get_or_insert_with(Default::default)))
    }

    /// Runs `f` on the process's relations if it has any (for removals:
    /// allocates nothing), under the cell's lock.
    pub(crate) fn unrelate<R>(&self, f: impl FnOnce(&mut Relations) -> R) -> Option<R> {
        self.lock().relations.as_deref_mut().map(f)
    }

    /// Forgets the link to `partner` (which has ended) and returns whether
    /// the process traps links, both under one lock.
    pub(crate) fn unlink_ended(&self, partner: Pid) -> bool {
        let mut inner = self.lock();
        if let Some(rel) = inner.relations.as_mut() {
            rel.links.retain(|l| *l != partner);
        }
        inner.trap_links
    }

    /// Marks the process ended: it takes nothing more, its mailbox, events
    /// and completions are dropped (after the lock is released: a mailbox
    /// may hold millions of messages) and its relations handed to the
    /// caller.
    pub(crate) fn end(&self) -> Ending {
        let mut inner = self.lock();
        if !inner.alive {
            return Ending::AlreadyEnded;
        }
        inner.alive = false;
        inner.wait = 0;
        let queues = inner.take_queues();
        let relations = inner.relations.take();
        drop(inner);
        drop(queues);
        Ending::Now(relations)
    }

    /// Marks the process ended and drops everything it holds but its state
    /// machine, without the exit rules (runtime shutdown), after releasing
    /// the lock.
    pub(crate) fn discard(&self) {
        let mut inner = self.lock();
        inner.alive = false;
        let queues = inner.take_queues();
        let relations = inner.relations.take();
        drop(inner);
        drop((queues, relations));
    }
}

impl std::task::Wake for ProcessCell {
    fn wake(self: Arc<Self>) {
        self.notify();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.notify();
    }
}

impl std::fmt::Debug for ProcessCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessCell")
            .field("pid", &self.pid)
            .finish()
    }
}

mod cancel;
pub(crate) use cancel::CancelStart;
use cancel::{CancelState, StepCancel};

#[cfg(all(test, loom))]
mod loom_tests;
