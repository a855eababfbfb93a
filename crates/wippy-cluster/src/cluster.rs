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
use wippy_host::App;
use wippy_process::{Error, Node, NodeId, Payload, Pid, Runtime, SpawnOptions};
use wippy_security::Principal;

use crate::call::{Call, Completer};
use crate::codec::{Asker, Encoder};
use crate::config::ClusterConfig;
use crate::error::ClusterError;
use crate::gate::Gate;
use crate::names::{self, NameScope, Names};
use crate::peers::Table;
use crate::relations::{Agent, Relations};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code panics under the cluster's locks; recover from poisoning anyway.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The subjects of one node.
pub(crate) fn frames_subject(prefix: &str, node: NodeId) -> String {
    format!("{prefix}.node.{}.{}", node.name(), inc36(node))
}

pub(crate) fn rpc_subject(prefix: &str, node: NodeId) -> String {
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
pub(crate) struct Pending {
    pub(crate) node: NodeId,
    pub(crate) parent: Option<Pid>,
    pub(crate) link: bool,
    pub(crate) monitor: bool,
    pub(crate) done: Option<Completer<Result<Pid, ClusterError>>>,
}

/// The state of the connection to the server.
pub(crate) struct Conn {
    pub(crate) connected: bool,
    /// When the connection was lost, while it is.
    pub(crate) lost_at: Option<Instant>,
    /// When it was (re)established.
    pub(crate) since: Instant,
    /// Every node has been taken for down for this loss already.
    pub(crate) all_down: bool,
}

pub(crate) struct Shared {
    pub(crate) me: NodeId,
    pub(crate) node: Node,
    pub(crate) app: Arc<App>,
    pub(crate) config: ClusterConfig,
    pub(crate) client: async_nats::Client,
    pub(crate) kv: kv::Store,
    pub(crate) handle: tokio::runtime::Handle,
    pub(crate) gate: Gate,
    pub(crate) peers: RwLock<Table>,
    pub(crate) relations: Mutex<Relations>,
    pub(crate) names: Arc<Names>,
    pub(crate) pending: Mutex<AHashMap<u64, Pending>>,
    pub(crate) next_call: AtomicU64,
    pub(crate) agent: Pid,
    /// The most bytes one record may take (the server's max payload less
    /// a batch header).
    pub(crate) max_record: usize,
    pub(crate) conn: Mutex<Conn>,
    pub(crate) closed: AtomicBool,
    pub(crate) runtime: Mutex<Option<tokio::runtime::Runtime>>,
    pub(crate) watch: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(crate) writers: Mutex<AHashMap<NodeId, tokio::task::JoinHandle<()>>>,
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
        self.shared.push(to.node(), |e| {
            e.message(asker, from, to, &topic, &payload, false)
        })
    }

    /// Ends `target` (any node) with error `"terminated"`, asked by
    /// `principal`: the target's node checks `process.terminate` for it.
    /// For callers that hold a principal (the kernel's
    /// [`Node::terminate`] does not say who asks, and acts as the runtime).
    pub fn terminate_as(&self, principal: &Principal, target: Pid) -> Result<(), Error> {
        if target.node() == self.shared.me || target.node().is_local() {
            return self.shared.node.terminate(target);
        }
        let asker = principal_asker(principal);
        self.shared
            .push(target.node(), |e| e.terminate(asker, target))
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

    pub(crate) fn table_mut(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.peers.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// `pid` with this node for "this node" ([`NodeId::LOCAL`]).
    pub(crate) fn here(&self, pid: Pid) -> Pid {
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
    pub(crate) fn start_watch(self: Arc<Self>) -> tokio::sync::oneshot::Receiver<()> {
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
}

/// The asker of a principal a caller holds.
pub(crate) fn principal_asker(p: &Principal) -> Asker<'_> {
    if p.is_unrestricted() {
        Asker::Runtime
    } else {
        Asker::Principal(p)
    }
}
