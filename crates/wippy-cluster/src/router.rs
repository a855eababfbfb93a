//! The kernel's router of pids of other nodes: each operation becomes a
//! record in the ordered stream to the pid's node.

use std::time::Duration;

use wippy_process::{Credentials, Error, Pid};

use crate::cluster::{Router, lock};
use crate::gate::asker;

impl wippy_process::Remote for Router {
    fn send(&self, by: Credentials, to: Pid, msg: wippy_process::Message) -> Result<(), Error> {
        let s = &self.shared;
        let asker = asker(&by, msg.from)?;
        s.push(to.node(), |e| {
            e.message(asker, msg.from, to, &msg.topic, &msg.payload, msg.multi)
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
        reason: &str,
    ) -> Result<(), Error> {
        let asker = asker(&by, from)?;
        self.shared.push(target.node(), |e| {
            e.cancel(asker, from, target, within, reason)
        })
    }

    fn terminate(&self, by: Credentials, target: Pid) -> Result<(), Error> {
        let asker = asker(&by, None)?;
        self.shared
            .push(target.node(), |e| e.terminate(asker, target))
    }
}
