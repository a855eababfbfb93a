//! The `process` API call by call as Wippy has it (reference §2, §4, §5),
//! for what Wippy's own `process` suite does not reach: the error kinds and
//! texts of each failure, several payloads in one send, `exec`, `id()`,
//! the Spawner's `with_name` / `with_message`, the registry's scopes,
//! `set_options`, `listen` / `unlisten`, `subscribe` / `unsubscribe`.

use wippy_process::Payload;

use crate::common::*;

/// The processes these tests use, as methods of one chunk.
const SRC: &str = r#"
local M = {}

local function why(v, err)
    if err == nil then return "ok:" .. tostring(v) end
    return tostring(v) .. "|" .. err:kind() .. "|" .. tostring(err)
end

-- answers each message with what it saw of it
function M.echo()
    local inbox = process.inbox()
    while true do
        local m = inbox:receive()
        local p = m:payload()
        local shape
        if p == nil then
            shape = "none"
        elseif p == m then
            shape = "one:" .. tostring(p:data())
        else
            local parts = {}
            for i, x in ipairs(p) do parts[i] = tostring(x) .. "=" .. tostring(x:data()) end
            shape = "many:" .. table.concat(parts, ",")
        end
        process.send(m:from(), "seen",
            { topic = m:topic(), from = m:from(), shape = shape, text = tostring(m) })
        if m:topic() == "stop" then return end
    end
end

-- listens raw on "raw", reports the value it got
function M.raw_listener(parent)
    local ch = process.listen("raw")
    process.send(parent, "ready", true)
    local v = ch:receive()
    return v
end

function M.named(tag)
    local m = process.inbox():receive()
    -- Hold the name until the second with_name spawn has signalled us:
    -- ending at the first message would free the name for a new process.
    local again = process.inbox():receive()
    if again:topic() ~= "again" then error("second message: " .. again:topic()) end
    return tag .. ":" .. m:topic() .. ":" .. tostring(m:payload():data()) .. ":" .. m:from()
end

function M.exec_child(how)
    if how == "fail" then return nil, errors.new({ message = "no", kind = errors.NOT_FOUND }) end
    return "done:" .. tostring(how), true -- a second value that is not an error is ignored
end

function M.main()
    local out = {}
    local me = process.pid()
    local events = process.events()
    local inbox = process.inbox()

    -- id() is the entry, pid() the process
    out.id = process.id()
    out.same_channels = process.inbox() == inbox and process.events() == events

    -- send: failures
    out.send_dead = why(process.send("{app:workers|0x7fff}", "t", 1))
    -- a module's failure is not retryable (Wippy's)
    out.retryable = select(2, process.send("{app:workers|0x7fff}", "t", 1)):retryable()
    out.send_unknown = why(process.send("nobody", "t", 1))
    out.send_at = why(process.send(me, "@x", 1))
    out.send_function = why(process.send(me, "t", function() end))

    -- several payloads in one send, none, one
    local echo = process.spawn("app:echo", "app:workers")
    process.send(echo, "many", 1, "two", { 3 })
    out.many = inbox:receive():payload():data()
    process.send(echo, "none")
    out.none = inbox:receive():payload():data()
    process.send(echo, "one", 5)
    out.one = inbox:receive():payload():data()

    -- a raw listener gets {a, b} for two
    local raw = process.spawn_monitored("app:raw_listener", "app:workers", me)
    inbox:receive() -- ready
    process.send(raw, "raw", "a", "b")
    out.raw = events:receive().result.value

    -- exec
    out.exec_ok = why(process.exec("app:exec_child", "app:workers", 3))
    out.exec_fail = why(process.exec("app:exec_child", "app:workers", "fail"))
    out.exec_bad_id = why(process.exec("nope", "app:workers"))
    out.exec_no_host = why(process.exec("app:exec_child", "app:nowhere"))

    -- spawn failures
    out.spawn_no_host = why(process.spawn("app:echo", "app:nowhere"))
    out.spawn_no_entry = why(process.spawn("app:missing", "app:workers"))

    -- with_name: spawn or signal; with_message: delivered after start
    local first = process.with_context({}):with_name("svc.one"):with_message("hello", 41)
        :spawn_monitored("app:named", "app:workers", "first")
    local again = process.with_context({}):with_name("svc.one"):with_message("again", 42)
        :spawn("app:named", "app:workers", "second")
    out.same_pid = first == again
    out.named = events:receive().result.value
    out.with_message_at = select(2, pcall(function()
        return process.with_context({}):with_message("@x")
    end))

    -- registry
    local reg = process.registry
    out.scopes = reg.LOCAL .. "," .. reg.EVENTUAL .. "," .. reg.CONSISTENT .. "," .. reg.STRONG
    out.register = why(reg.register("me.name"))
    out.register_again = why(reg.register("me.name", me))
    out.register_other = why(reg.register("me.name", echo))
    out.register_eventual = why(reg.register("other.name", nil, reg.EVENTUAL))
    out.register_bad_pid = why(reg.register("x", 42))
    out.lookup = reg.lookup("me.name") == me
    out.lookup_missing = why(reg.lookup("missing.name"))
    out.unregister = tostring(reg.unregister("me.name")) .. "," .. tostring(reg.unregister("me.name"))

    -- terminate, monitor, link of an ended process; cancel's reason type
    process.send(echo, "stop")
    inbox:receive()
    process.monitor(echo)
    events:receive()
    out.terminate_dead = why(process.terminate(echo))
    out.link_dead = why(process.link(echo))
    out.cancel_bad = select(2, pcall(process.cancel, me, 5))

    -- options
    out.options = process.get_options().trap_links
    out.set_not_table = why(process.set_options(5))
    out.set_bad = why(process.set_options({ trap_links = "yes" }))
    out.set_unknown = why(process.set_options({ trap_links = true, nope = 1 }))
    out.applied = process.get_options().trap_links

    -- listen / unlisten
    out.listen_empty = why(process.listen(""))
    out.listen_at = why(process.listen("@x"))
    local a = process.listen("topic")
    out.listen_same = process.listen("topic", { message = true }) == a
    out.unlisten = why(process.unlisten(a))
    out.unlisten_again = why(process.unlisten(a))
    out.unlisten_closed = select(2, a:receive()) == false
    out.unlisten_not_channel = not pcall(process.unlisten, 5)

    -- subscribe / unsubscribe (globals)
    local mine = channel.new(4)
    out.subscribe = why(subscribe("sub.topic", mine))
    out.subscribe_other = why(subscribe("sub.topic", channel.new()))
    process.send(me, "sub.topic", "via subscribe")
    out.subscribed = mine:receive()
    out.unsubscribe = why(unsubscribe(mine))
    out.unsubscribe_again = why(unsubscribe(mine))
    return out
end

return M
"#;

#[test]
fn the_process_api_fails_and_succeeds_as_wippys() {
    let entries = ["main", "echo", "raw_listener", "named", "exec_child"]
        .into_iter()
        .map(|m| Lua {
            method: m,
            ..entry(m, SRC)
        })
        .collect();
    let t = TestApp::new(entries, 2);
    let r = exit_value(t.run("main", vec![], TIMEOUT));
    let b = |k: &str| r.get(k) == Some(&Payload::Bool(true));
    assert_eq!(text(&r, "id"), "app:main");
    assert!(b("same_channels"), "{r:?}");

    assert_eq!(text(&r, "send_dead"), "nil|NotFound|process not found");
    assert_eq!(r.get("retryable"), Some(&Payload::Bool(false)));
    assert_eq!(
        text(&r, "send_unknown"),
        "nil|NotFound|could not resolve 'nobody' as PID or registered name"
    );
    assert_eq!(text(&r, "send_at"), "nil|Invalid|cannot send to @ topics");
    assert_eq!(
        text(&r, "send_function"),
        "nil|Invalid|payload: function cannot be sent"
    );

    let many = r.get("many").expect("many");
    assert_eq!(many.get("topic").and_then(Payload::as_str), Some("many"));
    let shape = many
        .get("shape")
        .and_then(Payload::as_str)
        .unwrap_or_default();
    assert!(
        shape.starts_with("many:payload{format=lua/any}=1,payload{format=lua/any}=two,payload{format=lua/any}=table"),
        "{shape}"
    );
    assert_eq!(
        many.get("text").and_then(Payload::as_str),
        Some("process.Message{topic=many}")
    );
    let none = r.get("none").expect("none");
    assert_eq!(none.get("shape").and_then(Payload::as_str), Some("none"));
    let one = r.get("one").expect("one");
    assert_eq!(one.get("shape").and_then(Payload::as_str), Some("one:5"));
    assert_eq!(
        r.get("raw"),
        Some(&Payload::Array(vec![
            Payload::from("a"),
            Payload::from("b")
        ]))
    );

    assert_eq!(text(&r, "exec_ok"), "ok:done:3");
    assert_eq!(text(&r, "exec_fail"), "nil|NotFound|no");
    assert_eq!(
        text(&r, "exec_bad_id"),
        "nil|Invalid|invalid process ID format (namespace:name required)"
    );
    assert_eq!(text(&r, "exec_no_host"), "nil|Internal|host not found");
    assert_eq!(text(&r, "spawn_no_host"), "nil|NotFound|host not found");
    assert_eq!(text(&r, "spawn_no_entry"), "nil|NotFound|factory not found");

    assert!(b("same_pid"), "{r:?}");
    let named = text(&r, "named");
    assert!(named.starts_with("first:hello:41:"), "{named}");
    assert!(
        named.ends_with(':'),
        "with_message's sender is \"\": {named}"
    );
    assert!(
        text(&r, "with_message_at").contains("cannot send to @ topics"),
        "{r:?}"
    );

    assert_eq!(text(&r, "scopes"), "0,1,2,3");
    assert_eq!(text(&r, "register"), "ok:true");
    assert_eq!(text(&r, "register_again"), "ok:true");
    assert_eq!(
        text(&r, "register_other"),
        "nil|AlreadyExists|name already registered"
    );
    let eventual = text(&r, "register_eventual");
    assert!(eventual.starts_with("nil|Unavailable|"), "{eventual}");
    assert_eq!(
        text(&r, "register_bad_pid"),
        "nil|Invalid|pid must be a string"
    );
    assert!(b("lookup"), "{r:?}");
    assert_eq!(
        text(&r, "lookup_missing"),
        "nil|NotFound|name not registered"
    );
    assert_eq!(text(&r, "unregister"), "true,false");

    assert_eq!(text(&r, "terminate_dead"), "nil|Internal|process not found");
    assert_eq!(text(&r, "link_dead"), "nil|Internal|process not found");
    assert!(text(&r, "cancel_bad").contains("bad argument #2"), "{r:?}");

    assert_eq!(r.get("options"), Some(&Payload::Bool(false)));
    assert_eq!(
        text(&r, "set_not_table"),
        "false|Invalid|options parameter must be a table"
    );
    assert_eq!(
        text(&r, "set_bad"),
        "false|Invalid|trap_links must be a boolean"
    );
    assert_eq!(
        text(&r, "set_unknown"),
        "false|Invalid|option nope is not supported"
    );
    assert_eq!(
        r.get("applied"),
        Some(&Payload::Bool(true)),
        "valid keys still apply"
    );

    assert_eq!(
        text(&r, "listen_empty"),
        "nil|Invalid|topic cannot be empty"
    );
    assert_eq!(
        text(&r, "listen_at"),
        "nil|Invalid|cannot listen to @ topics"
    );
    assert!(b("listen_same"), "{r:?}");
    assert_eq!(text(&r, "unlisten"), "ok:true");
    assert_eq!(
        text(&r, "unlisten_again"),
        "false|NotFound|channel not found"
    );
    assert!(b("unlisten_closed"), "{r:?}");
    assert!(b("unlisten_not_channel"), "{r:?}");

    assert_eq!(text(&r, "subscribe"), "ok:true");
    let other = text(&r, "subscribe_other");
    assert!(other.starts_with("nil|AlreadyExists|"), "{other}");
    assert_eq!(text(&r, "subscribed"), "via subscribe");
    assert_eq!(text(&r, "unsubscribe"), "ok:true");
    assert_eq!(
        text(&r, "unsubscribe_again"),
        "false|NotFound|channel not found"
    );
}
