//! The handle of a running supervisor: start one, ask it about its
//! children, add and remove children, stop it.
//!
//! The supervisor's state lives in its process (`process.rs`) and nowhere
//! else. A handle reaches it by putting a [`Request`] in the shared queue
//! and waking the process with a [`CALL`] message; the reply comes back on
//! a channel of its own. A handle's methods block the calling thread until
//! the supervisor has answered, so they are for threads, not for processes
//! running on the supervisor's own host (such a process would hold the
//! worker the supervisor needs to answer).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use wippy_process::{ExitError, NativeHost, Node, Payload, Pid, SpawnOptions, Topic};

use crate::error::SuperviseError;
use crate::spec::{ChildKind, ChildSpec, SupervisorSpec};

/// How long past a child's stop timeout (or its brutal kill) the supervisor
/// waits for its EXIT: the kernel terminates it at the timeout, and the EXIT
/// takes a moment to arrive.
pub(crate) const EXIT_GRACE: Duration = Duration::from_millis(500);

/// The topic of the message that tells a supervisor requests are waiting.
pub(crate) const CALL: Topic = Topic::new_static("supervisor.call");

/// What a child is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// Its process runs.
    Running,
    /// It waits for its restart (a backoff delay, or a start that failed
    /// and is tried again).
    Restarting,
    /// A transient child that ended without an error: it stays down.
    Exited,
    /// It is not restarted any more: it failed its
    /// [`crate::Backoff::max_attempts`] runs in a row, or with an error that
    /// says retrying cannot help (`retryable` false).
    GivenUp,
}

impl fmt::Display for ChildState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChildState::Running => "running",
            ChildState::Restarting => "restarting",
            ChildState::Exited => "exited",
            ChildState::GivenUp => "given up",
        })
    }
}

/// One child as [`Supervisor::which_children`] reports it.
#[derive(Debug, Clone)]
pub struct ChildInfo {
    /// Its id (for `simple_one_for_one` instances: the template's).
    pub id: String,
    /// Its current process, if it runs.
    pub pid: Option<Pid>,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// What it is doing.
    pub state: ChildState,
    /// How often it was restarted.
    pub restarts: u32,
    /// The error of its latest failed run or start, if any.
    pub last_error: Option<ExitError>,
    /// For a child started by [`ChildSpec::supervisor`]: the handle of the
    /// supervisor running now, to look further down the tree.
    pub supervisor: Option<Supervisor>,
}

/// What [`Supervisor::count_children`] reports (OTP's `count_children`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildCounts {
    /// Children the supervisor knows, running or not.
    pub specs: usize,
    /// Children whose process runs.
    pub active: usize,
    /// Children that are supervisors.
    pub supervisors: usize,
    /// Children that are workers.
    pub workers: usize,
}

/// A child named by its id or by its current pid (instances of a
/// `simple_one_for_one` template are named by pid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildRef {
    /// By id.
    Id(String),
    /// By its current process.
    Pid(Pid),
}

impl From<&str> for ChildRef {
    fn from(id: &str) -> ChildRef {
        ChildRef::Id(id.to_owned())
    }
}

impl From<String> for ChildRef {
    fn from(id: String) -> ChildRef {
        ChildRef::Id(id)
    }
}

impl From<Pid> for ChildRef {
    fn from(pid: Pid) -> ChildRef {
        ChildRef::Pid(pid)
    }
}

impl fmt::Display for ChildRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildRef::Id(id) => f.write_str(id),
            ChildRef::Pid(pid) => write!(f, "{pid}"),
        }
    }
}

/// Where a request's answer goes.
pub(crate) type Reply<T> = mpsc::SyncSender<T>;

/// What a handle asks of its supervisor process.
pub(crate) enum Request {
    StartChild(Box<ChildSpec>, Reply<Result<Pid, SuperviseError>>),
    StartInstance(Vec<Payload>, Reply<Result<Pid, SuperviseError>>),
    TerminateChild(ChildRef, Reply<Result<(), SuperviseError>>),
    WhichChildren(Reply<Vec<ChildInfo>>),
    CountChildren(Reply<ChildCounts>),
    Stop,
}

/// Where the supervisor process is in its life, as its handles see it.
#[derive(Default)]
struct Phase {
    /// The child being started while the supervisor starts its children.
    starting: Option<Arc<str>>,
    /// Every initial child has started.
    started: bool,
    /// Why the supervisor's start failed, until [`Supervisor::start`]
    /// takes it.
    failure: Option<SuperviseError>,
    /// The supervisor process has ended.
    ended: bool,
}

/// What a supervisor process shares with its handles. Invariant: the
/// process is the only writer of `phase` (through [`Shared::set_phase`] and
/// [`EndGuard`]) and the only reader of `requests` (it drains them); once
/// `closed` is set, nothing is queued any more.
pub(crate) struct Shared {
    pub(crate) node: Node,
    requests: Mutex<Requests>,
    phase: Mutex<Phase>,
    changed: Condvar,
    /// [`Supervisor::stop_bound`] in nanoseconds, kept by the process as
    /// children come and go.
    stop_bound_ns: AtomicU64,
}

#[derive(Default)]
struct Requests {
    queue: Vec<Request>,
    /// The process has ended: requests would never be answered.
    closed: bool,
}

impl Shared {
    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn requests(&self) -> MutexGuard<'_, Requests> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The supervisor process starts child `id` of its initial children.
    pub(crate) fn starting(&self, id: &Arc<str>) {
        self.phase().starting = Some(id.clone());
    }

    /// Every initial child has started, or the start failed with `failure`.
    pub(crate) fn started(&self, failure: Option<SuperviseError>) {
        let mut phase = self.phase();
        phase.starting = None;
        phase.started = failure.is_none();
        phase.failure = failure;
        self.changed.notify_all();
    }

    /// Takes the requests waiting for the process.
    pub(crate) fn take_requests(&self) -> Vec<Request> {
        std::mem::take(&mut self.requests().queue)
    }

    pub(crate) fn set_stop_bound(&self, bound: Duration) {
        let ns = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: a figure read on its own, nothing is published with it.
        self.stop_bound_ns.store(ns, Ordering::Relaxed);
    }

    pub(crate) fn stop_bound(&self) -> Duration {
        Duration::from_nanos(self.stop_bound_ns.load(Ordering::Relaxed))
    }
}

/// Owned by the supervisor process (moved into it at spawn, so it is
/// dropped whichever way the process ends, even before its first step):
/// its drop closes the request queue (dropping the waiting requests, whose
/// callers then get [`SuperviseError::NotRunning`]) and marks the process
/// ended.
pub(crate) struct EndGuard(pub(crate) Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        let waiting = {
            let mut requests = self.0.requests();
            requests.closed = true;
            std::mem::take(&mut requests.queue)
        };
        drop(waiting);
        let mut phase = self.0.phase();
        phase.ended = true;
        phase.starting = None;
        self.0.changed.notify_all();
    }
}

/// A handle to a running supervisor process: cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use wippy_process::{Payload, Runtime};
/// use wippy_supervise::{ChildSpec, ChildState, Strategy, Supervisor, SupervisorSpec};
///
/// let rt = Runtime::new(Default::default()).unwrap();
/// let host = rt.native_host("doc:system", 1).unwrap();
/// let echo = ChildSpec::native("echo", &host, |cx, _| async move {
///     cx.next_event().await; // CANCEL
///     Ok(Payload::Nil)
/// });
/// let sup = Supervisor::start(&host, SupervisorSpec::new(Strategy::OneForOne, vec![echo])).unwrap();
/// let children = sup.which_children().unwrap();
/// assert_eq!(children[0].id, "echo");
/// assert_eq!(children[0].state, ChildState::Running);
/// assert!(sup.stop(sup.stop_bound()));
/// ```
#[derive(Clone)]
pub struct Supervisor {
    pid: Pid,
    shared: Arc<Shared>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// Spawns a supervisor of `spec` on `host` and waits until it has
    /// started its children in order. If a required child fails to start,
    /// the children started so far are stopped in reverse order and the
    /// error is returned; if starting takes longer than the children's
    /// start timeouts together, the supervisor is terminated (and with it
    /// its children) and [`SuperviseError::StartTimeout`] is returned.
    ///
    /// Blocks the calling thread: call it from a thread, not a process.
    pub fn start(host: &NativeHost, spec: SupervisorSpec) -> Result<Supervisor, SuperviseError> {
        let limit = spec
            .children
            .iter()
            .map(|c| c.start_timeout)
            .sum::<Duration>()
            + EXIT_GRACE;
        let sup = Supervisor::spawn(host, SpawnOptions::default(), spec)?;
        sup.wait_started(limit)?;
        Ok(sup)
    }

    /// Spawns a supervisor of `spec` on `host` with `opts` (a parent that
    /// monitors it, for instance) and returns at once; it starts its
    /// children in its own time. If a required child fails to start, it
    /// ends with that error.
    pub fn spawn(
        host: &NativeHost,
        opts: SpawnOptions,
        spec: SupervisorSpec,
    ) -> Result<Supervisor, SuperviseError> {
        spec.validate()?;
        let shared = Arc::new(Shared {
            node: host.node().clone(),
            requests: Mutex::default(),
            phase: Mutex::default(),
            changed: Condvar::new(),
            stop_bound_ns: AtomicU64::new(0),
        });
        shared.set_stop_bound(spec.stop_bound());
        let guard = EndGuard(shared.clone());
        let pid = host
            .spawn_async(opts, move |cx| crate::process::serve(cx, spec, guard))
            .map_err(SuperviseError::Spawn)?;
        Ok(Supervisor { pid, shared })
    }

    fn wait_started(&self, limit: Duration) -> Result<(), SuperviseError> {
        let deadline = Instant::now() + limit;
        let mut phase = self.shared.phase();
        loop {
            if let Some(failure) = phase.failure.take() {
                return Err(failure);
            }
            if phase.started {
                return Ok(());
            }
            if phase.ended {
                return Err(SuperviseError::NotRunning { pid: self.pid });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let child = phase
                    .starting
                    .as_deref()
                    .map_or_else(|| "(none)".to_owned(), str::to_owned);
                drop(phase);
                self.shared
                    .node
                    .kill(self.pid, ExitError::new("did not start in time"));
                return Err(SuperviseError::StartTimeout { child, limit });
            }
            phase = self
                .shared
                .changed
                .wait_timeout(phase, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Whether the supervisor process still runs.
    pub fn is_running(&self) -> bool {
        !self.shared.phase().ended
    }

    /// Its children in start order: id, pid, kind, state, restarts, last
    /// error (OTP's `which_children`).
    pub fn which_children(&self) -> Result<Vec<ChildInfo>, SuperviseError> {
        self.call(Request::WhichChildren)
    }

    /// How many children it has, running, workers and supervisors.
    pub fn count_children(&self) -> Result<ChildCounts, SuperviseError> {
        self.call(Request::CountChildren)
    }

    /// Adds a child after the others and starts it; its pid. Not for
    /// `simple_one_for_one` supervisors (see
    /// [`Supervisor::start_instance`]).
    pub fn start_child(&self, spec: ChildSpec) -> Result<Pid, SuperviseError> {
        self.call(|reply| Request::StartChild(Box::new(spec), reply))?
    }

    /// Starts an instance of a `simple_one_for_one` supervisor's template
    /// with `args` (passed to its start function on every start); its pid.
    pub fn start_instance(&self, args: Vec<Payload>) -> Result<Pid, SuperviseError> {
        self.call(|reply| Request::StartInstance(args, reply))?
    }

    /// Stops a child (as its shutdown says) and forgets it. Unlike OTP,
    /// which keeps the spec of a terminated child for a later
    /// `restart_child`, the child is gone: add it again with
    /// [`Supervisor::start_child`].
    pub fn terminate_child(&self, child: impl Into<ChildRef>) -> Result<(), SuperviseError> {
        let child = child.into();
        self.call(|reply| Request::TerminateChild(child, reply))?
    }

    /// The longest [`Supervisor::stop`] takes when every child uses its
    /// whole shutdown time: children stop one after another (at once under
    /// `simple_one_for_one`), so it is the sum of their shutdown timeouts,
    /// plus a moment per child for its EXIT to arrive.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wippy_process::{Runtime, SpawnOptions};
    /// use wippy_supervise::{ChildSpec, Shutdown, Strategy, Supervisor, SupervisorSpec};
    ///
    /// let rt = Runtime::new(Default::default()).unwrap();
    /// let host = rt.native_host("doc:system", 1).unwrap();
    /// let h = host.clone();
    /// let child = |id: &str, secs| {
    ///     let h = h.clone();
    ///     ChildSpec::new(id, move |opts: SpawnOptions, _: &[_]| {
    ///         Ok(h.spawn_async(opts, |cx| async move {
    ///             cx.next_event().await;
    ///             Ok(wippy_process::Payload::Nil)
    ///         })?)
    ///     })
    ///     .shutdown(Shutdown::Timeout(Duration::from_secs(secs)))
    /// };
    /// let spec = SupervisorSpec::new(Strategy::OneForOne, vec![child("a", 10), child("b", 3)]);
    /// let sup = Supervisor::start(&host, spec).unwrap();
    /// assert!(sup.stop_bound() >= Duration::from_secs(13));
    /// assert!(sup.stop_bound() < Duration::from_secs(16));
    /// assert!(sup.stop(sup.stop_bound()));
    /// ```
    pub fn stop_bound(&self) -> Duration {
        self.shared.stop_bound()
    }

    /// Stops every child in reverse start order (each as its shutdown
    /// says) and waits for the supervisor to end, at most `limit`
    /// ([`Supervisor::stop_bound`] is enough for every child to use its
    /// whole shutdown time). Returns false if it did not end in time.
    pub fn stop(&self, limit: Duration) -> bool {
        if self.push(Request::Stop).is_ok() {
            // A supervisor that has just ended cannot be woken; its end is
            // what is waited for below either way.
            let _ = self.shared.node.send(None, self.pid, CALL, Payload::Nil);
        }
        let deadline = Instant::now() + limit;
        let mut phase = self.shared.phase();
        while !phase.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            phase = self
                .shared
                .changed
                .wait_timeout(phase, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    fn push(&self, request: Request) -> Result<(), SuperviseError> {
        let mut requests = self.shared.requests();
        if requests.closed {
            return Err(SuperviseError::NotRunning { pid: self.pid });
        }
        requests.queue.push(request);
        Ok(())
    }

    /// Queues a request, wakes the supervisor and waits for its answer.
    fn call<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, SuperviseError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.push(request(reply))?;
        let not_running = || SuperviseError::NotRunning { pid: self.pid };
        // If the process has ended, its guard drops the queued request and
        // with it `reply`, so `recv` below returns at once.
        self.shared
            .node
            .send(None, self.pid, CALL, Payload::Nil)
            .map_err(|_| not_running())?;
        answer.recv().map_err(|_| not_running())
    }
}
