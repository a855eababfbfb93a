//! Apps of a few entries for the tests of the modules: an `_index.yaml`
//! and its sources in memory, one Lua host `app:workers` (which the index
//! declares), and a way to run one entry and get its result.

use std::sync::Arc;
use std::sync::mpsc;

use wippy_host::{App, SpawnContext, SpawnRequest};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{Event, ExitResult, Payload, Runtime, SpawnOptions};

use crate::common::{Shared, TIMEOUT, registry, shared};

/// A running app (fields drop in order: host and app before the runtime,
/// the machine last).
pub struct ScriptApp {
    _host: Arc<LuaHost>,
    pub app: Arc<App>,
    pub rt: Runtime,
    _machine: Shared,
}

impl ScriptApp {
    /// The app of `index` (namespace `app`, declaring `app:workers`) and
    /// its `sources` by file name.
    pub fn new(index: &str, sources: &[(&str, &str)]) -> ScriptApp {
        ScriptApp::with_config(index, sources, LuaHostConfig::new("app:workers", 2))
    }

    /// Same, with the Lua host configured by `config` (named
    /// `app:workers`).
    pub fn with_config(index: &str, sources: &[(&str, &str)], config: LuaHostConfig) -> ScriptApp {
        let machine = shared();
        let files = sources
            .iter()
            .map(|(f, s)| (f.to_string(), s.to_string()))
            .collect();
        let reg = registry(index.to_owned(), files);
        let rt = Runtime::new(Default::default()).unwrap();
        let app = App::new(rt.node().clone(), reg.clone());
        let host = LuaHost::start(&rt, &app, CodeCache::new(reg), config).unwrap();
        ScriptApp {
            _host: host,
            app,
            rt,
            _machine: machine,
        }
    }

    /// Runs `entry` with `args` on `app:workers` and returns its result.
    pub fn run(&self, entry: &str, args: Vec<Payload>) -> ExitResult {
        let native = self.rt.native_host("test:runner", 1).unwrap();
        let (tx, rx) = mpsc::channel();
        let app = self.app.clone();
        let entry = entry.to_owned();
        native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                let req = SpawnRequest {
                    entry: entry.parse().unwrap(),
                    args,
                    opts: SpawnOptions::default().parent(cx.pid()).monitored(),
                    context: SpawnContext::default(),
                };
                app.spawn("app:workers", req).unwrap();
                loop {
                    if let Event::Exit { result, .. } = cx.next_event().await {
                        tx.send(result).ok();
                        return Ok(Payload::Nil);
                    }
                }
            })
            .unwrap();
        rx.recv_timeout(TIMEOUT).expect("the entry finishes")
    }

    /// Runs `entry` and returns its result table, panicking on failure.
    pub fn table(&self, entry: &str) -> Payload {
        match self.run(entry, vec![]) {
            Ok(v) => v,
            Err(e) => panic!("{entry} failed: {}", e.message()),
        }
    }
}

impl Drop for ScriptApp {
    fn drop(&mut self) {
        self.app.shutdown(std::time::Duration::ZERO);
    }
}

/// The string at `key` of a result table (other values as their debug
/// text; panics naming the key when absent).
pub fn text(v: &Payload, key: &str) -> String {
    match v.get(key) {
        Some(Payload::Str(s)) => s.to_string(),
        Some(other) => format!("{other:?}"),
        None => panic!("no {key} in {v:?}"),
    }
}

/// Asserts each `(key, expected)` of a result table, showing them all on
/// failure.
pub fn expect(v: &Payload, pairs: &[(&str, &str)]) {
    let wrong: Vec<String> = pairs
        .iter()
        .filter_map(|(k, want)| {
            let got = v.get(k).map(|_| text(v, k));
            (got.as_deref() != Some(*want)).then(|| format!("{k}: want {want:?}, got {got:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}\nin {v:?}", wrong.join("\n"));
}
