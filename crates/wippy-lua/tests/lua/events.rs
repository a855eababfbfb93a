//! The `events` module and the app's event bus under it: subscriptions by
//! pattern, delivery into the subscription's channel in order, `close`,
//! errors and checks (Invalid, as in Wippy), and the bus shared with
//! native code in both directions.

use std::sync::mpsc;
use std::time::Duration;

use wippy_host::BusEvent;
use wippy_process::Payload;

use crate::apps::{ScriptApp, expect};
use crate::common::TIMEOUT;

const INDEX: &str = r#"
version: "1.0"
namespace: app
entries:
  - { name: workers, kind: process.host }
  - { name: main, kind: process.lua, source: file://main.lua, method: main, modules: [events, funcs, security] }
  - { name: guest, kind: function.lua, source: file://guest.lua, method: main, modules: [events] }
  - { name: listener, kind: process.lua, source: file://listener.lua, method: main, modules: [events] }
  - name: orders_only
    kind: security.policy
    policy: { actions: ["events.send", "events.subscribe"], resources: "orders.*", effect: allow }
"#;

const MAIN: &str = r#"
local function r(v, err)
    if err then return err:kind() .. "|" .. tostring(err) end
    return tostring(v)
end
local function drain(ch)
    local got = {}
    while true do
        local s = channel.select({ ch:case_receive(), default = true })
        if s.default then return table.concat(got, ",") end
        local e = s.value
        got[#got + 1] = e.system .. "/" .. e.kind .. e.path .. (e.data and ("=" .. tostring(e.data.n)) or "")
    end
end
return { main = function()
    local out = {}
    local all = events.subscribe("*")
    local test = events.subscribe("test.*")
    local exact = events.subscribe("test.a", "created")
    out.send = r(events.send("test.a", "created", "/1", { n = 1 }))
    events.send("test.a", "deleted", "/2")
    events.send("test.b", "created", "/3", { n = 3 })
    events.send("other", "created", "/4")
    local first = all:channel():receive()
    out.first = first.system .. "|" .. first.kind .. "|" .. first.path .. "|" .. first.data.n
    out.all = drain(all:channel())
    out.test = drain(test:channel())
    out.exact = drain(exact:channel())
    out.close = tostring(test:close()) .. "|" .. tostring(test:close())
    events.send("test.a", "created", "/5")
    out.after_close = tostring(select(2, test:channel():receive()))
    out.empty_system = r(events.subscribe(""))
    out.empty_kind = r(events.send("s", "", "/p"))
    out.empty_path = r(events.send("s", "k", ""))
    out.raises = tostring((pcall(events.send, 1, "k", "/p")))
    local guest = funcs.new()
        :with_actor(security.new_actor("guest-1"))
        :with_scope(security.new_scope({ security.policy("app:orders_only") }))
        :call("app:guest")
    for k, v in pairs(guest) do out["guest_" .. k] = v end
    return out
end }
"#;

const GUEST: &str = r#"
local function r(v, err)
    if err then return err:kind() end
    return tostring(v)
end
return { main = function()
    return {
        send_orders = r(events.send("orders.eu", "created", "/1")),
        send_users = r(events.send("users", "created", "/1")),
        sub_orders = r(events.subscribe("orders.eu") ~= nil),
        sub_users = r(events.subscribe("users")),
    }
end }
"#;

/// Subscribes, tells its parent (the test's mailbox) it is ready, then
/// returns the first event it gets.
const LISTENER: &str = r#"
return { main = function(parent)
    local sub = events.subscribe("native.*", "ping")
    process.send(parent, "ready", true)
    local e = sub:channel():receive()
    return e.path .. "|" .. e.data.n
end }
"#;

#[test]
fn subscriptions_get_matching_events_in_order() {
    let app = ScriptApp::new(
        INDEX,
        &[
            ("main.lua", MAIN),
            ("guest.lua", GUEST),
            ("listener.lua", LISTENER),
        ],
    );
    let out = app.table("app:main");
    expect(
        &out,
        &[
            ("send", "true"),
            ("first", "test.a|created|/1|1"),
            ("all", "test.a/deleted/2,test.b/created/3=3,other/created/4"),
            (
                "test",
                "test.a/created/1=1,test.a/deleted/2,test.b/created/3=3",
            ),
            ("exact", "test.a/created/1=1"),
            ("close", "true|true"),
            ("after_close", "false"),
            ("empty_system", "Invalid|system is required"),
            ("empty_kind", "Invalid|kind is required"),
            ("empty_path", "Invalid|path is required"),
            ("raises", "false"),
            ("guest_send_orders", "true"),
            ("guest_send_users", "Invalid"),
            ("guest_sub_orders", "true"),
            ("guest_sub_users", "Invalid"),
        ],
    );
    // Every subscription of the processes that ended is gone from the bus
    // once an event would reach it.
    app.app
        .events()
        .publish(&BusEvent::new("test.a", "created", "/x"));
    app.app
        .events()
        .publish(&BusEvent::new("orders.eu", "created", "/x"));
    assert_eq!(app.app.events().len(), 0);
}

#[test]
fn the_bus_is_shared_with_native_code() {
    let app = ScriptApp::new(
        INDEX,
        &[
            ("main.lua", MAIN),
            ("guest.lua", GUEST),
            ("listener.lua", LISTENER),
        ],
    );
    // Native → Lua: a Lua process subscribes; Rust publishes.
    let native = app.rt.native_host("test:events", 1).unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let parent = native
        .spawn_async(Default::default(), move |cx| async move {
            let m = cx.recv().await;
            ready_tx.send(m.topic.to_string()).ok();
            Ok(Payload::Nil)
        })
        .unwrap();
    let (result_tx, result_rx) = mpsc::channel();
    let bus_app = app.app.clone();
    std::thread::spawn(move || {
        assert_eq!(ready_rx.recv_timeout(TIMEOUT).unwrap(), "ready");
        bus_app
            .events()
            .publish(&BusEvent::new("native.x", "pong", "/skipped"));
        let data = Payload::map([("n", Payload::Int(7))]);
        bus_app
            .events()
            .publish(&BusEvent::new("native.x", "ping", "/p").with_data(data));
        result_tx.send(()).ok();
    });
    let got = app.run("app:listener", vec![Payload::Pid(parent)]);
    result_rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(got.unwrap(), Payload::from("/p|7"));

    // Lua → native: a Rust sink sees what Lua code sends.
    let (tx, rx) = mpsc::channel();
    app.app
        .events()
        .subscribe("test.*", Some("created"), move |e| {
            tx.send(e.clone()).is_ok()
        });
    app.table("app:main");
    let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (first.system.as_str(), first.path.as_str()),
        ("test.a", "/1")
    );
    assert_eq!(
        first.data.as_ref().and_then(|d| d.get("n")),
        Some(&Payload::Int(1))
    );
}
