//! Wippy's casts: `string(x)`, `number(x)`, `integer(x)` and `boolean(x)`
//! as calls (Wippy code writes `string(msg:payload():data())`; reference
//! §10 gives the decision for wippy-rs). Each returns `x` when it already
//! has the type, converts it as `tostring` / `tonumber` do when it can
//! (`integer` only to an integral number), and raises `cannot cast <type>
//! to <T>` otherwise.
//!
//! `number`, `integer` and `boolean` are global functions; `string` stays
//! the string library, callable through a `__call` on its table.

use mlua::{Lua, Value};

use super::Exports;

/// Lists the cast globals and makes the string library callable.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    let lua = m.lua();
    let string: mlua::Table = lua.globals().raw_get("string")?;
    let tostring: mlua::Function = lua.globals().raw_get("tostring")?;
    let meta = lua.create_table()?;
    meta.raw_set(
        "__call",
        lua.create_function(move |lua, (_, x): (Value, Value)| to_string(lua, &tostring, x))?,
    )?;
    meta.raw_set("__metatable", "string")?;
    meta.set_readonly(true);
    string.set_metatable(Some(meta))?;
    m.function("number", |_, x: Value| to_number(x, "number"))?;
    m.function("integer", |_, x: Value| {
        let n = to_number(x, "integer")?;
        if n.fract() != 0.0 {
            return Err(cannot(&Value::Number(n), "integer"));
        }
        Ok(n)
    })?;
    m.function("boolean", |_, x: Value| match x {
        Value::Boolean(b) => Ok(b),
        Value::String(ref s) if &*s.as_bytes() == b"true" => Ok(true),
        Value::String(ref s) if &*s.as_bytes() == b"false" => Ok(false),
        other => Err(cannot(&other, "boolean")),
    })
}

/// The error of a value that cannot be cast.
fn cannot(x: &Value, to: &str) -> mlua::Error {
    // As Lua's `type` names it (mlua says "integer" for some numbers).
    let from = match x {
        Value::Integer(_) | Value::Number(_) => "number",
        other => other.type_name(),
    };
    mlua::Error::runtime(format!("cannot cast {from} to {to}"))
}

/// `string(x)`: strings as they are; numbers, booleans and values with a
/// `__tostring` (error objects, messages) as `tostring` gives them.
fn to_string(lua: &Lua, tostring: &mlua::Function, x: Value) -> mlua::Result<Value> {
    match &x {
        Value::String(_) => Ok(x),
        Value::Integer(_) | Value::Number(_) | Value::Boolean(_) => {
            Ok(Value::String(lua.create_string(x.to_string()?)?))
        }
        Value::UserData(_) => {
            // Only a userdata that says what it is as text: Luau's
            // `tostring` of any other is its address.
            let text: mlua::LuaString = tostring.call(x.clone())?;
            if text.as_bytes().starts_with(b"userdata: ") {
                return Err(cannot(&x, "string"));
            }
            Ok(Value::String(text))
        }
        other => Err(cannot(other, "string")),
    }
}

/// `number(x)`: numbers as they are; strings as `tonumber` reads them.
fn to_number(x: Value, to: &str) -> mlua::Result<f64> {
    match &x {
        Value::Integer(i) => Ok(*i as f64),
        Value::Number(n) => Ok(*n),
        Value::String(s) => {
            let text = s.to_str()?;
            let text = text.trim();
            let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok().map(|i| i as f64),
                None => text.parse::<f64>().ok(),
            };
            parsed.ok_or_else(|| cannot(&x, to))
        }
        other => Err(cannot(other, to)),
    }
}
