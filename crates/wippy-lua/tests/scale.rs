//! Ten thousand Lua processes alive at once in one host, each parked on its
//! inbox; then every one is messaged, exits, and the node is back to its
//! baseline.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use wippy_host::ProcessHost;
use wippy_process::{Event, Payload, SpawnOptions};

const WAITER: &str = r#"
local M = {}
function M.main(reporter, k)
    assert(process.send(reporter, "ready", k))
    local msg = process.inbox():receive()
    return k + msg:payload():data()
end
return M
"#;

const N: usize = 10_000;

#[test]
fn ten_thousand_parked_processes_then_all_exit() {
    let t = TestApp::new(vec![entry("waiter", WAITER)], 2);
    let (mailbox, ready) = t.mailbox();
    let (watcher, events) = t.watcher();
    let baseline = t.live();
    let start = Instant::now();
    let mut pids = Vec::with_capacity(N);
    for k in 0..N {
        pids.push(t.spawn_opts(
            "waiter",
            vec![Payload::Pid(mailbox), Payload::Int(k as i64)],
            SpawnOptions::default().parent(watcher).monitored(),
        ));
    }
    let spawned = start.elapsed();

    // Every process reached its receive.
    let mut seen = HashSet::with_capacity(N);
    while seen.len() < N {
        let m = ready
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("only {} of {N} processes reported ready", seen.len()));
        assert_eq!(m.topic.as_str(), "ready");
        seen.insert(as_i64(&m.payload));
    }
    let all_ready = start.elapsed();
    assert_eq!(t.host.process_count(), N, "host counts its live processes");
    assert!(
        t.live() >= baseline + N,
        "node live {} < {}",
        t.live(),
        baseline + N
    );
    // Parked, not spinning: nobody has exited on its own.
    assert!(
        events.try_recv().is_err(),
        "a waiter exited before it was messaged"
    );

    for &pid in &pids {
        t.send(None, pid, "go", Payload::Int(1_000_000));
    }
    let mut sum = 0i64;
    let mut exited = HashSet::with_capacity(N);
    while exited.len() < N {
        match events.recv_timeout(TIMEOUT) {
            Ok(Event::Exit { from, result }) => {
                sum += as_i64(&exit_value(result));
                assert!(exited.insert(from), "two EXITs from {from}");
            }
            Ok(other) => panic!("unexpected event {other:?}"),
            Err(_) => panic!("only {} of {N} processes exited", exited.len()),
        }
    }
    let all_exited = start.elapsed();
    let want: i64 = (0..N as i64).map(|k| k + 1_000_000).sum();
    assert_eq!(sum, want, "each process returned k + its message");
    wait_until("live back to baseline", Duration::from_secs(5), || {
        t.live() == baseline && t.host.process_count() == 0
    });
    eprintln!(
        "scale: spawned {N} in {spawned:?}, all ready at {all_ready:?}, all exited at {all_exited:?}"
    );
}
