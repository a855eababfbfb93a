//! Where a parked thread's memory is, read from Luau's internal structs at
//! fixed offsets (Luau 0.740's `lua_State`, `CallInfo`, `TValue`,
//! `LuaTable` and `Closure`): what `engine/prefetch.rs` records to warm the
//! caches before a process runs.
//!
//! Invariants:
//! * [`check`] verifies the offsets against the C API when a VM starts; the
//!   other readers may be used only on a VM that passed it (on a mismatch,
//!   a Luau upgrade moved a field, and the caller records nothing).
//! * What these readers return are addresses to prefetch, never to read:
//!   a stale one (a table freed since, a stack that moved) costs a wasted
//!   prefetch.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

/// Bytes of a `TValue` (a stack slot).
pub(crate) const TVALUE: usize = 16;
/// Bytes of a table's hash node.
const NODE: usize = 32;

// lua_State fields.
const L_TOP: usize = 8;
const L_CI: usize = 32;
const L_STACK: usize = 48;
const L_BASE_CI: usize = 64;
const L_GT: usize = 88;
// A TValue's type tag; a LuaTable's log2 node count and node array; a
// Closure's environment.
const TV_TT: usize = 12;
const T_LSIZENODE: usize = 6;
const T_NODE: usize = 32;
const CL_ENV: usize = 16;

/// Reads the pointer-sized field at `off` bytes into the object at `p`.
///
/// # Safety
/// `p` points to a live object with a pointer-sized field at `off`.
#[inline(always)]
unsafe fn field(p: usize, off: usize) -> usize {
    // SAFETY: see the function's contract.
    unsafe { ((p + off) as *const usize).read() }
}

/// # Safety
/// `p` points to a live object at least `off + 4` bytes long.
#[inline(always)]
unsafe fn int_at(p: usize, off: usize) -> c_int {
    // SAFETY: see the function's contract.
    unsafe { ((p + off) as *const c_int).read() }
}

/// # Safety
/// `p` points to a live object at least `off + 1` bytes long.
#[inline(always)]
unsafe fn byte_at(p: usize, off: usize) -> u8 {
    // SAFETY: see the function's contract.
    unsafe { ((p + off) as *const u8).read() }
}

/// The top of a thread's stack and its current call frame: together they
/// say whether it parked in the same place as last time.
///
/// # Safety
/// `l` is a live thread of a VM that passed [`check`], on this OS thread.
#[inline(always)]
pub(crate) unsafe fn top_and_frame(l: *mut lua_State) -> (usize, usize) {
    let l = l as usize;
    // SAFETY: offsets inside a live `lua_State` (the contract).
    unsafe { (field(l, L_TOP), field(l, L_CI)) }
}

/// The rest of a thread's layout.
pub(crate) struct Extent {
    /// The bottom of its stack.
    pub(crate) stack: usize,
    /// Its globals table.
    pub(crate) globals: usize,
    /// Its first call frame.
    pub(crate) base_frame: usize,
}

/// The extent of a thread's stack and frames.
///
/// # Safety
/// As for [`top_and_frame`].
#[inline(always)]
pub(crate) unsafe fn extent(l: *mut lua_State) -> Extent {
    let l = l as usize;
    // SAFETY: offsets inside a live `lua_State` (the contract).
    unsafe {
        Extent {
            stack: field(l, L_STACK),
            globals: field(l, L_GT),
            base_frame: field(l, L_BASE_CI),
        }
    }
}

/// What a stack slot holds, as far as prefetching cares.
pub(crate) enum Held {
    /// A table, and its node array (address and bytes).
    Table {
        table: usize,
        nodes: usize,
        node_bytes: usize,
    },
    /// A string or a userdata.
    Object(usize),
    /// A function, and its environment table.
    Closure { closure: usize, env: usize },
    /// Anything else (no memory of its own worth fetching).
    Other,
}

/// What the stack slot at address `slot` holds. Tables count at most 256
/// nodes (more would not be prefetched anyway).
///
/// # Safety
/// `slot` is the address of an initialised stack slot (below the top) of
/// a live, suspended thread of a VM that passed [`check`], on this OS
/// thread; a collectable value it holds points to a live object while the
/// thread holds it.
#[inline(always)]
pub(crate) unsafe fn held(slot: usize) -> Held {
    // SAFETY: an initialised TValue (the contract).
    let (p, tt) = unsafe { (field(slot, 0), int_at(slot, TV_TT)) };
    match tt {
        ffi::LUA_TTABLE => {
            // SAFETY: a live table (the contract), at checked offsets.
            let (log2, nodes) = unsafe { (byte_at(p, T_LSIZENODE), field(p, T_NODE)) };
            Held::Table {
                table: p,
                nodes,
                node_bytes: (1usize << log2.min(8)) * NODE,
            }
        }
        ffi::LUA_TSTRING | ffi::LUA_TUSERDATA => Held::Object(p),
        ffi::LUA_TFUNCTION => Held::Closure {
            closure: p,
            // SAFETY: a live closure (the contract), at a checked offset.
            env: unsafe { field(p, CL_ENV) },
        },
        _ => Held::Other,
    }
}

/// Whether the offsets above match `lua`'s VM.
pub(crate) fn check(lua: &mlua::Lua) -> bool {
    let mut ok = false;
    // SAFETY: exec_raw hands the closure the VM's main state, not running,
    // on this thread; `check_raw` leaves its stack as it found it.
    let ran = unsafe { lua.exec_raw::<()>((), |l| ok = check_raw(l)) };
    ran.is_ok() && ok
}

/// # Safety
/// `l` is a state of a VM on this thread, not running; its stack is left
/// as it was found.
unsafe fn check_raw(l: *mut lua_State) -> bool {
    // SAFETY: a live state (the contract).
    if unsafe { ffi::lua_checkstack(l, 5) } == 0 {
        return false;
    }
    // SAFETY: as above.
    let top0 = unsafe { ffi::lua_gettop(l) };
    let ls = l as usize;
    // Three known values on top: a table of 4 nodes, the globals, a number.
    // SAFETY: room for them was made above.
    unsafe { ffi::lua_createtable(l, 0, 4) };
    // SAFETY: as above.
    unsafe { ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX) };
    // SAFETY: as above.
    unsafe { ffi::lua_pushnumber(l, 1.0) };
    // SAFETY: fields inside the live `lua_State`, whose struct is larger
    // than the offsets used; a frame's first field is its base.
    let (top, ci) = unsafe { (field(ls, L_TOP), field(ls, L_CI)) };
    // SAFETY: as above.
    let base = unsafe { field(ci, 0) };
    let table_slot = top - 3 * TVALUE;
    // SAFETY: the slots pushed above, below the top.
    let (table_tt, table) = unsafe { (int_at(table_slot, TV_TT), field(table_slot, 0)) };
    // SAFETY: any index is acceptable.
    let (table_ptr, globals_ptr) =
        unsafe { (ffi::lua_topointer(l, -3), ffi::lua_topointer(l, -2)) };
    // SAFETY: as above.
    let depth = unsafe { ffi::lua_gettop(l) } as usize;
    let mut ok = (top - base) / TVALUE == depth
        && table_tt == ffi::LUA_TTABLE
        && table == table_ptr as usize;
    if ok {
        // SAFETY: `table` is the live table pushed above (checked just
        // now), larger than the offsets used; the state's fields as above.
        ok = unsafe {
            byte_at(table, T_LSIZENODE) == 2 // 4 nodes
                && field(table, T_NODE) != 0
                && field(ls, L_GT) == globals_ptr as usize
                && field(ls, L_STACK) <= base
                && field(ls, L_BASE_CI) <= ci
        };
    }
    /// A C function to push, to find a closure's environment.
    ///
    /// # Safety
    /// Never called (only pushed); as a C function it does nothing.
    unsafe extern "C-unwind" fn nothing(_: *mut lua_State) -> c_int {
        0
    }
    // SAFETY: room made above (the fourth slot).
    unsafe { ffi::lua_pushcfunction(l, nothing) };
    // SAFETY: the state's top field; the function just pushed is below it.
    let closure_slot = unsafe { field(ls, L_TOP) } - TVALUE;
    // SAFETY: the slot just pushed.
    let (closure_tt, closure) = unsafe { (int_at(closure_slot, TV_TT), field(closure_slot, 0)) };
    // SAFETY: the fifth slot; pushes the function's environment.
    unsafe { ffi::lua_getfenv(l, -1) };
    // SAFETY: any index is acceptable.
    let env_ptr = unsafe { ffi::lua_topointer(l, -1) } as usize;
    // SAFETY: a live closure (its tag checked first), larger than the
    // offset used.
    ok = ok && closure_tt == ffi::LUA_TFUNCTION && unsafe { field(closure, CL_ENV) } == env_ptr;
    // SAFETY: drops what this function pushed.
    unsafe { ffi::lua_settop(l, top0) };
    ok
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_layout_matches_this_luau() {
        let lua = mlua::Lua::new();
        assert!(
            super::check(&lua),
            "Luau struct offsets changed: update ffi/layout.rs"
        );
    }
}
