//! The `errors` global and the methods of error objects, as Wippy has them:
//! `errors.new`, `errors.wrap`, `errors.is`, `errors.call_stack` and the
//! kind constants (`errors.NOT_FOUND == "NotFound"`); `err:kind()`,
//! `err:retryable()`, `err:details()`, `err:message()`, `err:stack()`,
//! `tostring(err)` (its message) and `..` on either side.
//!
//! An error object is a tagged userdata (`ffi/error_object.rs`), so
//! `type(err) == "userdata"`; it crosses to other processes as the
//! payload's error value. Natives that fail return `nil, err` through
//! [`fail`] (or [`fail_with`]).

use mlua::{Lua, MultiValue, Table, Value};
use wippy_process::{ErrorKind, ExitError, Payload};

use super::Exports;
use crate::convert::{to_lua, to_payload};
use crate::ffi::error_object::{self, ErrorObject, Frame};

/// Lists `errors.*`, and sets up error objects in the VM.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    install_metatable(m.lua())?;
    for (name, kind) in ErrorKind::CONSTANTS {
        m.set(name, kind.as_str())?;
    }
    m.function("new", new)?;
    m.function("wrap", wrap)?;
    m.function("is", is)?;
    m.function("call_stack", call_stack)
}

/// `nil, err`: a failure of `kind`, as natives return it (not retryable:
/// Wippy's module errors never are).
pub(crate) fn fail(lua: &Lua, kind: ErrorKind, msg: impl Into<String>) -> mlua::Result<MultiValue> {
    fail_with(lua, ExitError::with_kind(kind, msg).retryable(false))
}

/// `nil, err` for an error value built by the caller.
pub(crate) fn fail_with(lua: &Lua, e: ExitError) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::Nil, error_value(lua, e)?]))
}

/// An error object for `e`, as a Lua value.
pub(crate) fn error_value(lua: &Lua, e: ExitError) -> mlua::Result<Value> {
    error_object::to_value(lua, ErrorObject::new(e))
}

/// The methods and metamethods every error object shares.
fn install_metatable(lua: &Lua) -> mlua::Result<()> {
    let methods = lua.create_table()?;
    methods.raw_set(
        "kind",
        lua.create_function(|lua, this: Value| {
            this_error(lua, &this, "kind", |e| e.error.kind().as_str().to_owned())
        })?,
    )?;
    methods.raw_set(
        "retryable",
        lua.create_function(|lua, this: Value| {
            this_error(lua, &this, "retryable", |e| e.error.is_retryable())
        })?,
    )?;
    methods.raw_set(
        "message",
        lua.create_function(|lua, this: Value| {
            this_error(lua, &this, "message", |e| e.error.message().to_owned())
        })?,
    )?;
    methods.raw_set(
        "details",
        lua.create_function(|lua, this: Value| {
            let details = this_error(lua, &this, "details", |e| {
                e.error.details_payload().cloned()
            })?;
            match details {
                None => Ok(Value::Nil),
                Some(Payload::Map(pairs)) if pairs.is_empty() => Ok(Value::Nil),
                Some(d) => to_lua(lua, &d),
            }
        })?,
    )?;
    methods.raw_set(
        "stack",
        lua.create_function(|lua, this: Value| this_error(lua, &this, "stack", stack_text))?,
    )?;
    methods.set_readonly(true);

    let meta = lua.create_table()?;
    meta.raw_set("__index", methods)?;
    meta.raw_set(
        "__tostring",
        lua.create_function(|lua, this: Value| {
            this_error(lua, &this, "tostring", |e| e.error.message().to_owned())
        })?,
    )?;
    meta.raw_set(
        "__concat",
        lua.create_function(|lua, (a, b): (Value, Value)| {
            Ok(format!(
                "{}{}",
                concat_text(lua, &a)?,
                concat_text(lua, &b)?
            ))
        })?,
    )?;
    meta.raw_set("__type", "error")?;
    meta.raw_set("__metatable", "error")?;
    error_object::install(lua, meta)
}

/// Runs `f` on the error object `this`, or raises naming the method.
fn this_error<R>(
    lua: &Lua,
    this: &Value,
    method: &str,
    f: impl FnOnce(&ErrorObject) -> R,
) -> mlua::Result<R> {
    error_object::read(lua, this, f).ok_or_else(|| {
        mlua::Error::runtime(format!(
            "error:{method}: expected an error object (call it with `:`)"
        ))
    })
}

/// One side of `a .. b` where the other is an error object.
fn concat_text(lua: &Lua, v: &Value) -> mlua::Result<String> {
    match v {
        Value::String(s) => Ok(s.to_str()?.to_owned()),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Number(n) => Ok(Value::Number(*n).to_string()?),
        other => {
            error_object::read(lua, other, |e| e.error.message().to_owned()).ok_or_else(|| {
                mlua::Error::runtime(format!(
                    "attempt to concatenate {} with an error",
                    other.type_name()
                ))
            })
        }
    }
}

/// `err:stack()`: the wrap contexts, then the frames where the error was
/// made (a diagnostic text, not a stable format).
fn stack_text(e: &ErrorObject) -> String {
    let mut out = e.full_text().into_owned();
    for f in &e.frames {
        out.push_str(&format!("\n  {}:{}", f.source, f.line));
        if let Some(name) = &f.name {
            out.push_str(&format!(" ({name})"));
        }
    }
    out
}

/// The Lua frames of the running thread, innermost first, from `level`.
fn frames(lua: &Lua, level: usize) -> Vec<Frame> {
    let mut out = Vec::new();
    for level in level..level + 32 {
        let frame = lua.inspect_stack(level, |d| {
            let source = d.source();
            Frame {
                source: source.short_src.as_deref().unwrap_or("?").to_owned(),
                line: d.current_line().unwrap_or(0),
                name: d.names().name.map(|n| n.into_owned()),
                what: source.what.to_owned(),
            }
        });
        match frame {
            Some(f) => out.push(f),
            None => break,
        }
    }
    out
}

/// `errors.new(v)`: from a message string, or a table `{message, kind?,
/// retryable?, details?}`.
fn new(lua: &Lua, v: Value) -> mlua::Result<Value> {
    let error = match v {
        Value::String(s) => ExitError::new(s.to_str()?.to_owned()),
        Value::Table(t) => from_table(lua, &t)?,
        _ => return Err(mlua::Error::runtime("errors.new: expected string or table")),
    };
    let mut obj = ErrorObject::new(error);
    obj.frames = frames(lua, 1);
    error_object::to_value(lua, obj)
}

fn from_table(lua: &Lua, t: &Table) -> mlua::Result<ExitError> {
    let message = match t.raw_get::<Value>("message")? {
        Value::Nil => return Err(mlua::Error::runtime("message field is required")),
        Value::String(s) => s.to_str()?.to_owned(),
        _ => return Err(mlua::Error::runtime("message must be a string")),
    };
    let mut e = ExitError::new(message);
    if let Value::String(k) = t.raw_get::<Value>("kind")? {
        e = e.kind_set(ErrorKind::from(&*k.to_str()?));
    }
    if let Value::Boolean(r) = t.raw_get::<Value>("retryable")? {
        e = e.retryable(r);
    }
    if let Value::Table(d) = t.raw_get::<Value>("details")? {
        let details = to_payload(lua, &Value::Table(d), "details").map_err(mlua::Error::runtime)?;
        // Only string keys are kept, as in Wippy.
        let details = match details {
            Payload::Map(pairs) => Payload::Map(
                pairs
                    .into_iter()
                    .filter(|(k, _)| matches!(k, Payload::Str(_)))
                    .collect(),
            ),
            Payload::Array(_) => Payload::Map(Vec::new()),
            other => other,
        };
        e = e.details(details);
    }
    Ok(e)
}

/// `errors.wrap(parent, context)`: keeps the parent's kind, retryable and
/// details; its message is the parent's whole text, and `context` shows in
/// `err:stack()`.
fn wrap(lua: &Lua, (parent, context): (Value, Value)) -> mlua::Result<Value> {
    let parent = match &parent {
        Value::String(s) => ErrorObject::new(ExitError::new(s.to_str()?.to_owned())),
        other => error_object::read(lua, other, ErrorObject::clone).ok_or_else(|| {
            mlua::Error::runtime("errors.wrap: parent must be a string or an error")
        })?,
    };
    let context =
        match &context {
            Value::String(s) => s.to_str()?.to_owned(),
            other => error_object::read(lua, other, |e| e.error.message().to_owned()).ok_or_else(
                || mlua::Error::runtime("errors.wrap: context must be a string or an error"),
            )?,
        };
    let message = parent.full_text().into_owned();
    let mut error = ExitError::with_kind(parent.error.kind().clone(), message);
    if let Some(r) = parent.error.is_retryable() {
        error = error.retryable(r);
    }
    if let Some(d) = parent.error.details_payload() {
        error = error.details(d.clone());
    }
    let mut obj = ErrorObject::new(error);
    obj.context = Some(context);
    obj.frames = frames(lua, 1);
    error_object::to_value(lua, obj)
}

/// `errors.is(err, kind)`: whether `err` is an error object of `kind`.
fn is(lua: &Lua, (err, kind): (Value, Value)) -> mlua::Result<bool> {
    let Value::String(kind) = kind else {
        return Err(mlua::Error::runtime("errors.is: kind must be a string"));
    };
    let kind = kind.to_str()?;
    Ok(error_object::read(lua, &err, |e| e.error.kind().as_str() == &*kind).unwrap_or(false))
}

/// `errors.call_stack(err)`: `{thread = ..., frames = {{level, source, line,
/// name, type}, ...}}` (innermost first), or nil.
fn call_stack(lua: &Lua, err: Value) -> mlua::Result<Value> {
    let Some(frames) = error_object::read(lua, &err, |e| e.frames.clone()) else {
        return Ok(Value::Nil);
    };
    if frames.is_empty() {
        return Ok(Value::Nil);
    }
    let out = lua.create_table()?;
    out.raw_set("thread", "main")?;
    let list = lua.create_table_with_capacity(frames.len(), 0)?;
    for (i, f) in frames.into_iter().enumerate() {
        let t = lua.create_table_with_capacity(0, 5)?;
        t.raw_set("level", i + 1)?;
        t.raw_set("source", f.source)?;
        t.raw_set("line", f.line)?;
        if let Some(name) = f.name {
            t.raw_set("name", name)?;
        }
        t.raw_set("type", f.what)?;
        list.raw_seti(i + 1, t)?;
    }
    out.raw_set("frames", list)?;
    Ok(Value::Table(out))
}
