//! The `hash` module (`docs/lua-api.md`): digests of a
//! string's bytes as lower-case hex, or the raw bytes when the last
//! argument is truthy. `md5`, `sha1`, `sha256`, `sha512(data[, raw])`;
//! `hmac_md5`, `hmac_sha1`, `hmac_sha256`, `hmac_sha512(data, secret[,
//! raw])` (data first, then the secret); `fnv32`, `fnv64(data)`: FNV-1
//! (not 1a) as a number. Success is `v, nil`; a non-string argument is
//! `nil, err` (Invalid).
//!
//! ```lua
//! local hash = require("hash")
//! assert(hash.md5("hello") == "5d41402abc4b2a76b9719d911017c592")
//! assert(hash.fnv32("hello") == 3069866343)
//! ```

use hmac::{Hmac, Mac};
use md5::Md5;
use mlua::{Lua, MultiValue, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use wippy_process::ErrorKind;

use super::Exports;
use super::errors::fail;

/// Lists `hash.*`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.function("md5", |lua, (d, raw): (Value, Value)| {
        digest::<Md5>(lua, d, raw)
    })?;
    m.function("sha1", |lua, (d, raw): (Value, Value)| {
        digest::<Sha1>(lua, d, raw)
    })?;
    m.function("sha256", |lua, (d, raw): (Value, Value)| {
        digest::<Sha256>(lua, d, raw)
    })?;
    m.function("sha512", |lua, (d, raw): (Value, Value)| {
        digest::<Sha512>(lua, d, raw)
    })?;
    m.function("hmac_md5", |lua, (d, k, raw)| {
        hmac::<Hmac<Md5>>(lua, d, k, raw)
    })?;
    m.function("hmac_sha1", |lua, (d, k, raw)| {
        hmac::<Hmac<Sha1>>(lua, d, k, raw)
    })?;
    m.function("hmac_sha256", |lua, (d, k, raw)| {
        hmac::<Hmac<Sha256>>(lua, d, k, raw)
    })?;
    m.function("hmac_sha512", |lua, (d, k, raw)| {
        hmac::<Hmac<Sha512>>(lua, d, k, raw)
    })?;
    m.function("fnv32", |lua, d: Value| fnv(lua, d, |b| fnv1_32(b) as f64))?;
    m.function("fnv64", |lua, d: Value| fnv(lua, d, |b| fnv1_64(b) as f64))
}

/// `data`'s bytes, or the Invalid error for a non-string.
fn bytes(lua: &Lua, v: &Value, what: &str) -> Result<Vec<u8>, mlua::Result<MultiValue>> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        other => Err(fail(
            lua,
            ErrorKind::Invalid,
            format!("{what} must be a string, got {}", super::type_name(other)),
        )),
    }
}

/// `digest, nil`: hex, or the raw bytes when `raw` is truthy.
fn output(lua: &Lua, bytes: &[u8], raw: &Value) -> mlua::Result<MultiValue> {
    let s = if raw.as_boolean() != Some(false) && !raw.is_nil() {
        lua.create_string(bytes)?
    } else {
        lua.create_string(hex(bytes))?
    };
    Ok(MultiValue::from_vec(vec![Value::String(s), Value::Nil]))
}

fn digest<D: Digest>(lua: &Lua, data: Value, raw: Value) -> mlua::Result<MultiValue> {
    match bytes(lua, &data, "data") {
        Ok(b) => output(lua, &D::digest(&b), &raw),
        Err(e) => e,
    }
}

fn hmac<M: Mac + hmac::digest::KeyInit>(
    lua: &Lua,
    data: Value,
    secret: Value,
    raw: Value,
) -> mlua::Result<MultiValue> {
    let data = match bytes(lua, &data, "data") {
        Ok(b) => b,
        Err(e) => return e,
    };
    let secret = match bytes(lua, &secret, "secret") {
        Ok(b) => b,
        Err(e) => return e,
    };
    // HMAC takes a key of any length.
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(&secret)
        .expect("HMAC accepts keys of any length");
    mac.update(&data);
    output(lua, &mac.finalize().into_bytes(), &raw)
}

fn fnv(lua: &Lua, data: Value, f: impl Fn(&[u8]) -> f64) -> mlua::Result<MultiValue> {
    match bytes(lua, &data, "data") {
        Ok(b) => Ok(MultiValue::from_vec(vec![Value::Number(f(&b)), Value::Nil])),
        Err(e) => e,
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// FNV-1, 32 bits: multiply, then xor.
fn fnv1_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        h.wrapping_mul(0x0100_0193) ^ u32::from(*b)
    })
}

/// FNV-1, 64 bits.
fn fnv1_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        h.wrapping_mul(0x0000_0100_0000_01b3) ^ u64::from(*b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1_matches_wippys_vector() {
        assert_eq!(fnv1_32(b"hello"), 3_069_866_343);
        assert_eq!(fnv1_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1_64(b""), 0xcbf2_9ce4_8422_2325);
        // FNV-1 of "a" (reference value of the FNV authors' test suite).
        assert_eq!(fnv1_64(b"a"), 0xaf63_bd4c_8601_b7be);
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(
            hex(&Md5::digest(b"hello")),
            "5d41402abc4b2a76b9719d911017c592"
        );
    }
}
