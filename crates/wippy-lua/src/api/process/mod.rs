//! The `process` global: the running process's pid and entry id, sending,
//! spawning (`spawn.rs`), `exec`, the name registry, relations (links,
//! monitors), control (terminate, cancel), options, and the prelude's
//! inbox, events, listeners and upgrade. It also gives the prelude the
//! natives its mailbox pump and boot are built on (`rt.take`, `rt.recv`,
//! `rt.event`, `rt.completion`, `rt.boot_parts`, `rt.bind_env`,
//! `rt.spawn`, `rt.exec_spawn`).
//!
//! Destinations are pid strings or registered names. Failures a caller can
//! act on return `nil, err` with Wippy's kinds and texts (reference §2):
//! an unresolvable destination is NotFound `could not resolve '<d>' as PID
//! or registered name`, a denied action PermissionDenied `not allowed to
//! <action>: <d>`, a failed terminate, monitor or link Internal.

use std::time::SystemTime;

use mlua::{Lua, MultiValue, Table, Value};
use wippy_process::{ErrorKind, Event, ExitError, ExitResult, Payload, Pid};

use super::errors::{error_value, fail, fail_with};
use super::{Exports, ok_true, one};
use crate::convert::to_lua;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

pub(crate) mod cluster;
pub(crate) mod spawn;

use wippy_cluster::NameScope;

/// The scopes of `process.registry` (Wippy's float constants): `LOCAL`
/// names live on this node, the others in the cluster (`cluster.rs`).
const SCOPES: [(&str, f64); 4] = [
    ("LOCAL", 0.0),
    ("EVENTUAL", 1.0),
    ("CONSISTENT", 2.0),
    ("STRONG", 3.0),
];

/// Exports `process.spawn*` of one variant: the C function of
/// `ffi/spawn.rs` over the variant's general native.
fn spawn_native<const LINK: bool, const MONITOR: bool>(m: &mut Exports<'_>) -> mlua::Result<()> {
    use crate::ffi::spawn::{LocalSpawn, spawn_function};
    type V<const L: bool, const M: bool> = spawn::Variant<L, M>;
    let name = V::<LINK, MONITOR>::NAME
        .to_str()
        .expect("variant names are ASCII");
    let general = super::process_fn(m.lua(), spawn::variant(name, LINK, MONITOR))?;
    m.with_prelude(name, move |lua, prelude| {
        let settle: mlua::Function = prelude.get("settle")?;
        spawn_function::<V<LINK, MONITOR>>(lua, general, settle).map(mlua::Value::Function)
    });
    Ok(())
}

/// Lists `process.*` and the natives the prelude's process half reads.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.native("pid", pid)?;
    m.native("id", id)?;
    m.set("send", crate::ffi::send::send_function(m.lua())?)?;
    // The spawns and the registry's changes may cross the cluster: the
    // prelude's `settle` waits for such a call (`cluster.rs`); the spawns
    // are C functions that call it themselves (`ffi/spawn.rs`).
    spawn_native::<false, false>(m)?;
    spawn_native::<false, true>(m)?;
    spawn_native::<true, false>(m)?;
    spawn_native::<true, true>(m)?;
    m.prelude("exec");
    m.for_prelude("register_name", super::process_fn(m.lua(), register_name)?)?;
    m.for_prelude("unregister_name", super::process_fn(m.lua(), unregister)?)?;
    cluster::register(m)?;
    m.table("registry", |r| {
        r.prelude_as("register", "register_name");
        r.native("lookup", lookup)?;
        r.prelude_as("unregister", "unregister_name");
        for (name, value) in SCOPES {
            r.set(name, value)?;
        }
        Ok(())
    })?;
    m.table("event", |t| {
        t.set("EXIT", wippy_process::EXIT)?;
        t.set("CANCEL", wippy_process::CANCEL)?;
        t.set("LINK_DOWN", wippy_process::LINK_DOWN)
    })?;
    m.native("terminate", terminate)?;
    m.native("cancel", cancel)?;
    m.native("monitor", monitor)?;
    m.native("unmonitor", unmonitor)?;
    m.native("link", link)?;
    m.native("unlink", unlink)?;
    m.native("get_options", get_options)?;
    m.native("set_options", set_options)?;
    m.prelude("inbox");
    m.prelude("events");
    m.prelude("listen");
    m.prelude("unlisten");
    m.prelude("upgrade");
    m.prelude("with_context");
    m.prelude("with_options");

    m.for_prelude("boot_parts", super::process_fn(m.lua(), boot_parts)?)?;
    m.for_prelude("take", crate::ffi::receive::take_function(m.lua())?)?;
    m.for_prelude("recv", crate::ffi::receive::recv_function(m.lua())?)?;
    m.for_prelude("bind_env", crate::ffi::thread::bind_env_function(m.lua())?)?;
    m.for_prelude("event", super::process_fn(m.lua(), event)?)?;
    m.for_prelude("completion", super::process_fn(m.lua(), completion)?)?;
    m.for_prelude("spawn", super::process_fn(m.lua(), spawn::spawner)?)?;
    m.for_prelude("exec_spawn", super::process_fn(m.lua(), spawn::exec_spawn)?)?;
    Ok(())
}

/// `process.pid()`: the caller's pid string.
fn pid(_: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<String> {
    Ok(p.pid().to_string())
}

/// `process.id()`: the registry id of the entry the caller runs
/// (`"ns:name"`; after an upgrade, the new entry's).
fn id(_: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<String> {
    Ok(p.entry.borrow().id.to_string())
}

/// The failure of an action the caller may not take (Wippy's text; the
/// denial itself is in the audit log). `action` is the checked action,
/// shown without its `process.` prefix.
fn denied(lua: &Lua, action: &str, resource: &str) -> mlua::Result<MultiValue> {
    let action = action.strip_prefix("process.").unwrap_or(action);
    fail(
        lua,
        ErrorKind::PermissionDenied,
        format!("not allowed to {action}: {resource}"),
    )
}

/// A scope argument of `process.registry` (none: `LOCAL`); a bad one
/// fails as the caller sees it.
fn scope_arg(lua: &Lua, scope: &Value) -> Result<NameScope, mlua::Result<MultiValue>> {
    let n = match scope {
        Value::Nil => return Ok(NameScope::Local),
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        other => {
            return Err(fail(
                lua,
                ErrorKind::Invalid,
                format!(
                    "scope must be a number (process.registry.LOCAL, ...), got {}",
                    other.type_name()
                ),
            ));
        }
    };
    cluster::name_scope(n).ok_or_else(|| {
        fail(
            lua,
            ErrorKind::Invalid,
            format!("scope must be a number (process.registry.LOCAL, ...), got {n}"),
        )
    })
}

/// The cluster a scope other than `LOCAL` needs, or the caller's failure.
fn cluster_for(
    lua: &Lua,
    e: &ShardEnv,
    scope: NameScope,
) -> Result<wippy_cluster::Cluster, mlua::Result<MultiValue>> {
    e.host.cluster().ok_or_else(|| {
        let what = format!("registry scope {}", cluster::scope_name(scope));
        fail_with(lua, cluster::no_cluster(&what))
    })
}

/// The action a registry change is checked as: Wippy's, with the scope
/// (`process.registry.register.consistent`) for the cluster's.
fn scoped_action(action: &str, scope: NameScope) -> String {
    match scope {
        NameScope::Local => action.to_owned(),
        s => format!("{action}.{}", cluster::scope_name(s).to_ascii_lowercase()),
    }
}

/// `process.registry.register(name, pid?, scope?)` → `true` or `nil, err`:
/// names `pid` (the caller by default); naming the process that holds the
/// name already is `true`; checked as `process.registry.register` (with
/// the scope's suffix for the cluster's scopes). A cluster scope's
/// registration is a call across the cluster the prelude waits for: a
/// lost race is AlreadyExists, a node without its server Unavailable, a
/// STRONG name some node did not acknowledge Timeout.
fn register_name(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    (name, pid, scope): (String, Value, Value),
) -> mlua::Result<MultiValue> {
    let pid = match pid {
        Value::Nil => p.pid(),
        Value::String(s) => match s.to_str()?.parse::<Pid>() {
            Ok(pid) => pid,
            Err(err) => return fail(lua, ErrorKind::Invalid, format!("invalid pid: {err}")),
        },
        _ => return fail(lua, ErrorKind::Invalid, "pid must be a string"),
    };
    let scope = match scope_arg(lua, &scope) {
        Ok(s) => s,
        Err(failed) => return failed,
    };
    let cluster = match scope {
        NameScope::Local => None,
        s => match cluster_for(lua, e, s) {
            Ok(c) => Some(c),
            Err(failed) => return failed,
        },
    };
    let action = scoped_action("process.registry.register", scope);
    if p.check(e, &action, &name).is_err() {
        return fail(
            lua,
            ErrorKind::PermissionDenied,
            format!("not allowed to register name: {name}"),
        );
    }
    if let Some(c) = cluster {
        return cluster::pending(lua, c.register(&name, pid, scope), |r| match r {
            Ok(()) => Payload::Bool(true),
            Err(err) => cluster::failure(cluster::cluster_error(err)),
        });
    }
    match e.host.node.register(&name, pid) {
        Ok(()) => ok_true(),
        Err(wippy_process::Error::NameTaken { holder, .. }) if holder == pid => ok_true(),
        Err(err) => fail_with(lua, err.to_exit_error()),
    }
}

/// `process.registry.lookup(name)` → the pid string, or `nil, err`
/// NotFound `name not registered`: names of every scope, this node's
/// first (a local read: the cluster's names are followed as they change).
fn lookup(lua: &Lua, _: &ProcData, e: &ShardEnv, name: String) -> mlua::Result<MultiValue> {
    match e.host.lookup(&name) {
        Some(pid) => one(Value::String(lua.create_string(pid.to_string())?)),
        None => fail(lua, ErrorKind::NotFound, "name not registered"),
    }
}

/// `process.registry.unregister(name, scope?)` → whether a name was freed:
/// any `LOCAL` name; a name of the cluster's scopes only if the caller
/// holds it (Wippy's rule for CONSISTENT and STRONG, ours for EVENTUAL).
fn unregister(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    (name, scope): (String, Value),
) -> mlua::Result<MultiValue> {
    let scope = match scope_arg(lua, &scope) {
        Ok(s) => s,
        Err(failed) => return failed,
    };
    // Freeing another process's name is as strong as taking one: checked
    // as `process.registry.unregister`; a denial is `false`.
    let action = scoped_action("process.registry.unregister", scope);
    if p.check(e, &action, &name).is_err() {
        return one(Value::Boolean(false));
    }
    if scope == NameScope::Local {
        return one(Value::Boolean(e.host.node.unregister(&name)));
    }
    match cluster_for(lua, e, scope) {
        Ok(c) => cluster::pending(lua, c.unregister(&name, p.pid(), scope), Payload::Bool),
        Err(failed) => failed,
    }
}

/// Resolves a destination: a pid string or a registered name; else the
/// caller's `nil, err` (NotFound). A destination that is not a string
/// raises.
fn resolve(
    lua: &Lua,
    env: &ShardEnv,
    dest: &Value,
    func: &str,
) -> mlua::Result<Result<Pid, MultiValue>> {
    let Value::String(s) = dest else {
        return Err(mlua::Error::runtime(format!(
            "bad argument #1 to '{func}' (a pid or a registered name expected, got {})",
            dest.type_name()
        )));
    };
    let text = s.to_string_lossy();
    let pid = if text.starts_with('{') {
        text.parse::<Pid>().ok()
    } else {
        env.host.lookup(&text)
    };
    match pid {
        Some(pid) => Ok(Ok(pid)),
        None => Ok(Err(fail(
            lua,
            ErrorKind::NotFound,
            format!("could not resolve '{text}' as PID or registered name"),
        )?)),
    }
}

/// A destination's text, for messages.
fn shown(dest: &Value) -> String {
    match dest {
        Value::String(s) => s.to_string_lossy(),
        _ => String::new(),
    }
}

/// `process.terminate(dest)` → `true` or `nil, err` (Internal, e.g.
/// `process not found`).
fn terminate(lua: &Lua, p: &ProcData, e: &ShardEnv, dest: Value) -> mlua::Result<MultiValue> {
    let pid = match resolve(lua, e, &dest, "process.terminate")? {
        Ok(pid) => pid,
        Err(failed) => return Ok(failed),
    };
    if p.check_host(e, "process.terminate", pid.host()).is_err() {
        return denied(lua, "process.terminate", &shown(&dest));
    }
    let node = &e.host.node;
    let ended = match e.host.cluster() {
        // The other node checks `process.terminate` for the caller's
        // principal too: `Node::terminate` would ask as the runtime.
        Some(c) if pid.node() != node.node_id() && !pid.node().is_local() => {
            c.terminate_as(p.context.principal(), pid)
        }
        _ => node.terminate(pid),
    };
    match ended {
        Ok(()) => ok_true(),
        Err(err) => internal(lua, &err),
    }
}

/// `nil, err` of kind Internal with the text `err` has for Lua code.
fn internal(lua: &Lua, err: &wippy_process::Error) -> mlua::Result<MultiValue> {
    let text = err.to_exit_error().message().to_owned();
    fail(lua, ErrorKind::Internal, text)
}

/// `process.cancel(dest, reason?)` → `true` or `nil, err`: delivers a
/// CANCEL event with `reason` (`""` when absent). A process that has not
/// ended by its own host's `cancel_deadline` (the target's, not the
/// caller's: `App::cancel_deadline_of`) is then terminated (an addition
/// to Wippy, `docs/differences-from-wippy.md`).
fn cancel(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    (dest, reason): (Value, Value),
) -> mlua::Result<MultiValue> {
    let reason = match &reason {
        Value::Nil => String::new(),
        Value::String(s) => s.to_str()?.to_owned(),
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #2 to 'process.cancel' (a string reason expected, got {})",
                other.type_name()
            )));
        }
    };
    let pid = match resolve(lua, e, &dest, "process.cancel")? {
        Ok(pid) => pid,
        Err(failed) => return Ok(failed),
    };
    if p.check_host(e, "process.cancel", pid.host()).is_err() {
        return denied(lua, "process.cancel", &shown(&dest));
    }
    let within = cancel_deadline_of(e, pid);
    match e.host.node.cancel(Some(p.pid()), pid, within, &reason) {
        Ok(()) => ok_true(),
        Err(err) => internal(lua, &err),
    }
}

/// The `cancel_deadline` of the host `pid` lives on (the default once the
/// app is gone, at shutdown).
#[inline(never)]
fn cancel_deadline_of(e: &ShardEnv, pid: Pid) -> std::time::Duration {
    match e.host.app.upgrade() {
        Some(app) => app.cancel_deadline_of(pid),
        None => wippy_host::limits::DEFAULT_CANCEL_DEADLINE,
    }
}

/// A change to the caller's relations with a process.
#[derive(Clone, Copy)]
enum Relation {
    Monitor,
    Unmonitor,
    Link,
    Unlink,
}

/// `process.monitor(dest)` → `true` or `nil, err`.
fn monitor(lua: &Lua, p: &ProcData, e: &ShardEnv, dest: Value) -> mlua::Result<MultiValue> {
    relate(lua, p, e, dest, Relation::Monitor)
}

/// `process.unmonitor(dest)` → `true` or `nil, err`.
fn unmonitor(lua: &Lua, p: &ProcData, e: &ShardEnv, dest: Value) -> mlua::Result<MultiValue> {
    relate(lua, p, e, dest, Relation::Unmonitor)
}

/// `process.link(dest)` → `true` or `nil, err`.
fn link(lua: &Lua, p: &ProcData, e: &ShardEnv, dest: Value) -> mlua::Result<MultiValue> {
    relate(lua, p, e, dest, Relation::Link)
}

/// `process.unlink(dest)` → `true` or `nil, err`.
fn unlink(lua: &Lua, p: &ProcData, e: &ShardEnv, dest: Value) -> mlua::Result<MultiValue> {
    relate(lua, p, e, dest, Relation::Unlink)
}

fn relate(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    dest: Value,
    relation: Relation,
) -> mlua::Result<MultiValue> {
    let me = p.pid();
    let (func, action) = match relation {
        Relation::Monitor => ("process.monitor", Some("process.monitor")),
        Relation::Link => ("process.link", Some("process.link")),
        // Removing a relation only narrows what reaches the caller.
        Relation::Unmonitor => ("process.unmonitor", None),
        Relation::Unlink => ("process.unlink", None),
    };
    let pid = match resolve(lua, e, &dest, func)? {
        Ok(pid) => pid,
        Err(failed) => return Ok(failed),
    };
    if let Some(action) = action
        && p.check_host(e, action, pid.host()).is_err()
    {
        return denied(lua, action, &shown(&dest));
    }
    let node = &e.host.node;
    let r = match relation {
        Relation::Monitor => node.monitor(me, pid),
        Relation::Unmonitor => {
            node.unmonitor(me, pid);
            Ok(())
        }
        Relation::Link => node.link(me, pid),
        Relation::Unlink => {
            node.unlink(me, pid);
            Ok(())
        }
    };
    match r {
        Ok(()) => ok_true(),
        Err(err) => internal(lua, &err),
    }
}

/// `process.get_options()` → `{trap_links = bool}`.
fn get_options(lua: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("trap_links", p.cell.trap_links())?;
    Ok(t)
}

/// `process.set_options(t)` → `true`, or `false, err` (Invalid): `t` not a
/// table, `trap_links` not a boolean, or an option that does not exist
/// (the valid ones are applied all the same).
fn set_options(lua: &Lua, p: &ProcData, e: &ShardEnv, opts: Value) -> mlua::Result<MultiValue> {
    let refuse = |msg: String| -> mlua::Result<MultiValue> {
        let err = error_value(lua, ExitError::non_retryable(ErrorKind::Invalid, msg))?;
        Ok(MultiValue::from_vec(vec![Value::Boolean(false), err]))
    };
    let Value::Table(opts) = opts else {
        return refuse("options parameter must be a table".to_owned());
    };
    let mut unsupported = Vec::new();
    let mut trap = None;
    for pair in opts.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else { continue };
        match (&*k.to_str()?, v) {
            ("trap_links", Value::Boolean(b)) => trap = Some(b),
            ("trap_links", _) => return refuse("trap_links must be a boolean".to_owned()),
            (name, _) => unsupported.push(name.to_owned()),
        }
    }
    if let Some(t) = trap {
        e.host
            .node
            .set_trap_links(p.pid(), t)
            .map_err(mlua::Error::runtime)?;
    }
    if let Some(name) = unsupported.iter().min() {
        return refuse(format!("option {name} is not supported"));
    }
    ok_true()
}

/// `rt.boot_parts()` → state, chunk, method of the thread starting now.
fn boot_parts(
    _: &Lua,
    p: &ProcData,
    _: &ShardEnv,
    (): (),
) -> mlua::Result<(Table, mlua::Function, Value)> {
    p.boot
        .take()
        .map(|b| *b)
        .ok_or_else(|| mlua::Error::runtime("boot_parts: the process has started"))
}

/// `rt.event()` → the next lifecycle event as a table, or nil: `{kind,
/// from, at}` and `result` (EXIT, LINK_DOWN: `{value = v}` or `{error =
/// err}`) or `reason` (CANCEL), as Wippy's (reference §3). Built only when
/// the process reads its events.
fn event(lua: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<Value> {
    match p.cell.try_event() {
        None => Ok(Value::Nil),
        Some(ev) => Ok(Value::Table(event_table(lua, ev)?)),
    }
}

fn event_table(lua: &Lua, ev: Event) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 4)?;
    t.raw_set("kind", ev.kind())?;
    // Unix time in whole seconds, as a float (Wippy's).
    let at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs() as f64);
    t.raw_set("at", at)?;
    match ev {
        Event::Exit { from, result } => {
            t.raw_set("from", from.to_string())?;
            t.raw_set("result", result_table(lua, result)?)?;
        }
        Event::LinkDown { from, error } => {
            t.raw_set("from", from.to_string())?;
            t.raw_set("result", result_table(lua, Err(error))?)?;
        }
        Event::Cancel { from, reason, .. } => {
            t.raw_set("from", from.map(|f| f.to_string()).unwrap_or_default())?;
            t.raw_set("reason", reason.as_str())?;
        }
    }
    Ok(t)
}

/// An exit result as an event's `result`: `{value = v}` (`{}` for a clean
/// exit without a value) or `{error = err}`.
fn result_table(lua: &Lua, result: ExitResult) -> mlua::Result<Table> {
    let r = lua.create_table_with_capacity(0, 1)?;
    match result {
        Ok(v) => r.raw_set("value", to_lua(lua, &v)?)?,
        Err(e) => r.raw_set("error", error_value(lua, e)?)?,
    }
    Ok(r)
}

/// `rt.completion()` → the tag and value of the next completed operation
/// (a timer, a read, ...), or nil.
fn completion(lua: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<(Value, Value)> {
    match p.cell.try_completion() {
        None => Ok((Value::Nil, Value::Nil)),
        Some(c) => {
            // A one-shot timer is gone once it fired.
            p.with_timers(|timers| {
                if let Some(map) = timers.as_mut()
                    && map.get(&c.tag).is_some_and(|t| !t.1)
                {
                    map.remove(&c.tag);
                }
            });
            Ok((Value::Number(c.tag as f64), to_lua(lua, &c.value)?))
        }
    }
}
