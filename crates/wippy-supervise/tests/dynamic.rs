//! Dynamic children: instances of a `simple_one_for_one` template, and
//! named children added and removed while the supervisor runs.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Log, TIMEOUT, pid_of, runtime, tell, watch, worker};
use wippy_process::{Event, Payload, SpawnOptions};
use wippy_supervise::{
    ChildCounts, ChildSpec, ChildState, Shutdown, Strategy, SuperviseError, Supervisor,
    SupervisorSpec,
};

/// A template whose instances log `start ARG` and serve as workers.
fn template(host: &wippy_process::NativeHost, log: &Log) -> ChildSpec {
    let log = log.clone();
    let host = host.clone();
    ChildSpec::new("instance", move |opts: SpawnOptions, args: &[Payload]| {
        let name = args.first().map(ToString::to_string).unwrap_or_default();
        log.push(format!("start {name}"));
        let log = log.clone();
        Ok(host.spawn_async(opts, move |cx| async move {
            common::serve(&cx, &name, &log).await
        })?)
    })
}

#[test]
fn instances_start_with_their_arguments_restart_with_them_and_are_counted() {
    let (rt, host) = runtime(2);
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::SimpleOneForOne, vec![template(&host, &log)])
        .intensity(10, Duration::from_secs(10));
    let sup = Supervisor::start(&host, spec).unwrap();
    assert_eq!(sup.count_children().unwrap(), ChildCounts::default());
    let pids: Vec<_> = (1..=3)
        .map(|n| sup.start_instance(vec![Payload::Int(n)]).unwrap())
        .collect();
    assert_eq!(log.lines(), ["start 1", "start 2", "start 3"]);
    assert_eq!(
        sup.count_children().unwrap(),
        ChildCounts {
            specs: 3,
            active: 3,
            supervisors: 0,
            workers: 3,
        }
    );
    let kids = sup.which_children().unwrap();
    assert_eq!(
        kids.iter().map(|c| c.pid.unwrap()).collect::<Vec<_>>(),
        pids
    );
    assert!(kids.iter().all(|c| c.id == "instance"));

    // A crashed instance restarts with its own arguments.
    tell(&rt, pids[1], "crash");
    log.wait_len(4);
    assert_eq!(log.lines()[3], "start 2");
    common::wait_for("the new pid", || {
        sup.which_children().unwrap()[1]
            .pid
            .is_some_and(|p| p != pids[1])
    });

    // Terminated by pid, an instance is gone.
    sup.terminate_child(pids[0]).unwrap();
    assert_eq!(log.lines()[4], "stop 1");
    assert_eq!(sup.count_children().unwrap().specs, 2);
    assert!(matches!(
        sup.terminate_child(pids[0]),
        Err(SuperviseError::NoSuchChild { .. })
    ));
    // Named children are for the other strategies.
    let named = worker(&host, "named", &log);
    assert!(matches!(
        sup.start_child(named),
        Err(SuperviseError::WrongStrategy { .. })
    ));
    assert!(sup.stop(sup.stop_bound()));
}

#[test]
fn instances_stop_all_at_once() {
    let (_rt, host) = runtime(2);
    // On CANCEL each instance waits until all three have had theirs:
    // stopped one after another, the first would be killed at its timeout.
    let cancelled = Arc::new(AtomicUsize::new(0));
    let c = cancelled.clone();
    let h = host.clone();
    let spec = SupervisorSpec::new(
        Strategy::SimpleOneForOne,
        vec![
            ChildSpec::new("i", move |opts: SpawnOptions, _: &[Payload]| {
                let c = c.clone();
                Ok(h.spawn_async(opts, move |cx| async move {
                    while !matches!(cx.next_event().await, Event::Cancel { .. }) {}
                    c.fetch_add(1, Ordering::SeqCst);
                    while c.load(Ordering::SeqCst) < 3 {
                        cx.yield_now().await;
                    }
                    Ok(Payload::Nil)
                })?)
            })
            .shutdown(Shutdown::Timeout(Duration::from_secs(5))),
        ],
    );
    let sup = Supervisor::start(&host, spec).unwrap();
    let pids: Vec<_> = (0..3)
        .map(|_| sup.start_instance(vec![]).unwrap())
        .collect();
    let exits = watch(&host, &pids);
    assert!(sup.stop(sup.stop_bound()));
    for _ in 0..3 {
        let (pid, result) = exits.recv_timeout(TIMEOUT).unwrap();
        assert_eq!(result, Ok(Payload::Nil), "{pid} ended on its CANCEL");
    }
}

#[test]
fn named_children_are_added_at_the_end_and_removed_by_id() {
    let (rt, host) = runtime(2);
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::RestForOne, vec![worker(&host, "a", &log)]);
    let sup = Supervisor::start(&host, spec).unwrap();
    let before = sup.stop_bound();
    sup.start_child(worker(&host, "b", &log)).unwrap();
    sup.start_child(worker(&host, "c", &log)).unwrap();
    assert!(
        sup.stop_bound() > before,
        "the stop bound counts added children"
    );
    assert!(matches!(
        sup.start_child(worker(&host, "b", &log)),
        Err(SuperviseError::DuplicateChild { id }) if id == "b"
    ));
    assert!(matches!(
        sup.start_instance(vec![]),
        Err(SuperviseError::WrongStrategy { .. })
    ));
    let failing = ChildSpec::new("broken", |_: SpawnOptions, _: &[Payload]| {
        Err("no such entry".into())
    });
    let err = sup.start_child(failing).unwrap_err();
    assert_eq!(
        err.to_string(),
        "child broken failed to start: no such entry"
    );
    let ids = |sup: &Supervisor| {
        sup.which_children()
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&sup), ["a", "b", "c"]);
    // Added children are part of the strategy: b's crash restarts c too.
    log.clear();
    tell(&rt, pid_of(&sup, "b"), "crash");
    assert_eq!(log.wait_len(3), ["stop c", "start b", "start c"]);
    sup.terminate_child("b").unwrap();
    assert_eq!(ids(&sup), ["a", "c"]);
    assert!(matches!(
        sup.terminate_child("b"),
        Err(SuperviseError::NoSuchChild { .. })
    ));
    assert_eq!(common::child(&sup, "c").state, ChildState::Running);
    assert!(sup.stop(sup.stop_bound()));
    assert!(matches!(
        sup.which_children(),
        Err(SuperviseError::NotRunning { .. })
    ));
}
