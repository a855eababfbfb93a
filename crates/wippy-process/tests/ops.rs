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
