//! Records from other nodes, applied in the order they were sent, and
//! what this node tells others when one of its processes ends.

use std::sync::Arc;

use futures_util::StreamExt;
use wippy_process::{Error, Event, ExitError, ExitResult, NodeId, Pid};

use crate::cluster::{Shared, lock};
use crate::names;
use crate::relations::{NODE_DOWN, Relations};

impl Shared {
    /// Ends every relation between our processes and `id`'s.
    pub(crate) fn forget_relations(&self, id: NodeId) {
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
    pub(crate) fn agent_watch(&self, rel: &mut Relations, local: Pid) {
        if rel.agent_must_watch(local) {
            let _ = self.node.monitor(self.agent, local);
        }
    }

    /// A local process with relations across nodes (or global names)
    /// ended: the agent's report.
    pub(crate) fn local_ended(self: &Arc<Self>, pid: Pid, result: &ExitResult) {
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

    pub(crate) async fn read_frames(self: Arc<Self>, mut frames: async_nats::Subscriber) {
        while let Some(msg) = frames.next().await {
            self.apply_batch(&msg.payload);
        }
    }

    /// Applies one batch of records from another node, in order.
    pub(crate) fn apply_batch(self: &Arc<Self>, bytes: &[u8]) {
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

    pub(crate) fn apply(
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
                multi,
            } => {
                if !ok(from, to)
                    || self
                        .gate
                        .check_on(d.resolved(asker), from, "process.send", to)
                        .is_err()
                {
                    return;
                }
                let message = wippy_process::Message::with(from, topic, payload, multi);
                match self.node.send_message(to, message) {
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
                reason,
            } => {
                if ok(from, target)
                    && self
                        .gate
                        .check_on(d.resolved(asker), from, "process.cancel", target)
                        .is_ok()
                {
                    let _ = self.node.cancel(from, target, within, &reason);
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
}
