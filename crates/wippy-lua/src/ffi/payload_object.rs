//! Payload objects as Lua sees them (`payload.new(v)`, each value of a
//! message sent with several, `msg:payload()`): a tagged userdata owning a
//! payload and its format, so that `type(p) == "userdata"` as in Wippy.
//!
//! The methods (`p:data()`, `p:transcode(f)`, ...) and `tostring` are built
//! by the `payload` module of the API layer with mlua; this file only
//! makes, recognises and reads the userdata. The userdata are
//! `tagged.rs`'s, whose invariants hold here.

use std::ffi::c_int;

use mlua::ffi::lua_State;
use wippy_process::Payload;

use crate::ffi::tagged::{self, Tagged};

/// The format of a Lua value (`payload.format.LUA`).
pub(crate) const LUA_ANY: &str = "lua/any";
/// The format of an error value (`payload.format.ERROR`).
pub(crate) const GOLANG_ERROR: &str = "golang/error";

/// What a payload object holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PayloadObject {
    /// One of `payload.format`'s values (`"lua/any"`, `"json/plain"`, ...).
    pub(crate) format: &'static str,
    /// The value: for `lua/any` and `golang/*` the value itself; for the
    /// text formats (`json/plain`, `text/plain`, ...) the encoded text.
    pub(crate) value: Payload,
}

impl PayloadObject {
    /// The payload object of a value as Lua code made it: `golang/error`
    /// for an error, `lua/any` for anything else (`payload.new`).
    pub(crate) fn of(value: Payload) -> PayloadObject {
        let format = if matches!(value, Payload::Error(_)) {
            GOLANG_ERROR
        } else {
            LUA_ANY
        };
        PayloadObject { format, value }
    }
}

impl Tagged for PayloadObject {
    const TAG: c_int = 3;
}

/// Registers the payload objects' destructor and metatable in a fresh VM
/// (before any process exists). `metatable` is frozen here.
pub(crate) fn install(lua: &mlua::Lua, metatable: mlua::Table) -> mlua::Result<()> {
    tagged::install::<PayloadObject>(lua, metatable)
}

/// Pushes `p` as a payload object.
///
/// # Safety
/// `l` is a thread of a VM set up by [`install`], running on this OS
/// thread, with a free stack slot.
pub(crate) unsafe fn push(l: *mut lua_State, p: PayloadObject) {
    // SAFETY: the caller's contract.
    unsafe { tagged::push(l, p) }
}

/// `p` as a Lua value (for the mlua-level API).
pub(crate) fn to_value(lua: &mlua::Lua, p: PayloadObject) -> mlua::Result<mlua::Value> {
    tagged::to_value(lua, p)
}

/// Runs `f` on the payload object `v` is, if it is one.
pub(crate) fn read<R>(
    lua: &mlua::Lua,
    v: &mlua::Value,
    f: impl FnOnce(&PayloadObject) -> R,
) -> Option<R> {
    tagged::read(lua, v, f)
}
