//! Spawning from Lua: `process.spawn*`, the Spawner's methods
//! (`process.with_context(...):spawn(...)`, through `rt.spawn`) and
//! `funcs.call`'s process.
//!
//! Checked (`spec/security.md`): `process.spawn` on the entry,
//! `process.spawn.host` on the host, and, when the child gets another
//! actor or scope, that the caller may grant them.

use mlua::{Lua, MultiValue, Table, Value, Variadic};
use wippy_host::SpawnRequest;
use wippy_host::registry::EntryId;
use wippy_process::{Payload, SpawnOptions};

use crate::api::err_pair;
use crate::api::security::{LuaActor, LuaScope, Object};
use crate::convert::{push_key, to_payload};
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// The arguments of `process.spawn*`: entry, host, then the child's
/// arguments.
type SpawnArgs = (String, String, Variadic<Value>);

/// `process.<name>(entry, host, ...)` → the child's pid string or
/// `nil, err`: a child linked to and/or monitored by the caller, with the
/// caller's context.
pub(crate) fn variant(
    name: &'static str,
    link: bool,
    monitor: bool,
) -> impl Fn(&Lua, &ProcData, &ShardEnv, SpawnArgs) -> mlua::Result<MultiValue> + 'static {
    move |lua, p, env, (entry, host, args)| {
        spawn(lua, p, env, name, &entry, &host, &args, link, monitor)
    }
}

/// Spawns `entry` on `host` with `args` for the caller, whose context the
/// child inherits unchanged (`what` names the call in errors).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    what: &str,
    entry: &str,
    host: &str,
    args: &[Value],
    link: bool,
    monitor: bool,
) -> mlua::Result<MultiValue> {
    let req = Request {
        what,
        options: None,
        entry,
        host,
        args,
        // Nothing added: the child inherits the caller's context unchanged.
        added: Vec::new(),
        grant: Grant::default(),
        link,
        monitor,
    };
    spawn_with(lua, p, env, req)
}

/// `rt.spawn(method, spawner, entry, host, ...)`: the Spawner methods (the
/// spawner's `options`, `context`, `actor` and `scope` fields).
pub(crate) fn spawner(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    (method, spawner, entry, host, args): (String, Table, String, String, Variadic<Value>),
) -> mlua::Result<MultiValue> {
    let options: Option<Table> = spawner.raw_get("options")?;
    let context: Option<Value> = spawner.raw_get("context")?;
    let (actor, scope) = (spawner.raw_get("actor")?, spawner.raw_get("scope")?);
    let added = match context.as_ref().map(|c| context_values(lua, c)) {
        None => Vec::new(),
        Some(Ok(values)) => values,
        Some(Err(err)) => return err_pair(lua, format!("process.{method}: {err}")),
    };
    let grant = Grant {
        actor: granted::<LuaActor>(actor, "actor")?.map(|a| a.0),
        scope: granted::<LuaScope>(scope, "scope")?.map(|s| s.0),
    };
    let (link, monitor) = match method.as_str() {
        "spawn" => (false, false),
        "spawn_monitored" => (false, true),
        "spawn_linked" => (true, false),
        _ => (true, true),
    };
    let req = Request {
        what: &method,
        options: options.as_ref(),
        entry: &entry,
        host: &host,
        args: &args,
        added,
        grant,
        link,
        monitor,
    };
    spawn_with(lua, p, env, req)
}

/// What a Spawner gives a child instead of the spawner's own actor and
/// scope (`with_actor`, `with_scope`; `None`: inherited).
#[derive(Default)]
struct Grant {
    actor: Option<wippy_security::Actor>,
    scope: Option<wippy_security::Scope>,
}

/// A Spawner's actor or scope object (`nil`: none given).
fn granted<T: Object>(v: Option<Value>, what: &str) -> mlua::Result<Option<T>> {
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
pub(crate) fn context_values(lua: &Lua, ctx: &Value) -> Result<Vec<(String, Payload)>, String> {
    let pairs = match to_payload(lua, ctx, "context")? {
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

/// A spawn as Lua asked for it.
struct Request<'a> {
    /// The call, for errors (`spawn_linked`, `funcs.call`).
    what: &'a str,
    /// A Spawner's options.
    options: Option<&'a Table>,
    entry: &'a str,
    host: &'a str,
    args: &'a [Value],
    /// What a Spawner adds to the caller's context values (the child gets
    /// the merge).
    added: Vec<(String, Payload)>,
    /// The actor and scope a Spawner gives the child instead of the
    /// caller's.
    grant: Grant,
    link: bool,
    monitor: bool,
}

/// Spawns what `req` asks for, for the running process `p`.
fn spawn_with(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    req: Request<'_>,
) -> mlua::Result<MultiValue> {
    let what = req.what;
    let trap = match spawn_options(req.options) {
        Ok(t) => t,
        Err(e) => return err_pair(lua, format!("process.{what}: {e}")),
    };
    let entry: EntryId = match req.entry.parse() {
        Ok(id) => id,
        Err(e) => return err_pair(lua, format!("process.{what}: {e}")),
    };
    let mut payloads = Vec::with_capacity(req.args.len());
    for (i, a) in req.args.iter().enumerate() {
        // The path is named only on failure (no string per argument).
        match to_payload(lua, a, "") {
            Ok(v) => payloads.push(v),
            Err(e) => return err_pair(lua, format!("process.{what}: args[{}]{e}", i + 1)),
        }
    }
    let Some(app) = env.host.app.upgrade() else {
        return err_pair(lua, "the app is shutting down");
    };
    for (action, resource) in [
        ("process.spawn", entry.as_str()),
        ("process.spawn.host", req.host),
    ] {
        if let Err(denied) = p.check(env, action, resource) {
            return err_pair(lua, denied);
        }
    }
    // The child's context: ours, with what the Spawner added.
    let mut child = p.context.with(req.added);
    let grant = req.grant;
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
    if req.link {
        opts = opts.linked();
    }
    if req.monitor {
        opts = opts.monitored();
    }
    opts.trap_links = trap;
    let spawn = SpawnRequest {
        entry,
        args: payloads,
        opts,
        context: child,
    };
    match app.spawn(req.host, spawn) {
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
