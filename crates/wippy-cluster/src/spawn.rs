//! Remote spawn: the order a spawner's node sends, the target node's
//! checks and spawn, and the answer, which records a link or monitor on
//! both sides before the spawner hears of the child.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use wippy_process::{NodeId, Pid, SpawnOptions};

use crate::cluster::{Shared, lock};
use wippy_security::Principal;

use crate::call::Call;
use crate::cluster::{Pending, principal_asker};
use crate::error::ClusterError;

impl Shared {
    /// A remote spawn asked of this node.
    pub(crate) fn spawn_here(
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
    pub(crate) fn spawn_remote(
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
    pub(crate) fn spawn_answered(&self, sender: NodeId, call: u64, result: Result<Pid, String>) {
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
}
