//! A node in its cluster: the connection, the tasks that keep it, and the
//! API processes use (send as, spawn, register, lookup).
//!
//! Threads: the cluster runs a tokio runtime of its own (one worker,
//! `wippy-cluster`) for the NATS client and its tasks, and one native
//! host (`wippy:cluster`, one worker) for its agent process. Kernel
//! threads never wait on either: they write records into a peer's queue
//! and wake its writer task; tokio tasks call into the kernel
//! (`Node::send`, `Node::deliver_event`...), which never blocks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use ahash::AHashMap;
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use wippy_host::App;
use wippy_process::{
    Credentials, Error, Event, ExitError, ExitResult, Node, NodeId, Payload, Pid, Runtime,
    SpawnOptions,
};
use wippy_security::Principal;

use crate::call::{Call, Completer};
use crate::codec::{Asker, Encoder};
use crate::config::ClusterConfig;
use crate::error::ClusterError;
use crate::gate::{Gate, asker};
use crate::names::{self, Bound, Change, Mine, NameScope, Names};
use crate::peers::{Beat, Peer, Table};
use crate::relations::{Agent, NODE_DOWN, Relations};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code panics under the cluster's locks; recover from poisoning anyway.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The subjects of one node.
pub(crate) fn frames_subject(prefix: &str, node: NodeId) -> String {
    format!("{prefix}.node.{}.{}", node.name(), inc36(node))
}

fn rpc_subject(prefix: &str, node: NodeId) -> String {
    format!("{prefix}.rpc.{}.{}", node.name(), inc36(node))
}

fn inc36(node: NodeId) -> String {
    let text = node.to_string();
    text.rsplit_once('.')
        .map(|(_, i)| i.to_owned())
        .unwrap_or(text)
}

/// The NATS connection name of a node: how the server's disconnect
/// advisories name it.
fn connection_name(node: NodeId) -> String {
    format!("wippy-node {node}")
}

/// A spawn waiting for its answer.
struct Pending {
    node: NodeId,
    parent: Option<Pid>,
    link: bool,
    monitor: bool,
    done: Option<Completer<Result<Pid, ClusterError>>>,
}

/// The state of the connection to the server.
struct Conn {
    connected: bool,
    /// When the connection was lost, while it is.
    lost_at: Option<Instant>,
    /// When it was (re)established.
    since: Instant,
    /// Every node has been taken for down for this loss already.
    all_down: bool,
}

pub(crate) struct Shared {
    pub(crate) me: NodeId,
    pub(crate) node: Node,
    app: Arc<App>,
    pub(crate) config: ClusterConfig,
    client: async_nats::Client,
    kv: kv::Store,
    handle: tokio::runtime::Handle,
    pub(crate) gate: Gate,
    pub(crate) peers: RwLock<Table>,
    relations: Mutex<Relations>,
    names: Arc<Names>,
    pending: Mutex<AHashMap<u64, Pending>>,
    next_call: AtomicU64,
    agent: Pid,
    /// The most bytes one record may take (the server's max payload less
    /// a batch header).
    pub(crate) max_record: usize,
    conn: Mutex<Conn>,
    closed: AtomicBool,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    watch: Mutex<Option<tokio::task::JoinHandle<()>>>,
    writers: Mutex<AHashMap<NodeId, tokio::task::JoinHandle<()>>>,
}

/// A handle to this node's cluster membership. Cheap to clone; every
/// clone is the same membership. [`Cluster::shutdown`] leaves the
/// cluster; do it before the runtime shuts down.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) shared: Arc<Shared>,
}

/// Counters of a cluster node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Live nodes besides this one.
    pub nodes: usize,
    /// Monitors across nodes held here.
    pub monitors: usize,
    /// Links across nodes held here.
    pub links: usize,
    /// Records dropped because a node's backlog was full.
    pub dropped: u64,
}

/// The kernel's router of remote pids ([`wippy_process::Remote`]).
pub(crate) struct Router {
    pub(crate) shared: Arc<Shared>,
}

impl Cluster {
    /// Joins the cluster at `config.url` as the node of `runtime` (which
    /// must have been started with [`wippy_process::RuntimeConfig::node`]
    /// set), for the app `app` (every node runs the same app: remote spawns
    /// start its entries, remote checks use its policies). Installs the
    /// kernel's router, so from now on pids of other nodes work.
    pub fn join(
        runtime: &Runtime,
        app: Arc<App>,
        config: ClusterConfig,
    ) -> Result<Cluster, ClusterError> {
        config.validate()?;
        let me = runtime.node().node_id();
        if me.is_local() {
            return Err(ClusterError::NotANode);
        }
        let tokio_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wippy-cluster")
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Connect {
                url: config.url.clone(),
                reason: format!("cannot start the cluster's threads: {e}"),
            })?;
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let (client, kv) = tokio_rt.block_on(connect(&config, me, events_tx))?;

        // The agent: monitors local processes for the cluster.
        let shared_slot: Arc<OnceLock<Weak<Shared>>> = Arc::new(OnceLock::new());
        let agent_host = runtime.native_host("wippy:cluster", 1)?;
        let slot = shared_slot.clone();
        let agent = agent_host.spawn(
            Agent {
                on_exit: Box::new(move |pid, result| {
                    if let Some(s) = slot.get().and_then(Weak::upgrade) {
                        s.local_ended(pid, result);
                    }
                }),
            },
            SpawnOptions::default(),
        )?;

        let max_record = client
            .server_info()
            .max_payload
            .saturating_sub(256)
            .max(1024);
        let shared = Arc::new(Shared {
            me,
            node: runtime.node().clone(),
            gate: Gate::new(&app),
            app,
            handle: tokio_rt.handle().clone(),
            client,
            kv,
            peers: RwLock::new(Table::default()),
            relations: Mutex::new(Relations::default()),
            names: Arc::new(Names::default()),
            pending: Mutex::new(AHashMap::new()),
            next_call: AtomicU64::new(1),
            agent,
            max_record,
            conn: Mutex::new(Conn {
                connected: true,
                lost_at: None,
                since: Instant::now(),
                all_down: false,
            }),
            closed: AtomicBool::new(false),
            runtime: Mutex::new(None),
            watch: Mutex::new(None),
            writers: Mutex::new(AHashMap::new()),
            config,
        });
        let _ = shared_slot.set(Arc::downgrade(&shared));
        tokio_rt.block_on(shared.clone().start(events_rx))?;
        *lock(&shared.runtime) = Some(tokio_rt);
        if runtime
            .node()
            .set_remote(Arc::new(Router {
                shared: shared.clone(),
            }))
            .is_err()
        {
            let cluster = Cluster { shared };
            cluster.shutdown();
            return Err(ClusterError::Config {
                field: "runtime",
                reason: "the runtime has joined a cluster already".into(),
            });
        }
        Ok(Cluster { shared })
    }

    /// The cluster this node belongs to, if it joined one (what the Lua
    /// API reaches through its node).
    pub fn of(node: &Node) -> Option<Cluster> {
        let remote: &dyn std::any::Any = node.remote()?.as_ref();
        remote.downcast_ref::<Router>().map(|r| Cluster {
            shared: r.shared.clone(),
        })
    }

    /// This node's identity.
    pub fn node_id(&self) -> NodeId {
        self.shared.me
    }

    /// The live nodes besides this one.
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self.shared.table().live.keys().copied().collect();
        ids.sort();
        ids
    }

    /// The live node named `name` (this node's own name gives this node).
    pub fn node_named(&self, name: &str) -> Option<NodeId> {
        if name == self.shared.me.name() {
            return Some(self.shared.me);
        }
        self.shared.table().by_name.get(name).copied()
    }

    /// Waits until every node of `names` is live (tests, startup scripts);
    /// false if `timeout` passed first.
    pub fn await_nodes(&self, names: &[&str], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if names.iter().all(|n| self.node_named(n).is_some()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Counters.
    pub fn stats(&self) -> ClusterStats {
        let table = self.shared.table();
        let (monitors, links) = lock(&self.shared.relations).counts();
        ClusterStats {
            nodes: table.live.len(),
            monitors,
            links,
            dropped: table.live.values().map(|p| p.out.dropped()).sum(),
        }
    }

    /// Sends a message to `to` (any node) as `principal` would: the
    /// receiving node checks `process.send` for it. For callers that hold
    /// a principal (the Lua API); the kernel's own [`Node::send`] asks the
    /// sender's home for it instead.
    pub fn send_as(
        &self,
        principal: &Principal,
        from: Option<Pid>,
        to: Pid,
        topic: impl Into<wippy_process::Topic>,
        payload: Payload,
    ) -> Result<(), Error> {
        let topic = topic.into();
        if to.node() == self.shared.me || to.node().is_local() {
            return self.shared.node.send(from, to, topic, payload);
        }
        if topic.starts_with('@') {
            return Err(Error::ReservedTopic(topic));
        }
        let asker = principal_asker(principal);
        self.shared
            .push(to.node(), |e| e.message(asker, from, to, &topic, &payload))
    }

    /// Starts `req.entry` on `target` (`node@host`; the node by name) for
    /// the process `req.opts.parent`, asked by `by` (the spawner's
    /// principal; the child runs as `req.context`'s). The target node
    /// checks `process.spawn` on the entry and `process.spawn.host` on the
    /// host for `by`, and whether `by` may give the child its principal. A
    /// linked or monitored spawn records the relation before it answers.
    /// A target of this node spawns here, through the app.
    pub fn spawn(
        &self,
        by: &Principal,
        target: &str,
        req: wippy_host::SpawnRequest,
    ) -> Call<Result<Pid, ClusterError>> {
        let Some((node_name, host)) = target.split_once('@') else {
            return Call::ready(Err(ClusterError::BadTarget(target.to_owned())));
        };
        if node_name.is_empty() || host.is_empty() {
            return Call::ready(Err(ClusterError::BadTarget(target.to_owned())));
        }
        if node_name == self.shared.me.name() {
            return Call::ready(self.shared.app.spawn(host, req).map_err(|e| {
                ClusterError::SpawnFailed {
                    node: self.shared.me.to_string(),
                    reason: e.to_string(),
                }
            }));
        }
        let Some(node) = self.node_named(node_name) else {
            return Call::ready(Err(ClusterError::NodeNotFound(node_name.to_owned())));
        };
        self.shared.clone().spawn_remote(by, node, host, req)
    }

    /// Registers `name` for the local process `pid` in `scope` (see
    /// [`NameScope`]). Registering a name a process holds again is no
    /// error.
    pub fn register(
        &self,
        name: &str,
        pid: Pid,
        scope: NameScope,
    ) -> Call<Result<(), ClusterError>> {
        self.shared.clone().register(name, pid, scope)
    }

    /// The process registered as `name` in any scope: this node's own
    /// names first, then the global ones (a local read: no round trip).
    pub fn lookup(&self, name: &str) -> Option<Pid> {
        self.shared
            .node
            .lookup(name)
            .or_else(|| self.shared.names.lookup(name))
    }

    /// Frees `name` in `scope` if `by` holds it (global names are removed
    /// only by their own process); false if it was not registered to `by`.
    pub fn unregister(&self, name: &str, by: Pid, scope: NameScope) -> Call<bool> {
        if scope == NameScope::Local {
            if self.shared.node.lookup(name) == Some(by) {
                return Call::ready(self.shared.node.unregister(name));
            }
            return Call::ready(false);
        }
        let by = self.shared.here(by);
        match self.shared.names.let_go(name, by) {
            None => Call::ready(false),
            Some(revision) => {
                if let Some(rev) = revision {
                    let kv = self.shared.kv.clone();
                    let name = name.to_owned();
                    self.shared
                        .handle
                        .spawn(async move { names::delete(&kv, &name, rev).await });
                }
                Call::ready(true)
            }
        }
    }

    /// Leaves the cluster: tells the other nodes (they end every relation
    /// with this node's processes at once), frees this node's global
    /// names, and stops the cluster's threads. Pids of other nodes are
    /// "node not found" afterwards. Idempotent.
    pub fn shutdown(&self) {
        let s = &self.shared;
        if s.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(rt) = lock(&s.runtime).take() else {
            return;
        };
        let mine = s.names.all_mine();
        let ids: Vec<NodeId> = s.table().live.keys().copied().collect();
        for id in ids {
            if let Some(peer) = s.table_mut().remove(id) {
                peer.out.close();
            }
        }
        let client = s.client.clone();
        let kv = s.kv.clone();
        let me = s.me;
        let subject = format!("{}.hb.{}", s.config.prefix, me.name());
        rt.block_on(async move {
            let _ = client
                .publish(subject, Bytes::from(format!("{me} leaving")))
                .await;
            let deletes = mine.into_iter().filter_map(|(n, m)| {
                let kv = kv.clone();
                m.revision
                    .map(|rev| async move { names::delete(&kv, &n, rev).await })
            });
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                futures_util::future::join_all(deletes),
            )
            .await;
            let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
        });
        rt.shutdown_timeout(Duration::from_secs(1));
    }
}

/// Connects, makes sure JetStream and the registry bucket are there, and
/// that no live node has our name.
async fn connect(
    config: &ClusterConfig,
    me: NodeId,
    events: tokio::sync::mpsc::UnboundedSender<async_nats::Event>,
) -> Result<(async_nats::Client, kv::Store), ClusterError> {
    let fail = |reason: String| ClusterError::Connect {
        url: config.url.clone(),
        reason,
    };
    let mut opts = match &config.credentials_file {
        Some(path) => async_nats::ConnectOptions::with_credentials_file(path.clone())
            .await
            .map_err(|e| fail(format!("credentials file {}: {e}", path.display())))?,
        None => async_nats::ConnectOptions::new(),
    };
    if let Some((user, pass)) = &config.user_password {
        opts = opts.user_and_password(user.clone(), pass.clone());
    }
    if let Some(token) = &config.token {
        opts = opts.token(token.clone());
    }
    if let Some(ca) = &config.tls_ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &config.tls_client {
        opts = opts.add_client_certificate(cert.clone(), key.clone());
    }
    opts = opts
        .require_tls(config.tls_required)
        .name(connection_name(me))
        .connection_timeout(config.call_timeout)
        .request_timeout(Some(config.call_timeout))
        .max_reconnects(None)
        .ping_interval(config.heartbeat.max(Duration::from_secs(1)) * 2)
        // Reconnect fast: a server back after a restart is found within a
        // heartbeat or two.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * attempts as u64).min(1000))
        })
        .event_callback(move |event| {
            let events = events.clone();
            async move {
                let _ = events.send(event);
            }
        });
    let mut addrs: Vec<async_nats::ServerAddr> = Vec::new();
    for url in config
        .url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        addrs.push(
            url.parse::<async_nats::ServerAddr>()
                .map_err(|e| fail(format!("{url}: {e}")))?,
        );
    }
    // A user and password in the URL (`nats://user:pass@host:4222`), which
    // the client does not read from there itself.
    if config.user_password.is_none()
        && let Some(a) = addrs.iter().find(|a| a.has_user_pass())
    {
        opts = opts.user_and_password(
            a.username().unwrap_or_default().to_owned(),
            a.password().unwrap_or_default().to_owned(),
        );
    }
    let client = opts.connect(addrs).await.map_err(|e| fail(e.to_string()))?;
    // A live node with our name answers its claim subject.
    let claim = format!("{}.claim.{}", config.prefix, me.name());
    if let Ok(Ok(reply)) = tokio::time::timeout(
        Duration::from_millis(500),
        client.request(claim, Bytes::from(me.to_string())),
    )
    .await
    {
        return Err(ClusterError::NameInUse(format!(
            "{} (held by {})",
            me.name(),
            String::from_utf8_lossy(&reply.payload)
        )));
    }
    let js = async_nats::jetstream::new(client.clone());
    let bucket = format!("{}_names", config.prefix);
    let no_js = |reason: String| ClusterError::NoJetStream {
        url: config.url.clone(),
        reason,
    };
    // The bucket's stream is made here as `create_key_value` would make
    // it: that call first reads the account's limits in a form servers
    // before 2.10 (Debian's 2.9) do not send.
    let kv = match js.get_key_value(&bucket).await {
        Ok(kv) => kv,
        Err(_) => {
            use async_nats::jetstream::stream;
            js.get_or_create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                description: Some("wippy global names".into()),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                storage: stream::StorageType::File,
                num_replicas: config.replicas,
                allow_rollup: true,
                deny_delete: true,
                deny_purge: false,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| no_js(e.to_string()))?;
            js.get_key_value(&bucket)
                .await
                .map_err(|e| no_js(e.to_string()))?
        }
    };
    Ok((client, kv))
}

impl Shared {
    pub(crate) fn table(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.peers.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn table_mut(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.peers.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// `pid` with this node for "this node" ([`NodeId::LOCAL`]).
    fn here(&self, pid: Pid) -> Pid {
        if pid.node().is_local() {
            pid.with_node(self.me)
        } else {
            pid
        }
    }

    /// Writes a record for `node` with `write`.
    pub(crate) fn push(&self, node: NodeId, write: impl FnOnce(&mut Encoder)) -> Result<(), Error> {
        let table = self.table();
        let peer = table.live.get(&node).ok_or(Error::NodeNotFound(node))?;
        peer.out.push(node, self.max_record, write)
    }

    /// Subscribes and starts the tasks.
    async fn start(
        self: Arc<Self>,
        events: tokio::sync::mpsc::UnboundedReceiver<async_nats::Event>,
    ) -> Result<(), ClusterError> {
        let sub_err = |e: async_nats::SubscribeError| ClusterError::Connect {
            url: self.config.url.clone(),
            reason: e.to_string(),
        };
        let p = &self.config.prefix;
        let frames = self
            .client
            .subscribe(frames_subject(p, self.me))
            .await
            .map_err(sub_err)?;
        let rpc = self
            .client
            .subscribe(rpc_subject(p, self.me))
            .await
            .map_err(sub_err)?;
        let beats = self
            .client
            .subscribe(format!("{p}.hb.*"))
            .await
            .map_err(sub_err)?;
        let claims = self
            .client
            .subscribe(format!("{p}.claim.{}", self.me.name()))
            .await
            .map_err(sub_err)?;
        let advisories = match &self.config.disconnect_events {
            Some(subject) => Some(
                self.client
                    .subscribe(subject.clone())
                    .await
                    .map_err(sub_err)?,
            ),
            None => None,
        };
        tokio::spawn(self.clone().read_frames(frames));
        tokio::spawn(self.clone().answer_rpc(rpc));
        tokio::spawn(self.clone().read_beats(beats));
        tokio::spawn(self.clone().answer_claims(claims));
        if let Some(a) = advisories {
            tokio::spawn(self.clone().read_advisories(a));
        }
        tokio::spawn(self.clone().follow_connection(events));
        let loaded = self.clone().start_watch();
        let _ = tokio::time::timeout(self.config.call_timeout, loaded).await;
        self.beat(false).await;
        tokio::spawn(self.clone().tick());
        Ok(())
    }

    /// (Re)starts the registry watch; resolves when the bucket is replayed.
    fn start_watch(self: Arc<Self>) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.names.clear_view();
        let me = self.clone();
        let task = tokio::spawn(names::watch(
            self.kv.clone(),
            self.names.clone(),
            tx,
            move |change| me.on_name_change(change),
        ));
        if let Some(old) = lock(&self.watch).replace(task) {
            old.abort();
        }
        rx
    }

    async fn beat(&self, leaving: bool) {
        let subject = format!("{}.hb.{}", self.config.prefix, self.me.name());
        let text = if leaving {
            format!("{} leaving", self.me)
        } else {
            self.me.to_string()
        };
        let _ = self.client.publish(subject, Bytes::from(text)).await;
    }

    /// Heartbeats, silence and server-loss checks, and the registry sweep.
    async fn tick(self: Arc<Self>) {
        let step = (self.config.heartbeat / 4).max(Duration::from_millis(20));
        let mut next_beat = Instant::now() + self.config.heartbeat;
        let mut interval = tokio::time::interval(step);
        loop {
            interval.tick().await;
            if self.closed.load(Ordering::Relaxed) {
                return;
            }
            if Instant::now() >= next_beat {
                next_beat = Instant::now() + self.config.heartbeat;
                self.beat(false).await;
            }
            let silent: Vec<NodeId> = self
                .table()
                .live
                .values()
                .filter(|p| p.silent_for() > self.config.node_timeout)
                .map(|p| p.id)
                .collect();
            for id in silent {
                self.node_down(id);
            }
            let all_down = {
                let mut c = lock(&self.conn);
                match c.lost_at {
                    Some(at) if !c.all_down && at.elapsed() > self.config.grace => {
                        c.all_down = true;
                        true
                    }
                    _ => false,
                }
            };
            if all_down {
                let ids: Vec<NodeId> = self.table().live.keys().copied().collect();
                for id in ids {
                    self.node_down(id);
                }
            }
            self.sweep_names();
        }
    }

    fn connected(&self) -> bool {
        lock(&self.conn).connected
    }

    async fn follow_connection(
        self: Arc<Self>,
        mut events: tokio::sync::mpsc::UnboundedReceiver<async_nats::Event>,
    ) {
        while let Some(event) = events.recv().await {
            match event {
                async_nats::Event::Disconnected => {
                    let mut c = lock(&self.conn);
                    c.connected = false;
                    c.lost_at.get_or_insert_with(Instant::now);
                }
                async_nats::Event::Connected => {
                    {
                        let mut c = lock(&self.conn);
                        c.connected = true;
                        c.lost_at = None;
                        c.all_down = false;
                        c.since = Instant::now();
                    }
                    if self.closed.load(Ordering::Relaxed) {
                        continue;
                    }
                    self.beat(false).await;
                    // The bucket may have changed while we were away:
                    // replay it, then re-assert every name we hold.
                    let loaded = self.clone().start_watch();
                    let me = self.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(me.config.call_timeout, loaded).await;
                        me.reassert_all().await;
                    });
                }
                other => tracing::debug!("cluster connection: {other}"),
            }
        }
    }

    async fn read_beats(self: Arc<Self>, mut beats: async_nats::Subscriber) {
        while let Some(msg) = beats.next().await {
            let text = String::from_utf8_lossy(&msg.payload);
            let (id_text, leaving) = match text.split_once(' ') {
                Some((id, "leaving")) => (id, true),
                _ => (&*text, false),
            };
            let Ok(id) = id_text.parse::<NodeId>() else {
                tracing::debug!("cluster: unreadable heartbeat {text:?}");
                continue;
            };
            if id == self.me {
                continue;
            }
            if id.name() == self.me.name() {
                tracing::error!(
                    "cluster: another node ({id}) uses this node's name {}",
                    self.me.name()
                );
                continue;
            }
            if leaving {
                self.node_down(id);
                continue;
            }
            self.node_beats(id);
        }
    }

    /// A heartbeat of `id`: adds a node not live before.
    fn node_beats(self: &Arc<Self>, id: NodeId) {
        let beat = self.table_mut().beat(id);
        let Beat::New { was_down, replaces } = beat else {
            return;
        };
        if let Some(old) = replaces {
            self.node_down(old);
        }
        let peer = Arc::new(Peer::new(
            id,
            frames_subject(&self.config.prefix, id),
            self.me,
            self.config.max_backlog,
        ));
        self.table_mut().add(peer.clone());
        let writer = self.handle.spawn(self.clone().write_frames(peer.clone()));
        if let Some(old) = lock(&self.writers).insert(id, writer) {
            old.abort();
        }
        tracing::info!(node = %id, "cluster: node up");
        if was_down {
            // It may still hold relations we ended: tell it to end them.
            let _ = peer.out.push(id, self.max_record, |e| e.down());
        }
    }

    /// A batch from `id` came: it is alive (a heartbeat need not come
    /// first). Whether it is a live node now.
    fn alive(self: &Arc<Self>, id: NodeId) -> bool {
        if let Some(p) = self.table().live.get(&id) {
            p.touch();
            return true;
        }
        if id == self.me || id.name() == self.me.name() {
            return false;
        }
        self.node_beats(id);
        self.table().live.contains_key(&id)
    }

    /// Publishes `peer`'s batches as they come, in order.
    async fn write_frames(self: Arc<Self>, peer: Arc<Peer>) {
        loop {
            peer.out.wake.notified().await;
            loop {
                let batches = peer.out.take();
                if batches.is_empty() {
                    break;
                }
                for b in batches {
                    if let Err(e) = self.client.publish(peer.subject.clone(), b.into()).await {
                        tracing::debug!(node = %peer.id, "cluster: publish failed: {e}");
                    }
                }
            }
            if peer.out.is_closed() {
                return;
            }
        }
    }

    async fn answer_claims(self: Arc<Self>, mut claims: async_nats::Subscriber) {
        while let Some(msg) = claims.next().await {
            if let Some(reply) = msg.reply {
                let _ = self
                    .client
                    .publish(reply, Bytes::from(self.me.to_string()))
                    .await;
            }
        }
    }

    /// The server's advisories of closed client connections: a node whose
    /// connection closed is down now, not a timeout later.
    async fn read_advisories(self: Arc<Self>, mut advisories: async_nats::Subscriber) {
        while let Some(msg) = advisories.next().await {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&msg.payload) else {
                continue;
            };
            let Some(name) = v
                .pointer("/client/name")
                .and_then(serde_json::Value::as_str)
                .and_then(|n| n.strip_prefix("wippy-node "))
            else {
                continue;
            };
            if let Ok(id) = name.parse::<NodeId>()
                && id != self.me
            {
                self.node_down(id);
            }
        }
    }

    /// Takes `id` for down: ends every relation with its processes, fails
    /// calls waiting on it, frees its names, and tells it.
    pub(crate) fn node_down(self: &Arc<Self>, id: NodeId) {
        let Some(peer) = self.table_mut().remove(id) else {
            return;
        };
        peer.out.close();
        tracing::info!(node = %id, "cluster: node down");
        self.forget_relations(id);
        let failed: Vec<Pending> = {
            let mut pending = lock(&self.pending);
            let calls: Vec<u64> = pending
                .iter()
                .filter(|(_, p)| p.node == id)
                .map(|(c, _)| *c)
                .collect();
            calls
                .into_iter()
                .filter_map(|c| pending.remove(&c))
                .collect()
        };
        for p in failed {
            if let Some(done) = p.done {
                done.complete(Err(ClusterError::NodeDown(id.to_string())));
            }
        }
        let names = self.names.drop_node(|n| n == id);
        if self.connected() {
            for (name, rev) in names {
                let kv = self.kv.clone();
                self.handle
                    .spawn(async move { names::delete(&kv, &name, rev).await });
            }
        }
        // Tell it, in case it is alive and thinks otherwise.
        let mut e = Encoder::new(self.me);
        e.down();
        let client = self.client.clone();
        let subject = peer.subject.clone();
        self.handle.spawn(async move {
            let _ = client.publish(subject, e.buf.into()).await;
        });
    }

    /// Ends every relation between our processes and `id`'s.
    fn forget_relations(&self, id: NodeId) {
        let rel = lock(&self.relations).node_gone(id);
        for (target, watcher) in rel.exits {
            self.node.deliver_event(
                watcher,
                Event::Exit {
                    from: target,
                    result: Err(ExitError::new(NODE_DOWN)),
                },
            );
        }
        for (partner, local) in rel.links {
            self.node
                .link_down(local, partner, ExitError::new(NODE_DOWN));
        }
    }

    /// Makes the agent monitor `local` (once); call with the relations
    /// locked.
    fn agent_watch(&self, rel: &mut Relations, local: Pid) {
        if rel.agent_must_watch(local) {
            let _ = self.node.monitor(self.agent, local);
        }
    }

    /// A local process with relations across nodes (or global names)
    /// ended: the agent's report.
    fn local_ended(self: &Arc<Self>, pid: Pid, result: &ExitResult) {
        {
            let mut rel = lock(&self.relations);
            let ended = rel.local_ended(pid);
            for w in ended.watchers {
                let _ = self.push(w.node(), |e| e.exit(pid, w, result));
            }
            for r in ended.partners {
                let _ = self.push(r.node(), |e| e.link_exit(pid, r, result));
            }
            for t in ended.watched {
                let _ = self.push(t.node(), |e| e.demonitor(pid, t));
            }
        }
        for (name, rev) in self.names.release(pid) {
            if let Some(rev) = rev {
                let kv = self.kv.clone();
                self.handle
                    .spawn(async move { names::delete(&kv, &name, rev).await });
            }
        }
    }

    async fn read_frames(self: Arc<Self>, mut frames: async_nats::Subscriber) {
        while let Some(msg) = frames.next().await {
            self.apply_batch(&msg.payload);
        }
    }

    /// Applies one batch of records from another node, in order.
    fn apply_batch(self: &Arc<Self>, bytes: &[u8]) {
        let mut d = match crate::codec::Decoder::new(bytes, self.gate.policies()) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cluster: dropped a batch: {e}");
                return;
            }
        };
        let sender = d.sender;
        let live = self.alive(sender);
        loop {
            match d.record() {
                Ok(Some(r)) => self.apply(&d, sender, live, r),
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(node = %sender, "cluster: dropped the rest of a batch: {e}");
                    return;
                }
            }
        }
    }

    fn apply(
        self: &Arc<Self>,
        d: &crate::codec::Decoder<'_>,
        sender: NodeId,
        live: bool,
        r: crate::frame::Record,
    ) {
        use crate::frame::Record;
        let me = self.me;
        // Every pid a record names is of the sender's node or of ours, as
        // its kind says; anything else is a record to drop.
        let ok = |theirs: Option<Pid>, ours: Pid| {
            theirs.is_none_or(|p| p.node() == sender) && ours.node() == me
        };
        match r {
            Record::Message {
                asker,
                from,
                to,
                topic,
                payload,
            } => {
                if !ok(from, to)
                    || self
                        .gate
                        .check_on(d.resolved(asker), from, "process.send", to)
                        .is_err()
                {
                    return;
                }
                match self.node.send(from, to, topic, payload) {
                    Ok(()) => {}
                    Err(Error::NotAccepted {
                        to: host,
                        from: from_host,
                    }) => {
                        tracing::warn!(
                            target: "wippy::audit",
                            action = "process.send",
                            resource = %host,
                            pid = %from.map_or_else(String::new, |p| p.to_string()),
                            "denied: host {host} does not accept messages from host {from_host}"
                        );
                    }
                    Err(e) => tracing::debug!("cluster: message to {to}: {e}"),
                }
            }
            Record::Monitor {
                asker,
                watcher,
                target,
            } => {
                if !ok(Some(watcher), target) || !live {
                    return;
                }
                let mut rel = lock(&self.relations);
                let refused = self
                    .gate
                    .check_on(d.resolved(asker), Some(watcher), "process.monitor", target)
                    .err()
                    .map(|e| e.to_string());
                match refused {
                    None if self.node.is_alive(target) => {
                        rel.add_remote_watcher(target, watcher);
                        self.agent_watch(&mut rel, target);
                    }
                    refused => {
                        let why = refused.unwrap_or_else(|| "noproc".into());
                        let _ = self.push(sender, |e| {
                            e.exit(target, watcher, &Err(ExitError::new(why)))
                        });
                    }
                }
            }
            Record::Demonitor { watcher, target } => {
                if ok(Some(watcher), target) {
                    lock(&self.relations).remove_remote_watcher(target, watcher);
                }
            }
            Record::Link { asker, from, to } => {
                if !ok(Some(from), to) || !live {
                    return;
                }
                let mut rel = lock(&self.relations);
                let refused = self
                    .gate
                    .check_on(d.resolved(asker), Some(from), "process.link", to)
                    .err()
                    .map(|e| e.to_string());
                match refused {
                    None if self.node.is_alive(to) => {
                        rel.add_link(to, from);
                        self.agent_watch(&mut rel, to);
                    }
                    refused => {
                        let why = refused.unwrap_or_else(|| "noproc".into());
                        let _ =
                            self.push(sender, |e| e.link_exit(to, from, &Err(ExitError::new(why))));
                    }
                }
            }
            Record::Unlink { from, to } => {
                if ok(Some(from), to) {
                    lock(&self.relations).remove_link(to, from);
                }
            }
            Record::Exit { from, to, result } => {
                if ok(Some(from), to) && lock(&self.relations).remove_local_watcher(from, to) {
                    self.node.deliver_event(to, Event::Exit { from, result });
                }
            }
            Record::LinkExit { from, to, result } => {
                if ok(Some(from), to)
                    && lock(&self.relations).remove_link(to, from)
                    && let Err(error) = result
                {
                    self.node.link_down(to, from, error);
                }
            }
            Record::Cancel {
                asker,
                from,
                target,
                within,
            } => {
                if ok(from, target)
                    && self
                        .gate
                        .check_on(d.resolved(asker), from, "process.cancel", target)
                        .is_ok()
                {
                    let _ = self.node.cancel(from, target, within);
                }
            }
            Record::Terminate { asker, target } => {
                if ok(None, target)
                    && self
                        .gate
                        .check_on(d.resolved(asker), None, "process.terminate", target)
                        .is_ok()
                {
                    let _ = self.node.terminate(target);
                }
            }
            Record::Down => self.forget_relations(sender),
            Record::Spawn {
                asker,
                child,
                order,
            } => {
                if order.parent.is_none_or(|p| p.node() == sender) && live {
                    self.spawn_here(d, sender, asker, child, order);
                }
            }
            Record::Spawned { call, result } => self.spawn_answered(sender, call, result),
        }
    }

    /// A remote spawn asked of this node.
    fn spawn_here(
        self: &Arc<Self>,
        d: &crate::codec::Decoder<'_>,
        sender: NodeId,
        asker: usize,
        child: usize,
        o: crate::frame::SpawnOrder,
    ) {
        let host_of_parent = o.parent.map(Pid::host);
        let who = o
            .parent
            .map_or_else(|| sender.to_string(), |p| p.to_string());
        let checked = (|| {
            let by = d.resolved(asker);
            self.gate
                .check(by, host_of_parent, "process.spawn", &o.entry, &who)?;
            self.gate
                .check(by, host_of_parent, "process.spawn.host", &o.host, &who)?;
            if child != asker {
                self.gate
                    .may_grant(by, d.resolved(child), host_of_parent, &who)?;
            }
            Ok::<_, wippy_security::Denied>(())
        })();
        let answer = |result: Result<Pid, String>| {
            let _ = self.push(sender, |e| e.spawned(o.call, &result));
        };
        if let Err(denied) = checked {
            return answer(Err(denied.to_string()));
        }
        let entry = match o.entry.parse::<wippy_host::registry::EntryId>() {
            Ok(e) => e,
            Err(e) => return answer(Err(format!("invalid entry {:?}: {e}", o.entry))),
        };
        let principal = match d.resolved(child) {
            Ok(p) => p.clone(),
            Err(why) => return answer(Err(format!("unknown policy: {why}"))),
        };
        let related = o.parent.is_some() && (o.link || o.monitor);
        let opts = SpawnOptions {
            parent: related.then_some(self.agent),
            link: false,
            monitor: related,
            trap_links: o.trap_links,
        };
        let context = wippy_host::SpawnContext::default()
            .with(o.values)
            .with_principal(principal);
        let req = wippy_host::SpawnRequest {
            entry,
            args: o.args,
            opts,
            context,
        };
        // Under the relations lock, so the answer is queued before any
        // EXIT the agent may report for the child.
        let mut rel = lock(&self.relations);
        match self.app.spawn(&o.host, req) {
            Ok(pid) => {
                if let (true, Some(parent)) = (related, o.parent) {
                    rel.agent_must_watch(pid);
                    if o.monitor {
                        rel.add_remote_watcher(pid, parent);
                    }
                    if o.link {
                        rel.add_link(pid, parent);
                    }
                }
                answer(Ok(pid));
            }
            Err(e) => answer(Err(e.to_string())),
        }
        drop(rel);
    }

    /// Sends a spawn order to `node` and waits for its answer.
    fn spawn_remote(
        self: Arc<Self>,
        by: &Principal,
        node: NodeId,
        host: &str,
        req: wippy_host::SpawnRequest,
    ) -> Call<Result<Pid, ClusterError>> {
        let (call, done) = Call::pending();
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        let parent = req.opts.parent.map(|p| self.here(p));
        let order = crate::frame::SpawnOrder {
            call: id,
            parent,
            entry: req.entry.to_string(),
            host: host.to_owned(),
            args: req.args,
            values: req
                .context
                .iter()
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect(),
            link: req.opts.link,
            monitor: req.opts.monitor,
            trap_links: req.opts.trap_links,
        };
        lock(&self.pending).insert(
            id,
            Pending {
                node,
                parent,
                link: order.link,
                monitor: order.monitor,
                done: Some(done),
            },
        );
        let child = req.context.principal();
        let by_asker = principal_asker(by);
        let child_asker = principal_asker(child);
        let pushed = self.push(node, |e| e.spawn(by_asker, child_asker, &order));
        if let Err(e) = pushed {
            if let Some(p) = lock(&self.pending).remove(&id)
                && let Some(done) = p.done
            {
                done.complete(Err(e.into()));
            }
            return call;
        }
        let me = self.clone();
        let timeout = self.config.call_timeout;
        self.handle.spawn(async move {
            tokio::time::sleep(timeout).await;
            // Keep the entry: a late answer still records the relation.
            let done = lock(&me.pending).get_mut(&id).and_then(|p| p.done.take());
            if let Some(done) = done {
                done.complete(Err(ClusterError::TimedOut {
                    what: "remote spawn",
                    after: timeout,
                }));
            }
        });
        call
    }

    /// The answer to one of our spawns.
    fn spawn_answered(&self, sender: NodeId, call: u64, result: Result<Pid, String>) {
        let Some(p) = lock(&self.pending).remove(&call) else {
            return;
        };
        if p.node != sender {
            return;
        }
        let result = match result {
            Ok(child) if child.node() == sender => {
                if let Some(parent) = p.parent.filter(|_| p.link || p.monitor) {
                    let mut rel = lock(&self.relations);
                    if p.monitor {
                        rel.add_local_watcher(child, parent);
                    }
                    if p.link {
                        rel.add_link(parent, child);
                    }
                    self.agent_watch(&mut rel, parent);
                }
                Ok(child)
            }
            Ok(child) => Err(ClusterError::SpawnFailed {
                node: sender.to_string(),
                reason: format!("answered with a pid of another node: {child}"),
            }),
            Err(reason) => Err(ClusterError::SpawnFailed {
                node: sender.to_string(),
                reason,
            }),
        };
        if let Some(done) = p.done {
            done.complete(result);
        }
    }

    /// Requests to this node: STRONG registration acknowledgements.
    async fn answer_rpc(self: Arc<Self>, mut rpc: async_nats::Subscriber) {
        while let Some(msg) = rpc.next().await {
            let answer = match serde_json::from_slice::<Ack>(&msg.payload) {
                Ok(ack) => {
                    self.names.bind(
                        &ack.name,
                        Bound {
                            pid: ack.pid,
                            revision: ack.revision,
                        },
                    );
                    "ok"
                }
                Err(_) => "bad request",
            };
            if let Some(reply) = msg.reply {
                let _ = self.client.publish(reply, Bytes::from(answer)).await;
            }
        }
    }

    fn register(
        self: Arc<Self>,
        name: &str,
        pid: Pid,
        scope: NameScope,
    ) -> Call<Result<(), ClusterError>> {
        let pid = self.here(pid);
        if name.is_empty() {
            return Call::ready(Err(ClusterError::InvalidName(name.to_owned())));
        }
        if scope == NameScope::Local {
            return Call::ready(match self.node.register(name, pid) {
                Ok(()) => Ok(()),
                Err(Error::NameTaken { holder, .. }) if holder == pid => Ok(()),
                Err(Error::NameTaken { name, holder }) => Err(ClusterError::NameTaken {
                    name: name.to_string(),
                    holder,
                }),
                Err(e) => Err(e.into()),
            });
        }
        if pid.node() != self.me {
            return Call::ready(Err(ClusterError::NotLocal(pid)));
        }
        if !self.node.is_alive(pid) {
            return Call::ready(Err(ClusterError::NoProcess(pid)));
        }
        if let Some(b) = self.names.bound(name) {
            return Call::ready(if b.pid == pid {
                Ok(())
            } else {
                Err(ClusterError::NameTaken {
                    name: name.to_owned(),
                    holder: b.pid,
                })
            });
        }
        if scope == NameScope::Eventual {
            self.names.hold(
                name,
                Mine {
                    pid,
                    scope,
                    revision: None,
                },
            );
            self.names.bind(name, Bound { pid, revision: 0 });
            self.agent_watch(&mut lock(&self.relations), pid);
            if self.connected() {
                let me = self.clone();
                let name = name.to_owned();
                self.handle
                    .spawn(async move { me.assert_name(&name, pid, scope).await });
            }
            return Call::ready(Ok(()));
        }
        if !self.connected() {
            return Call::ready(Err(ClusterError::Unavailable(
                "no connection to the NATS server".into(),
            )));
        }
        let (call, done) = Call::pending();
        let name = name.to_owned();
        let me = self.clone();
        self.handle.spawn(async move {
            let timeout = me.config.call_timeout + me.config.strong_deadline;
            let result = tokio::time::timeout(timeout, me.register_durably(&name, pid, scope))
                .await
                .unwrap_or(Err(ClusterError::TimedOut {
                    what: "global registration",
                    after: timeout,
                }));
            done.complete(result);
        });
        call
    }

    /// A CONSISTENT or STRONG registration.
    async fn register_durably(
        self: &Arc<Self>,
        name: &str,
        pid: Pid,
        scope: NameScope,
    ) -> Result<(), ClusterError> {
        let strong = scope == NameScope::Strong;
        let rev =
            match names::create(&self.kv, name, &names::Value::new(pid, scope, strong)).await? {
                Ok(rev) => rev,
                Err(holder) => {
                    return Err(ClusterError::NameTaken {
                        name: name.to_owned(),
                        holder,
                    });
                }
            };
        let rev = if strong {
            match self.acknowledge(name, pid, rev).await {
                Ok(()) => {}
                Err(e) => {
                    names::delete(&self.kv, name, rev).await;
                    return Err(e);
                }
            }
            self.kv
                .update(
                    names::key_of(name),
                    names::Value::new(pid, scope, false).bytes(),
                    rev,
                )
                .await
                .map_err(|e| ClusterError::Registry(e.to_string()))?
        } else {
            rev
        };
        self.names.hold(
            name,
            Mine {
                pid,
                scope,
                revision: Some(rev),
            },
        );
        self.names.bind(name, Bound { pid, revision: rev });
        // Monitors it, so the name goes when it ends (at once, with a
        // "noproc" report, if it ended while we registered).
        self.agent_watch(&mut lock(&self.relations), pid);
        Ok(())
    }

    /// Asks every live node to know `name` before a STRONG registration
    /// is committed; fails with the nodes that did not answer in time.
    async fn acknowledge(&self, name: &str, pid: Pid, revision: u64) -> Result<(), ClusterError> {
        let deadline = self.config.strong_deadline;
        let peers: Vec<NodeId> = self.table().live.keys().copied().collect();
        let ack = Bytes::from(
            serde_json::to_vec(&Ack {
                name: name.to_owned(),
                pid,
                revision,
            })
            .expect("an ack serialises"),
        );
        let asks = peers.iter().map(|id| {
            let subject = rpc_subject(&self.config.prefix, *id);
            let client = self.client.clone();
            let ack = ack.clone();
            async move {
                matches!(
                    tokio::time::timeout(deadline, client.request(subject, ack)).await,
                    Ok(Ok(m)) if &m.payload[..] == b"ok"
                )
            }
        });
        let answers = futures_util::future::join_all(asks).await;
        let missing: Vec<String> = peers
            .iter()
            .zip(answers)
            .filter(|(_, ok)| !ok)
            .map(|(id, _)| id.to_string())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ClusterError::NotAcknowledged {
                name: name.to_owned(),
                missing: missing.join(", "),
                deadline,
            })
        }
    }

    /// Writes our name `name` into the bucket (EVENTUAL registrations,
    /// re-assertions): if another process has it, ours lost.
    async fn assert_name(self: &Arc<Self>, name: &str, pid: Pid, scope: NameScope) {
        let value = names::Value::new(pid, scope, false);
        match names::create(&self.kv, name, &value).await {
            Ok(Ok(rev)) => {
                if self.names.written(name, pid, rev) {
                    self.names.bind(name, Bound { pid, revision: rev });
                } else {
                    // Let go (or ended) while we wrote it.
                    names::delete(&self.kv, name, rev).await;
                }
            }
            Ok(Err(holder)) => {
                if self.names.let_go(name, pid).is_some() {
                    self.lost(name, pid, holder);
                }
            }
            Err(e) => tracing::debug!(name, "global registry: cannot write: {e}"),
        }
    }

    /// Tells `pid` that `holder` has its name.
    fn lost(&self, name: &str, pid: Pid, holder: Pid) {
        tracing::info!(name, %pid, %holder, "global registry: name lost to another process");
        let _ = self.node.send(
            None,
            pid,
            names::LOST_TOPIC,
            names::lost_message(name, holder),
        );
    }

    fn on_name_change(self: &Arc<Self>, change: Change) {
        match change {
            Change::None => {}
            Change::Reassert(name) => {
                if let Some(m) = self.names.mine(&name)
                    && self.node.is_alive(m.pid)
                    && self.connected()
                {
                    let me = self.clone();
                    self.handle
                        .spawn(async move { me.assert_name(&name, m.pid, m.scope).await });
                }
            }
            Change::Lost { name, ours, holder } => {
                self.names.unbind(&name, ours);
                self.names.bind(
                    &name,
                    Bound {
                        pid: holder,
                        revision: 0,
                    },
                );
                self.lost(&name, ours, holder);
            }
        }
    }

    async fn reassert_all(self: &Arc<Self>) {
        for (name, m) in self.names.all_mine() {
            if self.node.is_alive(m.pid) {
                self.assert_name(&name, m.pid, m.scope).await;
            }
        }
    }

    /// Deletes names whose node is neither live nor this one, once this
    /// node has been connected long enough to have heard every live node.
    fn sweep_names(self: &Arc<Self>) {
        {
            let c = lock(&self.conn);
            if !c.connected || c.since.elapsed() < self.config.node_timeout * 2 {
                return;
            }
        }
        let table = self.table();
        let gone = |n: NodeId| n != self.me && !table.live.contains_key(&n);
        let stale = self.names.drop_node(gone);
        drop(table);
        for (name, rev) in stale {
            if rev > 0 {
                let kv = self.kv.clone();
                self.handle
                    .spawn(async move { names::delete(&kv, &name, rev).await });
            }
        }
    }
}

/// The asker of a principal a caller holds.
fn principal_asker(p: &Principal) -> Asker<'_> {
    if p.is_unrestricted() {
        Asker::Runtime
    } else {
        Asker::Principal(p)
    }
}

/// A STRONG registration's request to a node.
#[derive(serde::Serialize, serde::Deserialize)]
struct Ack {
    name: String,
    pid: Pid,
    revision: u64,
}

impl wippy_process::Remote for Router {
    fn send(&self, by: Credentials, to: Pid, msg: wippy_process::Message) -> Result<(), Error> {
        let s = &self.shared;
        let asker = asker(&by, msg.from)?;
        s.push(to.node(), |e| {
            e.message(asker, msg.from, to, &msg.topic, &msg.payload)
        })
    }

    fn monitor(&self, by: Credentials, watcher: Pid, target: Pid) -> Result<(), Error> {
        let s = &self.shared;
        let asker = asker(&by, Some(watcher))?;
        let mut rel = lock(&s.relations);
        s.push(target.node(), |e| e.monitor(asker, watcher, target))?;
        rel.add_local_watcher(target, watcher);
        s.agent_watch(&mut rel, watcher);
        Ok(())
    }

    fn unmonitor(&self, watcher: Pid, target: Pid) -> bool {
        let s = &self.shared;
        let found = lock(&s.relations).remove_local_watcher(target, watcher);
        if found {
            let _ = s.push(target.node(), |e| e.demonitor(watcher, target));
        }
        found
    }

    fn link(&self, by: Credentials, local: Pid, remote: Pid) -> Result<(), Error> {
        let s = &self.shared;
        let asker = asker(&by, Some(local))?;
        if !s.node.is_alive(local) {
            return Err(Error::NoProcess(local));
        }
        let mut rel = lock(&s.relations);
        s.push(remote.node(), |e| e.link(asker, local, remote))?;
        rel.add_link(local, remote);
        s.agent_watch(&mut rel, local);
        Ok(())
    }

    fn unlink(&self, local: Pid, remote: Pid) {
        let s = &self.shared;
        if lock(&s.relations).remove_link(local, remote) {
            let _ = s.push(remote.node(), |e| e.unlink(local, remote));
        }
    }

    fn cancel(
        &self,
        by: Credentials,
        from: Option<Pid>,
        target: Pid,
        within: Duration,
    ) -> Result<(), Error> {
        let asker = asker(&by, from)?;
        self.shared
            .push(target.node(), |e| e.cancel(asker, from, target, within))
    }

    fn terminate(&self, by: Credentials, target: Pid) -> Result<(), Error> {
        let asker = asker(&by, None)?;
        self.shared
            .push(target.node(), |e| e.terminate(asker, target))
    }
}
