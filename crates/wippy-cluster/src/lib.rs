//! A cluster of wippy runtimes on NATS: processes on several nodes talk by
//! pid, find each other by name, watch and link each other, and spawn on
//! each other's hosts. Core NATS carries the messages, JetStream KV holds
//! the global names; there is no gossip or consensus of our own. A runtime
//! that joins no cluster needs no server and pays nothing.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wippy_cluster::{Cluster, ClusterConfig, NameScope};
//! use wippy_host::{App, registry::Registry};
//! use wippy_process::{NodeId, Payload, Runtime, RuntimeConfig};
//!
//! let node = NodeId::starting("a").unwrap();
//! let rt = Runtime::new(RuntimeConfig { node, ..Default::default() }).unwrap();
//! let app = App::new(rt.node().clone(), Arc::new(Registry::new()));
//! let cluster = Cluster::join(&rt, app, ClusterConfig::new("nats://127.0.0.1:4222")).unwrap();
//! let host = rt.native_host("app:native", 1).unwrap();
//! let pid = host
//!     .spawn_async(Default::default(), |cx| async move {
//!         let ping = cx.recv().await; // from any node
//!         cx.send(ping.from.unwrap(), "pong", ping.payload).unwrap();
//!         Ok(Payload::Nil)
//!     })
//!     .unwrap();
//! cluster.register("ponger", pid, NameScope::Consistent).wait(std::time::Duration::from_secs(5));
//! // On another node: cluster.lookup("ponger") gives the pid; Node::send reaches it.
//! cluster.shutdown();
//! rt.shutdown();
//! ```
//!
//! # Design
//!
//! **Identity.** A node is a name plus an *incarnation* chosen at start
//! (the wall clock in ms): [`wippy_process::NodeId`], interned so a pid
//! stays 16 bytes. Pids of a clustered runtime carry its node and print as
//! `{name.incarnation@host|0x1f}` (`{host|0x1f}` still means "this
//! node"). A node restarted under the same name is another identity: old
//! pids name a node that is gone ("node not found"), never a new process.
//! Two live nodes may not share a name (join fails with
//! [`ClusterError::NameInUse`]).
//!
//! **The kernel hook.** The kernel tests a pid's node on every operation
//! (one compare); a pid of another node goes to the router this crate
//! installs (a [`wippy_process::Remote`]), which never blocks. The kernel
//! never sees tokio: the cluster runs its own tokio runtime (one thread)
//! for the NATS client, and one native host (`wippy:cluster`) for its
//! *agent*, a process that monitors local processes on behalf of remote
//! watchers and linked partners.
//!
//! **Subjects** (`P` = [`ClusterConfig::prefix`], default `wippy`):
//! `P.node.<name>.<inc>` carries every record for a node — messages and
//! signals, one ordered stream per pair of nodes, so a sender's records
//! reach a receiver in order (a message sent before its sender ended
//! arrives before the EXIT); `P.rpc.<name>.<inc>` takes requests
//! (STRONG acknowledgements); `P.hb.<name>` the heartbeats;
//! `P.claim.<name>` answers whether a live node has a name. A subject
//! names the incarnation, so records for a node that restarted reach
//! nobody.
//!
//! **Frames.** A NATS message is a batch: a version byte, the writer's
//! node, then records (`frame.rs`) in a compact binary codec (`codec.rs`:
//! varints; host names, nodes, topics and principals written once per
//! batch; the payload's value tree kept exactly, pids as pids). A sending
//! thread encodes its record straight into the peer's current batch; the
//! peer's writer task, woken only when a record lands in an empty queue,
//! publishes whatever has gathered: under load one publish carries many
//! records. Delivery is at most once; a node that does not keep up loses
//! records past [`ClusterConfig::max_backlog`] rather than our memory.
//!
//! **Names** ([`NameScope`]) live in the KV bucket `P_names`, one key per
//! name: LOCAL (the kernel's), EVENTUAL (bound here at once, written in
//! the background, the bucket's create deciding a conflict and the loser
//! told on [`LOST_TOPIC`]), CONSISTENT (create-if-absent: one winner of a
//! race), STRONG (CONSISTENT written as pending, committed only after
//! every live node acknowledged it by the deadline, deleted otherwise).
//! Each node follows the bucket (a watch) so lookups are local reads.
//! A name is freed when its process ends or its node goes down; a node
//! re-asserts its names after a reconnection.
//!
//! **Failure detection.** Heartbeats every [`ClusterConfig::heartbeat`]
//! (1 s); a node silent for [`ClusterConfig::node_timeout`] (3 s) is
//! down. The server's disconnect advisories
//! ([`ClusterConfig::disconnect_events`]) make a killed node down at once
//! when the account imports them from the system account:
//!
//! ```text
//! accounts {
//!   SYS: { users: [...], exports: [{stream: "$SYS.ACCOUNT.*.DISCONNECT"}] }
//!   APP: { jetstream: enabled, users: [...],
//!          imports: [{stream: {account: SYS, subject: "$SYS.ACCOUNT.APP.DISCONNECT"}}] }
//! }
//! system_account: SYS
//! ```
//!
//! A node that loses its server for longer than [`ClusterConfig::grace`]
//! takes every other node for down, and CONSISTENT/STRONG calls fail at
//! once while it has no connection ([`ClusterError::Unavailable`]).
//!
//! **Remote monitors and links** (`relations.rs`) have Erlang's semantics:
//! when the other process ends, EXIT (with its result) to watchers, the
//! link rule to partners; when its node goes down, EXIT / link failure
//! with [`NODE_DOWN`] (`"node disconnected"`), and the nodes tell each
//! other so both sides forget the same relations.
//!
//! **Remote spawn** ([`Cluster::spawn`], target `node@host`): code is
//! never shipped, the target node starts the entry from its own app. It
//! checks `process.spawn` (entry) and `process.spawn.host` (host) for the
//! spawner's principal, and whether the spawner may give the child its
//! principal; a linked or monitored spawn records the relation before it
//! answers.
//!
//! **Security.** A record carries its asker's principal (actor id and
//! meta, the ids of its scope's policies; every node runs the same app, so
//! the same policies). The receiving node rebuilds it and runs the checks
//! itself (`process.send`, `process.monitor`, `process.link`,
//! `process.cancel`, `process.terminate` on the target's host, with the
//! boundary of the asker's host), and the kernel runs the receiving host's
//! `accept_from`; a refusal is an audit event there (`wippy::audit`) and
//! nothing is delivered. A process's principal comes from its home
//! ([`wippy_process::Home::credentials`], a [`wippy_security::Principal`]);
//! a process whose home gives none cannot act on other nodes. Nodes trust
//! each other's word on who asks: the cluster is one trust domain, kept by
//! the server's credentials and TLS.
//!
//! # Production
//!
//! Three `wippy run --cluster nats://a:4222,nats://b:4222,nats://c:4222
//! --node NAME` nodes, against a three-server NATS cluster with JetStream
//! (each `nats-server -js --cluster_name wippy --cluster nats://0.0.0.0:6222
//! --routes ...`) and the registry bucket at three replicas
//! ([`ClusterConfig::replicas`]), survive the loss of any one server. For
//! development one `nats-server -js` is enough.

mod call;
mod cluster;
mod codec;
mod config;
mod entries;
mod error;
mod frame;
mod gate;
mod inbound;
mod membership;
mod names;
mod nats_server;
mod peers;
mod registry;
mod relations;
mod router;
mod spawn;

pub use call::{Call, Completer};
pub use cluster::{Cluster, ClusterStats};
pub use codec::CodecError;
pub use config::ClusterConfig;
pub use entries::{NativeEntries, NativeEntry};
pub use error::ClusterError;
pub use names::{LOST_TOPIC, NameScope};
pub use nats_server::{NatsServer, NatsServerError};
pub use relations::NODE_DOWN;
