//! The `process` global: the running process's pid, sending, spawning
//! (`spawn.rs`), the name registry, relations (links, monitors), control
//! (terminate, cancel), options, and the prelude's inbox, events, listeners
//! and upgrade. It also gives the prelude the natives its mailbox pump and
//! boot are built on (`rt.take`, `rt.recv`, `rt.event`, `rt.completion`,
//! `rt.boot_parts`, `rt.bind_env`, `rt.spawn`).
//!
//! Destinations are pid strings or registered names; failures a caller can
//! act on (an unknown name, a denied action, a dead process) return
//! `nil, err`.

use std::time::{Duration as StdDuration, Instant, SystemTime};

use mlua::{Lua, MultiValue, Table, Value};
use wippy_process::{Event, ExitResult, Pid};

use super::time::{Time, duration_arg};
use super::{Exports, err_pair, ok_true};
use crate::convert::to_lua;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

pub(crate) mod spawn;

/// Lists `process.*` and the natives the prelude's process half reads.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.native("pid", pid)?;
    m.native("id", pid)?;
    m.set("send", crate::ffi::send::send_function(m.lua())?)?;
    m.native("spawn", spawn::variant("spawn", false, false))?;
    m.native(
        "spawn_monitored",
        spawn::variant("spawn_monitored", false, true),
    )?;
    m.native("spawn_linked", spawn::variant("spawn_linked", true, false))?;
    m.native(
        "spawn_linked_monitored",
        spawn::variant("spawn_linked_monitored", true, true),
    )?;
    m.table("registry", |r| {
        r.native("register", register_name)?;
        r.native("lookup", lookup)?;
        r.native("unregister", unregister)
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
    Ok(())
}

/// `process.pid()` (also `process.id()`): the caller's pid string.
fn pid(_: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<String> {
    Ok(p.pid().to_string())
}

/// `process.registry.register(name, pid?)` → `true` or `nil, err`: names
/// `pid` (the caller by default); checked as `process.registry.register`.
fn register_name(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    (name, pid): (String, Option<String>),
) -> mlua::Result<MultiValue> {
    let pid = match pid {
        None => p.pid(),
        Some(s) => match s.parse::<Pid>() {
            Ok(pid) => pid,
            Err(err) => return err_pair(lua, err),
        },
    };
    if let Err(denied) = p.check(e, "process.registry.register", &name) {
        return err_pair(lua, denied);
    }
    match e.host.node.register(&name, pid) {
        Ok(()) => ok_true(),
        Err(err) => err_pair(lua, err),
    }
}

/// `process.registry.lookup(name)` → the pid string or `nil, err`.
fn lookup(lua: &Lua, _: &ProcData, e: &ShardEnv, name: String) -> mlua::Result<MultiValue> {
    match e.host.node.lookup(&name) {
        Some(pid) => Ok(MultiValue::from_vec(vec![Value::String(
            lua.create_string(pid.to_string())?,
        )])),
        None => err_pair(lua, format!("no process registered as {name:?}")),
    }
}

/// `process.registry.unregister(name)` → whether a name was freed.
fn unregister(_: &Lua, p: &ProcData, e: &ShardEnv, name: String) -> mlua::Result<bool> {
    // Freeing another process's name is as strong as taking one: checked
    // as `process.registry.unregister`; a denial is `false`.
    if p.check(e, "process.registry.unregister", &name).is_err() {
        return Ok(false);
    }
    Ok(e.host.node.unregister(&name))
}

/// Resolves a destination: a pid string or a registered name.
fn resolve(env: &ShardEnv, dest: &Value) -> Result<Pid, String> {
    match dest {
        Value::String(s) => {
            let text = s.to_string_lossy();
            if text.starts_with('{') {
                text.parse::<Pid>().map_err(|e| e.to_string())
            } else {
                env.host
                    .node
                    .lookup(&text)
                    .ok_or_else(|| format!("no process registered as {text:?}"))
            }
        }
        other => Err(format!(
            "destination must be a pid or a registered name, got {}",
            other.type_name()
        )),
    }
}

/// `process.terminate(dest)` → `true` or `nil, err`.
fn terminate(lua: &Lua, p: &ProcData, e: &ShardEnv, dest: Value) -> mlua::Result<MultiValue> {
    let pid = match resolve(e, &dest) {
        Ok(p) => p,
        Err(m) => return err_pair(lua, m),
    };
    if let Err(denied) = p.check_host(e, "process.terminate", pid.host()) {
        return err_pair(lua, denied);
    }
    match e.host.node.terminate(pid) {
        Ok(()) => ok_true(),
        Err(err) => err_pair(lua, err),
    }
}

/// `process.cancel(dest, deadline?)` → `true` or `nil, err`: asks `dest`
/// to stop within `deadline` (milliseconds or a duration; the host's
/// default when absent).
fn cancel(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    (dest, deadline): (Value, Option<Value>),
) -> mlua::Result<MultiValue> {
    let pid = match resolve(e, &dest) {
        Ok(p) => p,
        Err(m) => return err_pair(lua, m),
    };
    if let Err(denied) = p.check_host(e, "process.cancel", pid.host()) {
        return err_pair(lua, denied);
    }
    let within = match deadline {
        None | Some(Value::Nil) => e.host.config.cancel_deadline,
        Some(Value::Integer(ms)) => StdDuration::from_millis(ms.max(0) as u64),
        Some(Value::Number(ms)) => StdDuration::from_millis(ms.max(0.0) as u64),
        Some(other) => match duration_arg(&other) {
            Ok(d) => StdDuration::from_nanos(d.0.max(0) as u64),
            Err(m) => return Err(mlua::Error::runtime(format!("process.cancel: {m}"))),
        },
    };
    match e.host.node.cancel(Some(p.pid()), pid, within, "") {
        Ok(()) => ok_true(),
        Err(err) => err_pair(lua, err),
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
    let pid = match resolve(e, &dest) {
        Ok(p) => p,
        Err(m) => return err_pair(lua, m),
    };
    // Removing a relation only narrows what reaches the caller.
    let action = match relation {
        Relation::Monitor => Some("process.monitor"),
        Relation::Link => Some("process.link"),
        Relation::Unmonitor | Relation::Unlink => None,
    };
    if let Some(action) = action
        && let Err(denied) = p.check_host(e, action, pid.host())
    {
        return err_pair(lua, denied);
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
        Err(err) => err_pair(lua, err),
    }
}

/// `process.get_options()` → `{trap_links = bool}`.
fn get_options(lua: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("trap_links", p.cell.trap_links())?;
    Ok(t)
}

/// `process.set_options(t)` → `true`, or `false, err` naming an unknown
/// option or a wrong value.
fn set_options(lua: &Lua, p: &ProcData, e: &ShardEnv, opts: Table) -> mlua::Result<MultiValue> {
    let refuse = |msg: String| -> mlua::Result<MultiValue> {
        let msg = Value::String(lua.create_string(msg)?);
        Ok(MultiValue::from_vec(vec![Value::Boolean(false), msg]))
    };
    let mut unknown = Vec::new();
    let mut trap = None;
    for pair in opts.pairs::<Value, Value>() {
        let (k, v) = pair?;
        match (k.to_string()?.as_str(), v) {
            ("trap_links", Value::Boolean(b)) => trap = Some(b),
            ("trap_links", other) => {
                return refuse(format!(
                    "option trap_links must be a boolean, got {}",
                    other.type_name()
                ));
            }
            (name, _) => unknown.push(name.to_owned()),
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        return refuse(format!(
            "unknown option{} {} (known: trap_links)",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", ")
        ));
    }
    if let Some(t) = trap {
        e.host
            .node
            .set_trap_links(p.pid(), t)
            .map_err(mlua::Error::runtime)?;
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

/// `rt.event()` → the next lifecycle event as a table, or nil.
fn event(lua: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<Value> {
    match p.cell.try_event() {
        None => Ok(Value::Nil),
        Some(ev) => Ok(Value::Table(event_table(lua, &ev)?)),
    }
}

fn event_table(lua: &Lua, ev: &Event) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("kind", ev.kind())?;
    match ev {
        Event::Exit { from, result } => {
            t.raw_set("from", from.to_string())?;
            t.raw_set("result", result_table(lua, result)?)?;
        }
        Event::LinkDown { from, error } => {
            t.raw_set("from", from.to_string())?;
            let r = lua.create_table()?;
            r.raw_set("error", error.message())?;
            t.raw_set("result", r)?;
        }
        Event::Cancel { from, deadline, .. } => {
            if let Some(from) = from {
                t.raw_set("from", from.to_string())?;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            t.raw_set("deadline", Time::from_system(SystemTime::now() + left))?;
        }
    }
    Ok(t)
}

fn result_table(lua: &Lua, result: &ExitResult) -> mlua::Result<Table> {
    let r = lua.create_table()?;
    match result {
        Ok(v) => r.raw_set("value", to_lua(lua, v)?)?,
        Err(e) => r.raw_set("error", e.message())?,
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
