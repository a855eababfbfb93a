//! `require` resolves each chunk's requires against its own entry: a
//! library's own `imports` (and `modules`) hold for its code, whoever
//! imported it, and a circular require is reported as one (issue 12,
//! defect 8).

use std::sync::Arc;

use wippy_host::{App, ProcessHost, SpawnContext, SpawnRequest};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{Payload, Runtime, SpawnOptions};

use crate::common::*;

const INDEX: &str = r#"
version: "1.0"
namespace: app
entries:
  - name: main
    kind: process.lua
    source: file://main.lua
    method: main
    imports: { a: app:a, c: app:c_main }
  - { name: a, kind: library.lua, source: file://a.lua, imports: { c: app:c, d: app:d }, modules: [json] }
  - { name: c, kind: library.lua, source: file://c.lua }
  - { name: c_main, kind: library.lua, source: file://c_main.lua }
  - { name: d, kind: library.lua, source: file://d.lua, imports: { e: app:e } }
  - { name: e, kind: library.lua, source: file://e.lua, imports: { d: app:d } }
  - name: cycle
    kind: process.lua
    source: file://cycle.lua
    method: main
    imports: { d: app:d }
  - name: cycle_both
    kind: process.lua
    source: file://cycle.lua
    method: main
    imports: { d: app:d, e: app:e }
"#;

const FILES: &[(&str, &str)] = &[
    (
        "main.lua",
        r#"
local a = require("a")
local c = require("c")
return { main = function()
    return {
        a_sees = a.which(),
        a_later = a.later(),
        main_sees = c.name,
        same = require("a") == a,
        json = a.json_ok(),
    }
end }
"#,
    ),
    (
        "a.lua",
        r#"
local c = require("c")
local json = require("json")
local M = {}
function M.which() return c.name end
-- required lazily, from a function of the library called by the process
function M.later() return require("c").name end
function M.json_ok() return json.encode({ 1 }) == "[1]" end
return M
"#,
    ),
    ("c.lua", r#"return { name = "c of a" }"#),
    ("c_main.lua", r#"return { name = "c of main" }"#),
    ("d.lua", r#"local e = require("e") return { name = "d" }"#),
    ("e.lua", r#"local d = require("d") return { name = "e" }"#),
    (
        "cycle.lua",
        r#"return { main = function() local ok, err = pcall(require, "d") return { ok = ok, err = tostring(err) } end }"#,
    ),
];

struct ImportsApp {
    host: Arc<LuaHost>,
    app: Arc<App>,
    _rt: Runtime,
    _machine: Shared,
}

impl ImportsApp {
    fn new() -> ImportsApp {
        let machine = shared();
        let files = FILES
            .iter()
            .map(|(f, s)| (f.to_string(), s.to_string()))
            .collect();
        let reg = registry(INDEX.to_owned(), files);
        let rt = Runtime::new(Default::default()).unwrap();
        let app = App::new(rt.node().clone(), reg.clone());
        let host =
            LuaHost::start(&rt, &app, CodeCache::new(reg), LuaHostConfig::new(HOST, 1)).unwrap();
        ImportsApp {
            host,
            app,
            _rt: rt,
            _machine: machine,
        }
    }

    fn run(&self, entry: &str) -> wippy_process::ExitResult {
        let native = self._rt.native_host("test:runner", 1).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let w = native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                loop {
                    let ev = cx.next_event().await;
                    if tx.send(ev).is_err() {
                        return Ok(Payload::Nil);
                    }
                }
            })
            .unwrap();
        let pid = self
            .host
            .spawn(SpawnRequest {
                entry: format!("app:{entry}").parse().unwrap(),
                args: vec![],
                opts: SpawnOptions::default().parent(w).monitored(),
                context: SpawnContext::default(),
            })
            .unwrap();
        wait_exit(&rx, pid, TIMEOUT)
    }
}

impl Drop for ImportsApp {
    fn drop(&mut self) {
        self.app.shutdown(std::time::Duration::ZERO);
    }
}

#[test]
fn a_librarys_requires_resolve_against_its_own_imports() {
    let a = ImportsApp::new();
    let out = exit_value(a.run("main"));
    let get = |k: &str| out.get(k).cloned().unwrap_or(Payload::Nil);
    assert_eq!(get("a_sees").as_str(), Some("c of a"), "{out:?}");
    assert_eq!(get("a_later").as_str(), Some("c of a"), "{out:?}");
    assert_eq!(get("main_sees").as_str(), Some("c of main"), "{out:?}");
    assert_eq!(
        get("same"),
        Payload::Bool(true),
        "a library runs once per process"
    );
    assert_eq!(get("json"), Payload::Bool(true), "a library's own modules");
}

#[test]
fn mutual_requires_are_reported_as_a_circular_require() {
    let a = ImportsApp::new();
    // An entry's imports run before its chunk (they are its globals), so
    // the cycle fails the process as it boots, with a short error.
    let err = exit_error(&a.run("cycle"));
    assert!(
        err.contains("circular require: app:d -> app:e -> app:d"),
        "{err}"
    );
    assert!(err.len() < 2000, "{} bytes of error: {err}", err.len());
    // The process importing both as well (before, each chunk's require
    // resolved against the process's imports and recursed until the stack
    // overflowed, with a traceback of 750 KB).
    let err = exit_error(&a.run("cycle_both"));
    assert!(
        err.contains("circular require: app:d -> app:e -> app:d")
            || err.contains("circular require: app:e -> app:d -> app:e"),
        "{} bytes of error: {}",
        err.len(),
        &err[..err.len().min(500)]
    );
    assert!(err.len() < 2000, "{} bytes of error", err.len());
}
