//! Two nodes on one NATS server: ping-pong by a global name, and a pool of
//! workers spread over both nodes.
//!
//! ```text
//! nats-server -js &                                                 # once
//! cargo run -p wippy-cluster --example two_nodes -- nats://127.0.0.1:4222 a serve
//! cargo run -p wippy-cluster --example two_nodes -- nats://127.0.0.1:4222 b drive a
//! ```
//!
//! Node `a` registers a ponger as `ponger` (CONSISTENT) and serves until
//! Ctrl-C; node `b` finds it by name, plays 1000 rounds of ping-pong, then
//! squares 1..=16 on workers spawned alternately on `a` and `b` and prints
//! the sum (1496) and where each worker ran.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wippy_cluster::{Cluster, ClusterConfig, NameScope, NativeEntries};
use wippy_host::registry::Registry;
use wippy_host::{App, SpawnRequest};
use wippy_process::{NodeId, Payload, Runtime, RuntimeConfig, SpawnOptions};
use wippy_security::Principal;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, name, mode) = match args.as_slice() {
        [url, name, mode, ..] => (url.as_str(), name.as_str(), mode.as_str()),
        _ => {
            eprintln!("usage: two_nodes URL NAME serve | two_nodes URL NAME drive OTHER");
            std::process::exit(2);
        }
    };
    let rt = Runtime::new(RuntimeConfig {
        node: NodeId::starting(name).expect("a node name"),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let app = App::new(rt.node().clone(), Arc::new(Registry::new()));
    let host = NativeEntries::new(rt.native_host("app:native", 2).expect("host"));
    // Every node has the same entries: code is never shipped.
    host.add("app:square", |cx, _| async move {
        let job = cx.recv().await;
        let n = job.payload.as_int().unwrap_or(0);
        let here = cx.pid().node().to_string();
        let answer = Payload::Array(vec![Payload::Int(n * n), here.into()]);
        cx.send(job.from.expect("a job has a sender"), "done", answer)
            .expect("the driver is reachable");
        Ok(Payload::Nil)
    });
    app.add_host(host.clone());
    let cluster = Cluster::join(&rt, app, ClusterConfig::new(url)).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    println!("node {} joined", cluster.node_id());
    match mode {
        "serve" => {
            let ponger = host
                .native()
                .spawn_async(SpawnOptions::default(), |cx| async move {
                    loop {
                        let m = cx.recv().await;
                        if let Some(from) = m.from {
                            let _ = cx.send(from, "pong", m.payload);
                        }
                    }
                })
                .expect("spawn");
            cluster
                .register("ponger", ponger, NameScope::Consistent)
                .wait(Duration::from_secs(10))
                .expect("an answer")
                .expect("registered");
            println!("ponger {ponger} registered; Ctrl-C to stop");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "drive" => {
            let other = args.get(3).map(String::as_str).unwrap_or("a");
            assert!(
                cluster.await_nodes(&[other], Duration::from_secs(10)),
                "node {other} is not there"
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            let ponger = loop {
                if let Some(p) = cluster.lookup("ponger") {
                    break p;
                }
                assert!(Instant::now() < deadline, "no ponger registered");
                std::thread::sleep(Duration::from_millis(20));
            };
            let (tx, rx) = std::sync::mpsc::channel();
            let c = cluster.clone();
            let targets = [format!("{other}@app:native"), format!("{name}@app:native")];
            host.native()
                .spawn_async(SpawnOptions::default(), move |cx| async move {
                    let start = Instant::now();
                    for i in 0..1000 {
                        cx.send(ponger, "ping", Payload::Int(i)).unwrap();
                        cx.recv().await;
                    }
                    let rtt = start.elapsed() / 1000;
                    let mut sum = 0;
                    let mut placed = Vec::new();
                    for n in 1..=16 {
                        let mut req = SpawnRequest::new("app:square".parse().unwrap());
                        req.opts = SpawnOptions::default().parent(cx.pid());
                        let target = &targets[n as usize % 2];
                        let worker = c.spawn(&Principal::system(), target, req).await.unwrap();
                        cx.send(worker, "job", Payload::Int(n)).unwrap();
                    }
                    for _ in 1..=16 {
                        let Payload::Array(answer) = cx.recv().await.payload else {
                            unreachable!("workers answer with arrays")
                        };
                        sum += answer[0].as_int().unwrap();
                        placed.push(answer[1].to_string());
                    }
                    tx.send((rtt, sum, placed)).unwrap();
                    Ok(Payload::Nil)
                })
                .expect("spawn");
            let (rtt, sum, mut placed) = rx.recv_timeout(Duration::from_secs(60)).expect("done");
            println!("ping-pong with {ponger}: {rtt:?} per round trip");
            placed.sort();
            placed.dedup_by(|a, b| a == b);
            println!(
                "sum of squares 1..=16: {sum} (workers ran on {})",
                placed.join(", ")
            );
            cluster.shutdown();
            rt.shutdown();
        }
        other => {
            eprintln!("unknown mode {other:?}: serve or drive");
            std::process::exit(2);
        }
    }
}
