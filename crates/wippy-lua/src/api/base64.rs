//! The `base64` module (`docs/lua-api.md`):
//! `base64.encode(s)` and `base64.decode(s)`, the standard alphabet with
//! padding required. Success is the one value; a non-string argument
//! (a number too) or undecodable text is `nil, err` (Invalid).
//!
//! ```lua
//! local base64 = require("base64")
//! assert(base64.encode("hello") == "aGVsbG8=")
//! assert(base64.decode("aGVsbG8=") == "hello")
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mlua::{Lua, MultiValue, Value};
use wippy_process::ErrorKind;

use super::errors::fail;
use super::{Exports, one};

/// Lists `base64.*`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.function("encode", encode)?;
    m.function("decode", decode)
}

/// `base64.encode(s)` → the text of `s`'s bytes.
fn encode(lua: &Lua, s: Value) -> mlua::Result<MultiValue> {
    let Value::String(s) = s else {
        return fail(lua, ErrorKind::Invalid, "string expected");
    };
    one(Value::String(
        lua.create_string(STANDARD.encode(s.as_bytes()))?,
    ))
}

/// `base64.decode(s)` → the bytes `s` encodes.
fn decode(lua: &Lua, s: Value) -> mlua::Result<MultiValue> {
    let Value::String(s) = s else {
        return fail(lua, ErrorKind::Invalid, "string expected");
    };
    match STANDARD.decode(s.as_bytes()) {
        Ok(bytes) => one(Value::String(lua.create_string(bytes)?)),
        Err(e) => fail(lua, ErrorKind::Invalid, describe(&e)),
    }
}

/// A decoding error in Go's words (`illegal base64 data at input byte 4`;
/// bytes counted from 0).
fn describe(e: &base64::DecodeError) -> String {
    use base64::DecodeError::*;
    let at = match e {
        InvalidByte(at, _) | InvalidLastSymbol(at, _) => *at,
        InvalidLength(len) => *len,
        InvalidPadding => return "illegal base64 data: bad padding".into(),
    };
    format!("illegal base64 data at input byte {at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_words_for_bad_input() {
        let e = STANDARD.decode("aGVs*G8=").unwrap_err();
        assert_eq!(describe(&e), "illegal base64 data at input byte 4");
        let e = STANDARD.decode("aGVsbG8").unwrap_err();
        assert!(describe(&e).starts_with("illegal base64 data"));
    }
}
