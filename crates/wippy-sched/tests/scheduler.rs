//! Scheduler behaviour through the public API.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::time::{Duration, Instant};
use wippy_sched::{Config, Handle, Scheduler, Task, TaskRef};

const PATIENCE: Duration = Duration::from_secs(60);

fn scheduler(name: &str, workers: usize) -> Scheduler {
    Scheduler::new(Config {
        name: name.into(),
        workers,
        ..Config::default()
    })
    .expect("scheduler starts")
}

/// Waits until `cond` holds, failing loudly after `PATIENCE`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Counts runs per task index; signals when all `total` tasks ran.
struct Tally {
    runs: Vec<AtomicU8>,
    done: AtomicUsize,
    total: usize,
    finished: Mutex<Option<mpsc::Sender<()>>>,
}

impl Tally {
    fn new(total: usize) -> (Arc<Tally>, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel();
        let tally = Arc::new(Tally {
            runs: (0..total).map(|_| AtomicU8::new(0)).collect(),
            done: AtomicUsize::new(0),
            total,
            finished: Mutex::new(Some(tx)),
        });
        (tally, rx)
    }

    fn ran(&self, index: usize) {
        self.runs[index].fetch_add(1, SeqCst);
        if self.done.fetch_add(1, SeqCst) + 1 == self.total
            && let Some(tx) = self.finished.lock().expect("not poisoned").take()
        {
            tx.send(()).expect("test waits");
        }
    }

    fn assert_each_ran_once(&self) {
        let bad: Vec<_> = self
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.load(SeqCst) != 1)
            .map(|(i, r)| (i, r.load(SeqCst)))
            .take(10)
            .collect();
        assert!(bad.is_empty(), "tasks not run exactly once: {bad:?}");
    }
}

struct Counted {
    index: usize,
    tally: Arc<Tally>,
}

impl Task for Counted {
    fn run(self: Arc<Self>) {
        self.tally.ran(self.index);
    }
}

/// Spawns `children` counted tasks from inside a worker, then counts itself.
struct Parent {
    index: usize,
    children: usize,
    tally: Arc<Tally>,
    handle: Handle,
}

impl Task for Parent {
    fn run(self: Arc<Self>) {
        for c in 0..self.children {
            self.handle.spawn(Arc::new(Counted {
                index: self.index + 1 + c,
                tally: self.tally.clone(),
            }));
        }
        self.tally.ran(self.index);
    }
}

#[test]
fn a_million_tiny_tasks_all_run_exactly_once_across_two_workers() {
    let sched = scheduler("million", 2);
    let handle = sched.handle();
    const PARENTS: usize = 1000;
    const PER_PARENT: usize = 1000; // the parent and 999 children
    let (tally, done) = Tally::new(PARENTS * PER_PARENT);
    for p in 0..PARENTS {
        handle.spawn(Arc::new(Parent {
            index: p * PER_PARENT,
            children: PER_PARENT - 1,
            tally: tally.clone(),
            handle: handle.clone(),
        }));
    }
    done.recv_timeout(PATIENCE).expect("all tasks ran");
    tally.assert_each_ran_once();
    let stats = handle.stats();
    assert_eq!(stats.tasks_run(), (PARENTS * PER_PARENT) as u64);
    sched.shutdown();
}

#[test]
fn tasks_scheduled_from_external_threads_run_exactly_once() {
    let sched = scheduler("external", 2);
    const THREADS: usize = 4;
    const EACH: usize = 20_000;
    let (tally, done) = Tally::new(THREADS * EACH);
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let handle = sched.handle();
            let tally = tally.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    handle.schedule(Arc::new(Counted {
                        index: t * EACH + i,
                        tally: tally.clone(),
                    }));
                    // Bursts with gaps, so workers park and get woken.
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer ok");
    }
    done.recv_timeout(PATIENCE).expect("all tasks ran");
    tally.assert_each_ran_once();
    sched.shutdown();
}

/// Two tasks waking each other through `schedule` (the LIFO slot).
struct PingPong {
    rounds: AtomicUsize,
    other: Mutex<Option<Arc<PingPong>>>,
    handle: Handle,
    workers_seen: Arc<Mutex<Vec<Option<usize>>>>,
    done: Mutex<Option<mpsc::Sender<()>>>,
}

impl Task for PingPong {
    fn run(self: Arc<Self>) {
        self.workers_seen
            .lock()
            .expect("not poisoned")
            .push(self.handle.current_worker());
        if self.rounds.fetch_sub(1, SeqCst) == 1 {
            if let Some(tx) = self.done.lock().expect("not poisoned").take() {
                tx.send(()).expect("test waits");
            }
            return;
        }
        let other = self.other.lock().expect("not poisoned").clone();
        if let Some(other) = other {
            self.handle.schedule(other);
        }
    }
}

#[test]
fn ping_pong_between_two_tasks_stays_on_one_worker() {
    let sched = scheduler("pingpong", 2);
    let handle = sched.handle();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let make = |rounds, done| {
        Arc::new(PingPong {
            rounds: AtomicUsize::new(rounds),
            other: Mutex::new(None),
            handle: handle.clone(),
            workers_seen: seen.clone(),
            done: Mutex::new(done),
        })
    };
    let a = make(501, None);
    let b = make(500, Some(tx));
    *a.other.lock().expect("not poisoned") = Some(b.clone());
    *b.other.lock().expect("not poisoned") = Some(a.clone());
    handle.schedule(a.clone());
    rx.recv_timeout(PATIENCE).expect("ping-pong finishes");
    let seen = seen.lock().expect("not poisoned");
    assert_eq!(seen.len(), 1000);
    assert!(seen[0].is_some());
    assert!(
        seen.iter().all(|w| *w == seen[0]),
        "ping-pong moved between workers"
    );
    // Break the cycle.
    a.other.lock().expect("not poisoned").take();
    b.other.lock().expect("not poisoned").take();
    drop(seen);
    sched.shutdown();
}

/// Sends which worker of each scheduler it runs on.
struct Where {
    a: Handle,
    b: Handle,
    tx: Mutex<mpsc::Sender<(Option<usize>, Option<usize>)>>,
    hop: AtomicBool,
}

impl Task for Where {
    fn run(self: Arc<Self>) {
        let here = (self.a.current_worker(), self.b.current_worker());
        self.tx
            .lock()
            .expect("not poisoned")
            .send(here)
            .expect("test waits");
        if self.hop.swap(false, SeqCst) {
            // From a worker of `a`, wake on `b`: goes to b's injector.
            let b = self.b.clone();
            b.schedule(self);
        }
    }
}

#[test]
fn a_task_can_schedule_on_another_scheduler_from_a_worker() {
    let a = scheduler("sched-a", 2);
    let b = scheduler("sched-b", 1);
    let (tx, rx) = mpsc::channel();
    a.handle().spawn(Arc::new(Where {
        a: a.handle(),
        b: b.handle(),
        tx: Mutex::new(tx),
        hop: AtomicBool::new(true),
    }));
    let (on_a, not_b) = rx.recv_timeout(PATIENCE).expect("runs on a");
    assert!(on_a.is_some() && not_b.is_none());
    let (not_a, on_b) = rx.recv_timeout(PATIENCE).expect("runs on b");
    assert_eq!((not_a, on_b), (None, Some(0)));
    assert_eq!(a.handle().workers(), 2);
    assert_eq!(b.handle().workers(), 1);
    a.shutdown();
    b.shutdown();
}

#[test]
fn idle_workers_park_and_do_not_spin() {
    let sched = scheduler("idle", 2);
    let handle = sched.handle();
    let (tally, done) = Tally::new(1);
    handle.spawn(Arc::new(Counted { index: 0, tally }));
    done.recv_timeout(PATIENCE).expect("task ran");
    wait_until("both workers parked", || handle.parked_workers() == 2);
    let before = handle.stats();
    assert!(before.parks() > 0);
    // An observation window, not a settle-sleep: a spinning or repeatedly
    // waking worker would bump its counters during it.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(handle.stats(), before, "idle workers woke up");
    assert_eq!(handle.parked_workers(), 2);
    sched.shutdown();
}

/// A task that yields until `flag` is set, counting its yields.
struct Yielder {
    handle: Handle,
    flag: Arc<AtomicBool>,
    yields: AtomicUsize,
    started: Mutex<Option<mpsc::Sender<()>>>,
    done: Mutex<Option<mpsc::Sender<usize>>>,
}

impl Task for Yielder {
    fn run(self: Arc<Self>) {
        if let Some(tx) = self.started.lock().expect("not poisoned").take() {
            tx.send(()).expect("test waits");
        }
        if self.flag.load(SeqCst) {
            let n = self.yields.load(SeqCst);
            if let Some(tx) = self.done.lock().expect("not poisoned").take() {
                tx.send(n).expect("test waits");
            }
            return;
        }
        self.yields.fetch_add(1, SeqCst);
        let handle = self.handle.clone();
        handle.yield_now(self);
    }
}

struct SetFlag(Arc<AtomicBool>);
impl Task for SetFlag {
    fn run(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn a_yielding_task_does_not_starve_a_task_woken_from_outside() {
    let sched = scheduler("yield", 1);
    let handle = sched.handle();
    let flag = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let yielder = Arc::new(Yielder {
        handle: handle.clone(),
        flag: flag.clone(),
        yields: AtomicUsize::new(0),
        started: Mutex::new(Some(started_tx)),
        done: Mutex::new(Some(done_tx)),
    });
    handle.spawn(yielder.clone());
    started.recv_timeout(PATIENCE).expect("yielder runs");
    handle.schedule(Arc::new(SetFlag(flag)));
    let at_push = yielder.yields.load(SeqCst);
    let at_run = done.recv_timeout(PATIENCE).expect("flag task ran");
    // The injector is checked at least every 61 ticks.
    let waited = at_run - at_push;
    assert!(waited < 1000, "woken task waited {waited} yields");
    sched.shutdown();
}

struct Panics;
impl Task for Panics {
    fn run(self: Arc<Self>) {
        panic!("task panic (expected by the test)");
    }
}

#[test]
fn a_panicking_task_does_not_kill_its_worker() {
    let sched = scheduler("panic", 1);
    let handle = sched.handle();
    handle.spawn(Arc::new(Panics));
    let (tally, done) = Tally::new(1);
    handle.spawn(Arc::new(Counted { index: 0, tally }));
    done.recv_timeout(PATIENCE).expect("next task runs");
    sched.shutdown();
}

thread_local! {
    static EXIT_GUARD: std::cell::RefCell<Option<ExitGuard>> = const { std::cell::RefCell::new(None) };
}

/// Sends its thread's name when the thread exits.
struct ExitGuard(mpsc::Sender<String>);
impl Drop for ExitGuard {
    fn drop(&mut self) {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        let _ = self.0.send(name);
    }
}

struct InstallGuard {
    tx: Mutex<mpsc::Sender<String>>,
    barrier: Arc<Barrier>,
}
impl Task for InstallGuard {
    fn run(self: Arc<Self>) {
        let tx = self.tx.lock().expect("not poisoned").clone();
        EXIT_GUARD.with(|g| *g.borrow_mut() = Some(ExitGuard(tx)));
        // Both workers must hold one of these at once.
        self.barrier.wait();
    }
}

#[test]
fn shutdown_joins_every_worker_thread() {
    let sched = scheduler("joined", 2);
    let handle = sched.handle();
    let (tx, exits) = mpsc::channel();
    let barrier = Arc::new(Barrier::new(2));
    for _ in 0..2 {
        handle.spawn(Arc::new(InstallGuard {
            tx: Mutex::new(tx.clone()),
            barrier: barrier.clone(),
        }));
    }
    drop(tx);
    wait_until("both guards installed", || handle.stats().tasks_run() == 2);
    sched.shutdown();
    assert!(handle.is_shutdown());
    let mut names: Vec<String> = (0..2)
        .map(|_| exits.recv_timeout(PATIENCE).expect("worker thread exited"))
        .collect();
    names.sort();
    assert_eq!(names, ["joined-w0", "joined-w1"]);
}

/// Counts drops; records runs.
struct DropCounted {
    drops: Arc<AtomicUsize>,
    runs: Arc<AtomicUsize>,
}
impl Task for DropCounted {
    fn run(self: Arc<Self>) {
        self.runs.fetch_add(1, SeqCst);
    }
}
impl Drop for DropCounted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

/// Holds its worker until the scheduler is shutting down.
struct HoldUntilShutdown {
    handle: Handle,
    started: Mutex<Option<mpsc::Sender<()>>>,
}
impl Task for HoldUntilShutdown {
    fn run(self: Arc<Self>) {
        if let Some(tx) = self.started.lock().expect("not poisoned").take() {
            tx.send(()).expect("test waits");
        }
        let deadline = Instant::now() + PATIENCE;
        while !self.handle.is_shutdown() {
            assert!(Instant::now() < deadline, "shutdown never began");
            std::thread::yield_now();
        }
    }
}

#[test]
fn shutdown_drops_queued_tasks_without_running_them() {
    let sched = scheduler("drops", 1);
    let handle = sched.handle();
    let (started_tx, started) = mpsc::channel();
    handle.spawn(Arc::new(HoldUntilShutdown {
        handle: handle.clone(),
        started: Mutex::new(Some(started_tx)),
    }));
    started.recv_timeout(PATIENCE).expect("holder runs");
    let drops = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let task: TaskRef = Arc::new(DropCounted {
            drops: drops.clone(),
            runs: runs.clone(),
        });
        handle.schedule(task);
    }
    sched.shutdown();
    assert_eq!(runs.load(SeqCst), 0);
    assert_eq!(drops.load(SeqCst), 10);
    // After shutdown, scheduling drops the task at once.
    handle.spawn(Arc::new(DropCounted {
        drops: drops.clone(),
        runs: runs.clone(),
    }));
    assert_eq!(drops.load(SeqCst), 11);
    assert_eq!(runs.load(SeqCst), 0);
}

#[test]
fn dropping_a_scheduler_shuts_it_down() {
    let sched = scheduler("dropped", 2);
    let handle = sched.handle();
    drop(sched);
    assert!(handle.is_shutdown());
}

#[test]
fn stress_schedule_from_many_threads_while_workers_park() {
    let sched = scheduler("stress", 2);
    const ROUNDS: usize = 50;
    const THREADS: usize = 4;
    const EACH: usize = 500;
    for round in 0..ROUNDS {
        let (tally, done) = Tally::new(THREADS * EACH);
        let barrier = Arc::new(Barrier::new(THREADS));
        let producers: Vec<_> = (0..THREADS)
            .map(|t| {
                let handle = sched.handle();
                let tally = tally.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    for i in 0..EACH {
                        handle.schedule(Arc::new(Counted {
                            index: t * EACH + i,
                            tally: tally.clone(),
                        }));
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().expect("producer ok");
        }
        done.recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("round {round}: tasks lost"));
        tally.assert_each_ran_once();
    }
    assert!(sched.handle().stats().parks() > 0);
    sched.shutdown();
}

/// Burns `busy` of CPU, then records the worker it ran on.
struct Busy {
    busy: Duration,
    handle: Handle,
    ran_on: Arc<Mutex<Vec<usize>>>,
    tally: Arc<Tally>,
    index: usize,
}

impl Task for Busy {
    fn run(self: Arc<Self>) {
        let start = Instant::now();
        while start.elapsed() < self.busy {
            std::hint::spin_loop();
        }
        let worker = self.handle.current_worker().expect("runs on a worker");
        self.ran_on.lock().expect("not poisoned").push(worker);
        self.tally.ran(self.index);
    }
}

/// Spawns its children into its own worker's local queue.
struct Spawner {
    children: Vec<Arc<Busy>>,
    handle: Handle,
    spawned_on: Mutex<Option<mpsc::Sender<usize>>>,
}

impl Task for Spawner {
    fn run(self: Arc<Self>) {
        let me = self.handle.current_worker().expect("runs on a worker");
        // Fewer than `local_queue_capacity` (256): nothing overflows into the
        // global queue, so any child run elsewhere was stolen.
        for child in &self.children {
            self.handle.spawn(child.clone());
        }
        if let Some(tx) = self.spawned_on.lock().expect("not poisoned").take() {
            tx.send(me).expect("test waits");
        }
    }
}

#[test]
fn an_idle_worker_steals_from_a_busy_workers_local_queue() {
    let sched = scheduler("steal", 2);
    let handle = sched.handle();
    const CHILDREN: usize = 64;
    let (tally, done) = Tally::new(CHILDREN);
    let ran_on = Arc::new(Mutex::new(Vec::new()));
    let children = (0..CHILDREN)
        .map(|index| {
            Arc::new(Busy {
                busy: Duration::from_millis(2),
                handle: handle.clone(),
                ran_on: ran_on.clone(),
                tally: tally.clone(),
                index,
            })
        })
        .collect();
    let (tx, spawned_on) = mpsc::channel();
    wait_until("both workers parked", || handle.parked_workers() == 2);
    handle.spawn(Arc::new(Spawner {
        children,
        handle: handle.clone(),
        spawned_on: Mutex::new(Some(tx)),
    }));
    let home = spawned_on.recv_timeout(PATIENCE).expect("spawner runs");
    done.recv_timeout(PATIENCE).expect("all children ran");
    tally.assert_each_ran_once();
    let ran_on = ran_on.lock().expect("not poisoned");
    let elsewhere = ran_on.iter().filter(|&&w| w != home).count();
    let stats = handle.stats();
    assert!(
        stats.steals() > 0 && elsewhere > 0,
        "no child left worker {home}'s local queue: {} steals, {elsewhere} of {CHILDREN} ran elsewhere",
        stats.steals()
    );
    assert!(
        stats.workers[1 - home].steals > 0,
        "the idle worker did not steal"
    );
    sched.shutdown();
}

/// Re-spawns itself into its worker's local queue (never yielding, never
/// through the global queue) until `flag` is set or `cap` runs are done;
/// reports its run count and whether the flag ended it.
struct Respawner {
    handle: Handle,
    flag: Arc<AtomicBool>,
    runs: AtomicUsize,
    cap: usize,
    done: Mutex<Option<mpsc::Sender<(usize, bool)>>>,
}

impl Task for Respawner {
    fn run(self: Arc<Self>) {
        let runs = self.runs.fetch_add(1, SeqCst) + 1;
        let flag = self.flag.load(SeqCst);
        if flag || runs >= self.cap {
            if let Some(tx) = self.done.lock().expect("not poisoned").take() {
                tx.send((runs, flag)).expect("test waits");
            }
            return;
        }
        let handle = self.handle.clone();
        handle.spawn(self);
    }
}

#[test]
fn a_busy_local_queue_does_not_starve_the_global_queue() {
    let sched = scheduler("global-fair", 1);
    let handle = sched.handle();
    let flag = Arc::new(AtomicBool::new(false));
    let (tx, done) = mpsc::channel();
    let respawner = Arc::new(Respawner {
        handle: handle.clone(),
        flag: flag.clone(),
        runs: AtomicUsize::new(0),
        cap: 1_000_000,
        done: Mutex::new(Some(tx)),
    });
    handle.spawn(respawner.clone());
    wait_until("respawner running", || respawner.runs.load(SeqCst) > 100);
    // From outside: the global queue, behind a local queue that is never
    // empty when the worker looks for its next task.
    handle.schedule(Arc::new(SetFlag(flag)));
    // Read after the push: never more than the runs the woken task waited.
    let pushed_at = respawner.runs.load(SeqCst);
    let (ended_at, flagged) = done.recv_timeout(PATIENCE).expect("respawner ends");
    assert!(flagged, "the global queue was starved for {ended_at} runs");
    let waited = ended_at.saturating_sub(pushed_at);
    // `global_queue_interval` is 61; allow for the flag landing mid-run.
    assert!(
        waited <= 2 * 61 + 2,
        "woken task waited {waited} local runs"
    );
    sched.shutdown();
}

/// Two tasks waking each other through `schedule` (the LIFO slot) until
/// `flag` is set; the first spawns `SetFlag` into the local queue.
struct Volley {
    handle: Handle,
    other: Mutex<Option<Arc<Volley>>>,
    flag: Arc<AtomicBool>,
    rounds: Arc<AtomicUsize>,
    spawn_at: usize,
    done: Mutex<Option<mpsc::Sender<usize>>>,
}

impl Task for Volley {
    fn run(self: Arc<Self>) {
        let round = self.rounds.fetch_add(1, SeqCst) + 1;
        if self.flag.load(SeqCst) || round >= 1_000_000 {
            if let Some(tx) = self.done.lock().expect("not poisoned").take() {
                tx.send(round).expect("test waits");
            }
            return;
        }
        if round == self.spawn_at {
            self.handle.spawn(Arc::new(SetFlag(self.flag.clone())));
        }
        let other = self.other.lock().expect("not poisoned").clone();
        if let Some(other) = other {
            self.handle.schedule(other);
        }
    }
}

#[test]
fn tasks_waking_each_other_do_not_starve_the_local_queue() {
    let sched = scheduler("lifo-fair", 1);
    let handle = sched.handle();
    let flag = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let (tx, done) = mpsc::channel();
    let make = |done| {
        Arc::new(Volley {
            handle: handle.clone(),
            other: Mutex::new(None),
            flag: flag.clone(),
            rounds: rounds.clone(),
            spawn_at: 10,
            done: Mutex::new(done),
        })
    };
    let (a, b) = (make(Some(tx.clone())), make(Some(tx)));
    *a.other.lock().expect("not poisoned") = Some(b.clone());
    *b.other.lock().expect("not poisoned") = Some(a.clone());
    handle.spawn(a.clone());
    let ended_at = done.recv_timeout(PATIENCE).expect("volley ends");
    // The LIFO budget (3) lets the local queue run after a few volleys.
    assert!(
        ended_at <= 10 + 2 * 3 + 2,
        "spawned task waited until round {ended_at}"
    );
    a.other.lock().expect("not poisoned").take();
    b.other.lock().expect("not poisoned").take();
    sched.shutdown();
}

#[test]
fn too_many_workers_is_an_error_not_a_panic() {
    let err = Scheduler::new(Config {
        name: "huge".into(),
        workers: 100_000,
        ..Config::default()
    })
    .expect_err("100,000 workers are refused");
    assert!(
        matches!(err, wippy_sched::SchedError::TooManyWorkers { requested: 100_000, max } if max == Scheduler::MAX_WORKERS),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "100000 workers asked for; a scheduler has at most {}",
            Scheduler::MAX_WORKERS
        )
    );
}
