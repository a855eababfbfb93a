//! Error objects as Lua sees them (`nil, err` results, `errors.new`, the
//! `error` of an EXIT event): a tagged userdata owning an
//! [`ErrorObject`], so that `type(err) == "userdata"` as in Wippy, and an
//! error survives `process.send` as an error (the payload's
//! [`Payload::Error`](wippy_process::Payload::Error)).
//!
//! The methods (`err:kind()`, `err:message()`, ...) and metamethods
//! (`tostring`, `..`) are built by the `errors` module of the API layer
//! with mlua; this file only makes, recognises and reads the userdata.
//!
//! The userdata are `tagged.rs`'s, whose invariants hold here.

use std::borrow::Cow;
use std::ffi::c_int;

use mlua::ffi::lua_State;
use wippy_process::ExitError;

use crate::ffi::tagged::{self, Tagged};

/// What an error object holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ErrorObject {
    /// Message, kind, retryable and details: what crosses to other
    /// processes.
    pub(crate) error: ExitError,
    /// The context `errors.wrap` added; the message is then the wrapped
    /// error's whole text. It stays in this process (a sent error carries
    /// its message, kind, retryable and details).
    pub(crate) context: Option<String>,
    /// Where the error was made, when Lua code made it (`errors.new`,
    /// `errors.wrap`), innermost frame first.
    pub(crate) frames: Vec<Frame>,
}

/// A Lua stack frame an error was made in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    /// The chunk (`app:main`).
    pub(crate) source: String,
    /// The line then running.
    pub(crate) line: usize,
    /// The function's name, when Luau knows it.
    pub(crate) name: Option<String>,
    /// `Lua`, `C` or `main`.
    pub(crate) what: String,
}

impl ErrorObject {
    /// An error object of `error`, with no context or stack.
    pub(crate) fn new(error: ExitError) -> ErrorObject {
        ErrorObject {
            error,
            context: None,
            frames: Vec::new(),
        }
    }

    /// The whole text: `context: message` for a wrapped error, else the
    /// message (what a further wrap takes as its message).
    pub(crate) fn full_text(&self) -> Cow<'_, str> {
        match &self.context {
            Some(c) => Cow::Owned(format!("{c}: {}", self.error.message())),
            None => Cow::Borrowed(self.error.message()),
        }
    }
}

impl Tagged for ErrorObject {
    const TAG: c_int = 2;
}

/// Registers the error objects' destructor and metatable in a fresh VM
/// (before any process exists). `metatable` is frozen here.
pub(crate) fn install(lua: &mlua::Lua, metatable: mlua::Table) -> mlua::Result<()> {
    tagged::install::<ErrorObject>(lua, metatable)
}

/// Pushes `e` as an error object.
///
/// # Safety
/// `l` is a thread of a VM set up by [`install`], running on this OS
/// thread, with a free stack slot.
pub(crate) unsafe fn push(l: *mut lua_State, e: ErrorObject) {
    // SAFETY: the caller's contract.
    unsafe { tagged::push(l, e) }
}

/// The error object at `idx`, if the value there is one.
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread, and the value at
/// `idx` stays on the stack for `'a`.
pub(crate) unsafe fn get<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a ErrorObject> {
    // SAFETY: the caller's contract.
    unsafe { tagged::get(l, idx) }
}

/// `e` as a Lua value (for the mlua-level API).
pub(crate) fn to_value(lua: &mlua::Lua, e: ErrorObject) -> mlua::Result<mlua::Value> {
    tagged::to_value(lua, e)
}

/// The error object `v` is, if it is one (a copy).
pub(crate) fn from_value(lua: &mlua::Lua, v: &mlua::Value) -> Option<ErrorObject> {
    read(lua, v, ErrorObject::clone)
}

/// Runs `f` on the error object `v` is, if it is one.
pub(crate) fn read<R>(
    lua: &mlua::Lua,
    v: &mlua::Value,
    f: impl FnOnce(&ErrorObject) -> R,
) -> Option<R> {
    tagged::read(lua, v, f)
}

#[cfg(test)]
mod tests {
    use wippy_process::ErrorKind;

    use super::*;

    #[test]
    fn an_error_object_round_trips_through_a_lua_value() {
        let lua = mlua::Lua::new();
        install(&lua, lua.create_table().unwrap()).unwrap();
        let e = ErrorObject::new(ExitError::with_kind(ErrorKind::NotFound, "gone"));
        let v = to_value(&lua, e.clone()).unwrap();
        assert_eq!(from_value(&lua, &v), Some(e));
        let other = mlua::Value::UserData(lua.create_any_userdata(1u8).unwrap());
        assert_eq!(from_value(&lua, &other), None);
        assert_eq!(from_value(&lua, &mlua::Value::Boolean(true)), None);
    }

    #[test]
    fn a_wrapped_errors_whole_text_leads_with_its_context() {
        let mut e = ErrorObject::new(ExitError::new("x"));
        assert_eq!(e.full_text(), "x");
        e.context = Some("ctx".into());
        assert_eq!(e.full_text(), "ctx: x");
    }
}
