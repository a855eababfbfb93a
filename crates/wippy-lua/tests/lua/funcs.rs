//! The `funcs` module: calls and their outcomes (first value, error
//! objects with their kind), id validation, process entries run on their
//! `default_host`, Futures, Executors and the context, actor and scope they
//! give, and the checks on all of it.

use crate::apps::{ScriptApp, expect};

const INDEX: &str = r##"
version: "1.0"
namespace: app
entries:
  - { name: workers, kind: process.host }
  - { name: echo, kind: function.lua, source: file://echo.lua, method: main, modules: [ctx] }
  - { name: outcomes, kind: function.lua, source: file://outcomes.lua, method: main }
  - { name: slow, kind: function.lua, source: file://slow.lua, method: main, modules: [time] }
  - { name: nested, kind: function.lua, source: file://nested.lua, method: main, modules: [funcs] }
  - { name: lib, kind: library.lua, source: file://lib.lua }
  - name: proc
    kind: process.lua
    source: file://proc.lua
    method: main
    meta: { default_host: app:workers }
  - { name: hostless, kind: process.lua, source: file://proc.lua, method: main }
  - { name: calls, kind: process.lua, source: file://calls.lua, method: main, modules: [funcs] }
  - { name: futures, kind: process.lua, source: file://futures.lua, method: main, modules: [funcs, time] }
  - { name: executors, kind: process.lua, source: file://executors.lua, method: main, modules: [funcs, security] }
  - { name: guest, kind: function.lua, source: file://guest.lua, method: main, modules: [funcs, security] }
  - name: context_only
    kind: security.policy
    policy: { actions: funcs.context, resources: "*", effect: allow }
"##;

const ECHO: &str = r##"
return { main = function(...)
    local who = ctx.get("who")
    return { n = select("#", ...), first = (...), who = who }
end }
"##;

const OUTCOMES: &str = r##"
return { main = function(what)
    if what == "two" then return 1, 2 end
    if what == "text" then return 1, "went wrong" end
    if what == "err" then
        return nil, errors.new({ message = "later", kind = errors.UNAVAILABLE, retryable = true })
    end
    if what == "raise" then error("raised here") end
    if what == "nothing" then return end
    return what
end }
"##;

const SLOW: &str = r##"
return { main = function(d, v) time.sleep(d) return { value = v } end }
"##;

const NESTED: &str = r##"
return { main = function() return funcs.call("app:echo") end }
"##;

const PROC: &str = r##"
return { main = function(a, b) return { sum = a + b } end }
"##;

const LIB: &str = "return {}";

const CALLS: &str = r##"
local function r(v, err)
    if err then
        return err:kind() .. "|" .. tostring(err:retryable()) .. "|" .. tostring(err)
    end
    if type(v) == "table" then return "table" end
    return tostring(v)
end
return { main = function()
    local out = {}
    local e = funcs.call("app:echo", "a", "b")
    out.echo = e.n .. "|" .. e.first
    out.two = r(funcs.call("app:outcomes", "two"))
    out.count = select("#", funcs.call("app:outcomes", "two"))
    out.text = r(funcs.call("app:outcomes", "text"))
    out.err = r(funcs.call("app:outcomes", "err"))
    local _, raised = funcs.call("app:outcomes", "raise")
    out.raise = raised:kind() .. "|" .. tostring(string.find(tostring(raised), "raised here", 1, true) ~= nil)
    out.nothing = r(funcs.call("app:outcomes", "nothing"))
    out.empty = r(funcs.call(""))
    out.no_ns = r(funcs.call("nonamespace"))
    out.no_name = r(funcs.call("app:"))
    out.unknown = r(funcs.call("app:nope"))
    out.library = r(funcs.call("app:lib"))
    out.proc = funcs.call("app:proc", 2, 3).sum
    out.hostless = r(funcs.call("app:hostless", 1, 2))
    out.raises = tostring((pcall(funcs.call, 42)))
    -- a call's EXIT is its result, never a process event
    local ev = channel.select({ process.events():case_receive(), default = true })
    out.no_event = tostring(ev.default)
    return out
end }
"##;

const FUTURES: &str = r##"
return { main = function()
    local out = {}
    local f = funcs.async("app:slow", "30ms", "v")
    out.pending = tostring(f:is_complete())
    local v, e = f:result()
    out.pending_result = tostring(v) .. "|" .. tostring(e)
    local ferr, has = f:error()
    out.pending_error = tostring(ferr) .. "|" .. tostring(has)
    out.same_channel = tostring(f:channel() == f:response())
    local p, ok = f:response():receive()
    out.payload = p:data().value .. "|" .. tostring(ok) .. "|" .. tostring(p)
    out.closed = tostring(select(2, f:response():receive()))
    out.complete = tostring(f:is_complete())
    out.result = f:result():data().value
    out.no_error = tostring(select(2, f:error()))

    local bad = funcs.async("app:outcomes", "err")
    local got = bad:channel():receive()
    out.bad = got:kind() .. "|" .. tostring(bad:is_complete())
    local berr, bhas = bad:error()
    out.bad_error = berr:kind() .. "|" .. tostring(bhas)
    out.bad_result = tostring(select(2, bad:result()))

    local c = funcs.async("app:slow", "5s", "never")
    out.cancel = tostring(c:cancel())
    out.canceled = tostring(c:is_canceled()) .. "|" .. tostring(c:is_complete())
    local _, cerr = c:result()
    out.cancel_result = cerr:kind()
    out.cancel_channel = tostring(select(2, c:channel():receive()))

    local a, b = funcs.async("app:slow", "40ms", "a"), funcs.async("app:slow", "10ms", "b")
    local first = channel.select({ a:channel():case_receive(), b:channel():case_receive() })
    out.select = first.value:data().value
    out.invalid = select(2, funcs.async("")):kind()
    return out
end }
"##;

const EXECUTORS: &str = r##"
return { main = function()
    local out = {}
    local base = funcs.new()
    local e1 = base:with_context({ who = "first" })
    local e2 = e1:with_context({ who = "second" }):with_options({ timeout = 1000 })
    out.distinct = tostring(base ~= e1 and e1 ~= e2)
    out.first = e1:call("app:echo").who
    out.second = e2:call("app:echo").who
    out.nested = e1:call("app:nested").who
    out.async = e2:async("app:echo"):channel():receive():data().who
    out.plain = tostring(funcs.call("app:echo").who)
    local guest = funcs.new()
        :with_actor(security.new_actor("guest-1"))
        :with_scope(security.new_scope({ security.policy("app:context_only") }))
    local g = guest:call("app:guest")
    for k, v in pairs(g) do out["guest_" .. k] = v end
    return out
end }
"##;

const GUEST: &str = r##"
return { main = function()
    local out = {}
    local _, err = funcs.call("app:echo")
    out.call = err:kind() .. "|" .. tostring(err)
    out.context = tostring(funcs.new():with_context({ x = 1 }) ~= nil)
    local ex, serr = funcs.new():with_actor(security.new_actor("root"))
    out.actor = tostring(ex) .. "|" .. serr:kind()
    return out
end }
"##;

fn app() -> ScriptApp {
    ScriptApp::new(
        INDEX,
        &[
            ("echo.lua", ECHO),
            ("outcomes.lua", OUTCOMES),
            ("slow.lua", SLOW),
            ("nested.lua", NESTED),
            ("proc.lua", PROC),
            ("lib.lua", LIB),
            ("calls.lua", CALLS),
            ("futures.lua", FUTURES),
            ("executors.lua", EXECUTORS),
            ("guest.lua", GUEST),
        ],
    )
}

#[test]
fn calls_return_the_first_value_or_an_error_object() {
    let out = app().table("app:calls");
    expect(
        &out,
        &[
            ("echo", "2|a"),
            ("two", "1"),
            ("count", "Int(2)"),
            ("text", "Internal|false|went wrong"),
            ("err", "Unavailable|true|later"),
            ("raise", "Internal|true"),
            ("nothing", "nil"),
            ("empty", "Invalid|false|function ID required"),
            ("no_ns", "Invalid|false|namespace required in function ID"),
            ("no_name", "Invalid|false|name required in function ID"),
            ("unknown", "NotFound|false|function not found: app:nope"),
            (
                "library",
                "Invalid|false|app:lib is a library.lua, not a function",
            ),
            ("proc", "Int(5)"),
            (
                "hostless",
                "Invalid|false|process app:hostless has no meta.default_host to run on",
            ),
            ("raises", "false"),
            ("no_event", "true"),
        ],
    );
}

#[test]
fn futures_deliver_once_then_close_and_can_be_canceled() {
    let out = app().table("app:futures");
    expect(
        &out,
        &[
            ("pending", "false"),
            ("pending_result", "nil|nil"),
            ("pending_error", "nil|false"),
            ("same_channel", "true"),
            ("payload", "v|true|payload{format=lua/any}"),
            ("closed", "false"),
            ("complete", "true"),
            ("result", "v"),
            ("no_error", "false"),
            ("bad", "Unavailable|true"),
            ("bad_error", "Unavailable|true"),
            ("bad_result", "later"),
            ("cancel", "true"),
            ("canceled", "true|false"),
            ("cancel_result", "Canceled"),
            ("cancel_channel", "false"),
            ("select", "b"),
            ("invalid", "Invalid"),
        ],
    );
}

#[test]
fn executors_give_context_actor_and_scope_to_their_calls() {
    let out = app().table("app:executors");
    expect(
        &out,
        &[
            ("distinct", "true"),
            ("first", "first"),
            ("second", "second"),
            // a call's own calls inherit its context
            ("nested", "first"),
            ("async", "second"),
            ("plain", "nil"),
            ("guest_call", "PermissionDenied|not allowed: app:echo"),
            ("guest_context", "true"),
            ("guest_actor", "nil|PermissionDenied"),
        ],
    );
}
