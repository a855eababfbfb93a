//! The other nodes: who is alive (heartbeats), and the ordered, batched
//! stream of records to each.
//!
//! # Membership
//!
//! Every node publishes a heartbeat on `<prefix>.hb.<name>` each
//! `heartbeat` and listens to everyone's. A node is *live* from its first
//! heartbeat until one of: no heartbeat for `node_timeout`; the server's
//! advisory that its connection closed; a heartbeat saying it leaves; a
//! heartbeat of the same name with a greater incarnation (it restarted);
//! this node losing its server for longer than `grace`. Then it is *down*:
//! every relation with its processes ends at once (`relations.rs`) and it
//! is told so (a [`Record::Down`](crate::frame::Record::Down)), so both
//! sides forget the same relations even when only one noticed. A node
//! taken for down that beats again is a live node anew, with no relations.
//!
//! # The stream to a node
//!
//! Records for a node are written straight into the current batch of its
//! [`Outbound`] by the thread that sends (a kernel worker), under the
//! queue's lock; the writer task publishes whole batches to the node's
//! subject. One subject and one publisher per pair of nodes is what keeps
//! a sender's records to a receiver in order (NATS keeps the order of one
//! connection's messages on a subject). The writer is woken only when a
//! record lands in an empty queue, so under load one wake-up carries many
//! records: that is the batching.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use ahash::AHashMap;
use wippy_process::{Error, NodeId};

use crate::codec::Encoder;

/// A batch is published once it holds this many bytes (and whenever the
/// writer finds the queue with records in it).
pub(crate) const BATCH_BYTES: usize = 64 << 10;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics under these locks; recover from poisoning anyway.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A live node.
pub(crate) struct Peer {
    pub(crate) id: NodeId,
    /// Where its records go: `<prefix>.node.<name>.<incarnation>`.
    pub(crate) subject: String,
    /// When it last said it is alive.
    last_seen: Mutex<Instant>,
    pub(crate) out: Outbound,
}

impl Peer {
    pub(crate) fn new(id: NodeId, subject: String, me: NodeId, max_backlog: usize) -> Peer {
        Peer {
            id,
            subject,
            last_seen: Mutex::new(Instant::now()),
            out: Outbound::new(me, max_backlog),
        }
    }

    pub(crate) fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }

    pub(crate) fn silent_for(&self) -> std::time::Duration {
        lock(&self.last_seen).elapsed()
    }
}

struct Queue {
    current: Encoder,
    ready: VecDeque<Vec<u8>>,
    /// Bytes in `ready`.
    queued: usize,
    closed: bool,
    dropped: u64,
}

/// The records waiting for one node.
pub(crate) struct Outbound {
    me: NodeId,
    max_backlog: usize,
    queue: Mutex<Queue>,
    /// Wakes the writer task (a permit is kept if it is not waiting, so no
    /// wake-up is lost).
    pub(crate) wake: tokio::sync::Notify,
}

impl Outbound {
    fn new(me: NodeId, max_backlog: usize) -> Outbound {
        Outbound {
            me,
            max_backlog,
            queue: Mutex::new(Queue {
                current: Encoder::new(me),
                ready: VecDeque::new(),
                queued: 0,
                closed: false,
                dropped: 0,
            }),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Writes one record with `write`. A record of more than `max_record`
    /// bytes is taken back and refused; past the backlog limit the record
    /// is dropped (at most once: a node that does not keep up loses
    /// messages rather than this node's memory). `node` names the peer in
    /// errors.
    pub(crate) fn push(
        &self,
        node: NodeId,
        max_record: usize,
        write: impl FnOnce(&mut Encoder),
    ) -> Result<(), Error> {
        let mut q = lock(&self.queue);
        if q.closed {
            return Err(Error::NodeNotFound(node));
        }
        if q.queued > self.max_backlog {
            q.dropped += 1;
            return Ok(());
        }
        let was_empty = q.current.is_empty() && q.ready.is_empty();
        let mark = q.current.mark();
        let before = q.current.buf.len();
        write(&mut q.current);
        let size = q.current.buf.len() - before;
        if size > max_record {
            q.current.undo(mark);
            return Err(Error::MessageTooLarge {
                size,
                max: max_record,
            });
        }
        if q.current.buf.len() >= BATCH_BYTES {
            let full = std::mem::replace(&mut q.current, Encoder::new(self.me));
            q.queued += full.buf.len();
            q.ready.push_back(full.buf);
        }
        drop(q);
        if was_empty {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Every batch waiting, the current one included, oldest first.
    pub(crate) fn take(&self) -> Vec<Vec<u8>> {
        let mut q = lock(&self.queue);
        let mut out: Vec<Vec<u8>> = q.ready.drain(..).collect();
        q.queued = 0;
        if !q.current.is_empty() {
            let current = std::mem::replace(&mut q.current, Encoder::new(self.me));
            out.push(current.buf);
        }
        out
    }

    /// Refuses further records and wakes the writer so it ends.
    pub(crate) fn close(&self) {
        lock(&self.queue).closed = true;
        self.wake.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.queue).closed
    }

    /// Records dropped because the backlog was full.
    pub(crate) fn dropped(&self) -> u64 {
        lock(&self.queue).dropped
    }
}

/// The live nodes, by identity and by name, and the ones taken for down.
#[derive(Default)]
pub(crate) struct Table {
    pub(crate) live: AHashMap<NodeId, std::sync::Arc<Peer>>,
    pub(crate) by_name: AHashMap<&'static str, NodeId>,
    /// Identities taken for down, and when (pruned after a while).
    pub(crate) down: AHashMap<NodeId, Instant>,
}

/// What a heartbeat means for the table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Beat {
    /// A live node, still alive.
    Known,
    /// A node not live before: add it. `was_down`: it had been taken for
    /// down (tell it, so it forgets its relations too). `replaces`: an
    /// older incarnation of the same name, down now.
    New {
        was_down: bool,
        replaces: Option<NodeId>,
    },
    /// A beat of an older incarnation than the live one: ignore it.
    Stale,
}

impl Table {
    /// Classifies a heartbeat of `id` (and touches a known node).
    pub(crate) fn beat(&mut self, id: NodeId) -> Beat {
        if let Some(p) = self.live.get(&id) {
            p.touch();
            return Beat::Known;
        }
        let replaces = match self.by_name.get(id.name()) {
            Some(&old) if old.incarnation() > id.incarnation() => return Beat::Stale,
            Some(&old) => Some(old),
            None => None,
        };
        if self
            .down
            .keys()
            .any(|d| d.name() == id.name() && d.incarnation() > id.incarnation())
        {
            return Beat::Stale;
        }
        Beat::New {
            was_down: self.down.remove(&id).is_some(),
            replaces,
        }
    }

    pub(crate) fn add(&mut self, peer: std::sync::Arc<Peer>) {
        self.by_name.insert(peer.id.name(), peer.id);
        self.live.insert(peer.id, peer);
    }

    /// Takes `id` out of the live nodes; its peer if it was live.
    pub(crate) fn remove(&mut self, id: NodeId) -> Option<std::sync::Arc<Peer>> {
        let peer = self.live.remove(&id)?;
        if self.by_name.get(id.name()) == Some(&id) {
            self.by_name.remove(id.name());
        }
        let now = Instant::now();
        // Forget old down marks: an hour is longer than any frame lives.
        self.down
            .retain(|_, at| now.duration_since(*at).as_secs() < 3600);
        self.down.insert(id, now);
        Some(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn peer(id: NodeId, me: NodeId) -> Arc<Peer> {
        Arc::new(Peer::new(id, "s".into(), me, 1 << 20))
    }

    #[test]
    fn heartbeats_add_nodes_replace_restarted_ones_and_ignore_stale_ones() {
        let me = NodeId::new("peers-me", 1).unwrap();
        let old = NodeId::new("peers-b", 10).unwrap();
        let new = NodeId::new("peers-b", 11).unwrap();
        let mut t = Table::default();
        assert_eq!(
            t.beat(old),
            Beat::New {
                was_down: false,
                replaces: None
            }
        );
        t.add(peer(old, me));
        assert_eq!(t.beat(old), Beat::Known);
        assert_eq!(
            t.beat(new),
            Beat::New {
                was_down: false,
                replaces: Some(old)
            }
        );
        assert!(t.remove(old).is_some());
        t.add(peer(new, me));
        assert_eq!(t.beat(old), Beat::Stale, "the restarted node's old self");
        assert!(t.remove(new).is_some());
        assert!(t.remove(new).is_none(), "down once");
        assert_eq!(
            t.beat(new),
            Beat::New {
                was_down: true,
                replaces: None
            }
        );
    }

    #[test]
    fn an_outbound_queue_batches_refuses_oversized_records_and_closes() {
        let me = NodeId::new("peers-q", 1).unwrap();
        let to = NodeId::new("peers-r", 1).unwrap();
        let out = Outbound::new(me, 1 << 20);
        out.push(to, 1000, |e| e.down()).unwrap();
        out.push(to, 1000, |e| e.down()).unwrap();
        let too_big = out.push(to, 10, |e| e.str(&"x".repeat(100)));
        assert!(matches!(too_big, Err(Error::MessageTooLarge { .. })));
        let batches = out.take();
        assert_eq!(batches.len(), 1, "two records, one batch");
        let policies = wippy_security::Policies::default();
        let mut d = crate::codec::Decoder::new(&batches[0], &policies).unwrap();
        assert!(d.record().unwrap().is_some());
        assert!(d.record().unwrap().is_some());
        assert!(
            d.record().unwrap().is_none(),
            "the refused record left nothing"
        );
        assert!(out.take().is_empty());
        out.close();
        assert!(matches!(
            out.push(to, 1000, |e| e.down()),
            Err(Error::NodeNotFound(_))
        ));
    }

    #[test]
    fn past_the_backlog_records_are_dropped_not_queued() {
        let me = NodeId::new("peers-s", 1).unwrap();
        let to = NodeId::new("peers-t", 1).unwrap();
        let out = Outbound::new(me, 0);
        let big = "y".repeat(BATCH_BYTES);
        out.push(to, usize::MAX, |e| e.str(&big)).unwrap();
        out.push(to, usize::MAX, |e| e.down()).unwrap();
        assert_eq!(out.dropped(), 1);
        assert_eq!(out.take().len(), 1);
    }
}
