//! The inbox's fast path: `rt.take` and `rt.recv`, C functions that hand
//! the prelude the next message of the running process as a message object
//! (`message_object.rs`), and park the process when there is none.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

use crate::engine::current::with_current_or;
use crate::engine::vm::Token;
use crate::ffi::interrupt::is_main;
use crate::ffi::message_object;

/// `rt.take` as a Lua function.
pub(crate) fn take_function(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    // SAFETY: `take` follows the C function protocol of the Luau API.
    unsafe { lua.create_c_function(take) }
}

/// `rt.recv` as a Lua function.
pub(crate) fn recv_function(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    // SAFETY: `recv` follows the C function protocol of the Luau API (as a
    // yielding C function, it returns lua_yield's value).
    unsafe { lua.create_c_function(recv) }
}

/// `rt.take()` → the next message as a message object, or nothing.
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn take(l: *mut lua_State) -> c_int {
    with_current_or(
        |p, _| match p.cell.try_recv() {
            Some(msg) => {
                // SAFETY: `l` is the running thread of a VM set up by
                // `message_object::install`; a C function has a free slot
                // (LUA_MINSTACK).
                unsafe { message_object::push(l, msg) };
                1
            }
            None => 0,
        },
        || 0,
    )
}

/// `rt.recv(park)` → the next message as a message object; else, when
/// `park` is true and the caller runs in its process's main thread, it
/// yields IDLE itself (the process parks until news arrives) and, resumed,
/// returns the message that woke it (`LuaProc::resume` takes it from the
/// mailbox) or nothing; else `false`. Taking and parking in one call saves
/// the inbox's fast path two calls per blocking receive.
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn recv(l: *mut lua_State) -> c_int {
    // Some(values pushed) when a message was taken; None when there is
    // none (or no process).
    let taken = with_current_or(
        |p, _| match p.cell.try_recv() {
            Some(msg) => {
                // SAFETY: as in `take`.
                unsafe { message_object::push(l, msg) };
                Some(1)
            }
            None => None,
        },
        || Some(0),
    );
    if let Some(n) = taken {
        return n;
    }
    // SAFETY: `l` is the running thread; lua_toboolean accepts any index.
    let park = unsafe { ffi::lua_toboolean(l, 1) } != 0;
    // SAFETY: `l` is the running thread, a live one.
    if park && unsafe { is_main(l) } && unsafe { ffi::lua_isyieldable(l) } != 0 {
        // SAFETY: a C function has a free slot (LUA_MINSTACK).
        unsafe { ffi::lua_pushlightuserdata(l, Token::IdleRecv.ptr()) };
        // SAFETY: yieldable (checked); lua_yield's result is this
        // function's return value, as the Luau API requires of a yielding C
        // function.
        return unsafe { ffi::lua_yield(l, 1) };
    }
    // SAFETY: a free slot, as above.
    unsafe { ffi::lua_pushboolean(l, 0) };
    1
}
