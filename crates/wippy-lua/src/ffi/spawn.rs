//! `process.spawn*` as C functions: the plain spawn of a local child
//! without mlua's argument and result handling, and without a Lua wrapper.
//!
//! A spawn through an mlua callback converted its arguments into Rust
//! strings and mlua values (reference slots) and made the child's pid
//! string as an mlua value: about 2,000 instructions of a spawn's 10,000.
//! Here the entry and host are read in place, the child's arguments are
//! converted from the stack (`payload.rs`), and the pid string is pushed.
//!
//! What the fast path does not cover goes to the general native (upvalue
//! 1, an mlua function), called with the same arguments: a host of another
//! node (`node@host`), arguments that are not strings or not UTF-8, a value
//! that cannot be sent (the general native names it in its error), and a
//! call outside a process. A spawn on another node is answered by a call
//! across the cluster: the general native returns a pending call
//! (userdata), and the prelude's `settle` (upvalue 2) parks the caller
//! until the answer. The C function calls it yieldably (Luau's
//! `lua_callyieldable`: the closure has a continuation, which returns
//! `settle`'s results once the caller is resumed), so that no Lua function
//! stands between a caller and the native (a vararg Lua wrapper cost a
//! spawn about 300 instructions).

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use wippy_process::{ExitError, Payload, Pid};

use crate::engine::current::with_current_or;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;
use crate::ffi::payload::to_payload;
use crate::ffi::{nil_error, push_bytes, str_bytes, utf8};

/// A local spawn, as the API layer makes it (checks, context, options of
/// one `process.spawn*` variant).
pub(crate) trait LocalSpawn {
    /// The variant's name (`spawn_linked`), for the closure's debug name.
    const NAME: &'static std::ffi::CStr;

    /// Spawns `entry` on `host`, a host of this node, with `args`, for the
    /// running process `p`: the child's pid, or the failure `nil, err`
    /// returns.
    fn spawn(
        p: &ProcData,
        env: &ShardEnv,
        entry: &str,
        host: &str,
        args: Vec<Payload>,
    ) -> Result<Pid, ExitError>;
}

/// The spawn native of variant `S`: the fast path of the module doc,
/// `general` (the variant's mlua native) for the rest, and `settle` (the
/// prelude's) to wait for the answer of a spawn on another node.
pub(crate) fn spawn_function<S: LocalSpawn>(
    lua: &mlua::Lua,
    general: mlua::Function,
    settle: mlua::Function,
) -> mlua::Result<mlua::Function> {
    // SAFETY: exec_raw pushes `general` and `settle` on the main state and
    // calls the closure in a protected call; the closure pops them into
    // the new C closure's two upvalues and leaves the closure, which
    // exec_raw returns. `spawn::<S>` and `settled` follow the C function
    // and continuation protocols.
    unsafe {
        lua.exec_raw((general, settle), |l| {
            ffi::lua_pushcclosurek(l, spawn::<S>, S::NAME.as_ptr(), 2, Some(settled))
        })
    }
}

/// `process.spawn*(entry, host, ...)` → the child's pid string, or
/// `nil, err` (see the module doc for what the general native answers).
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread), as the
/// closure [`spawn_function`] made.
unsafe extern "C-unwind" fn spawn<S: LocalSpawn>(l: *mut lua_State) -> c_int {
    // SAFETY: the running thread of this call.
    if let Some(n) = unsafe { local::<S>(l) } {
        return n;
    }
    // SAFETY: `l` is the running thread of the C closure made by
    // `spawn_function`, whose upvalue 1 is the general native; nothing is
    // owned here when the call raises. The closure's arguments stay in
    // place, above the native copied below them, and become its arguments;
    // its results replace them (the general native never yields).
    let results = unsafe {
        let top = ffi::lua_gettop(l);
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, top, ffi::LUA_MULTRET);
        ffi::lua_gettop(l)
    };
    // SAFETY: as above; lua_type accepts any index.
    if results == 0 || unsafe { ffi::lua_type(l, 1) } != ffi::LUA_TUSERDATA {
        return results;
    }
    // A pending call across the cluster: `settle(r, err)` parks the caller
    // until its answer. The stack holds only the results; `settle` goes
    // below them, and they become its arguments.
    // SAFETY: as above (upvalue 2 is the prelude's `settle`); the closure
    // has a continuation (`spawn_function`), as lua_callyieldable needs,
    // and this returns what it returns.
    unsafe {
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(2));
        ffi::lua_insert(l, 1);
        ffi::lua_callyieldable(l, results, ffi::LUA_MULTRET)
    }
}

/// The continuation of [`spawn`]: `settle`'s results, which are all that
/// is on the C function's stack once it returned (`status` is `LUA_OK`:
/// an error in `settle` unwinds past the continuation).
///
/// # Safety
/// Called by Luau as the continuation of a [`spawn`] closure.
unsafe extern "C-unwind" fn settled(l: *mut lua_State, _status: c_int) -> c_int {
    // SAFETY: the running thread of the continued call.
    unsafe { ffi::lua_gettop(l) }
}

/// The fast path: the number of results pushed, or `None` (nothing
/// pushed, nothing owned) for the general native.
///
/// # Safety
/// `l` is the running thread of a C function call, with its arguments on
/// its stack.
unsafe fn local<S: LocalSpawn>(l: *mut lua_State) -> Option<c_int> {
    // SAFETY: the running thread (the contract); lua_gettop and lua_type
    // accept any index.
    let top = unsafe { ffi::lua_gettop(l) };
    // SAFETY: as above.
    let strings = top >= 2
        && unsafe { ffi::lua_type(l, 1) } == ffi::LUA_TSTRING
        && unsafe { ffi::lua_type(l, 2) } == ffi::LUA_TSTRING;
    if !strings {
        return None;
    }
    // SAFETY: strings at 1 and 2, arguments that stay on the stack for
    // the call.
    let (entry, host) = unsafe { (str_bytes(l, 1), str_bytes(l, 2)) };
    if host.contains(&b'@') {
        return None;
    }
    let (Ok(entry), Ok(host)) = (utf8(entry), utf8(host)) else {
        return None;
    };
    let mut args = Vec::with_capacity((top - 2) as usize);
    for i in 3..=top {
        // SAFETY: `i` is an argument of the call, on the running thread,
        // which has the LUA_MINSTACK free slots of a C function's call
        // (nothing was pushed yet).
        args.push(unsafe { to_payload(l, i, "") }.ok()?);
    }
    let spawned = with_current_or(|p, env| Some(S::spawn(p, env, entry, host, args)), || None)?;
    Some(match spawned {
        Ok(pid) => {
            let mut text = String::with_capacity(32);
            pid.write_to(&mut text);
            // SAFETY: a C function has a free slot (LUA_MINSTACK); Luau
            // copies the text (made in the process's memory category,
            // against its limit, as any string it makes).
            unsafe { push_bytes(l, text.as_bytes()) };
            1
        }
        // SAFETY: the running thread of a C function call.
        Err(e) => unsafe { nil_error(l, e) },
    })
}
