//! Blocking pool behaviour through the public API.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use wippy_sched::{BlockingPool, SchedError};

const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn runs_jobs_concurrently_up_to_its_bound() {
    let pool = BlockingPool::new(3);
    let handle = pool.handle();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel();
    let (release_tx, release) = mpsc::channel::<()>();
    let release = Arc::new(std::sync::Mutex::new(release));
    let (done_tx, done) = mpsc::channel();
    for _ in 0..6 {
        let (running, peak) = (running.clone(), peak.clone());
        let (started_tx, done_tx, release) = (started_tx.clone(), done_tx.clone(), release.clone());
        handle
            .run(move || {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                started_tx.send(()).expect("test waits");
                release
                    .lock()
                    .expect("not poisoned")
                    .recv_timeout(PATIENCE)
                    .expect("test releases");
                running.fetch_sub(1, SeqCst);
                done_tx.send(()).expect("test waits");
            })
            .expect("pool accepts");
    }
    // Three start without any finishing: they run concurrently.
    for _ in 0..3 {
        started.recv_timeout(PATIENCE).expect("job starts");
    }
    for _ in 0..6 {
        release_tx.send(()).expect("a job waits");
    }
    for _ in 0..6 {
        done.recv_timeout(PATIENCE).expect("job finishes");
    }
    assert_eq!(peak.load(SeqCst), 3);
    assert_eq!(pool.shutdown(Duration::from_secs(5)), 0);
}

#[test]
fn shutdown_drops_queued_jobs_and_detaches_busy_threads() {
    let pool = BlockingPool::new(1);
    let handle = pool.handle();
    let (started_tx, started) = mpsc::channel();
    let (unblock_tx, unblock) = mpsc::channel::<()>();
    handle
        .run(move || {
            started_tx.send(()).expect("test waits");
            // Blocks like a read on stdin, until the test lets go.
            let _ = unblock.recv();
        })
        .expect("pool accepts");
    started.recv_timeout(PATIENCE).expect("job starts");
    let queued_ran = Arc::new(AtomicUsize::new(0));
    let guard = Arc::new(());
    let (ran, held) = (queued_ran.clone(), guard.clone());
    handle
        .run(move || {
            ran.fetch_add(1, SeqCst);
            drop(held);
        })
        .expect("pool accepts");
    let busy = pool.shutdown(Duration::from_millis(50));
    assert_eq!(busy, 1);
    assert_eq!(Arc::strong_count(&guard), 1, "queued job dropped");
    assert_eq!(queued_ran.load(SeqCst), 0);
    assert!(matches!(handle.run(|| {}), Err(SchedError::ShutDown)));
    drop(unblock_tx); // the detached thread finishes on its own
}

#[test]
fn shutdown_waits_for_running_jobs_within_grace() {
    let pool = BlockingPool::new(2);
    let handle = pool.handle();
    let (started_tx, started) = mpsc::channel();
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    handle
        .run(move || {
            started_tx.send(()).expect("test waits");
            std::thread::sleep(Duration::from_millis(20)); // the blocking work
            f.fetch_add(1, SeqCst);
        })
        .expect("pool accepts");
    started.recv_timeout(PATIENCE).expect("job starts");
    assert_eq!(pool.shutdown(PATIENCE), 0);
    assert_eq!(finished.load(SeqCst), 1);
}
