//! The flood (issue 12, defect 3): on a host with a 16 MB memory limit, a
//! producer sends 1 KB messages as fast as it can to a consumer slower than
//! it, while a pinger on the same host measures round trips to a ponger.
//! The consumer's mailbox must stay within its memory limit (the producer
//! gets `nil, err` past it) and the pinger's p99 within 10 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use wippy_lua::LuaHostConfig;
use wippy_process::{Payload, SpawnOptions};

use super::lua_app::{Entry, LuaApp, cores};
use super::{Check, Scenario};

pub(super) fn scenario() -> Scenario {
    Scenario {
        name: "flood",
        about: "1 KB messages flood a slow consumer (16 MB limit): mailbox bounded, same-host ping p99 ≤ 10 ms",
        run,
    }
}

const LIMIT: u64 = 16 << 20;

/// Takes messages forever, working a little on each (slower than the
/// producer).
const CONSUMER: &str = r#"
return { main = function()
    local inbox = process.inbox()
    local sum = 0
    while true do
        local s = inbox:receive():payload():data()
        for i = 1, 200 do sum = (sum + #s * i) % 1000003 end
    end
end }
"#;

/// Sends 1 KB messages to `to` forever; every 10,000 sends it reports how
/// many were taken and how many refused to `report`.
const PRODUCER: &str = r#"
return { main = function(to, report)
    local payload = string.rep("x", 1024)
    local sent, refused, first = 0, 0, nil
    while true do
        for i = 1, 10000 do
            local ok, err = process.send(to, "m", payload)
            if ok then sent = sent + 1 else
                refused = refused + 1
                first = first or err
            end
        end
        process.send(report, "count", { sent = sent, refused = refused, err = first })
    end
end }
"#;

/// Spins forever (preempted every slice).
const SPINNER: &str = r#"
return { main = function()
    local x = 0
    while true do
        for i = 1, 1000000 do x = (x + i) % 1000003 end
    end
end }
"#;

const PONGER: &str = r#"
return { main = function()
    local inbox = process.inbox()
    while true do
        local m = inbox:receive()
        process.send(m:from(), "pong", m:payload():data())
    end
end }
"#;

/// `n` round trips to `pong`, 1 ms apart; returns their times in
/// microseconds.
const PINGER: &str = r#"
local time = require("time")
return { main = function(pong, n)
    local inbox = process.inbox()
    local out = {}
    for i = 1, n do
        local t0 = time.now():unix_nano()
        process.send(pong, "ping", i)
        local back = inbox:receive():payload():data()
        if back ~= i then error("pong out of order") end
        out[i] = (time.now():unix_nano() - t0) / 1000
        time.sleep("1ms")
    end
    return out
end }
"#;

const WAIT: Duration = Duration::from_secs(600);

fn run(quick: bool) -> Vec<Check> {
    let pings: i64 = if quick { 500 } else { 5_000 };
    let a = LuaApp::start(
        &[
            Entry {
                name: "consumer",
                source: CONSUMER,
            },
            Entry {
                name: "producer",
                source: PRODUCER,
            },
            Entry {
                name: "ponger",
                source: PONGER,
            },
            Entry {
                name: "pinger",
                source: PINGER,
            },
            Entry {
                name: "spinner",
                source: SPINNER,
            },
        ],
        vec![LuaHostConfig {
            memory_limit: Some(LIMIT),
            ..LuaHostConfig::new("stress:lua", cores())
        }],
    );
    let host = "stress:lua";
    let none = SpawnOptions::default;
    let pong = a.spawn(host, "ponger", vec![], none());
    let quiet = p99_of(&a, pong, pings.min(500));
    eprintln!("flood: ping without a flood: p99 {quiet:.2} ms");
    // The reference: the workers as busy as the flood keeps them (two
    // spinning processes), without a message sent.
    let spinners: Vec<_> = (0..2)
        .map(|_| a.spawn(host, "spinner", vec![], none()))
        .collect();
    let busy = p99_of(&a, pong, pings.min(2_000));
    for s in spinners {
        a.rt.node().terminate(s).expect("a spinner runs");
    }
    eprintln!("flood: ping beside two spinning processes: p99 {busy:.2} ms");

    let consumer = a.spawn(host, "consumer", vec![], none());
    let consumer_cell = a.rt.node().cell(consumer).expect("consumer lives");
    // The producer's latest counts.
    let (tx, counts) = std::sync::mpsc::channel();
    let report = a
        .native
        .spawn_async(none(), move |cx| async move {
            loop {
                let m = cx.recv().await;
                if tx.send(m.payload).is_err() {
                    return Ok(Payload::Nil);
                }
            }
        })
        .expect("report");
    let producer = a.spawn(
        host,
        "producer",
        vec![Payload::Pid(consumer), Payload::Pid(report)],
        none(),
    );
    // The consumer's mailbox, sampled every millisecond.
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(consumer_cell.queued_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    // Let the mailbox fill before the pings start.
    let first = counts.recv_timeout(WAIT).expect("the producer reports");
    eprintln!("flood: producer's first report: {first}");
    let flooded = p99_of(&a, pong, pings);
    sampling.store(false, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let last = std::iter::from_fn(|| counts.try_recv().ok())
        .last()
        .unwrap_or(first);
    let count = |k: &str| last.get(k).and_then(Payload::as_int).unwrap_or(-1) as f64;
    eprintln!(
        "flood: producer sent {} and was refused {} ({}); consumer's mailbox peaked at {} bytes",
        count("sent"),
        count("refused"),
        last.get("err").map_or(String::new(), |e| e.to_string()),
        peak.load(Ordering::Relaxed)
    );
    a.rt.node().terminate(producer).expect("the producer runs");
    a.stop();
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    vec![
        Check::info("flood.ping_p99_quiet", quiet, "ms"),
        Check::info("flood.ping_p99_busy", busy, "ms"),
        Check::at_most("flood.ping_p99", flooded, "ms", 10.0),
        Check::info("flood.sent", count("sent"), "count"),
        Check::info("flood.refused", count("refused"), "count"),
        Check::at_most(
            "flood.mailbox_peak",
            mib(peak.load(Ordering::Relaxed)),
            "MiB",
            mib(LIMIT as usize),
        ),
    ]
}

/// The 99th percentile of `n` round trips of a pinger to `pong`, in ms.
fn p99_of(a: &LuaApp, pong: wippy_process::Pid, n: i64) -> f64 {
    let r = a.run(
        "stress:lua",
        "pinger",
        vec![Payload::Pid(pong), Payload::Int(n)],
        WAIT,
    );
    let Ok(Payload::Array(times)) = r else {
        panic!("the pinger failed: {r:?}");
    };
    let mut us: Vec<f64> = times
        .iter()
        .map(|t| match t {
            Payload::Int(i) => *i as f64,
            Payload::Float(f) => *f,
            other => panic!("a ping time is {other:?}"),
        })
        .collect();
    us.sort_by(f64::total_cmp);
    let p99 = us[(us.len() * 99 / 100).min(us.len() - 1)];
    eprintln!(
        "flood: {n} pings: median {:.0} µs, p99 {p99:.0} µs, max {:.0} µs",
        us[us.len() / 2],
        us[us.len() - 1]
    );
    p99 / 1e3
}
