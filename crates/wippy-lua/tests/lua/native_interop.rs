//! Lua and native processes talk both ways: messages, replies to
//! `msg:from()`, monitors and EXIT events across the two kinds.

use std::sync::mpsc;
use std::time::Duration;

use wippy_host::{SpawnContext, SpawnRequest};
use wippy_process::{Event, Payload, SpawnOptions};

use crate::common::*;

const ECHO: &str = r#"
local M = {}
function M.main()
    local msg = process.inbox():receive()
    local data = msg:payload():data()
    local ok, err = process.send(msg:from(), "reply", { n = data.n + 1 })
    assert(ok, err)
    return "done"
end
return M
"#;

const CRASH: &str = r#"
local M = {}
function M.main(why)
    local x = 1
    if x == 1 then
        error("kaboom " .. tostring(why))
    end
end
return M
"#;

#[test]
fn native_sends_a_table_and_lua_replies_to_the_sender() {
    let t = TestApp::new(vec![entry("echo", ECHO)], 2);
    let (w, events) = t.watcher();
    let lua = t.spawn_opts(
        "echo",
        vec![],
        SpawnOptions::default().parent(w).monitored(),
    );
    let (tx, rx) = mpsc::channel();
    let native = t
        .native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            cx.send(lua, "req", Payload::map([("n", Payload::Int(41))]))
                .unwrap();
            let reply = cx.recv_timeout(Duration::from_secs(5)).await;
            tx.send(reply).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    let reply = rx
        .recv_timeout(TIMEOUT)
        .unwrap()
        .expect("the Lua process replied within 5 s");
    assert_eq!(reply.topic.as_str(), "reply");
    assert_eq!(reply.from, Some(lua), "reply comes from the Lua pid");
    assert_eq!(reply.payload.get("n"), Some(&Payload::Int(42)));
    let _ = native;
    let r = wait_exit(&events, lua, TIMEOUT);
    assert_eq!(exit_value(r), Payload::Str("done".into()));
}

#[test]
fn lua_sends_to_a_native_pid_and_gets_the_reply() {
    const ASK: &str = r#"
    local M = {}
    function M.main(server)
        local ok, err = process.send(server, "ask", { q = "hi", list = { 1, 2, 3 } })
        assert(ok, err)
        local msg = process.inbox():receive()
        assert(msg:topic() == "answer", msg:topic())
        assert(msg:from() == server, tostring(msg:from()))
        local d = msg:payload():data()
        return d.text .. ":" .. tostring(d.sum)
    end
    return M
    "#;
    let t = TestApp::new(vec![entry("ask", ASK)], 2);
    let server = t
        .native
        .spawn_async(SpawnOptions::default(), |cx| async move {
            let m = cx.recv().await;
            let from = m.from.expect("a Lua message names its sender");
            assert_eq!(m.topic.as_str(), "ask");
            let sum: i64 = match m.payload.get("list") {
                Some(Payload::Array(items)) => items.iter().map(as_i64).sum(),
                other => panic!("list: {other:?}"),
            };
            let text = m
                .payload
                .get("q")
                .and_then(Payload::as_str)
                .unwrap()
                .to_owned();
            cx.send(
                from,
                "answer",
                Payload::map([
                    ("text", Payload::Str(text.into())),
                    ("sum", Payload::Int(sum)),
                ]),
            )
            .unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    let r = t.run("ask", vec![Payload::Pid(server)], TIMEOUT);
    assert_eq!(exit_value(r), Payload::Str("hi:6".into()));
}

#[test]
fn messages_from_native_arrive_in_order() {
    const SUM: &str = r#"
    local M = {}
    function M.main(n)
        local inbox = process.inbox()
        for i = 1, n do
            local v = inbox:receive():payload():data()
            if v ~= i then
                error("message " .. i .. " arrived as " .. tostring(v))
            end
        end
        return n
    end
    return M
    "#;
    let t = TestApp::new(vec![entry("sum", SUM)], 2);
    let (w, events) = t.watcher();
    let n = 2_000;
    let lua = t.spawn_opts(
        "sum",
        vec![Payload::Int(n)],
        SpawnOptions::default().parent(w).monitored(),
    );
    t.native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            for i in 1..=n {
                cx.send(lua, "n", Payload::Int(i)).unwrap();
                if i % 128 == 0 {
                    cx.yield_now().await;
                }
            }
            Ok(Payload::Nil)
        })
        .unwrap();
    let r = wait_exit(&events, lua, TIMEOUT);
    assert_eq!(as_i64(&exit_value(r)), n);
}

#[test]
fn native_monitor_sees_the_lua_error_with_entry_id() {
    let t = TestApp::new(vec![entry("crash", CRASH)], 2);
    let app = t.app.clone();
    let (tx, rx) = mpsc::channel();
    t.native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            let req = SpawnRequest {
                entry: "app:crash".parse().unwrap(),
                args: vec![Payload::Int(7)],
                opts: SpawnOptions::default().parent(cx.pid()).monitored(),
                context: SpawnContext::default(),
            };
            let child = app.spawn(HOST, req).unwrap();
            let ev = cx.next_event().await;
            tx.send((child, ev)).unwrap();
            Ok(Payload::Nil)
        })
        .unwrap();
    let (child, ev) = rx.recv_timeout(TIMEOUT).expect("an EXIT event");
    match ev {
        Event::Exit { from, result } => {
            assert_eq!(from, child);
            let err = exit_error(&result);
            assert!(err.contains("kaboom 7"), "error text: {err}");
            assert!(err.contains("app:crash:"), "error names the entry: {err}");
        }
        other => panic!("expected EXIT, got {other:?}"),
    }
}

#[test]
fn lua_monitors_a_crashing_lua_child_and_a_native_process() {
    const PARENT: &str = r#"
    local M = {}
    function M.main(native)
        local events = process.events()
        local child, err = process.spawn_monitored("app:crash", "app:workers", "x")
        assert(child, err)
        local ev = events:receive()
        assert(ev.kind == process.event.EXIT, ev.kind)
        assert(ev.from == child, tostring(ev.from))
        local first = ev.result.error
        -- monitor a native process, then tell it to finish
        assert(process.monitor(native))
        assert(process.send(native, "stop", 5))
        ev = events:receive()
        assert(ev.kind == "pid.exit", ev.kind)
        assert(ev.from == native, tostring(ev.from))
        return { crash = tostring(first), crash_kind = first:kind(), native = ev.result.value }
    end
    return M
    "#;
    let t = TestApp::new(vec![entry("crash", CRASH), entry("parent", PARENT)], 2);
    let native = t
        .native
        .spawn_async(SpawnOptions::default(), |cx| async move {
            let m = cx.recv().await;
            Ok(Payload::Int(as_i64(&m.payload) * 10))
        })
        .unwrap();
    let r = exit_value(t.run("parent", vec![Payload::Pid(native)], TIMEOUT));
    let crash = r.get("crash").and_then(Payload::as_str).unwrap_or_default();
    assert!(crash.contains("kaboom x"), "child error: {crash:?}");
    assert!(crash.contains("app:crash:"), "child error: {crash:?}");
    let kind = r.get("crash_kind").and_then(Payload::as_str);
    assert_eq!(kind, Some("Internal"), "a raised error is Internal");
    assert_eq!(r.get("native").map(as_i64), Some(50));
}

#[test]
fn lua_can_be_reached_by_registered_name() {
    const NAMED: &str = r#"
    local M = {}
    function M.main()
        assert(process.registry.register("svc.named"))
        local m = process.inbox():receive()
        assert(process.send(m:from(), "named-reply", m:payload():data() * 2))
        return true
    end
    return M
    "#;
    let t = TestApp::new(vec![entry("named", NAMED)], 2);
    let (me, rx) = t.mailbox();
    let lua = t.spawn("named", vec![]);
    wait_until("name registered", TIMEOUT, || {
        t.rt.node().lookup("svc.named") == Some(lua)
    });
    t.rt.node()
        .send_named(Some(me), "svc.named", "q", Payload::Int(21))
        .unwrap();
    let m = next_msg(&rx, TIMEOUT);
    assert_eq!(m.topic.as_str(), "named-reply");
    assert_eq!(as_i64(&m.payload), 42);
    wait_until("name freed at exit", TIMEOUT, || {
        t.rt.node().lookup("svc.named").is_none()
    });
}
