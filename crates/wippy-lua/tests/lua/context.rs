//! The spawn context and the `ctx` module: what `process.with_context` gives
//! a child, how it is merged and inherited, that it survives an upgrade,
//! and how `ctx.get` / `require("ctx")` fail.

use wippy_host::ModuleSet;
use wippy_lua::LuaHostConfig;
use wippy_process::Payload;

use crate::common::*;

/// Runs `spawn(...)` for a monitored child and returns the child's EXIT
/// value (or raises its error). Prepended to the parents' sources.
const RUN_CHILD: &str = r#"
local function run_child(spawn, ...)
    local events = process.events()
    local pid, err = spawn(...)
    if not pid then error("spawn failed: " .. tostring(err)) end
    while true do
        local ev = events:receive()
        if ev.kind == process.event.EXIT and ev.from == pid then
            if ev.result.error then error("child failed: " .. ev.result.error) end
            return ev.result.value
        end
    end
end
"#;

/// Returns its whole context.
const READER: &str = r#"
local ctx = require("ctx")
return { main = function() return ctx.all() end }
"#;

/// `ctx.get(key)` as a table: `{value = v, err = e, count = #results}`.
const GETTER: &str = r#"
local ctx = require("ctx")
return { main = function(key)
    local v, err = ctx.get(key)
    return { value = v, err = err, count = select('#', ctx.get(key)) }
end }
"#;

fn reader() -> crate::common::Lua {
    crate::common::Lua {
        modules: &["ctx"],
        ..entry("reader", READER)
    }
}

fn with_ctx(name: &'static str, source: &str) -> crate::common::Lua {
    crate::common::Lua {
        modules: &["ctx"],
        ..entry(name, &format!("{RUN_CHILD}{source}"))
    }
}

/// Runs `app:<name>` and returns its EXIT value (panics on an error exit).
fn value_of(t: &TestApp, name: &str, args: Vec<Payload>) -> Payload {
    exit_value(t.run(name, args, TIMEOUT))
}

fn s(v: &str) -> Payload {
    Payload::from(v)
}

/// The fields of a map payload sorted by key (Lua tables have no order).
fn fields(p: &Payload) -> Vec<(String, Payload)> {
    let Payload::Map(pairs) = p else {
        panic!("expected a map, got {p:?}");
    };
    let mut out: Vec<(String, Payload)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str().expect("a string key").to_owned(), v.clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A sorted field list, as [`fields`] returns.
fn expect(pairs: &[(&str, Payload)]) -> Vec<(String, Payload)> {
    let mut out: Vec<(String, Payload)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The string at `key` of a map payload (panics when it is not one).
fn text_at(p: &Payload, key: &str) -> String {
    match p.get(key) {
        Some(Payload::Str(s)) => s.to_string(),
        other => panic!("expected a string at {key} of {p:?}, got {other:?}"),
    }
}

#[test]
fn a_child_reads_the_values_its_spawner_gave_it() {
    let parent = with_ctx(
        "parent",
        r#"
return { main = function()
    local spawner = process.with_context({ user = "ann", n = 3, nested = { list = { 1, 2 } } })
    return run_child(function() return spawner:spawn_monitored("app:reader", "app:workers") end)
end }
"#,
    );
    let t = TestApp::new(vec![parent, reader()], 2);
    let all = value_of(&t, "parent", vec![]);
    assert_eq!(all.get("user"), Some(&s("ann")), "{all:?}");
    assert_eq!(all.get("n").map(as_i64), Some(3), "{all:?}");
    let list = all.get("nested").and_then(|n| n.get("list"));
    assert_eq!(
        list,
        Some(&Payload::Array(vec![Payload::Int(1), Payload::Int(2)])),
        "{all:?}"
    );
}

#[test]
fn chained_with_context_merges_and_later_values_win() {
    let parent = with_ctx(
        "parent",
        r#"
return { main = function()
    local spawner = process.with_context({ a = "one", b = "one" })
        :with_options({ trap_links = false })
        :with_context({ b = "two", c = "two" })
    return run_child(function() return spawner:spawn_monitored("app:reader", "app:workers") end)
end }
"#,
    );
    let t = TestApp::new(vec![parent, reader()], 2);
    let all = value_of(&t, "parent", vec![]);
    assert_eq!(all.get("a"), Some(&s("one")), "{all:?}");
    assert_eq!(all.get("b"), Some(&s("two")), "{all:?}");
    assert_eq!(all.get("c"), Some(&s("two")), "{all:?}");
}

/// top --with_context{a, b}--> middle --(mode)--> reader. `mode` picks how
/// the middle process spawns the grandchild.
const MIDDLE: &str = r#"
local ctx = require("ctx")
return { main = function(mode)
    local spawn
    if mode == "plain" then
        spawn = function() return process.spawn_monitored("app:reader", "app:workers") end
    elseif mode == "options" then
        local spawner = process.with_options({ trap_links = false })
        spawn = function() return spawner:spawn_monitored("app:reader", "app:workers") end
    else
        local spawner = process.with_context({ b = "middle", m = "middle" })
        spawn = function() return spawner:spawn_monitored("app:reader", "app:workers") end
    end
    return { mine = ctx.all(), child = run_child(spawn) }
end }
"#;

const TOP: &str = r#"
return { main = function(mode)
    local spawner = process.with_context({ a = "top", b = "top" })
    return run_child(function() return spawner:spawn_monitored("app:middle", "app:workers", mode) end)
end }
"#;

fn three_generations(mode: &str) -> (Payload, Payload) {
    let t = TestApp::new(
        vec![with_ctx("top", TOP), with_ctx("middle", MIDDLE), reader()],
        2,
    );
    let out = value_of(&t, "top", vec![s(mode)]);
    let mine = out.get("mine").cloned().expect("middle's context");
    let child = out.get("child").cloned().expect("grandchild's context");
    (mine, child)
}

#[test]
fn a_plain_spawn_passes_the_context_on_to_the_grandchild() {
    let (middle, grandchild) = three_generations("plain");
    let expected = expect(&[("a", s("top")), ("b", s("top"))]);
    assert_eq!(fields(&middle), expected);
    assert_eq!(fields(&grandchild), expected);
}

#[test]
fn a_spawner_without_context_passes_the_context_on_unchanged() {
    let (_, grandchild) = three_generations("options");
    assert_eq!(
        fields(&grandchild),
        expect(&[("a", s("top")), ("b", s("top"))])
    );
}

#[test]
fn a_grandchild_gets_its_parents_context_merged_with_what_the_parent_added() {
    let (middle, grandchild) = three_generations("merge");
    assert_eq!(fields(&middle), expect(&[("a", s("top")), ("b", s("top"))]));
    assert_eq!(
        fields(&grandchild),
        expect(&[("a", s("top")), ("b", s("middle")), ("m", s("middle"))])
    );
}

#[test]
fn a_top_level_process_has_an_empty_context() {
    let t = TestApp::new(vec![reader()], 1);
    assert_eq!(value_of(&t, "reader", vec![]), Payload::Map(vec![]));
}

#[test]
fn ctx_get_of_a_missing_key_returns_nil_and_an_error_naming_the_key() {
    let getter = crate::common::Lua {
        modules: &["ctx"],
        ..entry("getter", GETTER)
    };
    let parent = with_ctx(
        "parent",
        r#"
return { main = function(key)
    local spawner = process.with_context({ present = "here" })
    return run_child(function() return spawner:spawn_monitored("app:getter", "app:workers", key) end)
end }
"#,
    );
    let t = TestApp::new(vec![parent, getter], 2);

    let found = value_of(&t, "parent", vec![s("present")]);
    assert_eq!(found.get("value"), Some(&s("here")), "{found:?}");
    assert_eq!(found.get("err"), None, "{found:?}");
    assert_eq!(found.get("count"), Some(&Payload::Int(1)), "{found:?}");

    let missing = value_of(&t, "parent", vec![s("user_id")]);
    assert_eq!(missing.get("value"), None, "{missing:?}");
    assert_eq!(missing.get("count"), Some(&Payload::Int(2)), "{missing:?}");
    // The error object crosses back to the parent as an error value.
    match missing.get("err") {
        Some(Payload::Error(e)) => {
            assert_eq!(e.kind(), &wippy_process::ErrorKind::NotFound);
            assert_eq!(e.message(), "key not found: user_id");
        }
        other => panic!("expected an error object, got {other:?}"),
    }
}

#[test]
fn ctx_get_with_a_non_string_key_raises_naming_the_argument() {
    let bad = crate::common::Lua {
        modules: &["ctx"],
        ..entry(
            "bad",
            r#"
local ctx = require("ctx")
return { main = function()
    local ok, err = pcall(ctx.get, 1)
    return { ok = ok, err = tostring(err) }
end }
"#,
        )
    };
    let t = TestApp::new(vec![bad], 1);
    let out = value_of(&t, "bad", vec![]);
    assert_eq!(out.get("ok"), Some(&Payload::Bool(false)), "{out:?}");
    let err = text_at(&out, "err");
    assert!(
        err.contains("bad argument #1 to 'ctx.get' (string expected, got number)"),
        "{err}"
    );
}

#[test]
fn ctx_all_returns_a_fresh_table_each_time() {
    let parent = with_ctx(
        "parent",
        r#"
return { main = function()
    local spawner = process.with_context({ t = { x = 1 } })
    return run_child(function() return spawner:spawn_monitored("app:mutator", "app:workers") end)
end }
"#,
    );
    let mutator = crate::common::Lua {
        modules: &["ctx"],
        ..entry(
            "mutator",
            r#"
local ctx = require("ctx")
return { main = function()
    local first = ctx.all()
    first.t.x = 99
    first.extra = true
    local got = ctx.get("t")
    got.x = 100
    return ctx.all()
end }
"#,
        )
    };
    let t = TestApp::new(vec![parent, mutator], 2);
    let all = value_of(&t, "parent", vec![]);
    assert_eq!(
        all,
        Payload::map([("t", Payload::map([("x", Payload::Int(1))]))])
    );
}

#[test]
fn requiring_ctx_without_listing_it_names_the_entry() {
    let unlisted = entry(
        "unlisted",
        r#"
return { main = function()
    local ok, err = pcall(require, "ctx")
    return tostring(ok) .. "|" .. tostring(err)
end }
"#,
    );
    let t = TestApp::new(vec![unlisted], 1);
    let out = value_of(&t, "unlisted", vec![]);
    let msg = out.as_str().expect("a string").to_owned();
    assert!(msg.starts_with("false|"), "{msg}");
    assert!(
        msg.contains("module ctx is not listed under `modules` of entry app:unlisted"),
        "{msg}"
    );
}

#[test]
fn a_host_that_does_not_grant_ctx_refuses_it() {
    let mut config = LuaHostConfig::new(HOST, 1);
    config.modules = ModuleSet::only(["time"]);
    let listed = crate::common::Lua {
        modules: &["ctx"],
        ..entry(
            "listed",
            r#"
return { main = function()
    local ok, err = pcall(require, "ctx")
    return tostring(ok) .. "|" .. tostring(err)
end }
"#,
        )
    };
    let t = TestApp::with_config(vec![listed], config);
    let out = value_of(&t, "listed", vec![]);
    let msg = out.as_str().expect("a string").to_owned();
    assert!(
        msg.contains("host app:workers does not grant module ctx"),
        "{msg}"
    );
}

#[test]
fn the_context_survives_an_upgrade_into_another_entry() {
    let upgrading = entry(
        "upgrading",
        r#"return { main = function() process.upgrade("app:reader") end }"#,
    );
    let parent = with_ctx(
        "parent",
        r#"
return { main = function()
    local spawner = process.with_context({ user = "ann" })
    return run_child(function() return spawner:spawn_monitored("app:upgrading", "app:workers") end)
end }
"#,
    );
    let t = TestApp::new(vec![parent, upgrading, reader()], 2);
    let all = value_of(&t, "parent", vec![]);
    assert_eq!(all, Payload::map([("user", s("ann"))]));
}

#[test]
fn every_generation_of_upgraded_code_reads_the_context() {
    let upgrading = crate::common::Lua {
        modules: &["ctx"],
        ..entry(
            "upgrading",
            r#"
local ctx = require("ctx")
return { main = function(n, seen)
    n = n or 0
    seen = seen or {}
    seen[#seen + 1] = ctx.get("user")
    if n < 2 then
        process.upgrade(nil, n + 1, seen)
    end
    return seen
end }
"#,
        )
    };
    let parent = with_ctx(
        "parent",
        r#"
return { main = function()
    local spawner = process.with_context({ user = "ann" })
    return run_child(function() return spawner:spawn_monitored("app:upgrading", "app:workers") end)
end }
"#,
    );
    let t = TestApp::new(vec![parent, upgrading], 2);
    let seen = value_of(&t, "parent", vec![]);
    assert_eq!(seen, Payload::Array(vec![s("ann"), s("ann"), s("ann")]));
}

#[test]
fn context_values_follow_the_payload_rules() {
    let parent = with_ctx(
        "parent",
        r#"
return { main = function()
    local out = {}
    local pid, err = process.with_context({ x = function() end }):spawn("app:reader", "app:workers")
    out.func = tostring(pid) .. "|" .. tostring(err)
    pid, err = process.with_context({ "positional" }):spawn_monitored("app:reader", "app:workers")
    out.array = tostring(pid) .. "|" .. tostring(err)
    pid, err = process.with_context({ [true] = 1 }):spawn_linked("app:reader", "app:workers")
    out.key = tostring(pid) .. "|" .. tostring(err)
    return out
end }
"#,
    );
    let t = TestApp::new(vec![parent, reader()], 1);
    let out = value_of(&t, "parent", vec![]);
    assert_eq!(
        text_at(&out, "func"),
        "nil|process.spawn: context.x: function cannot be sent"
    );
    assert_eq!(
        text_at(&out, "array"),
        "nil|process.spawn_monitored: context[1]: context keys must be strings"
    );
    assert_eq!(
        text_at(&out, "key"),
        "nil|process.spawn_linked: context[true]: context keys must be strings"
    );
}
