//! Supervision benchmarks, the scenarios of the Erlang/OTP anchor
//! (`shared/anchors/erlang/sup.escript`): a one_for_one supervisor with one
//! permanent worker and an intensity OTP would never reach (10^8 restarts
//! a second), on a native host.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use wippy_process::{ExitError, NativeHost, Payload, Pid, Runtime, SpawnOptions, Topic};
use wippy_supervise::{ChildSpec, Strategy, Supervisor, SupervisorSpec};

use super::{Bench, Better};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            name: "supervise.restart",
            unit: "us",
            better: Better::Lower,
            target: 11.5,
            reference: "OTP 23 µs; aim ≤ half",
            run: restart,
        },
        Bench {
            name: "supervise.storm",
            unit: "per_s",
            better: Better::Higher,
            target: 22.2e3,
            reference: "OTP 7.4k/s; aim ≥ 3×",
            run: storm,
        },
    ]
}

const WAIT: Duration = Duration::from_secs(300);
const UP: Topic = Topic::new_static("up");
const CRASH: Topic = Topic::new_static("crash");

/// What the worker does once started.
#[derive(Clone, Copy)]
enum Mode {
    /// Says it is up, then crashes when told to.
    Wait,
    /// Says it is up and crashes at once.
    Storm,
}

/// A supervisor of one worker that tells `bench` when it is up.
fn supervise(host: &NativeHost, bench: Pid, mode: Mode) -> Supervisor {
    let worker = ChildSpec::native("w", host, move |cx, _| async move {
        cx.send(bench, UP, Payload::Nil).ok();
        if let Mode::Wait = mode {
            cx.recv().await;
        }
        Err(ExitError::new("crash"))
    });
    let spec = SupervisorSpec::new(Strategy::OneForOne, vec![worker])
        .intensity(100_000_000, Duration::from_secs(1));
    Supervisor::start(host, spec).expect("the supervisor starts")
}

/// Microseconds from telling the worker to crash until its replacement
/// says it is up.
fn restart(quick: bool) -> f64 {
    let rounds: u32 = if quick { 2_000 } else { 20_000 };
    let rt = Runtime::new(Default::default()).expect("runtime starts");
    let host = rt.native_host("bench:supervise", 0).expect("host starts");
    let (tx, rx) = mpsc::channel();
    let bench = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let mut worker = cx.recv().await.from.expect("up has a sender");
            let start = Instant::now();
            for _ in 0..rounds {
                cx.send(worker, CRASH, Payload::Nil).ok();
                worker = cx.recv().await.from.expect("up has a sender");
            }
            tx.send(start.elapsed()).ok();
            Ok(Payload::Nil)
        })
        .expect("spawn");
    let sup = supervise(&host, bench, Mode::Wait);
    let took = rx.recv_timeout(WAIT).expect("the restarts finish");
    sup.stop(sup.stop_bound());
    took.as_secs_f64() * 1e6 / f64::from(rounds)
}

/// Restarts per second of a worker that crashes as soon as it starts.
fn storm(quick: bool) -> f64 {
    let restarts: u32 = if quick { 20_000 } else { 200_000 };
    let rt = Runtime::new(Default::default()).expect("runtime starts");
    let host = rt.native_host("bench:supervise", 0).expect("host starts");
    let (tx, rx) = mpsc::channel();
    let bench = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.recv().await;
            let start = Instant::now();
            for _ in 0..restarts {
                cx.recv().await;
            }
            tx.send(start.elapsed()).ok();
            Ok(Payload::Nil)
        })
        .expect("spawn");
    let sup = supervise(&host, bench, Mode::Storm);
    let took = rx.recv_timeout(WAIT).expect("the storm finishes");
    sup.stop(sup.stop_bound());
    f64::from(restarts) / took.as_secs_f64()
}
