//! Starting: required children must start, optional ones may fail, and a
//! start that takes longer than its start timeout fails.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{Log, runtime, worker};
use wippy_process::{Payload, SpawnOptions};
use wippy_supervise::{
    Backoff, ChildSpec, ChildState, Strategy, SuperviseError, Supervisor, SupervisorSpec,
};

fn failing(id: &str) -> ChildSpec {
    ChildSpec::new(id, |_: SpawnOptions, _: &[Payload]| {
        Err("the host is not running".into())
    })
}

#[test]
fn a_required_child_that_cannot_start_stops_the_start_and_the_children_before_it() {
    let (rt, host) = runtime(2);
    let log = Log::default();
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            worker(&host, "a", &log),
            worker(&host, "b", &log),
            failing("c"),
            worker(&host, "d", &log),
        ],
    );
    let live = rt.node().stats().live;
    let err = Supervisor::start(&host, spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "child c failed to start: the host is not running"
    );
    assert_eq!(log.lines(), ["start a", "start b", "stop b", "stop a"]);
    common::wait_for("no process left", || rt.node().stats().live == live);
}

#[test]
fn an_optional_child_that_cannot_start_is_retried_and_the_rest_runs() {
    let (_rt, host) = runtime(2);
    let log = Log::default();
    let tries = Arc::new(AtomicU32::new(0));
    let t = tries.clone();
    let h = host.clone();
    // Fails its first two starts.
    let flaky = ChildSpec::new("flaky", move |opts: SpawnOptions, _: &[Payload]| {
        if t.fetch_add(1, Ordering::SeqCst) < 2 {
            return Err("not yet".into());
        }
        Ok(h.spawn_async(opts, |cx| async move {
            cx.next_event().await;
            Ok(Payload::Nil)
        })?)
    })
    .optional()
    .backoff(Backoff {
        initial_delay: Duration::from_millis(5),
        jitter: 0.0,
        ..Backoff::default()
    });
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![flaky, worker(&host, "after", &log)],
    )
    .intensity(10, Duration::from_secs(10));
    let sup = Supervisor::start(&host, spec).unwrap();
    assert_eq!(log.lines(), ["start after"], "the rest started");
    common::wait_for("flaky running", || {
        common::child(&sup, "flaky").state == ChildState::Running
    });
    let flaky = common::child(&sup, "flaky");
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    assert_eq!(flaky.restarts, 2);
    assert_eq!(
        flaky.last_error.unwrap().message(),
        "failed to start: not yet"
    );
    assert!(sup.stop(sup.stop_bound()));
}

#[test]
fn a_start_longer_than_its_start_timeout_fails() {
    let (rt, host) = runtime(2);
    let h = host.clone();
    let slow = ChildSpec::new("slow", move |opts: SpawnOptions, _: &[Payload]| {
        std::thread::sleep(Duration::from_millis(50));
        Ok(h.spawn_async(opts, |cx| async move {
            cx.next_event().await;
            Ok(Payload::Nil)
        })?)
    })
    .start_timeout(Duration::from_millis(10));
    let live = rt.node().stats().live;
    let err =
        Supervisor::start(&host, SupervisorSpec::new(Strategy::OneForOne, vec![slow])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("child slow failed to start: its start took"),
        "{err}"
    );
    // The process the late start made is terminated.
    common::wait_for("no process left", || rt.node().stats().live == live);
}

#[test]
fn a_start_that_hangs_past_the_start_timeouts_is_reported_with_the_child() {
    let (rt, host) = runtime(2);
    let h = host.clone();
    let hanging = ChildSpec::new("hanging", move |opts: SpawnOptions, _: &[Payload]| {
        std::thread::sleep(Duration::from_millis(1500));
        Ok(h.spawn_async(opts, |cx| async move {
            cx.next_event().await;
            Ok(Payload::Nil)
        })?)
    })
    .start_timeout(Duration::from_millis(100));
    let live = rt.node().stats().live;
    let err = Supervisor::start(
        &host,
        SupervisorSpec::new(Strategy::OneForOne, vec![hanging]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, SuperviseError::StartTimeout { child, .. } if child == "hanging"),
        "{err}"
    );
    // Once the start returns, the supervisor ends and leaves nothing.
    common::wait_for("no process left", || rt.node().stats().live == live);
}

#[test]
fn a_start_that_always_fails_does_not_keep_the_supervisor_from_answering() {
    let (_rt, host) = runtime(1);
    let tries = Arc::new(AtomicU32::new(0));
    let t = tries.clone();
    // No backoff and no intensity limit: retried at once, for ever.
    let hopeless = ChildSpec::new("hopeless", move |_: SpawnOptions, _: &[Payload]| {
        t.fetch_add(1, Ordering::SeqCst);
        Err("never".into())
    })
    .optional();
    let spec = SupervisorSpec {
        strategy: Strategy::OneForOne,
        intensity: wippy_supervise::Intensity::UNLIMITED,
        children: vec![hopeless],
    };
    let sup = Supervisor::start(&host, spec).unwrap();
    common::wait_for("retries", || tries.load(Ordering::SeqCst) > 100);
    let kids = sup.which_children().unwrap();
    assert_eq!(kids[0].state, ChildState::Restarting);
    assert!(
        sup.stop(sup.stop_bound()),
        "a stop is served between retries"
    );
}
