//! How a node joins its cluster.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ClusterError;

/// Settings of a cluster node. [`ClusterConfig::new`] has the defaults for
/// a development cluster on one server; production sets `replicas: 3` for
/// a three-server NATS cluster (see the crate doc).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// NATS server URL(s), comma-separated (`nats://127.0.0.1:4222`).
    pub url: String,
    /// First token of every subject and the registry bucket's name
    /// (`<prefix>_names`): clusters on one server differ by prefix.
    pub prefix: String,
    /// A NATS credentials file (`.creds`: JWT and nkey seed).
    pub credentials_file: Option<PathBuf>,
    /// A user and password.
    pub user_password: Option<(String, String)>,
    /// A token.
    pub token: Option<String>,
    /// TLS: root certificates to trust.
    pub tls_ca: Option<PathBuf>,
    /// TLS: a client certificate and its key.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// TLS: refuse a plaintext connection.
    pub tls_required: bool,
    /// How often a node says it is alive.
    pub heartbeat: Duration,
    /// Silence after which a node is taken for down.
    pub node_timeout: Duration,
    /// How long a node may lose its server before it takes every other node
    /// for down.
    pub grace: Duration,
    /// How long a STRONG registration waits for every live node.
    pub strong_deadline: Duration,
    /// How long a remote spawn or a CONSISTENT registration waits.
    pub call_timeout: Duration,
    /// Replicas of the registry bucket (1 on one server; 3 on a
    /// three-server cluster).
    pub replicas: usize,
    /// The server's client-disconnect advisories (`None`: heartbeats only).
    /// They make a killed node's end known at once; the account needs them
    /// imported from the system account (see the crate doc).
    pub disconnect_events: Option<String>,
    /// Most bytes queued for one node before further sends to it are
    /// dropped (at-most-once delivery to a node that does not keep up).
    pub max_backlog: usize,
}

impl ClusterConfig {
    /// A node connecting to `url` with the defaults.
    pub fn new(url: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            url: url.into(),
            prefix: "wippy".into(),
            credentials_file: None,
            user_password: None,
            token: None,
            tls_ca: None,
            tls_client: None,
            tls_required: false,
            heartbeat: Duration::from_secs(1),
            node_timeout: Duration::from_secs(3),
            grace: Duration::from_secs(3),
            strong_deadline: Duration::from_secs(2),
            call_timeout: Duration::from_secs(5),
            replicas: 1,
            disconnect_events: Some("$SYS.ACCOUNT.*.DISCONNECT".into()),
            max_backlog: 64 << 20,
        }
    }

    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), ClusterError> {
        let bad = |field, reason: &str| {
            Err(ClusterError::Config {
                field,
                reason: reason.into(),
            })
        };
        if self.url.trim().is_empty() {
            return bad("url", "no server URL");
        }
        let token_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !token_ok(&self.prefix) {
            return bad("prefix", "letters, digits, '-' or '_' only, not empty");
        }
        if self.heartbeat.is_zero() || self.node_timeout <= self.heartbeat {
            return bad(
                "node_timeout",
                "must be longer than the heartbeat, which must not be zero",
            );
        }
        if self.replicas == 0 || self.replicas > 5 {
            return bad("replicas", "1 to 5");
        }
        Ok(())
    }
}
