//! The node: the kernel every process runs on. It owns the process table, the
//! name registry, timers and the blocking pool, and implements the lifecycle
//! rules (send, spawn, link, monitor, cancel, terminate, exit).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use wippy_sched::{BlockingHandle, TimerHandle};

use crate::cell::{CancelStart, Delivery, Ending, Home, ProcessCell, Residence};
use crate::error::Error;
use crate::message::{Event, ExitError, ExitResult, Message, Topic};
use crate::names::Names;
use crate::node_id::NodeId;
use crate::payload::Payload;
use crate::pid::{HostId, Pid};
use crate::process::Process;
use crate::remote::Remote;
use crate::table::Table;

/// How long after the process table asks for a compaction (processes
/// ended) it runs: ends close together share one.
const COMPACT_AFTER: Duration = Duration::from_millis(100);

/// How a new process relates to its parent.
///
/// ```
/// use wippy_process::SpawnOptions;
/// let opts = SpawnOptions::default().linked().monitored();
/// assert!(opts.link && opts.monitor);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpawnOptions {
    /// The spawning process (needed for `link` and `monitor`).
    pub parent: Option<Pid>,
    /// Link child and parent.
    pub link: bool,
    /// The parent gets the child's EXIT event.
    pub monitor: bool,
    /// The child starts with `trap_links` set.
    pub trap_links: bool,
}

impl SpawnOptions {
    /// Spawned by `parent`.
    pub fn parent(mut self, parent: Pid) -> Self {
        self.parent = Some(parent);
        self
    }
    /// Linked to the parent.
    pub fn linked(mut self) -> Self {
        self.link = true;
        self
    }
    /// Monitored by the parent.
    pub fn monitored(mut self) -> Self {
        self.monitor = true;
        self
    }
}

/// Counters of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Processes alive now.
    pub live: usize,
    /// Processes ever spawned.
    pub spawned: u64,
    /// Processes that have ended.
    pub exited: u64,
    /// Messages and events addressed to processes that had ended.
    pub dead_letters: u64,
    /// Registered names.
    pub names: usize,
}

pub(crate) struct NodeInner {
    pub(crate) table: Table<ProcessCell>,
    pub(crate) names: Names,
    pub(crate) timers: TimerHandle,
    pub(crate) blocking: BlockingHandle,
    spawned: AtomicU64,
    exited: AtomicU64,
    dead_letters: AtomicU64,
    pub(crate) closed: AtomicBool,
    /// The node of every pid this node makes (`remote.rs`).
    pub(crate) node_id: NodeId,
    /// The router of pids of other nodes, installed once (`remote.rs`).
    pub(crate) remote: OnceLock<Arc<dyn Remote>>,
}

/// A handle to the kernel: cheap to clone, shared by every host and process.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

/// Refuses a topic of user code that starts with `@` (the runtime's).
#[inline]
fn reserved(topic: &Topic) -> Result<(), Error> {
    if topic.starts_with('@') {
        return Err(Error::ReservedTopic(topic.clone()));
    }
    Ok(())
}

impl Node {
    pub(crate) fn new(
        max_processes: usize,
        timers: TimerHandle,
        blocking: BlockingHandle,
        node_id: NodeId,
    ) -> Node {
        Node {
            inner: Arc::new(NodeInner {
                table: Table::new(max_processes),
                names: Names::default(),
                timers,
                blocking,
                spawned: AtomicU64::new(0),
                exited: AtomicU64::new(0),
                dead_letters: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                node_id,
                remote: OnceLock::new(),
            }),
        }
    }

    /// The timer service processes' sleeps and deadlines use.
    pub fn timers(&self) -> &TimerHandle {
        &self.inner.timers
    }

    /// The pool for blocking work.
    pub fn blocking(&self) -> &BlockingHandle {
        &self.inner.blocking
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        // Relaxed: statistics, read without ordering.
        NodeStats {
            live: self.inner.table.len(),
            spawned: self.inner.spawned.load(Ordering::Relaxed),
            exited: self.inner.exited.load(Ordering::Relaxed),
            dead_letters: self.inner.dead_letters.load(Ordering::Relaxed),
            names: self.inner.names.len(),
        }
    }

    /// The cell of a live process.
    pub fn cell(&self, pid: Pid) -> Option<Arc<ProcessCell>> {
        self.inner.table.get(pid.local()).filter(|c| c.pid() == pid)
    }

    /// Cells of every live process (for tools such as `wippy top`).
    pub fn cells(&self) -> Vec<Arc<ProcessCell>> {
        self.inner.table.snapshot()
    }

    /// Whether `pid` names a live process.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.with_cell(pid, |c| c.is_alive()).unwrap_or(false)
    }

    fn with_cell<R>(&self, pid: Pid, f: impl FnOnce(&Arc<ProcessCell>) -> R) -> Option<R> {
        self.inner
            .table
            .with(pid.local(), |c| (c.pid() == pid).then(|| f(c)))
            .flatten()
    }

    fn dead_letter(&self) {
        // Relaxed: a statistic.
        self.inner.dead_letters.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends a message: fire and forget, FIFO per sender→receiver pair.
    /// Topics starting with `@` are reserved ([`Error::ReservedTopic`]);
    /// a receiver whose host refuses the sender's host
    /// ([`Home::accepts`](crate::Home::accepts)) is [`Error::NotAccepted`];
    /// a receiver whose mailbox is at its bound
    /// ([`MailboxLimit`](crate::MailboxLimit)) is [`Error::MailboxFull`] or
    /// [`Error::MailboxOverMemoryLimit`] (the message is not delivered);
    /// a process that has ended (or never lived) is [`Error::NoProcess`],
    /// and the message is counted in [`NodeStats::dead_letters`].
    pub fn send(
        &self,
        from: Option<Pid>,
        to: Pid,
        topic: impl Into<Topic>,
        payload: Payload,
    ) -> Result<(), Error> {
        self.send_message(to, Message::new(from, topic, payload))
    }

    /// [`Node::send`] of a whole message (one whose payload is several
    /// values, [`Message::multi`]); its sender is `msg.from`.
    pub fn send_message(&self, to: Pid, msg: Message) -> Result<(), Error> {
        reserved(&msg.topic)?;
        if to.node() != self.inner.node_id {
            return self.send_elsewhere(to, msg);
        }
        let from = msg.from;
        let delivery = self.with_cell(to, |c| match c.accepts(from) {
            Ok(()) => c.deliver(msg),
            Err(refused) => Delivery::Refused(Box::new(refused)),
        });
        match delivery {
            Some(Delivery::Delivered) => Ok(()),
            Some(Delivery::Refused(refused)) => Err(*refused),
            Some(Delivery::Ended) | None => {
                self.dead_letter();
                Err(Error::NoProcess(to))
            }
        }
    }

    /// [`Node::send`] to the process of `cell` (from [`Node::cell`]): the
    /// same rules, without the process-table lookup. For a sender that
    /// keeps the cell of a peer it sends to over and over; the cell of a
    /// process that has ended takes no messages ([`Error::NoProcess`]).
    ///
    /// ```
    /// use wippy_process::{Payload, Runtime};
    ///
    /// let rt = Runtime::new(Default::default()).unwrap();
    /// let host = rt.native_host("doc:host", 1).unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let pid = host
    ///     .spawn_async(Default::default(), move |cx| async move {
    ///         tx.send(cx.recv().await.payload).unwrap();
    ///         Ok(Payload::Nil)
    ///     })
    ///     .unwrap();
    /// let cell = rt.node().cell(pid).unwrap();
    /// rt.node().send_to(None, &cell, "t", Payload::Int(7)).unwrap();
    /// assert_eq!(rx.recv().unwrap(), Payload::Int(7));
    /// rt.shutdown();
    /// ```
    pub fn send_to(
        &self,
        from: Option<Pid>,
        cell: &Arc<ProcessCell>,
        topic: impl Into<Topic>,
        payload: Payload,
    ) -> Result<(), Error> {
        self.send_message_to(cell, Message::new(from, topic, payload))
    }

    /// [`Node::send_to`] of a whole message (see [`Node::send_message`]).
    pub fn send_message_to(&self, cell: &Arc<ProcessCell>, msg: Message) -> Result<(), Error> {
        reserved(&msg.topic)?;
        cell.accepts(msg.from)?;
        match cell.deliver(msg) {
            Delivery::Delivered => Ok(()),
            Delivery::Refused(refused) => Err(*refused),
            Delivery::Ended => {
                self.dead_letter();
                Err(Error::NoProcess(cell.pid()))
            }
        }
    }

    /// Sends to the process registered as `name`.
    pub fn send_named(
        &self,
        from: Option<Pid>,
        name: &str,
        topic: impl Into<Topic>,
        payload: Payload,
    ) -> Result<(), Error> {
        let to = self
            .lookup(name)
            .ok_or_else(|| Error::NameNotFound(name.into()))?;
        self.send(from, to, topic, payload)
    }

    /// Creates a process that lives in `home` (a VM shard, say) and returns
    /// its cell; the caller wakes it with the home when it is ready to run.
    /// `process` is the state machine for homes that let the kernel hold it
    /// (native hosts), `None` for homes that keep their own.
    pub fn spawn_in(
        &self,
        host: HostId,
        home: Arc<dyn Home>,
        slot: u32,
        opts: SpawnOptions,
    ) -> Result<Arc<ProcessCell>, Error> {
        self.create(host, Residence::Hosted(home), slot, None, opts)
    }

    pub(crate) fn create(
        &self,
        host: HostId,
        residence: Residence,
        slot: u32,
        process: Option<Box<dyn Process>>,
        opts: SpawnOptions,
    ) -> Result<Arc<ProcessCell>, Error> {
        // Relaxed: shutdown is advisory here; a spawn racing it is drained later.
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(Error::ShutDown);
        }
        let node_id = self.inner.node_id;
        let (_, cell) = self
            .inner
            .table
            .insert_with(|key| {
                let cell = ProcessCell::new(
                    Pid::new(host, key).with_node(node_id),
                    residence,
                    slot,
                    process,
                    opts.trap_links,
                );
                if let Some(parent) = opts.parent
                    && (opts.monitor || opts.link)
                {
                    cell.relate(|rel| {
                        if opts.monitor {
                            rel.watchers.push(parent);
                        }
                        if opts.link {
                            rel.links.push(parent);
                        }
                    });
                }
                Arc::new(cell)
            })
            .ok_or(Error::TableFull {
                capacity: self.inner.table.capacity(),
            })?;
        self.inner.spawned.fetch_add(1, Ordering::Relaxed);
        if let (true, Some(parent)) = (opts.link, opts.parent) {
            let child = cell.pid();
            let linked = self.with_cell(parent, |p| p.relate(|rel| rel.links.push(child)));
            if linked.flatten().is_none() {
                cell.kill(ExitError::new(format!(
                    "linked process {parent} had already exited"
                )));
            }
        }
        Ok(cell)
    }

    /// Makes `watcher` receive an EXIT event when `target` ends. If `target`
    /// has already ended, the EXIT (error `"noproc"`) is delivered at once.
    pub fn monitor(&self, watcher: Pid, target: Pid) -> Result<(), Error> {
        if target.node() != self.inner.node_id {
            return self.monitor_elsewhere(watcher, target);
        }
        let added = self.with_cell(target, |c| c.relate(|rel| rel.watchers.push(watcher)));
        if added.flatten().is_none() {
            self.event(
                watcher,
                Event::Exit {
                    from: target,
                    result: Err(ExitError::new("noproc")),
                },
            );
        }
        Ok(())
    }

    /// Removes one monitor of `target` by `watcher`; false if there was none.
    pub fn unmonitor(&self, watcher: Pid, target: Pid) -> bool {
        if target.node() != self.inner.node_id {
            return self.unmonitor_elsewhere(watcher, target);
        }
        self.with_cell(target, |c| {
            c.unrelate(
                |rel| match rel.watchers.iter().position(|&w| w == watcher) {
                    Some(ix) => {
                        rel.watchers.remove(ix);
                        true
                    }
                    None => false,
                },
            )
        })
        .flatten()
        .unwrap_or(false)
    }

    /// Links two processes: when one ends with an error, the other gets
    /// LINK_DOWN if it traps links, and is terminated otherwise.
    pub fn link(&self, a: Pid, b: Pid) -> Result<(), Error> {
        if a == b {
            return Ok(());
        }
        if a.node() != self.inner.node_id || b.node() != self.inner.node_id {
            return self.link_elsewhere(a, b);
        }
        for (this, other) in [(b, a), (a, b)] {
            let ok = self.with_cell(this, |c| {
                c.relate(|rel| {
                    if !rel.links.contains(&other) {
                        rel.links.push(other);
                    }
                })
            });
            if ok.flatten().is_none() {
                self.unlink(a, b);
                return Err(Error::NoProcess(this));
            }
        }
        Ok(())
    }

    /// Removes the link between `a` and `b` (both sides).
    pub fn unlink(&self, a: Pid, b: Pid) {
        if a.node() != self.inner.node_id || b.node() != self.inner.node_id {
            return self.unlink_elsewhere(a, b);
        }
        for (this, other) in [(a, b), (b, a)] {
            self.with_cell(this, |c| {
                c.unrelate(|rel| rel.links.retain(|p| *p != other))
            });
        }
    }

    /// Sets whether `pid` traps links.
    pub fn set_trap_links(&self, pid: Pid, trap: bool) -> Result<(), Error> {
        self.with_cell(pid, |c| c.set_trap_links(trap))
            .ok_or(Error::NoProcess(pid))
    }

    fn event(&self, to: Pid, event: Event) {
        if !self
            .with_cell(to, |c| c.deliver_event(event))
            .unwrap_or(false)
        {
            self.dead_letter();
        }
    }

    /// Delivers CANCEL (with `reason`, `""` for none) to `target`; if it
    /// has not ended `within` the given time after it gets to see it, it is
    /// terminated with error `"cancelled: deadline exceeded"`. The time
    /// counts from when the process next runs (a process queued behind a
    /// million others is not charged for the wait), or from now if it is
    /// parked on operations, which a CANCEL does not end (see
    /// `ProcessCell::deliver_cancel`). At the deadline a parked process is
    /// terminated at once; one waiting for a worker (or running) is not
    /// charged for that wait: it is terminated when it next parks, or after
    /// a few more steps (`ProcessCell::deadline_passed`). A later cancel
    /// replaces the deadline of an earlier one.
    pub fn cancel(
        &self,
        from: Option<Pid>,
        target: Pid,
        within: Duration,
        reason: &str,
    ) -> Result<(), Error> {
        if target.node() != self.inner.node_id {
            return self.cancel_elsewhere(from, target, within, reason);
        }
        let cell = self.cell(target).ok_or(Error::NoProcess(target))?;
        match cell.deliver_cancel(from, within, reason.into()) {
            CancelStart::Ended => Err(Error::NoProcess(target)),
            CancelStart::Now => {
                self.start_cancel_deadline(&cell, within);
                Ok(())
            }
            CancelStart::AtStep => Ok(()),
        }
    }

    /// Starts the deadline of a cancel of the process of `cell`: it is
    /// killed `grace` from now unless it ends first.
    pub(crate) fn start_cancel_deadline(&self, cell: &Arc<ProcessCell>, grace: Duration) {
        let deadline = Instant::now() + grace;
        let target = cell.pid();
        let node = self.clone();
        let id = self.inner.timers.at(deadline, move || {
            node.with_cell(target, |c| c.deadline_passed());
        });
        match cell.set_cancel_timer(id, deadline) {
            Ok(Some(old)) => {
                self.inner.timers.cancel(old);
            }
            Ok(None) => {}
            Err(()) => {
                self.inner.timers.cancel(id);
            }
        }
    }

    /// Ends `target` now with error `"process terminated"` (kind Internal).
    pub fn terminate(&self, target: Pid) -> Result<(), Error> {
        if target.node() != self.inner.node_id {
            return self.terminate_elsewhere(target);
        }
        if self.kill(target, ExitError::terminated()) {
            Ok(())
        } else {
            Err(Error::NoProcess(target))
        }
    }

    /// Ends `target` before its next step with `error`; false if it had ended.
    pub fn kill(&self, target: Pid, error: ExitError) -> bool {
        self.with_cell(target, |c| c.kill(error)).unwrap_or(false)
    }

    /// Registers `name` for `pid`. A taken name is an error; the name is
    /// freed when the process ends.
    pub fn register(&self, name: &str, pid: Pid) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Error::InvalidName(name.into()));
        }
        let mut map = self.inner.names.lock();
        if let Some(&holder) = map.get(name) {
            return Err(Error::NameTaken {
                name: name.into(),
                holder,
            });
        }
        let name: Topic = name.into();
        let ok = self.with_cell(pid, |c| c.relate(|rel| rel.names.push(name.clone())));
        if ok.flatten().is_none() {
            return Err(Error::NoProcess(pid));
        }
        map.insert(name, pid);
        Ok(())
    }

    /// The pid registered as `name`.
    pub fn lookup(&self, name: &str) -> Option<Pid> {
        self.inner.names.lookup(name)
    }

    /// Frees `name`; false if it was not registered.
    pub fn unregister(&self, name: &str) -> bool {
        let mut map = self.inner.names.lock();
        let Some(pid) = map.remove(name) else {
            return false;
        };
        self.with_cell(pid, |c| c.unrelate(|rel| rel.names.retain(|n| n != name)));
        true
    }

    /// Has the process table free the memory of emptied chunks
    /// ([`COMPACT_AFTER`] from now, on the blocking pool: the compaction
    /// waits for lookups in progress, which a worker should not).
    fn compact_table_soon(&self) {
        let node = Arc::downgrade(&self.inner);
        self.inner.timers.after(COMPACT_AFTER, move || {
            let Some(inner) = node.upgrade() else { return };
            let node = Arc::downgrade(&inner);
            // A pool shut down: the runtime is going, and the table with it.
            // Again while processes ended during one (ends that emptied
            // chunks as it ran would stay otherwise).
            let _ = inner.blocking.run(move || {
                while let Some(inner) = node.upgrade() {
                    inner.table.compact();
                    if !inner.table.take_compaction_due() {
                        break;
                    }
                    drop(inner);
                    std::thread::sleep(COMPACT_AFTER);
                }
            });
        });
    }

    /// Ends the process of `cell` with `result`: frees its pid and names, and
    /// delivers EXIT to its monitors and the link rules to its links. Runners
    /// call this once, after the process's `close`.
    pub fn exit(&self, cell: &Arc<ProcessCell>, result: ExitResult) {
        let pid = cell.pid();
        let relations = match cell.end() {
            Ending::AlreadyEnded => return,
            Ending::Now(relations) => relations,
        };
        self.inner.table.remove(pid.local());
        if self.inner.table.take_compaction_due() {
            self.compact_table_soon();
        }
        self.inner.exited.fetch_add(1, Ordering::Relaxed);
        let Some(rel) = relations else { return };
        if let Some(id) = rel.cancel_timer {
            self.inner.timers.cancel(id);
        }
        self.inner.names.release(&rel.names, pid);
        for &watcher in &rel.watchers {
            self.event(
                watcher,
                Event::Exit {
                    from: pid,
                    result: result.clone(),
                },
            );
        }
        for &partner in &rel.links {
            let Some(p) = self.cell(partner) else {
                continue;
            };
            let trap = p.unlink_ended(pid);
            if let Err(error) = &result {
                if trap {
                    p.deliver_event(Event::LinkDown {
                        from: pid,
                        error: error.clone(),
                    });
                } else {
                    p.kill(ExitError::linked_failure(pid, error));
                }
            }
        }
    }

    /// Stops accepting spawns and removes every process (runtime shutdown).
    /// Their processes are dropped without `close` and without EXIT events.
    pub(crate) fn drain(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        for cell in self.inner.table.drain() {
            cell.discard();
            // SAFETY: the runtime has joined every worker before draining, so
            // no runner can be inside this process.
            drop(unsafe { cell.with_process(Option::take) });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::payload::Payload;
    use crate::runtime::Runtime;
    use std::time::{Duration, Instant};

    /// Three chunks of processes end: the node has the table compacted,
    /// and the chunks' memory goes (but for at most one: a table with one
    /// chunk is left as it is).
    #[test]
    fn ended_processes_chunks_are_freed_soon_after() {
        if !crate::grace::available() {
            eprintln!("skip: no process-wide barrier here; the table keeps its chunks");
            return;
        }
        let rt = Runtime::new(Default::default()).expect("runtime");
        let host = rt.native_host("test:host", 1).expect("host");
        let node = rt.node().clone();
        let pids: Vec<_> = (0..3 * 4096)
            .map(|_| {
                host.spawn_async(Default::default(), |cx| async move {
                    cx.recv().await;
                    Ok(Payload::Nil)
                })
                .expect("spawn")
            })
            .collect();
        assert!(node.inner.table.chunks_in_memory() >= 3);
        for &pid in &pids {
            node.terminate(pid).expect("a waiting process lives");
        }
        let until = Instant::now() + Duration::from_secs(10);
        while node.inner.table.chunks_in_memory() > 1 {
            assert!(
                Instant::now() < until,
                "{} chunks still in memory 10 s after their processes ended ({} live)",
                node.inner.table.chunks_in_memory(),
                node.stats().live
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        for &pid in pids.iter().step_by(1000) {
            assert!(!node.is_alive(pid));
        }
        rt.shutdown();
    }
}
