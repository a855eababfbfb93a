//! The modules and entry kinds of the Lua API: `funcs.call` with
//! `function.lua` entries, `library.lua` imports, `modules` enforcement,
//! `json`, `logger`, the Spawner, `loadstring`, and compiled-code reuse on
//! upgrade.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use wippy_host::{App, SpawnContext, SpawnRequest};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{Event, ExitResult, Payload, Runtime, SpawnOptions};

use crate::common::{Shared, registry, shared};

const INDEX: &str = r#"
version: "1.0"
namespace: app
entries:
  - { name: workers, kind: process.host, lifecycle: { auto_start: true } }
  - { name: add, kind: function.lua, source: file://add.lua, method: main }
  - { name: fails, kind: function.lua, source: file://fails.lua, method: main }
  - { name: util, kind: library.lua, source: file://util.lua }
  - name: main
    kind: process.lua
    source: file://main.lua
    method: main
    modules: [funcs, json, logger, time]
    imports: { util: app:util }
  - { name: nomods, kind: process.lua, source: file://nomods.lua, method: main }
  - { name: child, kind: process.lua, source: file://child.lua, method: main }
  - { name: upgrader, kind: process.lua, source: file://upgrader.lua, method: main }
"#;

const SOURCES: &[(&str, &str)] = &[
    (
        "add.lua",
        "return { main = function(a, b) return a + b end }",
    ),
    (
        "upgrader.lua",
        "return { main = function(n) n = n or 0 if n < 50 then process.upgrade(nil, n + 1) end return n end }",
    ),
    (
        "fails.lua",
        "return { main = function() error('nope') end }",
    ),
    (
        "util.lua",
        "local M = {} function M.twice(x) return 2 * x end return M",
    ),
    (
        "child.lua",
        "return { main = function() return process.get_options().trap_links end }",
    ),
    (
        "nomods.lua",
        "return { main = function() local ok, err = pcall(require, 'json') return tostring(err) end }",
    ),
    (
        "main.lua",
        r#"
local funcs = require("funcs")
local json = require("json")
local logger = require("logger")
local util = require("util")
return { main = function()
    local out = {}
    local s, none = funcs.call("app:add", 2, 3)
    out.sum = s
    out.label = tostring(none)
    local none, err = funcs.call("app:fails")
    out.fail = tostring(none) .. "|" .. tostring(string.find(tostring(err), "nope", 1, true) ~= nil)
    out.twice = util.twice(21)
    local text = json.encode({ a = { 1, 2, 3 } })
    out.json = json.decode(text).a[3]
    local bad, jerr = json.decode('{"a": }')
    out.json_err = tostring(bad == nil) .. "|" .. tostring(jerr)
    logger:named("t"):with({ k = 1 }):info("hello", { x = 2 })
    local f = loadstring("return 40 + 2")
    out.load = f()
    local bin, berr = loadstring("\27Lua")
    out.bin = tostring(bin == nil)
    local events = process.events()
    process.with_options({ trap_links = true }):spawn_monitored("app:child", "app:workers")
    out.trap = events:receive().result.value
    -- options are opaque (Wippy's): an unknown key is carried and ignored
    out.opaque = type(process.with_options({ bogus = 1 }):spawn("app:child", "app:workers"))
    local okspawn, serr = process.with_options({ trap_links = "yes" }):spawn("app:child", "app:workers")
    out.bogus = tostring(okspawn == nil) .. "|" .. tostring(serr)
    return out
end }
"#,
    ),
];

/// The app, with the machine held for it (first, so it is released last).
fn app() -> (Shared, Runtime, Arc<App>, Arc<LuaHost>) {
    let machine = shared();
    let rt = Runtime::new(Default::default()).unwrap();
    let files = SOURCES
        .iter()
        .map(|(f, s)| (f.to_string(), s.to_string()))
        .collect();
    let reg = registry(INDEX.to_owned(), files);
    let app = App::new(rt.node().clone(), reg.clone());
    let host = LuaHost::start(
        &rt,
        &app,
        CodeCache::new(reg),
        LuaHostConfig::new("app:workers", 2),
    )
    .unwrap();
    (machine, rt, app, host)
}

fn run(rt: &Runtime, app: &Arc<App>, entry: &str) -> ExitResult {
    let native = rt.native_host("test:runner", 1).unwrap();
    let (tx, rx) = mpsc::channel();
    let app = app.clone();
    let entry = entry.to_owned();
    native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let req = SpawnRequest {
                entry: entry.parse().unwrap(),
                args: vec![],
                opts: SpawnOptions::default().parent(cx.pid()).monitored(),
                context: SpawnContext::default(),
            };
            app.spawn("app:workers", req).unwrap();
            if let Event::Exit { result, .. } = cx.next_event().await {
                tx.send(result).ok();
            }
            Ok(Payload::Nil)
        })
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("entry finishes")
}

#[test]
fn modules_and_entry_kinds_work_together() {
    let (_machine, rt, app, _host) = app();
    let out = run(&rt, &app, "app:main").expect("main succeeds");
    let get = |k: &str| out.get(k).cloned().unwrap_or(Payload::Nil);
    assert_eq!(get("sum"), Payload::Int(5), "{out:?}");
    // A call's result is the function's first value (as in Wippy).
    assert_eq!(get("label"), Payload::Str("nil".into()));
    assert_eq!(get("fail"), Payload::Str("nil|true".into()));
    assert_eq!(get("twice"), Payload::Int(42));
    assert_eq!(get("json"), Payload::Int(3));
    let jerr = get("json_err");
    let jerr = jerr.as_str().unwrap();
    assert!(
        jerr.starts_with("true|") && jerr.contains("line 1 column 7"),
        "{jerr}"
    );
    assert_eq!(get("load"), Payload::Int(42));
    assert_eq!(get("bin"), Payload::Str("true".into()));
    assert_eq!(get("trap"), Payload::Bool(true));
    let bogus = get("bogus");
    assert!(
        bogus
            .as_str()
            .unwrap()
            .contains("option trap_links must be a boolean"),
        "{bogus:?}"
    );
    assert_eq!(get("opaque"), Payload::Str("string".into()));
}

#[test]
fn requiring_an_unlisted_module_names_the_entry() {
    let (_machine, rt, app, _host) = app();
    let out = run(&rt, &app, "app:nomods").expect("runs");
    let msg = out.as_str().unwrap().to_owned();
    assert!(
        msg.contains("not listed under `modules` of entry app:nomods"),
        "{msg}"
    );
}

#[test]
fn a_function_entry_returns_all_its_results() {
    let (_machine, rt, app, _host) = app();
    let out = run(&rt, &app, "app:add");
    // Called with no arguments: `nil + nil` fails, naming the entry.
    let err = out.unwrap_err();
    assert!(err.message().contains("app:add"), "{}", err.message());
}

#[test]
fn upgrading_to_cached_code_does_not_recompile() {
    let (_machine, rt, app, host) = app();
    // Compile once by running it, then count compilations across 50 upgrades.
    let _ = host.code().get(&"app:upgrader".parse().unwrap()).unwrap();
    let before = host.code().compile_count();
    let out = run(&rt, &app, "app:upgrader").expect("upgrades succeed");
    assert_eq!(out, Payload::Int(50));
    assert_eq!(
        host.code().compile_count(),
        before,
        "an upgrade recompiled cached code"
    );
}

/// A module that no process of a VM has loaded is built at its first
/// `require`, as the VM's: the process that happens to load it first is
/// not charged for it (its charge grows by what it keeps, not by the
/// module's functions), the module is frozen, and a second process gets
/// the same table.
#[test]
fn a_module_built_at_its_first_require_is_the_vms_and_frozen() {
    use crate::common::{Lua, TIMEOUT, TestApp};
    const FIRST: &str = r#"
return { main = function()
    local before = collectgarbage("count")
    local hash = require("hash")
    -- KB: the module's functions and table are about 2 KB; what the
    -- process keeps of the call is under 0.1 KB
    local grew = collectgarbage("count") - before
    local ok = pcall(function() hash.extra = 1 end)
    return tostring(grew < 0.5) .. "|" .. tostring(ok) .. "|" .. tostring(type(hash.md5))
end }
"#;
    let t = TestApp::with_config(
        vec![Lua {
            modules: &["hash"],
            ..crate::common::entry("first", FIRST)
        }],
        LuaHostConfig {
            shards: 1,
            ..LuaHostConfig::new(crate::common::HOST, 1)
        },
    );
    for _ in 0..2 {
        let out = t.run("first", vec![], TIMEOUT).expect("the process ends");
        assert_eq!(out, Payload::Str("true|false|function".into()));
    }
}
