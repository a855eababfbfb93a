//! Rust values owned by Lua as tagged userdata: error objects
//! (`error_object.rs`) and payload objects (`payload_object.rs`). A tag
//! names the Rust type a userdata holds; its destructor and metatable are
//! registered once per VM, so making one is one allocation and reading one
//! is a tag check (message objects, on the hot path, keep their own C
//! methods in `message_object.rs`).
//!
//! Invariants:
//! * Userdata with a [`Tagged`] type's tag are made only by [`push`],
//!   always with a valid value written in place; the VM's per-tag
//!   destructor drops it when the userdata is collected (or the VM
//!   closes). Lua code cannot reach into one: its metatable is locked and
//!   read-only.
//! * Every read checks the tag first.

use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};

/// A Rust type Lua holds as tagged userdata.
pub(crate) trait Tagged: Sized + 'static {
    /// The userdata tag (0 is mlua's, 1 message objects'); one per type.
    const TAG: c_int;
}

/// Registers `T`'s destructor and metatable in a fresh VM (before any
/// process exists). `metatable` is frozen here.
pub(crate) fn install<T: Tagged>(lua: &mlua::Lua, metatable: mlua::Table) -> mlua::Result<()> {
    const {
        assert!(
            std::mem::align_of::<T>() <= 8,
            "Luau aligns userdata memory to 8 bytes"
        )
    };
    metatable.set_readonly(true);
    // SAFETY: exec_raw hands the closure the VM's main state with the
    // metatable pushed as its one argument, outside any running process;
    // `install_raw` consumes exactly that value.
    unsafe { lua.exec_raw::<()>(metatable, |l| install_raw::<T>(l)) }
}

/// # Safety
/// `l` is the VM's main state, outside any running process, with the
/// metatable on top of its stack; it is popped.
unsafe fn install_raw<T: Tagged>(l: *mut lua_State) {
    // SAFETY: the main state (the contract); the destructor is set once,
    // before any value of the tag exists.
    unsafe { ffi::lua_setuserdatadtor(l, T::TAG, Some(drop_value::<T>)) };
    // SAFETY: pops the metatable on top (the contract), which the VM keeps
    // for the tag.
    unsafe { ffi::lua_setuserdatametatable(l, T::TAG) };
}

/// Pushes `v` as a userdata of its tag.
///
/// # Safety
/// `l` is a thread of a VM set up by [`install`] for `T`, running on this
/// OS thread, with a free stack slot.
pub(crate) unsafe fn push<T: Tagged>(l: *mut lua_State, v: T) {
    // SAFETY: the contract; the userdata is fresh and sized for a `T`.
    let p = unsafe { ffi::lua_newuserdatataggedwithmetatable(l, size_of::<T>(), T::TAG) };
    // SAFETY: `p` is aligned for a `T` (asserted in `install`) and owned
    // by the VM from here on; the tag's destructor drops it.
    unsafe { std::ptr::write(p as *mut T, v) };
}

/// The `T` at `idx`, if the value there is one.
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread, and the value at
/// `idx` stays on the stack for `'a`.
pub(crate) unsafe fn get<'a, T: Tagged>(l: *mut lua_State, idx: c_int) -> Option<&'a T> {
    // SAFETY: the contract; lua_touserdatatagged checks the tag and accepts
    // any index.
    let p = unsafe { ffi::lua_touserdatatagged(l, idx, T::TAG) } as *const T;
    // SAFETY: a live `T` (tag checked), written by `push`, kept by its
    // stack slot for `'a`.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// The tag's destructor.
///
/// # Safety
/// Called once by the collector, for a userdata made by [`push`].
unsafe extern "C" fn drop_value<T: Tagged>(_l: *mut lua_State, p: *mut c_void) {
    // SAFETY: a `T` written in place by `push` (the contract).
    unsafe { std::ptr::drop_in_place(p as *mut T) };
}

/// `v` as a Lua value (for the mlua-level API).
pub(crate) fn to_value<T: Tagged>(lua: &mlua::Lua, v: T) -> mlua::Result<mlua::Value> {
    let mut v = Some(v);
    // SAFETY: exec_raw runs the closure on the VM's main state with no
    // arguments and a free slot; it pushes the one value returned.
    unsafe {
        lua.exec_raw(
            (),
            // The main state, with a free slot (exec_raw's check).
            |l| push(l, v.take().expect("called once")),
        )
    }
}

/// Runs `f` on the `T` `v` is, if it is one.
pub(crate) fn read<T: Tagged, R>(
    lua: &mlua::Lua,
    v: &mlua::Value,
    f: impl FnOnce(&T) -> R,
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
            if let (Some(x), Some(f)) = (get::<T>(l, -1), f.take()) {
                out = Some(f(x));
            }
        })
    };
    read.ok().and(out)
}
