//! A supervisor's children: slots in a table, found by slot (stable while
//! the child is known), by current pid (O(1), for EXIT events) and by id;
//! start order kept as a sequence number.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use wippy_process::{ExitError, Payload, Pid};

use crate::crashlog::CrashLog;
use crate::spec::ChildSpec;
use crate::supervisor::{ChildCounts, ChildInfo, ChildState, Supervisor};

/// One child and what the supervisor remembers of it.
pub(crate) struct Child {
    pub(crate) spec: Arc<ChildSpec>,
    /// Start order: children added later have a higher number.
    pub(crate) seq: u64,
    /// The arguments of a `simple_one_for_one` instance (empty otherwise).
    pub(crate) args: Vec<Payload>,
    pub(crate) pid: Option<Pid>,
    pub(crate) state: ChildState,
    /// When its current (or latest) run started.
    pub(crate) started: Instant,
    pub(crate) restarts: u32,
    /// Failed runs in a row (for its backoff).
    pub(crate) failures: u32,
    pub(crate) last_error: Option<ExitError>,
    /// When its pending restart is due, if one is.
    pub(crate) due: Option<Instant>,
    /// The handle of the supervisor it runs, if it is one.
    pub(crate) nested: Option<Supervisor>,
    /// How many of its crashes were logged (a crash loop is summarised).
    pub(crate) crashes: CrashLog,
}

/// Invariant: `by_pid` maps exactly the `pid`s of the children in `slots`
/// that are `Some` (so an EXIT from a process the supervisor has already
/// stopped or forgotten finds nothing).
#[derive(Default)]
pub(crate) struct Children {
    slots: Vec<Option<Child>>,
    free: Vec<usize>,
    by_pid: HashMap<Pid, usize>,
    next_seq: u64,
}

impl Children {
    /// Adds a child (not started); its slot.
    pub(crate) fn insert(&mut self, spec: Arc<ChildSpec>, args: Vec<Payload>) -> usize {
        let child = Child {
            spec,
            seq: self.next_seq,
            args,
            pid: None,
            state: ChildState::Restarting,
            started: Instant::now(),
            restarts: 0,
            failures: 0,
            last_error: None,
            due: None,
            nested: None,
            crashes: CrashLog::default(),
        };
        self.next_seq += 1;
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(child);
                slot
            }
            None => {
                self.slots.push(Some(child));
                self.slots.len() - 1
            }
        }
    }

    /// Forgets the child in `slot`.
    pub(crate) fn remove(&mut self, slot: usize) -> Option<Child> {
        let child = self.slots.get_mut(slot)?.take()?;
        if let Some(pid) = child.pid {
            self.by_pid.remove(&pid);
        }
        self.free.push(slot);
        Some(child)
    }

    pub(crate) fn get(&self, slot: usize) -> Option<&Child> {
        self.slots.get(slot)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut Child> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// Whether `slot` still holds the child numbered `seq`.
    pub(crate) fn holds(&self, slot: usize, seq: u64) -> bool {
        self.get(slot).is_some_and(|c| c.seq == seq)
    }

    /// Records that the child in `slot` runs as `pid`.
    pub(crate) fn set_pid(&mut self, slot: usize, pid: Pid) {
        if let Some(child) = self.get_mut(slot) {
            if let Some(old) = child.pid.replace(pid) {
                self.by_pid.remove(&old);
            }
            self.by_pid.insert(pid, slot);
        }
    }

    /// Takes the pid of the child in `slot` (it is no longer running).
    pub(crate) fn take_pid(&mut self, slot: usize) -> Option<Pid> {
        let pid = self.get_mut(slot)?.pid.take()?;
        self.by_pid.remove(&pid);
        Some(pid)
    }

    /// The slot of the child running as `pid`, which is no longer running.
    pub(crate) fn ended(&mut self, pid: Pid) -> Option<usize> {
        let slot = self.by_pid.remove(&pid)?;
        if let Some(child) = self.get_mut(slot) {
            child.pid = None;
        }
        Some(slot)
    }

    /// The slot of the child running as `pid`.
    pub(crate) fn slot_of_pid(&self, pid: Pid) -> Option<usize> {
        self.by_pid.get(&pid).copied()
    }

    /// The slot of the (first) child with `id`.
    pub(crate) fn slot_of_id(&self, id: &str) -> Option<usize> {
        self.in_order()
            .into_iter()
            .find(|&s| self.get(s).is_some_and(|c| &*c.spec.id == id))
    }

    /// The slots of the children in start order.
    pub(crate) fn in_order(&self) -> Vec<usize> {
        let mut slots: Vec<(u64, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, c)| c.as_ref().map(|c| (c.seq, slot)))
            .collect();
        slots.sort_unstable();
        slots.into_iter().map(|(_, slot)| slot).collect()
    }

    /// The pids of the children that run (any order).
    pub(crate) fn running(&self) -> impl Iterator<Item = Pid> + '_ {
        self.by_pid.keys().copied()
    }

    /// What `which_children` reports.
    pub(crate) fn infos(&self) -> Vec<ChildInfo> {
        self.in_order()
            .into_iter()
            .filter_map(|s| self.get(s))
            .map(|c| ChildInfo {
                id: c.spec.id.to_string(),
                pid: c.pid,
                kind: c.spec.kind,
                state: c.state,
                restarts: c.restarts,
                last_error: c.last_error.clone(),
                supervisor: c.nested.clone(),
            })
            .collect()
    }

    /// What `count_children` reports.
    pub(crate) fn counts(&self) -> ChildCounts {
        let mut counts = ChildCounts::default();
        for c in self.slots.iter().flatten() {
            counts.specs += 1;
            if c.pid.is_some() {
                counts.active += 1;
            }
            match c.spec.kind {
                crate::ChildKind::Worker => counts.workers += 1,
                crate::ChildKind::Supervisor => counts.supervisors += 1,
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wippy_process::HostId;

    fn spec(id: &str) -> Arc<ChildSpec> {
        Arc::new(ChildSpec::new(id, |_, _| Err("never started".into())))
    }

    fn pid(n: u64) -> Pid {
        Pid::new(HostId::intern("test:children"), n)
    }

    #[test]
    fn slots_are_reused_but_start_order_is_kept() {
        let mut kids = Children::default();
        let a = kids.insert(spec("a"), vec![]);
        let b = kids.insert(spec("b"), vec![]);
        kids.remove(a);
        let c = kids.insert(spec("c"), vec![]);
        assert_eq!(c, a, "the freed slot is reused");
        let ids: Vec<_> = kids.infos().into_iter().map(|i| i.id).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(kids.slot_of_id("b"), Some(b));
    }

    #[test]
    fn an_exit_finds_its_child_once() {
        let mut kids = Children::default();
        let a = kids.insert(spec("a"), vec![]);
        kids.set_pid(a, pid(1));
        kids.set_pid(a, pid(2));
        assert_eq!(kids.ended(pid(1)), None, "a replaced pid is forgotten");
        assert_eq!(kids.ended(pid(2)), Some(a));
        assert_eq!(kids.ended(pid(2)), None);
        assert_eq!(kids.counts().active, 0);
    }
}
