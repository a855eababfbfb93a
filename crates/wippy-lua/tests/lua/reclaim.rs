//! The memory of ended processes is given back (issue 12, defect 6): a host
//! whose processes all end, and which then stays quiet, collects what they
//! left, shrinks its shards and tells the allocator to return it, so its
//! Lua heap is back to where it started and its resident memory nearly so.
//!
//! The test binary allocates through mimalloc, as the `wippy` binary does
//! (`footprint.rs`), and hosts are given mimalloc's `mi_collect` to return
//! memory with (`LuaHostConfig::release_memory`). These tests measure the
//! whole OS process, so they run alone.

use std::time::{Duration, Instant};

use wippy_lua::LuaHostConfig;
use wippy_process::Payload;

use crate::common::*;

/// Says it is ready, then waits on its inbox.
const IDLE: &str = r#"
local M = {}
function M.main(parent)
    local inbox = process.inbox()
    process.send(parent, "ready", 1)
    inbox:receive()
end
return M
"#;

/// mimalloc's: return what this thread's heap holds free to the OS.
fn mi_collect() {
    // SAFETY: no contract; collects the calling thread's heap.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Resident memory now, in bytes.
fn rss() -> u64 {
    wippy_testkit::resident_bytes().expect("readable a moment ago")
}

/// What one run of [`ended_processes_give_their_memory_back`] saw.
struct Figures {
    rss_before: u64,
    rss_peak: u64,
    rss_after: u64,
    heap_before: usize,
    heap_peak: usize,
    heap_after: usize,
    /// From the last process's end to the heap being back.
    back_after: Duration,
}

/// Spawns `n` idle processes on a host of `workers`, terminates them all,
/// and waits up to `within` for the host's Lua heap to be back within 20 %
/// of what it was before (panics if it is not).
fn ended_processes_give_their_memory_back(n: usize, workers: usize, within: Duration) -> Figures {
    let t = TestApp::with_config(
        vec![entry("idle", IDLE)],
        LuaHostConfig {
            release_memory: Some(mi_collect),
            ..LuaHostConfig::new(HOST, workers)
        },
    );
    let (mailbox, ready) = t.mailbox();
    let baseline = t.live();
    // Warm up: the VMs and the code loaded, as they will be after.
    for _ in 0..100 {
        t.spawn("idle", vec![Payload::Pid(mailbox)]);
    }
    for _ in 0..100 {
        ready
            .recv_timeout(TIMEOUT)
            .expect("warm-up processes start");
    }
    for pid in t.host.snapshot().processes.iter().map(|p| p.pid) {
        t.rt.node().terminate(pid).unwrap();
    }
    wait_until("the warm-up processes end", TIMEOUT, || {
        t.live() == baseline
    });
    std::thread::sleep(Duration::from_secs(2)); // their reclaim
    mi_collect();
    let heap_before = t.host.heap_bytes(false);
    let rss_before = rss();

    let pids: Vec<_> = (0..n)
        .map(|_| t.spawn("idle", vec![Payload::Pid(mailbox)]))
        .collect();
    for i in 0..n {
        ready
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("only {i} of {n} processes started"));
    }
    let heap_peak = t.host.heap_bytes(false);
    let rss_peak = rss();
    for pid in pids {
        t.rt.node().terminate(pid).unwrap();
    }
    wait_until("every process ends", Duration::from_secs(120), || {
        t.live() == baseline
    });
    // The spawns and the cells were this thread's allocations.
    mi_collect();
    let ended = Instant::now();
    let limit = heap_before + heap_before / 5;
    while t.host.heap_bytes(false) > limit {
        assert!(
            ended.elapsed() < within,
            "the Lua heap is still {} KB {within:?} after {n} processes ended (before them: {} KB, with them: {} KB)",
            t.host.heap_bytes(false) >> 10,
            heap_before >> 10,
            heap_peak >> 10
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let back_after = ended.elapsed();
    // The second release (one period after the first) included.
    std::thread::sleep(Duration::from_secs(3));
    // This thread stands for the spawner (in an app, a process on a
    // worker, which the reclaims' releases reach): what the workers freed
    // of its allocations (the processes' cells) is returned when it
    // collects.
    mi_collect();
    Figures {
        rss_before,
        rss_peak,
        rss_after: rss(),
        heap_before,
        heap_peak,
        heap_after: t.host.heap_bytes(false),
        back_after,
    }
}

impl Figures {
    fn report(&self, n: usize) {
        eprintln!(
            "{n} processes ended: Lua heap {} KB -> {} KB -> {} KB (back after {:?}); RSS {} MB -> {} MB -> {} MB",
            self.heap_before >> 10,
            self.heap_peak >> 10,
            self.heap_after >> 10,
            self.back_after,
            self.rss_before >> 20,
            self.rss_peak >> 20,
            self.rss_after >> 20,
        );
    }

    /// The share of what the processes took in resident memory that is
    /// still held.
    fn rss_kept(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64
            / self.rss_peak.saturating_sub(self.rss_before).max(1) as f64
    }
}

#[test]
fn the_memory_of_a_hundred_thousand_ended_processes_is_given_back() {
    let _alone = alone();
    if let Err(why) = wippy_testkit::resident_bytes() {
        return wippy_testkit::skip(why);
    }
    let n = 100_000;
    let f = ended_processes_give_their_memory_back(n, 2, Duration::from_secs(10));
    f.report(n);
    // What stays: the kernel's process table (never shrunk) and pages the
    // allocator keeps for a live object or two. Measured: 6 to 9 % kept;
    // before, all of it (the heap was never collected).
    assert!(
        f.rss_kept() < 0.25,
        "RSS {} MB -> {} MB -> {} MB: {:.0} % of what the processes took is still resident",
        f.rss_before >> 20,
        f.rss_peak >> 20,
        f.rss_after >> 20,
        f.rss_kept() * 100.0
    );
}

// The issue's figure, a million processes and RSS within 20 % of the
// baseline 10 s after they end, is the `reclaim` scenario of
// `cargo xtask stress`.
