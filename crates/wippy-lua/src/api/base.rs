//! The base library as a process sees it: `print`, `require`, `load`,
//! `pcall` and `collectgarbage`, globals that replace Luau's own (which the
//! VM removes; see `engine/vm.rs`, `trim_globals`).
//!
//! `require(name)` returns a library the entry imports (`imports`, run
//! once per process in its own environment) or a built-in module the entry
//! lists under `modules` and its host grants; a deny policy can still
//! refuse it (`module.require`). `load`/`loadstring` compile source text
//! only, never bytecode. Errors of Rust natives are caught by `pcall` as
//! strings (see the prelude).

use mlua::{Lua, Table, Value, Variadic};

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
    m.for_prelude("require", super::process_fn(m.lua(), require)?)?;
    m.for_prelude("load_text", m.lua().create_function(load_text)?)?;
    Ok(())
}

/// `print(...)`: the terminal on the terminal host, the log elsewhere.
fn print(_: &Lua, p: &ProcData, env: &ShardEnv, args: Variadic<Value>) -> mlua::Result<()> {
    let text = join(&args, "\t")?;
    match &env.host.config.terminal {
        Some(t) => {
            let _ = t.write(format!("{text}\n").as_bytes());
        }
        None => {
            tracing::info!(target: "lua", pid = %p.pid(), "{text}");
        }
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

/// `rt.require(name, env)` → `"module", value` for a built-in module, or
/// `"chunk", {fn = chunk}` for a library to run in `env` (the prelude's
/// `require` caches what either gives).
fn require(
    _: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    (name, penv): (String, Table),
) -> mlua::Result<(&'static str, Value)> {
    let entry = p.entry.borrow().clone();
    if let Some(lib) = entry.imports.get(&name) {
        let code = e
            .host
            .code
            .get(lib)
            .map_err(|err| mlua::Error::runtime(err.to_string()))?;
        if code.kind != wippy_host::registry::EntryKind::LibraryLua {
            return Err(mlua::Error::runtime(format!(
                "require({name:?}): {lib} is a {}, not a library.lua",
                code.kind
            )));
        }
        return Ok(("chunk", Value::Table(library_loader(&code, &penv)?)));
    }
    if name == "io" && e.host.config.terminal.is_none() {
        return Err(mlua::Error::runtime(format!(
            "require(\"io\"): host {} does not grant module io (only a terminal.host does)",
            e.host.name
        )));
    }
    let Some(module) = e.modules.get(name.as_str()) else {
        return Err(mlua::Error::runtime(format!(
            "require({name:?}): no such module (built-in modules: {}; libraries come from the entry's imports)",
            wippy_host::BUILTIN_MODULES.join(", ")
        )));
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
            if name == "io" {
                " (only a terminal.host grants io)"
            } else {
                ""
            }
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
    Ok(("module", module.clone()))
}

/// Returns `{fn = chunk}` for a library bound to the process environment.
fn library_loader(code: &Compiled, penv: &Table) -> mlua::Result<Table> {
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
