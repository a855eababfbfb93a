//! Modules listed under `modules:` and import aliases are globals of the
//! entry's processes, the same values `require` returns; a module the host
//! does not grant stays unbound; an upgrade binds the new entry's.

use wippy_host::ModuleSet;
use wippy_lua::LuaHostConfig;

use crate::apps::{ScriptApp, expect};

const INDEX: &str = r#"
version: "1.0"
namespace: app
entries:
  - { name: workers, kind: process.host }
  - { name: util, kind: library.lua, source: file://util.lua }
  - name: main
    kind: process.lua
    source: file://main.lua
    method: main
    modules: [json, time]
    imports: { helpers: app:util }
  - { name: bare, kind: process.lua, source: file://bare.lua, method: main }
  - { name: mover, kind: process.lua, source: file://mover.lua, method: main, modules: [json] }
  - { name: moved, kind: process.lua, source: file://moved.lua, method: main, modules: [base64] }
"#;

const UTIL: &str =
    "loads = (loads or 0) + 1 local M = {} function M.twice(x) return 2 * x end return M";

const MAIN: &str = r#"
return { main = function()
    local out = {}
    out.json = json.encode({ 1 })
    out.same = tostring(require("json") == json)
    out.time = type(time.now)
    out.helper = tostring(helpers.twice(21))
    out.helper_same = tostring(require("helpers") == helpers)
    out.loads = tostring(loads)
    out.unlisted = tostring(base64)
    return out
end }
"#;

const BARE: &str = r#"
return { main = function()
    return { json = tostring(json), required = tostring((pcall(require, "json"))) }
end }
"#;

const MOVER: &str = r#"
return { main = function() process.upgrade("app:moved") end }
"#;

const MOVED: &str = r#"
return { main = function()
    return { base64 = type(base64), json = tostring(json) }
end }
"#;

fn sources() -> Vec<(&'static str, &'static str)> {
    vec![
        ("main.lua", MAIN),
        ("util.lua", UTIL),
        ("bare.lua", BARE),
        ("mover.lua", MOVER),
        ("moved.lua", MOVED),
    ]
}

#[test]
fn modules_and_imports_are_globals_that_require_returns() {
    let app = ScriptApp::new(INDEX, &sources());
    expect(
        &app.table("app:main"),
        &[
            ("json", "[1]"),
            ("same", "true"),
            ("time", "function"),
            ("helper", "42"),
            ("helper_same", "true"),
            // the library ran once, when it was bound
            ("loads", "1"),
            ("unlisted", "nil"),
        ],
    );
    expect(
        &app.table("app:bare"),
        &[("json", "nil"), ("required", "false")],
    );
}

#[test]
fn an_upgrade_binds_the_new_entrys_modules() {
    let app = ScriptApp::new(INDEX, &sources());
    expect(
        &app.table("app:mover"),
        &[("base64", "table"), ("json", "nil")],
    );
}

#[test]
fn a_module_the_host_does_not_grant_is_not_bound() {
    let mut config = LuaHostConfig::new("app:workers", 1);
    config.modules = ModuleSet::only(["time"]);
    let app = ScriptApp::with_config(INDEX, &sources(), config);
    let out = app.run("app:main", vec![]);
    // `json` is listed but not granted: no global, so main fails calling it.
    let err = out.unwrap_err();
    assert!(
        err.message().contains("attempt to index nil with 'encode'"),
        "{}",
        err.message()
    );
}
