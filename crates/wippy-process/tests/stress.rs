//! Stress: a million spawns with links and monitors must leave nothing
//! behind. Run by `cargo xtask stress` (ignored in the normal test run).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use wippy_process::{ExitError, Payload, Runtime, SpawnOptions};

/// Resident bytes now: the leak check cannot run without them.
fn resident_bytes() -> u64 {
    wippy_testkit::resident_bytes().expect("the stress test measures RSS through /proc")
}

#[test]
#[ignore = "stress: run with cargo xtask stress"]
fn stress_million_spawns_with_links_and_monitors_leak_nothing() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("stress:native", 0).unwrap();
    let node = rt.node().clone();
    let rounds = 10;
    let per_round = 100_000;
    let mut baseline = None;
    let before = resident_bytes();
    let churn = Instant::now();
    for round in 0..rounds {
        let round_start = Instant::now();
        let (tx, rx) = mpsc::channel();
        let h = host.clone();
        host.spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.set_trap_links(true);
            let mut events = 0;
            for i in 0..per_round {
                let opts = match i % 4 {
                    0 => SpawnOptions::default().monitored(),
                    1 => SpawnOptions::default().linked(),
                    2 => SpawnOptions::default().linked().monitored(),
                    _ => SpawnOptions::default(),
                };
                cx.spawn(&h, opts, move |c| async move {
                    if i % 8 == 1 {
                        // Linked and failing: parent traps and gets LINK_DOWN.
                        return Err(ExitError::new("churn"));
                    }
                    if i % 16 == 0 {
                        c.register(&format!("churn-{i}")).unwrap();
                    }
                    Ok(Payload::Nil)
                })
                .unwrap();
            }
            // monitored: i%4 in {0,2}; failing linked: i%8 == 1
            let want = per_round / 2 + per_round / 8;
            while events < want {
                cx.next_event().await;
                events += 1;
            }
            tx.send(events).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
        rx.recv_timeout(Duration::from_secs(120)).unwrap();
        let start = Instant::now();
        while node.stats().live != 0 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "processes left: {}",
                node.stats().live
            );
            std::thread::yield_now();
        }
        assert_eq!(node.stats().names, 0, "names leaked after round {round}");
        if round == 1 {
            baseline = Some(resident_bytes());
        }
        eprintln!(
            "stress: round {round}: {per_round} spawns in {:?}, RSS {} MiB",
            round_start.elapsed(),
            resident_bytes() >> 20
        );
    }
    let took = churn.elapsed();
    let stats = node.stats();
    assert_eq!(stats.spawned, (rounds * (per_round + 1)) as u64);
    assert_eq!(stats.exited, stats.spawned);
    // The table itself is empty, not just its counter.
    assert!(node.cells().is_empty(), "cells left in the process table");
    let end = resident_bytes();
    let base = baseline.unwrap();
    eprintln!(
        "stress: {} spawns ({} monitored, {} linked) in {took:?} ({:.0}/s); RSS {} MiB before, {} MiB after round 1, {} MiB at the end",
        stats.spawned,
        rounds * per_round / 2,
        rounds * per_round / 2,
        stats.spawned as f64 / took.as_secs_f64(),
        before >> 20,
        base >> 20,
        end >> 20
    );
    // Rounds 2..10 reuse what round 1 allocated: growth beyond that is a leak.
    assert!(
        end < base + 64 * 1024 * 1024,
        "RSS grew from {base} to {end} bytes over {rounds} rounds"
    );
}
