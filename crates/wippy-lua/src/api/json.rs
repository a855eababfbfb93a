//! The `json` module: `json.encode(v)` and `json.decode(s)`, through
//! payloads (what a message can carry is what JSON can encode), and the
//! conversions between payloads and JSON the `logger` module shares.

use mlua::{Lua, MultiValue};
use serde_json::{Map, Number, Value};
use wippy_process::Payload;

use super::{Exports, err_pair, one};
use crate::convert::{to_lua, to_payload};

/// Lists `json.*`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.function("encode", encode)?;
    m.function("decode", decode)
}

/// `json.encode(v)` → the JSON text of `v`, or `nil, err` naming what
/// cannot be encoded.
fn encode(lua: &Lua, v: mlua::Value) -> mlua::Result<MultiValue> {
    match to_payload(lua, &v, "value").and_then(|p| to_json(&p, "value")) {
        Ok(json) => one(mlua::Value::String(lua.create_string(json.to_string())?)),
        Err(e) => err_pair(lua, e),
    }
}

/// `json.decode(s)` → the value of JSON text `s`, or `nil, err` with the
/// line and column of the error.
fn decode(lua: &Lua, s: mlua::LuaString) -> mlua::Result<MultiValue> {
    match serde_json::from_slice::<Value>(&s.as_bytes()) {
        Ok(v) => one(to_lua(lua, &from_json(v))?),
        Err(e) => err_pair(
            lua,
            format!(
                "json: {} at line {} column {}",
                describe(&e),
                e.line(),
                e.column()
            ),
        ),
    }
}

/// A payload as JSON: maps with non-string keys use the key's text; bytes
/// that are not UTF-8 become strings with replacement characters; pids
/// become their string form. NaN and the infinities have no JSON form: an
/// error names where one is (`value.list[2]: NaN cannot be encoded as
/// JSON`; `root` is the name of the whole value).
pub(crate) fn to_json(p: &Payload, root: &str) -> Result<Value, String> {
    let mut path = root.to_owned();
    json(p, &mut path)
}

fn json(p: &Payload, path: &mut String) -> Result<Value, String> {
    Ok(match p {
        Payload::Nil => Value::Null,
        Payload::Bool(b) => Value::Bool(*b),
        Payload::Int(i) => Value::Number((*i).into()),
        Payload::Float(f) => match Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => return Err(format!("{path}: {f} cannot be encoded as JSON")),
        },
        Payload::Str(s) => Value::String(s.to_string()),
        Payload::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Payload::Pid(pid) => Value::String(pid.to_string()),
        // As in Wippy: an error object encodes as its text.
        Payload::Error(e) => Value::String(e.message().to_owned()),
        Payload::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                crate::convert::push_key(path, &Payload::Int(i as i64 + 1));
                out.push(json(item, path)?);
                path.truncate(len);
            }
            Value::Array(out)
        }
        Payload::Map(pairs) => {
            let mut out = Map::new();
            for (k, v) in pairs {
                let key = match k {
                    Payload::Str(s) => s.to_string(),
                    Payload::Int(i) => i.to_string(),
                    other => json(other, path)?.to_string(),
                };
                let len = path.len();
                crate::convert::push_key(path, k);
                out.insert(key, json(v, path)?);
                path.truncate(len);
            }
            Value::Object(out)
        }
    })
}

/// JSON as a payload (integers stay integers).
pub(crate) fn from_json(v: Value) -> Payload {
    match v {
        Value::Null => Payload::Nil,
        Value::Bool(b) => Payload::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Payload::Int(i),
            None => Payload::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Payload::Str(s.into()),
        Value::Array(items) => Payload::Array(items.into_iter().map(from_json).collect()),
        Value::Object(map) => Payload::Map(
            map.into_iter()
                .map(|(k, v)| (Payload::Str(k.into()), from_json(v)))
                .collect(),
        ),
    }
}

/// The message of a parse error without serde_json's position suffix (the
/// caller adds line and column).
pub(crate) fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(ix) => text[..ix].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_keep_integers() {
        let v: Value = serde_json::from_str(r#"{"a":[1,2.5,"x",null,true]}"#).unwrap();
        let p = from_json(v.clone());
        assert_eq!(
            p.get("a"),
            Some(&Payload::Array(vec![
                Payload::Int(1),
                Payload::Float(2.5),
                Payload::Str("x".into()),
                Payload::Nil,
                Payload::Bool(true)
            ]))
        );
        assert_eq!(to_json(&p, "value"), Ok(v));
    }

    #[test]
    fn nan_and_infinities_are_errors_naming_their_place() {
        let p = Payload::map([(
            "list",
            Payload::Array(vec![Payload::Int(1), Payload::Float(f64::NAN)]),
        )]);
        assert_eq!(
            to_json(&p, "value"),
            Err("value.list[2]: NaN cannot be encoded as JSON".to_owned())
        );
        let inf = Payload::Float(f64::INFINITY);
        assert_eq!(
            to_json(&inf, "value"),
            Err("value: inf cannot be encoded as JSON".to_owned())
        );
    }

    #[test]
    fn errors_are_described_without_position() {
        let e = serde_json::from_str::<Value>("{\"a\": }").unwrap_err();
        assert_eq!(describe(&e), "expected value");
        assert_eq!((e.line(), e.column()), (1, 7));
    }
}
