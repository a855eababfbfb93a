//! Idle processes cost no CPU: a process whose main coroutine waits on its
//! inbox and whose two spawned coroutines wait on channels is parked until an
//! event arrives (waking is by event, never polling; `execution.md` §8).
//!
//! The test runs alone (`common::alone`), so the CPU time of the whole OS
//! process measures only it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use wippy_process::{Event, Payload, SpawnOptions};

use crate::common::*;

const SLEEPER: &str = r#"
local M = {}
function M.main(reporter, k)
    local a, b = channel.new(), channel.new()
    local done = channel.new(2)
    coroutine.spawn(function()
        local v = a:receive()
        done:send(v * 2)
    end)
    coroutine.spawn(function()
        local v = b:receive()
        done:send(v * 3)
    end)
    assert(process.send(reporter, "ready", k))
    local x = process.inbox():receive():payload():data()
    a:send(x)
    b:send(x)
    return done:receive() + done:receive()
end
return M
"#;

const N: usize = 1_000;

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "reads per-thread CPU time from /proc/self/task, which only Linux has"
)]
fn a_thousand_idle_processes_use_no_cpu_then_finish() {
    let _alone = alone();
    // The meter works here: busy work on this thread shows up (a meter
    // that read nothing would pass the idle check by accident).
    if let Err(why) = wippy_testkit::check_cpu_meter(Duration::from_millis(80), TIMEOUT) {
        return wippy_testkit::skip(why);
    }

    let t = TestApp::new(vec![entry("sleeper", SLEEPER)], 2);
    let (mailbox, ready) = t.mailbox();
    let (watcher, events) = t.watcher();
    let mut pids = Vec::with_capacity(N);
    for k in 0..N {
        pids.push(t.spawn_opts(
            "sleeper",
            vec![Payload::Pid(mailbox), Payload::Int(k as i64)],
            SpawnOptions::default().parent(watcher).monitored(),
        ));
    }
    for i in 0..N {
        let m = ready
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("only {i} of {N} processes reported ready"));
        assert_eq!(m.topic.as_str(), "ready");
    }
    // Let the last ones run their coroutines into their waits.
    std::thread::sleep(Duration::from_millis(100));
    assert!(events.try_recv().is_err(), "a sleeper ended early");

    let window = Duration::from_millis(500);
    let threads0 = wippy_testkit::threads().expect("readable a moment ago");
    let wall0 = Instant::now();
    std::thread::sleep(window);
    let wall = wall0.elapsed();
    let threads1 = wippy_testkit::threads().expect("readable a moment ago");
    let cpu = threads1.total_cpu().saturating_sub(threads0.total_cpu());
    let busy = threads1
        .busy_since(&threads0)
        .iter()
        .map(|(thread, used)| format!("{thread}: {used:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    eprintln!(
        "idle: {N} parked processes used {cpu:?} CPU over {wall:?} ({:.1}% of a core); busy threads: {busy}",
        share * 100.0
    );
    assert!(
        share < 0.05,
        "{N} idle processes used {cpu:?} of CPU in {wall:?} ({:.1}% of a core, limit 5%); busy threads: {busy}",
        share * 100.0
    );
    assert_eq!(t.live(), N + 2, "all sleepers still alive");

    for &pid in &pids {
        t.send(None, pid, "wake", Payload::Int(10));
    }
    let mut done = HashSet::with_capacity(N);
    while done.len() < N {
        match events.recv_timeout(TIMEOUT) {
            Ok(Event::Exit { from, result }) => {
                assert_eq!(as_i64(&exit_value(result)), 50, "2x + 3x of 10");
                done.insert(from);
            }
            Ok(other) => panic!("unexpected event {other:?}"),
            Err(_) => panic!("only {} of {N} sleepers finished", done.len()),
        }
    }
    wait_until("all sleepers gone", Duration::from_secs(5), || {
        t.live() == 2
    });
}
