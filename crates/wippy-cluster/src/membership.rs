//! Which nodes are live (see `peers.rs` for the rules): heartbeats,
//! silence, the server's disconnect advisories, the connection's own
//! state, and what a node going down does here.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use wippy_process::NodeId;

use crate::cluster::{Pending, frames_subject};
use crate::cluster::{Shared, lock};
use crate::codec::Encoder;
use crate::error::ClusterError;
use crate::names;
use crate::peers::{Beat, Peer};

impl Shared {
    pub(crate) async fn beat(&self, leaving: bool) {
        let subject = format!("{}.hb.{}", self.config.prefix, self.me.name());
        let text = if leaving {
            format!("{} leaving", self.me)
        } else {
            self.me.to_string()
        };
        let _ = self.client.publish(subject, Bytes::from(text)).await;
    }

    /// Heartbeats, silence and server-loss checks, and the registry sweep.
    pub(crate) async fn tick(self: Arc<Self>) {
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

    pub(crate) fn connected(&self) -> bool {
        lock(&self.conn).connected
    }

    pub(crate) async fn follow_connection(
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

    pub(crate) async fn read_beats(self: Arc<Self>, mut beats: async_nats::Subscriber) {
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
    pub(crate) fn node_beats(self: &Arc<Self>, id: NodeId) {
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
        // Beat back at once: a node that just joined learns of this one
        // now, not a heartbeat later.
        let me = self.clone();
        self.handle.spawn(async move { me.beat(false).await });
        if was_down {
            // It may still hold relations we ended: tell it to end them.
            let _ = peer.out.push(id, self.max_record, |e| e.down());
        }
    }

    /// A batch from `id` came: it is alive (a heartbeat need not come
    /// first). Whether it is a live node now.
    pub(crate) fn alive(self: &Arc<Self>, id: NodeId) -> bool {
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
    pub(crate) async fn write_frames(self: Arc<Self>, peer: Arc<Peer>) {
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

    pub(crate) async fn answer_claims(self: Arc<Self>, mut claims: async_nats::Subscriber) {
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
    pub(crate) async fn read_advisories(self: Arc<Self>, mut advisories: async_nats::Subscriber) {
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
}
