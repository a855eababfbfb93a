//! An app of Lua entries (namespace `stress`) read from memory, with the
//! Lua hosts a scenario asks for and a native host for its drivers.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use wippy_host::registry::Registry;
use wippy_host::{App, SpawnRequest};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{Event, ExitResult, NativeHost, Payload, Pid, Runtime, SpawnOptions};

/// A running stress app. Field order matters for drop: hosts and app go
/// before the runtime.
pub(super) struct LuaApp {
    pub(super) hosts: Vec<Arc<LuaHost>>,
    pub(super) app: Arc<App>,
    pub(super) native: NativeHost,
    pub(super) rt: Runtime,
}

/// A `process.lua` entry `stress:<name>` (method `main`, module `time`).
pub(super) struct Entry {
    pub(super) name: &'static str,
    pub(super) source: &'static str,
}

impl LuaApp {
    /// Loads `entries` and starts one Lua host per config (named
    /// `stress:<something>`).
    pub(super) fn start(entries: &[Entry], hosts: Vec<LuaHostConfig>) -> LuaApp {
        let mut index = String::from("version: \"1.0\"\nnamespace: stress\nentries:\n");
        for e in entries {
            index.push_str(&format!(
                "  - {{ name: {0}, kind: process.lua, source: file://{0}.lua, method: main, modules: [time] }}\n",
                e.name
            ));
        }
        let files = entries
            .iter()
            .map(|e| (format!("stress/{}.lua", e.name), e.source));
        let registry = Registry::load_files(
            [("stress/_index.yaml".to_owned(), index.as_str())]
                .into_iter()
                .chain(files),
        )
        .unwrap_or_else(|e| panic!("the stress app does not load: {e}"));
        let registry = Arc::new(registry);
        let rt = Runtime::new(Default::default()).expect("runtime");
        let app = App::new(rt.node().clone(), registry.clone());
        let code = CodeCache::new(registry);
        let hosts = hosts
            .into_iter()
            .map(|c| LuaHost::start(&rt, &app, code.clone(), c).expect("lua host"))
            .collect();
        let native = rt.native_host("stress:driver", 1).expect("native host");
        LuaApp {
            hosts,
            app,
            native,
            rt,
        }
    }

    /// Spawns `stress:<entry>` on `host` with `args` and `opts`.
    pub(super) fn spawn(
        &self,
        host: &str,
        entry: &str,
        args: Vec<Payload>,
        opts: SpawnOptions,
    ) -> Pid {
        let req = SpawnRequest {
            args,
            opts,
            ..SpawnRequest::new(format!("stress:{entry}").parse().expect("entry id"))
        };
        self.app
            .spawn(host, req)
            .unwrap_or_else(|e| panic!("spawn stress:{entry} on {host}: {e}"))
    }

    /// Runs `stress:<entry>` on `host` to its end and returns its result
    /// (panics after `timeout`, naming the entry).
    pub(super) fn run(
        &self,
        host: &str,
        entry: &str,
        args: Vec<Payload>,
        timeout: Duration,
    ) -> ExitResult {
        let (tx, rx) = mpsc::channel();
        let watcher = self
            .native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                if let Event::Exit { result, .. } = cx.next_event().await {
                    tx.send(result).ok();
                }
                Ok(Payload::Nil)
            })
            .expect("watcher");
        self.spawn(
            host,
            entry,
            args,
            SpawnOptions::default().parent(watcher).monitored(),
        );
        rx.recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("stress:{entry} did not end within {timeout:?}"))
    }

    /// A native process that forwards every lifecycle event it receives
    /// (spawn with `parent(pid).monitored()` to watch a process).
    pub(super) fn watcher(&self) -> (Pid, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel();
        let pid = self
            .native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                loop {
                    if tx.send(cx.next_event().await).is_err() {
                        return Ok(Payload::Nil);
                    }
                }
            })
            .expect("watcher");
        (pid, rx)
    }

    /// A native process that forwards every message's payload it receives.
    pub(super) fn mailbox(&self) -> (Pid, mpsc::Receiver<Payload>) {
        let (tx, rx) = mpsc::channel();
        let pid = self
            .native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                loop {
                    if tx.send(cx.recv().await.payload).is_err() {
                        return Ok(Payload::Nil);
                    }
                }
            })
            .expect("mailbox");
        (pid, rx)
    }

    /// Shuts the app and the runtime down.
    pub(super) fn stop(self) {
        self.app.shutdown(std::time::Duration::ZERO);
        drop(self.hosts);
        drop(self.app);
        self.rt.shutdown();
    }
}

/// mimalloc's "return what this thread's heap holds free to the OS", for
/// `LuaHostConfig::release_memory` (as the `wippy` binary passes it) and
/// for a driver thread whose allocations (the processes' cells it
/// spawned) other threads freed.
pub(super) fn release_memory() {
    // SAFETY: no contract; collects the calling thread's heap.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Resident memory of this OS process now, in bytes (the scenarios that
/// read it run on Linux only, and say so).
pub(super) fn rss() -> u64 {
    wippy_testkit::resident_bytes().expect("resident memory needs /proc (Linux)")
}

/// Workers of a scenario's main host: the machine's cores.
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
