//! Security (`docs/security.md`): actors and scopes given through a
//! Spawner, the checks the runtime makes (spawn, send, cancel, terminate,
//! monitor, link, registry, module loads), hosts as boundaries (their
//! policies, their actor, `accept_from`), and the `security` module.
//! Every denial returns `nil, err` (PermissionDenied, Wippy's `not allowed
//! to <action>: <what was named>`), a Spawner's raises, and nothing
//! changes.

use std::sync::Arc;

use wippy_host::registry::{EntryKind, EntrySpec};
use wippy_host::{App, SpawnContext, SpawnRequest};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{ExitResult, NativeHost, Payload, Runtime, SpawnOptions};

use crate::common::{Shared, TIMEOUT, exit_value, registry, shared, wait_exit};

/// An app of several hosts (every `process.host` of `index` is started),
/// with Lua sources from `files`.
struct SecApp {
    app: Arc<App>,
    native: NativeHost,
    _rt: Runtime,
    _machine: Shared,
}

impl SecApp {
    /// `index` extends [`HOSTS`]; `files` adds to its sources.
    fn new(index: &str, files: &[(&str, &str)]) -> SecApp {
        let base = [
            ("driver.lua", DRIVER),
            ("guest.lua", GUEST),
            ("child.lua", CHILD),
            ("keeper.lua", KEEPER),
        ];
        let files: Vec<(String, String)> = base
            .iter()
            .chain(files)
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        let machine = shared();
        let registry = registry(index.to_owned(), files);
        let rt = Runtime::new(Default::default()).unwrap();
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
        SecApp {
            app,
            native,
            _rt: rt,
            _machine: machine,
        }
    }

    /// Runs `entry` on `host` as the system (a top-level process) and
    /// returns its EXIT result.
    fn run(&self, entry: &str, host: &str, args: Vec<Payload>) -> ExitResult {
        self.run_in(entry, host, args, SpawnContext::default())
    }

    fn run_in(
        &self,
        entry: &str,
        host: &str,
        args: Vec<Payload>,
        context: SpawnContext,
    ) -> ExitResult {
        let (tx, events) = std::sync::mpsc::channel();
        let w = self
            .native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                loop {
                    if tx.send(cx.next_event().await).is_err() {
                        return Ok(Payload::Nil);
                    }
                }
            })
            .unwrap();
        let req = SpawnRequest {
            entry: entry.parse().unwrap(),
            args,
            opts: SpawnOptions::default().parent(w).monitored(),
            context,
        };
        let pid = self.app.spawn(host, req).unwrap();
        wait_exit(&events, pid, TIMEOUT)
    }
}

impl Drop for SecApp {
    fn drop(&mut self) {
        self.app.shutdown(std::time::Duration::ZERO);
    }
}

/// The string at `key` of a result table.
fn text(v: &Payload, key: &str) -> String {
    match v.get(key) {
        Some(Payload::Str(s)) => s.to_string(),
        Some(other) => format!("{other:?}"),
        None => panic!("no {key} in {v:?}"),
    }
}

const HOSTS: &str = r#"
version: "1.0"
namespace: app
entries:
  - { name: users, kind: process.host }
  - name: system
    kind: process.host
    accept_from: [app:system]
  - name: user_policy
    kind: security.policy
    policy:
      actions: ["process.spawn", "process.spawn.host", "process.send"]
      resources: ["app:child", "app:users"]
      effect: allow
  - name: admin_policy
    kind: security.policy
    policy: { actions: "*", resources: "*", effect: allow }
  - name: no_json
    kind: security.policy
    policy: { actions: module.require, resources: json, effect: deny }
  - name: role_policy
    kind: security.policy
    policy:
      actions: process.spawn
      resources: "app:*"
      effect: allow
      conditions:
        - { field: actor.meta.role, operator: eq, value: admin }
        - { field: meta.size, operator: lt, value: 10 }
  - { name: driver, kind: process.lua, source: file://driver.lua, method: main, modules: [security, json] }
  - { name: guest, kind: process.lua, source: file://guest.lua, method: main, modules: [security, json] }
  - { name: child, kind: process.lua, source: file://child.lua, method: main, modules: [security] }
  - { name: keeper, kind: process.lua, source: file://keeper.lua, method: main }
"#;

/// Runs the guest (on app:users) as `guest-1` with the scope of the policy
/// ids given, and returns its result. `keeper` waits on app:system, which
/// accepts messages only from itself: the driver runs there too.
const DRIVER: &str = r#"
local security = require("security")
return { main = function(policies, what)
    local keeper = process.spawn("app:keeper", "app:system")
    assert(process.registry.register("keeper:" .. keeper, keeper))
    local list = {}
    for _, id in ipairs(policies) do table.insert(list, (security.policy(id))) end
    local spawner = process.with_context({})
        :with_actor(security.new_actor("guest-1", { role = "guest" }))
        :with_scope(security.new_scope(list))
    local events = process.events()
    local pid, err = spawner:spawn_monitored("app:guest", "app:users", what, keeper)
    assert(pid, err)
    local ev = events:receive()
    process.send(keeper, "count")
    local n = process.inbox():receive():payload():data()
    local r = ev.result.value or { error = ev.result.error }
    if type(r) ~= "table" then r = { value = r } end
    r.keeper_got = n
    return r
end }
"#;

const KEEPER: &str = r#"
return { main = function()
    local inbox = process.inbox()
    local got = 0
    while true do
        local m = inbox:receive()
        if m:topic() == "count" then process.send(m:from(), "count", got) else got = got + 1 end
    end
end }
"#;

/// What the guest tries depends on `what`; each try reports `ok|err`.
const GUEST: &str = r#"
local security = require("security")
local function try(f, ...)
    local a, b = f(...)
    return tostring(a ~= nil and a ~= false) .. "|" .. tostring(b)
end
return { main = function(what, keeper)
    local out = {}
    if what == "checks" then
        out.spawn_keeper = try(process.spawn, "app:keeper", "app:system")
        out.spawn_child = try(process.spawn, "app:child", "app:users")
        out.spawn_child_on_system = try(process.spawn, "app:child", "app:system")
        out.send_keeper = try(process.send, keeper, "steal", 1)
        out.send_self = try(process.send, process.pid(), "t", 1)
        out.terminate = try(process.terminate, keeper)
        out.cancel = try(process.cancel, keeper)
        out.monitor = try(process.monitor, keeper)
        out.link = try(process.link, keeper)
        out.register = try(process.registry.register, "guest_name")
        out.lookup = tostring(process.registry.lookup("guest_name"))
        out.unregister = tostring(process.registry.unregister("keeper:" .. keeper))
        out.keeper_name = tostring(process.registry.lookup("keeper:" .. keeper) == keeper)
        out.can_child = tostring(security.can("process.spawn", "app:child"))
        out.can_keeper = tostring(security.can("process.spawn", "app:keeper"))
        out.actor = security.actor():id()
        out.role = security.actor():meta().role
        out.scope = tostring(security.scope())
        out.keeper = keeper
    elseif what == "grants" then
        local mine = security.scope()
        local admin = security.policy("app:admin_policy")
        -- a Spawner's denial raises (Wippy's)
        local function spawn_with(spawner)
            local ok, err = pcall(function() return spawner:spawn("app:child", "app:users") end)
            return tostring(ok) .. "|" .. tostring(err)
        end
        out.wider = spawn_with(process.with_context({}):with_scope(mine:with(admin)))
        out.other_actor = spawn_with(process.with_context({}):with_actor(security.new_actor("root")))
        out.narrower = spawn_with(process.with_context({}):with_scope(security.new_scope({})))
        -- a plain spawn: the child inherits the guest's actor and scope
        local events = process.events()
        local pid = assert(process.spawn_monitored("app:child", "app:users"))
        local ev = events:receive()
        out.child = ev.result.value or ev.result.error
    elseif what == "upgrade_keeper" then
        process.upgrade("app:keeper")
    elseif what == "upgrade_child" then
        process.upgrade("app:child")
    elseif what == "require" then
        local ok, err = pcall(require, "json")
        out.json = tostring(ok) .. "|" .. tostring(err)
    end
    return out
end }
"#;

/// Reports who it runs as and whether it may spawn onto the system host.
const CHILD: &str = r#"
local security = require("security")
return { main = function()
    return security.actor():id() .. " " .. tostring(security.can("process.spawn.host", "app:system"))
        .. " " .. tostring(security.can("process.spawn", "app:child"))
end }
"#;

fn sec_app() -> SecApp {
    SecApp::new(HOSTS, &[])
}

fn policies(ids: &[&str]) -> Payload {
    Payload::Array(ids.iter().map(|s| Payload::from(*s)).collect())
}

#[test]
fn a_guest_is_refused_what_its_scope_does_not_allow_and_nothing_happens() {
    let t = sec_app();
    let r = exit_value(t.run(
        "app:driver",
        "app:system",
        vec![policies(&["app:user_policy"]), "checks".into()],
    ));
    // Wippy's texts: the action (without `process.`) and what was named.
    let denied = |what: &str, resource: &str| format!("false|not allowed to {what}: {resource}");
    let keeper = r
        .get("keeper")
        .and_then(Payload::as_str)
        .unwrap_or_default();
    assert_eq!(
        text(&r, "spawn_keeper"),
        denied("spawn process", "app:keeper")
    );
    assert_eq!(
        text(&r, "spawn_child_on_system"),
        denied("spawn on host", "app:system")
    );
    assert!(text(&r, "spawn_child").starts_with("true|"), "{r:?}");
    assert_eq!(text(&r, "send_keeper"), denied("send", keeper));
    assert_eq!(text(&r, "send_self"), "true|nil");
    assert_eq!(text(&r, "terminate"), denied("terminate", keeper));
    assert_eq!(text(&r, "cancel"), denied("cancel", keeper));
    assert_eq!(text(&r, "monitor"), denied("monitor", keeper));
    assert_eq!(text(&r, "link"), denied("link", keeper));
    assert_eq!(text(&r, "register"), denied("register name", "guest_name"));
    assert_eq!(
        text(&r, "lookup"),
        "nil",
        "a refused register took the name"
    );
    assert_eq!(text(&r, "unregister"), "false");
    assert_eq!(
        text(&r, "keeper_name"),
        "true",
        "a refused unregister freed the name"
    );
    assert_eq!(text(&r, "can_child"), "true");
    assert_eq!(text(&r, "can_keeper"), "false");
    assert_eq!(text(&r, "actor"), "guest-1");
    assert_eq!(text(&r, "role"), "guest");
    assert_eq!(text(&r, "scope"), "scope: app:user_policy");
    // The keeper got nothing, and was neither terminated nor cancelled (it
    // answered the count).
    assert_eq!(r.get("keeper_got"), Some(&Payload::Int(0)));
    // Of the guest's spawns only the allowed one made a process, and it
    // has ended: app:users is empty, app:system holds only the keeper.
    let count = |h: &str| t.app.host_named(h).unwrap().process_count();
    crate::common::wait_until("the guest and its child to end", TIMEOUT, || {
        count("app:users") == 0
    });
    // (the driver's exit is counted just after its EXIT is sent)
    crate::common::wait_until("only the keeper left on app:system", TIMEOUT, || {
        count("app:system") == 1
    });
}

#[test]
fn giving_a_child_more_than_one_has_is_refused_and_children_inherit() {
    let t = sec_app();
    let r = exit_value(t.run(
        "app:driver",
        "app:system",
        vec![policies(&["app:user_policy"]), "grants".into()],
    ));
    assert_eq!(
        text(&r, "wider"),
        "false|not allowed to security.scope.set: app:admin_policy"
    );
    assert_eq!(
        text(&r, "other_actor"),
        "false|not allowed to security.actor.set: root"
    );
    assert!(text(&r, "narrower").starts_with("true|"), "{r:?}");
    // The plain child runs as guest-1 with the guest's scope.
    assert_eq!(text(&r, "child"), "guest-1 false true");

    // With the admin policy the same grants are allowed.
    let r = exit_value(t.run(
        "app:driver",
        "app:system",
        vec![
            policies(&["app:user_policy", "app:admin_policy"]),
            "grants".into(),
        ],
    ));
    assert!(text(&r, "other_actor").starts_with("true|"), "{r:?}");
    assert_eq!(text(&r, "child"), "guest-1 true true");
}

#[test]
fn upgrading_to_another_entry_is_checked_as_spawning_it() {
    let t = sec_app();
    let run = |what: &str| {
        exit_value(t.run(
            "app:driver",
            "app:system",
            vec![policies(&["app:user_policy"]), what.into()],
        ))
    };
    let refused = run("upgrade_keeper");
    assert!(
        text(&refused, "error").contains("not allowed to process.spawn: app:keeper"),
        "{refused:?}"
    );
    // app:child may be spawned, so the guest may become it (and stays guest-1).
    let r = run("upgrade_child");
    assert_eq!(text(&r, "value"), "guest-1 false true", "{r:?}");
}

#[test]
fn a_deny_policy_refuses_a_module_the_entry_lists() {
    let t = sec_app();
    // Listed modules load for a guest whose scope says nothing of them...
    let r = exit_value(t.run(
        "app:driver",
        "app:system",
        vec![policies(&["app:user_policy"]), "require".into()],
    ));
    assert!(text(&r, "json").starts_with("true|"), "{r:?}");
    // ...and a deny policy refuses them.
    let r = exit_value(t.run(
        "app:driver",
        "app:system",
        vec![
            policies(&["app:user_policy", "app:no_json"]),
            "require".into(),
        ],
    ));
    assert!(
        text(&r, "json").contains("require(\"json\"): not allowed to module.require: json"),
        "{r:?}"
    );
}

#[test]
fn a_host_refuses_messages_from_hosts_it_does_not_accept_even_from_the_system() {
    const SENDER: &str = r#"
    return { main = function(keeper)
        local ok, err = process.send(keeper, "x", 1)
        return tostring(ok) .. "|" .. tostring(err)
    end }
    "#;
    let index = format!(
        "{HOSTS}  - {{ name: sender, kind: process.lua, source: file://sender.lua, method: main }}\n"
    );
    let t = SecApp::new(&index, &[("sender.lua", SENDER)]);
    let keeper_host = t.app.host_named("app:system").unwrap();
    let keeper = keeper_host
        .spawn(SpawnRequest::new("app:keeper".parse().unwrap()))
        .unwrap();
    // An unrestricted process on app:users: no policy stops it, the host does.
    let r = exit_value(t.run("app:sender", "app:users", vec![Payload::Pid(keeper)]));
    assert_eq!(
        r,
        Payload::from("nil|host app:system does not accept messages from host app:users")
    );
    // From app:system itself it arrives.
    let r = exit_value(t.run("app:sender", "app:system", vec![Payload::Pid(keeper)]));
    assert_eq!(r, Payload::from("true|nil"));
}

#[test]
fn conditions_see_the_actor_and_the_metadata_of_a_check() {
    const ASK: &str = r#"
    local security = require("security")
    return { main = function()
        return tostring(security.can("process.spawn", "app:child", { size = 3 }))
            .. " " .. tostring(security.can("process.spawn", "app:child", { size = 30 }))
            .. " " .. tostring(security.can("process.spawn", "app:child"))
    end }
    "#;
    let index = format!(
        "{HOSTS}  - {{ name: ask, kind: process.lua, source: file://ask.lua, method: main, modules: [security] }}\n"
    );
    let t = SecApp::new(&index, &[("ask.lua", ASK)]);
    let scope = t
        .app
        .policies()
        .scope(["app:role_policy"], Vec::<String>::new())
        .unwrap();
    let as_role = |role: &str| {
        let actor = wippy_security::Actor::new("ann").with_meta([("role", Payload::from(role))]);
        let principal = wippy_security::Principal::new(actor, Some(scope.clone()));
        let r = t.run_in(
            "app:ask",
            "app:users",
            vec![],
            SpawnContext::default().with_principal(principal),
        );
        exit_value(r)
    };
    assert_eq!(as_role("admin"), Payload::from("true false false"));
    assert_eq!(as_role("guest"), Payload::from("false false false"));
}

#[test]
fn a_hosts_policies_bound_its_processes_and_its_actor_is_theirs() {
    const WHO: &str = r#"
    local security = require("security")
    return { main = function()
        local pid, err = process.spawn("app:who", "app:open")
        return security.actor():id() .. " " .. tostring(pid ~= nil) .. " " .. tostring(err)
            .. " " .. tostring(security.can("process.send", "app:open"))
    end }
    "#;
    let index = r#"
version: "1.0"
namespace: app
entries:
  - { name: open, kind: process.host }
  - name: jail
    kind: process.host
    security:
      actor: { id: jailed }
      policies: [app:send_only]
  - name: send_only
    kind: security.policy
    policy: { actions: process.send, resources: "*", effect: allow }
  - name: all
    kind: security.policy
    policy: { actions: "*", resources: "*", effect: allow }
  - { name: who, kind: process.lua, source: file://who.lua, method: main, modules: [security] }
"#;
    let t = SecApp::new(index, &[("who.lua", WHO)]);
    // Started by the system on the jail: it runs as the jail's actor, and
    // the jail's policies decide.
    let r = exit_value(t.run("app:who", "app:jail", vec![]));
    assert_eq!(
        r,
        Payload::from("jailed false not allowed to spawn process: app:who true")
    );
    // A process that arrives with its own principal keeps it, and is still
    // bounded by the host's policies: its scope allows everything, the
    // jail only sends.
    let r = exit_value(
        t.run_in(
            "app:who",
            "app:jail",
            vec![],
            SpawnContext::default().with_principal(wippy_security::Principal::new(
                wippy_security::Actor::new("visitor"),
                Some(
                    t.app
                        .policies()
                        .scope(["app:all"], Vec::<String>::new())
                        .unwrap(),
                ),
            )),
        ),
    );
    assert_eq!(
        r,
        Payload::from("visitor false not allowed to spawn process: app:who true")
    );
    // On the open host the system may do anything.
    let r = exit_value(t.run("app:who", "app:open", vec![]));
    assert!(
        matches!(&r, Payload::Str(s) if s.starts_with("system true nil true")),
        "{r:?}"
    );
}

#[test]
fn a_named_actor_without_a_scope_may_do_nothing_checked() {
    const TRY: &str = r#"
    return { main = function()
        local ok, err = process.send(process.pid(), "t", 1)
        local text = tostring(ok) .. "|" .. tostring(err)
        local i, j = string.find(text, process.pid(), 1, true)
        if i then
            text = text:sub(1, i - 1) .. "<self>" .. text:sub(j + 1)
        end
        return text
    end }
    "#;
    let index = format!(
        "{HOSTS}  - {{ name: try, kind: process.lua, source: file://try.lua, method: main }}\n"
    );
    let t = SecApp::new(&index, &[("try.lua", TRY)]);
    let ctx = SpawnContext::default().with_principal(wippy_security::Principal::new(
        wippy_security::Actor::new("svc"),
        None,
    ));
    let r = exit_value(t.run_in("app:try", "app:users", vec![], ctx));
    assert_eq!(r, Payload::from("nil|not allowed to send: <self>"));
}

#[test]
fn security_objects_are_checked_where_they_are_taken_and_cannot_be_sent() {
    const MISUSE: &str = r#"
    local security = require("security")
    return { main = function()
        local out = {}
        local p, err = security.policy("app:nope")
        out.policy = tostring(p) .. "|" .. tostring(err)
        out.scope_of_strings = tostring(select(2, pcall(security.new_scope, { "app:user_policy" })))
        out.actor_string = tostring(select(2, pcall(function()
            return process.with_context({}):with_actor("root"):spawn("app:child", "app:users")
        end)))
        local ok, e = process.send(process.pid(), "t", { a = security.actor() })
        out.send = tostring(ok) .. "|" .. tostring(e)
        out.names = tostring(security.new_actor("system", { role = "x" })) .. " "
            .. tostring(security.new_scope({ security.policy("app:user_policy") }))
        return out
    end }
    "#;
    let index = format!(
        "{HOSTS}  - {{ name: misuse, kind: process.lua, source: file://misuse.lua, method: main, modules: [security] }}\n"
    );
    let t = SecApp::new(&index, &[("misuse.lua", MISUSE)]);
    let r = exit_value(t.run("app:misuse", "app:users", vec![]));
    assert_eq!(text(&r, "policy"), "nil|no security.policy app:nope");
    assert!(
        text(&r, "scope_of_strings").contains(
            "security.new_scope: policies[1]: expected a policy (security.policy), got string"
        ),
        "{r:?}"
    );
    assert!(
        text(&r, "actor_string").contains("with_actor: expected an actor"),
        "{r:?}"
    );
    assert_eq!(text(&r, "send"), "nil|payload.a: userdata cannot be sent");
    assert_eq!(text(&r, "names"), "actor: system scope: app:user_policy");
}
