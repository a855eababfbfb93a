//! Luau's memory categories on the raw API: the category a thread creates
//! objects in, and the bytes a category holds (the accounting that uses
//! them is `engine/memory.rs`).
//!
//! Luau keeps, for each of 256 categories, the bytes of the live objects
//! created in it (`lua_totalbytes(L, cat)`): an object is created in the
//! running thread's category (`lua_setmemcat`; a new thread inherits its
//! creator's), remembers it in its header, and its bytes leave that
//! category when it is freed, whichever thread's step the collector frees
//! it in (Luau's `lmem.cpp`: every allocation and every free, a table's
//! growth included, updates `memcatbytes[the block's category]`).

use mlua::ffi::{self, lua_State};

/// Makes `state` create its objects in category `cat` from now on (a
/// thread it creates inherits the category).
///
/// # Safety
/// `state` is a live thread of a VM running on this OS thread.
pub(crate) unsafe fn set_category(state: *mut lua_State, cat: u8) {
    // SAFETY: the contract; every u8 is below LUA_MEMORY_CATEGORIES (256).
    unsafe { ffi::lua_setmemcat(state, cat.into()) };
}

/// Bytes of the live objects of category `cat` in `state`'s VM.
///
/// # Safety
/// `state` is a live thread of a VM running on this OS thread.
#[inline]
pub(crate) unsafe fn category_bytes(state: *mut lua_State, cat: u8) -> usize {
    // SAFETY: the contract; a plain read of the VM's counter.
    unsafe { ffi::lua_totalbytes(state, cat.into()) }
}

/// Bytes of category `cat` in `lua`'s VM (for a native, which runs in it).
pub(crate) fn category_bytes_of(lua: &mlua::Lua, cat: u8) -> usize {
    // SAFETY: mlua's current thread is a live thread of its VM, which runs
    // on this OS thread (mlua's handles are not `Send` here).
    unsafe { category_bytes(lua.current_thread().state(), cat) }
}

/// Runs `f` with `lua`'s running thread making its objects in category
/// `cat`, then in category `back` (the running thread's own: the caller
/// knows it, Luau does not tell).
pub(crate) fn in_category_of_running<R>(
    lua: &mlua::Lua,
    cat: u8,
    back: u8,
    f: impl FnOnce() -> R,
) -> R {
    let state = lua.current_thread().state();
    // SAFETY: mlua's current thread is a live thread of its VM, which runs
    // on this OS thread (mlua's handles are not `Send` here).
    unsafe { set_category(state, cat) };
    let r = f();
    // SAFETY: as above (the same thread: `f` returned to it).
    unsafe { set_category(state, back) };
    r
}
