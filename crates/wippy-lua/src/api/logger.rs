//! The `logger` module: structured logs through tracing, tagged with the
//! process's pid and entry id. `require("logger")` returns a logger object
//! itself: `logger:info(msg, fields?)` (and `warn`, `error`, `debug`),
//! `logger:named(name)`, `logger:with(fields)`.

use mlua::{Lua, Table, UserData, UserDataMethods, Value};

use super::Exports;
use crate::engine::current::with_current;

/// Lists the module: the root logger (no name, no fields).
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.whole(Logger::default())
}

/// A logger: an optional name and fields added to every record.
#[derive(Clone, Default)]
struct Logger {
    name: Option<String>,
    /// Fields added by `logger:with`, in order.
    fields: Vec<(String, serde_json::Value)>,
}

/// A field value as JSON: data as itself (tables as objects and arrays),
/// anything else (a function, a channel) as its `tostring`.
fn field(lua: &Lua, v: &Value) -> mlua::Result<serde_json::Value> {
    let data = crate::convert::to_payload(lua, v, "field")
        .and_then(|p| crate::api::json::to_json(&p, "field"));
    match data {
        Ok(json) => Ok(json),
        Err(_) => Ok(serde_json::Value::String(v.to_string()?)),
    }
}

/// Adds a table's fields to `out` (later keys win, order kept).
fn add_fields(
    lua: &Lua,
    out: &mut Vec<(String, serde_json::Value)>,
    t: &Table,
) -> mlua::Result<()> {
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let (k, v) = (k.to_string()?, field(lua, &v)?);
        out.retain(|(old, _)| *old != k);
        out.push((k, v));
    }
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
        if let Some(t) = extra {
            add_fields(lua, &mut fields, &t)?;
        }
        // One JSON object: structured values survive both log formats
        // (tracing's field names are fixed at compile time).
        let fields = serde_json::Value::Object(fields.into_iter().collect());
        let (pid, entry) =
            with_current(|p, _| (p.pid().to_string(), p.entry.borrow().id.to_string()))
                .unwrap_or_default();
        let name = self.name.as_deref().unwrap_or("");
        match level {
            tracing::Level::ERROR => {
                tracing::error!(target: "lua", pid = %pid, entry = %entry, logger = name, fields = %fields, "{msg}")
            }
            tracing::Level::WARN => {
                tracing::warn!(target: "lua", pid = %pid, entry = %entry, logger = name, fields = %fields, "{msg}")
            }
            tracing::Level::INFO => {
                tracing::info!(target: "lua", pid = %pid, entry = %entry, logger = name, fields = %fields, "{msg}")
            }
            _ => {
                tracing::debug!(target: "lua", pid = %pid, entry = %entry, logger = name, fields = %fields, "{msg}")
            }
        }
        Ok(())
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
                    l.log(lua, level, &msg.to_string()?, fields)
                },
            );
        }
        methods.add_method("named", |_, l, name: String| {
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
