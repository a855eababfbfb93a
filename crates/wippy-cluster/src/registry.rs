//! The global registry's operations (the rules are in `names.rs`):
//! registering in each scope, STRONG acknowledgements, re-asserting and
//! sweeping.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use wippy_process::{Error, NodeId, Pid};

use crate::call::Call;
use crate::cluster::rpc_subject;
use crate::cluster::{Shared, lock};
use crate::error::ClusterError;
use crate::names::{self, Bound, Change, Mine, NameScope};

impl Shared {
    /// Requests to this node: STRONG registration acknowledgements.
    pub(crate) async fn answer_rpc(self: Arc<Self>, mut rpc: async_nats::Subscriber) {
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

    pub(crate) fn register(
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
    pub(crate) async fn register_durably(
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
    pub(crate) async fn acknowledge(
        &self,
        name: &str,
        pid: Pid,
        revision: u64,
    ) -> Result<(), ClusterError> {
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
    pub(crate) async fn assert_name(self: &Arc<Self>, name: &str, pid: Pid, scope: NameScope) {
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
    pub(crate) fn lost(&self, name: &str, pid: Pid, holder: Pid) {
        tracing::info!(name, %pid, %holder, "global registry: name lost to another process");
        let _ = self.node.send(
            None,
            pid,
            names::LOST_TOPIC,
            names::lost_message(name, holder),
        );
    }

    pub(crate) fn on_name_change(self: &Arc<Self>, change: Change) {
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

    pub(crate) async fn reassert_all(self: &Arc<Self>) {
        for (name, m) in self.names.all_mine() {
            if self.node.is_alive(m.pid) {
                self.assert_name(&name, m.pid, m.scope).await;
            }
        }
    }

    /// Deletes names whose node is neither live nor this one, once this
    /// node has been connected long enough to have heard every live node.
    pub(crate) fn sweep_names(self: &Arc<Self>) {
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

/// A STRONG registration's request to a node.
#[derive(serde::Serialize, serde::Deserialize)]
struct Ack {
    name: String,
    pid: Pid,
    revision: u64,
}
