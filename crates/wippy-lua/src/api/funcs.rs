//! The `funcs` module (`docs/lua-api.md`): `funcs.call(id,
//! ...)` runs a function and waits for its result, `funcs.async(id, ...)`
//! starts one and returns a Future, `funcs.new()` returns an Executor whose
//! `with_context`, `with_actor`, `with_scope` and `with_options` shape the
//! calls made through its `call` and `async`.
//!
//! A call runs the entry in a process of its own, monitored by the caller
//! (never linked): a `function.lua` on the caller's host, a `process.lua`
//! on the host its `meta.default_host` names. The callee gets the caller's
//! context values with what the Executor added (the added values win), and
//! the caller's actor and scope unless the Executor gives others. Its
//! first return value is the call's result; `return nil, err` (or `v,
//! "text"`) and a raised error are the call's error, as error objects
//! (kind and retryable kept; a raised error or a text is Internal).
//!
//! Futures and Executors are the prelude's (`prelude.lua`, "funcs"); this
//! file gives it the natives they start calls with: `rt.call_start`
//! (checks, spawns), `rt.call_error` (error objects), `rt.call_allow` (the
//! Executor's checks) and `rt.call_cancel` (a Future's cancel).
//!
//! Checked: `funcs.call` on the id (denial: PermissionDenied `not allowed:
//! <id>`); `funcs.context` for `with_context`, `funcs.security` for
//! `with_actor` and `with_scope`, `network.select` for a `network` option
//! (denials are `nil, err`); and, as for a Spawner, that the caller may
//! grant the actor or scope an Executor gives.

use mlua::{Lua, MultiValue, Value, Variadic};
use wippy_host::SpawnRequest;
use wippy_host::registry::{EntryId, EntryKind};
use wippy_process::{ErrorKind, ExitError, SpawnOptions};

use super::errors::{error_value, fail};
use super::security::{LuaActor, LuaScope, Object};
use super::{Exports, one, process_fn};
use crate::convert::to_payload;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;
use crate::ffi::error_object;

/// Lists `funcs.*` and the natives the prelude's half builds on.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.prelude("call");
    m.prelude_as("async", "call_async");
    m.prelude_as("new", "new_executor");
    m.for_prelude("call_start", process_fn(m.lua(), call_start)?)?;
    m.for_prelude("call_allow", process_fn(m.lua(), call_allow)?)?;
    m.for_prelude("call_cancel", process_fn(m.lua(), call_cancel)?)?;
    m.for_prelude("call_error", m.lua().create_function(call_error)?)
}

/// `rt.call_start(what, id, executor, ...)` → the callee's pid string and
/// whether its EXIT value is the array of its return values (a
/// `function.lua`'s is: `ffi/thread.rs`, `results`; the prelude's
/// `outcome` then reads the first two), or `nil, err`. `what` names the call in argument errors
/// (`funcs.call`); `executor` is nil or an Executor table (`context`,
/// `actor`, `scope` fields).
fn call_start(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    (what, id, executor, args): (String, Value, Value, Variadic<Value>),
) -> mlua::Result<MultiValue> {
    let Value::String(id) = id else {
        return Err(mlua::Error::runtime(format!(
            "bad argument #1 to '{what}' (string expected, got {})",
            super::type_name(&id)
        )));
    };
    let id = id.to_string_lossy();
    let entry = match function_id(&id) {
        Ok(entry) => entry,
        Err(msg) => return fail(lua, ErrorKind::Invalid, msg),
    };
    if p.check(env, "funcs.call", &id).is_err() {
        return fail(
            lua,
            ErrorKind::PermissionDenied,
            format!("not allowed: {id}"),
        );
    }
    let registry = env.host.code.registry();
    let (host, function) = match registry.get(&entry) {
        None => {
            return fail(
                lua,
                ErrorKind::NotFound,
                format!("function not found: {id}"),
            );
        }
        Some(e) if e.kind == EntryKind::FunctionLua => (env.host.name.clone(), true),
        Some(e) if e.kind == EntryKind::ProcessLua => match e.meta_str("default_host") {
            Some(host) => (host.to_owned(), false),
            None => {
                return fail(
                    lua,
                    ErrorKind::Invalid,
                    format!("process {id} has no meta.default_host to run on"),
                );
            }
        },
        Some(e) => {
            return fail(
                lua,
                ErrorKind::Invalid,
                format!("{id} is a {}, not a function", e.kind),
            );
        }
    };
    let mut payloads = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        match to_payload(lua, a, &format!("args[{}]", i + 1)) {
            Ok(v) => payloads.push(v),
            Err(e) => return fail(lua, ErrorKind::Invalid, e),
        }
    }
    // The callee's context: the caller's, with what the Executor added,
    // and the Executor's actor and scope if it gives any.
    let mut context = p.context.clone();
    if let Value::Table(exec) = &executor {
        if let Some(added) = exec.raw_get::<Option<Value>>("context")? {
            match super::process::spawn::context_values(lua, &added) {
                Ok(values) => context = context.with(values),
                Err(e) => return fail(lua, ErrorKind::Invalid, e),
            }
        }
        let actor = granted::<LuaActor>(exec.raw_get("actor")?)?.map(|a| a.0);
        let scope = granted::<LuaScope>(exec.raw_get("scope")?)?.map(|s| s.0);
        if actor.is_some() || scope.is_some() {
            let mine = p.context.principal();
            let principal = wippy_security::Principal::new(
                actor.unwrap_or_else(|| mine.actor()),
                scope.or_else(|| mine.scope().cloned()),
            );
            let boundary = env.host.config.security.boundary.as_ref();
            if let Err(denied) = mine.may_grant(boundary, &principal, p.pid()) {
                return fail(lua, ErrorKind::PermissionDenied, denied.to_string());
            }
            context = context.with_principal(principal);
        }
    }
    let Some(app) = env.host.app.upgrade() else {
        return fail(lua, ErrorKind::Unavailable, "the app is shutting down");
    };
    let request = SpawnRequest {
        entry,
        args: payloads,
        opts: SpawnOptions::default().parent(p.pid()).monitored(),
        context,
    };
    match app.spawn(&host, request) {
        Ok(pid) => Ok(MultiValue::from_vec(vec![
            Value::String(lua.create_string(pid.to_string())?),
            Value::Boolean(function),
        ])),
        Err(e) => fail(lua, ErrorKind::Internal, format!("{what} {id}: {e}")),
    }
}

/// The entry id of a function id, or Wippy's message for a bad one.
fn function_id(id: &str) -> Result<EntryId, &'static str> {
    if id.is_empty() {
        return Err("function ID required");
    }
    match id.split_once(':') {
        None | Some(("", _)) => Err("namespace required in function ID"),
        Some((_, "")) => Err("name required in function ID"),
        Some(_) => id.parse().map_err(|_| "invalid function ID"),
    }
}

/// An Executor's actor or scope object (nil: none given).
fn granted<T: Object>(v: Value) -> mlua::Result<Option<T>> {
    match v {
        Value::Nil => Ok(None),
        v => T::take(v).map(Some).map_err(mlua::Error::runtime),
    }
}

/// `rt.call_allow(action, resource)` → `true`, or `nil, err`
/// (PermissionDenied) when the caller may not do `action`.
fn call_allow(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    (action, resource): (String, String),
) -> mlua::Result<MultiValue> {
    match p.check(env, &action, &resource) {
        Ok(()) => one(Value::Boolean(true)),
        Err(denied) => fail(lua, ErrorKind::PermissionDenied, denied),
    }
}

/// `rt.call_cancel(pid)`: ends a call's process (a Future's cancel).
fn call_cancel(_: &Lua, _: &ProcData, env: &ShardEnv, pid: String) -> mlua::Result<()> {
    if let Ok(pid) = pid.parse() {
        // Already ended is fine: the Future is canceled either way.
        let _ = env.host.node.terminate(pid);
    }
    Ok(())
}

/// `rt.call_error(e, kind?)` → an error object: `e` itself if it is one,
/// else one of `kind` (default Internal, not retryable) with `e`'s text.
fn call_error(lua: &Lua, (e, kind): (Value, Option<String>)) -> mlua::Result<Value> {
    if error_object::read(lua, &e, |_| ()).is_some() {
        return Ok(e);
    }
    let kind = kind.map_or(ErrorKind::Internal, |k| ErrorKind::from(k.as_str()));
    let text = match &e {
        Value::String(s) => s.to_string_lossy(),
        other => other.to_string()?,
    };
    error_value(lua, ExitError::with_kind(kind, text).retryable(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_ids_need_a_namespace_and_a_name() {
        assert_eq!(function_id(""), Err("function ID required"));
        assert_eq!(
            function_id("nonamespace"),
            Err("namespace required in function ID")
        );
        assert_eq!(function_id(":x"), Err("namespace required in function ID"));
        assert_eq!(function_id("app:"), Err("name required in function ID"));
        assert_eq!(function_id("app.x:echo").unwrap().as_str(), "app.x:echo");
    }
}
