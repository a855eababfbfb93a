//! Processes written directly against the `Process` trait: pending ops,
//! any/all waits, blocking work that frees the worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wippy_process::{Completion, Context, Op, Payload, Process, Runtime, SpawnOptions, Step, Wait};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Waits on the given ops once, reports the completions it saw on resume.
struct Waiter {
    wait: Option<Wait>,
    report: mpsc::Sender<(Vec<Completion>, Duration)>,
    started: Instant,
}

impl Process for Waiter {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        if let Some(wait) = self.wait.take() {
            return Step::Yield(wait);
        }
        let mut got = Vec::new();
        while let Some(c) = cx.take_completion() {
            got.push(c);
        }
        self.report.send((got, self.started.elapsed())).unwrap();
        Step::Complete(Ok(Payload::Nil))
    }
}

fn run_wait(
    wait: Wait,
    setup: impl FnOnce(&Runtime, wippy_process::Pid),
) -> (Vec<Completion>, Duration) {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:ops", 1).unwrap();
    let (tx, rx) = mpsc::channel();
    let pid = host
        .spawn(
            Waiter {
                wait: Some(wait),
                report: tx,
                started: Instant::now(),
            },
            SpawnOptions::default(),
        )
        .unwrap();
    setup(&rt, pid);
    rx.recv_timeout(TIMEOUT).unwrap()
}

#[test]
fn wait_any_resumes_on_the_first_completion() {
    let (got, _) = run_wait(
        Wait::any([Op::receive(1), Op::sleep(2, Duration::from_secs(3600))]),
        |rt, pid| rt.node().send(None, pid, "x", Payload::Nil).unwrap(),
    );
    assert_eq!(got.iter().map(|c| c.tag).collect::<Vec<_>>(), vec![1]);
}

#[test]
fn wait_all_resumes_after_every_completion() {
    let (got, took) = run_wait(
        Wait::all([
            Op::sleep(1, Duration::from_millis(10)),
            Op::sleep(2, Duration::from_millis(40)),
        ]),
        |_, _| {},
    );
    let mut tags: Vec<_> = got.iter().map(|c| c.tag).collect();
    tags.sort();
    assert_eq!(tags, vec![1, 2]);
    // Timers have millisecond precision: allow the 40 ms op to fire within
    // its last millisecond, but not after only the 10 ms one.
    assert!(took >= Duration::from_millis(39), "resumed after {took:?}");
}

#[test]
fn blocking_op_completes_with_its_value_and_frees_the_worker() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:blocking", 1).unwrap();
    let (tx, rx) = mpsc::channel();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    // Blocks a pool thread until another process on the ONE worker has run.
    host.spawn(
        Waiter {
            wait: Some(Wait::any([Op::blocking(9, move || {
                gate_rx.recv_timeout(TIMEOUT).unwrap();
                Payload::Str("read".into())
            })])),
            report: tx,
            started: Instant::now(),
        },
        SpawnOptions::default(),
    )
    .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    host.spawn_async(SpawnOptions::default(), move |_| async move {
        r.fetch_add(1, Ordering::SeqCst);
        gate_tx.send(()).unwrap();
        Ok(Payload::Nil)
    })
    .unwrap();
    let (got, _) = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(
        got,
        vec![Completion {
            tag: 9,
            value: Payload::Str("read".into())
        }]
    );
}

/// Counts its steps; parks idle.
struct Counter(Arc<AtomicUsize>);
impl Process for Counter {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        self.0.fetch_add(1, Ordering::SeqCst);
        while cx.recv().is_some() {}
        Step::Idle
    }
}

#[test]
fn idle_process_is_not_stepped_until_something_arrives() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:idle", 2).unwrap();
    let steps = Arc::new(AtomicUsize::new(0));
    let pid = host
        .spawn(Counter(steps.clone()), SpawnOptions::default())
        .unwrap();
    let start = Instant::now();
    while steps.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < TIMEOUT);
        std::thread::yield_now();
    }
    // Give a spinning implementation the chance to step again: it must not.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(steps.load(Ordering::SeqCst), 1);
    rt.node().send(None, pid, "x", Payload::Nil).unwrap();
    while steps.load(Ordering::SeqCst) < 2 {
        assert!(start.elapsed() < TIMEOUT);
        std::thread::yield_now();
    }
}

/// Waits on a receive and a sleep (any), then idles until the sleep's
/// completion, which stays pending after the receive resumed it.
struct AnyThenRest {
    phase: u8,
    report: mpsc::Sender<Vec<u64>>,
    seen: Vec<u64>,
}

impl Process for AnyThenRest {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        if self.phase == 0 {
            self.phase = 1;
            return Step::Yield(Wait::any([
                Op::receive(1),
                Op::sleep(2, Duration::from_millis(30)),
            ]));
        }
        while let Some(c) = cx.take_completion() {
            self.seen.push(c.tag);
        }
        while cx.recv().is_some() {}
        if self.seen.len() < 2 {
            return Step::Idle; // a completion wakes an idle process
        }
        self.report.send(self.seen.clone()).unwrap();
        Step::Complete(Ok(Payload::Nil))
    }
}

#[test]
fn wait_any_leaves_the_other_ops_pending_until_they_complete() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:any-rest", 1).unwrap();
    let (tx, rx) = mpsc::channel();
    let pid = host
        .spawn(
            AnyThenRest {
                phase: 0,
                report: tx,
                seen: Vec::new(),
            },
            SpawnOptions::default(),
        )
        .unwrap();
    rt.node().send(None, pid, "x", Payload::Nil).unwrap();
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), vec![1, 2]);
}

/// Yields with no ops a few times; nothing else ever wakes it.
struct Yields(usize, mpsc::Sender<()>);
impl Process for Yields {
    fn step(&mut self, _: &mut Context<'_>) -> Step {
        if self.0 == 0 {
            self.1.send(()).unwrap();
            return Step::Complete(Ok(Payload::Nil));
        }
        self.0 -= 1;
        Step::Yield(Wait::yield_now())
    }
}

#[test]
fn a_yield_without_ops_runs_again_by_itself() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:yield", 1).unwrap();
    let (tx, rx) = mpsc::channel();
    host.spawn(Yields(5, tx), SpawnOptions::default()).unwrap();
    rx.recv_timeout(TIMEOUT).unwrap();
}

#[test]
fn wait_all_is_not_resumed_by_a_message_alone() {
    // The sleep's deadline is fixed when the op is made, so time is counted
    // from just before that (the waiter's own clock starts later).
    let made = Instant::now();
    let (got, _) = run_wait(
        Wait::all([Op::receive(1), Op::sleep(2, Duration::from_millis(40))]),
        |rt, pid| rt.node().send(None, pid, "x", Payload::Nil).unwrap(),
    );
    let took = made.elapsed();
    let mut tags: Vec<_> = got.iter().map(|c| c.tag).collect();
    tags.sort();
    assert_eq!(tags, vec![1, 2]);
    assert!(took >= Duration::from_millis(40), "resumed after {took:?}");
}

/// Records init and close calls; ends as `how` says on its first step.
struct Lifecycle {
    how: &'static str,
    log: mpsc::Sender<String>,
}

impl Process for Lifecycle {
    fn init(&mut self, _: &mut Context<'_>) -> Result<(), wippy_process::ExitError> {
        self.log.send("init".into()).unwrap();
        if self.how == "init-fails" {
            return Err(wippy_process::ExitError::new("no start"));
        }
        Ok(())
    }
    fn step(&mut self, _: &mut Context<'_>) -> Step {
        self.log.send("step".into()).unwrap();
        match self.how {
            "complete" => Step::Complete(Ok(Payload::Int(1))),
            "panic" => panic!("step panicked"),
            _ => Step::Idle, // waits to be terminated
        }
    }
    fn close(&mut self, _: &mut Context<'_>, result: &wippy_process::ExitResult) {
        let text = match result {
            Ok(v) => format!("close ok {v}"),
            Err(e) => format!("close err {e}"),
        };
        self.log.send(text).unwrap();
    }
}

#[test]
fn init_runs_once_first_and_close_once_last_however_the_process_ends() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:close", 1).unwrap();
    for (how, want) in [
        ("complete", vec!["init", "step", "close ok 1"]),
        (
            "panic",
            vec!["init", "step", "close err panic: step panicked"],
        ),
        ("init-fails", vec!["init", "close err no start"]),
        (
            "terminated",
            vec!["init", "step", "close err process terminated"],
        ),
    ] {
        let (tx, rx) = mpsc::channel();
        let pid = host
            .spawn(Lifecycle { how, log: tx }, SpawnOptions::default())
            .unwrap();
        let mut got = Vec::new();
        while got.last().is_none_or(|l: &String| !l.starts_with("close")) {
            got.push(rx.recv_timeout(TIMEOUT).unwrap());
            if how == "terminated" && got.len() == 2 {
                rt.node().terminate(pid).unwrap();
            }
        }
        let start = Instant::now();
        while rt.node().is_alive(pid) {
            assert!(start.elapsed() < TIMEOUT, "{how}: still alive after close");
            std::thread::yield_now();
        }
        // Nothing after close, and the process's state is dropped with it.
        assert_eq!(
            rx.recv_timeout(TIMEOUT),
            Err(mpsc::RecvTimeoutError::Disconnected),
            "{how}: more after close, or the state was kept"
        );
        assert_eq!(got, want, "{how}");
    }
}

/// Parks idle and never reads its mailbox.
struct Hoarder;
impl Process for Hoarder {
    fn step(&mut self, _: &mut Context<'_>) -> Step {
        Step::Idle
    }
}

/// Waits until `f` holds, failing after `TIMEOUT`.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn a_cells_status_tells_idle_from_waiting_on_ops_and_counts_the_mailbox() {
    use wippy_process::{CellStatus, RunState};
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:status", 1).unwrap();
    let hoarder = host.spawn(Hoarder, SpawnOptions::default()).unwrap();
    let cell = rt.node().cell(hoarder).unwrap();
    for _ in 0..2 {
        rt.node().send(None, hoarder, "x", Payload::Nil).unwrap();
    }
    let idle_with_two = CellStatus {
        state: RunState::Idle,
        mailbox: 2,
    };
    eventually("an idle hoarder with two messages", || {
        cell.status() == idle_with_two
    });

    let (tx, _rx) = mpsc::channel();
    let sleeper = host
        .spawn(
            Waiter {
                wait: Some(Wait::any([Op::sleep(1, Duration::from_secs(3600))])),
                report: tx,
                started: Instant::now(),
            },
            SpawnOptions::default(),
        )
        .unwrap();
    let sleeping = rt.node().cell(sleeper).unwrap();
    eventually("a sleeper waiting on its op", || {
        sleeping.status().state == RunState::Waiting
    });

    rt.node().terminate(hoarder).unwrap();
    eventually("the hoarder ended", || {
        cell.status().state == RunState::Ended
    });
}
