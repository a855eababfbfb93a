//! The `funcs` module: `funcs.call(id, ...)` runs a `function.lua` entry in
//! a process of its own, on the caller's host, and returns its results (or
//! `nil, err` when it fails). The waiting is the prelude's.

use mlua::{Lua, MultiValue, Value, Variadic};
use wippy_host::registry::{EntryId, EntryKind};

use super::{Exports, err_pair};
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// Lists `funcs.*` and the native the prelude's `call` spawns with.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.prelude("call");
    m.for_prelude("spawn_fn", super::process_fn(m.lua(), spawn_fn)?)
}

/// `rt.spawn_fn(entry, ...)` → the pid string of `funcs.call`'s process
/// (monitored, on this host) or `nil, err`.
fn spawn_fn(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    (entry, args): (String, Variadic<Value>),
) -> mlua::Result<MultiValue> {
    let id: EntryId = match entry.parse() {
        Ok(id) => id,
        Err(err) => return err_pair(lua, format!("funcs.call: {err}")),
    };
    match e.host.code.get(&id) {
        Ok(code) if code.kind == EntryKind::FunctionLua => {}
        Ok(code) => {
            return err_pair(
                lua,
                format!("funcs.call: {id} is a {}, not a function.lua", code.kind),
            );
        }
        Err(err) => return err_pair(lua, format!("funcs.call: {err}")),
    }
    let host = e.host.name.clone();
    super::process::spawn::spawn(lua, p, e, "funcs.call", &entry, &host, &args, false, true)
}
