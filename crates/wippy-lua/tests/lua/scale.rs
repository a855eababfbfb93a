//! Ten thousand Lua processes alive at once in one host, each parked on its
//! inbox; then every one is messaged, exits, and the node is back to its
//! baseline.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use wippy_host::ProcessHost;
use wippy_process::{Event, Payload, SpawnOptions};

use crate::common::*;

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

/// An idle process's Lua heap: a thread whose stack fits Luau's initial 45
/// slots, its state, environment and inbox, about 2 KB. The frames under a
/// parked process's IDLE yield (the prelude's boot, the method, receive and
/// the yield's 20 reserved slots) only just fit; one extra frame or
/// register on that path doubles the stack to 95 slots (+800 bytes per
/// process), which this catches.
#[test]
fn a_parked_process_costs_about_two_kilobytes_of_lua_heap() {
    const IDLE: &str = r#"
return { main = function(parent, k, tag)
    local inbox = process.inbox()
    process.send(parent, "ready", 1)
    inbox:receive()
end }
"#;
    let t = TestApp::with_config(
        vec![entry("waiter", IDLE)],
        wippy_lua::LuaHostConfig {
            shards: 1,
            ..wippy_lua::LuaHostConfig::new(HOST, 1)
        },
    );
    let (me, rx) = t.mailbox();
    let before = t.host.heap_bytes(true);
    let n = 3_000;
    for k in 0..n {
        // three arguments: headroom for more than the usual one or two
        t.spawn(
            "waiter",
            vec![Payload::Pid(me), Payload::Int(k), Payload::Str("t".into())],
        );
    }
    let mut ready = 0;
    while ready < n {
        if next_msg(&rx, TIMEOUT).topic.as_str() == "ready" {
            ready += 1;
        }
    }
    let per = (t.host.heap_bytes(true) - before) as f64 / n as f64;
    eprintln!("Lua heap per parked process: {per:.0} bytes");
    assert!(
        (1_000.0..2_400.0).contains(&per),
        "a parked process takes {per:.0} bytes of Lua heap (about 2,000 expected; 2,800 means its stack was doubled)"
    );
}
