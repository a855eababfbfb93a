//! The two-node scenario of `examples/two_nodes.rs`, checked: ping-pong
//! with a process found by its global name, and a pool of workers spawned
//! alternately on both nodes, each answering where it ran.

mod support;

use std::sync::mpsc;
use std::time::Instant;

use support::{WAIT, nodes, server};
use wippy_cluster::NameScope;
use wippy_host::SpawnRequest;
use wippy_process::{Payload, SpawnOptions};
use wippy_security::Principal;

#[test]
fn ping_pong_by_name_and_a_worker_pool_over_two_nodes() {
    let Some(srv) = server(false) else { return };
    let ns = nodes(&["pool-a", "pool-b"], &srv.url());
    for n in &ns {
        n.host.add("app:square", |cx, _| async move {
            let job = cx.recv().await;
            let n = job.payload.as_int().unwrap();
            let here = Payload::from(cx.pid().node().name());
            cx.send(
                job.from.unwrap(),
                "done",
                Payload::Array(vec![Payload::Int(n * n), here]),
            )
            .unwrap();
            Ok(Payload::Nil)
        });
    }
    let ponger = ns[0]
        .native()
        .spawn_async(SpawnOptions::default(), |cx| async move {
            loop {
                let m = cx.recv().await;
                cx.send(m.from.unwrap(), "pong", m.payload).unwrap();
            }
        })
        .unwrap();
    ns[0]
        .cluster
        .register("ponger", ponger, NameScope::Consistent)
        .wait(WAIT)
        .unwrap()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let found = loop {
        if let Some(p) = ns[1].cluster.lookup("ponger") {
            break p;
        }
        assert!(Instant::now() < deadline, "b never saw the name");
        std::thread::yield_now();
    };
    assert_eq!(found, ponger);
    let cluster = ns[1].cluster.clone();
    let (tx, rx) = mpsc::channel();
    ns[1]
        .native()
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            for i in 0..1000 {
                cx.send(found, "ping", Payload::Int(i)).unwrap();
                assert_eq!(cx.recv().await.payload, Payload::Int(i));
            }
            for n in 1..=16 {
                let mut req = SpawnRequest::new("app:square".parse().unwrap());
                req.opts = SpawnOptions::default().parent(cx.pid());
                let target = if n % 2 == 0 {
                    "pool-a@app:native"
                } else {
                    "pool-b@app:native"
                };
                let w = cluster
                    .spawn(&Principal::system(), target, req)
                    .await
                    .unwrap();
                cx.send(w, "job", Payload::Int(n)).unwrap();
            }
            let mut sum = 0;
            let mut on_a = 0;
            for _ in 0..16 {
                let Payload::Array(answer) = cx.recv().await.payload else {
                    panic!("not an answer")
                };
                sum += answer[0].as_int().unwrap();
                on_a += i64::from(answer[1].as_str() == Some("pool-a"));
            }
            tx.send((sum, on_a)).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    let (sum, on_a) = rx.recv_timeout(WAIT * 3).unwrap();
    assert_eq!(sum, (1..=16).map(|n| n * n).sum::<i64>());
    assert_eq!(on_a, 8, "half the workers ran on a");
}
