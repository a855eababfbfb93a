//! The `io` module, offered on the terminal host only (the only host that
//! may hand out stdio): `print`, `write`, `eprint`, `flush`, `args`, and
//! `read`/`readline`, blocking reads on the blocking pool written in Lua
//! (`io.lua`) over the prelude's operations.

use std::sync::Arc;

use mlua::{Lua, MultiValue, Value, Variadic};
use wippy_host::{ReadKind, Terminal};
use wippy_process::{Completion, ErrorKind, Payload};

use super::base::join;
use super::errors::fail;
use super::{Exports, ok_true};
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// The Lua half of the module.
const IO_LUA: &str = include_str!("io.lua");

/// Lists `io.*`; none on a host without a terminal.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    let Some(term) = m.host().config.terminal.clone() else {
        m.omit();
        return Ok(());
    };
    let t = term.clone();
    m.function("print", move |_, args| print(&t, args))?;
    let t = term.clone();
    m.function("write", move |_, args| write(&t, args))?;
    let t = term.clone();
    m.function("eprint", move |_, args| eprint(&t, args))?;
    m.function("flush", |_, ()| Ok(true))?;
    let t = term.clone();
    m.function("args", move |lua, ()| {
        lua.create_sequence_from(t.args().iter().cloned())
    })?;
    let start = super::process_fn(m.lua(), move |lua, p, e, args| {
        start_read(lua, p, e, &term, args)
    })?;
    m.lua_chunk(
        "=wippy:io",
        IO_LUA,
        vec![Value::Function(start)],
        &["readline", "read"],
    );
    Ok(())
}

/// `io.print(...)`: the values, tab-separated, and a newline.
fn print(t: &Terminal, args: Variadic<Value>) -> mlua::Result<()> {
    let text = join(&args, "\t")? + "\n";
    t.write(text.as_bytes()).map_err(mlua::Error::runtime)?;
    Ok(())
}

/// `io.write(...)`: the values, as they are.
fn write(t: &Terminal, args: Variadic<Value>) -> mlua::Result<()> {
    t.write(join(&args, "")?.as_bytes())
        .map_err(mlua::Error::runtime)?;
    Ok(())
}

/// `io.eprint(...)`: as `print`, to stderr.
fn eprint(t: &Terminal, args: Variadic<Value>) -> mlua::Result<()> {
    let text = join(&args, "\t")? + "\n";
    t.ewrite(text.as_bytes()).map_err(mlua::Error::runtime)?;
    Ok(())
}

/// Starts a blocking read on the pool, completing the operation `tag`:
/// `what` is nil (a line), "a" (all input) or a byte count. → `true`, or
/// `nil, err` when the read cannot start.
fn start_read(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    t: &Arc<Terminal>,
    (tag, what): (u64, Value),
) -> mlua::Result<MultiValue> {
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
        Err(err) => fail(lua, ErrorKind::Internal, err.to_string()),
    }
}
