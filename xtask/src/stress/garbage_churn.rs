//! Garbage churn under a memory limit (issue 12, defect 2): on a host of
//! one worker whose processes may hold 16 MB, 8 string churners and 4
//! table churners make garbage for 5 minutes beside 1,100 idle processes
//! (so the VMs' memory categories are shared: 4 shards of 275). None may
//! be killed for memory it does not hold; then a hog on the same host,
//! which keeps what it allocates, must still be stopped at the limit.

use std::time::{Duration, Instant};

use wippy_lua::LuaHostConfig;
use wippy_process::{Event, ExitResult, SpawnOptions};

use super::lua_app::{Entry, LuaApp};
use super::{Check, Scenario};

pub(super) fn scenario() -> Scenario {
    Scenario {
        name: "garbage_churn",
        about: "12 churners beside 1,100 idle processes on a 16 MB host, 5 minutes: no memory kill; a hog still stopped",
        run,
    }
}

/// Makes 200 KB of garbage a millisecond, forever.
const STRINGS: &str = r#"
local time = require("time")
return { main = function()
    while true do
        for i = 1, 10 do
            local s = string.rep("g", 20000) .. i
        end
        time.sleep("1ms")
    end
end }
"#;

/// Makes tables of garbage, forever.
const TABLES: &str = r#"
local time = require("time")
return { main = function()
    while true do
        local t = {}
        for i = 1, 2000 do
            t[i] = { i, tostring(i) }
        end
        time.sleep("1ms")
    end
end }
"#;

/// Keeps 1 KB strings until it is stopped, sleeping every 100 of them (so
/// the growth is spread over many steps).
const HOG: &str = r#"
local time = require("time")
return { main = function()
    local kept = {}
    for i = 1, 1e9 do
        kept[i] = string.rep("h", 1000) .. i
        if i % 100 == 0 then time.sleep("1ms") end
    end
end }
"#;

/// Waits for any message.
const IDLE: &str = r#"
return { main = function() process.inbox():receive() end }
"#;

const LIMIT: u64 = 16 << 20;

fn run(quick: bool) -> Vec<Check> {
    let length = Duration::from_secs(if quick { 3 } else { 300 });
    let a = LuaApp::start(
        &[
            Entry {
                name: "strings",
                source: STRINGS,
            },
            Entry {
                name: "tables",
                source: TABLES,
            },
            Entry {
                name: "hog",
                source: HOG,
            },
            Entry {
                name: "idle",
                source: IDLE,
            },
        ],
        vec![LuaHostConfig {
            memory_limit: Some(LIMIT),
            ..LuaHostConfig::new("stress:lua", 1)
        }],
    );
    let host = "stress:lua";
    let idle: Vec<_> = (0..1100)
        .map(|_| a.spawn(host, "idle", vec![], SpawnOptions::default()))
        .collect();
    let (w, events) = a.watcher();
    let opts = || SpawnOptions::default().parent(w).monitored();
    let churners: Vec<_> = (0..8)
        .map(|_| a.spawn(host, "strings", vec![], opts()))
        .chain((0..4).map(|_| a.spawn(host, "tables", vec![], opts())))
        .collect();
    let start = Instant::now();
    let mut killed = 0;
    let mut first_kill = None;
    let mut heap_peak = 0;
    let mut next_report = Duration::from_secs(60);
    while start.elapsed() < length {
        if let Ok(Event::Exit { from, result }) = events.recv_timeout(Duration::from_millis(200)) {
            killed += 1;
            eprintln!(
                "garbage_churn: churner {from} ended after {:?}: {result:?}",
                start.elapsed()
            );
            first_kill.get_or_insert(start.elapsed());
        }
        heap_peak = heap_peak.max(a.hosts[0].heap_bytes(false));
        if start.elapsed() >= next_report {
            eprintln!(
                "garbage_churn: {:?}, {killed} killed; Lua heap {} KB",
                start.elapsed(),
                a.hosts[0].heap_bytes(false) >> 10
            );
            next_report += Duration::from_secs(60);
        }
    }
    let churned = start.elapsed();
    let hog = a.spawn(host, "hog", vec![], opts());
    let hog_result = wait_exit(&events, hog);
    let hog_stopped =
        matches!(&hog_result, Err(e) if e.message().contains("memory limit exceeded"));
    eprintln!(
        "garbage_churn: {} churners ran {churned:?}, {killed} killed (first after {first_kill:?}); the hog ended with {hog_result:?}",
        churners.len()
    );
    for pid in churners.into_iter().chain(idle) {
        a.rt.node().terminate(pid).ok();
    }
    a.stop();
    vec![
        Check::info("garbage_churn.seconds", churned.as_secs_f64(), "s"),
        Check::info(
            "garbage_churn.heap_peak",
            heap_peak as f64 / (1 << 20) as f64,
            "MiB",
        ),
        Check::equal("garbage_churn.killed", killed as f64, "count", 0.0),
        Check::equal(
            "garbage_churn.hog_stopped",
            f64::from(u8::from(hog_stopped)),
            "yes=1",
            1.0,
        ),
    ]
}

/// The EXIT of `pid` (panics after a minute).
fn wait_exit(events: &std::sync::mpsc::Receiver<Event>, pid: wippy_process::Pid) -> ExitResult {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Exit { from, result }) if from == pid => return result,
            Ok(_) => {}
            Err(_) => panic!("{pid} did not end within a minute"),
        }
    }
}
