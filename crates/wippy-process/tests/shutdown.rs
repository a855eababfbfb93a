//! Graceful shutdown of a runtime: no new work is accepted, queued and
//! parked processes are dropped, and every thread the runtime started (the
//! workers of each host, the timer thread, blocking threads) is joined.
//!
//! This file holds a single test so that the thread list of the OS process
//! sees only it.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use wippy_process::{Context, Error, Op, Payload, Process, Runtime, SpawnOptions, Step, Wait};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Names of the live threads of this OS process, sorted.
fn threads() -> Result<Vec<String>, wippy_testkit::Unavailable> {
    let threads = wippy_testkit::threads()?;
    Ok(threads.names().into_iter().map(str::to_owned).collect())
}

/// Runs one job on the blocking pool, reports, then idles forever.
struct AfterBlocking {
    started: bool,
    done: mpsc::Sender<()>,
    _guard: Arc<()>,
}

impl Process for AfterBlocking {
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        if !std::mem::replace(&mut self.started, true) {
            return Step::Yield(Wait::all([Op::blocking(1, || Payload::Int(1))]));
        }
        if cx.take_completion().is_some() {
            self.done.send(()).unwrap();
        }
        Step::Idle
    }
}

#[test]
fn shutdown_joins_every_runtime_thread_and_drops_every_process() {
    let before = threads();
    let rt = Runtime::new(Default::default()).unwrap();
    let a = rt.native_host("test:shut-a", 2).unwrap();
    let b = rt.native_host("test:shut-b", 1).unwrap();
    let guard = Arc::new(());
    let (tx, rx) = mpsc::channel();
    // Parked on its inbox; parked on a long sleep; idle after blocking work
    // (which started a blocking-pool thread); busy yielding forever.
    let g = guard.clone();
    a.spawn_async(SpawnOptions::default(), move |cx| async move {
        let _g = g;
        cx.recv().await;
        Ok(Payload::Nil)
    })
    .unwrap();
    let g = guard.clone();
    b.spawn_async(SpawnOptions::default(), move |cx| async move {
        let _g = g;
        cx.sleep(Duration::from_secs(3600)).await;
        Ok(Payload::Nil)
    })
    .unwrap();
    a.spawn(
        AfterBlocking {
            started: false,
            done: tx.clone(),
            _guard: guard.clone(),
        },
        SpawnOptions::default(),
    )
    .unwrap();
    let g = guard.clone();
    b.spawn_async(SpawnOptions::default(), move |cx| async move {
        let _g = g;
        tx.send(()).unwrap();
        loop {
            cx.yield_now().await;
        }
    })
    .unwrap();
    for _ in 0..2 {
        rx.recv_timeout(TIMEOUT).unwrap();
    }
    let node = rt.node().clone();
    assert_eq!(node.stats().live, 4);
    let during = threads();
    rt.shutdown();

    assert_eq!(Arc::strong_count(&guard), 1, "process state leaked");
    assert_eq!(node.stats().live, 0);
    // No new work is accepted.
    assert!(matches!(
        a.spawn_async(SpawnOptions::default(), |_| async { Ok(Payload::Nil) }),
        Err(Error::ShutDown)
    ));
    assert!(a.scheduler().is_shutdown() && b.scheduler().is_shutdown());
    // Every thread the runtime started is gone.
    let (before, during, after) = match (before, during, threads()) {
        (Ok(before), Ok(during), Ok(after)) => (before, during, after),
        (Err(why), ..) | (_, Err(why), _) | (.., Err(why)) => {
            return wippy_testkit::skip(format!("the thread check: {why}"));
        }
    };
    for name in [
        "test:shut-a-w0",
        "test:shut-a-w1",
        "test:shut-b-w0",
        "wippy-timer",
        "wippy-blocking-",
    ] {
        // comm is cut at 15 bytes.
        let short = &name[..name.len().min(15)];
        assert!(
            during.iter().any(|t| t.starts_with(short)),
            "{name} was not running: {during:?}"
        );
    }
    assert_eq!(after, before, "threads left after shutdown");
}
