//! Shared set-up of the integration tests: apps read from memory
//! ([`registry`]), an app of Lua entries with one Lua host ([`TestApp`]),
//! native helper processes that forward what they get (messages, lifecycle
//! events) to the test thread, the guard that lets a test have the machine
//! to itself ([`alone`]).

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use wippy_host::registry::Registry;
use wippy_host::{App, ProcessHost, SpawnContext, SpawnRequest};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{Event, ExitResult, Message, NativeHost, Payload, Pid, Runtime, SpawnOptions};

/// Name of the Lua host of every test app.
pub const HOST: &str = "app:workers";

/// Upper bound for any single wait in a test.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One `process.lua` entry of namespace `app`.
pub struct Lua {
    pub name: &'static str,
    pub source: String,
    pub method: &'static str,
    pub modules: &'static [&'static str],
}

/// A `process.lua` entry `app:<name>` whose chunk returns `{ main = ... }`.
pub fn entry(name: &'static str, source: &str) -> Lua {
    Lua {
        name,
        source: source.to_owned(),
        method: "main",
        modules: &[],
    }
}

/// Same, allowed to `require("time")`.
pub fn entry_time(name: &'static str, source: &str) -> Lua {
    Lua {
        modules: &["time"],
        ..entry(name, source)
    }
}

/// The registry of an app read from memory: `index` is its
/// `app/_index.yaml`, `files` the sources it names, by path below `app/`
/// (`x.lua`, `lib/y.lua`).
pub fn registry(index: String, files: Vec<(String, String)>) -> Arc<Registry> {
    let files = files
        .into_iter()
        .map(|(name, text)| (format!("app/{name}"), text))
        .chain([("app/_index.yaml".to_owned(), index)]);
    let registry =
        Registry::load_files(files).unwrap_or_else(|e| panic!("test app does not load: {e}"));
    Arc::new(registry)
}

/// Held (shared) by every running test app; taken whole by a test that
/// measures the OS process or needs every core ([`alone`]).
static MACHINE: RwLock<()> = RwLock::new(());

thread_local! {
    /// This thread's shared hold of `MACHINE` and how many apps use it
    /// (a test may run two apps at once: the lock is taken once per
    /// thread, so a waiting [`alone`] cannot wedge the second).
    static SHARED: RefCell<Option<(RwLockReadGuard<'static, ()>, usize)>> =
        const { RefCell::new(None) };
    /// This thread holds `MACHINE` whole (its apps need no shared hold).
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// A test app's shared hold of the machine (see [`alone`]); released when
/// the thread's last one drops.
pub struct Shared {
    counted: bool,
    _not_send: PhantomData<std::sync::MutexGuard<'static, ()>>,
}

/// A shared hold of the machine, for a test app that lives on this thread.
pub fn shared() -> Shared {
    let counted = !ALONE.with(Cell::get);
    if counted {
        SHARED.with(|s| {
            let mut s = s.borrow_mut();
            match s.as_mut() {
                Some((_, n)) => *n += 1,
                None => {
                    let guard = MACHINE.read().unwrap_or_else(PoisonError::into_inner);
                    *s = Some((guard, 1));
                }
            }
        });
    }
    Shared {
        counted,
        _not_send: PhantomData,
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        SHARED.with(|s| {
            let mut s = s.borrow_mut();
            if let Some((_, n)) = s.as_mut() {
                *n -= 1;
                if *n == 0 {
                    *s = None;
                }
            }
        });
    }
}

/// The machine to this test alone, until dropped: waits for every other
/// test app to end and keeps new ones from starting. For tests that
/// measure the whole OS process (its CPU time, its allocations) or need
/// every core.
pub struct Alone {
    _whole: RwLockWriteGuard<'static, ()>,
}

/// Takes the machine whole (see [`Alone`]).
pub fn alone() -> Alone {
    let whole = MACHINE.write().unwrap_or_else(PoisonError::into_inner);
    ALONE.with(|a| a.set(true));
    Alone { _whole: whole }
}

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
    }
}

/// A running test app.
///
/// Field order matters for drop: the host and app go before the runtime,
/// and the machine is released last.
pub struct TestApp {
    pub host: Arc<LuaHost>,
    pub app: Arc<App>,
    pub native: NativeHost,
    pub rt: Runtime,
    _machine: Shared,
}

impl TestApp {
    /// An app of `entries` with a Lua host of `workers` workers (default
    /// shard count).
    pub fn new(entries: Vec<Lua>, workers: usize) -> TestApp {
        TestApp::with_config(entries, LuaHostConfig::new(HOST, workers))
    }

    /// An app of `entries` with a Lua host configured by `config` (its name
    /// must be [`HOST`]).
    pub fn with_config(entries: Vec<Lua>, config: LuaHostConfig) -> TestApp {
        assert_eq!(config.name, HOST, "test hosts are named {HOST}");
        let mut yaml = String::from("version: \"1.0\"\nnamespace: app\nentries:\n");
        for e in &entries {
            yaml.push_str(&format!(
                "  - name: {}\n    kind: process.lua\n    source: file://{}.lua\n    method: {}\n",
                e.name, e.name, e.method
            ));
            if !e.modules.is_empty() {
                yaml.push_str(&format!("    modules: [{}]\n", e.modules.join(", ")));
            }
        }
        let files: Vec<(String, String)> = entries
            .into_iter()
            .map(|e| (format!("{}.lua", e.name), e.source))
            .collect();
        let machine = shared();
        let registry = registry(yaml, files);
        let rt = Runtime::new(Default::default()).unwrap();
        let app = App::new(rt.node().clone(), registry.clone());
        let code = CodeCache::new(registry);
        let host = LuaHost::start(&rt, &app, code, config).unwrap();
        let native = rt.native_host("test:native", 1).unwrap();
        TestApp {
            host,
            app,
            native,
            rt,
            _machine: machine,
        }
    }

    /// Spawns `app:<name>` with `args`.
    pub fn spawn(&self, name: &str, args: Vec<Payload>) -> Pid {
        self.spawn_opts(name, args, SpawnOptions::default())
    }

    /// Spawns `app:<name>` with `args` and `opts`.
    pub fn spawn_opts(&self, name: &str, args: Vec<Payload>, opts: SpawnOptions) -> Pid {
        self.host
            .spawn(SpawnRequest {
                entry: format!("app:{name}").parse().unwrap(),
                args,
                opts,
                context: SpawnContext::default(),
            })
            .unwrap_or_else(|e| panic!("spawn app:{name}: {e}"))
    }

    /// A native process that forwards every message it receives to the
    /// returned receiver (Lua processes reply to its pid).
    pub fn mailbox(&self) -> (Pid, Receiver<Message>) {
        let (tx, rx) = mpsc::channel();
        let pid = self
            .native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                loop {
                    let m = cx.recv().await;
                    if tx.send(m).is_err() {
                        return Ok(Payload::Nil);
                    }
                }
            })
            .unwrap();
        (pid, rx)
    }

    /// A native process that forwards every lifecycle event it receives
    /// (spawn Lua processes with `parent(pid).monitored()` to watch them).
    pub fn watcher(&self) -> (Pid, Receiver<Event>) {
        let (tx, rx) = mpsc::channel();
        let pid = self
            .native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                loop {
                    let ev = cx.next_event().await;
                    if tx.send(ev).is_err() {
                        return Ok(Payload::Nil);
                    }
                }
            })
            .unwrap();
        (pid, rx)
    }

    /// Runs `app:<name>` watched by a fresh watcher and returns its EXIT
    /// result (panics after `timeout`).
    pub fn run(&self, name: &str, args: Vec<Payload>, timeout: Duration) -> ExitResult {
        let (w, events) = self.watcher();
        let pid = self.spawn_opts(name, args, SpawnOptions::default().parent(w).monitored());
        wait_exit(&events, pid, timeout)
    }

    /// Sends `payload` on `topic` to `to` from `from`.
    pub fn send(&self, from: Option<Pid>, to: Pid, topic: &str, payload: Payload) {
        self.rt.node().send(from, to, topic, payload).unwrap();
    }

    /// Live processes of the node.
    pub fn live(&self) -> usize {
        self.rt.node().stats().live
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.app.shutdown(Duration::ZERO);
    }
}

/// Waits for the EXIT event of `pid` among `events` (EXITs of other
/// processes are dropped; use [`wait_exits`] for several).
pub fn wait_exit(events: &Receiver<Event>, pid: Pid, timeout: Duration) -> ExitResult {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Exit { from, result }) if from == pid => return result,
            Ok(_) => {}
            Err(_) => panic!("no EXIT of {pid} within {timeout:?}"),
        }
    }
}

/// Waits for the EXITs of all `pids` (in any order) and returns their
/// results in the order of `pids`.
pub fn wait_exits(events: &Receiver<Event>, pids: &[Pid], timeout: Duration) -> Vec<ExitResult> {
    let deadline = Instant::now() + timeout;
    let mut results: Vec<Option<ExitResult>> = vec![None; pids.len()];
    let mut left = pids.len();
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(wait) {
            Ok(Event::Exit { from, result }) => {
                if let Some(i) = pids.iter().position(|p| *p == from)
                    && results[i].is_none()
                {
                    results[i] = Some(result);
                    left -= 1;
                }
            }
            Ok(_) => {}
            Err(_) => panic!(
                "{left} of {} processes did not exit within {timeout:?}",
                pids.len()
            ),
        }
    }
    results.into_iter().map(Option::unwrap).collect()
}

/// Waits for the next message on `rx` (panics after `timeout`).
pub fn next_msg(rx: &Receiver<Message>, timeout: Duration) -> Message {
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("no message within {timeout:?}"))
}

/// Polls `f` until true (panics after `timeout`).
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The error message of an EXIT result (panics on success).
pub fn exit_error(r: &ExitResult) -> String {
    match r {
        Ok(v) => panic!("expected an error exit, got value {v:?}"),
        Err(e) => e.message().to_owned(),
    }
}

/// The value of an EXIT result (panics on error).
pub fn exit_value(r: ExitResult) -> Payload {
    match r {
        Ok(v) => v,
        Err(e) => panic!("expected a normal exit, got error: {}", e.message()),
    }
}

/// Lua numbers arrive as integers when integral; compare loosely.
pub fn as_i64(p: &Payload) -> i64 {
    match p {
        Payload::Int(i) => *i,
        Payload::Float(f) => *f as i64,
        other => panic!("expected a number, got {other:?}"),
    }
}

/// Runs `body` as the main function of a one-entry app on one worker and
/// returns its value.
pub fn run(body: &str) -> Payload {
    let src = format!("local M = {{}}\nfunction M.main(...)\n{body}\nend\nreturn M\n");
    let t = TestApp::new(vec![entry("body", &src)], 1);
    exit_value(t.run("body", vec![], TIMEOUT))
}

/// The text under key `k` of table payload `p` (panics, naming both, if
/// it is not text).
pub fn text(p: &Payload, k: &str) -> String {
    match p.get(k) {
        Some(Payload::Str(s)) => s.to_string(),
        other => panic!("{k}: {other:?} in {p:?}"),
    }
}

/// The integer under key `k` of table payload `p` (panics, naming both,
/// if it is not an integer).
pub fn int(p: &Payload, k: &str) -> i64 {
    match p.get(k) {
        Some(Payload::Int(n)) => *n,
        other => panic!("{k}: {other:?} in {p:?}"),
    }
}
