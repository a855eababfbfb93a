//! Helpers of the supervision tests: a log the workers write to and the
//! test waits on, workers driven by messages, and an exit watcher.

#![allow(dead_code)] // each test file uses its own subset

use std::future::poll_fn;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::task::Poll;
use std::time::{Duration, Instant};

use wippy_process::{
    Ctx, Event, ExitError, ExitResult, Message, NativeHost, Payload, Pid, Runtime, SpawnOptions,
};
use wippy_supervise::{ChildInfo, ChildSpec, Supervisor};

/// Longest any wait in a test may take before it fails (a hang guard).
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub fn runtime(workers: usize) -> (Runtime, NativeHost) {
    let rt = Runtime::new(Default::default()).expect("runtime starts");
    let host = rt
        .native_host("test:supervise", workers)
        .expect("host starts");
    (rt, host)
}

/// Lines written by workers, in the order they were written.
#[derive(Clone, Default)]
pub struct Log(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Log {
    pub fn push(&self, line: impl Into<String>) {
        self.0.0.lock().unwrap().push(line.into());
        self.0.1.notify_all();
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.0.lock().unwrap().clone()
    }

    /// Waits until the log holds `n` lines; returns them.
    pub fn wait_len(&self, n: usize) -> Vec<String> {
        self.wait_until(&format!("{n} log lines"), |l| l.len() >= n)
    }

    /// Waits until `f` holds for the lines; returns them.
    pub fn wait_until(&self, what: &str, f: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut lines = self.0.0.lock().unwrap();
        while !f(&lines) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; log: {lines:?}"
            );
            lines = self.0.1.wait_timeout(lines, left).unwrap().0;
        }
        lines.clone()
    }

    /// Forgets every line.
    pub fn clear(&self) {
        self.0.0.lock().unwrap().clear();
    }
}

pub enum Next {
    Message(Message),
    Event(Event),
}

/// The next message or event of a native process.
pub async fn next(cx: &Ctx) -> Next {
    poll_fn(|_| {
        if let Some(m) = cx.try_recv() {
            return Poll::Ready(Next::Message(m));
        }
        match cx.try_event() {
            Some(e) => Poll::Ready(Next::Event(e)),
            None => Poll::Pending,
        }
    })
    .await
}

/// A worker whose start function logs `start ID` (so start lines are in
/// the order the supervisor starts children), then crashes on a `crash`
/// message, ends cleanly on `exit`, and on CANCEL logs `stop ID` (with the
/// CANCEL's reason if it is not the supervisor's) and ends.
pub fn worker(host: &NativeHost, id: &str, log: &Log) -> ChildSpec {
    let log = log.clone();
    let host = host.clone();
    let name = id.to_owned();
    ChildSpec::new(id, move |opts: SpawnOptions, _: &[Payload]| {
        log.push(format!("start {name}"));
        let log = log.clone();
        let name = name.clone();
        Ok(host.spawn_async(opts, move |cx| async move { serve(&cx, &name, &log).await })?)
    })
}

/// The body of [`worker`] after its start line.
pub async fn serve(cx: &Ctx, name: &str, log: &Log) -> ExitResult {
    loop {
        match next(cx).await {
            Next::Message(m) if m.topic == "crash" => {
                return Err(ExitError::new(format!("crash {name}")));
            }
            Next::Message(m) if m.topic == "exit" => return Ok(Payload::Nil),
            Next::Event(Event::Cancel { reason, .. }) => {
                // The supervisor says why (Wippy's reason for a service).
                if reason == wippy_supervise::STOP_REASON {
                    log.push(format!("stop {name}"));
                } else {
                    log.push(format!("stop {name} ({reason:?})"));
                }
                return Ok(Payload::Nil);
            }
            _ => {}
        }
    }
}

/// The child `id` of `sup`.
pub fn child(sup: &Supervisor, id: &str) -> ChildInfo {
    sup.which_children()
        .expect("the supervisor answers")
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no child {id}"))
}

/// The pid of the running child `id` of `sup`.
pub fn pid_of(sup: &Supervisor, id: &str) -> Pid {
    child(sup, id)
        .pid
        .unwrap_or_else(|| panic!("{id} is not running"))
}

/// Sends `topic` to `pid` from outside any process.
pub fn tell(rt: &Runtime, pid: Pid, topic: &str) {
    rt.node()
        .send(None, pid, topic, Payload::Nil)
        .unwrap_or_else(|e| panic!("cannot send {topic} to {pid}: {e}"));
}

/// Polls `f` until it holds (for states nothing announces), failing after
/// [`TIMEOUT`].
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A native process that monitors `pids` and forwards their exits.
pub fn watch(host: &NativeHost, pids: &[Pid]) -> mpsc::Receiver<(Pid, ExitResult)> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let pids = pids.to_vec();
    host.spawn_async(SpawnOptions::default(), move |cx| async move {
        for &pid in &pids {
            cx.node().monitor(cx.pid(), pid).expect("monitor");
        }
        ready_tx.send(()).ok();
        let mut left = pids.len();
        while left > 0 {
            if let Event::Exit { from, result } = cx.next_event().await {
                tx.send((from, result)).ok();
                left -= 1;
            }
        }
        Ok(Payload::Nil)
    })
    .expect("the watcher starts");
    ready_rx
        .recv_timeout(TIMEOUT)
        .expect("the watcher is ready");
    rx
}

/// A native process that forwards every EXIT it gets (from processes
/// spawned monitored with it as parent); its pid and the exits.
pub fn exits(host: &NativeHost) -> (Pid, mpsc::Receiver<(Pid, ExitResult)>) {
    let (tx, rx) = mpsc::channel();
    let pid = host
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            loop {
                if let Event::Exit { from, result } = cx.next_event().await
                    && tx.send((from, result)).is_err()
                {
                    return Ok(Payload::Nil);
                }
            }
        })
        .expect("the watcher starts");
    (pid, rx)
}
