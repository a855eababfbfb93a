//! The API's conventions (`lua-api.md`, "Conventions, everywhere"): a call
//! that can fail returns its value alone on success and `nil, err` on
//! failure; wrong argument types raise with the argument's position; and
//! the globals a process sees, `_G` included, are its own.

use wippy_process::Payload;

use crate::common::*;

fn run(body: &str) -> Payload {
    let src = format!(
        "local json = require('json')\nlocal time = require('time')\nlocal M = {{}}\nfunction M.main(...)\n{body}\nend\nreturn M\n"
    );
    let entry = Lua {
        modules: &["json", "time"],
        ..entry("body", &src)
    };
    let t = TestApp::new(vec![entry], 1);
    exit_value(t.run("body", vec![], TIMEOUT))
}

#[test]
fn a_success_is_the_value_alone_and_a_failure_is_nil_and_the_error() {
    let r = run(r##"
        local counts = {}
        counts.encode = select("#", json.encode({ a = 1 }))
        counts.decode = select("#", json.decode("[1]"))
        counts.parse_duration = select("#", time.parse_duration("1s"))
        counts.set_options = select("#", process.set_options({ trap_links = false }))
        counts.send = select("#", process.send(process.pid(), "t", 1))
        local list = {}
        table.insert(list, json.encode(1)) -- raises with a second value
        local bad, err = json.decode("{")
        local nan, nan_err = json.encode({ x = { 1, 0 / 0 } })
        local no, why = process.set_options({ nope = 1 })
        return { counts = counts, decode_err = tostring(bad) .. "|" .. err,
                 nan = tostring(nan) .. "|" .. tostring(nan_err),
                 options = tostring(no) .. "|" .. why }
    "##);
    let counts = r.get("counts").expect("counts");
    for f in ["encode", "decode", "parse_duration", "set_options", "send"] {
        assert_eq!(
            counts.get(f),
            Some(&Payload::Int(1)),
            "{f} on success: {r:?}"
        );
    }
    assert_eq!(
        text(&r, "decode_err"),
        "nil|invalid JSON: EOF while parsing an object at line 1 column 1"
    );
    // NaN has no JSON form: null, as Wippy writes it.
    assert_eq!(text(&r, "nan"), r#"{"x":[1,null]}|nil"#);
    assert_eq!(text(&r, "options"), "false|option nope is not supported");
}

#[test]
fn wrong_argument_types_to_send_raise_with_the_position() {
    let r = run(r#"
        local out = {}
        local ok, err = pcall(process.send, 42, "t")
        out.dest = tostring(ok) .. "|" .. tostring(err)
        ok, err = pcall(process.send, process.pid(), { "not a topic" })
        out.topic = tostring(ok) .. "|" .. tostring(err)
        -- too few arguments is a failure, not a raise (Wippy's Invalid)
        local sent, why = process.send(process.pid())
        out.missing = tostring(sent) .. "|" .. why:kind() .. "|" .. tostring(why)
        return out
    "#);
    assert_eq!(
        text(&r, "dest"),
        "false|bad argument #1 to 'process.send' (a pid or a registered name expected, got number)"
    );
    assert_eq!(
        text(&r, "topic"),
        "false|bad argument #2 to 'process.send' (a string topic expected, got table)"
    );
    assert_eq!(
        text(&r, "missing"),
        "nil|Invalid|process.send needs a destination and a topic"
    );
}

#[test]
fn underscore_g_is_the_processs_own_globals() {
    // One shard, two processes: what one writes through `_G` is its own
    // global, and the other's `_G` does not have it.
    const WRITER: &str = r#"
    local M = {}
    function M.main(other)
        _G.shared_name = "mine"
        rawset(_G, "raw", 1)
        declared = 2
        local seen = { shared = shared_name, raw = raw, declared = _G.declared,
                       same = _G == getfenv and "?" or tostring(_G._G == _G),
                       builtin = type(_G.print) }
        process.send(other, "go", 1)
        return seen
    end
    return M
    "#;
    const READER: &str = r#"
    local M = {}
    function M.main()
        process.inbox():receive()
        return { shared = tostring(_G.shared_name), raw = tostring(rawget(_G, "raw")) }
    end
    return M
    "#;
    let mut cfg = wippy_lua::LuaHostConfig::new(HOST, 1);
    cfg.shards = 1;
    let t = TestApp::with_config(vec![entry("writer", WRITER), entry("reader", READER)], cfg);
    let (w, events) = t.watcher();
    let opts = || wippy_process::SpawnOptions::default().parent(w).monitored();
    let reader = t.spawn_opts("reader", vec![], opts());
    let writer = t.spawn_opts("writer", vec![Payload::Pid(reader)], opts());
    let seen = exit_value(wait_exit(&events, writer, TIMEOUT));
    assert_eq!(text(&seen, "shared"), "mine");
    assert_eq!(seen.get("raw"), Some(&Payload::Int(1)));
    assert_eq!(seen.get("declared"), Some(&Payload::Int(2)));
    assert_eq!(text(&seen, "same"), "true");
    assert_eq!(text(&seen, "builtin"), "function");
    let other = exit_value(wait_exit(&events, reader, TIMEOUT));
    assert_eq!(text(&other, "shared"), "nil", "{other:?}");
    assert_eq!(text(&other, "raw"), "nil", "{other:?}");
}

#[test]
fn errors_of_rust_natives_are_caught_as_strings() {
    let r = run(r#"
        local out = {}
        local now = time.now()
        local ok, err = pcall(now.add, now, {})
        out.pcall = type(err) .. "|" .. err
        out.xpcall = select(2, xpcall(function() now:add({}) end, function(e)
            return type(e) .. "|" .. e:match("expected a duration")
        end))
        local co = coroutine.create(function() now:add({}) end)
        out.resume = type(select(2, coroutine.resume(co)))
        local wrapped = coroutine.wrap(function() now:add({}) end)
        out.wrap = select(2, pcall(function() wrapped() end))
        -- Lua's own errors are untouched
        local _, t = pcall(error, { code = 7 })
        out.table = t.code
        return out
    "#);
    assert_eq!(
        text(&r, "pcall"),
        "string|bad argument #2 to `Time.add`: expected a duration (e.g. \"250ms\", a Duration, or nanoseconds), got table"
    );
    assert_eq!(text(&r, "xpcall"), "string|expected a duration");
    assert_eq!(text(&r, "resume"), "string");
    // wrap re-raises a string error at its caller's position
    assert!(
        text(&r, "wrap").starts_with("app:body:") && text(&r, "wrap").ends_with("got table"),
        "{r:?}"
    );
    assert_eq!(r.get("table"), Some(&Payload::Int(7)));
}
