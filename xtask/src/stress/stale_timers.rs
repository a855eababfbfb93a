//! The stale-timer storm (issue 12, defect 1): a process creates 80,000
//! `time.after` it never reads, spawns 80,000 monitored children on a
//! second host and takes their EXITs. It must take no longer than twice a
//! clean run (no stale timers), and a ticker on a third host must keep
//! ticking (a storm used to hold the timer thread and the children's
//! workers on its lock).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wippy_lua::LuaHostConfig;
use wippy_process::{Payload, SpawnOptions};

use super::lua_app::{Entry, LuaApp, cores};
use super::{Check, Scenario};

pub(super) fn scenario() -> Scenario {
    Scenario {
        name: "stale_timers",
        about: "80k unread timers + 80k monitored children: ≤ 2x a clean run, another host's ticker not starved",
        run,
    }
}

const STORM: &str = r#"
local time = require("time")
return { main = function(stale, children)
    local keep = {}
    for i = 1, stale do keep[i] = time.after("100ms") end
    local events = process.events()
    for i = 1, children do
        assert(process.spawn_monitored("stress:child", "stress:children"))
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

const TICKER: &str = r#"
local time = require("time")
return { main = function(monitor)
    while true do
        time.sleep("1ms")
        process.send(monitor, "tick")
    end
end }
"#;

const WAIT: Duration = Duration::from_secs(600);

fn run(quick: bool) -> Vec<Check> {
    // Quick: enough that the stale timers (100 ms) fire while the storm
    // still runs, as they do at full size; a shorter storm may end before
    // them or not, and its figure swings with that.
    let n: i64 = if quick { 30_000 } else { 80_000 };
    let a = LuaApp::start(
        &[
            Entry {
                name: "storm",
                source: STORM,
            },
            Entry {
                name: "child",
                source: CHILD,
            },
            Entry {
                name: "ticker",
                source: TICKER,
            },
        ],
        vec![
            LuaHostConfig::new("stress:lua", cores()),
            LuaHostConfig::new("stress:children", cores()),
            LuaHostConfig::new("stress:other", 1),
        ],
    );
    // Clean and stormy runs alternate in pairs, and the figure is the
    // median of the pairs' ratios: a noisy neighbour slowing one run moves
    // one pair, not the figure (the best of each kind, compared instead,
    // swung from 0.9 to 2.2 on a loaded 2-core machine).
    let mut pairs: Vec<[Storm; 2]> = (0..3)
        .map(|_| [0, n].map(|stale| storm(&a, stale, n)))
        .collect();
    a.stop();
    let ratio_of =
        |[clean, stormy]: &[Storm; 2]| stormy.took.as_secs_f64() / clean.took.as_secs_f64();
    pairs.sort_by(|x, y| ratio_of(x).total_cmp(&ratio_of(y)));
    let [clean, stormy] = &pairs[pairs.len() / 2];
    let ratio = ratio_of(&pairs[pairs.len() / 2]);
    let worst_gap = |kind: usize| pairs.iter().map(|p| p[kind].gap).max().unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    vec![
        Check::info("stale_timers.clean_median_pair", ms(clean.took), "ms"),
        Check::info("stale_timers.stormy_median_pair", ms(stormy.took), "ms"),
        Check::at_most("stale_timers.ratio", ratio, "ratio", 2.0),
        Check::info("stale_timers.ticker_gap_clean", ms(worst_gap(0)), "ms"),
        // Not starved: the ticker's host has nothing else to do, so what
        // delays it is the machine (held to 3x the clean runs, and 50 ms).
        Check::at_most(
            "stale_timers.ticker_gap_stormy",
            ms(worst_gap(1)),
            "ms",
            (3.0 * ms(worst_gap(0))).max(50.0).round(),
        ),
    ]
}

/// What one storm measured.
struct Storm {
    /// From its start to the last EXIT taken.
    took: Duration,
    /// The longest gap between the ticks of a ticker on a third host meanwhile.
    gap: Duration,
}

/// One storm with `stale` unread timers and `children` monitored children.
fn storm(a: &LuaApp, stale: i64, children: i64) -> Storm {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, gap) = std::sync::mpsc::channel();
    let stopping = stop.clone();
    let monitor = a
        .native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.recv().await;
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
        .expect("monitor");
    let ticker = a.spawn(
        "stress:other",
        "ticker",
        vec![Payload::Pid(monitor)],
        SpawnOptions::default(),
    );
    let start = Instant::now();
    let result = a.run(
        "stress:lua",
        "storm",
        vec![Payload::Int(stale), Payload::Int(children)],
        WAIT,
    );
    let took = start.elapsed();
    assert_eq!(
        result.expect("the storm ends normally"),
        Payload::Int(children),
        "every EXIT taken"
    );
    stop.store(true, Ordering::Relaxed);
    let worst = gap.recv_timeout(WAIT).expect("the monitor reports");
    a.rt.node().terminate(ticker).expect("the ticker runs");
    eprintln!(
        "stale_timers: {children} children, {stale} stale timers: {took:?}, ticker's longest gap {worst:?}"
    );
    Storm { took, gap: worst }
}
