//! Actor benchmarks with native processes (async blocks on a native host).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wippy_process::{Ctx, NativeHost, Payload, Pid, Runtime, SpawnOptions, Topic};

use super::{Bench, Better, resident_bytes};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            name: "native.spawn_exit",
            unit: "per_s",
            better: Better::Higher,
            target: 1.5e6,
            reference: "BEAM 0.95M/s; aim 3M/s",
            run: spawn_exit,
        },
        Bench {
            name: "native.idle_memory",
            unit: "bytes",
            better: Better::Lower,
            target: 512.0,
            reference: "BEAM 2,687 B; aim 300 B",
            run: idle_memory,
        },
        Bench {
            name: "native.pingpong",
            unit: "ns",
            better: Better::Lower,
            target: 300.0,
            reference: "BEAM 478 ns; aim 200 ns",
            run: pingpong,
        },
        Bench {
            name: "native.ring",
            unit: "msgs_per_s",
            better: Better::Higher,
            target: 8e6,
            reference: "BEAM 3.3M/s; aim 10M/s",
            run: ring,
        },
        Bench {
            name: "native.skynet",
            unit: "ms",
            better: Better::Lower,
            target: 800.0,
            reference: "BEAM 2,080 ms; aim 400 ms",
            run: skynet,
        },
    ]
}

const WAIT: Duration = Duration::from_secs(300);

fn setup() -> (Runtime, NativeHost) {
    let rt = Runtime::new(Default::default()).expect("runtime starts");
    let host = rt.native_host("bench:native", 0).expect("host starts");
    (rt, host)
}

/// Spawn N processes that each send one message back and exit.
fn spawn_exit(quick: bool) -> f64 {
    let n: usize = if quick { 100_000 } else { 1_000_000 };
    let (_rt, host) = setup();
    let (tx, rx) = mpsc::channel();
    let h = host.clone();
    let start = Instant::now();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        let me = cx.pid();
        let mut got = 0;
        for i in 0..n {
            cx.spawn(&h, SpawnOptions::default(), move |c| async move {
                c.send(me, "done", Payload::Nil).ok();
                Ok(Payload::Nil)
            })
            .expect("spawn");
            if i % 64 == 63 {
                while cx.try_recv().is_some() {
                    got += 1;
                }
            }
        }
        while got < n {
            cx.recv().await;
            got += 1;
        }
        tx.send(()).ok();
        Ok(Payload::Nil)
    })
    .expect("spawn");
    rx.recv_timeout(WAIT).expect("spawn_exit finishes");
    n as f64 / start.elapsed().as_secs_f64()
}

/// RSS growth per process for N processes blocked on their inbox.
fn idle_memory(quick: bool) -> f64 {
    let n: usize = if quick { 100_000 } else { 1_000_000 };
    let (rt, host) = setup();
    let started = Arc::new(AtomicUsize::new(0));
    // Warm up allocator and table chunks outside the measurement.
    let before = resident_bytes();
    for _ in 0..n {
        let s = started.clone();
        host.spawn_async(SpawnOptions::default(), move |cx| async move {
            s.fetch_add(1, Ordering::Relaxed);
            drop(s);
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .expect("spawn");
    }
    let t = Instant::now();
    while started.load(Ordering::Relaxed) < n {
        assert!(t.elapsed() < WAIT, "processes did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let after = resident_bytes();
    assert_eq!(rt.node().stats().live, n);
    (after.saturating_sub(before)) as f64 / n as f64
}

// Topics made once, as a native process with a hot send loop makes them
// (the analogue of an Erlang atom): `Ctx::send` with a `&str` copies it into
// a fresh `Topic` on every send (see its docs).
const PING: Topic = Topic::new_static("ping");
const PONG: Topic = Topic::new_static("pong");
const TOKEN: Topic = Topic::new_static("t");
const SUM: Topic = Topic::new_static("n");

/// Round trip between two processes.
fn pingpong(quick: bool) -> f64 {
    let n: usize = if quick { 200_000 } else { 1_000_000 };
    let (_rt, host) = setup();
    let ponger = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            loop {
                let m = cx.recv().await;
                cx.send(m.from.expect("ping has a sender"), PONG, m.payload)
                    .ok();
            }
        })
        .expect("spawn");
    let (tx, rx) = mpsc::channel();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        let start = Instant::now();
        for i in 0..n {
            cx.send(ponger, PING, Payload::Int(i as i64)).ok();
            cx.recv().await;
        }
        tx.send(start.elapsed()).ok();
        Ok(Payload::Nil)
    })
    .expect("spawn");
    let took = rx.recv_timeout(WAIT).expect("pingpong finishes");
    took.as_nanos() as f64 / n as f64
}

/// A token passed around a ring of processes.
fn ring(quick: bool) -> f64 {
    let procs = 10_000;
    let hops: i64 = if quick { 200_000 } else { 1_000_000 };
    let (_rt, host) = setup();
    let (tx, rx) = mpsc::channel::<()>();
    let mut pids = Vec::with_capacity(procs);
    for _ in 0..procs {
        let tx = tx.clone();
        pids.push(
            host.spawn_async(SpawnOptions::default(), move |cx| async move {
                let next = cx.recv().await.payload.as_pid().expect("next pid");
                loop {
                    let left = cx.recv().await.payload.as_int().expect("token");
                    if left == 0 {
                        tx.send(()).ok();
                    } else {
                        cx.send(next, TOKEN, Payload::Int(left - 1)).ok();
                    }
                }
            })
            .expect("spawn"),
        );
    }
    let node = host.node();
    for (i, &p) in pids.iter().enumerate() {
        node.send(None, p, "next", Payload::Pid(pids[(i + 1) % procs]))
            .expect("send");
    }
    let start = Instant::now();
    node.send(None, pids[0], TOKEN, Payload::Int(hops))
        .expect("send");
    rx.recv_timeout(WAIT).expect("ring finishes");
    hops as f64 / start.elapsed().as_secs_f64()
}

fn skynet_node(cx: &Ctx, host: &NativeHost, parent: Pid, num: i64, size: i64) {
    let h = host.clone();
    cx.spawn(host, SpawnOptions::default(), move |cx| async move {
        if size == 1 {
            cx.send(parent, SUM, Payload::Int(num)).ok();
            return Ok(Payload::Nil);
        }
        let me = cx.pid();
        let step = size / 10;
        for i in 0..10 {
            skynet_node(&cx, &h, me, num + i * step, step);
        }
        let mut sum = 0;
        for _ in 0..10 {
            sum += cx.recv().await.payload.as_int().expect("sum");
        }
        cx.send(parent, SUM, Payload::Int(sum)).ok();
        Ok(Payload::Nil)
    })
    .expect("spawn");
}

/// The skynet tree: 1 M leaves, each replying its number, sums going up.
fn skynet(quick: bool) -> f64 {
    let size: i64 = if quick { 100_000 } else { 1_000_000 };
    let (_rt, host) = setup();
    let (tx, rx) = mpsc::channel();
    let h = host.clone();
    let start = Instant::now();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        skynet_node(&cx, &h, cx.pid(), 0, size);
        let sum = cx.recv().await.payload.as_int().expect("sum");
        tx.send(sum).ok();
        Ok(Payload::Nil)
    })
    .expect("spawn");
    let sum = rx.recv_timeout(WAIT).expect("skynet finishes");
    let took = start.elapsed();
    assert_eq!(sum, size * (size - 1) / 2, "skynet sum");
    took.as_secs_f64() * 1e3
}
