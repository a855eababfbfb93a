//! Timer service behaviour through the public API.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use wippy_sched::TimerService;

const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn timers_fire_in_deadline_order_and_not_early() {
    let service = TimerService::start().expect("timer thread starts");
    let timers = service.handle();
    let base = Instant::now() + Duration::from_millis(20);
    let fired = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    // Distinct millisecond deadlines, inserted out of order.
    let order = [7usize, 3, 19, 0, 11, 5, 15, 1, 9, 13, 17, 2];
    for &i in &order {
        let deadline = base + Duration::from_millis(i as u64 * 3);
        let fired = fired.clone();
        let tx = tx.clone();
        timers.at(deadline, move || {
            fired
                .lock()
                .expect("not poisoned")
                .push((i, deadline, Instant::now()));
            tx.send(()).expect("test waits");
        });
    }
    for _ in &order {
        rx.recv_timeout(PATIENCE).expect("every timer fires");
    }
    let fired = fired.lock().expect("not poisoned");
    let indices: Vec<usize> = fired.iter().map(|f| f.0).collect();
    let mut sorted = order.to_vec();
    sorted.sort();
    assert_eq!(indices, sorted);
    for (i, deadline, at) in fired.iter() {
        assert!(at >= deadline, "timer {i} fired early");
    }
    assert_eq!(timers.pending(), 0);
}

#[test]
fn cancel_prevents_firing() {
    let service = TimerService::start().expect("timer thread starts");
    let timers = service.handle();
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    let id = timers.after(Duration::from_millis(10), move || {
        f.fetch_add(1, SeqCst);
    });
    assert_eq!(timers.pending(), 1);
    assert!(timers.cancel(id));
    assert!(!timers.cancel(id), "second cancel finds nothing");
    assert_eq!(timers.pending(), 0);
    // A later sentinel: once it fired, the cancelled one would have too.
    let (tx, rx) = mpsc::channel();
    timers.after(Duration::from_millis(30), move || {
        tx.send(()).expect("test waits")
    });
    rx.recv_timeout(PATIENCE).expect("sentinel fires");
    assert_eq!(fired.load(SeqCst), 0);
}

#[test]
fn periodic_timer_stops_when_its_action_returns_false() {
    let service = TimerService::start().expect("timer thread starts");
    let timers = service.handle();
    let count = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let c = count.clone();
    let started = Instant::now();
    timers.every(Duration::from_millis(2), move || {
        let n = c.fetch_add(1, SeqCst) + 1;
        if n == 5 {
            tx.send(Instant::now()).expect("test waits");
            return false;
        }
        true
    });
    let fifth = rx.recv_timeout(PATIENCE).expect("fires five times");
    assert!(
        fifth >= started + Duration::from_millis(10),
        "periodic fired early"
    );
    let (tx, rx) = mpsc::channel();
    timers.after(Duration::from_millis(20), move || {
        tx.send(()).expect("test waits")
    });
    rx.recv_timeout(PATIENCE).expect("sentinel fires");
    assert_eq!(count.load(SeqCst), 5);
    assert_eq!(timers.pending(), 0);
}

#[test]
fn cancelled_periodic_timer_fires_no_more() {
    let service = TimerService::start().expect("timer thread starts");
    let timers = service.handle();
    let count = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let c = count.clone();
    let id = timers.every(Duration::from_millis(1), move || {
        if c.fetch_add(1, SeqCst) + 1 == 3 {
            let _ = tx.send(());
        }
        true
    });
    rx.recv_timeout(PATIENCE).expect("fires three times");
    assert!(timers.cancel(id));
    // At most one firing may have been in flight when cancel returned.
    let after_cancel = count.load(SeqCst);
    let (tx, rx) = mpsc::channel();
    timers.after(Duration::from_millis(20), move || {
        tx.send(()).expect("test waits")
    });
    rx.recv_timeout(PATIENCE).expect("sentinel fires");
    assert!(count.load(SeqCst) <= after_cancel + 1);
    assert_eq!(timers.pending(), 0);
    assert!(!timers.cancel(id));
}

#[test]
fn a_hundred_thousand_pending_timers_all_fire() {
    let service = TimerService::start().expect("timer thread starts");
    let timers = service.handle();
    const N: usize = 100_000;
    let fired = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let now = Instant::now();
    for i in 0..N {
        let fired = fired.clone();
        let tx = tx.clone();
        let deadline = now + Duration::from_millis((i % 500) as u64 + 50);
        timers.at(deadline, move || {
            if fired.fetch_add(1, SeqCst) + 1 == N
                && let Some(tx) = tx.lock().expect("not poisoned").take()
            {
                tx.send(()).expect("test waits");
            }
        });
    }
    assert!(timers.pending() > 0);
    rx.recv_timeout(PATIENCE).expect("all timers fire");
    assert_eq!(fired.load(SeqCst), N);
    assert_eq!(timers.pending(), 0);
}

#[test]
fn shutdown_drops_pending_actions() {
    let service = TimerService::start().expect("timer thread starts");
    let timers = service.handle();
    let guard = Arc::new(());
    let held = guard.clone();
    timers.after(Duration::from_secs(3600), move || drop(held));
    assert_eq!(Arc::strong_count(&guard), 2);
    service.shutdown();
    assert_eq!(Arc::strong_count(&guard), 1);
}

/// Sets `count` one-shot timers `delay` apart, one after the other, and
/// returns how late each fired, sorted.
fn lateness(timers: &wippy_sched::TimerHandle, count: usize, delay: Duration) -> Vec<Duration> {
    let mut late: Vec<Duration> = (0..count)
        .map(|_| {
            let (tx, rx) = mpsc::channel();
            let deadline = Instant::now() + delay;
            timers.at(deadline, move || {
                tx.send(Instant::now()).expect("test waits")
            });
            let fired = rx.recv_timeout(PATIENCE).expect("timer fires");
            assert!(fired >= deadline, "fired before its deadline");
            fired - deadline
        })
        .collect();
    late.sort();
    late
}

#[test]
fn timers_have_millisecond_precision() {
    let service = TimerService::start().expect("timer thread starts");
    let late = lateness(&service.handle(), 40, Duration::from_micros(2_500));
    // Deadlines round up to the next millisecond tick; the median firing
    // lands within that tick plus wake-up latency. (The median, not the
    // maximum: a loaded 2-core test machine may deschedule any one firing.)
    let median = late[late.len() / 2];
    assert!(
        median <= Duration::from_millis(2),
        "median lateness {median:?}, all: {late:?}"
    );
}

#[test]
fn hundreds_of_thousands_of_pending_timers_do_not_slow_a_short_one() {
    let service = TimerService::start().expect("timer thread starts");
    let timers = service.handle();
    let quiet = lateness(&timers, 20, Duration::from_millis(3));
    const N: u64 = 300_000;
    let fired = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for i in 0..N {
        let fired = fired.clone();
        // Spread over the wheel's levels: 60 s to 6 min (none due while
        // the test runs, even if inserting them takes seconds on a loaded
        // machine: from 1 s, some fired before `pending` was read).
        timers.after(Duration::from_millis(60_000 + i), move || {
            fired.fetch_add(1, SeqCst);
        });
    }
    let inserted = start.elapsed();
    assert_eq!(timers.pending(), N as usize);
    let loaded = lateness(&timers, 20, Duration::from_millis(3));
    let (quiet_median, loaded_median) = (quiet[quiet.len() / 2], loaded[loaded.len() / 2]);
    eprintln!(
        "{N} timers inserted in {inserted:?}; median lateness {quiet_median:?} idle, {loaded_median:?} with them pending"
    );
    assert!(
        loaded_median <= Duration::from_millis(2),
        "with {N} pending, median lateness {loaded_median:?} (idle {quiet_median:?})"
    );
    assert_eq!(fired.load(SeqCst), 0);
    assert_eq!(timers.pending(), N as usize);
    service.shutdown();
}
