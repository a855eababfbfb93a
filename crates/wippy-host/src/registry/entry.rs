//! The typed entries of the registry.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use wippy_process::Payload;
use wippy_security::{Actor, Condition, Effect, Policies, Policy, Principal, Scope, SecurityError};

use crate::ParseError;

/// An entry id, `namespace:name`.
///
/// ```
/// use wippy_host::registry::EntryId;
/// let id: EntryId = "app.workers:handler".parse().unwrap();
/// assert_eq!(id.namespace(), "app.workers");
/// assert_eq!(id.name(), "handler");
/// assert!("nocolon".parse::<EntryId>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(Arc<str>);

impl EntryId {
    /// The id of `name` in `namespace`.
    pub fn new(namespace: &str, name: &str) -> EntryId {
        EntryId(format!("{namespace}:{name}").into())
    }

    /// The whole id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the last `:`.
    pub fn namespace(&self) -> &str {
        self.0.rsplit_once(':').map_or("", |(ns, _)| ns)
    }

    /// The part after the last `:`.
    pub fn name(&self) -> &str {
        self.0.rsplit_once(':').map_or(&self.0, |(_, n)| n)
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EntryId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<EntryId, ParseError> {
        match s.rsplit_once(':') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => Ok(EntryId(s.into())),
            _ => Err(ParseError::InvalidEntryId { text: s.into() }),
        }
    }
}

/// The kind of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// `process.lua`
    ProcessLua,
    /// `function.lua`
    FunctionLua,
    /// `library.lua`
    LibraryLua,
    /// `process.host`
    ProcessHost,
    /// `terminal.host`
    TerminalHost,
    /// `process.service`
    Service,
    /// `security.policy`
    Policy,
    /// `registry.entry`: data only, read through the `registry` module.
    RegistryEntry,
    /// `env.variable`
    EnvVariable,
    /// `env.storage.memory`
    EnvMemory,
    /// `env.storage.os`
    EnvOs,
    /// `env.storage.static`
    EnvStatic,
    /// `env.storage.file`
    EnvFile,
    /// `env.storage.router`
    EnvRouter,
    /// `cluster.nats`: how this app's nodes join their cluster (at most
    /// one per app).
    ClusterNats,
}

impl EntryKind {
    /// Every kind with its name in YAML.
    pub const ALL: [(&'static str, EntryKind); 15] = [
        ("process.lua", EntryKind::ProcessLua),
        ("function.lua", EntryKind::FunctionLua),
        ("library.lua", EntryKind::LibraryLua),
        ("process.host", EntryKind::ProcessHost),
        ("terminal.host", EntryKind::TerminalHost),
        ("process.service", EntryKind::Service),
        ("security.policy", EntryKind::Policy),
        ("registry.entry", EntryKind::RegistryEntry),
        ("env.variable", EntryKind::EnvVariable),
        ("env.storage.memory", EntryKind::EnvMemory),
        ("env.storage.os", EntryKind::EnvOs),
        ("env.storage.static", EntryKind::EnvStatic),
        ("env.storage.file", EntryKind::EnvFile),
        ("env.storage.router", EntryKind::EnvRouter),
        ("cluster.nats", EntryKind::ClusterNats),
    ];

    /// Kinds Wippy has that wippy-rs does not (yet). An entry of one is a
    /// load error that says so, with its file and line; Wippy too fails
    /// loading at startup (after a 30 s wait) on a kind no component
    /// handles (`docs/registry.md`). Adding a kind to
    /// wippy-rs moves its name from here to [`EntryKind::ALL`]; a name is
    /// never in both.
    ///
    /// Where the names come from: `docs/registry.md`
    /// (`workflow.lua` and the `.lua.bc` bytecode kinds), its addendum §2
    /// and §3 (`registry.entry`, `ns.*`, `env.*`), and Wippy's
    /// documentation for its HTTP, SQL and store components (`http.*`,
    /// `db.sql.*`, `store.*`, `fs.directory`, `template.jet`).
    pub const WIPPY_ONLY: &'static [&'static str] = &[
        "workflow.lua",
        "function.lua.bc",
        "process.lua.bc",
        "library.lua.bc",
        "workflow.lua.bc",
        "ns.definition",
        "ns.requirement",
        "ns.dependency",
        "http.service",
        "http.router",
        "http.endpoint",
        "http.static",
        "db.sql.postgres",
        "db.sql.mysql",
        "db.sql.sqlite",
        "store.memory",
        "store.sql",
        "fs.directory",
        "template.jet",
    ];

    /// The YAML name of the kind.
    pub fn as_str(self) -> &'static str {
        EntryKind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Whether entries of this kind are env storages (`env.storage.*`).
    pub fn is_env_storage(self) -> bool {
        matches!(
            self,
            EntryKind::EnvMemory
                | EntryKind::EnvOs
                | EntryKind::EnvStatic
                | EntryKind::EnvFile
                | EntryKind::EnvRouter
        )
    }

    /// Whether entries of this kind hold Lua code.
    pub fn is_lua(self) -> bool {
        matches!(
            self,
            EntryKind::ProcessLua | EntryKind::FunctionLua | EntryKind::LibraryLua
        )
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One registry entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `namespace:name`.
    pub id: EntryId,
    /// Its kind.
    pub kind: EntryKind,
    /// `meta:` plus unknown top-level fields, as data.
    pub meta: BTreeMap<String, Payload>,
    /// The `_index.yaml` that declared it.
    pub file: PathBuf,
    /// Line of the entry in `file` (1-based).
    pub line: usize,
    /// The kind-specific fields.
    pub spec: EntrySpec,
    /// The entry's fields as data (what the `registry` module shows as
    /// `data`): for `registry.entry`, its `data:` or else every field but
    /// `name`, `kind` and `meta`; for other kinds, the fields of the kind
    /// as written.
    pub data: Payload,
}

impl Entry {
    /// `meta.<key>` as a string, if it is one.
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.meta.get(key).and_then(Payload::as_str)
    }

    /// The Lua part of a Lua entry.
    pub fn lua(&self) -> Option<&LuaSpec> {
        match &self.spec {
            EntrySpec::Lua(l) => Some(l),
            _ => None,
        }
    }
}

/// Kind-specific fields.
// A registry holds few entries, made once at load: the size of the host
// variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum EntrySpec {
    /// `process.lua`, `function.lua`, `library.lua`.
    Lua(LuaSpec),
    /// `process.host`.
    Host(HostSpec),
    /// `terminal.host`.
    Terminal(TerminalSpec),
    /// `process.service`.
    Service(ServiceSpec),
    /// `security.policy`.
    Policy(PolicySpec),
    /// `registry.entry` (its data is [`Entry::data`]).
    Data,
    /// `env.variable`.
    EnvVariable(EnvVariableSpec),
    /// `env.storage.*`.
    EnvStorage(EnvStorageSpec),
    /// `cluster.nats`.
    Cluster(ClusterSpec),
}

/// `env.variable`: a named value kept in a storage
/// (`docs/registry.md`).
#[derive(Debug, Clone)]
pub struct EnvVariableSpec {
    /// The name `env.get` looks it up by (`variable:`; letters, digits and
    /// `_`); `None`: the entry id.
    pub variable: Option<String>,
    /// The `env.storage.*` entry that holds it.
    pub storage: EntryId,
    /// Its value when the storage has none (an empty default is none).
    pub default: Option<String>,
    /// `env.set` refuses to change it.
    pub readonly: bool,
}

/// `env.storage.*`: where variables are kept.
#[derive(Debug, Clone)]
pub enum EnvStorageSpec {
    /// `env.storage.memory`: read/write, empty at start.
    Memory,
    /// `env.storage.os`: the process environment, read-only.
    Os,
    /// `env.storage.static`: the `values` map, read-only.
    Static(BTreeMap<String, String>),
    /// `env.storage.file`: `KEY=VALUE` lines of a file.
    File {
        /// `file_path`, relative to the working directory.
        path: PathBuf,
        /// Create the file (and its folder) when missing.
        auto_create: bool,
        /// Permissions of a file it creates (`file_mode`, default 0644).
        file_mode: u32,
        /// Permissions of a folder it creates (`dir_mode`, default 0755).
        dir_mode: u32,
    },
    /// `env.storage.router`: other storages, the first that has a key
    /// answering for it.
    Router(Vec<EntryId>),
}

/// The code of a Lua entry.
#[derive(Debug, Clone)]
pub struct LuaSpec {
    /// The resolved source path (for messages and tracebacks).
    pub path: PathBuf,
    /// The source text, read at load time.
    pub source: Arc<str>,
    /// The exported method to run (`None` for libraries).
    pub method: Option<String>,
    /// Modules the entry may `require`.
    pub modules: Vec<String>,
    /// `alias → library entry` for `require(alias)`.
    pub imports: BTreeMap<String, EntryId>,
}

/// How processes of a host share VMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Many processes per VM shard.
    #[default]
    Shared,
    /// One VM per process: exact memory limit, nothing shared.
    Dedicated,
}

/// `process.host` settings.
#[derive(Debug, Clone, Default)]
pub struct HostSpec {
    /// Worker threads (`None`: the runtime default; at most
    /// [`limits::max_workers`](crate::limits::max_workers)).
    pub workers: Option<usize>,
    /// Wippy's global run queue size: the soft bound on the host
    /// scheduler's global queue (`docs/registry.md`).
    pub queue_size: Option<usize>,
    /// Wippy's local run queue size: the soft bound on each worker's run
    /// queue of the host's scheduler.
    pub local_queue_size: Option<usize>,
    /// Most processes the host runs at once.
    pub max_processes: Option<usize>,
    /// Most messages queued for one process of the host (`None`: the
    /// host's default).
    pub max_mailbox: Option<usize>,
    /// VM sharing.
    pub isolation: Isolation,
    /// Memory budget per process, bytes (YAML: a size like `64MB`, or an
    /// integer of bytes), as given: `None` when not given (the default
    /// applies), `Some(0)` for no limit, else at least 1 MB;
    /// [`limits::memory_limit`](crate::limits::memory_limit) gives the
    /// limit in force.
    pub memory_limit: Option<u64>,
    /// Preemption slice.
    /// YAML: a Go duration like `1.5s`, or an integer of milliseconds.
    pub time_slice: Option<Duration>,
    /// Default deadline of `process.cancel`.
    /// YAML: a Go duration like `1.5s`, or an integer of milliseconds.
    pub cancel_deadline: Option<Duration>,
    /// Modules the host allows (`None`: all but `io`).
    pub modules: Option<Vec<String>>,
    /// Security settings: its `policies`/`groups` bound every process on
    /// the host, its `actor` is what processes the system starts there run
    /// as.
    pub security: Option<SecuritySpec>,
    /// The only hosts whose processes may send to processes on this one
    /// (`None`: every host); its own processes always may.
    pub accept_from: Option<Vec<EntryId>>,
    /// Start/stop settings.
    pub lifecycle: Lifecycle,
}

/// `terminal.host` settings.
#[derive(Debug, Clone, Default)]
pub struct TerminalSpec {
    /// Do not print logs while the terminal runs.
    pub hide_logs: bool,
    /// As for a process host: the only other hosts that may send to it.
    pub accept_from: Option<Vec<EntryId>>,
    /// Start/stop settings.
    pub lifecycle: Lifecycle,
}

/// `cluster.nats` settings: the NATS server(s) of the cluster and how to
/// reach them (`docs/registry.md`). Paths are resolved from the folder of
/// the `_index.yaml` that names them; they are read when the node joins.
#[derive(Debug, Clone, Default)]
pub struct ClusterSpec {
    /// NATS server URL(s), comma-separated.
    pub url: String,
    /// This node's name (`wippy run --node` overrides it).
    pub node: Option<String>,
    /// First token of the cluster's subjects and its registry bucket's name.
    pub prefix: Option<String>,
    /// Replicas of the registry bucket (1 to 5).
    pub replicas: Option<usize>,
    /// A NATS credentials file (`.creds`).
    pub credentials: Option<PathBuf>,
    /// TLS: root certificates to trust.
    pub tls_ca: Option<PathBuf>,
    /// TLS: a client certificate and its key.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// TLS: refuse a plaintext connection.
    pub tls_required: bool,
}

/// `process.service` settings.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The `process.lua` entry to run.
    pub process: EntryId,
    /// The host to run it on.
    pub host: EntryId,
    /// The arguments of its process's method (`input`: element i is
    /// argument i, as in Wippy).
    pub input: Vec<Payload>,
    /// Start/stop/restart settings.
    pub lifecycle: Lifecycle,
}

/// `security.policy`.
#[derive(Debug, Clone, Default)]
pub struct PolicySpec {
    /// Actions matched (globs).
    pub actions: Vec<String>,
    /// Resources matched (globs).
    pub resources: Vec<String>,
    /// `allow` (true) or `deny` (false).
    pub allow: bool,
    /// Conditions that must all hold for the policy to apply.
    pub conditions: Vec<Condition>,
    /// Groups the policy belongs to.
    pub groups: Vec<String>,
}

impl PolicySpec {
    /// The policy `id` this entry declares.
    pub fn policy(&self, id: &EntryId) -> Policy {
        let effect = if self.allow {
            Effect::Allow
        } else {
            Effect::Deny
        };
        Policy::new(
            id.as_str(),
            &self.actions,
            &self.resources,
            effect,
            self.conditions.clone(),
        )
    }
}

/// `lifecycle.security`.
#[derive(Debug, Clone, Default)]
pub struct SecuritySpec {
    /// The actor id.
    pub actor_id: Option<String>,
    /// The actor's metadata.
    pub actor_meta: BTreeMap<String, Payload>,
    /// Policy entries granted.
    pub policies: Vec<EntryId>,
    /// Policy groups granted.
    pub groups: Vec<String>,
}

impl SecuritySpec {
    /// The actor it names (the system actor when it names none).
    pub fn actor(&self) -> Actor {
        match &self.actor_id {
            Some(id) => Actor::new(id.as_str()).with_meta(self.actor_meta.clone()),
            None => Actor::system(),
        }
    }

    /// The scope of its `policies` and `groups`; `None` when it names
    /// neither.
    pub fn scope(&self, policies: &Policies) -> Result<Option<Scope>, SecurityError> {
        if self.policies.is_empty() && self.groups.is_empty() {
            return Ok(None);
        }
        policies
            .scope(self.policies.iter().map(EntryId::as_str), &self.groups)
            .map(Some)
    }

    /// What a process started with these settings runs as: the actor, with
    /// the scope (see [`Principal`] for what a named actor without a scope
    /// may do: nothing that is checked).
    pub fn principal(&self, policies: &Policies) -> Result<Principal, SecurityError> {
        Ok(Principal::new(self.actor(), self.scope(policies)?))
    }
}

/// `lifecycle:` of hosts and services, with Wippy's defaults
/// (`docs/registry.md`).
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// Start with the app (default false). The entries an auto-start entry
    /// `requires` start with it too.
    pub auto_start: bool,
    /// Whether the app may start without it (`startup`, default required).
    pub startup: Startup,
    /// Entries started before (and stopped after) this one: `requires`
    /// and its older name `depends_on`, merged.
    pub requires: Vec<EntryId>,
    /// How long a start may take (default 10 s).
    /// YAML: a Go duration like `1.5s`, or an integer of milliseconds.
    pub start_timeout: Duration,
    /// How long a stop may take before the process is terminated
    /// (default 10 s).
    /// YAML: a Go duration like `1.5s`, or an integer of milliseconds.
    pub stop_timeout: Duration,
    /// A run this long resets the count of failed runs in a row
    /// (default 5 s).
    /// YAML: a Go duration like `1.5s`, or an integer of milliseconds.
    pub stable_threshold: Duration,
    /// Restart policy.
    pub restart: RestartSpec,
    /// Security settings.
    pub security: Option<SecuritySpec>,
}

impl Default for Lifecycle {
    fn default() -> Lifecycle {
        Lifecycle {
            auto_start: false,
            startup: Startup::Required,
            requires: Vec::new(),
            start_timeout: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(10),
            stable_threshold: Duration::from_secs(5),
            restart: RestartSpec::default(),
            security: None,
        }
    }
}

/// `lifecycle.startup`: whether an entry that fails to start fails the
/// app's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Startup {
    /// It must start, or the app does not (`required`, the default).
    #[default]
    Required,
    /// The app starts without it; it is retried as after a crash
    /// (`optional`).
    Optional,
}

/// `lifecycle.restart`, with Wippy's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartSpec {
    /// Failed runs in a row after which the service is given up
    /// (0, the default, = never).
    pub max_attempts: u32,
    /// First delay (YAML: `initial_delay`, or `delay`; default 1 s).
    pub initial_delay: Duration,
    /// Factor per failed run in a row (default 2; 0 means the default).
    pub backoff_factor: f64,
    /// Cap on the delay (default 90 s).
    /// YAML: a Go duration like `1.5s`, or an integer of milliseconds.
    pub max_delay: Duration,
    /// Random spread of each delay, 0..1 (default 0.1; 0 = none).
    pub jitter: f64,
}

impl Default for RestartSpec {
    fn default() -> RestartSpec {
        RestartSpec {
            max_attempts: 0,
            initial_delay: Duration::from_secs(1),
            backoff_factor: 2.0,
            max_delay: Duration::from_secs(90),
            jitter: 0.1,
        }
    }
}
