//! Permanent children always restart, transient ones only after an error,
//! temporary ones never (and are forgotten).

mod common;

use std::time::Duration;

use common::{Log, child, pid_of, runtime, tell, worker};
use wippy_supervise::{ChildState, Restart, Strategy, Supervisor, SupervisorSpec};

#[test]
fn restart_types_decide_whether_an_ended_child_starts_again() {
    // (restart type, how it ends, restarted?)
    let cases = [
        (Restart::Permanent, "crash", true),
        (Restart::Permanent, "exit", true),
        (Restart::Transient, "crash", true),
        (Restart::Transient, "exit", false),
        (Restart::Temporary, "crash", false),
        (Restart::Temporary, "exit", false),
    ];
    let (rt, host) = runtime(2);
    for (restart, ending, restarted) in cases {
        let label = format!("{restart:?} after {ending}");
        let log = Log::default();
        let spec = SupervisorSpec::new(
            Strategy::OneForOne,
            vec![
                worker(&host, "w", &log).restart(restart),
                worker(&host, "sibling", &log),
            ],
        )
        .intensity(10, Duration::from_secs(10));
        let sup = Supervisor::start(&host, spec).unwrap();
        let old = pid_of(&sup, "w");
        tell(&rt, old, ending);
        common::wait_for(&label, || {
            let kids = sup.which_children().unwrap();
            match kids.iter().find(|c| c.id == "w") {
                None => true,
                Some(c) => c.pid != Some(old),
            }
        });
        let kids = sup.which_children().unwrap();
        let w = kids.iter().find(|c| c.id == "w");
        match (restart, restarted) {
            (_, true) => {
                let w = w.expect("still a child");
                assert_eq!(w.state, ChildState::Running, "{label}");
                assert_eq!(w.restarts, 1, "{label}");
                assert_eq!(
                    log.lines(),
                    ["start w", "start sibling", "start w"],
                    "{label}"
                );
            }
            (Restart::Temporary, false) => assert!(w.is_none(), "{label}: forgotten"),
            (_, false) => {
                let w = w.expect("still a child");
                assert_eq!(w.state, ChildState::Exited, "{label}");
                assert_eq!(w.pid, None, "{label}");
            }
        }
        // The sibling was left alone.
        assert_eq!(child(&sup, "sibling").restarts, 0, "{label}");
        assert!(sup.stop(sup.stop_bound()));
    }
}
