//! Test support: a NATS server of the test's own and cluster nodes in this
//! OS process (each its own runtime, node identity and cluster handle).

#![allow(dead_code)]

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use wippy_cluster::{Cluster, ClusterConfig, NativeEntries, NatsServer};
use wippy_host::App;
use wippy_host::registry::Registry;
use wippy_process::{Event, NodeId, Payload, Pid, Runtime, RuntimeConfig, SpawnOptions};

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

/// A process on `n` that monitors (or, trapping, links to) `target` and
/// sends the first event it gets, with when it got it; returns once the
/// monitor or link is in place.
pub fn watch(n: &TestNode, target: Pid, link: bool) -> mpsc::Receiver<(Event, Instant)> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    n.native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            if link {
                cx.set_trap_links(true);
                cx.node().link(cx.pid(), target).unwrap();
            } else {
                cx.node().monitor(cx.pid(), target).unwrap();
            }
            ready_tx.send(()).unwrap();
            let e = cx.next_event().await;
            tx.send((e, Instant::now())).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    ready_rx.recv_timeout(WAIT).unwrap();
    rx
}
