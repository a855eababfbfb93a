//! Loom models of the wake protocol: a runner stepping and parking a process
//! while other threads deliver to it (`.ci/run` runs them). Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p wippy-process --lib --release cell::loom`.
//!
//! Checked in every interleaving: the process is handed to at most one
//! runner (never both requeued by its runner and woken by a sender, never
//! woken twice), no arrival is lost (it was seen by the step, or the process
//! runs again), a passed cancel deadline ends the process whether it finds
//! it running or parked, and `Home::wake` is never called under the cell's
//! lock (the recording home takes it; loom reports the deadlock otherwise).

use super::*;
use crate::message::ExitError;
use crate::node::Node;
use crate::payload::Payload;
use crate::pid::HostId;
use crate::process::{Op, Step, Wait};
use crate::run::{Outcome, drive};
use loom::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, OnceLock};

/// A node shared by every model run: only `drive`'s exit path touches
/// it (its table, names and timers use std locks, outside the model).
fn node() -> Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let rt = crate::runtime::Runtime::new(Default::default()).expect("runtime");
        let node = rt.node().clone();
        std::mem::forget(rt); // lives as long as the test binary
        node
    })
    .clone()
}

/// A home that counts wake-ups; it locks the cell, which deadlocks if
/// the waker still holds the lock.
#[derive(Default)]
struct Recorder {
    wakes: AtomicUsize,
}

impl Home for Recorder {
    fn wake(&self, cell: &Arc<ProcessCell>) {
        let _ = cell.is_alive();
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// Takes every completion, message and event; then idles. With
/// `wait: Some(all)` its first step yields on a receive op instead.
struct Taker {
    wait: Option<bool>,
}

impl Process for Taker {
    fn step(&mut self, cx: &mut crate::context::Context<'_>) -> Step {
        if let Some(all) = self.wait.take() {
            let ops = [Op::receive(1)];
            return Step::Yield(if all { Wait::all(ops) } else { Wait::any(ops) });
        }
        while cx.take_completion().is_some() {}
        while cx.recv().is_some() || cx.next_event().is_some() {}
        Step::Idle
    }
}

fn message() -> Message {
    Message::new(None, "m", Payload::Nil)
}

/// What one sender thread does to the cell.
type Sender = Box<dyn FnOnce(&Arc<ProcessCell>) + Send>;

/// One model run: the runner drives a freshly scheduled process (its
/// first step) while `senders` run on other threads; then it checks the
/// invariants and, if the process was handed back, runs it again until
/// it parks or exits. Returns whether it exited.
fn run(wait: Option<bool>, senders: Vec<Sender>) -> bool {
    let node = node();
    let home = Arc::new(Recorder::default());
    let pid = Pid::new(HostId::intern("loom:cell"), 1);
    let cell = Arc::new(ProcessCell::new(
        pid,
        Residence::Hosted(home.clone()),
        0,
        None,
        false,
    ));
    let mut process: Box<dyn Process> = Box::new(Taker { wait });
    let threads: Vec<_> = senders
        .into_iter()
        .map(|send| {
            let cell = cell.clone();
            loom::thread::spawn(move || send(&cell))
        })
        .collect();
    let mut outcome = drive(&node, &cell, &mut process);
    for t in threads {
        t.join().expect("sender");
    }
    // Everything has arrived. Keep running while the process is ours.
    let mut wakes_seen = 0;
    loop {
        let wakes = home.wakes.load(SeqCst);
        let woken = wakes - wakes_seen;
        assert!(woken <= 1, "woken {woken} times for one park");
        match outcome {
            Outcome::Requeue => {
                assert_eq!(woken, 0, "requeued by its runner and woken by a sender");
            }
            Outcome::Exited => {
                assert_eq!(woken, 0, "woken after it exited");
                return true;
            }
            Outcome::Parked if woken == 0 => break,
            Outcome::Parked => {}
        }
        wakes_seen = wakes;
        outcome = drive(&node, &cell, &mut process);
    }
    // Parked for good: nothing it was waiting for is left behind.
    let inner = cell.lock();
    assert!(inner.alive && inner.kill.is_none(), "a kill was lost");
    assert!(inner.messages.is_empty(), "a message was lost");
    assert!(
        inner.events.as_ref().is_none_or(|e| e.is_empty()),
        "an event was lost"
    );
    false
}

fn send_message() -> Sender {
    Box::new(|cell| {
        let _ = cell.deliver(message());
    })
}

#[test]
fn a_message_racing_an_idle_park_is_never_lost_or_doubled() {
    loom::model(|| {
        run(None, vec![send_message()]);
    });
}

#[test]
fn a_message_racing_a_receive_op_wakes_once() {
    loom::model(|| {
        run(Some(false), vec![send_message()]);
    });
    loom::model(|| {
        run(Some(true), vec![send_message()]);
    });
}

#[test]
fn a_cancel_deadline_passing_while_the_process_runs_or_parks_ends_it_once() {
    // Whether the deadline finds it running (it ends when it parks) or
    // parked (it is woken once, and ends): it ends, never parked for good.
    loom::model(|| {
        let exited = run(
            None,
            vec![Box::new(|cell: &Arc<ProcessCell>| cell.deadline_passed())],
        );
        assert!(exited, "a passed deadline was lost");
    });
}

#[test]
fn a_message_an_event_and_a_kill_racing_a_park_wake_once() {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(|| {
        let _ = run(
            None,
            vec![
                send_message(),
                Box::new(|cell| {
                    cell.deliver_event(crate::message::Event::LinkDown {
                        from: cell.pid,
                        error: ExitError::new("down"),
                    });
                }),
                Box::new(|cell| {
                    cell.kill(ExitError::terminated());
                }),
            ],
        );
    });
}
