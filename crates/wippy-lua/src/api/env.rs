//! The `env` module (`docs/lua-api.md`): the app's
//! environment variables (`wippy_host::Env`, from the `env.variable` and
//! `env.storage.*` entries).
//!
//! `env.get(key)` → the value; `env.set(key, value)` → `true`;
//! `env.get_all()` → a table of every key every storage holds that the
//! caller may read. A key is a variable's name, else (without a
//! namespace) a variable entry of the caller's namespace, else a variable
//! entry id. Failures are `nil, err`: Invalid `empty key`, NotFound,
//! PermissionDenied for a read-only variable or storage and for a denied
//! `env.get` / `env.set` (checked on the key).
//!
//! ```lua
//! local env = require("env")
//! local port = env.get("PORT") or "8080"
//! env.set("LAST_RUN", tostring(os.time()))
//! ```

use mlua::{Lua, MultiValue, Table, Value};
use wippy_host::HostError;
use wippy_process::ErrorKind;

use super::errors::fail;
use super::{Exports, one};
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// Lists `env.*`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.native("get", get)?;
    m.native("set", set)?;
    m.native("get_all", get_all)
}

/// A string argument (a number is taken as its text); anything else raises.
fn text(v: &Value, n: usize, what: &str) -> mlua::Result<String> {
    match v {
        Value::String(s) => Ok(s.to_string_lossy()),
        Value::Integer(_) | Value::Number(_) => v.to_string(),
        other => Err(mlua::Error::runtime(format!(
            "bad argument #{n} to '{what}' (string expected, got {})",
            super::type_name(other)
        ))),
    }
}

/// `nil, err` for an env failure, of the kind Wippy gives it.
fn env_fail(lua: &Lua, e: HostError) -> mlua::Result<MultiValue> {
    let kind = match e {
        HostError::EnvKeyEmpty => ErrorKind::Invalid,
        HostError::EnvNotFound(_) => ErrorKind::NotFound,
        HostError::EnvReadOnly(_) | HostError::EnvStorageReadOnly(_) => ErrorKind::PermissionDenied,
        _ => ErrorKind::Internal,
    };
    fail(lua, kind, e.to_string())
}

/// The caller's namespace (keys without one are looked up in it).
fn namespace(p: &ProcData) -> String {
    p.entry.borrow().id.namespace().to_owned()
}

/// `env.get(key)` → the value, or `nil, err`.
fn get(lua: &Lua, p: &ProcData, env: &ShardEnv, key: Value) -> mlua::Result<MultiValue> {
    let key = text(&key, 1, "env.get")?;
    if key.is_empty() {
        return env_fail(lua, HostError::EnvKeyEmpty);
    }
    if let Err(denied) = p.check(env, "env.get", &key) {
        return fail(lua, ErrorKind::PermissionDenied, denied);
    }
    let Some(app) = env.host.app.upgrade() else {
        return fail(lua, ErrorKind::Unavailable, "the app is shutting down");
    };
    match app.env().get(&key, &namespace(p)) {
        Ok(v) => one(Value::String(lua.create_string(v)?)),
        Err(e) => env_fail(lua, e),
    }
}

/// `env.set(key, value)` → `true`, or `nil, err`.
fn set(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    (key, value): (Value, Value),
) -> mlua::Result<MultiValue> {
    let key = text(&key, 1, "env.set")?;
    let value = text(&value, 2, "env.set")?;
    if key.is_empty() {
        return env_fail(lua, HostError::EnvKeyEmpty);
    }
    if let Err(denied) = p.check(env, "env.set", &key) {
        return fail(lua, ErrorKind::PermissionDenied, denied);
    }
    let Some(app) = env.host.app.upgrade() else {
        return fail(lua, ErrorKind::Unavailable, "the app is shutting down");
    };
    match app.env().set(&key, &value, &namespace(p)) {
        Ok(()) => one(Value::Boolean(true)),
        Err(e) => env_fail(lua, e),
    }
}

/// `env.get_all()` → every key the storages hold that the caller may read
/// (`env.get` on the key), with its value.
fn get_all(lua: &Lua, p: &ProcData, env: &ShardEnv, (): ()) -> mlua::Result<Table> {
    let out = lua.create_table()?;
    if let Some(app) = env.host.app.upgrade() {
        for (k, v) in app.env().all() {
            if p.check(env, "env.get", &k).is_ok() {
                out.raw_set(k, v)?;
            }
        }
    }
    Ok(out)
}
