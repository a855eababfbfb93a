//! A million processes, then their memory back (issue 12, defect 6): a
//! host runs a million idle processes, they all end, and 10 s later the
//! OS process's resident memory must be within 20 % of what it was before
//! them (the host's shards collect, shrink or replace their VMs and have
//! the allocator return what is free; `docs/execution.md`, 7), and the
//! host's Lua heap too. The quick run (50,000 processes) holds the share
//! of what the processes took that is still resident to 20 % instead.
//!
//! The host is given mimalloc's `mi_collect` as its `release_memory`, as
//! the `wippy` binary gives its hosts; the driver thread, which spawned the
//! processes (their cells are its allocations, freed by the workers),
//! collects its own heap before each reading.
//!
//! `WIPPY_STRESS_MEMORY_MAP=1` prints where resident memory is before and
//! after (`memory_map.rs`); `WIPPY_RECLAIM_PROCESSES` sets the number of
//! processes (for investigations; the checks are those of the size
//! `--quick` picks).

use std::time::{Duration, Instant};

use wippy_lua::LuaHostConfig;
use wippy_process::{Payload, Pid, SpawnOptions};

use super::lua_app::{Entry, LuaApp, cores, release_memory, rss};
use super::memory_map;
use super::{Check, Scenario};

pub(super) fn scenario() -> Scenario {
    Scenario {
        name: "reclaim",
        about: "1M idle processes end: RSS within 20 % of the baseline 10 s after",
        run,
    }
}

/// Says it is ready, then waits on its inbox.
const IDLE: &str = r#"
return { main = function(parent)
    local inbox = process.inbox()
    process.send(parent, "ready", 1)
    inbox:receive()
end }
"#;

const HOST: &str = "stress:lua";
const AFTER: Duration = Duration::from_secs(10);

fn run(quick: bool) -> Vec<Check> {
    if let Err(why) = wippy_testkit::resident_bytes() {
        panic!("reclaim reads resident memory: {why}");
    }
    // Quick: enough that every shard (8 on 2 cores) held more than 4,096
    // processes at once, so emptied VMs are replaced, as at full size.
    let n: usize = if quick { 50_000 } else { 1_000_000 };
    // Investigations at other sizes: `WIPPY_RECLAIM_PROCESSES=300000`.
    let n = std::env::var("WIPPY_RECLAIM_PROCESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    let a = LuaApp::start(
        &[Entry {
            name: "idle",
            source: IDLE,
        }],
        vec![LuaHostConfig {
            release_memory: Some(release_memory),
            ..LuaHostConfig::new(HOST, cores())
        }],
    );
    let host = &a.hosts[0];
    let (mailbox, ready) = a.mailbox();
    let baseline = a.rt.node().stats().live;
    // Warm up: the VMs made and the code loaded, as they are after.
    let warm: Vec<Pid> = (0..100).map(|_| spawn_idle(&a, mailbox)).collect();
    wait_ready(&ready, warm.len());
    end_all(&a, &warm, baseline);
    std::thread::sleep(Duration::from_secs(2)); // their reclaim
    release_memory();
    let heap_before = host.heap_bytes(false);
    let rss_before = rss();
    if memory_map::wanted() {
        memory_map::report("before");
    }

    let start = Instant::now();
    let pids: Vec<Pid> = (0..n).map(|_| spawn_idle(&a, mailbox)).collect();
    wait_ready(&ready, n);
    let started = start.elapsed();
    let heap_peak = host.heap_bytes(false);
    let rss_peak = rss();
    eprintln!(
        "reclaim: {n} processes idle after {started:?}; RSS {} MB",
        rss_peak >> 20
    );
    end_all(&a, &pids, baseline);
    drop(pids);
    let ended = Instant::now();
    eprintln!("reclaim: all ended after {:?}", start.elapsed());
    // The Lua heap, every 50 ms until it is back (or the 10 s are up).
    let mut heap_back = None;
    while ended.elapsed() < AFTER {
        if heap_back.is_none() && host.heap_bytes(false) <= heap_before + heap_before / 5 {
            heap_back = Some(ended.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    release_memory();
    let heap_after = host.heap_bytes(false);
    let rss_after = rss();
    if memory_map::wanted() {
        memory_map::report("10 s after");
    }
    eprintln!(
        "reclaim: {n} processes ended: Lua heap {} KB -> {} KB -> {} KB (back after {heap_back:?}); RSS {} MB -> {} MB -> {} MB",
        heap_before >> 10,
        heap_peak >> 10,
        heap_after >> 10,
        rss_before >> 20,
        rss_peak >> 20,
        rss_after >> 20,
    );
    a.stop();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let over_baseline = rss_after as f64 / rss_before as f64;
    // Of what the processes took, the share still resident.
    let kept = rss_after.saturating_sub(rss_before) as f64
        / rss_peak.saturating_sub(rss_before).max(1) as f64;
    let mut checks = vec![
        Check::info("reclaim.rss_before", mib(rss_before), "MiB"),
        Check::info("reclaim.rss_peak", mib(rss_peak), "MiB"),
        Check::info("reclaim.rss_10s_after", mib(rss_after), "MiB"),
    ];
    if quick {
        // At quick size what stays (the allocator's pages for a live
        // object or two, the kernel's process table) is as large as the
        // baseline's 20 %: the quick run holds the share of what the
        // processes took instead.
        checks.push(Check::info(
            "reclaim.rss_after/before",
            over_baseline,
            "ratio",
        ));
        checks.push(Check::at_most("reclaim.rss_kept_share", kept, "ratio", 0.2));
    } else {
        checks.push(Check::at_most(
            "reclaim.rss_after/before",
            over_baseline,
            "ratio",
            1.2,
        ));
        checks.push(Check::info("reclaim.rss_kept_share", kept, "ratio"));
    }
    checks.push(Check::info(
        "reclaim.heap_peak",
        mib(heap_peak as u64),
        "MiB",
    ));
    checks.push(Check::at_most(
        "reclaim.heap_after/before",
        heap_after as f64 / heap_before as f64,
        "ratio",
        1.2,
    ));
    checks
}

fn spawn_idle(a: &LuaApp, mailbox: Pid) -> Pid {
    a.spawn(
        HOST,
        "idle",
        vec![Payload::Pid(mailbox)],
        SpawnOptions::default(),
    )
}

/// Waits for `n` "ready" messages.
fn wait_ready(ready: &std::sync::mpsc::Receiver<Payload>, n: usize) {
    for i in 0..n {
        ready
            .recv_timeout(Duration::from_secs(600))
            .unwrap_or_else(|_| panic!("only {i} of {n} processes started"));
    }
}

/// Terminates `pids` and waits until the node has only `baseline` live
/// processes.
fn end_all(a: &LuaApp, pids: &[Pid], baseline: usize) {
    let node = a.rt.node();
    for &pid in pids {
        node.terminate(pid).expect("an idle process lives");
    }
    let until = Instant::now() + Duration::from_secs(600);
    while node.stats().live > baseline {
        assert!(
            Instant::now() < until,
            "{} processes still live 10 minutes after they were terminated",
            node.stats().live - baseline
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    release_memory();
}
