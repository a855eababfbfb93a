//! Converting between Lua values and owned [`Payload`]s.
//!
//! Everything that crosses a process boundary (messages, spawn arguments,
//! results) is copied into an owned payload and back, so no Lua object is
//! ever shared between processes. Error objects are carried as errors,
//! payload objects and messages as their values. Functions, threads, other
//! userdata, runtime objects (channels, timers) and cycles cannot be sent;
//! the error names the path, e.g. `payload.items[3]: function cannot be
//! sent`. Integral numbers become [`Payload::Int`].

use mlua::{Lua, Table, Value};
use wippy_process::Payload;

use crate::ffi::error_object::{self, ErrorObject};
use crate::ffi::payload::carried_value;

/// Deepest nesting a payload may have.
pub(crate) const MAX_DEPTH: usize = 64;

/// Converts `value` (found at `root`, e.g. `"payload"`) into an owned payload.
/// An error object becomes [`Payload::Error`]; a payload object, or a
/// message, its value.
pub(crate) fn to_payload(lua: &Lua, value: &Value, root: &str) -> Result<Payload, String> {
    let mut path = root.to_owned();
    let mut stack = Vec::new();
    convert(lua, value, &mut path, &mut stack)
}

fn convert(
    lua: &Lua,
    value: &Value,
    path: &mut String,
    stack: &mut Vec<usize>,
) -> Result<Payload, String> {
    Ok(match value {
        Value::Nil => Payload::Nil,
        Value::Boolean(b) => Payload::Bool(*b),
        // As a number: beyond 2^53 it is a float, as on the raw path.
        Value::Integer(i) => number(*i as f64),
        Value::Number(n) => number(*n),
        Value::String(s) => match s.to_str() {
            Ok(text) => Payload::Str((&*text).into()),
            Err(_) => Payload::Bytes(s.as_bytes().to_vec()),
        },
        Value::Table(t) => table(lua, t, path, stack)?,
        Value::UserData(_) if let Some(p) = carried_value(lua, value) => p,
        other => {
            return Err(format!(
                "{path}: {} cannot be sent",
                match other {
                    Value::UserData(_) | Value::LightUserData(_) => "userdata",
                    v => v.type_name(),
                }
            ));
        }
    })
}

/// An integral float becomes an integer.
pub(crate) fn number(n: f64) -> Payload {
    if n.fract() == 0.0 && n.is_finite() && n.abs() < 9.007_199_254_740_992e15 {
        Payload::Int(n as i64)
    } else {
        Payload::Float(n)
    }
}

fn table(
    lua: &Lua,
    t: &Table,
    path: &mut String,
    stack: &mut Vec<usize>,
) -> Result<Payload, String> {
    if let Some(mt) = t.metatable()
        && let Ok(Value::String(kind)) = mt.raw_get::<Value>("__wippy")
    {
        return Err(format!("{path}: {} cannot be sent", kind.to_string_lossy()));
    }
    let ptr = t.to_pointer() as usize;
    if stack.contains(&ptr) {
        return Err(format!("{path}: table contains a cycle and cannot be sent"));
    }
    if stack.len() >= MAX_DEPTH {
        return Err(format!(
            "{path}: nested deeper than {MAX_DEPTH} levels and cannot be sent"
        ));
    }
    stack.push(ptr);
    let len = t.raw_len();
    let mut pairs: Vec<(Payload, Payload)> = Vec::new();
    let mut sequence = true;
    let mut result = Ok(());
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = match pair {
            Ok(kv) => kv,
            Err(e) => {
                result = Err(format!("{path}: {e}"));
                break;
            }
        };
        let key = match &k {
            Value::String(_) | Value::Integer(_) | Value::Number(_) | Value::Boolean(_) => {
                match convert(lua, &k, path, stack) {
                    Ok(key) => key,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            other => {
                result = Err(format!(
                    "{path}: a {} key cannot be sent",
                    other.type_name()
                ));
                break;
            }
        };
        if sequence && !matches!(key, Payload::Int(i) if i >= 1 && (i as usize) <= len) {
            sequence = false;
        }
        let mark = path.len();
        push_key(path, &key);
        let val = convert(lua, &v, path, stack);
        path.truncate(mark);
        match val {
            Ok(val) => pairs.push((key, val)),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    stack.pop();
    result?;
    Ok(table_payload(pairs, sequence, len))
}

/// The payload of a converted table: an array when its keys were exactly
/// `1..=len` (`sequence`), else a map.
pub(crate) fn table_payload(pairs: Vec<(Payload, Payload)>, sequence: bool, len: usize) -> Payload {
    if sequence && pairs.len() == len && len > 0 {
        let mut items = vec![Payload::Nil; len];
        for (k, v) in pairs {
            if let Payload::Int(i) = k {
                items[i as usize - 1] = v;
            }
        }
        Payload::Array(items)
    } else {
        Payload::Map(pairs)
    }
}

/// Appends `key` to an error path (`.name`, `["odd key"]`, `[3]`).
pub(crate) fn push_key(path: &mut String, key: &Payload) {
    use std::fmt::Write;
    match key {
        Payload::Str(s)
            if !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !s.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            let _ = write!(path, ".{s}");
        }
        Payload::Str(s) => {
            let _ = write!(path, "[{s:?}]");
        }
        Payload::Int(i) => {
            let _ = write!(path, "[{i}]");
        }
        other => {
            let _ = write!(path, "[{other:?}]");
        }
    }
}

/// Whether a Lua table can hold `key` as a key: not nil, not NaN. A map
/// payload made in Rust may have such keys; converting it to Lua drops
/// them (Lua code can never make one).
pub(crate) fn is_table_key(key: &Payload) -> bool {
    match key {
        Payload::Nil => false,
        Payload::Float(f) => !f.is_nan(),
        _ => true,
    }
}

/// Builds a fresh Lua value owned by the receiving process (keys a table
/// cannot hold are dropped: [`is_table_key`]).
pub(crate) fn to_lua(lua: &Lua, payload: &Payload) -> mlua::Result<Value> {
    Ok(match payload {
        Payload::Nil => Value::Nil,
        Payload::Bool(b) => Value::Boolean(*b),
        Payload::Int(i) => Value::Number(*i as f64),
        Payload::Float(f) => Value::Number(*f),
        Payload::Str(s) => Value::String(lua.create_string(s.as_bytes())?),
        Payload::Bytes(b) => Value::String(lua.create_string(b)?),
        Payload::Pid(p) => Value::String(lua.create_string(p.to_string())?),
        Payload::Error(e) => error_object::to_value(lua, ErrorObject::new(e.clone()))?,
        Payload::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, v) in items.iter().enumerate() {
                t.raw_seti(i + 1, to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
        Payload::Map(pairs) => {
            let t = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs.iter().filter(|(k, _)| is_table_key(k)) {
                t.raw_set(to_lua(lua, k)?, to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(lua: &Lua, code: &str) -> Value {
        lua.load(code).eval().unwrap()
    }

    #[test]
    fn round_trips_keep_shape_and_integers() {
        let lua = Lua::new();
        let v = eval(
            &lua,
            "return { n = 3, f = 1.5, list = {1, 2, 'x'}, nested = { ok = true }, s = 'hi' }",
        );
        let p = to_payload(&lua, &v, "payload").unwrap();
        assert_eq!(p.get("n"), Some(&Payload::Int(3)));
        assert_eq!(p.get("f"), Some(&Payload::Float(1.5)));
        assert_eq!(
            p.get("list"),
            Some(&Payload::Array(vec![
                Payload::Int(1),
                Payload::Int(2),
                Payload::Str("x".into())
            ]))
        );
        let back = to_lua(&lua, &p).unwrap();
        let again = to_payload(&lua, &back, "payload").unwrap();
        assert_eq!(sorted(p), sorted(again));
    }

    fn sorted(p: Payload) -> Payload {
        match p {
            Payload::Map(mut pairs) => {
                pairs.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
                Payload::Map(pairs.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            other => other,
        }
    }

    #[test]
    fn functions_are_rejected_with_their_path() {
        let lua = Lua::new();
        let v = eval(&lua, "return { items = { 1, 2, function() end } }");
        let err = to_payload(&lua, &v, "payload").unwrap_err();
        assert_eq!(err, "payload.items[3]: function cannot be sent");
    }

    #[test]
    fn cycles_are_rejected() {
        let lua = Lua::new();
        let v = eval(&lua, "local t = { a = {} } t.a.back = t return t");
        let err = to_payload(&lua, &v, "payload").unwrap_err();
        assert!(
            err.contains("payload.a.back") && err.contains("cycle"),
            "{err}"
        );
    }

    #[test]
    fn shared_subtables_are_not_cycles() {
        let lua = Lua::new();
        let v = eval(&lua, "local s = {1} return { a = s, b = s }");
        assert!(to_payload(&lua, &v, "payload").is_ok());
    }

    #[test]
    fn depth_is_limited() {
        let lua = Lua::new();
        let v = eval(
            &lua,
            "local t = {} local c = t for i = 1, 100 do c.x = {} c = c.x end return t",
        );
        let err = to_payload(&lua, &v, "payload").unwrap_err();
        assert!(err.contains("nested deeper than 64"), "{err}");
    }

    #[test]
    fn threads_and_odd_keys_are_rejected() {
        let lua = Lua::new();
        let v = eval(&lua, "return { co = coroutine.create(function() end) }");
        assert_eq!(
            to_payload(&lua, &v, "payload").unwrap_err(),
            "payload.co: thread cannot be sent"
        );
        let v = eval(&lua, "return { [{}] = 1 }");
        assert!(
            to_payload(&lua, &v, "payload")
                .unwrap_err()
                .contains("table key")
        );
    }
}
