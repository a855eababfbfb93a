//! The Lua process host: a scheduler of its own, a set of VM shards, and
//! placement of new processes on the least-loaded shard.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use wippy_host::registry::{EntryId, EntryKind, HostSpec, Isolation, SecuritySpec};
use wippy_host::{App, HostError, ModuleSet, ProcessHost, SpawnRequest, Terminal};
use wippy_process::wippy_sched::Handle;
use wippy_process::{CellStatus, HostId, Node, Pid, Runtime};
use wippy_security::{Actor, Policies, Principal, Scope, SecurityError};

use crate::engine::code::CodeCache;
use crate::engine::shard::{Pending, Shard, Work};

/// The default of a host's `max_mailbox`: generous, since Wippy's
/// mailboxes have no bound and an app may queue a reply from each of many
/// thousands of children; the memory limit bounds a mailbox of big
/// messages long before it.
pub const DEFAULT_MAX_MAILBOX: usize = 1_000_000;

/// Settings of a Lua host.
#[derive(Clone)]
pub struct LuaHostConfig {
    /// The host's id (its registry entry id), e.g. `app:workers`.
    pub name: String,
    /// Worker threads of its scheduler.
    pub workers: usize,
    /// VM shards (0: four per worker).
    pub shards: usize,
    /// Modules its processes may load.
    pub modules: ModuleSet,
    /// The terminal, for a terminal host (grants `io`, and `print` writes to it).
    pub terminal: Option<Arc<Terminal>>,
    /// Most live processes.
    pub max_processes: usize,
    /// How long a process of this host may take to end after it gets to
    /// see a CANCEL (whoever sent it) before it is terminated.
    pub cancel_deadline: Duration,
    /// Preemption slice.
    pub time_slice: Duration,
    /// Memory budget per process, bytes (`None`: no limit). A host built
    /// with [`LuaHostConfig::new`] or from a spec has
    /// [`wippy_host::limits::DEFAULT_MEMORY_LIMIT`] unless it sets its own.
    /// Messages queued for a process count against it too (the kernel
    /// refuses one that does not fit).
    pub memory_limit: Option<u64>,
    /// Most messages queued for one process ([`DEFAULT_MAX_MAILBOX`]); a
    /// send past it returns `nil, err`.
    pub max_mailbox: usize,
    /// Wippy's `queue_size`: the soft bound on the global run queue of the
    /// host's scheduler (default 1024, Wippy's).
    pub queue_size: usize,
    /// Wippy's `local_queue_size`: the soft bound on each worker's run
    /// queue (default 256, Wippy's).
    pub local_queue_size: usize,
    /// VM sharing.
    pub isolation: Isolation,
    /// The host as a security boundary.
    pub security: HostSecurity,
    /// Makes the global allocator return memory it holds free to the
    /// operating system, on the calling thread: called on every worker of
    /// the host after its shards collected what ended processes left (a
    /// binary that uses mimalloc passes its `mi_collect`; `None`: nothing
    /// to do, as with the system allocator, which gives memory back as it
    /// can).
    pub release_memory: Option<fn()>,
}

/// A host as a security boundary (`docs/security.md`, "Hosts are
/// boundaries").
#[derive(Clone, Debug, Default)]
pub struct HostSecurity {
    /// The host's policies: every check of every process on the host must
    /// pass them too (evaluated with the process's actor, default deny).
    pub boundary: Option<Scope>,
    /// What processes the unrestricted system starts on the host run as
    /// (with the host's policies as their scope).
    pub actor: Option<Actor>,
    /// The only other hosts whose processes may send to this one's
    /// (`None`: all).
    pub accept_from: Option<Vec<HostId>>,
}

impl HostSecurity {
    /// The settings of a host entry's `security` and `accept_from`.
    pub fn from_spec(
        security: Option<&SecuritySpec>,
        accept_from: Option<&[EntryId]>,
        policies: &Policies,
    ) -> Result<HostSecurity, SecurityError> {
        let (boundary, actor) = match security {
            Some(s) => (s.scope(policies)?, s.actor_id.is_some().then(|| s.actor())),
            None => (None, None),
        };
        Ok(HostSecurity {
            boundary,
            actor,
            accept_from: accept_from
                .map(|ids| ids.iter().map(|id| HostId::intern(id.as_str())).collect()),
        })
    }

    /// Whether processes of `from` may send to this host's (its own
    /// always may).
    pub(crate) fn accepts(&self, from: HostId) -> bool {
        self.accept_from
            .as_ref()
            .is_none_or(|list| list.contains(&from))
    }
}

impl LuaHostConfig {
    /// A process host named `name` with `workers` workers and defaults.
    pub fn new(name: &str, workers: usize) -> LuaHostConfig {
        LuaHostConfig {
            name: name.to_owned(),
            workers: workers.max(1),
            shards: 0,
            modules: ModuleSet::process_host_default(),
            terminal: None,
            max_processes: 1 << 22,
            cancel_deadline: wippy_host::limits::DEFAULT_CANCEL_DEADLINE,
            time_slice: Duration::from_millis(2),
            memory_limit: Some(wippy_host::limits::DEFAULT_MEMORY_LIMIT),
            max_mailbox: DEFAULT_MAX_MAILBOX,
            queue_size: 1024,
            local_queue_size: 256,
            isolation: Isolation::Shared,
            security: HostSecurity::default(),
            release_memory: None,
        }
    }

    /// The settings of a `process.host` entry (`default_workers` when it
    /// names none), whose `security` names policies of `policies`.
    pub fn from_spec(
        name: &str,
        spec: &HostSpec,
        default_workers: usize,
        policies: &Policies,
    ) -> Result<LuaHostConfig, SecurityError> {
        let mut c = LuaHostConfig::new(name, spec.workers.unwrap_or(default_workers));
        c.security = HostSecurity::from_spec(
            spec.security.as_ref(),
            spec.accept_from.as_deref(),
            policies,
        )?;
        if let Some(m) = &spec.modules {
            c.modules = ModuleSet::only(m.iter().cloned());
        }
        if let Some(max) = spec.max_processes {
            c.max_processes = max;
        }
        if let Some(d) = spec.cancel_deadline {
            c.cancel_deadline = d;
        }
        if let Some(d) = spec.time_slice {
            c.time_slice = d;
        }
        c.memory_limit = wippy_host::limits::memory_limit(spec.memory_limit);
        if let Some(max) = spec.max_mailbox {
            c.max_mailbox = max;
        }
        if let Some(n) = spec.queue_size {
            c.queue_size = n;
        }
        if let Some(n) = spec.local_queue_size {
            c.local_queue_size = n;
        }
        c.isolation = spec.isolation;
        Ok(c)
    }

    /// A terminal host: one worker, one shard, every module, stdio.
    pub fn terminal(name: &str, terminal: Arc<Terminal>) -> LuaHostConfig {
        let mut c = LuaHostConfig::new(name, 1);
        c.shards = 1;
        c.modules = ModuleSet::all_but(Vec::<String>::new());
        c.terminal = Some(terminal);
        c
    }
}

/// What every shard of a host shares.
pub(crate) struct HostCore {
    pub(crate) id: HostId,
    pub(crate) name: String,
    pub(crate) node: Node,
    pub(crate) sched: Handle,
    pub(crate) app: Weak<App>,
    pub(crate) code: Arc<CodeCache>,
    pub(crate) config: LuaHostConfig,
    pub(crate) live: AtomicUsize,
    pub(crate) closed: AtomicBool,
    /// A release round is due (see `release_soon`).
    release_due: AtomicBool,
    /// Itself, for the timer of `release_soon`.
    me: Weak<HostCore>,
    /// The principals of live processes that do not run as the
    /// unrestricted system, by pid: what [`wippy_process::Home::credentials`]
    /// answers from any thread (a process's `ProcData` belongs to its
    /// shard's runner). Written at spawn before the process first runs,
    /// removed when it ends; a pid absent here runs as the system.
    pub(crate) principals: Mutex<ahash::AHashMap<Pid, Principal>>,
}

impl HostCore {
    /// The cluster this node joined, if any.
    pub(crate) fn cluster(&self) -> Option<wippy_cluster::Cluster> {
        wippy_cluster::Cluster::of(&self.node)
    }

    /// The process registered as `name`: this node's names first, then the
    /// cluster's (a local read either way).
    pub(crate) fn lookup(&self, name: &str) -> Option<Pid> {
        match self.node.lookup(name) {
            Some(pid) => Some(pid),
            None => self.cluster()?.lookup(name),
        }
    }
}

/// How long after a shard reclaimed memory the host's workers tell the
/// allocator to return it: reclaims of shards whose processes ended
/// together share one round.
const RELEASE_AFTER: Duration = Duration::from_millis(200);

/// How long a worker waits in a release round for the others to take
/// their part (see [`ReleaseOnWorker`]).
const RELEASE_MEET: Duration = Duration::from_millis(20);

impl HostCore {
    /// Has every worker of the host call `release_memory`, soon (one round
    /// for reclaims close together).
    ///
    /// Every worker, not just the one whose shard reclaimed: with mimalloc,
    /// memory a thread frees of another thread's is returned only when its
    /// owner collects, and shards move between workers, so the collection
    /// of one shard frees memory of every worker (measured: a round on the
    /// reclaiming worker alone left 8 to 33 % of what 100k ended processes
    /// took resident, depending on which workers ran the reclaims).
    pub(crate) fn release_soon(&self) {
        let Some(release) = self.config.release_memory else {
            return;
        };
        if self.release_due.swap(true, Ordering::AcqRel) {
            return;
        }
        let core = self.me.clone();
        self.node.timers().after(RELEASE_AFTER, move || {
            let Some(core) = core.upgrade() else {
                return;
            };
            core.release_due.store(false, Ordering::Release);
            let workers = core.sched.workers();
            let round = Arc::new(ReleaseRound {
                release,
                workers,
                arrived: AtomicUsize::new(0),
            });
            for _ in 0..workers {
                core.sched.spawn(Arc::new(ReleaseOnWorker(round.clone())));
            }
        });
    }
}

/// One round of `release_memory` on every worker of a host.
struct ReleaseRound {
    release: fn(),
    workers: usize,
    /// Workers that have taken their part.
    arrived: AtomicUsize,
}

/// A worker's part of a [`ReleaseRound`]: the round spawns one per worker
/// from the timer thread (the global queue, each spawn waking an idle
/// worker). A part calls `release` on its worker, then holds the worker
/// until every part has been taken (at most [`RELEASE_MEET`]), so that no
/// worker takes two while another takes none. A worker busy for longer
/// takes its part when it is done.
struct ReleaseOnWorker(Arc<ReleaseRound>);

impl wippy_process::wippy_sched::Task for ReleaseOnWorker {
    fn run(self: Arc<Self>) {
        let round = &self.0;
        (round.release)();
        // AcqRel/Acquire: a plain count; nothing else is published by it.
        round.arrived.fetch_add(1, Ordering::AcqRel);
        let start = std::time::Instant::now();
        while round.arrived.load(Ordering::Acquire) < round.workers
            && start.elapsed() < RELEASE_MEET
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A host running Lua processes on VM shards.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use wippy_host::{App, registry::Registry};
/// # use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
/// # let rt = wippy_process::Runtime::new(Default::default()).unwrap();
/// # let registry = Arc::new(Registry::new());
/// let app = App::new(rt.node().clone(), registry.clone());
/// let code = CodeCache::new(registry);
/// let host = LuaHost::start(&rt, &app, code, LuaHostConfig::new("app:workers", 2)).unwrap();
/// ```
pub struct LuaHost {
    core: Arc<HostCore>,
    shards: Vec<Arc<Shard>>,
    /// The VMs of a dedicated host's processes, one each, for
    /// [`LuaHost::snapshot`] (ended ones are pruned as the list grows).
    dedicated: Mutex<Vec<Weak<Shard>>>,
    /// The shard the previous spawn from outside the host went to (see
    /// `pick_shard`).
    last_shard: AtomicUsize,
}

/// A VM shard of a host, as [`LuaHost::snapshot`] and
/// [`LuaHost::running`] name it: a host's shared shards are numbered from
/// 0 in order; a dedicated host's VMs (one per process) get numbers that
/// are not reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub u64);

/// A process of a Lua host (see [`LuaHost::snapshot`]).
#[derive(Clone, Debug)]
pub struct ProcessInfo {
    /// Its pid.
    pub pid: Pid,
    /// The entry it runs (the current one, after an upgrade).
    pub entry: EntryId,
    /// The VM it lives in.
    pub shard: ShardId,
    /// Its slot in that VM (what [`LuaHost::running`] reports).
    pub slot: u32,
    /// What it is doing and its mailbox, read just after the listing.
    pub status: CellStatus,
    /// Bytes of Lua heap known to be its own: on a dedicated host, its
    /// VM's whole heap; `None` in a shared VM, whose heap is not accounted
    /// per process (see [`ShardInfo::heap_bytes`]).
    pub heap_bytes: Option<usize>,
}

/// A VM shard of a host (see [`LuaHost::snapshot`]).
#[derive(Clone, Debug)]
pub struct ShardInfo {
    /// Its id.
    pub id: ShardId,
    /// Live processes in it.
    pub processes: usize,
    /// Bytes of Lua heap its VM uses (no collection is forced).
    pub heap_bytes: usize,
}

/// A Lua host's VMs and processes at one moment (see [`LuaHost::snapshot`]).
#[derive(Clone, Debug, Default)]
pub struct HostSnapshot {
    /// Every VM: the shared shards in order, then a dedicated host's VMs.
    pub shards: Vec<ShardInfo>,
    /// Every process, by shard, then slot.
    pub processes: Vec<ProcessInfo>,
}

impl LuaHost {
    /// Starts a host (its scheduler and VMs) and adds it to `app`.
    pub fn start(
        rt: &Runtime,
        app: &Arc<App>,
        code: Arc<CodeCache>,
        config: LuaHostConfig,
    ) -> Result<Arc<LuaHost>, HostError> {
        let sched = rt.scheduler_with(wippy_process::wippy_sched::Config {
            name: config.name.clone(),
            workers: config.workers,
            local_queue_capacity: config.local_queue_size,
            global_queue_capacity: config.queue_size,
            ..Default::default()
        })?;
        let shards = if config.shards == 0 {
            config.workers * 4
        } else {
            config.shards
        };
        let core = Arc::new_cyclic(|me| HostCore {
            id: HostId::intern(&config.name),
            name: config.name.clone(),
            node: rt.node().clone(),
            sched,
            app: Arc::downgrade(app),
            code,
            config,
            live: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            release_due: AtomicBool::new(false),
            me: me.clone(),
            principals: Mutex::new(ahash::AHashMap::new()),
        });
        let shards = if core.config.isolation == Isolation::Dedicated {
            0 // one VM per process, made at spawn
        } else {
            shards
        };
        // The first shard's VM is made now (a VM that cannot be made is
        // the host's failure to start), the others' at their first process.
        let mut list = Vec::with_capacity(shards);
        if shards > 0 {
            let first = Shard::new(core.clone()).map_err(|e| HostError::Load(e.to_string()))?;
            for _ in 1..shards {
                list.push(Shard::new_lazy(core.clone(), &first));
            }
            list.insert(0, first);
        }
        let shards = list;
        let host = Arc::new(LuaHost {
            core,
            shards,
            dedicated: Mutex::new(Vec::new()),
            last_shard: AtomicUsize::new(0),
        });
        app.add_host(host.clone());
        Ok(host)
    }

    /// The host's name (entry id).
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The shared code cache.
    pub fn code(&self) -> &Arc<CodeCache> {
        &self.core.code
    }

    /// Bytes of Lua heap in use in the host's shared VMs (dedicated VMs are
    /// not counted), after a full collection in each when `collect`. Each
    /// VM is held while it is measured, so this waits for running slices.
    ///
    /// ```no_run
    /// # fn f(host: &wippy_lua::LuaHost) {
    /// let live = host.heap_bytes(true);
    /// println!("{} KB of Lua heap", live / 1024);
    /// # }
    /// ```
    pub fn heap_bytes(&self, collect: bool) -> usize {
        self.shards.iter().map(|s| s.heap_bytes(collect)).sum()
    }

    /// Live processes per shared VM shard, in shard order (empty for a
    /// dedicated host).
    pub fn shard_loads(&self) -> Vec<usize> {
        self.shards.iter().map(|s| s.load()).collect()
    }

    /// The host's VMs and processes now, for tools such as `wippy top`.
    /// Each VM is held while its processes are listed (waiting for a
    /// running slice to end, as [`LuaHost::heap_bytes`] does); their cells
    /// are read afterwards, so a process that ended meanwhile shows as
    /// ended.
    ///
    /// ```no_run
    /// # fn f(host: &wippy_lua::LuaHost) {
    /// for p in host.snapshot().processes {
    ///     println!("{} {} {:?}", p.pid, p.entry, p.status.state);
    /// }
    /// # }
    /// ```
    pub fn snapshot(&self) -> HostSnapshot {
        let mut snap = HostSnapshot::default();
        let mut listed = Vec::new();
        for (id, shard) in self.vms() {
            listed.clear();
            let heap_bytes = shard.processes(&mut listed);
            let own = shard.is_dedicated().then_some(heap_bytes);
            snap.shards.push(ShardInfo {
                id,
                processes: listed.len(),
                heap_bytes,
            });
            snap.processes.extend(listed.drain(..).map(|p| ProcessInfo {
                pid: p.cell.pid(),
                entry: p.entry,
                shard: id,
                slot: p.slot,
                status: p.cell.status(),
                heap_bytes: own,
            }));
        }
        snap
    }

    /// Appends, for every VM of the host that is stepping a process right
    /// now, its id and the process's slot. A sample, cheap enough to take
    /// every few milliseconds (two loads per VM, no lock but the dedicated
    /// list's): what `wippy top` counts CPU ticks with. Between two steps
    /// of a run it names the previous step's process.
    pub fn running(&self, out: &mut Vec<(ShardId, u32)>) {
        for (i, s) in self.shards.iter().enumerate() {
            if let Some(slot) = s.running_slot() {
                out.push((ShardId(i as u64), slot));
            }
        }
        if self.core.config.isolation == Isolation::Dedicated {
            let list = self
                .dedicated
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for s in list.iter().filter_map(Weak::upgrade) {
                if let Some(slot) = s.running_slot() {
                    out.push((ShardId(s.serial()), slot));
                }
            }
        }
    }

    /// Every VM of the host with its id: the shared shards, then the live
    /// dedicated VMs.
    fn vms(&self) -> Vec<(ShardId, Arc<Shard>)> {
        let mut vms: Vec<_> = self
            .shards
            .iter()
            .enumerate()
            .map(|(i, s)| (ShardId(i as u64), s.clone()))
            .collect();
        let list = self
            .dedicated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        vms.extend(
            list.iter()
                .filter_map(Weak::upgrade)
                .map(|s| (ShardId(s.serial()), s)),
        );
        vms
    }

    /// Keeps `shard`, a new dedicated VM, for [`LuaHost::snapshot`];
    /// forgets ended ones whenever the list is full (before it would grow),
    /// so pruning costs O(1) per spawn, amortised.
    fn keep_dedicated(&self, shard: &Arc<Shard>) {
        let mut list = self
            .dedicated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if list.len() == list.capacity() {
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(Arc::downgrade(shard));
    }

    /// Placement (`execution.md` §2): the least-loaded shard. One
    /// exception, for spawns from outside the host (Rust, the CLI, another
    /// host): such a spawn goes where the previous outside spawn went while
    /// that shard is within a tolerance of the least load, 1/16 of the mean
    /// shard load (0 while the host is nearly empty, so the first
    /// processes, say two busy workers, land on different shards and run in
    /// parallel).
    ///
    /// Why: processes created in one go from outside (a ring, a pipeline, a
    /// pool) talk to each other, and a message to another shard costs a
    /// scheduler round trip and a switch of VM (measured: a 10k-process
    /// ring runs at 0.43M hops/s spread over 8 shards, 0.8M in one).
    /// Spawns by the host's own processes stay strictly least-loaded: that
    /// is a fan-out (skynet, per-request workers), and keeping its children
    /// together would serialise it on one worker (measured: skynet 4.4 s
    /// spread, 6.4 s kept together).
    fn pick_shard(&self) -> &Arc<Shard> {
        // Few shards per host, so a scan.
        let mut least = 0;
        let mut min = usize::MAX;
        let mut total = 0;
        for (i, s) in self.shards.iter().enumerate() {
            let load = s.load();
            total += load;
            if load < min {
                min = load;
                least = i;
            }
        }
        let running = crate::engine::shard::running();
        if self.shards.iter().any(|s| Arc::as_ptr(s) == running) {
            return &self.shards[least];
        }
        let tolerance = total / (self.shards.len() * 16);
        let last = self.last_shard.load(Ordering::Relaxed);
        if let Some(s) = self.shards.get(last)
            && s.load() <= min + tolerance
        {
            return s;
        }
        self.last_shard.store(least, Ordering::Relaxed);
        &self.shards[least]
    }
}

impl ProcessHost for LuaHost {
    fn id(&self) -> HostId {
        self.core.id
    }

    fn spawn(&self, req: SpawnRequest) -> Result<Pid, HostError> {
        if self.core.closed.load(Ordering::Relaxed) {
            return Err(HostError::ShutDown(self.core.name.clone()));
        }
        let code = self.core.code.get(&req.entry).map_err(|e| match e {
            crate::Error::UnknownEntry(id) => HostError::UnknownEntry(id.to_string()),
            e => HostError::Load(e.to_string()),
        })?;
        if !matches!(code.kind, EntryKind::ProcessLua | EntryKind::FunctionLua) {
            return Err(HostError::NotRunnable {
                entry: req.entry.to_string(),
                kind: code.kind.to_string(),
            });
        }
        if self.core.live.fetch_add(1, Ordering::Relaxed) >= self.core.config.max_processes {
            self.core.live.fetch_sub(1, Ordering::Relaxed);
            return Err(HostError::HostFull {
                host: self.core.name.clone(),
                max: self.core.config.max_processes,
            });
        }
        let dedicated;
        let shard = if self.core.config.isolation == Isolation::Dedicated {
            // A VM of its own: separate heap and GC, an exact memory limit.
            dedicated = Shard::new_dedicated(self.core.clone())
                .map_err(|e| HostError::Load(e.to_string()))?;
            self.keep_dedicated(&dedicated);
            &dedicated
        } else {
            self.pick_shard()
        };
        let slot = shard.alloc_slot();
        let cell = match self
            .core
            .node
            .spawn_in(self.core.id, shard.clone(), slot, req.opts)
        {
            Ok(cell) => cell,
            Err(e) => {
                shard.release_slot(slot);
                self.core.live.fetch_sub(1, Ordering::Relaxed);
                return Err(e.into());
            }
        };
        let pid = cell.pid();
        let mut context = req.context;
        if let Some(actor) = &self.core.config.security.actor
            && context.principal().is_unrestricted()
        {
            // Started by the system: it runs as the host's actor.
            let principal =
                Principal::new(actor.clone(), self.core.config.security.boundary.clone());
            context = context.with_principal(principal);
        }
        if !context.principal().is_unrestricted() {
            // Before the process first runs: its first remote send finds it.
            self.core
                .principals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(pid, context.principal().clone());
        }
        shard.push(Work::Spawn(Pending {
            cell,
            code,
            args: req.args,
            context,
        }));
        Ok(pid)
    }

    fn process_count(&self) -> usize {
        self.core.live.load(Ordering::Relaxed)
    }

    fn shutdown(&self, _grace: Duration) {
        self.core.closed.store(true, Ordering::Relaxed);
        for s in &self.shards {
            s.close();
        }
    }

    fn cancel_deadline(&self) -> Duration {
        self.core.config.cancel_deadline
    }
}

#[cfg(test)]
mod tests {
    use wippy_host::limits::DEFAULT_MEMORY_LIMIT;
    use wippy_host::registry::HostSpec;

    use super::*;

    #[test]
    fn every_host_has_a_memory_limit_unless_it_sets_zero() {
        let policies = Policies::default();
        assert_eq!(
            LuaHostConfig::new("app:h", 1).memory_limit,
            Some(DEFAULT_MEMORY_LIMIT)
        );
        let from = |memory_limit| {
            let spec = HostSpec {
                memory_limit,
                ..HostSpec::default()
            };
            LuaHostConfig::from_spec("app:h", &spec, 1, &policies)
                .unwrap()
                .memory_limit
        };
        assert_eq!(from(None), Some(DEFAULT_MEMORY_LIMIT));
        assert_eq!(from(Some(0)), None);
        assert_eq!(from(Some(16 << 20)), Some(16 << 20));
        let terminal = LuaHostConfig::terminal("app:t", Terminal::new(Vec::new()));
        assert_eq!(terminal.memory_limit, Some(DEFAULT_MEMORY_LIMIT));
    }
}
