//! A process with tens of thousands of unread timer completions still takes
//! each lifecycle event in constant time, and never stalls another host
//! (issue 12, defect 1: the events and completions of a process shared one
//! queue, scanned under the cell's lock, and the workers of the host its
//! children ran on blocked on that lock to deliver their EXITs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{Payload, SpawnOptions};

use crate::common::*;

/// Creates `stale` timers it never reads (they fire while it spawns; the
/// last `late` fire while it takes events), spawns `children` monitored
/// children on host `app:children` and takes their EXIT events.
const STORM: &str = r#"
local time = require("time")
return { main = function(stale, late, children)
    local keep = {}
    for i = 1, stale do keep[i] = time.after("100ms") end
    for i = 1, late do keep[stale + i] = time.after((150 + i * 5) .. "ms") end
    local events = process.events()
    for i = 1, children do
        assert(process.spawn_monitored("app:child", "app:children"))
    end
    local exits = 0
    while exits < children do
        local ev = events:receive()
        if ev.kind == process.event.EXIT then exits = exits + 1 end
    end
    return exits
end }
"#;

const CHILD: &str = "return { main = function() end }";

/// Sends `monitor` a tick every millisecond, forever.
const TICKER: &str = r#"
local time = require("time")
return { main = function(monitor)
    while true do
        time.sleep("1ms")
        process.send(monitor, "tick")
    end
end }
"#;

/// Runs the storm and returns how long it took, and the longest gap
/// between the ticks of a ticker on the children's host meanwhile.
fn storm(t: &TestApp, stale: i64, late: i64, children: i64) -> (Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, gap) = std::sync::mpsc::channel();
    let stopping = stop.clone();
    let monitor = t
        .native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.recv().await; // the first tick
            let mut last = Instant::now();
            let mut worst = Duration::ZERO;
            while !stopping.load(Ordering::Relaxed) {
                if cx.recv_timeout(Duration::from_millis(50)).await.is_some() {
                    worst = worst.max(last.elapsed());
                    last = Instant::now();
                }
            }
            tx.send(worst.max(last.elapsed())).ok();
            Ok(Payload::Nil)
        })
        .unwrap();
    let ticker = t
        .app
        .spawn(
            "app:children",
            wippy_host::SpawnRequest {
                args: vec![Payload::Pid(monitor)],
                ..wippy_host::SpawnRequest::new("app:ticker".parse().unwrap())
            },
        )
        .expect("ticker");
    let start = Instant::now();
    let result = t.run(
        "storm",
        vec![
            Payload::Int(stale),
            Payload::Int(late),
            Payload::Int(children),
        ],
        Duration::from_secs(300),
    );
    let took = start.elapsed();
    assert_eq!(as_i64(&exit_value(result)), children);
    stop.store(true, Ordering::Relaxed);
    let worst = gap.recv_timeout(TIMEOUT).expect("the monitor reports");
    t.rt.node().terminate(ticker).expect("the ticker runs");
    (took, worst)
}

#[test]
fn stale_timer_completions_neither_slow_event_handling_nor_stall_another_host() {
    let _alone = alone();
    let t = TestApp::new(
        vec![
            entry_time("storm", STORM),
            entry("child", CHILD),
            entry_time("ticker", TICKER),
        ],
        1,
    );
    let code = CodeCache::new(t.app.registry().clone());
    let _children =
        LuaHost::start(&t.rt, &t.app, code, LuaHostConfig::new("app:children", 1)).unwrap();
    let n = 20_000;
    // Clean runs before and after (the first also warms the code cache and
    // the shards); the slower one is the reference, so that a noisy
    // machine slowing one run does not fail the test.
    let (clean_before, gap_before) = storm(&t, 0, 0, n);
    let (stormy, gap) = storm(&t, n, 200, n);
    let (clean_after, gap_after) = storm(&t, 0, 0, n);
    let clean = clean_before.max(clean_after);
    let clean_gap = gap_before.max(gap_after);
    eprintln!(
        "storm: {n} children in {clean:?} clean, {stormy:?} with {n} stale timers \
         ({:.2}x); ticker's longest gap {clean_gap:?} clean, {gap:?} stormy",
        stormy.as_secs_f64() / clean.as_secs_f64()
    );
    assert!(
        stormy.as_secs_f64() <= 3.0 * clean.as_secs_f64(),
        "{n} stale timers made taking {n} EXIT events take {stormy:?}, against {clean:?} without"
    );
    assert!(
        gap <= Duration::from_millis(500).max(clean_gap * 3),
        "a 1 ms ticker on another host went {gap:?} without a tick (clean run: {clean_gap:?})"
    );
}
