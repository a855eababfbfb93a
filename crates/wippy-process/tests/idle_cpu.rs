//! Idle processes cost no CPU: 10,000 native processes blocked on their
//! inbox leave every worker parked, and the whole OS process uses < 1 % of
//! a core while they wait.
//!
//! This file holds a single test so that the CPU time of the whole OS
//! process measures only it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wippy_process::{Payload, Runtime, SpawnOptions};

const N: usize = 10_000;
const TIMEOUT: Duration = Duration::from_secs(30);

/// The threads of this OS process, once the meter check showed `/proc`
/// readable here.
fn sample() -> wippy_testkit::Threads {
    wippy_testkit::threads().expect("/proc/self/task was readable a moment ago")
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "measures CPU time through Linux's /proc"
)]
fn ten_thousand_idle_native_processes_use_under_one_percent_cpu() {
    // The meter works: busy work on this thread shows up.
    if let Err(why) = wippy_testkit::check_cpu_meter(Duration::from_millis(50), TIMEOUT) {
        return wippy_testkit::skip(why);
    }

    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:idle-cpu", 2).unwrap();
    let node = rt.node().clone();
    let started = Arc::new(AtomicUsize::new(0));
    let mut pids = Vec::with_capacity(N);
    for _ in 0..N {
        let started = started.clone();
        pids.push(
            host.spawn_async(SpawnOptions::default(), move |cx| async move {
                started.fetch_add(1, Ordering::SeqCst);
                let m = cx.recv().await;
                Ok(m.payload)
            })
            .unwrap(),
        );
    }
    let t = Instant::now();
    while started.load(Ordering::SeqCst) < N || host.scheduler().parked_workers() < 2 {
        assert!(
            t.elapsed() < TIMEOUT,
            "processes did not all start and park"
        );
        std::thread::sleep(Duration::from_millis(1));
    }

    let before = sample();
    let wall0 = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let wall = wall0.elapsed();
    let after = sample();
    let cpu = after.total_cpu().saturating_sub(before.total_cpu());
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    let busy = after.busy_since(&before);
    eprintln!(
        "idle_cpu: {N} parked processes, {cpu:?} CPU over {wall:?} ({:.3}% of a core); busy: {busy:?}",
        share * 100.0
    );
    assert!(
        share < 0.01,
        "{N} idle processes used {cpu:?} CPU in {wall:?} ({:.2}% of a core); busy: {busy:?}",
        share * 100.0
    );
    assert_eq!(node.stats().live, N, "all still alive");

    // They are parked, not lost: each one wakes on its message and ends.
    for &pid in &pids {
        node.send(None, pid, "wake", Payload::Nil).unwrap();
    }
    let t = Instant::now();
    while node.stats().live > 0 {
        assert!(
            t.elapsed() < TIMEOUT,
            "{} processes never woke",
            node.stats().live
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
