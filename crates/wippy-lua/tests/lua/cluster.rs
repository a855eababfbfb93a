//! Lua processes in a cluster (`docs/lua-api.md`, "Processes on other
//! nodes"): two runtimes in this test process, each with the same app and
//! Lua hosts, joined to a NATS server of the test's own. Sends across
//! nodes (order, payloads, error objects, several values, by global name,
//! as a restricted actor), remote spawns with links and monitors, cancel
//! and terminate across nodes, the registry's scopes, and what a node that
//! leaves or a server that dies looks like from Lua.
//!
//! Each test needs `nats-server` (`apt-get install -y nats-server`); without
//! it, it says so on stderr and returns.

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use wippy_cluster::{Cluster, ClusterConfig, NatsServer};
use wippy_host::registry::{EntryKind, EntrySpec};
use wippy_host::{App, SpawnContext, SpawnRequest};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{
    Event, ExitResult, Message, NativeHost, NodeId, Payload, Pid, Runtime, RuntimeConfig,
    SpawnOptions,
};

use crate::common::{
    Shared, TIMEOUT, exit_value, next_msg, registry, shared, wait_exit, wait_until,
};

/// The app both nodes run.
const INDEX: &str = r#"
version: "1.0"
namespace: app
entries:
  - { name: workers, kind: process.host }
  - name: jail
    kind: process.host
    security:
      actor: { id: jailed }
      policies: [app:all]
  - name: private
    kind: process.host
    accept_from: [app:private]
  - name: all
    kind: security.policy
    policy: { actions: "*", resources: "*", effect: allow }
  - { name: sink, kind: process.lua, source: file://sink.lua, method: main }
  - { name: sender, kind: process.lua, source: file://sender.lua, method: main }
  - { name: child, kind: process.lua, source: file://child.lua, method: main, modules: [security] }
  - { name: parent, kind: process.lua, source: file://parent.lua, method: main }
  - { name: watcher, kind: process.lua, source: file://watcher.lua, method: main }
  - { name: registrar, kind: process.lua, source: file://registrar.lua, method: main }
  - { name: contender, kind: process.lua, source: file://contender.lua, method: main }
  - { name: reporter, kind: process.lua, source: file://reporter.lua, method: main }
  - { name: relay, kind: process.lua, source: file://relay.lua, method: main }
  - { name: offline, kind: process.lua, source: file://offline.lua, method: main, modules: [time] }
"#;

/// Registers `sink` (CONSISTENT), says so to `mailbox`, then takes 200
/// numbers, an error, several values and a tree, and returns what it saw.
const SINK: &str = r#"
return { main = function(mailbox)
    local ok, err = process.registry.register("sink", nil, process.registry.CONSISTENT)
    if not ok then return "register failed: " .. tostring(err) end
    local seq, errs, multi, tree = process.listen("seq"), process.listen("err"),
        process.listen("multi"), process.listen("tree")
    process.send(mailbox, "ready", process.pid())
    local out = { n = 0, ordered = true }
    for i = 1, 200 do
        local v = seq:receive()
        out.n = out.n + 1
        if v ~= i then out.ordered = false end
    end
    local e = errs:receive()
    out.err = e:kind() .. "|" .. e:message() .. "|" .. tostring(e:retryable())
    out.multi = multi:receive()
    out.tree = tree:receive()
    return out
end }
"#;

/// Sends to the global name `sink`: in order, an error object, several
/// values and a tree.
const SENDER: &str = r#"
return { main = function()
    for i = 1, 200 do
        local ok, err = process.send("sink", "seq", i)
        if not ok then return "send failed: " .. tostring(err) end
    end
    process.send("sink", "err", errors.new({ message = "gone away", kind = errors.NOT_FOUND, retryable = true }))
    process.send("sink", "multi", "a", 2, true)
    process.send("sink", "tree", { list = { 1, 2.5, "three" }, map = { deep = { x = "y" } } })
    return "sent"
end }
"#;

/// A child spawned from another node: tells its parent who it is and who it
/// runs as, then does what its argument says.
const CHILD: &str = r#"
local security = require("security")
return { main = function(parent, what)
    process.send(parent, "hello", { pid = process.pid(), actor = security.actor():id() })
    if what == "return" then
        return "done"
    elseif what == "cancel" then
        local ev = process.events():receive()
        return ev.kind .. ":" .. ev.reason
    else
        process.inbox():receive() -- until terminated
    end
end }
"#;

/// Spawns children on node b and reports what happens to them.
const PARENT: &str = r#"
local function expect_exit(events, pid)
    while true do
        local ev = events:receive()
        if ev.kind == process.event.EXIT and ev.from == pid then return ev end
    end
end
local function why(v, err)
    if v then return "ok" end
    return err:kind() .. "|" .. err:message()
end
return { main = function(node)
    local out = {}
    local events, hello = process.events(), process.listen("hello")
    local me = process.pid()
    -- linked and monitored: it returns, the EXIT carries its value
    local pid, err = process.spawn_linked_monitored("app:child", node .. "@app:workers", me, "return")
    if not pid then return "spawn failed: " .. tostring(err) end
    out.pid = pid
    local h = hello:receive()
    out.same_pid = h.pid == pid
    out.child_actor = h.actor
    local ev = expect_exit(events, pid)
    out.returned = ev.result.value
    -- cancel across nodes: the reason arrives
    pid = process.spawn_monitored("app:child", node .. "@app:workers", me, "cancel")
    hello:receive()
    out.cancel = tostring(process.cancel(pid, "please stop"))
    out.cancelled = expect_exit(events, pid).result.value
    -- terminate across nodes
    pid = process.spawn_monitored("app:child", node .. "@app:workers", me, "wait")
    hello:receive()
    out.terminate = tostring(process.terminate(pid))
    out.terminated = tostring(expect_exit(events, pid).result.error)
    -- failures
    out.unknown_node = why(process.spawn("app:child", "nowhere@app:workers", me, "return"))
    out.unknown_entry = why(process.spawn("app:nope", node .. "@app:workers"))
    out.unknown_host = why(process.spawn("app:child", node .. "@app:nohost", me, "return"))
    -- a Spawner's messages reach a remote child
    -- (listening first: a message that arrives before the listener goes to the inbox)
    local reported = process.listen("reported")
    pid = process.with_context({}):with_message("ping", 1):spawn_monitored("app:reporter", node .. "@app:workers", me)
    out.spawner_message = reported:receive()
    expect_exit(events, pid)
    return out
end }
"#;

/// Forwards its first message's topic and payload to `to`, then returns.
const REPORTER: &str = r#"
return { main = function(to)
    local m = process.inbox():receive()
    process.send(to, "reported", m:topic() .. ":" .. tostring(m:payload():data()))
end }
"#;

/// Watches and links (trapping) two children on node b, tells `mailbox`
/// it is ready, and reports the events when node b goes.
const WATCHER: &str = r#"
return { main = function(node, mailbox)
    process.set_options({ trap_links = true })
    local me = process.pid()
    local hello = process.listen("hello")
    local watched = process.spawn_monitored("app:child", node .. "@app:workers", me, "wait")
    local linked = process.spawn_linked("app:child", node .. "@app:workers", me, "wait")
    hello:receive(); hello:receive()
    process.send(mailbox, "ready", true)
    local out = {}
    local events = process.events()
    for _ = 1, 2 do
        local ev = events:receive()
        local who = (ev.from == watched and "watched") or (ev.from == linked and "linked") or ev.from
        out[who] = ev.kind .. ":" .. tostring(ev.result.error)
    end
    return out
end }
"#;

/// Registers three names in the cluster's scopes, reports, and frees one
/// when told.
const REGISTRAR: &str = r#"
local function why(v, err)
    if v then return tostring(v) end
    return err:kind() .. "|" .. err:message()
end
return { main = function(mailbox)
    local reg = process.registry
    local out = {
        eventual = why(reg.register("g.eventual", nil, reg.EVENTUAL)),
        consistent = why(reg.register("g.consistent", nil, reg.CONSISTENT)),
        strong = why(reg.register("g.strong", nil, reg.STRONG)),
        again = why(reg.register("g.consistent", nil, reg.CONSISTENT)),
        lookup = reg.lookup("g.strong") == process.pid(),
    }
    process.send(mailbox, "registered", out)
    local inbox = process.inbox()
    while true do
        local m = inbox:receive()
        if m:topic() == "release" then
            process.send(mailbox, "released", why(reg.unregister("g.consistent", reg.CONSISTENT)))
        else
            return "bye"
        end
    end
end }
"#;

/// From the other node: finds the names, loses the race for one, may not
/// free it; or, told `"take"`, takes it.
const CONTENDER: &str = r#"
local function why(v, err)
    if v then return tostring(v) end
    return err:kind() .. "|" .. err:message()
end
return { main = function(what)
    local reg = process.registry
    if what == "take" then
        return why(reg.register("g.consistent", nil, reg.CONSISTENT))
    end
    return {
        eventual = reg.lookup("g.eventual"),
        consistent = reg.lookup("g.consistent"),
        strong = reg.lookup("g.strong"),
        taken = why(reg.register("g.consistent", nil, reg.CONSISTENT)),
        free_other = tostring(reg.unregister("g.consistent", reg.CONSISTENT)),
        bad_scope = why(reg.register("x", nil, 7)),
    }
end }
"#;

/// Sends to two processes in turn.
const RELAY: &str = r#"
return { main = function(first, second)
    local a = process.send(first, "refused", 1)
    local b = process.send(second, "accepted", 2)
    return tostring(a) .. " " .. tostring(b)
end }
"#;

/// Registers a CONSISTENT name until the cluster says it is unavailable.
const OFFLINE: &str = r#"
local time = require("time")
return { main = function()
    for _ = 1, 100 do
        local ok, err = process.registry.register("offline.name", nil, process.registry.CONSISTENT)
        if not ok and err:kind() == "Unavailable" then
            return err:kind() .. "|" .. tostring(err:retryable())
        end
        time.sleep("100ms")
    end
    return "never unavailable"
end }
"#;

/// A node: its runtime, app (every host of [`INDEX`] started) and
/// membership.
struct LuaNode {
    cluster: Cluster,
    app: Arc<App>,
    native: NativeHost,
    rt: Option<Runtime>,
    _machine: Shared,
}

impl LuaNode {
    fn start(name: &str, url: &str) -> LuaNode {
        let machine = shared();
        let files = [
            ("sink.lua", SINK),
            ("sender.lua", SENDER),
            ("child.lua", CHILD),
            ("parent.lua", PARENT),
            ("watcher.lua", WATCHER),
            ("registrar.lua", REGISTRAR),
            ("contender.lua", CONTENDER),
            ("reporter.lua", REPORTER),
            ("offline.lua", OFFLINE),
            ("relay.lua", RELAY),
        ]
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
        let registry = registry(INDEX.to_owned(), files);
        let rt = Runtime::new(RuntimeConfig {
            node: NodeId::starting(name).unwrap(),
            ..RuntimeConfig::default()
        })
        .unwrap();
        let app = App::new(rt.node().clone(), registry.clone());
        let code = CodeCache::new(registry.clone());
        for e in registry.of_kind(EntryKind::ProcessHost) {
            let EntrySpec::Host(spec) = &e.spec else {
                unreachable!()
            };
            let cfg = LuaHostConfig::from_spec(e.id.as_str(), spec, 1, app.policies()).unwrap();
            LuaHost::start(&rt, &app, code.clone(), cfg).unwrap();
        }
        let native = rt.native_host("test:native", 1).unwrap();
        let mut config = ClusterConfig::new(url);
        config.heartbeat = Duration::from_millis(200);
        config.node_timeout = Duration::from_millis(1000);
        config.grace = Duration::from_millis(1000);
        config.strong_deadline = Duration::from_millis(2000);
        let cluster = Cluster::join(&rt, app.clone(), config).unwrap();
        LuaNode {
            cluster,
            app,
            native,
            rt: Some(rt),
            _machine: machine,
        }
    }

    /// A native process forwarding the messages it receives.
    fn mailbox(&self) -> (Pid, Receiver<Message>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let pid = self
            .native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                loop {
                    if tx.send(cx.recv().await).is_err() {
                        return Ok(Payload::Nil);
                    }
                }
            })
            .unwrap();
        (pid, rx)
    }

    /// A native process forwarding the events it receives.
    fn watcher(&self) -> (Pid, Receiver<Event>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let pid = self
            .native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                loop {
                    if tx.send(cx.next_event().await).is_err() {
                        return Ok(Payload::Nil);
                    }
                }
            })
            .unwrap();
        (pid, rx)
    }

    /// Spawns `entry` on `host`, monitored by a native process whose
    /// events come back.
    fn spawn(&self, entry: &str, host: &str, args: Vec<Payload>) -> (Pid, Receiver<Event>) {
        let (w, events) = self.watcher();
        let req = SpawnRequest {
            entry: entry.parse().unwrap(),
            args,
            opts: SpawnOptions::default().parent(w).monitored(),
            context: SpawnContext::default(),
        };
        (self.app.spawn(host, req).unwrap(), events)
    }

    fn run(&self, entry: &str, host: &str, args: Vec<Payload>) -> ExitResult {
        let (pid, events) = self.spawn(entry, host, args);
        wait_exit(&events, pid, TIMEOUT)
    }

    fn leave(&mut self) {
        self.cluster.shutdown();
    }
}

impl Drop for LuaNode {
    fn drop(&mut self) {
        self.cluster.shutdown();
        self.app.shutdown(Duration::ZERO);
        if let Some(rt) = self.rt.take() {
            rt.shutdown();
        }
    }
}

/// A server and two nodes, `a` and `b`, that see each other; `None` (with
/// the reason on stderr) without `nats-server`.
fn two_nodes() -> Option<(NatsServer, LuaNode, LuaNode)> {
    let server = match NatsServer::start(false) {
        Ok(s) => s,
        Err(e) => {
            wippy_testkit::skip(e);
            return None;
        }
    };
    let a = LuaNode::start("a", &server.url());
    let b = LuaNode::start("b", &server.url());
    assert!(a.cluster.await_nodes(&["b"], TIMEOUT), "a does not see b");
    assert!(b.cluster.await_nodes(&["a"], TIMEOUT), "b does not see a");
    Some((server, a, b))
}

fn text(v: &Payload, key: &str) -> String {
    match v.get(key) {
        Some(Payload::Str(s)) => s.to_string(),
        Some(other) => format!("{other:?}"),
        None => panic!("no {key} in {v:?}"),
    }
}

#[test]
fn a_restricted_lua_process_sends_across_nodes_by_global_name_in_order_with_its_payloads() {
    let Some((_server, a, b)) = two_nodes() else {
        return;
    };
    let (mailbox, messages) = b.mailbox();
    let (sink, sink_events) = b.spawn("app:sink", "app:workers", vec![Payload::Pid(mailbox)]);
    assert_eq!(next_msg(&messages, TIMEOUT).topic.as_str(), "ready");
    wait_until("a sees the name", TIMEOUT, || {
        a.cluster.lookup("sink") == Some(sink)
    });
    // The sender runs as the jail's actor: it needs its credentials to act
    // on another node.
    let sent = exit_value(a.run("app:sender", "app:jail", vec![]));
    assert_eq!(sent, Payload::from("sent"));
    let got = exit_value(wait_exit(&sink_events, sink, TIMEOUT));
    assert_eq!(got.get("n"), Some(&Payload::Int(200)), "{got:?}");
    assert_eq!(got.get("ordered"), Some(&Payload::Bool(true)), "{got:?}");
    assert_eq!(text(&got, "err"), "NotFound|gone away|true");
    assert_eq!(
        got.get("multi"),
        Some(&Payload::Array(vec![
            Payload::from("a"),
            Payload::Int(2),
            Payload::Bool(true)
        ])),
        "several values arrive as several values"
    );
    let tree = got.get("tree").expect("tree");
    assert_eq!(
        tree.get("list"),
        Some(&Payload::Array(vec![
            Payload::Int(1),
            Payload::Float(2.5),
            Payload::from("three")
        ]))
    );
    assert_eq!(
        tree.get("map")
            .and_then(|m| m.get("deep"))
            .and_then(|d| d.get("x")),
        Some(&Payload::from("y"))
    );
}

#[test]
fn a_lua_process_spawns_on_another_node_and_cancels_and_terminates_there() {
    let Some((_server, a, _b)) = two_nodes() else {
        return;
    };
    let r = exit_value(a.run("app:parent", "app:jail", vec![Payload::from("b")]));
    let pid = text(&r, "pid");
    assert!(pid.starts_with("{b."), "a pid of node b: {pid}");
    assert_eq!(r.get("same_pid"), Some(&Payload::Bool(true)));
    assert_eq!(
        text(&r, "child_actor"),
        "jailed",
        "the child runs as its spawner's actor"
    );
    assert_eq!(text(&r, "returned"), "done");
    assert_eq!(text(&r, "cancel"), "true");
    assert_eq!(text(&r, "cancelled"), "pid.cancel:please stop");
    assert_eq!(text(&r, "terminate"), "true");
    assert!(text(&r, "terminated").contains("terminated"), "{r:?}");
    assert!(
        text(&r, "unknown_node").starts_with("NotFound|"),
        "{}",
        text(&r, "unknown_node")
    );
    assert!(
        text(&r, "unknown_entry").starts_with("NotFound|"),
        "{}",
        text(&r, "unknown_entry")
    );
    assert!(
        text(&r, "unknown_host").starts_with("NotFound|"),
        "{}",
        text(&r, "unknown_host")
    );
    assert_eq!(text(&r, "spawner_message"), "ping:1");
}

#[test]
fn watchers_and_trapping_partners_of_processes_on_a_node_that_leaves_hear_node_disconnected() {
    let Some((_server, a, mut b)) = two_nodes() else {
        return;
    };
    let (mailbox, messages) = a.mailbox();
    let (watcher, events) = a.spawn(
        "app:watcher",
        "app:workers",
        vec![Payload::from("b"), Payload::Pid(mailbox)],
    );
    assert_eq!(next_msg(&messages, TIMEOUT).topic.as_str(), "ready");
    b.leave();
    let r = exit_value(wait_exit(&events, watcher, TIMEOUT));
    assert_eq!(text(&r, "watched"), "pid.exit:node disconnected", "{r:?}");
    assert_eq!(
        text(&r, "linked"),
        "pid.link.down:node disconnected",
        "{r:?}"
    );
}

#[test]
fn registry_scopes_from_lua_are_the_clusters() {
    let Some((_server, a, b)) = two_nodes() else {
        return;
    };
    let (mailbox, messages) = a.mailbox();
    let (registrar, _) = a.spawn("app:registrar", "app:workers", vec![Payload::Pid(mailbox)]);
    let m = next_msg(&messages, TIMEOUT);
    assert_eq!(m.topic.as_str(), "registered");
    for scope in ["eventual", "consistent", "strong", "again"] {
        assert_eq!(text(&m.payload, scope), "true", "{scope}: {:?}", m.payload);
    }
    assert_eq!(m.payload.get("lookup"), Some(&Payload::Bool(true)));
    wait_until("b sees the names", TIMEOUT, || {
        ["g.eventual", "g.consistent", "g.strong"]
            .iter()
            .all(|n| b.cluster.lookup(n) == Some(registrar))
    });

    let r = exit_value(b.run("app:contender", "app:workers", vec![]));
    for name in ["eventual", "consistent", "strong"] {
        assert_eq!(text(&r, name), registrar.to_string(), "lookup of g.{name}");
    }
    assert_eq!(text(&r, "taken"), "AlreadyExists|name already registered");
    assert_eq!(text(&r, "free_other"), "false", "only the holder frees it");
    assert!(text(&r, "bad_scope").starts_with("Invalid|"), "{r:?}");

    a.rt.as_ref()
        .unwrap()
        .node()
        .send(None, registrar, "release", Payload::Nil)
        .unwrap();
    let m = next_msg(&messages, TIMEOUT);
    assert_eq!(m.topic.as_str(), "released");
    assert_eq!(m.payload, Payload::from("true"));
    wait_until("b sees the name go", TIMEOUT, || {
        b.cluster.lookup("g.consistent").is_none()
    });
    let r = exit_value(b.run("app:contender", "app:workers", vec![Payload::from("take")]));
    assert_eq!(r, Payload::from("true"));
}

#[test]
fn a_consistent_registration_without_the_server_is_unavailable() {
    let Some((mut server, a, _b)) = two_nodes() else {
        return;
    };
    server.kill();
    let r = exit_value(a.run("app:offline", "app:workers", vec![]));
    assert_eq!(r, Payload::from("Unavailable|true"));
}

#[test]
fn a_remote_host_that_refuses_the_senders_host_gets_nothing_and_later_messages_still_arrive() {
    let Some((_server, a, b)) = two_nodes() else {
        return;
    };
    // Two reporters on b: one on a host that accepts only its own host's
    // messages, one on an open host. Both forward their first message.
    let (mailbox, messages) = b.mailbox();
    let (private, _) = b.spawn("app:reporter", "app:private", vec![Payload::Pid(mailbox)]);
    let (open, _) = b.spawn("app:reporter", "app:workers", vec![Payload::Pid(mailbox)]);
    // One process of a's open host sends to both, refused one first.
    let r = exit_value(a.run(
        "app:relay",
        "app:workers",
        vec![Payload::Pid(private), Payload::Pid(open)],
    ));
    assert_eq!(r, Payload::from("true true"), "the sender cannot know");
    // Records from a to b are one ordered stream: the refused message was
    // handled before the accepted one.
    let m = next_msg(&messages, TIMEOUT);
    assert_eq!(m.from, Some(open));
    assert_eq!(m.payload, Payload::from("accepted:2"));
    assert!(
        messages.recv_timeout(Duration::from_millis(300)).is_err(),
        "the private host got nothing"
    );
}
