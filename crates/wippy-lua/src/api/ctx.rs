//! The `ctx` module: the values a process was spawned with.
//!
//! A process's context is its spawner's context with what the spawner
//! added through `process.with_context` (the added values win); a plain
//! `process.spawn*` passes the spawner's context on unchanged, and a
//! top-level process (a service, `run -x`, a spawn from Rust) has an empty
//! one. It is fixed at spawn and kept across `process.upgrade`. Values are
//! payloads, so each read returns a fresh copy owned by the reader.
//!
//! ```lua
//! local ctx = require("ctx")         -- the entry lists `ctx` under modules
//! local user, err = ctx.get("user")  -- nil, err naming the key when absent
//! for k, v in pairs(ctx.all()) do print(k, v) end
//! ```

use mlua::{Lua, MultiValue, Table, Value};

use wippy_process::ErrorKind;

use super::Exports;
use super::errors::fail;
use crate::convert::to_lua;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// Lists `ctx.*` (one table per VM: it reads the calling process's context
/// on each call).
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.native("get", get)?;
    m.native("all", all)
}

/// `ctx.get(key)` → the value, or `nil, err`: NotFound `key not found:
/// <key>` for a key that is not in the context, Invalid for `""`; a key
/// that is not a string raises.
fn get(lua: &Lua, p: &ProcData, _: &ShardEnv, key: Value) -> mlua::Result<MultiValue> {
    let Value::String(key) = key else {
        let got = match key {
            Value::Integer(_) | Value::Number(_) => "number", // Lua's name
            other => other.type_name(),
        };
        return Err(mlua::Error::runtime(format!(
            "bad argument #1 to 'ctx.get' (string expected, got {got})"
        )));
    };
    let key = key.to_string_lossy();
    if key.is_empty() {
        return fail(lua, ErrorKind::Invalid, "key cannot be empty");
    }
    // One value on success (so `return ctx.get(k)` returns just it).
    match p.context.get(&key) {
        Some(v) => Ok(MultiValue::from_vec(vec![to_lua(lua, v)?])),
        None => fail(lua, ErrorKind::NotFound, format!("key not found: {key}")),
    }
}

/// `ctx.all()` → a table of every context value.
fn all(lua: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<Table> {
    let all = lua.create_table_with_capacity(0, p.context.len())?;
    for (k, v) in p.context.iter() {
        all.raw_set(k, to_lua(lua, v)?)?;
    }
    Ok(all)
}
