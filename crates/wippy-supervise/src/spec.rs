//! What a supervisor is made of: a strategy, a restart intensity and child
//! specs (OTP's `sup_flags` and `child_spec`).

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wippy_process::{Ctx, ExitResult, NativeHost, Payload, Pid, SpawnOptions};

use crate::backoff::Backoff;
use crate::supervisor::{EXIT_GRACE, Supervisor};

/// Why a start function could not start its child.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// Starts one instance of a child. The supervisor passes the spawn options
/// to use (itself as the parent, monitored: it learns of the exit from the
/// EXIT event) and the instance's arguments (empty for named children; the
/// arguments given to [`Supervisor::start_instance`] for the instances of a
/// `simple_one_for_one` template). Returns the new process's pid.
///
/// A start function runs inside the supervisor process, so it must not
/// block: spawn and return.
pub type StartFn = Arc<dyn Fn(SpawnOptions, &[Payload]) -> Result<Pid, StartError> + Send + Sync>;

/// Which children restart when one of them ends and must be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only that child.
    OneForOne,
    /// Every child: the others are stopped (in reverse start order), then
    /// all start again in order.
    OneForAll,
    /// That child and the children started after it (stopped in reverse
    /// order, started again in order).
    RestForOne,
    /// Children are dynamic instances of one template spec, added by
    /// [`Supervisor::start_instance`], each restarted on its own, stopped
    /// all at once.
    SimpleOneForOne,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
            Strategy::SimpleOneForOne => "simple_one_for_one",
        })
    }
}

/// Restart intensity: a supervisor that has to make more than
/// `max_restarts` restarts within `period` gives up: it stops its children
/// and ends with an error, and its own supervisor decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed within `period`.
    pub max_restarts: u32,
    /// The sliding window the restarts are counted in.
    pub period: Duration,
}

impl Intensity {
    /// No limit: the supervisor never gives up (children with a
    /// [`Backoff`] may still be given up on one by one).
    pub const UNLIMITED: Intensity = Intensity {
        max_restarts: u32::MAX,
        period: Duration::from_secs(1),
    };
}

impl Default for Intensity {
    /// OTP's default: 1 restart in 5 seconds.
    fn default() -> Intensity {
        Intensity {
            max_restarts: 1,
            period: Duration::from_secs(5),
        }
    }
}

/// When a child that ended is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always.
    #[default]
    Permanent,
    /// Only if it ended with an error.
    Transient,
    /// Never: it is forgotten when it ends.
    Temporary,
}

/// How a child is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Terminated at once.
    BrutalKill,
    /// Sent CANCEL, and terminated if it has not ended after this long.
    Timeout(Duration),
}

impl Default for Shutdown {
    /// OTP's default for workers: 5 seconds.
    fn default() -> Shutdown {
        Shutdown::Timeout(Duration::from_secs(5))
    }
}

impl Shutdown {
    /// The longest stopping the child can take, its EXIT included.
    pub(crate) fn bound(self) -> Duration {
        match self {
            Shutdown::BrutalKill => EXIT_GRACE,
            Shutdown::Timeout(d) => d + EXIT_GRACE,
        }
    }
}

/// Whether a child is a worker or a supervisor of its own children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChildKind {
    /// Any process that is not a supervisor.
    #[default]
    Worker,
    /// A supervisor (see [`ChildSpec::supervisor`]).
    Supervisor,
}

/// Where a supervisor child's start function leaves the handle of the
/// supervisor it started, for its parent to pick up (the start function
/// runs in the parent, which takes the handle right after the call).
pub(crate) type NestedSlot = Arc<Mutex<Option<Supervisor>>>;

/// One child of a supervisor: how to start it, when to restart it, how to
/// stop it.
///
/// ```
/// use std::time::Duration;
/// use wippy_process::{Payload, Runtime};
/// use wippy_supervise::{ChildSpec, Restart, Shutdown};
///
/// let rt = Runtime::new(Default::default()).unwrap();
/// let host = rt.native_host("doc:workers", 1).unwrap();
/// let spec = ChildSpec::native("cache", &host, |cx, _args| async move {
///     cx.next_event().await; // CANCEL
///     Ok(Payload::Nil)
/// })
/// .restart(Restart::Transient)
/// .shutdown(Shutdown::Timeout(Duration::from_secs(1)));
/// assert_eq!(spec.id(), "cache");
/// ```
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: Arc<str>,
    pub(crate) start: StartFn,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Shutdown,
    pub(crate) kind: ChildKind,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) optional: bool,
    pub(crate) start_timeout: Duration,
    pub(crate) nested: Option<NestedSlot>,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .field("backoff", &self.backoff)
            .field("optional", &self.optional)
            .field("start_timeout", &self.start_timeout)
            .finish_non_exhaustive()
    }
}

/// How long a child's start may take unless its spec says otherwise
/// (Wippy's `start_timeout` default).
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);

impl ChildSpec {
    /// A permanent worker started by `start`, stopped with a 5 s timeout,
    /// restarted at once (no backoff), required to start.
    pub fn new(
        id: impl Into<Arc<str>>,
        start: impl Fn(SpawnOptions, &[Payload]) -> Result<Pid, StartError> + Send + Sync + 'static,
    ) -> ChildSpec {
        ChildSpec {
            id: id.into(),
            start: Arc::new(start),
            restart: Restart::Permanent,
            shutdown: Shutdown::default(),
            kind: ChildKind::Worker,
            backoff: None,
            optional: false,
            start_timeout: DEFAULT_START_TIMEOUT,
            nested: None,
        }
    }

    /// A worker that runs `body` as a native process on `host` (with the
    /// instance's arguments; empty for named children).
    pub fn native<F, Fut>(id: impl Into<Arc<str>>, host: &NativeHost, body: F) -> ChildSpec
    where
        F: Fn(Ctx, Vec<Payload>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ExitResult> + Send + 'static,
    {
        let host = host.clone();
        let body = Arc::new(body);
        ChildSpec::new(id, move |opts, args| {
            let body = body.clone();
            let args = args.to_vec();
            Ok(host.spawn_async(opts, move |cx| body(cx, args))?)
        })
    }

    /// A child that is itself a supervisor of `spec`'s children, spawned on
    /// `host`. It is permanent and its shutdown timeout is the time its own
    /// children take to stop ([`Supervisor::stop_bound`] of `spec`), so a
    /// parent that stops it waits for its whole subtree.
    ///
    /// Unlike OTP, where starting a supervisor child waits for its init, the
    /// nested supervisor starts its children after its parent has moved on:
    /// if one of them fails to start, the nested supervisor ends with that
    /// error and its parent treats it as a crash.
    pub fn supervisor(
        id: impl Into<Arc<str>>,
        host: &NativeHost,
        spec: crate::SupervisorSpec,
    ) -> ChildSpec {
        let host = host.clone();
        let slot: NestedSlot = Arc::default();
        let bound = spec.stop_bound();
        let handed = slot.clone();
        let mut child = ChildSpec::new(id, move |opts, _args| {
            let sup = Supervisor::spawn(&host, opts, spec.clone())?;
            let pid = sup.pid();
            *handed.lock().unwrap_or_else(|e| e.into_inner()) = Some(sup);
            Ok(pid)
        });
        child.kind = ChildKind::Supervisor;
        child.shutdown = Shutdown::Timeout(bound);
        child.nested = Some(slot);
        child
    }

    /// The child's id, unique among its supervisor's children.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When it is restarted (default: [`Restart::Permanent`]).
    pub fn restart(mut self, restart: Restart) -> ChildSpec {
        self.restart = restart;
        self
    }

    /// How it is stopped (default: a 5 s timeout).
    pub fn shutdown(mut self, shutdown: Shutdown) -> ChildSpec {
        self.shutdown = shutdown;
        self
    }

    /// Marks it a worker or a supervisor (for [`crate::ChildCounts`] and
    /// views; [`ChildSpec::supervisor`] sets it).
    pub fn kind(mut self, kind: ChildKind) -> ChildSpec {
        self.kind = kind;
        self
    }

    /// Restarts after a failure wait for `backoff`'s delay, and the child
    /// is given up after too many failed runs in a row (Wippy's services).
    /// Without one, a child restarts at once, as in OTP.
    pub fn backoff(mut self, backoff: Backoff) -> ChildSpec {
        self.backoff = Some(backoff);
        self
    }

    /// A child that fails its first start does not fail its supervisor's
    /// start; it is restarted as if it had crashed (Wippy's
    /// `startup: optional`). By default a failed first start stops the
    /// supervisor's start, as in OTP.
    pub fn optional(mut self) -> ChildSpec {
        self.optional = true;
        self
    }

    /// How long its start may take (default 10 s). A start function cannot
    /// be interrupted, so a start found to have taken longer counts as
    /// failed (the process it started is terminated), and
    /// [`Supervisor::start`] returns [`crate::SuperviseError::StartTimeout`]
    /// once the start timeouts of the children so far have passed.
    pub fn start_timeout(mut self, timeout: Duration) -> ChildSpec {
        self.start_timeout = timeout;
        self
    }
}

/// A supervisor's configuration.
#[derive(Debug, Clone)]
pub struct SupervisorSpec {
    /// Which children restart together.
    pub strategy: Strategy,
    /// When the supervisor gives up.
    pub intensity: Intensity,
    /// The children in start order (for `simple_one_for_one`: the one
    /// template).
    pub children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// A supervisor of `children` with `strategy` and OTP's default
    /// intensity (1 restart in 5 s).
    pub fn new(strategy: Strategy, children: Vec<ChildSpec>) -> SupervisorSpec {
        SupervisorSpec {
            strategy,
            intensity: Intensity::default(),
            children,
        }
    }

    /// The same with `intensity`.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> SupervisorSpec {
        self.intensity = Intensity {
            max_restarts,
            period,
        };
        self
    }

    /// The longest stopping these children takes: one after another for
    /// ordered strategies, all at once for `simple_one_for_one`.
    pub(crate) fn stop_bound(&self) -> Duration {
        let children = match self.strategy {
            Strategy::SimpleOneForOne => self
                .children
                .iter()
                .map(|c| c.shutdown.bound())
                .max()
                .unwrap_or_default(),
            _ => self.children.iter().map(|c| c.shutdown.bound()).sum(),
        };
        children + EXIT_GRACE
    }

    /// Checks the spec: unique ids, one template for `simple_one_for_one`.
    pub(crate) fn validate(&self) -> Result<(), crate::SuperviseError> {
        if self.strategy == Strategy::SimpleOneForOne && self.children.len() != 1 {
            return Err(crate::SuperviseError::NoTemplate {
                count: self.children.len(),
            });
        }
        let mut ids: Vec<&str> = self.children.iter().map(|c| c.id()).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(crate::SuperviseError::DuplicateChild {
                id: w[0].to_owned(),
            });
        }
        Ok(())
    }
}
