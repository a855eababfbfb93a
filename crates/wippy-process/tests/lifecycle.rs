//! Lifecycle rules of the kernel, through the public API only.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use wippy_process::{
    Context, ErrorKind, Event, ExitError, NativeHost, Payload, Pid, Process, Runtime, SpawnOptions,
    Step,
};

const TIMEOUT: Duration = Duration::from_secs(10);

fn runtime(workers: usize) -> (Runtime, NativeHost) {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:native", workers).unwrap();
    (rt, host)
}

/// Spawns a process that reports each event it gets to `tx`, and sets trap_links.
/// A process that forwards its events to `tx`. `trap` is set at spawn (not
/// in its first step), so a link made right after the spawn already finds it
/// trapping.
fn watcher(host: &NativeHost, trap: bool, tx: mpsc::Sender<Event>) -> Pid {
    let opts = SpawnOptions {
        trap_links: trap,
        ..SpawnOptions::default()
    };
    host.spawn_async(opts, move |cx| async move {
        loop {
            let ev = cx.next_event().await;
            if tx.send(ev).is_err() {
                return Ok(Payload::Nil);
            }
        }
    })
    .unwrap()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn messages_from_one_sender_arrive_in_order() {
    let (_rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let n = 10_000;
    let sink = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let mut got = Vec::new();
            while got.len() < n {
                got.push(cx.recv().await.payload.as_int().unwrap());
            }
            tx.send(got).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    for sender in 0..4i64 {
        host.spawn_async(SpawnOptions::default(), move |cx| async move {
            for i in 0..(n as i64 / 4) {
                cx.send(sink, "n", Payload::Int(sender * 1_000_000 + i))
                    .unwrap();
                if i % 100 == 0 {
                    cx.yield_now().await;
                }
            }
            Ok(Payload::Nil)
        })
        .unwrap();
    }
    let got = rx.recv_timeout(TIMEOUT).unwrap();
    for sender in 0..4 {
        let mine: Vec<i64> = got
            .iter()
            .copied()
            .filter(|v| v / 1_000_000 == sender)
            .collect();
        let want: Vec<i64> = (0..n as i64 / 4).map(|i| sender * 1_000_000 + i).collect();
        assert_eq!(mine, want, "sender {sender} out of order");
    }
}

#[test]
fn monitored_child_crash_delivers_exit_with_error() {
    let (_rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let h = host.clone();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        let child = cx
            .spawn(&h, SpawnOptions::default().monitored(), |_| async {
                Err(ExitError::new("boom"))
            })
            .unwrap();
        let ev = cx.next_event().await;
        tx.send((child, ev)).unwrap();
        Ok(Payload::Nil)
    })
    .unwrap();
    let (child, ev) = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        ev,
        Event::Exit {
            from: child,
            result: Err(ExitError::new("boom"))
        }
    );
}

#[test]
fn monitored_child_normal_exit_delivers_value() {
    let (_rt, host) = runtime(1);
    let (tx, rx) = mpsc::channel();
    let h = host.clone();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        let child = cx
            .spawn(&h, SpawnOptions::default().monitored(), |_| async {
                Ok(Payload::Int(7))
            })
            .unwrap();
        tx.send((child, cx.next_event().await)).unwrap();
        Ok(Payload::Nil)
    })
    .unwrap();
    let (child, ev) = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        ev,
        Event::Exit {
            from: child,
            result: Ok(Payload::Int(7))
        }
    );
}

/// The failed partner and its error message, from the error a process
/// ended with because of a link: Wippy's text and kind, with which process
/// failed, and why, as the details.
fn linked_cause(e: &ExitError) -> (Pid, String) {
    assert_eq!(e.message(), "linked process failed");
    assert_eq!(e.kind(), &ErrorKind::Unknown);
    let details = e.details_payload().expect("details");
    match (details.get("from"), details.get("error")) {
        (Some(Payload::Pid(from)), Some(Payload::Error(cause))) => {
            (*from, cause.message().to_owned())
        }
        other => panic!("unexpected details {other:?}"),
    }
}

#[test]
fn linked_abnormal_exit_terminates_partner_that_does_not_trap() {
    let (rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let h = host.clone();
    // The partner links to a crasher and would otherwise wait forever.
    let partner = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.spawn(&h, SpawnOptions::default().linked(), |cx| async move {
                cx.sleep(Duration::from_millis(5)).await;
                Err(ExitError::new("crasher died"))
            })
            .unwrap();
            cx.sleep(Duration::from_secs(3600)).await;
            Ok(Payload::Str("should not get here".into()))
        })
        .unwrap();
    rt.node().monitor(w, partner).unwrap();
    match rx.recv_timeout(TIMEOUT).unwrap() {
        Event::Exit {
            from,
            result: Err(e),
        } => {
            assert_eq!(from, partner);
            assert_eq!(linked_cause(&e).1, "crasher died");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn linked_abnormal_exit_delivers_link_down_to_trapping_partner() {
    let (_rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let h = host.clone();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        cx.set_trap_links(true);
        let child = cx
            .spawn(&h, SpawnOptions::default().linked(), |_| async {
                Err(ExitError::new("bad"))
            })
            .unwrap();
        tx.send((child, cx.next_event().await)).unwrap();
        // Still alive after the link went down.
        cx.sleep(Duration::from_millis(1)).await;
        tx.send((
            child,
            Event::LinkDown {
                from: child,
                error: ExitError::new("alive"),
            },
        ))
        .unwrap();
        Ok(Payload::Nil)
    })
    .unwrap();
    let (child, ev) = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        ev,
        Event::LinkDown {
            from: child,
            error: ExitError::new("bad")
        }
    );
    let (_, alive) = rx.recv_timeout(TIMEOUT).unwrap();
    assert!(matches!(alive, Event::LinkDown { error, .. } if error.message() == "alive"));
}

/// A linked child that ends normally: the parent (trapping or not) gets its
/// monitor EXIT, no LINK_DOWN, and stays alive.
fn linked_normal_exit(trap: bool) {
    let (rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let h = host.clone();
    let parent = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.set_trap_links(trap);
            let child = cx
                .spawn(
                    &h,
                    SpawnOptions::default().linked().monitored(),
                    |_| async { Ok(Payload::Nil) },
                )
                .unwrap();
            let ev = cx.next_event().await;
            // EXIT goes to monitors before the link rules run; give those
            // time to (wrongly) deliver LINK_DOWN or kill this process.
            cx.sleep(Duration::from_millis(20)).await;
            tx.send((child, ev, cx.try_event())).unwrap();
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .unwrap();
    let (child, ev, extra) = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        ev,
        Event::Exit {
            from: child,
            result: Ok(Payload::Nil)
        }
    );
    assert_eq!(extra, None, "a normal exit sent a link event");
    assert!(
        rt.node().is_alive(parent),
        "a normal exit killed the parent"
    );
}

#[test]
fn linked_normal_exit_does_not_propagate() {
    linked_normal_exit(false);
}

#[test]
fn linked_normal_exit_sends_no_link_down_to_a_trapping_parent() {
    linked_normal_exit(true);
}

#[test]
fn linked_parent_crash_terminates_its_child() {
    let (rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let (ctx, crx) = mpsc::channel();
    let h = host.clone();
    let parent = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let child = cx
                .spawn(&h, SpawnOptions::default().linked(), |cx| async move {
                    cx.recv().await;
                    Ok(Payload::Str("child should not finish".into()))
                })
                .unwrap();
            ctx.send(child).unwrap();
            cx.recv().await;
            Err(ExitError::new("parent crashed"))
        })
        .unwrap();
    let child = crx.recv_timeout(TIMEOUT).unwrap();
    rt.node().monitor(w, child).unwrap();
    rt.node().send(None, parent, "crash", Payload::Nil).unwrap();
    match rx.recv_timeout(TIMEOUT).unwrap() {
        Event::Exit {
            from,
            result: Err(e),
        } => {
            assert_eq!(from, child);
            assert_eq!(linked_cause(&e), (parent, "parent crashed".to_owned()));
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// A process that waits on its inbox forever and never takes its events, so
/// the test can inspect them through its cell.
fn idle(host: &NativeHost, trap: bool) -> Pid {
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        cx.set_trap_links(trap);
        loop {
            cx.recv().await;
        }
    })
    .unwrap()
}

#[test]
fn link_and_unlink_between_running_processes() {
    let (rt, host) = runtime(2);
    let node = rt.node().clone();
    let (tx, rx) = mpsc::channel();
    let reporter = watcher(&host, true, tx);
    let failing = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.recv().await;
            Err(ExitError::new("failing failed"))
        })
        .unwrap();
    let unlinked = idle(&host, true);
    let victim = idle(&host, false);
    // `failing`'s links, in order: unlinked, victim, reporter.
    node.link(failing, unlinked).unwrap();
    node.link(victim, failing).unwrap();
    node.link(failing, reporter).unwrap();
    node.link(failing, reporter).unwrap(); // twice is once
    node.unlink(unlinked, failing);
    assert!(matches!(
        node.link(failing, Pid::new(failing.host(), u64::MAX)),
        Err(wippy_process::Error::NoProcess(_))
    ));
    node.monitor(reporter, victim).unwrap();
    node.send(None, failing, "fail", Payload::Nil).unwrap();
    // Two events, in either order: the victim's EXIT may overtake the
    // reporter's LINK_DOWN (the victim is killed first, on another worker).
    let mut events = [
        rx.recv_timeout(TIMEOUT).unwrap(),
        rx.recv_timeout(TIMEOUT).unwrap(),
    ];
    events.sort_by_key(|e| e.kind());
    let [exit, link_down] = events;
    assert_eq!(
        link_down,
        Event::LinkDown {
            from: failing,
            error: ExitError::new("failing failed")
        }
    );
    // The link rules run in link order, so once the reporter (last) got its
    // LINK_DOWN, `unlinked` would already hold one if the unlink had failed.
    assert_eq!(node.cell(unlinked).unwrap().try_event(), None);
    assert!(node.is_alive(unlinked));
    // The non-trapping partner linked with `link` was terminated.
    match exit {
        Event::Exit {
            from,
            result: Err(e),
        } => {
            assert_eq!(from, victim);
            assert_eq!(linked_cause(&e), (failing, "failing failed".to_owned()));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        rx.recv_timeout(Duration::from_millis(20)).is_err(),
        "a double link delivered LINK_DOWN twice"
    );
}

#[test]
fn unmonitor_stops_the_exit_event() {
    let (rt, host) = runtime(2);
    let node = rt.node().clone();
    let (tx, rx) = mpsc::channel();
    let target = idle(&host, false);
    let quiet = idle(&host, false);
    node.monitor(quiet, target).unwrap();
    node.monitor(quiet, target).unwrap();
    let reporter = watcher(&host, false, tx);
    node.monitor(reporter, target).unwrap();
    // One unmonitor removes one monitor; a third finds none.
    assert!(node.unmonitor(quiet, target));
    assert!(node.unmonitor(quiet, target));
    assert!(!node.unmonitor(quiet, target));
    node.terminate(target).unwrap();
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Event::Exit {
            from: target,
            result: Err(ExitError::terminated())
        }
    );
    // EXIT goes to monitors in the order they were set up: `quiet` came first.
    assert_eq!(node.cell(quiet).unwrap().try_event(), None);
    assert!(!node.unmonitor(reporter, target), "target is gone");
}

#[test]
fn cancel_delivers_cancel_then_terminates_at_deadline() {
    let (rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    // Polite: ends itself on CANCEL.
    let polite = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            match cx.next_event().await {
                Event::Cancel { reason, .. } => Ok(Payload::Str(reason)),
                other => Err(ExitError::new(format!("unexpected {other:?}"))),
            }
        })
        .unwrap();
    rt.node().monitor(w, polite).unwrap();
    rt.node()
        .cancel(None, polite, Duration::from_secs(5), "cancelled politely")
        .unwrap();
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Event::Exit {
            from: polite,
            result: Ok(Payload::Str("cancelled politely".into()))
        }
    );
    // Stubborn: ignores CANCEL, terminated at the deadline.
    let stubborn = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.sleep(Duration::from_secs(3600)).await;
            Ok(Payload::Nil)
        })
        .unwrap();
    rt.node().monitor(w, stubborn).unwrap();
    let start = Instant::now();
    rt.node()
        .cancel(None, stubborn, Duration::from_millis(50), "")
        .unwrap();
    match rx.recv_timeout(TIMEOUT).unwrap() {
        Event::Exit {
            from,
            result: Err(e),
        } => {
            assert_eq!(from, stubborn);
            assert!(e.message().contains("cancelled"), "{e}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        start.elapsed() >= Duration::from_millis(50),
        "terminated before the deadline"
    );
}

/// A step that holds its worker for `busy` (a process that cannot yield),
/// saying on `started` when it begins.
struct Hog {
    busy: Duration,
    started: mpsc::Sender<()>,
}

impl Process for Hog {
    fn step(&mut self, _: &mut Context<'_>) -> Step {
        self.started.send(()).ok();
        std::thread::sleep(self.busy);
        Step::Complete(Ok(Payload::Nil))
    }
}

#[test]
fn cancel_deadline_counts_from_when_the_process_runs_with_the_cancel() {
    // One worker, held by a hog for 400 ms: a process cancelled meanwhile
    // with 100 ms to go cannot even look at its CANCEL before the hog lets
    // go. Its 100 ms start when it runs, so it ends itself politely.
    let (rt, host) = runtime(1);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let polite = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            match cx.next_event().await {
                Event::Cancel { deadline, .. } => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    Ok(Payload::Int(left.as_millis() as i64))
                }
                other => Err(ExitError::new(format!("unexpected {other:?}"))),
            }
        })
        .unwrap();
    rt.node().monitor(w, polite).unwrap();
    wait_until("the polite process parks", || {
        rt.node().cell(polite).unwrap().status().state == wippy_process::RunState::Idle
    });
    let (started, hogging) = mpsc::channel();
    host.spawn(
        Hog {
            busy: Duration::from_millis(400),
            started,
        },
        SpawnOptions::default(),
    )
    .unwrap();
    hogging.recv_timeout(TIMEOUT).expect("the hog runs");
    rt.node()
        .cancel(None, polite, Duration::from_millis(100), "")
        .unwrap();
    match rx.recv_timeout(TIMEOUT).unwrap() {
        Event::Exit {
            from,
            result: Ok(Payload::Int(left)),
        } => {
            assert_eq!(from, polite);
            // The deadline it was shown starts when it ran, too.
            assert!(left > 50, "it saw only {left} ms of its 100");
        }
        other => panic!("the polite process was not let finish: {other:?}"),
    }
}

/// Parks; woken (by its CANCEL), it starts a 400 ms hog and yields
/// without looking at its events, as a process preempted right after it
/// was woken does; its next step takes the CANCEL and ends politely.
struct Preempted {
    host: NativeHost,
    steps: u32,
}

impl Process for Preempted {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        self.steps += 1;
        match self.steps {
            1 => Step::Idle,
            2 => {
                let (started, _) = mpsc::channel();
                self.host
                    .spawn(
                        Hog {
                            busy: Duration::from_millis(400),
                            started,
                        },
                        SpawnOptions::default(),
                    )
                    .unwrap();
                Step::Yield(wippy_process::Wait::yield_now())
            }
            _ => match cx.next_event() {
                Some(Event::Cancel { .. }) => Step::Complete(Ok(Payload::Str("polite".into()))),
                other => Step::Complete(Err(ExitError::new(format!("unexpected {other:?}")))),
            },
        }
    }
}

#[test]
fn a_process_waiting_for_a_worker_at_its_cancel_deadline_gets_its_next_step() {
    // Its 100 ms start when it is woken; it is then queued behind a 400 ms
    // hog. It is not charged for that wait: its next step runs, and it ends
    // itself there. (As a process preempted while it handles its CANCEL,
    // in a run queue of a million.)
    let (rt, host) = runtime(1);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let p = host
        .spawn(
            Preempted {
                host: host.clone(),
                steps: 0,
            },
            SpawnOptions::default(),
        )
        .unwrap();
    rt.node().monitor(w, p).unwrap();
    wait_until("it parks", || {
        rt.node().cell(p).unwrap().status().state == wippy_process::RunState::Idle
    });
    rt.node()
        .cancel(None, p, Duration::from_millis(100), "")
        .unwrap();
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Event::Exit {
            from: p,
            result: Ok(Payload::Str("polite".into()))
        }
    );
}

/// Busy forever: yields the worker at every step, never parks.
struct Spinner;

impl Process for Spinner {
    fn step(&mut self, _: &mut Context<'_>) -> Step {
        Step::Yield(wippy_process::Wait::yield_now())
    }
}

#[test]
fn a_busy_process_that_ignores_its_cancel_is_terminated_after_its_deadline() {
    let (rt, host) = runtime(1);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let p = host.spawn(Spinner, SpawnOptions::default()).unwrap();
    rt.node().monitor(w, p).unwrap();
    let start = Instant::now();
    rt.node()
        .cancel(None, p, Duration::from_millis(50), "")
        .unwrap();
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Event::Exit {
            from: p,
            result: Err(ExitError::cancelled())
        }
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
}

/// Waits on one long sleep op (parked on ops: events do not wake it).
struct Sleeper {
    slept: bool,
}

impl Process for Sleeper {
    fn step(&mut self, _: &mut Context<'_>) -> Step {
        if self.slept {
            return Step::Complete(Ok(Payload::Nil));
        }
        self.slept = true;
        Step::Yield(wippy_process::Wait::any([wippy_process::Op::sleep(
            1,
            Duration::from_secs(3600),
        )]))
    }
}

#[test]
fn a_process_parked_on_ops_is_terminated_a_deadline_after_the_cancel_arrives() {
    // It will not run before its sleep ends, so its deadline starts when the
    // CANCEL arrives.
    let (rt, host) = runtime(1);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let sleeper = host
        .spawn(Sleeper { slept: false }, SpawnOptions::default())
        .unwrap();
    rt.node().monitor(w, sleeper).unwrap();
    wait_until("the sleeper parks", || {
        rt.node().cell(sleeper).unwrap().status().state == wippy_process::RunState::Waiting
    });
    let start = Instant::now();
    rt.node()
        .cancel(None, sleeper, Duration::from_millis(50), "")
        .unwrap();
    match rx.recv_timeout(TIMEOUT).unwrap() {
        Event::Exit {
            from,
            result: Err(e),
        } => {
            assert_eq!(from, sleeper);
            assert_eq!(e, ExitError::cancelled());
        }
        other => panic!("unexpected {other:?}"),
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_secs(5),
        "terminated after {took:?}, with a 50 ms deadline"
    );
}

/// Its first step says it runs, waits for `go`, then sleeps for an hour
/// (parked on ops, events do not wake it).
struct LateSleeper {
    running: mpsc::Sender<()>,
    go: mpsc::Receiver<()>,
}

impl Process for LateSleeper {
    fn step(&mut self, _: &mut Context<'_>) -> Step {
        self.running.send(()).ok();
        self.go.recv_timeout(TIMEOUT).ok();
        Step::Yield(wippy_process::Wait::any([wippy_process::Op::sleep(
            1,
            Duration::from_secs(3600),
        )]))
    }
}

#[test]
fn a_cancel_arriving_during_a_step_that_then_parks_on_ops_still_has_its_deadline() {
    let (rt, host) = runtime(1);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let (running, started) = mpsc::channel();
    let (go, wait) = mpsc::channel();
    let sleeper = host
        .spawn(LateSleeper { running, go: wait }, SpawnOptions::default())
        .unwrap();
    rt.node().monitor(w, sleeper).unwrap();
    started.recv_timeout(TIMEOUT).expect("the sleeper runs");
    rt.node()
        .cancel(None, sleeper, Duration::from_millis(50), "")
        .unwrap();
    go.send(()).unwrap();
    match rx.recv_timeout(TIMEOUT).unwrap() {
        Event::Exit {
            from,
            result: Err(e),
        } => {
            assert_eq!(from, sleeper);
            assert_eq!(e, ExitError::cancelled());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn terminate_ends_process_with_terminated_error() {
    let (rt, host) = runtime(1);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let victim = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .unwrap();
    rt.node().monitor(w, victim).unwrap();
    rt.node().terminate(victim).unwrap();
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Event::Exit {
            from: victim,
            result: Err(ExitError::terminated())
        }
    );
    assert!(!rt.node().is_alive(victim));
    assert!(
        rt.node().terminate(victim).is_err(),
        "terminating a dead pid reports it"
    );
}

#[test]
fn names_are_exclusive_and_freed_when_the_process_ends() {
    let (rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let holder = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.register("svc").unwrap();
            tx.send(()).unwrap();
            let m = cx.recv().await;
            Ok(m.payload)
        })
        .unwrap();
    rx.recv_timeout(TIMEOUT).unwrap();
    let node = rt.node();
    assert_eq!(node.lookup("svc"), Some(holder));
    let other = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .unwrap();
    assert!(matches!(
        node.register("svc", other),
        Err(wippy_process::Error::NameTaken { holder: h, .. }) if h == holder
    ));
    node.send_named(None, "svc", "stop", Payload::Nil).unwrap();
    wait_until("name freed", || node.lookup("svc").is_none());
    assert!(!node.is_alive(holder));
    node.register("svc", other).unwrap();
    assert!(node.unregister("svc"));
    assert!(!node.unregister("svc"));
    assert!(node.send_named(None, "svc", "x", Payload::Nil).is_err());
}

#[test]
fn stale_pid_never_reaches_the_process_that_reuses_its_slot() {
    let (rt, host) = runtime(1);
    let node = rt.node().clone();
    let (tx, rx) = mpsc::channel();
    let old = host
        .spawn_async(SpawnOptions::default(), |_| async { Ok(Payload::Nil) })
        .unwrap();
    wait_until("first process ends", || !node.is_alive(old));
    // Spawn until the slot is reused.
    let mut reused = None;
    for _ in 0..100 {
        let tx = tx.clone();
        let pid = host
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                let m = cx.recv().await;
                tx.send(m.topic.to_string()).unwrap();
                Ok(Payload::Nil)
            })
            .unwrap();
        if pid.local() as u32 == old.local() as u32 {
            reused = Some(pid);
            break;
        }
    }
    let new = reused.expect("slot reused within 100 spawns");
    assert_ne!(new, old);
    assert!(node.send(None, old, "stale", Payload::Nil).is_err());
    node.send(None, new, "fresh", Payload::Nil).unwrap();
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), "fresh");
    assert!(node.stats().dead_letters >= 1);
}

#[test]
fn panicking_native_process_ends_with_error_and_runtime_survives() {
    let (_rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let h = host.clone();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        let child = cx
            .spawn(&h, SpawnOptions::default().monitored(), |_| async {
                panic!("kaboom");
            })
            .unwrap();
        tx.send((child, cx.next_event().await)).unwrap();
        Ok(Payload::Nil)
    })
    .unwrap();
    let (child, ev) = rx.recv_timeout(TIMEOUT).unwrap();
    match ev {
        Event::Exit {
            from,
            result: Err(e),
        } => {
            assert_eq!(from, child);
            assert!(e.message().contains("kaboom"), "{e}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // The host still runs processes.
    let (tx2, rx2) = mpsc::channel();
    host.spawn_async(SpawnOptions::default(), move |_| async move {
        tx2.send(1).unwrap();
        Ok(Payload::Nil)
    })
    .unwrap();
    assert_eq!(rx2.recv_timeout(TIMEOUT).unwrap(), 1);
}

#[test]
fn send_to_dead_pid_is_no_process_and_counted() {
    let (rt, host) = runtime(1);
    let pid = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .unwrap();
    let cell = rt.node().cell(pid).expect("alive until it gets a message");
    rt.node().send(None, pid, "stop", Payload::Nil).unwrap();
    wait_until("process ends", || !rt.node().is_alive(pid));
    let before = rt.node().stats().dead_letters;
    assert!(matches!(
        rt.node().send(None, pid, "x", Payload::Nil),
        Err(wippy_process::Error::NoProcess(p)) if p == pid
    ));
    // Through a cell kept from before the end: the same.
    assert!(matches!(
        rt.node().send_to(None, &cell, "x", Payload::Nil),
        Err(wippy_process::Error::NoProcess(p)) if p == pid
    ));
    assert_eq!(rt.node().stats().dead_letters, before + 2);
}

#[test]
fn reserved_topics_are_rejected() {
    let (rt, host) = runtime(1);
    let pid = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.recv().await;
            Ok(Payload::Nil)
        })
        .unwrap();
    assert!(matches!(
        rt.node().send(None, pid, "@internal", Payload::Nil),
        Err(wippy_process::Error::ReservedTopic(_))
    ));
}

#[test]
fn monitoring_a_dead_process_delivers_noproc_exit() {
    let (rt, host) = runtime(1);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let gone = host
        .spawn_async(SpawnOptions::default(), |_| async { Ok(Payload::Nil) })
        .unwrap();
    wait_until("process ends", || !rt.node().is_alive(gone));
    rt.node().monitor(w, gone).unwrap();
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Event::Exit {
            from: gone,
            result: Err(ExitError::new("noproc"))
        }
    );
}

/// A counter written as a plain state machine, upgraded from v1 to v2.
struct CounterV1 {
    count: i64,
}
struct CounterV2 {
    count: i64,
}

impl Process for CounterV1 {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        while let Some(m) = cx.recv() {
            match m.topic.as_str() {
                "inc" => self.count += 1,
                "upgrade" => return Step::Upgrade(Box::new(CounterV2 { count: self.count })),
                _ => {}
            }
        }
        Step::Idle
    }
}

impl Process for CounterV2 {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        while let Some(m) = cx.recv() {
            match m.topic.as_str() {
                "inc" => self.count += 10,
                "get" => {
                    let _ = cx.send(
                        m.from.unwrap(),
                        "value",
                        Payload::map([("version", 2.into()), ("count", self.count.into())]),
                    );
                }
                _ => {}
            }
        }
        Step::Idle
    }
}

struct FailsToStart;
impl Process for FailsToStart {
    fn init(&mut self, _: &mut Context<'_>) -> Result<(), ExitError> {
        Err(ExitError::new("v3 failed to start"))
    }
    fn step(&mut self, _: &mut Context<'_>) -> Step {
        Step::Complete(Ok(Payload::Nil))
    }
}

#[test]
fn upgrade_keeps_pid_mailbox_and_monitors() {
    let (rt, host) = runtime(2);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let counter = host
        .spawn(CounterV1 { count: 0 }, SpawnOptions::default())
        .unwrap();
    rt.node().monitor(w, counter).unwrap();
    let (vtx, vrx) = mpsc::channel();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        for topic in ["inc", "inc", "upgrade", "inc", "get"] {
            cx.send(counter, topic, Payload::Nil).unwrap();
        }
        vtx.send(cx.recv().await).unwrap();
        Ok(Payload::Nil)
    })
    .unwrap();
    let reply = vrx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(reply.from, Some(counter), "same pid after upgrade");
    assert_eq!(reply.payload.get("version"), Some(&Payload::Int(2)));
    assert_eq!(reply.payload.get("count"), Some(&Payload::Int(12)));
    // Monitors survive the upgrade: terminate and expect the EXIT.
    rt.node().terminate(counter).unwrap();
    assert!(
        matches!(rx.recv_timeout(TIMEOUT).unwrap(), Event::Exit { from, .. } if from == counter)
    );
}

#[test]
fn upgrade_to_code_that_fails_to_start_ends_with_error_exit() {
    let (rt, host) = runtime(1);
    let (tx, rx) = mpsc::channel();
    let w = watcher(&host, false, tx);
    let p = host
        .spawn_async(SpawnOptions::default(), |cx| async move {
            cx.recv().await;
            cx.upgrade(FailsToStart).await
        })
        .unwrap();
    rt.node().monitor(w, p).unwrap();
    rt.node().send(None, p, "go", Payload::Nil).unwrap();
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Event::Exit {
            from: p,
            result: Err(ExitError::new("v3 failed to start"))
        }
    );
}

/// Registers a name, then upgrades to `NamedV2` on "upgrade".
struct NamedV1;
/// Answers "get" with its version; ends with an error on "fail".
struct NamedV2;

impl Process for NamedV1 {
    fn init(&mut self, cx: &mut Context<'_>) -> Result<(), ExitError> {
        cx.node()
            .register("upgraded-svc", cx.pid())
            .map_err(|e| ExitError::new(e.to_string()))
    }
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        while let Some(m) = cx.recv() {
            if m.topic == "upgrade" {
                return Step::Upgrade(Box::new(NamedV2));
            }
        }
        Step::Idle
    }
}

impl Process for NamedV2 {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        while let Some(m) = cx.recv() {
            match m.topic.as_str() {
                "get" => {
                    let _ = cx.send(m.from.unwrap(), "version", Payload::Int(2));
                }
                "fail" => return Step::Complete(Err(ExitError::new("v2 failed"))),
                _ => {}
            }
        }
        Step::Idle
    }
}

#[test]
fn upgrade_keeps_links_and_names() {
    let (rt, host) = runtime(2);
    let node = rt.node().clone();
    let (tx, rx) = mpsc::channel();
    let partner = watcher(&host, true, tx);
    let svc = host.spawn(NamedV1, SpawnOptions::default()).unwrap();
    wait_until("name registered", || {
        node.lookup("upgraded-svc") == Some(svc)
    });
    node.link(svc, partner).unwrap();
    let (vtx, vrx) = mpsc::channel();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        cx.send(svc, "upgrade", Payload::Nil).unwrap();
        cx.node()
            .send_named(Some(cx.pid()), "upgraded-svc", "get", Payload::Nil)
            .unwrap();
        vtx.send(cx.recv().await).unwrap();
        Ok(Payload::Nil)
    })
    .unwrap();
    let reply = vrx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        reply.from,
        Some(svc),
        "the name still leads to the same pid"
    );
    assert_eq!(reply.payload, Payload::Int(2), "answered by the new code");
    // The link survived: the new code's failure reaches the partner.
    node.send(None, svc, "fail", Payload::Nil).unwrap();
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Event::LinkDown {
            from: svc,
            error: ExitError::new("v2 failed")
        }
    );
    assert_eq!(node.lookup("upgraded-svc"), None, "name freed at exit");
}
