//! Errors of the cluster.

use std::time::Duration;

use wippy_process::Pid;

/// What went wrong joining a cluster or in an operation across nodes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// The NATS server could not be reached (or refused the credentials).
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The server URL(s) given.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// The server has no JetStream, which the global registry needs.
    #[error("NATS at {url} offers no JetStream (start nats-server with -js): {reason}")]
    NoJetStream {
        /// The server URL(s) given.
        url: String,
        /// What the server said.
        reason: String,
    },
    /// A setting is wrong.
    #[error("invalid cluster setting {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The runtime was started without a node identity.
    #[error("the runtime is not a cluster node: start it with RuntimeConfig::node set")]
    NotANode,
    /// Another live node has the name.
    #[error("node name {0:?} is in use by a live node of the cluster")]
    NameInUse(String),
    /// The node has no connection to NATS (for longer than the grace
    /// period, or right now for calls that need the server).
    #[error("the cluster is unavailable: {0}")]
    Unavailable(String),
    /// No live node of the cluster has this name (or identity).
    #[error("node not found: {0}")]
    NodeNotFound(String),
    /// The node went away while the call was in flight.
    #[error("node {0} disconnected")]
    NodeDown(String),
    /// Another process holds the name.
    #[error("name {name:?} is already registered by {holder}")]
    NameTaken {
        /// The name.
        name: String,
        /// Its holder.
        holder: Pid,
    },
    /// Names must be non-empty.
    #[error("invalid name {0:?}: names must be non-empty")]
    InvalidName(String),
    /// Global names are registered by the node of their process.
    #[error("process {0} is not on this node: a global name is registered on its own node")]
    NotLocal(Pid),
    /// The process has ended.
    #[error("no such process: {0}")]
    NoProcess(Pid),
    /// A STRONG registration missed the acknowledgement of a live node.
    #[error(
        "strong registration of {name:?} failed: no acknowledgement from {missing} within {deadline:?}"
    )]
    NotAcknowledged {
        /// The name.
        name: String,
        /// The nodes that did not answer, comma-separated.
        missing: String,
        /// The deadline.
        deadline: Duration,
    },
    /// A spawn target is not `node@host`.
    #[error("invalid spawn target {0:?}: expected node@host")]
    BadTarget(String),
    /// The other node refused or failed the spawn.
    #[error("spawn on {node} failed: {reason}")]
    SpawnFailed {
        /// The target node.
        node: String,
        /// Its answer.
        reason: String,
    },
    /// A call got no answer in time.
    #[error("{what} timed out after {after:?}")]
    TimedOut {
        /// The call.
        what: &'static str,
        /// How long it waited.
        after: Duration,
    },
    /// The registry bucket failed.
    #[error("global registry: {0}")]
    Registry(String),
    /// The asker may not do it.
    #[error(transparent)]
    Denied(#[from] wippy_security::Denied),
    /// The kernel refused.
    #[error("{0}")]
    Kernel(String),
    /// The cluster handle was shut down.
    #[error("the cluster is shut down")]
    ShutDown,
}

impl From<wippy_process::Error> for ClusterError {
    fn from(e: wippy_process::Error) -> ClusterError {
        ClusterError::Kernel(e.to_string())
    }
}
