//! The base library as a process sees it: `print`, `require`, `load`,
//! `pcall` and `collectgarbage`, globals that replace Luau's own (which the
//! VM removes; see `engine/vm.rs`, `trim_globals`), and Wippy's
//! `subscribe(topic, ch)` / `unsubscribe(ch)` (the prelude's).
//!
//! `require(name)` returns a library imported as `name` by the entry whose
//! chunk calls it (a library's own `imports` for code of a library; run
//! once per process in the process's environment; a circular require is
//! an error that says so) or a built-in module the entry lists under
//! `modules` and its host grants; a deny policy can still refuse it
//! (`module.require`). `load`/`loadstring` compile source text
//! only, never bytecode. Errors of Rust natives are caught by `pcall` as
//! strings (see the prelude).

use std::sync::Arc;

use mlua::{Function, Lua, Table, Value, Variadic};
use wippy_host::registry::{EntryId, EntryKind};

use super::Exports;
use crate::engine::code::Compiled;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// Lists the globals this module sets.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.native("print", print)?;
    m.prelude("require");
    m.prelude("pcall");
    m.prelude("xpcall");
    m.prelude("loadstring");
    m.prelude_as("load", "loadstring");
    m.native("collectgarbage", collectgarbage)?;
    m.prelude("subscribe");
    m.prelude("unsubscribe");
    m.for_prelude("require", super::process_fn(m.lua(), require)?)?;
    m.for_prelude("load_library", super::process_fn(m.lua(), load_library)?)?;
    m.for_prelude("load_text", m.lua().create_function(load_text)?)?;
    Ok(())
}

/// `print(...)`: the terminal on the terminal host, the log elsewhere (an
/// INFO line, see `logger.rs`).
fn print(lua: &Lua, _: &ProcData, env: &ShardEnv, args: Variadic<Value>) -> mlua::Result<()> {
    match &env.host.config.terminal {
        Some(t) => {
            let text = join(&args, "\t")?;
            let _ = t.write(format!("{text}\n").as_bytes());
        }
        None => super::logger::print_line(lua, &args)?,
    }
    Ok(())
}

/// `collectgarbage("count")` only: kilobytes of Lua heap the process holds
/// (what its memory limit is checked against; `engine/memory.rs`).
fn collectgarbage(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    opt: Option<String>,
) -> mlua::Result<f64> {
    match opt.as_deref() {
        None | Some("count") => Ok(p.heap_bytes(lua, env) as f64 / 1024.0),
        Some(other) => Err(mlua::Error::runtime(format!(
            "collectgarbage: option {other:?} is not allowed"
        ))),
    }
}

/// The `tostring`s of `args`, joined by `sep`.
pub(crate) fn join(args: &[Value], sep: &str) -> mlua::Result<String> {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&v.to_string()?);
    }
    Ok(out)
}

/// `rt.load_text(text, name, env)` → a function of `text` in `env`, or
/// `nil, err` (the prelude's `loadstring`).
fn load_text(
    lua: &Lua,
    (text, name, env): (mlua::LuaString, Option<String>, Table),
) -> mlua::Result<(Value, Value)> {
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
}

/// The source name of the prelude's chunk (see `api/mod.rs`, `install`).
const PRELUDE_SOURCE: &str = "=wippy:prelude";

/// Most stack levels [`calling_entry`] looks through.
const CALLER_DEPTH: usize = 64;

/// The entry whose chunk called `require`: the innermost Lua function on
/// the running thread's stack that is not the prelude's, named by its
/// chunk (`@ns:name`, see `engine/code.rs`); the process's own entry when
/// that is no entry's (a `loadstring` chunk).
fn calling_entry(lua: &Lua, p: &ProcData, e: &ShardEnv) -> Arc<Compiled> {
    let own = || p.entry.borrow().clone();
    // Level 0 is `rt.require` itself.
    for level in 1..CALLER_DEPTH {
        let source = lua.inspect_stack(level, |d| {
            let s = d.source();
            (s.what != "C").then(|| s.source.map(|s| s.into_owned()))
        });
        let Some(source) = source else {
            break; // the bottom of the stack
        };
        let Some(Some(source)) = source else {
            continue; // a C function (pcall, the native itself)
        };
        if source == PRELUDE_SOURCE {
            continue;
        }
        let Some(id) = source
            .strip_prefix('@')
            .and_then(|s| s.parse::<EntryId>().ok())
        else {
            return own();
        };
        if id == p.entry.borrow().id {
            return own();
        }
        return e.host.code.get(&id).unwrap_or_else(|_| own());
    }
    own()
}

/// `rt.require(name)` → `"module", value` for a built-in module, or
/// `"library", id` for a library that the entry of the calling chunk
/// imports as `name` (the prelude loads it with `rt.load_library` once per
/// process, and reports a circular require). Each chunk's requires resolve
/// against its own entry (a library's against the library's `imports`),
/// the process's entry for code that is no entry's.
fn require(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    name: String,
) -> mlua::Result<(&'static str, Value)> {
    let entry = calling_entry(lua, p, e);
    if let Some(lib) = entry.imports.get(&name) {
        let code = e.host.code.get(lib).map_err(|err| {
            mlua::Error::runtime(format!("require({name:?}) in {}: {err}", entry.id))
        })?;
        if code.kind != EntryKind::LibraryLua {
            return Err(mlua::Error::runtime(format!(
                "require({name:?}) in {}: {lib} is a {}, not a library.lua",
                entry.id, code.kind
            )));
        }
        return Ok(("library", Value::String(lua.create_string(lib.as_str())?)));
    }
    if name == "io" && e.host.config.terminal.is_none() {
        return Err(mlua::Error::runtime(format!(
            "require(\"io\"): host {} does not grant module io (only a terminal.host does)",
            e.host.name
        )));
    }
    if !e.modules.contains(&name) {
        return Err(mlua::Error::runtime(format!(
            "require({name:?}) in {}: no such module (built-in modules: {}; libraries come from the entry's imports)",
            entry.id,
            wippy_host::BUILTIN_MODULES.join(", ")
        )));
    }
    // The calling chunk's entry may list it, or the process's.
    let listed = |c: &Compiled| c.modules.iter().any(|m| m == &name);
    if !listed(&entry) && !listed(&p.entry.borrow()) {
        return Err(mlua::Error::runtime(format!(
            "require({name:?}): module {name} is not listed under `modules` of entry {}",
            entry.id
        )));
    }
    if !e.host.config.modules.allows(&name) {
        return Err(mlua::Error::runtime(format!(
            "require({name:?}): host {} does not grant module {name}",
            e.host.name,
        )));
    }
    // The entry's `modules` and the host's module set allow the load; a
    // deny policy can still refuse it.
    let boundary = e.host.config.security.boundary.as_ref();
    if let Err(denied) = p
        .context
        .principal()
        .veto(boundary, "module.require", &name, p.pid())
    {
        return Err(mlua::Error::runtime(format!("require({name:?}): {denied}")));
    }
    // Built now if no process of the VM loaded it yet.
    let module = e.modules.get(lua, &e.host, p.memory.cat(), &name)?;
    Ok(("module", module.unwrap_or(Value::Nil)))
}

/// `rt.load_library(id, env)` → library `id`'s chunk, bound to the process
/// environment `env` (`id` as `rt.require` gave it).
fn load_library(
    _: &Lua,
    _: &ProcData,
    e: &ShardEnv,
    (id, penv): (String, Table),
) -> mlua::Result<Function> {
    let id: EntryId = id
        .parse()
        .map_err(|err| mlua::Error::runtime(format!("{err}")))?;
    let code = e
        .host
        .code
        .get(&id)
        .map_err(|err| mlua::Error::runtime(err.to_string()))?;
    let lua = penv.weak_lua().upgrade();
    lua.load(&code.bytecode[..])
        .set_name(&code.chunk_name)
        .set_mode(mlua::chunk::ChunkMode::Binary)
        .set_environment(penv)
        .into_function()
}
