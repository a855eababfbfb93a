//! The Rust side of the Lua API: `process.*`, the runtime natives the
//! prelude builds on (`rt.*`), and the modules (`time`, `io`, `json`,
//! `logger`, `funcs`, `ctx`).
//!
//! Natives find the process they act for in [`ShardEnv::current`], which
//! the shard sets around every step. Failures return `nil, err`; wrong
//! argument types raise (see `lua-api.md`, conventions).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, SystemTime};

use ahash::AHashMap;
use mlua::{Function, Lua, MultiValue, Table, Value, Variadic};
use wippy_host::registry::EntryId;
use wippy_host::{ReadKind, SpawnContext, SpawnRequest};
use wippy_process::wippy_sched::TimerId;
use wippy_process::{
    Completion, Event, ExitResult, Payload, Pid, ProcessCell as Cell, SpawnOptions,
};

use crate::code::Compiled;
use crate::convert::{push_key, to_lua, to_payload};
use crate::time::{Time, duration_arg, positive};
use crate::vm::ShardEnv;

/// What the natives know of the running process.
/// A process's armed timers: op tag → (timer, periodic).
pub(crate) type TimerMap = AHashMap<u64, (TimerId, bool)>;

pub(crate) struct ProcData {
    pub(crate) cell: Arc<Cell>,
    pub(crate) entry: RefCell<Arc<Compiled>>,
    /// Timers the process armed, by op tag (cancelled when it ends).
    /// Allocated on first use: most processes arm none, and an empty map
    /// (with its hasher) costs 64 bytes per process.
    /// (`Cell`s of boxes, not `RefCell`s, here and below: a process is
    /// small, and this struct is most of its Rust state.)
    pub(crate) timers: std::cell::Cell<Option<Box<TimerMap>>>,
    /// What the `ctx` module reads: its spawner's context plus what the
    /// spawner added. Set at spawn; an upgrade keeps it (same `ProcData`).
    pub(crate) context: SpawnContext,
    /// The state table, fresh chunk and method name of the thread about to
    /// start (set at spawn and at upgrade, taken by the prelude's boot with
    /// `rt.boot_parts()`; see `proc.rs`).
    pub(crate) boot: std::cell::Cell<Option<Box<(Table, Function, Value)>>>,
    /// The peer this process sends to by pid string, once it has sent to
    /// it twice in a row (see `raw::send`).
    pub(crate) last_to: std::cell::Cell<Option<Box<LastTo>>>,
    /// The address of the pid string object of the last send that
    /// `last_to` did not serve (only compared: a hint that the next send
    /// repeats it).
    pub(crate) last_string: std::cell::Cell<*const std::ffi::c_void>,
}

/// A send destination remembered by the Lua string that named it.
///
/// Invariant: `string_ref` is a registry reference of the process's VM to
/// the string object at `string` (its address as `lua_topointer` gives it).
/// It keeps that string alive, so no other string has that address while
/// the entry exists: a string at `string` *is* that pid string (Luau
/// interns strings). Released in `ProcData::forget_peer`.
///
/// It also remembers the topic of the latest send to that peer, the same
/// way: `topic_ref` keeps the string object at `topic_string` alive, and
/// `topic` is its conversion (already checked not to be reserved).
pub(crate) struct LastTo {
    pub(crate) string: *const std::ffi::c_void,
    pub(crate) string_ref: std::ffi::c_int,
    pub(crate) cell: Arc<Cell>,
    pub(crate) topic_string: *const std::ffi::c_void,
    pub(crate) topic_ref: std::ffi::c_int,
    pub(crate) topic: wippy_process::Topic,
}

impl ProcData {
    /// Runs `f` on the process's timers (taken out of their cell for it).
    pub(crate) fn with_timers<R>(&self, f: impl FnOnce(&mut Option<Box<TimerMap>>) -> R) -> R {
        let mut timers = self.timers.take();
        let r = f(&mut timers);
        self.timers.set(timers);
        r
    }

    /// Runs `f` on the remembered send destination (see `raw::send`).
    pub(crate) fn with_last_to<R>(&self, f: impl FnOnce(&mut Option<Box<LastTo>>) -> R) -> R {
        let mut last = self.last_to.take();
        let r = f(&mut last);
        self.last_to.set(last);
        r
    }

    /// Drops the remembered send destination and the references that kept
    /// its strings alive.
    ///
    /// # Safety
    /// `l` is a state of this process's VM, on the thread running it.
    pub(crate) unsafe fn forget_peer(&self, l: *mut mlua::ffi::lua_State) {
        if let Some(last) = self.last_to.take() {
            // SAFETY: the references belong to this VM (see `LastTo`).
            unsafe {
                mlua::ffi::lua_unref(l, last.string_ref);
                mlua::ffi::lua_unref(l, last.topic_ref);
            }
        }
    }

    pub(crate) fn pid(&self) -> Pid {
        self.cell.pid()
    }

    /// Whether this process may do `action` on `resource`: its principal
    /// decides, inside its host's boundary (`spec/security.md`). A denial
    /// is logged as an audit event and returned as the `nil, err` text. The
    /// unrestricted system, on a host without policies, passes at once.
    #[inline(always)]
    pub(crate) fn check(&self, env: &ShardEnv, action: &str, resource: &str) -> Result<(), String> {
        if self.unchecked(env) {
            return Ok(());
        }
        self.decide(env, action, resource)
    }

    /// [`ProcData::check`] on a host (the resource of sends, cancels,
    /// links...), whose name is looked up only when there is something to
    /// decide.
    #[inline(always)]
    pub(crate) fn check_host(
        &self,
        env: &ShardEnv,
        action: &str,
        host: wippy_process::HostId,
    ) -> Result<(), String> {
        if self.unchecked(env) {
            return Ok(());
        }
        host.with_name(|name| self.decide(env, action, name))
    }

    /// The check itself, out of the way of the common case.
    #[cold]
    #[inline(never)]
    fn decide(&self, env: &ShardEnv, action: &str, resource: &str) -> Result<(), String> {
        let boundary = env.host.config.security.boundary.as_ref();
        self.context
            .principal()
            .check(boundary, action, resource, self.pid())
            .map_err(|denied| denied.to_string())
    }

    /// Whether every check passes at once: the unrestricted system on a
    /// host without policies.
    #[inline(always)]
    fn unchecked(&self, env: &ShardEnv) -> bool {
        self.context.principal().is_unrestricted() && env.host.config.security.boundary.is_none()
    }

    /// Cancels every timer still armed.
    pub(crate) fn cancel_timers(&self, env: &ShardEnv) {
        let timers = env.host.node.timers();
        for (_, (id, _)) in self.timers.take().into_iter().flat_map(|m| *m) {
            timers.cancel(id);
        }
    }
}

fn err_pair(lua: &Lua, msg: impl std::fmt::Display) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::String(lua.create_string(msg.to_string())?),
    ]))
}

fn ok_true() -> mlua::Result<MultiValue> {
    one(Value::Boolean(true))
}

/// A success result: the value alone (no trailing `nil` for `err`, so
/// `t[#t+1] = f()` and `print(f())` see one value).
fn one(v: Value) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![v]))
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
        Event::Cancel { from, deadline } => {
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

/// `rt`: the natives the prelude builds on.
pub(crate) fn runtime_table(lua: &Lua, env: &Rc<ShardEnv>) -> mlua::Result<Table> {
    let rt = lua.create_table()?;
    let nil = lua.create_table()?;
    nil.set_readonly(true);
    rt.set("nil_sentinel", nil)?;

    // rt.boot_parts() -> state, chunk, method of the thread starting now.
    let e = env.clone();
    rt.set(
        "boot_parts",
        lua.create_function(move |_, ()| {
            let parts = e.current()?.boot.take();
            parts
                .map(|b| *b)
                .ok_or_else(|| mlua::Error::runtime("boot_parts: the process has started"))
        })?,
    )?;
    // SAFETY: `raw::take` follows the C function protocol of the Luau API.
    rt.set("take", unsafe { lua.create_c_function(crate::raw::take)? })?;
    // SAFETY: as above (a yielding C function returns lua_yield's value).
    rt.set("recv", unsafe { lua.create_c_function(crate::raw::recv)? })?;
    // SAFETY: as above.
    rt.set("bind_env", unsafe {
        lua.create_c_function(crate::raw::bind_env)?
    })?;
    let e = env.clone();
    rt.set(
        "event",
        lua.create_function(move |lua, ()| {
            let p = e.current()?;
            match p.cell.try_event() {
                None => Ok(Value::Nil),
                Some(ev) => Ok(Value::Table(event_table(lua, &ev)?)),
            }
        })?,
    )?;

    let e = env.clone();
    rt.set(
        "completion",
        lua.create_function(move |lua, ()| {
            let p = e.current()?;
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
        })?,
    )?;

    let e = env.clone();
    rt.set(
        "timer",
        lua.create_function(move |_, (tag, d, periodic): (u64, Value, Option<bool>)| {
            let p = e.current()?;
            let d = duration_arg(&d).map_err(mlua::Error::runtime)?;
            let d = positive(d, "timer").map_err(mlua::Error::runtime)?;
            let cell = p.cell.clone();
            let fire = move || {
                cell.complete(Completion {
                    tag,
                    value: Payload::Nil,
                });
                cell.is_alive()
            };
            let timers = e.host.node.timers();
            let id = if periodic == Some(true) {
                timers.every(d, fire)
            } else {
                timers.after(d, move || {
                    fire();
                })
            };
            p.with_timers(|t| {
                t.get_or_insert_with(Default::default)
                    .insert(tag, (id, periodic == Some(true)))
            });
            Ok(true)
        })?,
    )?;

    let e = env.clone();
    rt.set(
        "cancel_timer",
        lua.create_function(move |_, tag: u64| {
            let p = e.current()?;
            let removed = p.with_timers(|t| t.as_mut().and_then(|m| m.remove(&tag)));
            if let Some((id, _)) = removed {
                e.host.node.timers().cancel(id);
            }
            Ok(())
        })?,
    )?;

    rt.set("now", lua.create_function(|_, ()| Ok(Time::now()))?)?;
    rt.set(
        "load_text",
        lua.create_function(
            |lua, (text, name, env): (mlua::LuaString, Option<String>, Table)| {
                let bytes = text.as_bytes();
                if bytes.first() == Some(&0x1b) || bytes.first().is_some_and(|b| *b < 9) {
                    return Ok((
                        Value::Nil,
                        Value::String(lua.create_string("load: binary chunks cannot be loaded")?),
                    ));
                }
                match lua
                    .load(&*bytes)
                    .set_name(format!("={}", name.as_deref().unwrap_or("loadstring")))
                    .set_mode(mlua::chunk::ChunkMode::Text)
                    .set_environment(env)
                    .into_function()
                {
                    Ok(f) => Ok((Value::Function(f), Value::Nil)),
                    Err(e) => Ok((Value::Nil, Value::String(lua.create_string(e.to_string())?))),
                }
            },
        )?,
    )?;

    // rt.spawn(method, spawner, entry, host, ...): the Spawner methods
    // (the spawner's `options`, `context`, `actor` and `scope` fields).
    let e = env.clone();
    rt.set(
        "spawn",
        lua.create_function(
            move |lua,
                  (method, spawner, entry, host, args): (
                String,
                Table,
                String,
                String,
                Variadic<Value>,
            )| {
                let options: Option<Table> = spawner.raw_get("options")?;
                let context: Option<Value> = spawner.raw_get("context")?;
                let (actor, scope) = (spawner.raw_get("actor")?, spawner.raw_get("scope")?);
                let added = match context.as_ref().map(context_values) {
                    None => Vec::new(),
                    Some(Ok(values)) => values,
                    Some(Err(err)) => return err_pair(lua, format!("process.{method}: {err}")),
                };
                let grant = Grant {
                    actor: granted::<crate::security::LuaActor>(actor, "actor")?.map(|a| a.0),
                    scope: granted::<crate::security::LuaScope>(scope, "scope")?.map(|s| s.0),
                };
                let (link, monitor) = match method.as_str() {
                    "spawn" => (false, false),
                    "spawn_monitored" => (false, true),
                    "spawn_linked" => (true, false),
                    _ => (true, true),
                };
                spawn_with(
                    lua,
                    &e,
                    &method,
                    options.as_ref(),
                    &entry,
                    &host,
                    &args,
                    (added, grant),
                    link,
                    monitor,
                )
            },
        )?,
    )?;

    // rt.spawn_fn(entry, ...): funcs.call's process, monitored, on this host.
    let e = env.clone();
    rt.set(
        "spawn_fn",
        lua.create_function(move |lua, (entry, args): (String, Variadic<Value>)| {
            let id: EntryId = match entry.parse() {
                Ok(id) => id,
                Err(err) => return err_pair(lua, format!("funcs.call: {err}")),
            };
            match e.host.code.get(&id) {
                Ok(code) if code.kind == wippy_host::registry::EntryKind::FunctionLua => {}
                Ok(code) => {
                    return err_pair(
                        lua,
                        format!("funcs.call: {id} is a {}, not a function.lua", code.kind),
                    );
                }
                Err(err) => return err_pair(lua, format!("funcs.call: {err}")),
            }
            let host = e.host.name.clone();
            spawn(lua, &e, "funcs.call", &entry, &host, &args, false, true)
        })?,
    )?;
    rt.set(
        "duration_ns",
        lua.create_function(|_, v: Value| {
            duration_arg(&v).map(|d| d.0).map_err(mlua::Error::runtime)
        })?,
    )?;

    // require(name, env): a module table, or a library chunk to run.
    let e = env.clone();
    rt.set(
        "require",
        lua.create_function(move |_, (name, penv): (String, Table)| {
            let p = e.current()?;
            let entry = p.entry.borrow().clone();
            if let Some(lib) = entry.imports.get(&name) {
                let code = e.host.code.get(lib).map_err(mlua::Error::runtime)?;
                if code.kind != wippy_host::registry::EntryKind::LibraryLua {
                    return Err(mlua::Error::runtime(format!(
                        "require({name:?}): {lib} is a {}, not a library.lua",
                        code.kind
                    )));
                }
                return Ok(("chunk", Value::Table(library_loader(&e, &code, &penv)?)));
            }
            if name == "io" && e.host.config.terminal.is_none() {
                return Err(mlua::Error::runtime(format!(
                    "require(\"io\"): host {} does not grant module io (only a terminal.host does)",
                    e.host.name
                )));
            }
            let modules = e.modules.borrow();
            let lookup = if name == "logger" { "logger_holder" } else { name.as_str() };
            let Some(module) = modules.get(lookup) else {
                return Err(mlua::Error::runtime(format!(
                    "require({name:?}): no such module (built-in modules: {}; libraries come from the entry's imports)",
                    wippy_host::BUILTIN_MODULES.join(", ")
                )));
            };
            let module: Value = if name == "logger" {
                module.get("logger")?
            } else {
                Value::Table(module.clone())
            };
            if !entry.modules.iter().any(|m| m == &name) {
                return Err(mlua::Error::runtime(format!(
                    "require({name:?}): module {name} is not listed under `modules` of entry {}",
                    entry.id
                )));
            }
            if !e.host.config.modules.allows(&name) || (name == "io" && e.host.config.terminal.is_none()) {
                return Err(mlua::Error::runtime(format!(
                    "require({name:?}): host {} does not grant module {name}{}",
                    e.host.name,
                    if name == "io" { " (only a terminal.host grants io)" } else { "" }
                )));
            }
            // The entry's `modules` and the host's module set allow the
            // load; a deny policy can still refuse it.
            let boundary = e.host.config.security.boundary.as_ref();
            if let Err(denied) = p.context.principal().veto(boundary, "module.require", &name, p.pid()) {
                return Err(mlua::Error::runtime(format!("require({name:?}): {denied}")));
            }
            Ok(("module", module))
        })?,
    )?;
    Ok(rt)
}

/// Returns `{fn = chunk}` for a library bound to the process environment.
fn library_loader(env: &ShardEnv, code: &Compiled, penv: &Table) -> mlua::Result<Table> {
    let _ = env;
    let lua = penv.weak_lua().upgrade();
    let f = lua
        .load(&code.bytecode[..])
        .set_name(&code.chunk_name)
        .set_mode(mlua::chunk::ChunkMode::Binary)
        .set_environment(penv.clone())
        .into_function()?;
    let t = lua.create_table()?;
    t.set("fn", f)?;
    Ok(t)
}

/// Adds `process`, `channel`, `coroutine.spawn`, `require`, `print` to the
/// globals.
pub(crate) fn install_globals(
    lua: &Lua,
    env: &Rc<ShardEnv>,
    g: &Table,
    _rt: &Table,
    prelude: &Table,
) -> mlua::Result<()> {
    let process = lua.create_table()?;

    let e = env.clone();
    process.set(
        "pid",
        lua.create_function(move |_, ()| Ok(e.current()?.pid().to_string()))?,
    )?;
    let e = env.clone();
    process.set(
        "id",
        lua.create_function(move |_, ()| Ok(e.current()?.pid().to_string()))?,
    )?;

    // SAFETY: `raw::send` follows the C function protocol of the Luau API.
    process.set("send", unsafe { lua.create_c_function(crate::raw::send)? })?;

    for (name, link, monitor) in [
        ("spawn", false, false),
        ("spawn_monitored", false, true),
        ("spawn_linked", true, false),
        ("spawn_linked_monitored", true, true),
    ] {
        let e = env.clone();
        process.set(
            name,
            lua.create_function(
                move |lua, (entry, host, args): (String, String, Variadic<Value>)| {
                    spawn(lua, &e, name, &entry, &host, &args, link, monitor)
                },
            )?,
        )?;
    }

    let registry = lua.create_table()?;
    let e = env.clone();
    registry.set(
        "register",
        lua.create_function(move |lua, (name, pid): (String, Option<String>)| {
            let p = e.current()?;
            let pid = match pid {
                None => p.pid(),
                Some(s) => match s.parse::<Pid>() {
                    Ok(pid) => pid,
                    Err(err) => return err_pair(lua, err),
                },
            };
            if let Err(denied) = p.check(&e, "process.registry.register", &name) {
                return err_pair(lua, denied);
            }
            match e.host.node.register(&name, pid) {
                Ok(()) => ok_true(),
                Err(err) => err_pair(lua, err),
            }
        })?,
    )?;
    let e = env.clone();
    registry.set(
        "lookup",
        lua.create_function(move |lua, name: String| match e.host.node.lookup(&name) {
            Some(pid) => Ok(MultiValue::from_vec(vec![Value::String(
                lua.create_string(pid.to_string())?,
            )])),
            None => err_pair(lua, format!("no process registered as {name:?}")),
        })?,
    )?;
    let e = env.clone();
    registry.set(
        "unregister",
        lua.create_function(move |_, name: String| {
            // Freeing another process's name is as strong as taking one:
            // checked as `process.registry.unregister`; a denial is `false`.
            let p = e.current()?;
            if p.check(&e, "process.registry.unregister", &name).is_err() {
                return Ok(false);
            }
            Ok(e.host.node.unregister(&name))
        })?,
    )?;
    process.set("registry", registry)?;

    let event = lua.create_table()?;
    event.set("EXIT", wippy_process::EXIT)?;
    event.set("CANCEL", wippy_process::CANCEL)?;
    event.set("LINK_DOWN", wippy_process::LINK_DOWN)?;
    process.set("event", event)?;

    // Relations and control.
    let e = env.clone();
    process.set(
        "terminate",
        lua.create_function(move |lua, dest: Value| {
            let pid = match resolve(&e, &dest) {
                Ok(p) => p,
                Err(m) => return err_pair(lua, m),
            };
            if let Err(denied) = e.current()?.check_host(&e, "process.terminate", pid.host()) {
                return err_pair(lua, denied);
            }
            match e.host.node.terminate(pid) {
                Ok(()) => ok_true(),
                Err(err) => err_pair(lua, err),
            }
        })?,
    )?;
    let e = env.clone();
    process.set(
        "cancel",
        lua.create_function(move |lua, (dest, deadline): (Value, Option<Value>)| {
            let p = e.current()?;
            let pid = match resolve(&e, &dest) {
                Ok(p) => p,
                Err(m) => return err_pair(lua, m),
            };
            if let Err(denied) = p.check_host(&e, "process.cancel", pid.host()) {
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
            match e.host.node.cancel(Some(p.pid()), pid, within) {
                Ok(()) => ok_true(),
                Err(err) => err_pair(lua, err),
            }
        })?,
    )?;
    for name in ["monitor", "unmonitor", "link", "unlink"] {
        let e = env.clone();
        process.set(
            name,
            lua.create_function(move |lua, dest: Value| {
                let p = e.current()?;
                let me = p.pid();
                let pid = match resolve(&e, &dest) {
                    Ok(p) => p,
                    Err(m) => return err_pair(lua, m),
                };
                // Removing a relation only narrows what reaches the caller.
                let action = match name {
                    "monitor" => Some("process.monitor"),
                    "link" => Some("process.link"),
                    _ => None,
                };
                if let Some(action) = action
                    && let Err(denied) = p.check_host(&e, action, pid.host())
                {
                    return err_pair(lua, denied);
                }
                let node = &e.host.node;
                let r = match name {
                    "monitor" => node.monitor(me, pid),
                    "unmonitor" => {
                        node.unmonitor(me, pid);
                        Ok(())
                    }
                    "link" => node.link(me, pid),
                    _ => {
                        node.unlink(me, pid);
                        Ok(())
                    }
                };
                match r {
                    Ok(()) => ok_true(),
                    Err(err) => err_pair(lua, err),
                }
            })?,
        )?;
    }
    let e = env.clone();
    process.set(
        "get_options",
        lua.create_function(move |lua, ()| {
            let p = e.current()?;
            let t = lua.create_table()?;
            t.set("trap_links", p.cell.trap_links())?;
            Ok(t)
        })?,
    )?;
    let e = env.clone();
    process.set(
        "set_options",
        lua.create_function(move |lua, opts: Table| {
            let p = e.current()?;
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
        })?,
    )?;

    for name in [
        "inbox",
        "events",
        "listen",
        "unlisten",
        "upgrade",
        "with_context",
        "with_options",
    ] {
        process.set(name, prelude.get::<Function>(name)?)?;
    }
    g.set("process", process)?;

    g.set("channel", prelude.get::<Table>("channel")?)?;
    let co: Table = g.get("coroutine")?;
    let co2 = lua.create_table()?;
    for pair in co.pairs::<Value, Value>() {
        let (k, v) = pair?;
        co2.set(k, v)?;
    }
    co2.set("spawn", prelude.get::<Function>("spawn_coroutine")?)?;
    // resume/wrap hand a preemption of the coroutine up to its resumer
    co2.set("resume", prelude.get::<Function>("resume_coroutine")?)?;
    co2.set("wrap", prelude.get::<Function>("wrap_coroutine")?)?;
    g.set("coroutine", co2)?;
    g.set("require", prelude.get::<Function>("require")?)?;
    // Errors of Rust natives are caught as strings (see the prelude).
    g.set("pcall", prelude.get::<Function>("pcall")?)?;
    g.set("xpcall", prelude.get::<Function>("xpcall")?)?;
    g.set("loadstring", prelude.get::<Function>("loadstring")?)?;
    g.set("load", prelude.get::<Function>("loadstring")?)?;

    // print: the terminal on the terminal host, the log elsewhere.
    let e = env.clone();
    g.set(
        "print",
        lua.create_function(move |_, args: Variadic<Value>| {
            let text = join(&args, "\t")?;
            match &e.host.config.terminal {
                Some(t) => {
                    let _ = t.write(format!("{text}\n").as_bytes());
                }
                None => {
                    let pid = e.current().map(|p| p.pid().to_string()).unwrap_or_default();
                    tracing::info!(target: "lua", pid = %pid, "{text}");
                }
            }
            Ok(())
        })?,
    )?;
    Ok(())
}

fn join(args: &[Value], sep: &str) -> mlua::Result<String> {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&v.to_string()?);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn spawn(
    lua: &Lua,
    env: &ShardEnv,
    what: &str,
    entry: &str,
    host: &str,
    args: &[Value],
    link: bool,
    monitor: bool,
) -> mlua::Result<MultiValue> {
    // Nothing added: the child inherits the caller's context unchanged.
    let inherit = (Vec::new(), Grant::default());
    spawn_with(
        lua, env, what, None, entry, host, args, inherit, link, monitor,
    )
}

/// What a Spawner gives a child instead of the spawner's own actor and
/// scope (`with_actor`, `with_scope`; `None`: inherited).
#[derive(Default)]
struct Grant {
    actor: Option<wippy_security::Actor>,
    scope: Option<wippy_security::Scope>,
}

/// A Spawner's actor or scope object (`nil`: none given).
fn granted<T: crate::security::Object>(v: Option<Value>, what: &str) -> mlua::Result<Option<T>> {
    match v {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => T::take(v)
            .map(Some)
            .map_err(|e| mlua::Error::runtime(format!("with_{what}: {e}"))),
    }
}

/// The values of a Spawner's context table: string keys, values converted
/// as message payloads (errors name the path, e.g. `context.x: function
/// cannot be sent`).
fn context_values(ctx: &Value) -> Result<Vec<(String, Payload)>, String> {
    let pairs = match to_payload(ctx, "context")? {
        Payload::Map(pairs) => pairs,
        Payload::Array(_) => return Err("context[1]: context keys must be strings".into()),
        _ => return Err("context: expected a table".into()),
    };
    pairs
        .into_iter()
        .map(|(k, v)| match k {
            Payload::Str(s) => Ok((s.into(), v)),
            other => {
                let mut path = String::from("context");
                match &other {
                    Payload::Bool(b) => path.push_str(&format!("[{b}]")),
                    Payload::Float(f) => path.push_str(&format!("[{f}]")),
                    Payload::Bytes(b) => {
                        path.push_str(&format!("[{:?}]", String::from_utf8_lossy(b)))
                    }
                    _ => push_key(&mut path, &other),
                }
                Err(format!("{path}: context keys must be strings"))
            }
        })
        .collect()
}

/// Spawner options a child may be started with.
fn spawn_options(options: Option<&Table>) -> Result<bool, String> {
    let mut trap = false;
    if let Some(t) = options {
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair.map_err(|e| e.to_string())?;
            match (k.to_string().unwrap_or_default().as_str(), v) {
                ("trap_links", Value::Boolean(b)) => trap = b,
                ("trap_links", other) => {
                    return Err(format!(
                        "option trap_links must be a boolean, got {}",
                        other.type_name()
                    ));
                }
                (name, _) => {
                    return Err(format!("unknown spawn option {name} (known: trap_links)"));
                }
            }
        }
    }
    Ok(trap)
}

/// Spawns `entry` on `host` for the running process. `context` is what a
/// Spawner adds to the caller's context values (the child gets the merge)
/// and the actor and scope it gives the child instead of the caller's.
///
/// Checked (`spec/security.md`): `process.spawn` on the entry,
/// `process.spawn.host` on the host, and, when the child gets another
/// actor or scope, that the caller may grant them.
#[allow(clippy::too_many_arguments)]
fn spawn_with(
    lua: &Lua,
    env: &ShardEnv,
    what: &str,
    options: Option<&Table>,
    entry: &str,
    host: &str,
    args: &[Value],
    (context, grant): (Vec<(String, Payload)>, Grant),
    link: bool,
    monitor: bool,
) -> mlua::Result<MultiValue> {
    let p = env.current()?;
    let trap = match spawn_options(options) {
        Ok(t) => t,
        Err(e) => return err_pair(lua, format!("process.{what}: {e}")),
    };
    let entry: EntryId = match entry.parse() {
        Ok(id) => id,
        Err(e) => return err_pair(lua, format!("process.{what}: {e}")),
    };
    let mut payloads = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        // The path is named only on failure (no string per argument).
        match to_payload(a, "") {
            Ok(v) => payloads.push(v),
            Err(e) => return err_pair(lua, format!("process.{what}: args[{}]{e}", i + 1)),
        }
    }
    let Some(app) = env.host.app.upgrade() else {
        return err_pair(lua, "the app is shutting down");
    };
    for (action, resource) in [
        ("process.spawn", entry.as_str()),
        ("process.spawn.host", host),
    ] {
        if let Err(denied) = p.check(env, action, resource) {
            return err_pair(lua, denied);
        }
    }
    // The child's context: ours, with what the Spawner added.
    let mut child = p.context.with(context);
    if grant.actor.is_some() || grant.scope.is_some() {
        let mine = p.context.principal();
        let principal = wippy_security::Principal::new(
            grant.actor.unwrap_or_else(|| mine.actor()),
            grant.scope.or_else(|| mine.scope().cloned()),
        );
        let boundary = env.host.config.security.boundary.as_ref();
        if let Err(denied) = mine.may_grant(boundary, &principal, p.pid()) {
            return err_pair(lua, denied);
        }
        child = child.with_principal(principal);
    }
    let mut opts = SpawnOptions::default().parent(p.pid());
    if link {
        opts = opts.linked();
    }
    if monitor {
        opts = opts.monitored();
    }
    opts.trap_links = trap;
    let req = SpawnRequest {
        entry,
        args: payloads,
        opts,
        context: child,
    };
    match app.spawn(host, req) {
        Ok(pid) => {
            let mut text = String::with_capacity(32);
            pid.write_to(&mut text);
            Ok(MultiValue::from_vec(vec![Value::String(
                lua.create_string(text)?,
            )]))
        }
        Err(e) => err_pair(lua, format!("process.{what}: {e}")),
    }
}

/// Builds the module tables (`time`, `io`, ...) of a VM.
pub(crate) fn build_modules(
    lua: &Lua,
    env: &Rc<ShardEnv>,
    rt: &Table,
    prelude: &Table,
) -> mlua::Result<()> {
    let mut modules = env.modules.borrow_mut();

    let time = lua.create_table()?;
    time.set("sleep", prelude.get::<Function>("sleep")?)?;
    time.set("after", prelude.get::<Function>("after")?)?;
    time.set("ticker", prelude.get::<Function>("ticker")?)?;
    time.set("timer", prelude.get::<Function>("timer")?)?;
    time.set("now", rt.get::<Function>("now")?)?;
    time.set(
        "unix",
        lua.create_function(|_, (sec, nsec): (i64, Option<i64>)| {
            Ok(Time(
                sec as i128 * 1_000_000_000 + nsec.unwrap_or(0) as i128,
            ))
        })?,
    )?;
    time.set(
        "parse_duration",
        lua.create_function(|lua, v: Value| match duration_arg(&v) {
            Ok(d) => one(Value::UserData(lua.create_userdata(d)?)),
            Err(e) => err_pair(lua, e),
        })?,
    )?;
    for (name, ns) in [
        ("NANOSECOND", 1i64),
        ("MICROSECOND", 1_000),
        ("MILLISECOND", 1_000_000),
        ("SECOND", 1_000_000_000),
        ("MINUTE", 60_000_000_000),
        ("HOUR", 3_600_000_000_000),
    ] {
        time.set(name, ns)?;
    }
    modules.insert("time", time);

    let funcs = lua.create_table()?;
    funcs.set("call", prelude.get::<Function>("call")?)?;
    modules.insert("funcs", funcs);

    let json = lua.create_table()?;
    json.set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let json = to_payload(&v, "value").and_then(|p| crate::json::to_json(&p, "value"));
            match json {
                Ok(json) => one(Value::String(lua.create_string(json.to_string())?)),
                Err(e) => err_pair(lua, e),
            }
        })?,
    )?;
    json.set(
        "decode",
        lua.create_function(|lua, s: mlua::LuaString| {
            match serde_json::from_slice::<serde_json::Value>(&s.as_bytes()) {
                Ok(v) => one(to_lua(lua, &crate::json::from_json(v))?),
                Err(e) => err_pair(
                    lua,
                    format!(
                        "json: {} at line {} column {}",
                        crate::json::describe(&e),
                        e.line(),
                        e.column()
                    ),
                ),
            }
        })?,
    )?;
    modules.insert("json", json);

    modules.insert("ctx", crate::ctx::module(lua, env)?);
    modules.insert("security", crate::security::module(lua, env)?);

    let logger = lua.create_userdata(crate::logger::Logger::new(env.clone()))?;
    let holder = lua.create_table()?;
    holder.set("logger", logger)?;
    modules.insert("logger_holder", holder);

    if let Some(term) = env.host.config.terminal.clone() {
        let io = lua.create_table()?;
        let t = term.clone();
        io.set(
            "print",
            lua.create_function(move |_, args: Variadic<Value>| {
                let text = join(&args, "\t")? + "\n";
                t.write(text.as_bytes()).map_err(mlua::Error::runtime)?;
                Ok(())
            })?,
        )?;
        let t = term.clone();
        io.set(
            "write",
            lua.create_function(move |_, args: Variadic<Value>| {
                t.write(join(&args, "")?.as_bytes())
                    .map_err(mlua::Error::runtime)?;
                Ok(())
            })?,
        )?;
        let t = term.clone();
        io.set(
            "eprint",
            lua.create_function(move |_, args: Variadic<Value>| {
                let text = join(&args, "\t")? + "\n";
                t.ewrite(text.as_bytes()).map_err(mlua::Error::runtime)?;
                Ok(())
            })?,
        )?;
        io.set("flush", lua.create_function(|_, ()| Ok(true))?)?;
        let t = term.clone();
        io.set(
            "args",
            lua.create_function(move |lua, ()| lua.create_sequence_from(t.args().iter().cloned()))?,
        )?;
        // A blocking read on the pool, completing the op `tag`: `what` is
        // nil (a line), "a" (all input) or a byte count.
        let e = env.clone();
        let t = term.clone();
        let start = lua.create_function(move |lua, (tag, what): (u64, Value)| {
            let kind = match what {
                Value::Nil => ReadKind::Line,
                Value::String(s) if s.as_bytes().as_ref() == b"a" => ReadKind::All,
                Value::Integer(n) if n >= 0 => ReadKind::Bytes(n as usize),
                Value::Number(n) if n >= 0.0 && n.fract() == 0.0 => ReadKind::Bytes(n as usize),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "io.read: bad format {}",
                        other.type_name()
                    )));
                }
            };
            let p = e.current()?;
            let cell = p.cell.clone();
            let r = t.read(e.host.node.blocking(), kind, move |read| {
                let value = match read {
                    Ok(Some(bytes)) => match String::from_utf8(bytes) {
                        Ok(text) => Payload::Str(text.into()),
                        Err(e) => Payload::Bytes(e.into_bytes()),
                    },
                    Ok(None) => Payload::Nil,
                    Err(err) => Payload::map([("error", Payload::Str(err.to_string().into()))]),
                };
                cell.complete(Completion { tag, value });
            });
            match r {
                Ok(()) => ok_true(),
                Err(err) => err_pair(lua, err),
            }
        })?;
        let (readline, read): (Function, Function) = lua
            .load(
                r#"
                local await_op, start = ...
                local function read(what)
                    local v, ok = await_op(start, what)
                    if ok ~= true then return nil, ok end -- the read did not start
                    if v == nil then return nil, "end of input" end
                    if type(v) == "table" then return nil, v.error end
                    return v
                end
                local function readline()
                    return read(nil)
                end
                -- io.read(): a line; io.read(n): up to n bytes; io.read("a"):
                -- the rest of the input (Lua's "l", "*l", "a", "*a" too)
                return readline, function(fmt)
                    if fmt == nil or fmt == "l" or fmt == "*l" then
                        return read(nil)
                    elseif fmt == "a" or fmt == "*a" then
                        return read("a")
                    elseif type(fmt) == "number" and fmt >= 0 and fmt % 1 == 0 then
                        if fmt == 0 then return "" end
                        return read(fmt)
                    end
                    error("io.read: expected a byte count, \"l\" or \"a\", got " .. tostring(fmt), 2)
                end
                "#,
            )
            .set_name("=wippy:io")
            .call((prelude.get::<Function>("await_op")?, start))?;
        io.set("readline", readline)?;
        io.set("read", read)?;
        modules.insert("io", io);
    }
    Ok(())
}
