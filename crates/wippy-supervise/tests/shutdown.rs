//! Stopping: reverse start order, CANCEL then terminate after the timeout,
//! brutal kill; and a supervisor's children never outlive it.

mod common;

use std::time::Duration;

use common::{Log, TIMEOUT, pid_of, runtime, watch, worker};
use wippy_process::{ExitError, Payload};
use wippy_supervise::{ChildSpec, Shutdown, Strategy, Supervisor, SupervisorSpec};

#[test]
fn children_stop_in_reverse_start_order() {
    let (_rt, host) = runtime(2);
    let log = Log::default();
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        ["db", "cache", "web"]
            .iter()
            .map(|id| worker(&host, id, &log))
            .collect(),
    );
    let sup = Supervisor::start(&host, spec).unwrap();
    log.clear();
    assert!(sup.stop(sup.stop_bound()));
    assert_eq!(log.lines(), ["stop web", "stop cache", "stop db"]);
    assert!(!sup.is_running());
}

/// A child that ignores CANCEL.
fn stubborn(host: &wippy_process::NativeHost, id: &str) -> ChildSpec {
    ChildSpec::native(id, host, |cx, _| async move {
        loop {
            cx.next_event().await;
        }
    })
}

#[test]
fn a_child_that_ignores_cancel_is_terminated_after_its_timeout_or_at_once_if_brutal() {
    let (_rt, host) = runtime(2);
    let log = Log::default();
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            worker(&host, "polite", &log),
            stubborn(&host, "slow").shutdown(Shutdown::Timeout(Duration::from_millis(100))),
            stubborn(&host, "brutal").shutdown(Shutdown::BrutalKill),
        ],
    );
    let sup = Supervisor::start(&host, spec).unwrap();
    let pids: Vec<_> = ["polite", "slow", "brutal"]
        .iter()
        .map(|id| pid_of(&sup, id))
        .collect();
    let exits = watch(&host, &pids);
    assert!(sup.stop(sup.stop_bound()));
    let order: Vec<_> = (0..3)
        .map(|_| exits.recv_timeout(TIMEOUT).expect("every child ends"))
        .collect();
    // Reverse order: brutal (terminated at once), slow (terminated at its
    // deadline), polite (ended on its CANCEL).
    assert_eq!(order[0], (pids[2], Err(ExitError::terminated())));
    assert_eq!(order[1], (pids[1], Err(ExitError::cancelled())));
    assert_eq!(order[2], (pids[0], Ok(Payload::Nil)));
    assert_eq!(log.lines(), ["start polite", "stop polite"]);
}

#[test]
fn a_terminated_supervisor_takes_its_children_with_it() {
    let (rt, host) = runtime(2);
    let log = Log::default();
    let inner = SupervisorSpec::new(Strategy::OneForOne, vec![worker(&host, "leaf", &log)]);
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        vec![
            worker(&host, "a", &log),
            ChildSpec::supervisor("inner", &host, inner),
        ],
    );
    let sup = Supervisor::start(&host, spec).unwrap();
    log.wait_len(2);
    let inner = common::child(&sup, "inner").supervisor.unwrap();
    common::wait_for("the leaf", || {
        inner.which_children().unwrap()[0].pid.is_some()
    });
    let pids = [pid_of(&sup, "a"), pid_of(&inner, "leaf"), inner.pid()];
    let exits = watch(&host, &pids);
    rt.node().terminate(sup.pid()).unwrap();
    for _ in 0..3 {
        let (pid, result) = exits.recv_timeout(TIMEOUT).expect("the children end");
        assert!(result.is_err(), "{pid} was killed, not stopped: {result:?}");
    }
    assert!(!rt.node().is_alive(pids[1]));
    common::wait_for("the supervisor's end", || !sup.is_running());
}
