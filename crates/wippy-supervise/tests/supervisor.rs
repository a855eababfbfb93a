//! Services restarted with backoff, given up, and stopped in reverse order.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use wippy_process::{Event, ExitError, NativeHost, Payload, Runtime, SpawnOptions};
use wippy_supervise::{RestartPolicy, Service, Supervisor};

const TIMEOUT: Duration = Duration::from_secs(10);

fn fast(max_attempts: u32) -> RestartPolicy {
    RestartPolicy {
        max_attempts,
        delay: Duration::from_millis(5),
        backoff_factor: 2.0,
        max_delay: Duration::from_millis(50),
        jitter: 0.0,
        stable_threshold: Duration::from_secs(60),
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A service that fails `fail_first` times, then stays up until cancelled.
fn flaky(host: &NativeHost, name: &str, fail_first: u32, log: Arc<Mutex<Vec<String>>>) -> Service {
    let starts = Arc::new(AtomicU32::new(0));
    let h = host.clone();
    let n = name.to_owned();
    Service {
        name: name.to_owned(),
        restart: fast(5),
        stop_timeout: Duration::from_secs(1),
        start: Arc::new(move |opts: SpawnOptions| {
            let attempt = starts.fetch_add(1, Ordering::SeqCst) + 1;
            let log = log.clone();
            let n = n.clone();
            h.spawn_async(opts, move |cx| async move {
                log.lock().unwrap().push(format!("start {n} {attempt}"));
                if attempt <= fail_first {
                    return Err(ExitError::new(format!("boom {attempt}")));
                }
                loop {
                    if let Event::Cancel { .. } = cx.next_event().await {
                        log.lock().unwrap().push(format!("stop {n}"));
                        return Ok(Payload::Nil);
                    }
                }
            })
            .map_err(|e| e.to_string())
        }),
    }
}

#[test]
fn crashed_service_is_restarted_until_it_stays_up() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:system", 2).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sup = Supervisor::start(&host, vec![flaky(&host, "svc", 2, log.clone())]).unwrap();
    wait_for("third start", || log.lock().unwrap().len() >= 3);
    let st = sup.status();
    assert_eq!(st[0].restarts, 2);
    assert!(!st[0].given_up);
    let pid = st[0].pid.or_else(|| {
        wait_for("pid published", || sup.status()[0].pid.is_some());
        sup.status()[0].pid
    });
    assert!(rt.node().is_alive(pid.unwrap()));
    assert!(sup.stop(TIMEOUT));
}

#[test]
fn service_failing_too_often_is_given_up() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:system", 1).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut svc = flaky(&host, "doomed", u32::MAX, log.clone());
    svc.restart = fast(3);
    let sup = Supervisor::start(&host, vec![svc]).unwrap();
    wait_for("given up", || sup.status()[0].given_up);
    // One start plus three restarts, and no more.
    assert_eq!(log.lock().unwrap().len(), 4);
    assert_eq!(sup.status()[0].restarts, 3);
}

#[test]
fn a_service_that_cannot_start_is_given_up_and_not_started_again() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:system", 1).unwrap();
    let starts = Arc::new(AtomicU32::new(0));
    let counted = starts.clone();
    let svc = Service {
        name: "unstartable".into(),
        restart: fast(2),
        stop_timeout: Duration::from_secs(1),
        start: Arc::new(move |_: SpawnOptions| {
            counted.fetch_add(1, Ordering::SeqCst);
            Err("no such entry".to_owned())
        }),
    };
    let sup = Supervisor::start(&host, vec![svc]).unwrap();
    wait_for("given up", || sup.status()[0].given_up);
    assert!(sup.stop(TIMEOUT));
    // One start plus two restarts; a failed start used to leave a restart
    // due at once, so a given-up service was started over and over.
    assert_eq!(starts.load(Ordering::SeqCst), 3);
}

#[test]
fn services_stop_in_reverse_start_order() {
    let rt = Runtime::new(Default::default()).unwrap();
    let host = rt.native_host("test:system", 2).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sup = Supervisor::start(
        &host,
        vec![
            flaky(&host, "db", 0, log.clone()),
            flaky(&host, "web", 0, log.clone()),
        ],
    )
    .unwrap();
    wait_for("both started", || log.lock().unwrap().len() >= 2);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| tx.send(sup.stop(TIMEOUT)).unwrap());
    });
    assert!(rx.recv_timeout(TIMEOUT).unwrap());
    let log = log.lock().unwrap();
    let stops: Vec<_> = log.iter().filter(|l| l.starts_with("stop")).collect();
    assert_eq!(stops, vec!["stop web", "stop db"]);
}
