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
//! Invariants:
//! * Userdata with tag [`ERR_TAG`] are made only by [`push`], always with a
//!   valid `ErrorObject` written in place; the VM's per-tag destructor drops
//!   it when the userdata is collected (or the VM closes). Lua code cannot
//!   reach into one: its metatable is locked and read-only.
//! * Every read checks the tag first.

use std::borrow::Cow;
use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};
use wippy_process::ExitError;

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

/// The userdata tag of error objects (tag 0 is mlua's, 1 message objects').
const ERR_TAG: c_int = 2;

const _: () = assert!(
    std::mem::align_of::<ErrorObject>() <= 8,
    "Luau aligns userdata memory to 8 bytes"
);

/// Registers the error objects' destructor and metatable in a fresh VM
/// (before any process exists). `metatable` is frozen here.
pub(crate) fn install(lua: &mlua::Lua, metatable: mlua::Table) -> mlua::Result<()> {
    metatable.set_readonly(true);
    // SAFETY: exec_raw hands the closure the VM's main state with the
    // metatable pushed as its one argument, outside any running process;
    // `install_raw` consumes exactly that value.
    unsafe { lua.exec_raw::<()>(metatable, |l| install_raw(l)) }
}

/// # Safety
/// `l` is the VM's main state, outside any running process, with the
/// metatable on top of its stack; it is popped.
unsafe fn install_raw(l: *mut lua_State) {
    // SAFETY: the main state (the contract); the destructor is set once,
    // before any error object exists.
    unsafe { ffi::lua_setuserdatadtor(l, ERR_TAG, Some(drop_error)) };
    // SAFETY: pops the metatable on top (the contract), which the VM keeps
    // for the tag.
    unsafe { ffi::lua_setuserdatametatable(l, ERR_TAG) };
}

/// Pushes `e` as an error object.
///
/// # Safety
/// `l` is a thread of a VM set up by [`install`], running on this OS
/// thread, with a free stack slot.
pub(crate) unsafe fn push(l: *mut lua_State, e: ErrorObject) {
    // SAFETY: the contract; the userdata is fresh and sized for the object.
    let p =
        unsafe { ffi::lua_newuserdatataggedwithmetatable(l, size_of::<ErrorObject>(), ERR_TAG) };
    // SAFETY: `p` is aligned for an ErrorObject (the assertion above) and
    // owned by the VM from here on; the tag's destructor drops it.
    unsafe { std::ptr::write(p as *mut ErrorObject, e) };
}

/// The error object at `idx`, if the value there is one.
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread, and the value at
/// `idx` stays on the stack for `'a`.
pub(crate) unsafe fn get<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a ErrorObject> {
    // SAFETY: the contract; lua_touserdatatagged checks the tag and accepts
    // any index.
    let p = unsafe { ffi::lua_touserdatatagged(l, idx, ERR_TAG) } as *const ErrorObject;
    // SAFETY: a live error object (tag checked), written by `push`, kept by
    // its stack slot for `'a`.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// The tag's destructor.
///
/// # Safety
/// Called once by the collector, for a userdata made by [`push`].
unsafe extern "C" fn drop_error(_l: *mut lua_State, p: *mut c_void) {
    // SAFETY: an ErrorObject written in place by `push` (the contract).
    unsafe { std::ptr::drop_in_place(p as *mut ErrorObject) };
}

/// `e` as a Lua value (for the mlua-level API).
pub(crate) fn to_value(lua: &mlua::Lua, e: ErrorObject) -> mlua::Result<mlua::Value> {
    let mut e = Some(e);
    // SAFETY: exec_raw runs the closure on the VM's main state with no
    // arguments and a free slot; it pushes the one value returned.
    unsafe {
        lua.exec_raw(
            (),
            // The main state, with a free slot (exec_raw's check).
            |l| push(l, e.take().expect("called once")),
        )
    }
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
    if !matches!(v, mlua::Value::UserData(_)) {
        return None;
    }
    let mut f = Some(f);
    let mut out = None;
    // SAFETY: exec_raw pushes `v` as the closure's one argument, at the
    // top of the main state's stack, for the length of the closure.
    let read = unsafe {
        lua.exec_raw::<()>(v, |l| {
            // The argument on top, alive while it is read.
            if let (Some(e), Some(f)) = (get(l, -1), f.take()) {
                out = Some(f(e));
            }
        })
    };
    read.ok().and(out)
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
