//! Each strategy restarts the children it names, stopping the others in
//! reverse start order and starting them again in start order.

mod common;

use std::time::Duration;

use common::{Log, child, pid_of, runtime, tell, worker};
use wippy_supervise::{ChildState, Strategy, Supervisor, SupervisorSpec};

struct Case {
    strategy: Strategy,
    crash: &'static str,
    /// The log lines after the crash: stops of siblings, then starts.
    after: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        strategy: Strategy::OneForOne,
        crash: "b",
        after: &["start b"],
    },
    Case {
        strategy: Strategy::OneForOne,
        crash: "a",
        after: &["start a"],
    },
    Case {
        strategy: Strategy::OneForAll,
        crash: "b",
        after: &["stop c", "stop a", "start a", "start b", "start c"],
    },
    Case {
        strategy: Strategy::OneForAll,
        crash: "c",
        after: &["stop b", "stop a", "start a", "start b", "start c"],
    },
    Case {
        strategy: Strategy::RestForOne,
        crash: "a",
        after: &["stop c", "stop b", "start a", "start b", "start c"],
    },
    Case {
        strategy: Strategy::RestForOne,
        crash: "b",
        after: &["stop c", "start b", "start c"],
    },
    Case {
        strategy: Strategy::RestForOne,
        crash: "c",
        after: &["start c"],
    },
];

#[test]
fn each_strategy_restarts_the_children_it_names_in_order() {
    let (rt, host) = runtime(2);
    for case in CASES {
        let log = Log::default();
        let ids = ["a", "b", "c"];
        let spec = SupervisorSpec::new(
            case.strategy,
            ids.iter().map(|id| worker(&host, id, &log)).collect(),
        )
        .intensity(10, Duration::from_secs(10));
        let sup = Supervisor::start(&host, spec).unwrap();
        let label = format!("{} crash {}", case.strategy, case.crash);
        assert_eq!(log.lines(), ["start a", "start b", "start c"], "{label}");
        log.clear();

        let old: Vec<_> = ids.iter().map(|id| pid_of(&sup, id)).collect();
        tell(&rt, pid_of(&sup, case.crash), "crash");
        // Start lines are written by the supervisor as it starts each
        // child, stop lines by each child before its EXIT, which the
        // supervisor waits for before going on: the order is exact.
        assert_eq!(log.wait_len(case.after.len()), case.after, "{label}");

        // Exactly the children named were restarted, with new pids; the
        // supervisor answers only after handling the crash.
        for (id, old) in ids.iter().zip(&old) {
            let info = child(&sup, id);
            let restarted = case.after.contains(&format!("start {id}").as_str());
            assert_eq!(info.restarts, u32::from(restarted), "{label}: {id}");
            assert_eq!(info.state, ChildState::Running, "{label}: {id}");
            assert_eq!(info.pid != Some(*old), restarted, "{label}: {id} pid");
        }
        let crashed = child(&sup, case.crash);
        assert_eq!(
            crashed.last_error.unwrap().message(),
            format!("crash {}", case.crash)
        );
        assert!(sup.stop(sup.stop_bound()), "{label}: stops");
        assert_eq!(
            log.lines().iter().filter(|l| l.starts_with("stop")).count(),
            case.after.iter().filter(|l| l.starts_with("stop")).count() + 3,
            "{label}: every child stopped at the end"
        );
    }
}
