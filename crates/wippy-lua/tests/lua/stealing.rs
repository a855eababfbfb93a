//! Two CPU-bound Lua processes on a host of two workers and two shards run
//! in parallel: each of the host's two workers runs a fair part of them.
//!
//! Measured as CPU time per worker thread (`wippy_testkit::threads`), not
//! as wall time: a loaded machine slows the run, but cannot move one
//! worker's CPU time to the other.

use std::time::Duration;

use wippy_lua::LuaHostConfig;
use wippy_process::{Payload, SpawnOptions};

use crate::common::*;

const BUSY: &str = r#"
local M = {}

local function work(k)
    local x = 0
    for i = 1, k do
        x = (x * 31 + i) % 1000003
    end
    return x
end

-- iterations of `work` done in `ms` by os.clock (wall time, as Wippy's)
function M.calibrate(ms)
    local t0 = os.clock()
    local n = 0
    while os.clock() - t0 < ms / 1000 do
        work(1000)
        n = n + 1000
    end
    return n
end

function M.main(k)
    return work(k)
end

return M
"#;

fn app() -> TestApp {
    TestApp::with_config(
        vec![
            entry("busy", BUSY),
            Lua {
                method: "calibrate",
                ..entry("calibrate", BUSY)
            },
        ],
        LuaHostConfig {
            shards: 2,
            ..LuaHostConfig::new(HOST, 2)
        },
    )
}

/// Spawns `n` busy processes of `k` iterations and waits until they exit.
fn run_busy(t: &TestApp, n: usize, k: i64) {
    let (w, events) = t.watcher();
    let pids: Vec<_> = (0..n)
        .map(|_| {
            t.spawn_opts(
                "busy",
                vec![Payload::Int(k)],
                SpawnOptions::default().parent(w).monitored(),
            )
        })
        .collect();
    for r in wait_exits(&events, &pids, TIMEOUT) {
        exit_value(r);
    }
}

/// CPU time used so far by each worker thread of the test host (named
/// `<host>-w<index>` by the scheduler), by thread id.
fn worker_cpu(threads: &wippy_testkit::Threads) -> Vec<(u64, Duration)> {
    let prefix = format!("{HOST}-w");
    threads
        .iter()
        .filter(|t| t.name.starts_with(&prefix))
        .map(|t| (t.tid, t.cpu))
        .collect()
}

#[test]
fn two_busy_processes_run_on_both_workers() {
    // Both cores, without other tests competing for them.
    let _alone = alone();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return wippy_testkit::skip(format!("needs two cores, this machine has {cores}"));
    }
    if let Err(why) = wippy_testkit::check_cpu_meter(Duration::from_millis(50), TIMEOUT) {
        return wippy_testkit::skip(why);
    }
    let t = app();
    let k = as_i64(&exit_value(t.run(
        "calibrate",
        vec![Payload::Int(200)],
        TIMEOUT,
    )));
    assert!(k > 0, "calibration did some work");

    // os.clock is wall time (Wippy's), so on a loaded machine the
    // calibrated work is less CPU than 200 ms: double it until the two
    // processes use enough worker CPU to tell a split (the meter counts in
    // clock ticks of 10 ms).
    let mut k = k;
    let mut tries = 0;
    let (used, total) = loop {
        let before = worker_cpu(&wippy_testkit::threads().expect("readable a moment ago"));
        run_busy(&t, 2, k);
        let after = worker_cpu(&wippy_testkit::threads().expect("readable a moment ago"));
        assert_eq!(after.len(), 2, "the host has two worker threads: {after:?}");
        let used: Vec<Duration> = after
            .iter()
            .map(|(tid, cpu)| {
                let then = before
                    .iter()
                    .find(|(t, _)| t == tid)
                    .map_or(Duration::ZERO, |b| b.1);
                cpu.saturating_sub(then)
            })
            .collect();
        let total: Duration = used.iter().sum();
        eprintln!("stealing: k = {k}, CPU per worker {used:?}");
        tries += 1;
        if total >= Duration::from_millis(200) || tries == 5 {
            break (used, total);
        }
        k *= 2;
    };
    assert!(
        total >= Duration::from_millis(100),
        "two busy processes used only {total:?} of worker CPU after {tries} tries: too little to tell"
    );
    // Each worker ran a fair part of the work: at least a fifth (an even
    // split is half each; all of it on one worker is the failure).
    for u in &used {
        assert!(
            *u >= total / 5,
            "one worker did {u:?} of {total:?}: the busy processes did not run on both workers ({used:?})"
        );
    }
}
