//! The kernel's one door to other nodes: a pid whose node is not this node
//! is handed to a [`Remote`] router (the cluster crate installs one with
//! [`Node::set_remote`]); everything else stays local and takes the paths
//! it took before clusters existed.
//!
//! The rules of this hook:
//!
//! * Only the node of a pid decides. A pid of this node goes the local way
//!   at the cost of one compare (`Node::send` and the other operations
//!   test `pid.node() != node_id` first, and the other branch is out of
//!   line). A pid written without a node (`{host|0x1f}`, node
//!   [`NodeId::LOCAL`]) means this node, and is re-read as one here.
//! * The kernel never waits for another node. Every [`Remote`] method
//!   returns at once; what happens over there comes back later as messages
//!   and events (an EXIT, a LINK_DOWN), delivered with
//!   [`Node::deliver_event`] and [`Node::link_down`].
//! * Who asks is passed along ([`Credentials`]), so the other node can run
//!   its own checks on the asker's actor: the kernel knows no security
//!   types, so a process's principal is whatever its [`Home`](crate::Home)
//!   says ([`Home::credentials`](crate::Home::credentials)), type-erased.
//! * Without a router (a runtime in no cluster), a pid of another node is
//!   [`Error::NodeNotFound`].

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::cell::Residence;
use crate::error::Error;
use crate::message::{Event, ExitError, Message};
use crate::node::Node;
use crate::node_id::NodeId;
use crate::pid::Pid;

/// What a process acts as, as its home gives it (a principal of the
/// security layer), type-erased for the kernel.
pub type Credential = Arc<dyn Any + Send + Sync>;

/// Who asks another node for something.
#[derive(Clone)]
pub enum Credentials {
    /// Rust code of the runtime itself: a native process, or no process at
    /// all (the CLI, a host). Trusted: it acts as the system.
    Runtime,
    /// A process whose home said what it acts as.
    Process(Credential),
    /// A process whose home could not say: other nodes refuse it.
    Unknown(Pid),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Runtime => f.write_str("Runtime"),
            Credentials::Process(_) => f.write_str("Process(..)"),
            Credentials::Unknown(pid) => write!(f, "Unknown({pid})"),
        }
    }
}

/// The router of operations on processes of other nodes (the cluster
/// crate's). Each method is called with a pid whose node is neither this
/// node nor [`NodeId::LOCAL`], must not block, and reports what happens
/// over there later (see the module doc). Errors are for what can be known
/// at once: a node that is not there, a message too large, an asker
/// without credentials.
pub trait Remote: Any + Send + Sync {
    /// Sends `msg` (from `msg.from`) to `to`: at most once, in order with
    /// every other message and signal from the same sender to the same
    /// receiver.
    fn send(&self, by: Credentials, to: Pid, msg: Message) -> Result<(), Error>;

    /// Makes local `watcher` get an EXIT when `target` ends (or its node
    /// goes away).
    fn monitor(&self, by: Credentials, watcher: Pid, target: Pid) -> Result<(), Error>;

    /// Removes one monitor of `target` by local `watcher`; false if there
    /// was none.
    fn unmonitor(&self, watcher: Pid, target: Pid) -> bool;

    /// Links local process `local` and `remote`.
    fn link(&self, by: Credentials, local: Pid, remote: Pid) -> Result<(), Error>;

    /// Removes the link between local `local` and `remote`.
    fn unlink(&self, local: Pid, remote: Pid);

    /// Delivers CANCEL to `target` (see [`Node::cancel`]).
    fn cancel(
        &self,
        by: Credentials,
        from: Option<Pid>,
        target: Pid,
        within: Duration,
        reason: &str,
    ) -> Result<(), Error>;

    /// Ends `target` with error `"terminated"`.
    fn terminate(&self, by: Credentials, target: Pid) -> Result<(), Error>;
}

/// Where an operation on a pid that is not plainly this node's goes.
pub(crate) enum Elsewhere<'a> {
    /// A pid written without a node: this node's pid, re-made.
    Here(Pid),
    /// Another node's, through the router.
    Remote(&'a Arc<dyn Remote>),
}

impl Node {
    /// This node's identity ([`NodeId::LOCAL`] in no cluster): the node of
    /// every pid it makes.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// Installs the router of pids of other nodes. Once: a second router is
    /// handed back.
    pub fn set_remote(&self, remote: Arc<dyn Remote>) -> Result<(), Arc<dyn Remote>> {
        self.inner.remote.set(remote)
    }

    /// The router of pids of other nodes, if one is installed.
    pub fn remote(&self) -> Option<&Arc<dyn Remote>> {
        self.inner.remote.get()
    }

    /// Who `pid` (a sender, a watcher) acts as when it asks another node
    /// for something: [`Credentials::Runtime`] for no process, a native
    /// process or a pid that is not a live local process (only Rust code
    /// can pass one); otherwise what the process's home says.
    pub fn credentials(&self, pid: Option<Pid>) -> Credentials {
        let Some(cell) = pid.and_then(|p| self.cell(p)) else {
            return Credentials::Runtime;
        };
        match cell.residence() {
            Residence::Native(_) => Credentials::Runtime,
            Residence::Hosted(home) => match home.credentials(&cell) {
                Some(c) => Credentials::Process(c),
                None => Credentials::Unknown(cell.pid()),
            },
        }
    }

    /// Delivers `event` to the local process `to` (the router delivering an
    /// EXIT of a remote process to its local watcher); false if `to` has
    /// ended.
    pub fn deliver_event(&self, to: Pid, event: Event) -> bool {
        self.cell(to).is_some_and(|c| c.deliver_event(event))
    }

    /// Applies the link rule to the local process `target` whose linked
    /// partner `from` (a process of another node) failed with `error`:
    /// LINK_DOWN if it traps links, else it ends with
    /// `"linked process {from} failed: {error}"`. False if `target` has
    /// ended.
    pub fn link_down(&self, target: Pid, from: Pid, error: ExitError) -> bool {
        let Some(cell) = self.cell(target) else {
            return false;
        };
        if cell.trap_links() {
            cell.deliver_event(Event::LinkDown { from, error })
        } else {
            cell.kill(ExitError::new(format!(
                "linked process {from} failed: {error}"
            )))
        }
    }

    /// Where an operation on `pid`, whose node is not this node's, goes.
    #[cold]
    #[inline(never)]
    pub(crate) fn elsewhere(&self, pid: Pid) -> Result<Elsewhere<'_>, Error> {
        if pid.node().is_local() {
            return Ok(Elsewhere::Here(pid.with_node(self.inner.node_id)));
        }
        match self.inner.remote.get() {
            Some(r) => Ok(Elsewhere::Remote(r)),
            None => Err(Error::NodeNotFound(pid.node())),
        }
    }

    /// [`Node::send`] of `msg` to a pid of another node.
    #[cold]
    #[inline(never)]
    pub(crate) fn send_elsewhere(&self, to: Pid, msg: Message) -> Result<(), Error> {
        match self.elsewhere(to)? {
            Elsewhere::Here(to) => self.send_message(to, msg),
            Elsewhere::Remote(r) => r.send(self.credentials(msg.from), to, msg),
        }
    }

    #[cold]
    pub(crate) fn monitor_elsewhere(&self, watcher: Pid, target: Pid) -> Result<(), Error> {
        match self.elsewhere(target)? {
            Elsewhere::Here(target) => self.monitor(watcher, target),
            Elsewhere::Remote(r) => r.monitor(self.credentials(Some(watcher)), watcher, target),
        }
    }

    #[cold]
    pub(crate) fn unmonitor_elsewhere(&self, watcher: Pid, target: Pid) -> bool {
        match self.elsewhere(target) {
            Ok(Elsewhere::Here(target)) => self.unmonitor(watcher, target),
            Ok(Elsewhere::Remote(r)) => r.unmonitor(watcher, target),
            Err(_) => false,
        }
    }

    /// The local and the remote side of a link one of whose pids is not
    /// plainly this node's; `None` when both are (after re-reading pids
    /// written without a node).
    fn link_sides(&self, a: Pid, b: Pid) -> Result<LinkSides<'_>, Error> {
        let here = |p: Pid| {
            if p.node().is_local() {
                p.with_node(self.inner.node_id)
            } else {
                p
            }
        };
        let (a, b) = (here(a), here(b));
        let id = self.inner.node_id;
        match (a.node() == id, b.node() == id) {
            (true, true) => Ok(LinkSides::Local(a, b)),
            (true, false) => self.router(b).map(|r| LinkSides::Remote(r, a, b)),
            (false, true) => self.router(a).map(|r| LinkSides::Remote(r, b, a)),
            // A link is made by one of its two processes: two processes of
            // other nodes are none of this node's business.
            (false, false) => Err(Error::NoProcess(a)),
        }
    }

    fn router(&self, pid: Pid) -> Result<&Arc<dyn Remote>, Error> {
        self.inner
            .remote
            .get()
            .ok_or(Error::NodeNotFound(pid.node()))
    }

    #[cold]
    pub(crate) fn link_elsewhere(&self, a: Pid, b: Pid) -> Result<(), Error> {
        match self.link_sides(a, b)? {
            LinkSides::Local(a, b) => self.link(a, b),
            LinkSides::Remote(r, local, remote) => {
                r.link(self.credentials(Some(local)), local, remote)
            }
        }
    }

    #[cold]
    pub(crate) fn unlink_elsewhere(&self, a: Pid, b: Pid) {
        match self.link_sides(a, b) {
            Ok(LinkSides::Local(a, b)) => self.unlink(a, b),
            Ok(LinkSides::Remote(r, local, remote)) => r.unlink(local, remote),
            Err(_) => {}
        }
    }

    #[cold]
    pub(crate) fn cancel_elsewhere(
        &self,
        from: Option<Pid>,
        target: Pid,
        within: Duration,
        reason: &str,
    ) -> Result<(), Error> {
        match self.elsewhere(target)? {
            Elsewhere::Here(target) => self.cancel(from, target, within, reason),
            Elsewhere::Remote(r) => r.cancel(self.credentials(from), from, target, within, reason),
        }
    }

    #[cold]
    pub(crate) fn terminate_elsewhere(&self, target: Pid) -> Result<(), Error> {
        match self.elsewhere(target)? {
            Elsewhere::Here(target) => self.terminate(target),
            // `Node::terminate` does not say who asks: callers that act for
            // a process use the router's own API with their credentials.
            Elsewhere::Remote(r) => r.terminate(Credentials::Runtime, target),
        }
    }
}

enum LinkSides<'a> {
    Local(Pid, Pid),
    /// Router, local pid, remote pid.
    Remote(&'a Arc<dyn Remote>, Pid, Pid),
}
