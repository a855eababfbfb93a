//! Cancel at scale (issue 12, defect 9): a million idle processes are
//! cancelled with the 5 s deadline; each says "bye" and returns when it
//! sees its CANCEL. None may be killed by the deadline (it counts from
//! when the process gets to see the CANCEL, not from the send) and no
//! "bye" may be lost.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use wippy_lua::LuaHostConfig;
use wippy_process::{Event, Payload, Pid, SpawnOptions};

use super::lua_app::{Entry, LuaApp, cores};
use super::{Check, Scenario};

pub(super) fn scenario() -> Scenario {
    Scenario {
        name: "cancel_at_scale",
        about: "1M idle processes cancelled with a 5 s deadline: none killed, no \"bye\" lost",
        run,
    }
}

const POLITE: &str = r#"
return { main = function(collector)
    local events = process.events()
    assert(process.send(collector, "ready"))
    while true do
        local ev = events:receive()
        if ev.kind == process.event.CANCEL then
            assert(process.send(collector, "bye"))
            return "bye"
        end
    end
end }
"#;

const DEADLINE: Duration = Duration::from_secs(5);
const WAIT: Duration = Duration::from_secs(900);

/// What the native watcher and collector counted.
#[derive(Default, Debug)]
struct Tally {
    ready: u64,
    bye: u64,
    exited_politely: u64,
    killed: u64,
    failed: u64,
}

fn run(quick: bool) -> Vec<Check> {
    let n: u64 = if quick { 20_000 } else { 1_000_000 };
    let a = LuaApp::start(
        &[Entry {
            name: "polite",
            source: POLITE,
        }],
        vec![LuaHostConfig::new("stress:lua", cores())],
    );
    let (tx, tally) = mpsc::channel::<(&'static str, u64)>();
    let bye_tx = tx.clone();
    // Counts "ready" and "bye" messages: says when all are ready, and
    // the counts when told to stop.
    let collector = a
        .native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let (mut ready, mut bye) = (0, 0);
            loop {
                match cx.recv().await.topic.as_str() {
                    "ready" => {
                        ready += 1;
                        if ready == n {
                            bye_tx.send(("all ready", 0)).ok();
                        }
                    }
                    "bye" => bye += 1,
                    "stop" => {
                        bye_tx.send(("ready", ready)).ok();
                        bye_tx.send(("bye", bye)).ok();
                        return Ok(Payload::Nil);
                    }
                    _ => {}
                }
            }
        })
        .expect("collector");
    // Counts EXITs by result.
    let watcher = a
        .native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let (mut polite, mut killed, mut failed) = (0, 0, 0);
            while polite + killed + failed < n {
                if let Event::Exit { result, .. } = cx.next_event().await {
                    match result {
                        Ok(Payload::Str(s)) if s == "bye" => polite += 1,
                        Err(e) if e == wippy_process::ExitError::cancelled() => killed += 1,
                        _ => failed += 1,
                    }
                }
            }
            tx.send(("polite", polite)).ok();
            tx.send(("killed", killed)).ok();
            tx.send(("failed", failed)).ok();
            Ok(Payload::Nil)
        })
        .expect("watcher");

    let start = Instant::now();
    let pids: Vec<Pid> = (0..n)
        .map(|_| {
            a.spawn(
                "stress:lua",
                "polite",
                vec![Payload::Pid(collector)],
                SpawnOptions::default().parent(watcher).monitored(),
            )
        })
        .collect();
    wait_for(&tally, "all ready");
    eprintln!(
        "cancel_at_scale: {n} processes idle after {:?}",
        start.elapsed()
    );
    let cancelling = Instant::now();
    let node = a.rt.node();
    for &pid in &pids {
        node.cancel(None, pid, DEADLINE, "")
            .expect("an idle process");
    }
    eprintln!(
        "cancel_at_scale: {n} cancels sent in {:?}",
        cancelling.elapsed()
    );
    let mut t = Tally::default();
    for _ in 0..3 {
        let (what, count) = tally.recv_timeout(WAIT).expect("the watcher reports");
        match what {
            "polite" => t.exited_politely = count,
            "killed" => t.killed = count,
            "failed" => t.failed = count,
            _ => {}
        }
    }
    let ended = cancelling.elapsed();
    node.send(None, collector, "stop", Payload::Nil)
        .expect("the collector lives");
    loop {
        match tally.recv_timeout(WAIT).expect("the collector reports") {
            ("ready", c) => t.ready = c,
            ("bye", c) => {
                t.bye = c;
                break;
            }
            _ => {}
        }
    }
    eprintln!("cancel_at_scale: all ended {ended:?} after the first cancel: {t:?}");
    a.stop();
    let n = n as f64;
    vec![
        Check::info(
            "cancel_at_scale.ended_after",
            ended.as_secs_f64() * 1e3,
            "ms",
        ),
        Check::equal("cancel_at_scale.killed", t.killed as f64, "count", 0.0),
        Check::equal("cancel_at_scale.failed", t.failed as f64, "count", 0.0),
        Check::equal(
            "cancel_at_scale.polite",
            t.exited_politely as f64,
            "count",
            n,
        ),
        Check::equal("cancel_at_scale.ready", t.ready as f64, "count", n),
        Check::equal("cancel_at_scale.bye", t.bye as f64, "count", n),
    ]
}

/// Waits for the report `what`.
fn wait_for(tally: &mpsc::Receiver<(&'static str, u64)>, what: &str) {
    loop {
        match tally.recv_timeout(WAIT) {
            Ok((w, _)) if w == what => return,
            Ok(_) => {}
            Err(_) => panic!("no {what:?} within {WAIT:?}"),
        }
    }
}
