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

/// CPU time used so far by every live thread of this OS process, with the
/// name of each thread: nanosecond precision from
/// /proc/self/task/*/schedstat, else the 10 ms ticks of .../stat.
fn threads_cpu() -> Option<Vec<(String, Duration)>> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let name = format!("{}[{}]", &stat[open + 1..close], stat[..open].trim());
        let precise = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos);
        let cpu = match precise {
            Some(d) => d,
            None => {
                // utime and stime are fields 14 and 15 (USER_HZ = 100).
                let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
                let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
                Duration::from_millis(ticks * 10)
            }
        };
        out.push((name, cpu));
    }
    Some(out)
}

fn total(threads: &[(String, Duration)]) -> Duration {
    threads.iter().map(|t| t.1).sum()
}

#[test]
fn ten_thousand_idle_native_processes_use_under_one_percent_cpu() {
    let Some(first) = threads_cpu() else {
        eprintln!("idle_cpu: /proc/self/task is unreadable here; skipping");
        return;
    };
    // The meter works: 100 ms of busy work on this thread shows up.
    let spin = Instant::now();
    let mut x = 0u64;
    while spin.elapsed() < Duration::from_millis(100) {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    let burnt = total(&threads_cpu().unwrap()).saturating_sub(total(&first));
    assert!(
        burnt >= Duration::from_millis(50),
        "CPU meter saw only {burnt:?} of a 100 ms busy loop"
    );

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

    let before = threads_cpu().unwrap();
    let wall0 = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let wall = wall0.elapsed();
    let after = threads_cpu().unwrap();
    let cpu = total(&after).saturating_sub(total(&before));
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    let busy: Vec<String> = after
        .iter()
        .filter_map(|(name, a)| {
            let b = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(Duration::ZERO, |b| b.1);
            (*a > b).then(|| format!("{name}: {:?}", *a - b))
        })
        .collect();
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
