//! The `uuid` module (reference §7.3, addendum §4), on the `uuid` crate:
//! `v1()`, `v4()`, `v7()` generate; `v3(ns, name)` and `v5(ns, name)`
//! derive from a namespace UUID and a name; `validate(s)` → boolean;
//! `version(s)`, `variant(s)`, `parse(s)` → `{version, variant,
//! timestamp?, node?}`; `format(s, f?)` with `f` one of `standard`
//! (lower-case, hyphenated; the default), `simple` (no hyphens), `urn`.
//!
//! Failures are `nil, err` of kind Invalid, not retryable (Wippy's module
//! errors): `input must be a string`, `invalid UUID format`,
//! `namespace and name must be strings`, `invalid namespace UUID`,
//! `unsupported format`. Text is parsed as Go's `uuid.Parse` does:
//! hyphenated, 32 hex digits, `urn:uuid:` prefixed, or in braces.

use std::sync::OnceLock;

use mlua::{Lua, MultiValue, Value};
use uuid::{Uuid, Variant};
use wippy_process::{ErrorKind, ExitError};

use super::errors::fail_with;
use super::{Exports, one};

/// Lists `uuid.*`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.function("v1", |lua, ()| text(lua, Uuid::now_v1(node_id())))?;
    m.function("v4", |lua, ()| text(lua, Uuid::new_v4()))?;
    m.function("v7", |lua, ()| text(lua, Uuid::now_v7()))?;
    m.function("v3", |lua, (ns, name): (Value, Value)| {
        derived(lua, ns, name, Uuid::new_v3)
    })?;
    m.function("v5", |lua, (ns, name): (Value, Value)| {
        derived(lua, ns, name, Uuid::new_v5)
    })?;
    m.function("validate", |_, s: Value| Ok(parsed(&s).is_ok()))?;
    m.function("version", version)?;
    m.function("variant", variant)?;
    m.function("parse", parse)?;
    m.function("format", format)
}

/// `nil, err`: the module's failure (Invalid, not retryable).
fn invalid(lua: &Lua, msg: &str) -> mlua::Result<MultiValue> {
    fail_with(lua, ExitError::non_retryable(ErrorKind::Invalid, msg))
}

/// A generated UUID as its standard text.
fn text(lua: &Lua, u: Uuid) -> mlua::Result<MultiValue> {
    one(Value::String(lua.create_string(
        u.hyphenated().encode_lower(&mut Uuid::encode_buffer()),
    )?))
}

/// The node id of this runtime's version 1 UUIDs: random, with the
/// multicast bit set (RFC 9562 §6.10: a node id that is not a MAC
/// address), fixed for the life of the OS process.
fn node_id() -> &'static [u8; 6] {
    static NODE: OnceLock<[u8; 6]> = OnceLock::new();
    NODE.get_or_init(|| {
        let random = Uuid::new_v4();
        let mut node = [0; 6];
        node.copy_from_slice(&random.as_bytes()[..6]);
        node[0] |= 0x01;
        node
    })
}

/// Why a value is not a UUID.
enum NotUuid {
    NotString,
    Invalid,
}

/// The UUID `v` holds, parsed as Go's `uuid.Parse` does.
fn parsed(v: &Value) -> Result<Uuid, NotUuid> {
    let Value::String(s) = v else {
        return Err(NotUuid::NotString);
    };
    let s = s.to_str().map_err(|_| NotUuid::Invalid)?;
    Uuid::try_parse(&s).map_err(|_| NotUuid::Invalid)
}

/// Runs `f` on the UUID argument, or fails as the module does.
fn with_uuid(
    lua: &Lua,
    v: &Value,
    f: impl FnOnce(Uuid) -> mlua::Result<MultiValue>,
) -> mlua::Result<MultiValue> {
    match parsed(v) {
        Ok(u) => f(u),
        Err(NotUuid::NotString) => invalid(lua, "input must be a string"),
        Err(NotUuid::Invalid) => invalid(lua, "invalid UUID format"),
    }
}

/// `v3`/`v5`: a name-based UUID in the namespace `ns`.
fn derived(
    lua: &Lua,
    ns: Value,
    name: Value,
    make: fn(&Uuid, &[u8]) -> Uuid,
) -> mlua::Result<MultiValue> {
    let (Value::String(ns), Value::String(name)) = (&ns, &name) else {
        return invalid(lua, "namespace and name must be strings");
    };
    let Ok(ns) = Uuid::try_parse(&ns.to_str()?) else {
        return invalid(lua, "invalid namespace UUID");
    };
    text(lua, make(&ns, &name.as_bytes()))
}

/// `uuid.version(s)` → the version number.
fn version(lua: &Lua, s: Value) -> mlua::Result<MultiValue> {
    with_uuid(lua, &s, |u| one(Value::Number(u.get_version_num() as f64)))
}

/// The variant's name, as Go's `uuid.Variant.String()` gives it (the
/// NCS-reserved variant is Go's `Reserved`).
fn variant_name(u: &Uuid) -> &'static str {
    match u.get_variant() {
        Variant::RFC4122 => "RFC4122",
        Variant::Microsoft => "Microsoft",
        Variant::Future => "Future",
        _ => "Reserved",
    }
}

/// `uuid.variant(s)` → the variant's name.
fn variant(lua: &Lua, s: Value) -> mlua::Result<MultiValue> {
    with_uuid(lua, &s, |u| {
        one(Value::String(lua.create_string(variant_name(&u))?))
    })
}

/// `uuid.parse(s)` → `{version, variant, timestamp?, node?}`: `timestamp`
/// (Unix seconds) for versions 1 and 7, `node` (its six bytes) for version
/// 1.
fn parse(lua: &Lua, s: Value) -> mlua::Result<MultiValue> {
    with_uuid(lua, &s, |u| {
        let t = lua.create_table_with_capacity(0, 4)?;
        let version = u.get_version_num();
        t.raw_set("version", version as f64)?;
        t.raw_set("variant", variant_name(&u))?;
        if matches!(version, 1 | 7)
            && let Some(ts) = u.get_timestamp()
        {
            let (secs, _) = ts.to_unix();
            t.raw_set("timestamp", secs as f64)?;
        }
        if version == 1 {
            t.raw_set("node", lua.create_string(&u.as_bytes()[10..16])?)?;
        }
        one(Value::Table(t))
    })
}

/// `uuid.format(s, f?)` → the UUID in format `f`.
fn format(lua: &Lua, (s, f): (Value, Option<String>)) -> mlua::Result<MultiValue> {
    with_uuid(lua, &s, |u| {
        let mut buf = Uuid::encode_buffer();
        let text = match f.as_deref().unwrap_or("standard") {
            "standard" => u.hyphenated().encode_lower(&mut buf),
            "simple" => u.simple().encode_lower(&mut buf),
            "urn" => u.urn().encode_lower(&mut buf),
            _ => return invalid(lua, "unsupported format"),
        };
        one(Value::String(lua.create_string(&*text)?))
    })
}
