//! Native Rust processes: a host whose processes are scheduler tasks, and
//! the async adapter that drives an `async` block as a process.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use wippy_sched::{Handle, Task, TimerId};

use crate::cell::{ProcessCell, Residence};
use crate::context::Context;
use crate::error::Error;
use crate::message::{Event, ExitResult, Message, Topic};
use crate::node::{Node, SpawnOptions};
use crate::payload::Payload;
use crate::pid::{HostId, Pid};
use crate::process::{Process, Step};
use crate::run::{Outcome, drive};

pub(crate) struct HostInner {
    pub(crate) id: HostId,
    pub(crate) node: Node,
    pub(crate) sched: Handle,
}

impl HostInner {
    pub(crate) fn wake(&self, cell: &Arc<ProcessCell>) {
        self.sched.schedule(cell.clone());
    }
}

impl Task for ProcessCell {
    fn run(self: Arc<Self>) {
        let Residence::Native(host) = self.residence() else {
            unreachable!("only native cells are scheduler tasks");
        };
        let step = |slot: &mut Option<Box<dyn Process>>| {
            let process = slot.as_mut()?;
            let outcome = drive(&host.node, &self, process);
            if outcome == Outcome::Exited {
                *slot = None;
            }
            Some(outcome)
        };
        // SAFETY: the wake protocol (cell.rs) hands a process to exactly one
        // runner at a time, and this task run is that runner.
        if unsafe { self.with_process(step) } == Some(Outcome::Requeue) {
            host.sched.yield_now(self.clone());
        }
    }
}

/// A host whose processes are native Rust state machines, each a task of the
/// host's own scheduler.
///
/// ```
/// use wippy_process::{Runtime, SpawnOptions, Payload};
///
/// let rt = Runtime::new(Default::default()).unwrap();
/// let host = rt.native_host("demo:native", 1).unwrap();
/// let (tx, rx) = std::sync::mpsc::channel();
/// let echo = host.spawn_async(SpawnOptions::default(), |cx| async move {
///     let msg = cx.recv().await;
///     tx.send(msg.payload).unwrap();
///     Ok(Payload::Nil)
/// }).unwrap();
/// rt.node().send(None, echo, "hi", Payload::Int(7)).unwrap();
/// assert_eq!(rx.recv().unwrap(), Payload::Int(7));
/// ```
#[derive(Clone)]
pub struct NativeHost {
    inner: Arc<HostInner>,
}

impl NativeHost {
    pub(crate) fn new(id: HostId, node: Node, sched: Handle) -> NativeHost {
        NativeHost {
            inner: Arc::new(HostInner { id, node, sched }),
        }
    }

    /// The host's id.
    pub fn id(&self) -> HostId {
        self.inner.id
    }

    /// The node the host belongs to.
    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    /// The host's scheduler.
    pub fn scheduler(&self) -> &Handle {
        &self.inner.sched
    }

    /// Spawns a process that implements [`Process`].
    pub fn spawn(&self, process: impl Process, opts: SpawnOptions) -> Result<Pid, Error> {
        self.spawn_boxed(Box::new(process), opts)
    }

    /// Spawns a boxed process.
    pub fn spawn_boxed(&self, process: Box<dyn Process>, opts: SpawnOptions) -> Result<Pid, Error> {
        let cell = self.inner.node.create(
            self.inner.id,
            Residence::Native(self.inner.clone()),
            0,
            Some(process),
            opts,
        )?;
        let pid = cell.pid();
        self.inner.sched.spawn(cell);
        Ok(pid)
    }

    /// Spawns an `async` block as a process; its output is the exit result.
    pub fn spawn_async<F, Fut>(&self, opts: SpawnOptions, f: F) -> Result<Pid, Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future<Output = ExitResult> + Send + 'static,
    {
        self.spawn(AsyncProcess::Start(Some(f)), opts)
    }
}

/// The state of an async process: the closure before its first step, then
/// the future it returned.
enum AsyncProcess<F, Fut> {
    Start(Option<F>),
    Running(Fut),
}

impl<F, Fut> Process for AsyncProcess<F, Fut>
where
    F: FnOnce(Ctx) -> Fut + Send + 'static,
    Fut: Future<Output = ExitResult> + Send + 'static,
{
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        if let AsyncProcess::Start(f) = self {
            let f = f.take().expect("a started async process has its closure");
            *self = AsyncProcess::Running(f(Ctx {
                node: cx.node().clone(),
                cell: cx.cell().clone(),
            }));
        }
        let AsyncProcess::Running(fut) = self else {
            unreachable!("set above")
        };
        // SAFETY: an `AsyncProcess` is only ever reachable as the unsized
        // `dyn Process` inside the `Box` made by `spawn_async` (the type is
        // private), so it cannot be moved out; the future stays at this
        // address until the box is dropped.
        let fut = unsafe { Pin::new_unchecked(fut) };
        let waker = Waker::from(cx.cell().clone());
        match fut.poll(&mut std::task::Context::from_waker(&waker)) {
            Poll::Ready(result) => Step::Complete(result),
            Poll::Pending => match PENDING_UPGRADE.with(|slot| slot.borrow_mut().take()) {
                Some(new) => Step::Upgrade(new),
                None => Step::Idle,
            },
        }
    }
}

/// An async process's handle to itself and the kernel.
#[derive(Clone)]
pub struct Ctx {
    node: Node,
    cell: Arc<ProcessCell>,
}

impl Ctx {
    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.cell.pid()
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Sends a message from this process.
    ///
    /// A `&str` topic is copied into a fresh [`Topic`] on every send; a loop
    /// that sends the same topic over and over does better with one made
    /// once (a `const` from [`Topic::new_static`] costs nothing to pass).
    pub fn send(&self, to: Pid, topic: impl Into<Topic>, payload: Payload) -> Result<(), Error> {
        self.node.send(Some(self.cell.pid()), to, topic, payload)
    }

    /// Takes a message if one is waiting.
    pub fn try_recv(&self) -> Option<Message> {
        self.cell.try_recv()
    }

    /// Waits for the next message.
    pub fn recv(&self) -> impl Future<Output = Message> + Send + '_ {
        std::future::poll_fn(move |_| match self.try_recv() {
            Some(m) => Poll::Ready(m),
            None => Poll::Pending,
        })
    }

    /// Waits for the next message at most `timeout`.
    pub async fn recv_timeout(&self, timeout: Duration) -> Option<Message> {
        let mut sleep = self.sleep(timeout);
        std::future::poll_fn(|cx| {
            if let Some(m) = self.try_recv() {
                return Poll::Ready(Some(m));
            }
            match Pin::new(&mut sleep).poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Takes a lifecycle event if one is waiting.
    pub fn try_event(&self) -> Option<Event> {
        self.cell.try_event()
    }

    /// Waits for the next lifecycle event.
    pub fn next_event(&self) -> impl Future<Output = Event> + Send + '_ {
        std::future::poll_fn(move |_| match self.cell.try_event() {
            Some(e) => Poll::Ready(e),
            None => Poll::Pending,
        })
    }

    /// Sleeps for `delay` (timer-driven; the worker runs others meanwhile).
    pub fn sleep(&self, delay: Duration) -> Sleep {
        Sleep {
            deadline: Instant::now() + delay,
            timer: None,
            node: self.node.clone(),
            cell: self.cell.clone(),
        }
    }

    /// Yields the worker once, letting other processes run.
    pub async fn yield_now(&self) {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await
    }

    /// Registers a name for this process.
    pub fn register(&self, name: &str) -> Result<(), Error> {
        self.node.register(name, self.cell.pid())
    }

    /// Sets whether this process traps links.
    pub fn set_trap_links(&self, trap: bool) {
        self.cell.set_trap_links(trap);
    }

    /// Spawns on `host` with this process as the parent.
    pub fn spawn<F, Fut>(
        &self,
        host: &NativeHost,
        mut opts: SpawnOptions,
        f: F,
    ) -> Result<Pid, Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future<Output = ExitResult> + Send + 'static,
    {
        opts.parent = Some(self.cell.pid());
        host.spawn_async(opts, f)
    }

    /// Replaces this process's code with `process`, keeping pid, mailbox,
    /// links, monitors and names; the state to carry over goes into
    /// `process`. Never resolves: the current future is dropped and the new
    /// code's `init` and steps run next. If `init` fails, the process ends
    /// with that error.
    ///
    /// ```ignore
    /// return cx.upgrade(CounterV2 { count }).await;
    /// ```
    pub fn upgrade(&self, process: impl Process) -> impl Future<Output = ExitResult> + Send {
        let mut process: Option<Box<dyn Process>> = Some(Box::new(process));
        std::future::poll_fn(move |_| {
            if let Some(p) = process.take() {
                PENDING_UPGRADE.with(|slot| *slot.borrow_mut() = Some(p));
            }
            Poll::Pending
        })
    }
}

thread_local! {
    /// An upgrade requested by the async process being polled on this thread;
    /// read by `AsyncProcess::step` right after the poll.
    static PENDING_UPGRADE: std::cell::RefCell<Option<Box<dyn Process>>> =
        const { std::cell::RefCell::new(None) };
}

/// A sleep timer future (see [`Ctx::sleep`]).
pub struct Sleep {
    deadline: Instant,
    timer: Option<TimerId>,
    node: Node,
    cell: Arc<ProcessCell>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.timer = None;
            return Poll::Ready(());
        }
        if self.timer.is_none() {
            let cell = self.cell.clone();
            let id = self.node.timers().at(self.deadline, move || cell.notify());
            self.timer = Some(id);
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.timer.take() {
            self.node.timers().cancel(id);
        }
    }
}
