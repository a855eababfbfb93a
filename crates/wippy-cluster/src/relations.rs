//! Monitors and links between processes of different nodes.
//!
//! The kernel keeps relations between local processes in their cells; a
//! relation with a process of another node is kept here instead, on both
//! nodes, so either can end it alone when the other goes away. Local
//! processes with such relations are monitored by the cluster's *agent*
//! (a native process of this node, [`Agent`]): the kernel tells it when
//! they end, and the cluster tells the other nodes.
//!
//! Semantics (Erlang's, and the kernel's for local processes):
//!
//! * A monitor delivers one EXIT when the target ends, with its result; if
//!   the target's node goes away first, the EXIT carries the error
//!   [`NODE_DOWN`]. A monitor of a process that has already ended
//!   delivers EXIT `"noproc"`.
//! * A link, when one side fails, makes the other end with
//!   `linked process <pid> failed: <error>`, or get LINK_DOWN if it traps
//!   links; a side that ends without error just removes the link. A node
//!   going away fails every link across it with [`NODE_DOWN`]. Linking to
//!   a process that has already ended fails the link with `"noproc"`.
//! * A relation is honoured only while both nodes hold it: an EXIT or a
//!   link failure that arrives for a relation this node no longer holds
//!   (it was ended by a node-down already) is dropped, so none is
//!   delivered twice.

use ahash::{AHashMap, AHashSet};
use smallvec::SmallVec;
use wippy_process::{Context, Event, NodeId, Pid, Process, Step};

/// The error watchers and linked processes get when the other process's
/// node went away (Erlang's `noconnection`).
pub const NODE_DOWN: &str = "node disconnected";

type Pids = SmallVec<[Pid; 2]>;

fn remove_one(list: &mut Pids, pid: Pid) -> bool {
    match list.iter().position(|p| *p == pid) {
        Some(ix) => {
            list.remove(ix);
            true
        }
        None => false,
    }
}

/// Every relation of a local process with a remote one.
#[derive(Default)]
pub(crate) struct Relations {
    /// Local target → its remote watchers.
    watched_from_afar: AHashMap<Pid, Pids>,
    /// Remote target → its local watchers.
    watching_afar: AHashMap<Pid, Pids>,
    /// Local watcher → the remote targets it watches.
    watches_of: AHashMap<Pid, Pids>,
    /// Local process → its remote partners.
    links_here: AHashMap<Pid, Pids>,
    /// Remote process → its local partners.
    links_afar: AHashMap<Pid, Pids>,
    /// Local processes the agent monitors.
    agent_watches: AHashSet<Pid>,
}

/// What the other nodes must hear of a local process that ended.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Ended {
    /// Its remote watchers (each gets an EXIT).
    pub(crate) watchers: Vec<Pid>,
    /// Its remote partners (each gets the link rule).
    pub(crate) partners: Vec<Pid>,
    /// Remote targets it watched (their nodes forget the monitor).
    pub(crate) watched: Vec<Pid>,
}

/// What local processes must hear of a node that went away.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct NodeGone {
    /// (remote target, local watcher): EXIT with [`NODE_DOWN`].
    pub(crate) exits: Vec<(Pid, Pid)>,
    /// (remote partner, local process): the link rule with [`NODE_DOWN`].
    pub(crate) links: Vec<(Pid, Pid)>,
}

impl Relations {
    /// Marks `local` as monitored by the agent; true if it was not yet
    /// (the caller makes the kernel monitor).
    pub(crate) fn agent_must_watch(&mut self, local: Pid) -> bool {
        self.agent_watches.insert(local)
    }

    pub(crate) fn add_remote_watcher(&mut self, target: Pid, watcher: Pid) {
        self.watched_from_afar
            .entry(target)
            .or_default()
            .push(watcher);
    }

    pub(crate) fn remove_remote_watcher(&mut self, target: Pid, watcher: Pid) -> bool {
        let Some(list) = self.watched_from_afar.get_mut(&target) else {
            return false;
        };
        let found = remove_one(list, watcher);
        if list.is_empty() {
            self.watched_from_afar.remove(&target);
        }
        found
    }

    pub(crate) fn add_local_watcher(&mut self, target: Pid, watcher: Pid) {
        self.watching_afar.entry(target).or_default().push(watcher);
        self.watches_of.entry(watcher).or_default().push(target);
    }

    /// Removes one monitor of remote `target` by local `watcher`.
    pub(crate) fn remove_local_watcher(&mut self, target: Pid, watcher: Pid) -> bool {
        let Some(list) = self.watching_afar.get_mut(&target) else {
            return false;
        };
        if !remove_one(list, watcher) {
            return false;
        }
        if list.is_empty() {
            self.watching_afar.remove(&target);
        }
        if let Some(of) = self.watches_of.get_mut(&watcher) {
            remove_one(of, target);
            if of.is_empty() {
                self.watches_of.remove(&watcher);
            }
        }
        true
    }

    /// Links `local` and `remote` (once).
    pub(crate) fn add_link(&mut self, local: Pid, remote: Pid) {
        let here = self.links_here.entry(local).or_default();
        if !here.contains(&remote) {
            here.push(remote);
            self.links_afar.entry(remote).or_default().push(local);
        }
    }

    /// Unlinks `local` and `remote`; false if they were not linked.
    pub(crate) fn remove_link(&mut self, local: Pid, remote: Pid) -> bool {
        let found = self
            .links_here
            .get_mut(&local)
            .is_some_and(|l| remove_one(l, remote));
        if found {
            if self.links_here.get(&local).is_some_and(|l| l.is_empty()) {
                self.links_here.remove(&local);
            }
            if let Some(l) = self.links_afar.get_mut(&remote) {
                remove_one(l, local);
                if l.is_empty() {
                    self.links_afar.remove(&remote);
                }
            }
        }
        found
    }

    /// Forgets every relation of the local process `pid`, which ended.
    pub(crate) fn local_ended(&mut self, pid: Pid) -> Ended {
        self.agent_watches.remove(&pid);
        let watchers = self
            .watched_from_afar
            .remove(&pid)
            .map(|l| l.into_vec())
            .unwrap_or_default();
        let partners: Vec<Pid> = self
            .links_here
            .remove(&pid)
            .map(|l| l.into_vec())
            .unwrap_or_default();
        for r in &partners {
            if let Some(l) = self.links_afar.get_mut(r) {
                remove_one(l, pid);
                if l.is_empty() {
                    self.links_afar.remove(r);
                }
            }
        }
        let watched: Vec<Pid> = self
            .watches_of
            .remove(&pid)
            .map(|l| l.into_vec())
            .unwrap_or_default();
        for t in &watched {
            if let Some(l) = self.watching_afar.get_mut(t) {
                l.retain(|w| *w != pid);
                if l.is_empty() {
                    self.watching_afar.remove(t);
                }
            }
        }
        Ended {
            watchers,
            partners,
            watched,
        }
    }

    /// Forgets every relation with processes of `node`, which went away.
    pub(crate) fn node_gone(&mut self, node: NodeId) -> NodeGone {
        let mut gone = NodeGone::default();
        let targets: Vec<Pid> = self
            .watching_afar
            .keys()
            .filter(|p| p.node() == node)
            .copied()
            .collect();
        for t in targets {
            for w in self.watching_afar.remove(&t).unwrap_or_default() {
                if let Some(of) = self.watches_of.get_mut(&w) {
                    remove_one(of, t);
                    if of.is_empty() {
                        self.watches_of.remove(&w);
                    }
                }
                gone.exits.push((t, w));
            }
        }
        let partners: Vec<Pid> = self
            .links_afar
            .keys()
            .filter(|p| p.node() == node)
            .copied()
            .collect();
        for r in partners {
            for l in self.links_afar.remove(&r).unwrap_or_default() {
                if let Some(here) = self.links_here.get_mut(&l) {
                    remove_one(here, r);
                    if here.is_empty() {
                        self.links_here.remove(&l);
                    }
                }
                gone.links.push((r, l));
            }
        }
        self.watched_from_afar.retain(|_, ws| {
            ws.retain(|w| w.node() != node);
            !ws.is_empty()
        });
        gone
    }

    /// Relations held, for statistics: (monitors, links).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let monitors = self
            .watched_from_afar
            .values()
            .map(|l| l.len())
            .sum::<usize>()
            + self.watching_afar.values().map(|l| l.len()).sum::<usize>();
        let links = self.links_here.values().map(|l| l.len()).sum();
        (monitors, links)
    }
}

/// What the agent does with the EXIT of a process it monitors.
pub(crate) type OnExit = Box<dyn Fn(Pid, &wippy_process::ExitResult) + Send>;

/// The cluster's native process: it monitors local processes that have
/// relations with remote ones (or hold global names) and reports each
/// EXIT to the cluster.
pub(crate) struct Agent {
    pub(crate) on_exit: OnExit,
}

impl Process for Agent {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        while let Some(event) = cx.next_event() {
            if let Event::Exit { from, result } = event {
                (self.on_exit)(from, &result);
            }
        }
        // Nobody has a reason to message the agent; drop what comes.
        while cx.recv().is_some() {}
        Step::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wippy_process::HostId;

    fn pids() -> (Pid, Pid, Pid, NodeId) {
        let h = HostId::intern("rel:h");
        let me = NodeId::new("rel-a", 1).unwrap();
        let them = NodeId::new("rel-b", 1).unwrap();
        (
            Pid::new(h, 1).with_node(me),
            Pid::new(h, 2).with_node(them),
            Pid::new(h, 3).with_node(them),
            them,
        )
    }

    #[test]
    fn a_local_end_reports_watchers_partners_and_what_it_watched_once() {
        let (l, r1, r2, _) = pids();
        let mut rel = Relations::default();
        rel.add_remote_watcher(l, r1);
        rel.add_link(l, r2);
        rel.add_link(l, r2);
        rel.add_local_watcher(r1, l);
        assert_eq!(rel.counts(), (2, 1));
        assert_eq!(
            rel.local_ended(l),
            Ended {
                watchers: vec![r1],
                partners: vec![r2],
                watched: vec![r1]
            }
        );
        assert_eq!(rel.local_ended(l), Ended::default());
        assert_eq!(rel.counts(), (0, 0));
    }

    #[test]
    fn a_node_gone_ends_every_relation_with_its_processes() {
        let (l, r1, r2, them) = pids();
        let mut rel = Relations::default();
        rel.add_local_watcher(r1, l);
        rel.add_local_watcher(r1, l);
        rel.add_link(l, r2);
        rel.add_remote_watcher(l, r2);
        let gone = rel.node_gone(them);
        assert_eq!(gone.exits, vec![(r1, l), (r1, l)]);
        assert_eq!(gone.links, vec![(r2, l)]);
        assert_eq!(rel.counts(), (0, 0));
        assert!(!rel.remove_local_watcher(r1, l), "already gone");
        assert!(!rel.remove_link(l, r2));
    }

    #[test]
    fn monitors_and_links_are_removed_one_at_a_time() {
        let (l, r1, r2, _) = pids();
        let mut rel = Relations::default();
        rel.add_local_watcher(r1, l);
        rel.add_local_watcher(r1, l);
        assert!(rel.remove_local_watcher(r1, l));
        assert!(rel.remove_local_watcher(r1, l));
        assert!(!rel.remove_local_watcher(r1, l));
        rel.add_link(l, r2);
        assert!(rel.remove_link(l, r2));
        assert!(!rel.remove_link(l, r2));
        rel.add_remote_watcher(l, r1);
        assert!(rel.remove_remote_watcher(l, r1));
        assert!(!rel.remove_remote_watcher(l, r1));
    }
}
