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

/// One thread of this OS process: name, tid, CPU time so far.
struct ThreadCpu {
    name: String,
    tid: u64,
    cpu: Duration,
}

/// CPU time of every live thread of this OS process. Precise (ns) from
/// /proc/self/task/*/schedstat; falls back to the tick counts (10 ms
/// resolution) of /proc/self/task/*/stat where schedstat is missing.
fn threads_cpu() -> Option<Vec<ThreadCpu>> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let name = stat[open + 1..close].to_owned();
        let tid = stat[..open].trim().parse().ok()?;
        let precise = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos);
        let cpu = match precise {
            Some(d) => d,
            None => {
                // utime and stime are fields 14 and 15; the fields after the
                // command name start at field 3. USER_HZ is 100 on Linux.
                let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
                let ticks: u64 =
                    f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
                Duration::from_millis(ticks * 10)
            }
        };
        out.push(ThreadCpu { name, tid, cpu });
    }
    Some(out)
}

fn total(threads: &[ThreadCpu]) -> Duration {
    threads.iter().map(|t| t.cpu).sum()
}

/// CPU each thread used between two samples (the busy ones, most first).
fn busy_threads(before: &[ThreadCpu], after: &[ThreadCpu]) -> String {
    let mut busy: Vec<(Duration, String)> = after
        .iter()
        .filter_map(|a| {
            let b = before
                .iter()
                .find(|b| b.tid == a.tid)
                .map(|b| b.cpu)
                .unwrap_or_default();
            (a.cpu > b).then(|| (a.cpu - b, format!("{}[{}]", a.name, a.tid)))
        })
        .collect();
    busy.sort_by_key(|b| std::cmp::Reverse(b.0));
    busy.iter()
        .map(|(d, n)| format!("{n}: {d:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "reads per-thread CPU time from /proc/self/task, which only Linux has"
)]
fn a_thousand_idle_processes_use_no_cpu_then_finish() {
    let _alone = alone();
    let Some(first) = threads_cpu() else {
        skip(
            "idle::a_thousand_idle_processes_use_no_cpu_then_finish",
            "/proc/self/task is unreadable here",
        );
        return;
    };
    // The meter works: busy work on this thread shows up. Spun until the
    // meter sees 100 ms of CPU (on a loaded machine a thread may get far
    // less than its wall time), for at most 5 s.
    let before = total(&first);
    let spin = Instant::now();
    let mut x = 0u64;
    let burnt = loop {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let burnt = total(&threads_cpu().unwrap()).saturating_sub(before);
        if burnt >= Duration::from_millis(100) || spin.elapsed() >= Duration::from_secs(5) {
            break burnt;
        }
    };
    assert!(
        burnt >= Duration::from_millis(100),
        "CPU meter saw only {burnt:?} of a {:?} busy loop",
        spin.elapsed()
    );

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
    let threads0 = threads_cpu().unwrap();
    let wall0 = Instant::now();
    std::thread::sleep(window);
    let wall = wall0.elapsed();
    let threads1 = threads_cpu().unwrap();
    let cpu = total(&threads1).saturating_sub(total(&threads0));
    let busy = busy_threads(&threads0, &threads1);
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
