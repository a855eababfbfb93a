//! Cluster benchmarks: two nodes (two runtimes in this process, each with
//! its own NATS connection) talking through a `nats-server` the benchmark
//! starts. Skipped, with a message, where `nats-server` is not installed.
//!
//! The reference is Erlang distribution between two BEAM nodes on the same
//! machine (`../shared/anchors/erlang/dist.sh`: 64-byte binary payload),
//! which talk over a direct TCP connection; ours go through the server.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wippy_cluster::{Cluster, ClusterConfig, NameScope, NatsServer};
use wippy_host::App;
use wippy_host::registry::Registry;
use wippy_process::{NativeHost, NodeId, Payload, Runtime, RuntimeConfig, SpawnOptions, Topic};

use super::{Bench, Better};

pub fn benches() -> Vec<Bench> {
    if !NatsServer::available() {
        eprintln!(
            "cluster.*: skipped: nats-server is not installed (apt-get install -y nats-server)"
        );
        return Vec::new();
    }
    vec![
        Bench {
            name: "cluster.pingpong",
            unit: "us",
            better: Better::Lower,
            target: 150.0,
            reference: "Erlang dist 56-58 us; aim 150 us",
            run: pingpong,
        },
        Bench {
            name: "cluster.send_throughput",
            unit: "msgs_per_s",
            better: Better::Higher,
            target: 300e3,
            reference: "Erlang dist 220-240k/s; aim 300k/s",
            run: send_throughput,
        },
        Bench {
            name: "cluster.register_consistent",
            unit: "ms",
            better: Better::Lower,
            target: 2.0,
            reference: "one JetStream KV create per name",
            run: register_consistent,
        },
    ]
}

const WAIT: Duration = Duration::from_secs(300);
const PING: Topic = Topic::new_static("ping");
const PONG: Topic = Topic::new_static("pong");
const CAST: Topic = Topic::new_static("cast");

struct BenchNode {
    cluster: Cluster,
    host: NativeHost,
    rt: Option<Runtime>,
}

impl Drop for BenchNode {
    fn drop(&mut self) {
        self.cluster.shutdown();
        if let Some(rt) = self.rt.take() {
            rt.shutdown();
        }
    }
}

fn node(name: &str, url: &str) -> BenchNode {
    let rt = Runtime::new(RuntimeConfig {
        node: NodeId::starting(name).expect("a node name"),
        ..RuntimeConfig::default()
    })
    .expect("runtime starts");
    let app = App::new(rt.node().clone(), Arc::new(Registry::new()));
    let mut config = ClusterConfig::new(url);
    // The throughput run queues everything at once, as Erlang's does.
    config.max_backlog = 1 << 30;
    let cluster = Cluster::join(&rt, app, config).expect("joins the cluster");
    let host = rt.native_host("bench:cluster", 1).expect("host starts");
    BenchNode {
        cluster,
        host,
        rt: Some(rt),
    }
}

fn pair() -> (NatsServer, BenchNode, BenchNode) {
    let server = NatsServer::start(false).expect("nats-server starts");
    let a = node("bench-a", &server.url());
    let b = node("bench-b", &server.url());
    assert!(a.cluster.await_nodes(&["bench-b"], Duration::from_secs(10)));
    assert!(b.cluster.await_nodes(&["bench-a"], Duration::from_secs(10)));
    (server, a, b)
}

fn payload() -> Payload {
    Payload::Bytes(vec![0; 64])
}

/// Round trip between a process on one node and one on the other.
fn pingpong(quick: bool) -> f64 {
    let n: usize = if quick { 2_000 } else { 20_000 };
    let (_server, a, b) = pair();
    let ponger = b
        .host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            loop {
                let m = cx.recv().await;
                cx.send(m.from.expect("ping has a sender"), PONG, m.payload)
                    .ok();
            }
        })
        .expect("spawn");
    let (tx, rx) = mpsc::channel();
    a.host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            for _ in 0..1_000 {
                cx.send(ponger, PING, payload()).ok();
                cx.recv().await;
            }
            let start = Instant::now();
            for _ in 0..n {
                cx.send(ponger, PING, payload()).ok();
                cx.recv().await;
            }
            tx.send(start.elapsed()).ok();
            Ok(Payload::Nil)
        })
        .expect("spawn");
    let took = rx.recv_timeout(WAIT).expect("pingpong finishes");
    took.as_secs_f64() * 1e6 / n as f64
}

/// One-way messages from a process on one node to one on the other, all
/// sent at once; timed until the last has arrived.
fn send_throughput(quick: bool) -> f64 {
    let n: usize = if quick { 100_000 } else { 500_000 };
    let (_server, a, b) = pair();
    let (tx, rx) = mpsc::channel();
    let counter = b
        .host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let start = cx.recv().await; // "count": the clock starts
            let from = start.from.expect("a sender");
            for _ in 0..n {
                cx.recv().await;
            }
            cx.send(from, PONG, Payload::Nil).ok();
            tx.send(()).ok();
            Ok(Payload::Nil)
        })
        .expect("spawn");
    let (done_tx, done_rx) = mpsc::channel();
    a.host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let start = Instant::now();
            cx.send(counter, PING, Payload::Nil).ok();
            for _ in 0..n {
                cx.send(counter, CAST, payload()).ok();
            }
            cx.recv().await;
            done_tx.send(start.elapsed()).ok();
            Ok(Payload::Nil)
        })
        .expect("spawn");
    rx.recv_timeout(WAIT).expect("every message arrives");
    let took = done_rx.recv_timeout(WAIT).expect("the sender hears back");
    n as f64 / took.as_secs_f64()
}

/// CONSISTENT registrations one after another, ms each.
fn register_consistent(quick: bool) -> f64 {
    let n: usize = if quick { 200 } else { 1_000 };
    let (_server, a, _b) = pair();
    let holder = a
        .host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .expect("spawn");
    let start = Instant::now();
    for i in 0..n {
        a.cluster
            .register(&format!("bench-{i}"), holder, NameScope::Consistent)
            .wait(Duration::from_secs(10))
            .expect("an answer")
            .expect("registered");
    }
    start.elapsed().as_secs_f64() * 1e3 / n as f64
}
