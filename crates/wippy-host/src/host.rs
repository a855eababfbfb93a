//! Process hosts: where processes run, and the directory that finds them.
//!
//! A host is a security and resource boundary: it has its own scheduler,
//! the set of modules its processes may load, and its limits. Lua hosts
//! (`wippy-lua`) and the terminal host implement [`ProcessHost`]; the
//! [`App`] holds every host of a running app by id, so a process can spawn
//! onto any host by name.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ahash::AHashMap;
use wippy_process::{HostId, Node, Payload, Pid, SpawnOptions};
use wippy_security::Policies;

use crate::context::SpawnContext;
use crate::env::Env;
use crate::error::HostError;
use crate::events::EventBus;
use crate::registry::{EntryId, Registry};

/// A request to start a process of a registry entry on a host.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    /// The `process.lua` / `function.lua` entry to run.
    pub entry: EntryId,
    /// Arguments passed to the entry's method.
    pub args: Vec<Payload>,
    /// Parent, link and monitor options.
    pub opts: SpawnOptions,
    /// What the process is spawned with: the values Lua's `ctx` module
    /// reads, and who it runs as (for a top-level process: no values, the
    /// system actor).
    pub context: SpawnContext,
}

impl SpawnRequest {
    /// A request to run `entry` with no arguments, no parent and an empty
    /// context.
    pub fn new(entry: EntryId) -> SpawnRequest {
        SpawnRequest {
            entry,
            args: Vec::new(),
            opts: SpawnOptions::default(),
            context: SpawnContext::default(),
        }
    }
}

/// A place processes run.
pub trait ProcessHost: Send + Sync + 'static {
    /// The host's id (its registry entry id, interned).
    fn id(&self) -> HostId;

    /// Starts a process of `req.entry` on this host.
    fn spawn(&self, req: SpawnRequest) -> Result<Pid, HostError>;

    /// Number of live processes on the host.
    fn process_count(&self) -> usize;

    /// Stops the host: no more spawns; its processes are dropped once the
    /// runtime drains. Waits at most `grace` for running work.
    fn shutdown(&self, grace: Duration);

    /// How long a process of this host may take to end after it gets to
    /// see a CANCEL before it is terminated: the host's `cancel_deadline`
    /// (a cancel sent to one of its processes uses it, whoever sends it).
    fn cancel_deadline(&self) -> Duration {
        crate::limits::DEFAULT_CANCEL_DEADLINE
    }
}

/// The modules built into the runtime, by the name `require` takes. The
/// `modules:` of an entry or a host may name only these (the registry
/// checks it at load); libraries are not modules, they come from an
/// entry's `imports`. `os` is a global as well (Wippy's), which an entry
/// may also list.
pub const BUILTIN_MODULES: &[&str] = &[
    "time", "io", "json", "logger", "funcs", "ctx", "security", "uuid", "os", "base64", "hash",
    "events", "env", "registry",
];

/// The modules Wippy has that wippy-rs does not (yet): naming one under
/// `modules:` is a load error that says so ("module http is not available
/// in wippy-rs") rather than "unknown module": the modules Wippy
/// documents for Lua that wippy-rs has not built. Adding a module to wippy-rs moves its
/// name from this list to [`BUILTIN_MODULES`]; a name is never in both.
pub const WIPPY_ONLY_MODULES: &[&str] = &[
    "cdc",
    "cloudstorage",
    "compress",
    "contract",
    "crypto",
    "eval_runner",
    "excel",
    "exec",
    "expr",
    "fs",
    "html",
    "http",
    "http_client",
    "hub",
    "metrics",
    "pg",
    "queue",
    "sql",
    "store",
    "stream",
    "system",
    "templates",
    "text",
    "treesitter",
    "tty",
    "websocket",
    "workflow",
    "yaml",
];

/// The modules a host lets its processes load.
///
/// ```
/// use wippy_host::ModuleSet;
/// let set = ModuleSet::only(["time", "json"]);
/// assert!(set.allows("time"));
/// assert!(!set.allows("io"));
/// assert!(ModuleSet::all_but(["io"]).allows("time"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSet {
    /// Exactly these.
    Only(BTreeSet<String>),
    /// Everything except these.
    AllBut(BTreeSet<String>),
}

impl ModuleSet {
    /// Exactly the named modules.
    pub fn only<S: Into<String>>(names: impl IntoIterator<Item = S>) -> ModuleSet {
        ModuleSet::Only(names.into_iter().map(Into::into).collect())
    }

    /// Every module except the named ones.
    pub fn all_but<S: Into<String>>(names: impl IntoIterator<Item = S>) -> ModuleSet {
        ModuleSet::AllBut(names.into_iter().map(Into::into).collect())
    }

    /// Whether `module` may be loaded.
    pub fn allows(&self, module: &str) -> bool {
        match self {
            ModuleSet::Only(set) => set.contains(module),
            ModuleSet::AllBut(set) => !set.contains(module),
        }
    }

    /// The default of a process host: every module but `io` (only the
    /// terminal host grants stdio).
    pub fn process_host_default() -> ModuleSet {
        ModuleSet::all_but(["io"])
    }
}

/// A running app: the kernel node, the registry, and its hosts.
pub struct App {
    node: Node,
    registry: Arc<Registry>,
    policies: Policies,
    hosts: RwLock<AHashMap<HostId, Arc<dyn ProcessHost>>>,
    events: EventBus,
    env: Env,
}

impl App {
    /// An app with no hosts yet.
    pub fn new(node: Node, registry: Arc<Registry>) -> Arc<App> {
        Arc::new(App {
            node,
            policies: registry.policies(),
            env: Env::new(&registry),
            registry,
            hosts: RwLock::new(AHashMap::new()),
            events: EventBus::new(),
        })
    }

    /// The app's environment variables (`env.*` entries).
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The app's event bus.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The kernel node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The app's entries.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The app's `security.policy` entries, by id and group.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Adds a started host; an existing host with the same id is replaced.
    pub fn add_host(&self, host: Arc<dyn ProcessHost>) {
        self.hosts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.id(), host);
    }

    /// The host with this id, if it is running.
    pub fn host(&self, id: HostId) -> Option<Arc<dyn ProcessHost>> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// The host named `name` (an entry id such as `app:workers`).
    pub fn host_named(&self, name: &str) -> Result<Arc<dyn ProcessHost>, HostError> {
        HostId::lookup(name)
            .and_then(|id| self.host(id))
            .ok_or_else(|| HostError::UnknownHost(name.to_owned()))
    }

    /// Every running host.
    pub fn hosts(&self) -> Vec<Arc<dyn ProcessHost>> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Spawns `req` on the host named `host`.
    pub fn spawn(&self, host: &str, req: SpawnRequest) -> Result<Pid, HostError> {
        self.host_named(host)?.spawn(req)
    }

    /// The `cancel_deadline` of the host `pid` lives on: that host's
    /// setting when it is one of this app's, else
    /// [`DEFAULT_CANCEL_DEADLINE`](crate::limits::DEFAULT_CANCEL_DEADLINE)
    /// (a bare native host). A pid of another node of a cluster is looked
    /// up by its host id here: the nodes of one cluster run one app.
    pub fn cancel_deadline_of(&self, pid: Pid) -> Duration {
        self.host(pid.host())
            .map_or(crate::limits::DEFAULT_CANCEL_DEADLINE, |h| {
                h.cancel_deadline()
            })
    }

    /// Shuts every host down (the runtime drains processes afterwards).
    pub fn shutdown(&self, grace: Duration) {
        let hosts: Vec<_> = self
            .hosts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, h)| h)
            .collect();
        for h in hosts {
            h.shutdown(grace);
        }
    }
}
