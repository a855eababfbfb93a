//! The shared part of a process: pid, mailbox, signals, relations, and the
//! wake protocol that decides who schedules it.
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
//! * Only the thread running a step sets `wait` (in [`Cell::park`]), under
//!   the lock, after checking that nothing it waits for arrived since the
//!   step began (the `arrivals` counter). So a push racing with parking is
//!   seen by one side or the other, never lost.
//!
//! Hence at most one copy of a process is ever queued or running, and the
//! runner may touch the process's state without further locking.
//!
//! The protocol is model-checked with loom (`loom_tests` at the end of this
//! file): `RUSTFLAGS="--cfg loom" cargo test -p wippy-process --lib --release
//! cell::loom`.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::{Arc, PoisonError};

use smallvec::SmallVec;

use crate::message::{Event, ExitError, Message, Topic};
use crate::pid::{HostId, Pid};
use crate::process::{Completion, OpTag, Process};
use crate::sync::{Mutex, MutexGuard};

pub(crate) const W_MESSAGE: u8 = 1;
pub(crate) const W_EVENT: u8 = 2;
pub(crate) const W_COMPLETION: u8 = 4;
pub(crate) const W_WAKE: u8 = 8;
pub(crate) const W_KILL: u8 = 16;
pub(crate) const W_IDLE: u8 = W_MESSAGE | W_EVENT | W_COMPLETION | W_WAKE | W_KILL;
pub(crate) const W_OPS: u8 = W_COMPLETION | W_KILL;

/// Where a process runs: something that can put it back on a run queue.
///
/// Native processes run as their own scheduler task; Lua processes live in a
/// VM shard and are woken by marking them ready in it.
pub trait Home: Send + Sync + 'static {
    /// Makes the process runnable. Called at most once per park (see the
    /// module's wake protocol), never while the cell's lock is held.
    fn wake(&self, cell: &Arc<Cell>);

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
    fn credentials(&self, cell: &Arc<Cell>) -> Option<crate::remote::Credential> {
        let _ = cell;
        None
    }
}

/// A process's state as the wake protocol sees it (see [`Cell::status`]).
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

/// A snapshot of a process's cell (see [`Cell::status`]).
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
    pub(crate) cancel_timer: Option<wippy_sched::TimerId>,
}

pub(crate) enum Signal {
    Event(Event),
    Completion(Completion),
}

pub(crate) struct Inner {
    pub(crate) messages: VecDeque<Message>,
    pub(crate) signals: VecDeque<Signal>,
    /// Wake mask while parked, 0 while queued or running (see module docs).
    pub(crate) wait: u8,
    pub(crate) alive: bool,
    pub(crate) started: bool,
    pub(crate) trap_links: bool,
    /// Arrivals since the cell was created; a step compares it to decide
    /// whether it may park.
    pub(crate) arrivals: u32,
    /// Ops of the current `WaitMode::All` wait still outstanding.
    pub(crate) pending_all: u16,
    /// Tag of a pending receive op, completed by the next message.
    pub(crate) recv_op: Option<OpTag>,
    pub(crate) kill: Option<Box<ExitError>>,
    pub(crate) relations: Option<Box<Relations>>,
}

impl Inner {
    pub(crate) fn relations(&mut self) -> &mut Relations {
        self.relations.get_or_insert_with(Default::default)
    }

    /// Removes and returns the oldest signal `is` picks.
    pub(crate) fn take_signal(&mut self, is: impl Fn(&Signal) -> bool) -> Option<Signal> {
        let ix = self.signals.iter().position(is)?;
        self.signals.remove(ix)
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

/// One process's shared state. Reached through the process table by pid.
pub struct Cell {
    pub(crate) pid: Pid,
    pub(crate) residence: Residence,
    /// Slot of the process in its home (a shard's index; 0 for native).
    pub(crate) slot: u32,
    pub(crate) inner: Mutex<Inner>,
    /// The state machine of a native process. Only the thread running the
    /// process touches it: the wake protocol guarantees one runner at a time.
    pub(crate) process: UnsafeCell<Option<Box<dyn Process>>>,
}

// SAFETY: every field but `process` is Sync. `process` is accessed only by
// the single runner the wake protocol admits (see module docs), never
// concurrently, and `Box<dyn Process>` is Send.
unsafe impl Sync for Cell {}

pub(crate) fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
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

impl Cell {
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

    /// The part of [`Cell::accepts`] that asks the home.
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
    ) -> Cell {
        Cell {
            pid,
            residence,
            slot,
            inner: Mutex::new(Inner {
                messages: VecDeque::new(),
                signals: VecDeque::new(),
                wait: 0,
                alive: true,
                started: false,
                trap_links,
                arrivals: 0,
                pending_all: 0,
                recv_op: None,
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

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
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

    /// Delivers a message; false if the process has ended (a dead letter).
    pub(crate) fn deliver(self: &Arc<Self>, msg: Message) -> bool {
        let mut inner = self.lock();
        if !inner.alive {
            return false;
        }
        inner.messages.push_back(msg);
        let mut wake = inner.arrive(W_MESSAGE);
        if let Some(tag) = inner.recv_op.take() {
            inner.signals.push_back(Signal::Completion(Completion {
                tag,
                value: crate::Payload::Nil,
            }));
            inner.pending_all = inner.pending_all.saturating_sub(1);
            wake |= inner.arrive(W_COMPLETION);
        }
        drop(inner);
        self.wake_if(wake);
        true
    }

    /// Delivers a lifecycle event; false if the process has ended.
    pub(crate) fn deliver_event(self: &Arc<Self>, event: Event) -> bool {
        let mut inner = self.lock();
        if !inner.alive {
            return false;
        }
        inner.signals.push_back(Signal::Event(event));
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
        inner.signals.push_back(Signal::Completion(completion));
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
        self.lock().messages.pop_front()
    }

    /// Takes the oldest lifecycle event (for the process's runner).
    pub fn try_event(&self) -> Option<Event> {
        crate::context::take_event(self)
    }

    /// Takes the oldest op completion (for the process's runner).
    pub fn try_completion(&self) -> Option<Completion> {
        match self
            .lock()
            .take_signal(|s| matches!(s, Signal::Completion(_)))?
        {
            Signal::Completion(c) => Some(c),
            Signal::Event(_) => unreachable!("take_signal found a completion"),
        }
    }

    /// Whether the process traps links.
    pub fn trap_links(&self) -> bool {
        self.lock().trap_links
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
}

impl std::task::Wake for Cell {
    fn wake(self: Arc<Self>) {
        self.notify();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.notify();
    }
}

impl std::fmt::Debug for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cell").field("pid", &self.pid).finish()
    }
}

/// Loom models of the wake protocol: a runner stepping and parking a process
/// while other threads deliver to it. Run with
/// `RUSTFLAGS="--cfg loom" cargo test -p wippy-process --lib --release cell::loom`.
///
/// Checked in every interleaving: the process is handed to at most one
/// runner (never both requeued by its runner and woken by a sender, never
/// woken twice), no arrival is lost (it was seen by the step, or the process
/// runs again), and `Home::wake` is never called under the cell's lock (the
/// recording home takes it; loom reports the deadlock otherwise).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::message::ExitError;
    use crate::node::Node;
    use crate::payload::Payload;
    use crate::pid::HostId;
    use crate::process::{Op, Step, Wait};
    use crate::run::{Outcome, drive};
    use loom::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::{Arc, OnceLock};

    /// A node shared by every model run: only `drive`'s exit path touches
    /// it (its table, names and timers use std locks, outside the model).
    fn node() -> Node {
        static NODE: OnceLock<Node> = OnceLock::new();
        NODE.get_or_init(|| {
            let rt = crate::runtime::Runtime::new(Default::default()).expect("runtime");
            let node = rt.node().clone();
            std::mem::forget(rt); // lives as long as the test binary
            node
        })
        .clone()
    }

    /// A home that counts wake-ups; it locks the cell, which deadlocks if
    /// the waker still holds the lock.
    #[derive(Default)]
    struct Recorder {
        wakes: AtomicUsize,
    }

    impl Home for Recorder {
        fn wake(&self, cell: &Arc<Cell>) {
            let _ = cell.is_alive();
            self.wakes.fetch_add(1, SeqCst);
        }
    }

    /// Takes every completion, message and event; then idles. With
    /// `wait: Some(all)` its first step yields on a receive op instead.
    struct Taker {
        wait: Option<bool>,
    }

    impl Process for Taker {
        fn step(&mut self, cx: &mut crate::context::Context<'_>) -> Step {
            if let Some(all) = self.wait.take() {
                let ops = [Op::receive(1)];
                return Step::Yield(if all { Wait::all(ops) } else { Wait::any(ops) });
            }
            while cx.take_completion().is_some() {}
            while cx.recv().is_some() || cx.next_event().is_some() {}
            Step::Idle
        }
    }

    fn message() -> Message {
        Message {
            from: None,
            topic: "m".into(),
            payload: Payload::Nil,
        }
    }

    /// One model run: the runner drives a freshly scheduled process (its
    /// first step) while `senders` run on other threads; then it checks the
    /// invariants and, if the process was handed back, runs it again until
    /// it parks or exits.
    fn run(wait: Option<bool>, senders: Vec<Box<dyn FnOnce(&Arc<Cell>) + Send>>) {
        let node = node();
        let home = Arc::new(Recorder::default());
        let pid = Pid::new(HostId::intern("loom:cell"), 1);
        let cell = Arc::new(Cell::new(
            pid,
            Residence::Hosted(home.clone()),
            0,
            None,
            false,
        ));
        let mut process: Box<dyn Process> = Box::new(Taker { wait });
        let threads: Vec<_> = senders
            .into_iter()
            .map(|send| {
                let cell = cell.clone();
                loom::thread::spawn(move || send(&cell))
            })
            .collect();
        let mut outcome = drive(&node, &cell, &mut process);
        for t in threads {
            t.join().expect("sender");
        }
        // Everything has arrived. Keep running while the process is ours.
        let mut wakes_seen = 0;
        loop {
            let wakes = home.wakes.load(SeqCst);
            let woken = wakes - wakes_seen;
            assert!(woken <= 1, "woken {woken} times for one park");
            match outcome {
                Outcome::Requeue => {
                    assert_eq!(woken, 0, "requeued by its runner and woken by a sender");
                }
                Outcome::Exited => {
                    assert_eq!(woken, 0, "woken after it exited");
                    return;
                }
                Outcome::Parked if woken == 0 => break,
                Outcome::Parked => {}
            }
            wakes_seen = wakes;
            outcome = drive(&node, &cell, &mut process);
        }
        // Parked for good: nothing it was waiting for is left behind.
        let inner = cell.lock();
        assert!(inner.alive && inner.kill.is_none(), "a kill was lost");
        assert!(inner.messages.is_empty(), "a message was lost");
        assert!(
            !inner.signals.iter().any(|s| matches!(s, Signal::Event(_))),
            "an event was lost"
        );
    }

    fn send_message() -> Box<dyn FnOnce(&Arc<Cell>) + Send> {
        Box::new(|cell| {
            cell.deliver(message());
        })
    }

    #[test]
    fn a_message_racing_an_idle_park_is_never_lost_or_doubled() {
        loom::model(|| run(None, vec![send_message()]));
    }

    #[test]
    fn a_message_racing_a_receive_op_wakes_once() {
        loom::model(|| run(Some(false), vec![send_message()]));
        loom::model(|| run(Some(true), vec![send_message()]));
    }

    #[test]
    fn a_message_an_event_and_a_kill_racing_a_park_wake_once() {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(|| {
            run(
                None,
                vec![
                    send_message(),
                    Box::new(|cell| {
                        cell.deliver_event(crate::message::Event::LinkDown {
                            from: cell.pid,
                            error: ExitError::new("down"),
                        });
                    }),
                    Box::new(|cell| {
                        cell.kill(ExitError::terminated());
                    }),
                ],
            )
        });
    }
}
