//! Test support: a NATS server of the test's own and cluster nodes in this
//! OS process (each its own runtime, node identity and cluster handle).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use wippy_cluster::{Cluster, ClusterConfig, NativeEntries, NatsServer};
use wippy_host::App;
use wippy_host::registry::Registry;
use wippy_process::{NodeId, Runtime, RuntimeConfig};

pub const WAIT: Duration = Duration::from_secs(10);

/// A server, or `None` with the reason printed (the test then returns).
pub fn server(advisories: bool) -> Option<NatsServer> {
    match NatsServer::start(advisories) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

/// A node of the cluster: runtime, app, native entries host, membership.
pub struct TestNode {
    pub rt: Option<Runtime>,
    pub app: Arc<App>,
    pub host: Arc<NativeEntries>,
    pub cluster: Cluster,
}

impl TestNode {
    pub fn node(&self) -> &wippy_process::Node {
        self.rt.as_ref().expect("running").node()
    }

    pub fn native(&self) -> &wippy_process::NativeHost {
        self.host.native()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.cluster.shutdown();
        if let Some(rt) = self.rt.take() {
            rt.shutdown();
        }
    }
}

/// Fast failure detection for tests.
pub fn config(url: &str) -> ClusterConfig {
    let mut c = ClusterConfig::new(url);
    c.heartbeat = Duration::from_millis(200);
    c.node_timeout = Duration::from_millis(1000);
    c.grace = Duration::from_millis(1000);
    c.strong_deadline = Duration::from_millis(800);
    c
}

/// Starts node `name` with `registry` and native host `app:native`.
pub fn node_with(name: &str, config: ClusterConfig, registry: Registry) -> TestNode {
    let id = NodeId::starting(name).unwrap();
    let rt = Runtime::new(RuntimeConfig {
        node: id,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let app = App::new(rt.node().clone(), Arc::new(registry));
    let host = NativeEntries::new(rt.native_host("app:native", 1).unwrap());
    app.add_host(host.clone());
    let cluster = Cluster::join(&rt, app.clone(), config).unwrap();
    TestNode {
        rt: Some(rt),
        app,
        host,
        cluster,
    }
}

/// A registry of the given `_index.yaml` text (namespace `app`).
pub fn registry(index: &str) -> Registry {
    Registry::load_sources(
        &[wippy_host::registry::Source {
            path: "app/_index.yaml".into(),
            text: index.into(),
        }],
        &|_| Ok(String::new()),
    )
    .unwrap()
}

pub fn node(name: &str, url: &str) -> TestNode {
    node_with(name, config(url), Registry::new())
}

/// Starts nodes and waits until each sees every other.
pub fn nodes(names: &[&str], url: &str) -> Vec<TestNode> {
    let all: Vec<TestNode> = names.iter().map(|n| node(n, url)).collect();
    for n in &all {
        let others: Vec<&str> = names
            .iter()
            .copied()
            .filter(|o| *o != n.cluster.node_id().name())
            .collect();
        assert!(n.cluster.await_nodes(&others, WAIT), "nodes did not meet");
    }
    all
}
