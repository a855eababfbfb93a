//! The `json` module, as Wippy has it (`docs/lua-api.md`):
//! `json.encode(v)`, `json.decode(s)`, `json.validate(schema, data)` and
//! `json.validate_string(schema, json_text)`; and the conversion of
//! payloads to JSON the `logger` module shares.
//!
//! Encoding walks the Lua value itself (not a payload), so that its errors
//! are Wippy's: a table nested in itself, a sparse array, a table with both
//! numeric and other keys, nesting deeper than 128. A table whose keys are
//! exactly `1..n` is an array, a table with string (or boolean) keys an
//! object with its keys sorted; an empty table is `[]` (Wippy's `{}` for a
//! table that once had a hash part cannot be seen from Luau:
//! `docs/differences-from-wippy.md`). Integral numbers are written as
//! integers, other numbers without an exponent, NaN and the infinities as
//! `null`; strings are escaped as Go's encoder does. Functions, threads and
//! runtime objects become `null`, error objects their text.
//!
//! Decoding gives `nil` for `null` (a hole in an array, an absent key in an
//! object). Schemas are JSON Schema documents (the `jsonschema` crate:
//! drafts 4 to 2020-12, the draft picked by `$schema`, 2020-12 by default).
//! Failures are error objects: Internal for encoding and malformed JSON,
//! Invalid for everything else, never retryable.

use std::fmt::Write as _;

use mlua::{Lua, MultiValue, Table, Value};
use serde_json::{Map, Number, Value as Json};
use wippy_process::{ErrorKind, Payload};

use super::Exports;
use super::errors::fail;
use crate::ffi::error_object;

/// Lists `json.*`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.function("encode", encode)?;
    m.function("decode", decode)?;
    m.function("validate", validate)?;
    m.function("validate_string", validate_string)
}

/// Deepest nesting `json.encode` follows (Wippy's limit).
const MAX_DEPTH: usize = 128;

/// `json.encode(v)` → the JSON text of `v`, or `nil, err` (Internal)
/// saying what cannot be encoded.
fn encode(lua: &Lua, v: Value) -> mlua::Result<MultiValue> {
    match to_json_value(lua, &v) {
        Ok(json) => {
            let mut out = String::new();
            write_json(&json, &mut out);
            Ok(MultiValue::from_vec(vec![Value::String(
                lua.create_string(out)?,
            )]))
        }
        Err(e) => fail(lua, ErrorKind::Internal, e),
    }
}

/// `json.decode(s)` → the value of JSON text `s`, or `nil, err`: Invalid
/// for a non-string or `""`, Internal for malformed text (with its line
/// and column).
fn decode(lua: &Lua, s: Value) -> mlua::Result<MultiValue> {
    let Value::String(s) = s else {
        return fail(lua, ErrorKind::Invalid, "string expected");
    };
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return fail(lua, ErrorKind::Invalid, "empty string is not valid JSON");
    }
    match serde_json::from_slice::<Json>(&bytes) {
        Ok(v) => Ok(MultiValue::from_vec(vec![json_to_lua(lua, &v)?])),
        Err(e) => fail(lua, ErrorKind::Internal, format!("invalid JSON: {e}")),
    }
}

/// `json.validate(schema, data)` → `true`, or `false, err` (Invalid): the
/// schema is JSON text or a table, `data` any value.
fn validate(lua: &Lua, (schema, data): (Value, Value)) -> mlua::Result<MultiValue> {
    if data.is_nil() {
        return invalid(lua, "data is required");
    }
    let data = match to_json_value(lua, &data) {
        Ok(d) => d,
        Err(e) => return invalid(lua, format!("invalid data: {e}")),
    };
    check(lua, &schema, &data)
}

/// `json.validate_string(schema, json_text)`: as `validate`, with the data
/// given as JSON text.
fn validate_string(lua: &Lua, (schema, text): (Value, Value)) -> mlua::Result<MultiValue> {
    let text = match text {
        Value::Nil => return invalid(lua, "data is required"),
        Value::String(s) => s,
        _ => return invalid(lua, "data must be a JSON string"),
    };
    let data = match serde_json::from_slice::<Json>(&text.as_bytes()) {
        Ok(d) => d,
        Err(e) => return invalid(lua, format!("invalid JSON data: {e}")),
    };
    check(lua, &schema, &data)
}

/// Validates `data` against `schema` (a Lua value: JSON text or a table).
fn check(lua: &Lua, schema: &Value, data: &Json) -> mlua::Result<MultiValue> {
    let schema = match schema {
        Value::Nil => return invalid(lua, "schema is required"),
        Value::String(s) => match serde_json::from_slice::<Json>(&s.as_bytes()) {
            Ok(v) => v,
            Err(e) => return invalid(lua, format!("invalid schema JSON: {e}")),
        },
        other => match to_json_value(lua, other) {
            Ok(v) => v,
            Err(e) => return invalid(lua, format!("invalid schema: {e}")),
        },
    };
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => return invalid(lua, format!("invalid schema: {e}")),
    };
    let problems: Vec<String> = validator
        .iter_errors(data)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        return Ok(MultiValue::from_vec(vec![Value::Boolean(true)]));
    }
    invalid(lua, format!("validation failed: {}", problems.join("; ")))
}

/// `false, err` of kind Invalid (validate's failures).
fn invalid(lua: &Lua, msg: impl Into<String>) -> mlua::Result<MultiValue> {
    let mut r = fail(lua, ErrorKind::Invalid, msg)?;
    r.pop_front();
    r.push_front(Value::Boolean(false));
    Ok(r)
}

/// A Lua value as JSON, by Wippy's rules (see the module doc).
pub(crate) fn to_json_value(lua: &Lua, v: &Value) -> Result<Json, String> {
    let mut stack = Vec::new();
    lua_json(lua, v, &mut stack)
}

fn lua_json(lua: &Lua, v: &Value, stack: &mut Vec<usize>) -> Result<Json, String> {
    Ok(match v {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::Number((*i).into()),
        Value::Number(n) => number(*n),
        Value::String(s) => Json::String(s.to_string_lossy()),
        Value::Table(t) => table_json(lua, t, stack)?,
        Value::UserData(_) => match error_object::read(lua, v, |e| e.full_text().into_owned()) {
            Some(text) => Json::String(text),
            None => Json::Null,
        },
        _ => Json::Null,
    })
}

/// A number: integral values within `i64` as integers, NaN and the
/// infinities as `null`.
fn number(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 9.223_372_036_854_775e18 {
        Json::Number((n as i64).into())
    } else {
        Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

fn table_json(lua: &Lua, t: &Table, stack: &mut Vec<usize>) -> Result<Json, String> {
    // Runtime objects (channels, timers, spawners) are tables with a
    // locked metatable that names them: like Go's userdata, `null`.
    if let Some(mt) = t.metatable()
        && mt.raw_get::<Value>("__wippy").is_ok_and(|v| !v.is_nil())
    {
        return Ok(Json::Null);
    }
    let ptr = t.to_pointer() as usize;
    if stack.contains(&ptr) {
        return Err("cannot encode recursively nested tables to JSON".into());
    }
    if stack.len() >= MAX_DEPTH {
        return Err("exceeded maximum nesting depth for JSON encoding".into());
    }
    let mut numeric: Vec<(f64, Value)> = Vec::new();
    let mut named: Vec<(String, Value)> = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        match k {
            Value::Integer(i) => numeric.push((i as f64, v)),
            Value::Number(n) => numeric.push((n, v)),
            Value::String(s) => named.push((s.to_string_lossy(), v)),
            Value::Boolean(b) => named.push((b.to_string(), v)),
            other => {
                return Err(format!(
                    "cannot encode table key of type {}",
                    other.type_name()
                ));
            }
        }
        if !numeric.is_empty() && !named.is_empty() {
            return Err(
                "cannot encode mixed-key table: table has both numeric and non-numeric keys".into(),
            );
        }
    }
    stack.push(ptr);
    let out = if named.is_empty() {
        array_json(lua, numeric, stack)
    } else {
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let mut map = Map::new();
        let mut result = Ok(());
        for (k, v) in named {
            match lua_json(lua, &v, stack) {
                Ok(j) => {
                    map.insert(k, j);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        result.map(|()| Json::Object(map))
    };
    stack.pop();
    out
}

/// The items of a table whose keys are all numbers: an array if they are
/// exactly `1..n`.
fn array_json(lua: &Lua, items: Vec<(f64, Value)>, stack: &mut Vec<usize>) -> Result<Json, String> {
    let n = items.len();
    let mut slots: Vec<Option<Value>> = vec![None; n];
    for (k, v) in items {
        let ix = k as usize;
        if k.fract() != 0.0 || k < 1.0 || ix > n || slots[ix - 1].is_some() {
            return Err("cannot encode sparse array: non-contiguous numeric keys found".into());
        }
        slots[ix - 1] = Some(v);
    }
    let mut out = Vec::with_capacity(n);
    for v in slots.into_iter().flatten() {
        out.push(lua_json(lua, &v, stack)?);
    }
    Ok(Json::Array(out))
}

/// Writes `v` as compact JSON text, numbers and strings as Go writes them.
fn write_json(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => {
                let _ = write!(out, "{i}");
            }
            (None, Some(u), _) => {
                let _ = write!(out, "{u}");
            }
            // Rust's `Display` of a float is the shortest text that reads
            // back the same, never with an exponent.
            (None, None, Some(f)) => {
                let _ = write!(out, "{f}");
            }
            _ => out.push_str("null"),
        },
        Json::String(s) => write_string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string as Wippy writes it: plain printable ASCII as it is; any
/// other string through Go's escaping, which also escapes `<`, `>` and `&`
/// (as `\u003c`, ...), U+2028 and U+2029.
fn write_string(s: &str, out: &mut String) {
    let plain = s
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    out.push('"');
    if plain {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// A decoded JSON value as a fresh Lua value (`null` is `nil`: a hole in
/// an array, an absent key in an object).
fn json_to_lua(lua: &Lua, v: &Json) -> mlua::Result<Value> {
    Ok(match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                let v = json_to_lua(lua, item)?;
                if !v.is_nil() {
                    t.raw_set(i + 1, v)?;
                }
            }
            Value::Table(t)
        }
        Json::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, item) in map {
                let v = json_to_lua(lua, item)?;
                if !v.is_nil() {
                    t.raw_set(k.as_str(), v)?;
                }
            }
            Value::Table(t)
        }
    })
}

/// A JSON value as a payload: integers stay integers, `null` is nil.
pub(crate) fn from_json(v: Json) -> Payload {
    match v {
        Json::Null => Payload::Nil,
        Json::Bool(b) => Payload::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Payload::Int(i),
            None => Payload::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Payload::Str(s.into()),
        Json::Array(items) => Payload::Array(items.into_iter().map(from_json).collect()),
        Json::Object(map) => Payload::Map(
            map.into_iter()
                .map(|(k, v)| (Payload::Str(k.into()), from_json(v)))
                .collect(),
        ),
    }
}

/// A payload as JSON (the `logger` module's fields): maps with non-string
/// keys use the key's text; bytes that are not UTF-8 become strings with
/// replacement characters; pids become their string form; error objects
/// their message. NaN and the infinities have no JSON form: an error names
/// where one is (`value.list[2]: NaN cannot be encoded as JSON`; `root` is
/// the name of the whole value).
pub(crate) fn to_json(p: &Payload, root: &str) -> Result<Json, String> {
    let mut path = root.to_owned();
    payload_json(p, &mut path)
}

fn payload_json(p: &Payload, path: &mut String) -> Result<Json, String> {
    Ok(match p {
        Payload::Nil => Json::Null,
        Payload::Bool(b) => Json::Bool(*b),
        Payload::Int(i) => Json::Number((*i).into()),
        Payload::Float(f) => match Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None => return Err(format!("{path}: {f} cannot be encoded as JSON")),
        },
        Payload::Str(s) => Json::String(s.to_string()),
        Payload::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        Payload::Pid(pid) => Json::String(pid.to_string()),
        Payload::Error(e) => Json::String(e.message().to_owned()),
        Payload::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                crate::convert::push_key(path, &Payload::Int(i as i64 + 1));
                out.push(payload_json(item, path)?);
                path.truncate(len);
            }
            Json::Array(out)
        }
        Payload::Map(pairs) => {
            let mut out = Map::new();
            for (k, v) in pairs {
                let key = match k {
                    Payload::Str(s) => s.to_string(),
                    Payload::Int(i) => i.to_string(),
                    other => payload_json(other, path)?.to_string(),
                };
                let len = path.len();
                crate::convert::push_key(path, k);
                out.insert(key, payload_json(v, path)?);
                path.truncate(len);
            }
            Json::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(code: &str) -> Result<String, String> {
        let lua = Lua::new();
        let v: Value = lua.load(code).eval().unwrap();
        to_json_value(&lua, &v).map(|j| {
            let mut out = String::new();
            write_json(&j, &mut out);
            out
        })
    }

    #[test]
    fn tables_encode_as_arrays_or_objects_by_their_keys() {
        assert_eq!(encoded("return {}").unwrap(), "[]");
        assert_eq!(encoded("return {1, 2, 3}").unwrap(), "[1,2,3]");
        assert_eq!(
            encoded("return {b = 1, a = {true, false}}").unwrap(),
            r#"{"a":[true,false],"b":1}"#
        );
        assert_eq!(encoded("return {[true] = 1}").unwrap(), r#"{"true":1}"#);
    }

    #[test]
    fn numbers_are_integers_when_integral_and_never_use_exponents() {
        assert_eq!(encoded("return 42").unwrap(), "42");
        assert_eq!(encoded("return 1.0").unwrap(), "1");
        assert_eq!(encoded("return 3.14").unwrap(), "3.14");
        assert_eq!(encoded("return 1e-7").unwrap(), "0.0000001");
        assert_eq!(encoded("return -0.5").unwrap(), "-0.5");
        assert_eq!(encoded("return {0/0, math.huge}").unwrap(), "[null,null]");
    }

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        assert_eq!(encoded("return 'a<b'").unwrap(), r#""a<b""#);
        assert_eq!(
            encoded(r#"return 'a<b\n"é'"#).unwrap(),
            r#""a\u003cb\n\"é""#
        );
        assert_eq!(encoded(r#"return '\1'"#).unwrap(), r#""\u0001""#);
    }

    #[test]
    fn bad_tables_are_errors_with_wippys_messages() {
        assert_eq!(
            encoded("return {[1] = 'a', [3] = 'c'}").unwrap_err(),
            "cannot encode sparse array: non-contiguous numeric keys found"
        );
        assert_eq!(
            encoded("return {1, x = 2}").unwrap_err(),
            "cannot encode mixed-key table: table has both numeric and non-numeric keys"
        );
        assert_eq!(
            encoded("local t = {} t.self = t return t").unwrap_err(),
            "cannot encode recursively nested tables to JSON"
        );
        assert_eq!(
            encoded("local t = {} for i = 1, 200 do t = {t} end return t").unwrap_err(),
            "exceeded maximum nesting depth for JSON encoding"
        );
    }

    #[test]
    fn a_table_seen_twice_but_not_nested_in_itself_encodes() {
        assert_eq!(encoded("local t = {1} return {t, t}").unwrap(), "[[1],[1]]");
    }

    #[test]
    fn payloads_convert_for_the_logger_and_name_where_nan_is() {
        let p = Payload::map([(
            "list",
            Payload::Array(vec![Payload::Int(1), Payload::Float(f64::NAN)]),
        )]);
        assert_eq!(
            to_json(&p, "value"),
            Err("value.list[2]: NaN cannot be encoded as JSON".to_owned())
        );
        let ok = Payload::map([("a", Payload::Int(1))]);
        assert_eq!(to_json(&ok, "value"), Ok(serde_json::json!({"a": 1})));
    }
}
