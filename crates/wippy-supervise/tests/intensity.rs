//! Restart intensity: a supervisor that must restart too often gives up,
//! ends with an error, and its own supervisor decides.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{TIMEOUT, runtime, watch};
use wippy_process::{ExitError, SpawnOptions};
use wippy_supervise::{ChildSpec, Restart, Strategy, Supervisor, SupervisorSpec};

#[test]
fn too_many_restarts_escalate_through_two_levels() {
    let (_rt, host) = runtime(2);
    let starts = Arc::new(AtomicU32::new(0));
    let counted = starts.clone();
    // Crashes as soon as it starts.
    let crasher = ChildSpec::native("crasher", &host, move |_, _| {
        let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Err(ExitError::new(format!("crash {run}"))) }
    });
    // The middle supervisor allows 2 restarts in 10 s, the root 1.
    let middle = SupervisorSpec::new(Strategy::OneForOne, vec![crasher])
        .intensity(2, Duration::from_secs(10));
    let root = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![ChildSpec::supervisor("middle", &host, middle)],
    )
    .intensity(1, Duration::from_secs(10));
    // The root is spawned monitored by a watcher, so its end cannot come
    // before anyone watches.
    let (watcher, ended) = common::exits(&host);
    let root = Supervisor::spawn(
        &host,
        SpawnOptions::default().parent(watcher).monitored(),
        root,
    )
    .unwrap();
    let (_, result) = ended.recv_timeout(TIMEOUT).expect("the root gives up");
    let error = result.expect_err("the root ends with an error");
    assert!(
        error.message().contains("reached its restart intensity"),
        "{error}"
    );
    // Two middle supervisors, each: a start and two restarts of the
    // crasher, then the third crash is one too many.
    assert_eq!(starts.load(Ordering::SeqCst), 6);
    assert!(!root.is_running());
}

#[test]
fn restarts_spread_over_more_than_the_period_are_allowed() {
    let (rt, host) = runtime(1);
    let starts = Arc::new(AtomicU32::new(0));
    let counted = starts.clone();
    let child = ChildSpec::native("w", &host, move |cx, _| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            cx.recv().await;
            Err(ExitError::new("asked to crash"))
        }
    })
    .restart(Restart::Permanent);
    // 1 restart in 500 ms: crashes 600 ms apart are each within the limit.
    let sup = Supervisor::start(
        &host,
        SupervisorSpec::new(Strategy::OneForOne, vec![child])
            .intensity(1, Duration::from_millis(500)),
    )
    .unwrap();
    for n in 1..=3 {
        let pid = common::pid_of(&sup, "w");
        std::thread::sleep(Duration::from_millis(600));
        common::tell(&rt, pid, "crash");
        common::wait_for("the restart", || {
            common::child(&sup, "w").pid.is_some_and(|p| p != pid)
        });
        assert_eq!(starts.load(Ordering::SeqCst), n + 1);
    }
    assert!(sup.is_running());
    // A crash within 500 ms of the latest restart is one too many.
    let ended = exits_of(&host, &sup);
    common::tell(&rt, common::pid_of(&sup, "w"), "crash");
    let (_, result) = ended
        .recv_timeout(TIMEOUT)
        .expect("the supervisor gives up");
    assert!(result.is_err());
    assert_eq!(starts.load(Ordering::SeqCst), 4);
}

/// The exit of `sup`, watched from now on.
fn exits_of(
    host: &wippy_process::NativeHost,
    sup: &Supervisor,
) -> std::sync::mpsc::Receiver<(wippy_process::Pid, wippy_process::ExitResult)> {
    watch(host, &[sup.pid()])
}
