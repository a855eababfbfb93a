//! The `payload` global: `payload.new(v)`, the format names
//! (`payload.format.JSON == "json/plain"`, ...), and the methods of payload
//! objects: `p:data()` / `p:unmarshal()` (the value), `p:get_format()`,
//! `p:transcode(format)` and `tostring(p)` = `payload{format=<f>}`
//! (reference §4, addendum §5).
//!
//! A payload object (`ffi/payload_object.rs`) holds a value and its format.
//! `lua/any` (what `payload.new` makes, and each value of a message sent
//! with several) and `golang/any` hold the value itself, `golang/error` an
//! error; the text formats hold the text. Transcoding follows Wippy's
//! direct routes: Lua ↔ JSON, text, bytes and Go values; Go values ↔ JSON.
//! Any other route (MessagePack and YAML, which wippy-rs does not
//! transcode) is `nil, err` Internal, as Wippy's is for a format pair it
//! has no route for.

use mlua::{Lua, MultiValue, Value};
use wippy_process::{ErrorKind, ExitError, Payload};

use super::Exports;
use super::errors::fail_with;
use super::json::{from_json, to_json};
use crate::convert::{to_lua, to_payload};
use crate::ffi::payload_object::{self, GOLANG_ERROR, LUA_ANY, PayloadObject};

/// `payload.format`: the format names by their constant names.
const FORMATS: [(&str, &str); 8] = [
    ("JSON", JSON),
    ("YAML", "yaml/plain"),
    ("STRING", TEXT),
    ("GOLANG", GOLANG_ANY),
    ("LUA", LUA_ANY),
    ("BYTES", BYTES),
    ("MSGPACK", "application/msgpack"),
    ("ERROR", GOLANG_ERROR),
];

const JSON: &str = "json/plain";
const TEXT: &str = "text/plain";
const BYTES: &str = "application/octet-stream";
const GOLANG_ANY: &str = "golang/any";

/// Lists `payload.*`, and sets up payload objects in the VM.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    install_metatable(m.lua())?;
    m.function("new", new)?;
    m.table("format", |t| {
        for (name, format) in FORMATS {
            t.set(name, format)?;
        }
        Ok(())
    })
}

/// The methods and metamethods every payload object shares.
fn install_metatable(lua: &Lua) -> mlua::Result<()> {
    let methods = lua.create_table()?;
    methods.raw_set("data", lua.create_function(data)?)?;
    methods.raw_set("unmarshal", lua.create_function(data)?)?;
    methods.raw_set(
        "get_format",
        lua.create_function(|lua, this: Value| {
            this_payload(lua, &this, "get_format", |p| p.format)
        })?,
    )?;
    methods.raw_set("transcode", lua.create_function(transcode)?)?;
    methods.set_readonly(true);
    let meta = lua.create_table()?;
    meta.raw_set("__index", methods)?;
    meta.raw_set(
        "__tostring",
        lua.create_function(|lua, this: Value| {
            this_payload(lua, &this, "tostring", |p| {
                format!("payload{{format={}}}", p.format)
            })
        })?,
    )?;
    meta.raw_set("__type", "payload")?;
    meta.raw_set("__metatable", "payload")?;
    payload_object::install(lua, meta)
}

/// Runs `f` on the payload object `this`, or raises naming the method.
fn this_payload<R>(
    lua: &Lua,
    this: &Value,
    method: &str,
    f: impl FnOnce(&PayloadObject) -> R,
) -> mlua::Result<R> {
    payload_object::read(lua, this, f).ok_or_else(|| {
        mlua::Error::runtime(format!(
            "payload:{method}: expected a payload object (call it with `:`)"
        ))
    })
}

/// `payload.new(v)` → a payload object of `v` (`lua/any`; `golang/error`
/// for an error object). A value that cannot be carried (a function, a
/// channel) raises, naming where it is.
fn new(lua: &Lua, v: Value) -> mlua::Result<Value> {
    let value = to_payload(lua, &v, "value").map_err(mlua::Error::runtime)?;
    payload_object::to_value(lua, PayloadObject::of(value))
}

/// `p:data()` (also `p:unmarshal()`) → the value as Lua sees it, or `nil,
/// err` (Internal) when the text does not decode.
fn data(lua: &Lua, this: Value) -> mlua::Result<MultiValue> {
    let object = this_payload(lua, &this, "data", PayloadObject::clone)?;
    match to_value(&object) {
        Ok(v) => Ok(MultiValue::from_vec(vec![to_lua(lua, &v)?])),
        Err(e) => fail_with(lua, e),
    }
}

/// The value a payload object stands for, decoding its text if it holds
/// text.
fn to_value(p: &PayloadObject) -> Result<Payload, ExitError> {
    match p.format {
        JSON => {
            let text = text_of(&p.value);
            let json: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
                ExitError::non_retryable(ErrorKind::Internal, format!("invalid JSON payload: {e}"))
            })?;
            Ok(from_json(json))
        }
        _ => Ok(p.value.clone()),
    }
}

/// The bytes of a text payload's value.
fn text_of(v: &Payload) -> &[u8] {
    match v {
        Payload::Str(s) => s.as_bytes(),
        Payload::Bytes(b) => b,
        _ => b"",
    }
}

/// `p:transcode(format)` → a payload object of the same value in
/// `format`, or `nil, err` (Internal) when there is no route or the value
/// does not convert.
fn transcode(lua: &Lua, (this, format): (Value, String)) -> mlua::Result<MultiValue> {
    let object = this_payload(lua, &this, "transcode", PayloadObject::clone)?;
    match transcoded(&object, &format) {
        Ok(p) => Ok(MultiValue::from_vec(vec![payload_object::to_value(
            lua, p,
        )?])),
        Err(e) => fail_with(lua, e),
    }
}

fn transcoded(p: &PayloadObject, to: &str) -> Result<PayloadObject, ExitError> {
    let Some((_, to)) = FORMATS.iter().find(|(_, f)| *f == to) else {
        return Err(internal(format!("unknown payload format {to:?}")));
    };
    let from = p.format;
    if from == *to {
        return Ok(p.clone());
    }
    let value = match (from, *to) {
        (LUA_ANY | GOLANG_ANY, JSON) => {
            let json = to_json(&p.value, "payload").map_err(internal)?;
            Payload::Str(json.to_string().into())
        }
        (LUA_ANY, TEXT) => Payload::Str(go_text(&p.value).into()),
        (LUA_ANY, BYTES) => match &p.value {
            Payload::Str(s) => Payload::Bytes(s.as_bytes().to_vec()),
            Payload::Bytes(b) => Payload::Bytes(b.clone()),
            other => Payload::Bytes(go_text(other).into_bytes()),
        },
        (LUA_ANY, GOLANG_ANY) | (GOLANG_ANY, LUA_ANY) => p.value.clone(),
        (JSON, LUA_ANY | GOLANG_ANY) => to_value(p)?,
        (TEXT | BYTES, LUA_ANY) => match &p.value {
            Payload::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => Payload::Str(s.into()),
                Err(_) => Payload::Bytes(b.clone()),
            },
            other => other.clone(),
        },
        _ => {
            return Err(internal(format!(
                "no transcoding route from {from} to {to}"
            )));
        }
    };
    Ok(PayloadObject { format: to, value })
}

fn internal(msg: impl Into<String>) -> ExitError {
    ExitError::non_retryable(ErrorKind::Internal, msg)
}

/// A value as Go's `%v` prints it, which is what Wippy's Lua → text route
/// gives: integers in decimal, floats shortest, nil as `""`, arrays as
/// `[a b]`, maps as `map[k:v ...]` with sorted keys.
fn go_text(v: &Payload) -> String {
    let mut out = String::new();
    go_write(v, &mut out, true);
    out
}

fn go_write(v: &Payload, out: &mut String, top: bool) {
    use std::fmt::Write;
    match v {
        Payload::Nil if top => {}
        Payload::Nil => out.push_str("<nil>"),
        Payload::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Payload::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Payload::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Payload::Str(s) => out.push_str(s),
        Payload::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
        Payload::Pid(p) => {
            let _ = write!(out, "{p}");
        }
        Payload::Error(e) => out.push_str(e.message()),
        Payload::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_write(x, out, false);
            }
            out.push(']');
        }
        Payload::Map(pairs) => {
            let mut parts: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| {
                    let (mut ks, mut vs) = (String::new(), String::new());
                    go_write(k, &mut ks, false);
                    go_write(v, &mut vs, false);
                    (ks, vs)
                })
                .collect();
            parts.sort();
            out.push_str("map[");
            for (i, (k, v)) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}:{v}");
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_values_print_as_go_prints_them() {
        assert_eq!(go_text(&Payload::Nil), "");
        assert_eq!(go_text(&Payload::Int(42)), "42");
        assert_eq!(go_text(&Payload::Float(1.5)), "1.5");
        assert_eq!(
            go_text(&Payload::map([
                ("b", Payload::Int(2)),
                ("a", Payload::Int(1))
            ])),
            "map[a:1 b:2]"
        );
        assert_eq!(
            go_text(&Payload::Array(vec![Payload::Int(1), Payload::Nil])),
            "[1 <nil>]"
        );
    }

    #[test]
    fn a_lua_value_goes_to_json_and_back() {
        let lua = PayloadObject::of(Payload::map([("n", Payload::Int(1))]));
        let json = transcoded(&lua, JSON).unwrap();
        assert_eq!(json.format, JSON);
        assert_eq!(json.value, Payload::Str("{\"n\":1}".into()));
        let back = transcoded(&json, LUA_ANY).unwrap();
        assert_eq!(back.value, lua.value);
    }

    #[test]
    fn an_error_has_no_route_and_an_unknown_format_is_refused() {
        let e = PayloadObject::of(Payload::Error(ExitError::new("x")));
        assert_eq!(e.format, GOLANG_ERROR);
        let err = transcoded(&e, JSON).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Internal);
        assert!(transcoded(&e, "x/y").is_err());
    }
}
