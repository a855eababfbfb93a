//! The runtime: owns the node, its timer service, blocking pool and the
//! schedulers of native hosts, and shuts them down in order.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use wippy_sched::{BlockingPool, Config as SchedConfig, Scheduler, TimerService};

use crate::error::Error;
use crate::native::NativeHost;
use crate::node::Node;
use crate::node_id::NodeId;
use crate::pid::HostId;

/// Runtime settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Most processes alive at once.
    pub max_processes: usize,
    /// Threads of the blocking pool.
    pub blocking_threads: usize,
    /// The node's identity in a cluster, the node of every pid it makes
    /// ([`NodeId::LOCAL`] for a runtime in no cluster).
    pub node: NodeId,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_processes: 1 << 24,
            blocking_threads: 16,
            node: NodeId::LOCAL,
        }
    }
}

/// Owns a node and everything that runs its processes. Dropping it shuts the
/// runtime down: schedulers stop and join, timers and the blocking pool stop,
/// and every remaining process is dropped.
///
/// ```
/// let rt = wippy_process::Runtime::new(Default::default()).unwrap();
/// let host = rt.native_host("doc:host", 2).unwrap();
/// assert_eq!(host.scheduler().workers(), 2);
/// rt.shutdown();
/// ```
pub struct Runtime {
    node: Node,
    timers: Option<TimerService>,
    blocking: Option<BlockingPool>,
    schedulers: Mutex<Vec<Scheduler>>,
}

impl Runtime {
    /// Starts the timer service and the blocking pool.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, Error> {
        let timers = TimerService::start()?;
        let blocking = BlockingPool::new(config.blocking_threads);
        let node = Node::new(
            config.max_processes,
            timers.handle(),
            blocking.handle(),
            config.node,
        );
        Ok(Runtime {
            node,
            timers: Some(timers),
            blocking: Some(blocking),
            schedulers: Mutex::new(Vec::new()),
        })
    }

    /// The node handle.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Starts a scheduler with `workers` threads (0 = one per core) that the
    /// runtime owns and stops at shutdown; for hosts of other crates.
    pub fn scheduler(&self, name: &str, workers: usize) -> Result<wippy_sched::Handle, Error> {
        let mut config = SchedConfig {
            name: name.to_owned(),
            ..SchedConfig::default()
        };
        if workers > 0 {
            config.workers = workers;
        }
        self.scheduler_with(config)
    }

    /// Starts a scheduler of `config` that the runtime owns and stops at
    /// shutdown (a host with its own queue sizes).
    pub fn scheduler_with(&self, config: SchedConfig) -> Result<wippy_sched::Handle, Error> {
        let sched = Scheduler::new(config)?;
        let handle = sched.handle();
        self.schedulers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sched);
        Ok(handle)
    }

    /// A native host named `name` with its own scheduler of `workers`
    /// threads (0 = one per core).
    pub fn native_host(&self, name: &str, workers: usize) -> Result<NativeHost, Error> {
        let sched = self.scheduler(name, workers)?;
        Ok(NativeHost::new(
            HostId::intern(name),
            self.node.clone(),
            sched,
        ))
    }

    /// Shuts down: stops schedulers, timers and the blocking pool, then drops
    /// every process still alive (without EXIT events).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let schedulers = std::mem::take(
            &mut *self
                .schedulers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for s in schedulers {
            s.shutdown();
        }
        if let Some(t) = self.timers.take() {
            t.shutdown();
        }
        if let Some(b) = self.blocking.take() {
            let busy = b.shutdown(Duration::from_millis(200));
            if busy > 0 {
                tracing::debug!(
                    busy,
                    "blocking threads still busy at shutdown were detached"
                );
            }
        }
        self.node.drain();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}
