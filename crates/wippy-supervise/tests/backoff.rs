//! Children with a backoff (Wippy's services): delayed restarts, given up
//! after too many failed runs in a row unless a run was stable.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{Log, runtime, worker};
use wippy_process::{ExitError, Payload};
use wippy_supervise::{
    Backoff, ChildSpec, ChildState, Intensity, Restart, Strategy, Supervisor, SupervisorSpec,
};

fn fast(max_attempts: u32) -> Backoff {
    Backoff {
        initial_delay: Duration::from_millis(2),
        backoff_factor: 2.0,
        max_delay: Duration::from_millis(10),
        jitter: 0.0,
        max_attempts,
        stable_threshold: Duration::from_secs(60),
    }
}

/// A transient child that runs `run_for`, then fails; counts its runs.
fn failing(
    host: &wippy_process::NativeHost,
    run_for: Duration,
    runs: &Arc<AtomicU32>,
) -> ChildSpec {
    let runs = runs.clone();
    ChildSpec::native("failing", host, move |cx, _| {
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            cx.sleep(run_for).await;
            Err(ExitError::new(format!("failure {run}")))
        }
    })
    .restart(Restart::Transient)
}

fn root(children: Vec<ChildSpec>) -> SupervisorSpec {
    SupervisorSpec {
        strategy: Strategy::OneForOne,
        intensity: Intensity::UNLIMITED,
        children,
    }
}

#[test]
fn a_child_failing_max_attempts_runs_in_a_row_is_given_up_and_the_rest_keeps_running() {
    let (_rt, host) = runtime(2);
    let log = Log::default();
    let runs = Arc::new(AtomicU32::new(0));
    let spec = root(vec![
        failing(&host, Duration::ZERO, &runs).backoff(fast(3)),
        worker(&host, "steady", &log),
    ]);
    let sup = Supervisor::start(&host, spec).unwrap();
    common::wait_for("given up", || {
        common::child(&sup, "failing").state == ChildState::GivenUp
    });
    let failing = common::child(&sup, "failing");
    assert_eq!(runs.load(Ordering::SeqCst), 3, "at most 3 runs in a row");
    assert_eq!(failing.restarts, 2);
    assert_eq!(failing.pid, None);
    assert_eq!(failing.last_error.unwrap().message(), "failure 3");
    assert!(sup.is_running());
    assert_eq!(common::child(&sup, "steady").state, ChildState::Running);
    assert!(sup.stop(sup.stop_bound()));
    assert_eq!(runs.load(Ordering::SeqCst), 3, "never started again");
}

#[test]
fn zero_max_attempts_keeps_restarting() {
    let (_rt, host) = runtime(2);
    let runs = Arc::new(AtomicU32::new(0));
    let sup = Supervisor::start(
        &host,
        root(vec![failing(&host, Duration::ZERO, &runs).backoff(fast(0))]),
    )
    .unwrap();
    // Far past any small limit (the old default gave up after 5).
    common::wait_for("20 runs", || runs.load(Ordering::SeqCst) >= 20);
    assert_ne!(common::child(&sup, "failing").state, ChildState::GivenUp);
    assert!(sup.stop(sup.stop_bound()));
}

#[test]
fn a_stable_run_starts_the_count_of_failures_again() {
    let (_rt, host) = runtime(2);
    let runs = Arc::new(AtomicU32::new(0));
    // Each run lasts 20 ms, past the 5 ms stable threshold: every failure
    // is the first in a row, so a limit of 2 runs never gives it up.
    let backoff = Backoff {
        stable_threshold: Duration::from_millis(5),
        ..fast(2)
    };
    let sup = Supervisor::start(
        &host,
        root(vec![
            failing(&host, Duration::from_millis(20), &runs).backoff(backoff),
        ]),
    )
    .unwrap();
    common::wait_for("6 runs", || runs.load(Ordering::SeqCst) >= 6);
    assert_ne!(common::child(&sup, "failing").state, ChildState::GivenUp);
    assert!(sup.stop(sup.stop_bound()));
}

#[test]
fn a_transient_child_that_ends_cleanly_is_not_restarted_even_with_a_backoff() {
    let (_rt, host) = runtime(1);
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let clean = ChildSpec::native("clean", &host, move |_, _| {
        r.fetch_add(1, Ordering::SeqCst);
        async { Ok(Payload::from("done")) }
    })
    .restart(Restart::Transient)
    .backoff(fast(0));
    let sup = Supervisor::start(&host, root(vec![clean])).unwrap();
    common::wait_for("exited", || {
        common::child(&sup, "clean").state == ChildState::Exited
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(sup.stop(sup.stop_bound()));
}

#[test]
fn a_child_failing_with_an_error_that_is_not_retryable_is_not_restarted() {
    let (_rt, host) = runtime(2);
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    // Permanent, with no limit on attempts: only the error stops restarts.
    let final_error = ChildSpec::native("final", &host, move |_, _| {
        r.fetch_add(1, Ordering::SeqCst);
        async { Err(ExitError::new("bad configuration").retryable(false)) }
    })
    .backoff(fast(0));
    let sup = Supervisor::start(&host, root(vec![final_error])).unwrap();
    common::wait_for("given up", || {
        common::child(&sup, "final").state == ChildState::GivenUp
    });
    let child = common::child(&sup, "final");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(child.restarts, 0);
    assert_eq!(child.last_error.unwrap().message(), "bad configuration");
    assert!(sup.stop(sup.stop_bound()));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "never started again");
}

#[test]
fn a_child_failing_with_a_retryable_error_is_restarted() {
    let (_rt, host) = runtime(2);
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let retry = ChildSpec::native("retry", &host, move |cx, _| {
        let run = r.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if run < 3 {
                return Err(ExitError::new("busy").retryable(true));
            }
            cx.next_event().await;
            Ok(Payload::Nil)
        }
    })
    .backoff(fast(0));
    let sup = Supervisor::start(&host, root(vec![retry])).unwrap();
    common::wait_for("third run", || runs.load(Ordering::SeqCst) >= 3);
    common::wait_for("running", || {
        common::child(&sup, "retry").state == ChildState::Running
    });
    assert!(sup.stop(sup.stop_bound()));
}
