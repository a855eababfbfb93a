//! The `logger` module, as Wippy's (reference §7.2): structured log lines
//! through tracing. `require("logger")` returns a logger object itself:
//! `logger:debug|info|warn|error(msg, fields?)`, `logger:with(fields)` (a
//! logger adding those fields), `logger:named(name)` (a child logger,
//! `parent.name`; an empty name raises). Global `print(...)` logs here too
//! ([`print_line`]).
//!
//! Every line carries the process's `pid` and its `location`: the chunk and
//! line of the Lua code that logged (`app:entry:12`). Fields keep their
//! types (strings, numbers, booleans, tables as JSON arrays and objects);
//! anything else is its `tostring`. An error object given as a field is
//! kept, as `{"message": ..., "kind": ...}` (Wippy drops it; we do what its
//! documentation promises, see `docs/differences-from-wippy.md`). In
//! `:error`, the key `error` is the standard error field: its message goes
//! under `error` (its kind, if any, under `error_kind`) and the key is
//! removed from the caller's table, as in Wippy.
//!
//! The tracing event (target `lua`) has the fields `pid`, `location`,
//! `logger` (the name, when named) and `fields` (the line's fields as one
//! JSON object, when there are any), and the message.

use mlua::{Lua, Table, UserData, UserDataMethods, Value};
use serde_json::{Map, Value as Json};

use super::Exports;
use crate::engine::current::with_current;
use crate::ffi::error_object;

/// Lists the module: the root logger (no name, no fields).
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.whole(Logger::default())
}

/// A logger: an optional name and fields added to every line.
#[derive(Clone, Default)]
struct Logger {
    name: Option<String>,
    /// Fields added by `logger:with`, later ones replacing earlier ones.
    fields: Map<String, Json>,
}

/// How deep tables are followed in a field; deeper ones (and cycles) are
/// written as their `tostring`.
const MAX_DEPTH: usize = 16;

/// Integers up to this magnitude are exact in a double.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// A field value as JSON, keeping its type.
fn field(lua: &Lua, v: &Value, depth: usize) -> mlua::Result<Json> {
    Ok(match v {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::from(*i),
        Value::Number(n) if n.fract() == 0.0 && n.abs() <= EXACT_INT => Json::from(*n as i64),
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map_or_else(|| Json::String(n.to_string()), Json::Number),
        Value::String(s) => Json::String(s.to_string_lossy()),
        Value::Table(t) if depth < MAX_DEPTH => table(lua, t, depth + 1)?,
        Value::UserData(_) if let Some(e) = error_object::from_value(lua, v) => {
            let mut o = Map::new();
            o.insert("message".into(), Json::String(e.full_text().into_owned()));
            let kind = e.error.kind().as_str();
            if !kind.is_empty() {
                o.insert("kind".into(), Json::String(kind.to_owned()));
            }
            Json::Object(o)
        }
        other => Json::String(other.to_string()?),
    })
}

/// A table as a JSON array (keys exactly 1..n) or object.
fn table(lua: &Lua, t: &Table, depth: usize) -> mlua::Result<Json> {
    let n = t.raw_len();
    let mut pairs = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        pairs.push(pair?);
    }
    if n > 0 && pairs.len() == n {
        let mut items = vec![Json::Null; n];
        for (k, v) in &pairs {
            let i = match k {
                Value::Integer(i) => *i as usize,
                Value::Number(f) => *f as usize,
                _ => 0,
            };
            if let Some(slot) = i.checked_sub(1).and_then(|i| items.get_mut(i)) {
                *slot = field(lua, v, depth)?;
            }
        }
        return Ok(Json::Array(items));
    }
    let mut o = Map::new();
    for (k, v) in &pairs {
        o.insert(k.to_string()?, field(lua, v, depth)?);
    }
    Ok(Json::Object(o))
}

/// Adds a table's fields to `out` (later keys replace earlier ones).
fn add_fields(lua: &Lua, out: &mut Map<String, Json>, t: &Table) -> mlua::Result<()> {
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        out.insert(k.to_string()?, field(lua, &v, 0)?);
    }
    Ok(())
}

/// Where the Lua code that called the native running now is:
/// `<chunk>:<line>` (an entry's chunk is named by its id).
fn caller_location(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let source = d.source();
        let chunk = source.short_src.as_deref().unwrap_or("?").to_owned();
        format!("{chunk}:{}", d.current_line().unwrap_or(0))
    })
    .unwrap_or_default()
}

/// The running process's pid, or `""` outside one.
fn current_pid() -> String {
    with_current(|p, _| p.pid().to_string()).unwrap_or_default()
}

/// Writes one log line.
fn emit(
    level: tracing::Level,
    name: Option<&str>,
    fields: &Map<String, Json>,
    location: &str,
    msg: &str,
) {
    let pid = current_pid();
    // One JSON object: structured values survive both log formats
    // (tracing's field names are fixed at compile time).
    let fields = (!fields.is_empty()).then(|| Json::Object(fields.clone()).to_string());
    let fields = fields.as_deref().map(tracing::field::display);
    match level {
        tracing::Level::ERROR => {
            tracing::error!(target: "lua", pid = %pid, location = %location, logger = name, fields, "{msg}")
        }
        tracing::Level::WARN => {
            tracing::warn!(target: "lua", pid = %pid, location = %location, logger = name, fields, "{msg}")
        }
        tracing::Level::INFO => {
            tracing::info!(target: "lua", pid = %pid, location = %location, logger = name, fields, "{msg}")
        }
        _ => {
            tracing::debug!(target: "lua", pid = %pid, location = %location, logger = name, fields, "{msg}")
        }
    }
}

/// `print(...)` as a log line: INFO, the arguments' `tostring`s joined by
/// a space, with the caller's pid and location.
pub(crate) fn print_line(lua: &Lua, args: &[Value]) -> mlua::Result<()> {
    let mut text = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(&v.to_string()?);
    }
    emit(
        tracing::Level::INFO,
        None,
        &Map::new(),
        &caller_location(lua),
        &text,
    );
    Ok(())
}

impl Logger {
    fn log(
        &self,
        lua: &Lua,
        level: tracing::Level,
        msg: &str,
        extra: Option<Table>,
    ) -> mlua::Result<()> {
        let mut fields = self.fields.clone();
        // Taken from the caller's table whether or not the line is written.
        if level == tracing::Level::ERROR
            && let Some(t) = &extra
        {
            take_error_field(lua, t, &mut fields)?;
        }
        if !level_enabled(level) {
            return Ok(());
        }
        if let Some(t) = extra {
            add_fields(lua, &mut fields, &t)?;
        }
        emit(
            level,
            self.name.as_deref(),
            &fields,
            &caller_location(lua),
            msg,
        );
        Ok(())
    }
}

/// Whether a line at `level` would be written at all.
fn level_enabled(level: tracing::Level) -> bool {
    match level {
        tracing::Level::ERROR => tracing::enabled!(target: "lua", tracing::Level::ERROR),
        tracing::Level::WARN => tracing::enabled!(target: "lua", tracing::Level::WARN),
        tracing::Level::INFO => tracing::enabled!(target: "lua", tracing::Level::INFO),
        _ => tracing::enabled!(target: "lua", tracing::Level::DEBUG),
    }
}

/// `:error`'s standard error field: `t.error` becomes `error` (its message)
/// and, for an error object with a kind, `error_kind`; it is removed from
/// the caller's table.
fn take_error_field(lua: &Lua, t: &Table, fields: &mut Map<String, Json>) -> mlua::Result<()> {
    let v: Value = t.raw_get("error")?;
    if v.is_nil() {
        return Ok(());
    }
    t.raw_set("error", Value::Nil)?;
    match error_object::from_value(lua, &v) {
        Some(e) => {
            fields.insert("error".into(), Json::String(e.full_text().into_owned()));
            let kind = e.error.kind().as_str();
            if !kind.is_empty() {
                fields.insert("error_kind".into(), Json::String(kind.to_owned()));
            }
        }
        None => {
            fields.insert("error".into(), Json::String(v.to_string()?));
        }
    }
    Ok(())
}

/// The message argument: a string or a number (as Go's `CheckString`).
fn message(v: &Value) -> mlua::Result<String> {
    match v {
        Value::String(s) => Ok(s.to_string_lossy()),
        Value::Integer(_) | Value::Number(_) => v.to_string(),
        other => Err(mlua::Error::external(format!(
            "message must be a string, got {}",
            other.type_name()
        ))),
    }
}

impl UserData for Logger {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        for (name, level) in [
            ("info", tracing::Level::INFO),
            ("warn", tracing::Level::WARN),
            ("error", tracing::Level::ERROR),
            ("debug", tracing::Level::DEBUG),
        ] {
            methods.add_method(
                name,
                move |lua, l, (msg, fields): (Value, Option<Table>)| {
                    l.log(lua, level, &message(&msg)?, fields)
                },
            );
        }
        methods.add_method("named", |_, l, name: mlua::LuaString| {
            let name = name.to_string_lossy();
            if name.is_empty() {
                return Err(mlua::Error::runtime("logger:named: name must not be empty"));
            }
            let mut n = l.clone();
            n.name = Some(match &l.name {
                Some(prefix) => format!("{prefix}.{name}"),
                None => name,
            });
            Ok(n)
        });
        methods.add_method("with", |lua, l, fields: Table| {
            let mut n = l.clone();
            add_fields(lua, &mut n.fields, &fields)?;
            Ok(n)
        });
    }
}
