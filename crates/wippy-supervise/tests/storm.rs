//! A crash storm: 10,000 crash/restart cycles under one supervisor, with
//! no leaked process, no missed restart and flat memory.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{TIMEOUT, runtime};
use wippy_process::{ExitError, Payload};
use wippy_supervise::{ChildSpec, ChildState, Strategy, Supervisor, SupervisorSpec};

const CYCLES: u32 = 10_000;
/// Where memory is measured first, once allocator and tables have warmed up.
const WARM: u32 = 2_000;

/// Resident memory of this process, from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn ten_thousand_crashes_are_each_restarted_with_nothing_leaked() {
    let (rt, host) = runtime(2);
    let runs = Arc::new(AtomicU32::new(0));
    let (note, noted) = mpsc::channel();
    let r = runs.clone();
    // Every run crashes at once, except: run WARM+1 waits for a message
    // (the test measures memory meanwhile) and run CYCLES+1 stays up.
    let child = ChildSpec::native("crasher", &host, move |cx, _| {
        let run = r.fetch_add(1, Ordering::SeqCst) + 1;
        let note = note.clone();
        async move {
            if run == WARM + 1 {
                note.send(run).ok();
                cx.recv().await;
            } else if run == CYCLES + 1 {
                note.send(run).ok();
                cx.next_event().await;
                return Ok(Payload::Nil);
            }
            Err(ExitError::new("storm"))
        }
    });
    let baseline = rt.node().stats().live;
    // OTP's anchor allows 10^8 restarts a second: the window is in use.
    let spec = SupervisorSpec::new(Strategy::OneForOne, vec![child])
        .intensity(100_000_000, Duration::from_secs(1));
    let sup = Supervisor::start(&host, spec).unwrap();

    assert_eq!(noted.recv_timeout(TIMEOUT), Ok(WARM + 1));
    let warm = resident_bytes();
    common::tell(&rt, common::pid_of(&sup, "crasher"), "go");
    assert_eq!(noted.recv_timeout(TIMEOUT * 3), Ok(CYCLES + 1));
    let end = resident_bytes();

    let info = common::child(&sup, "crasher");
    assert_eq!(info.state, ChildState::Running);
    assert_eq!(info.restarts, CYCLES, "one restart per crash");
    assert_eq!(runs.load(Ordering::SeqCst), CYCLES + 1);
    // The supervisor, the child; nothing else left from the storm.
    assert_eq!(rt.node().stats().live, baseline + 2);
    assert!(sup.stop(sup.stop_bound()));
    common::wait_for("no process left", || rt.node().stats().live == baseline);

    match (warm, end) {
        (Some(warm), Some(end)) => {
            let growth = end.saturating_sub(warm);
            println!("resident memory: {warm} bytes after {WARM} cycles, {end} after {CYCLES}");
            // 8,000 cycles: a leak of 128 bytes per cycle would show as 1 MiB.
            assert!(
                growth < 1 << 20,
                "resident memory grew by {growth} bytes over {} cycles",
                CYCLES - WARM
            );
        }
        _ => println!("skipping the memory check: no /proc/self/statm here"),
    }
}
