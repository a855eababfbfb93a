//! The preemption interrupt on the raw API (the watchdog that installs it
//! is `engine/preempt.rs`), and the mark that tells a process's main
//! thread from its coroutines.

use std::os::raw::c_int;

use mlua::ffi::{self, lua_Callbacks, lua_State};

use crate::engine::preempt::{OVERRUN, overdue, stopped};
use crate::engine::vm::Token;

/// The callback table of `lua`'s VM, where [`set_interrupt`] writes. It
/// lives as long as the VM.
pub(crate) fn callbacks(lua: &mlua::Lua) -> *mut lua_Callbacks {
    // SAFETY: any thread of the VM leads to its global callback table;
    // mlua's current thread is a live one.
    unsafe { ffi::lua_callbacks(lua.current_thread().state()) }
}

/// Installs the interrupt in `cb` (`on`) or removes it.
///
/// # Safety
/// `cb` is the callback table of a live VM. Another thread may be running
/// that VM: the write is a single volatile pointer store, which the VM only
/// reads at safe points (see `engine/preempt.rs` for why a racing write is
/// harmless).
pub(crate) unsafe fn set_interrupt(cb: *mut lua_Callbacks, on: bool) {
    let f: Option<unsafe extern "C-unwind" fn(*mut lua_State, c_int)> =
        if on { Some(interrupt) } else { None };
    // SAFETY: the contract; the field is a plain function pointer.
    unsafe { std::ptr::write_volatile(std::ptr::addr_of_mut!((*cb).interrupt), f) };
}

/// Marks `thread` as a process's main thread: the kind of thread the
/// interrupt yields to Rust (which requeues the process).
pub(crate) fn mark_main(thread: &mlua::Thread) {
    // SAFETY: the state is valid while `thread` lives; thread data is a
    // plain pointer slot that mlua does not use.
    unsafe { ffi::lua_setthreaddata(thread.state(), &MAIN_MARK as *const u8 as *mut _) };
}

static MAIN_MARK: u8 = 0;

/// Whether `l` is a process's main thread (see [`mark_main`]).
///
/// # Safety
/// `l` is a live thread.
#[inline]
pub(crate) unsafe fn is_main(l: *mut lua_State) -> bool {
    // SAFETY: the contract.
    unsafe { ffi::lua_getthreaddata(l) == &MAIN_MARK as *const u8 as *mut _ }
}

/// The Luau interrupt: when the running thread can yield, remove itself and
/// yield it. A process's main thread yields to Rust (no values: the process
/// is requeued). Any other thread is a coroutine resumed by Lua code (a
/// managed one by the prelude's scheduler, a manual one through
/// `coroutine.resume`/`wrap`): it yields the preemption token, and its
/// resumer passes the preemption up (see `resume_coroutine` in the prelude)
/// until the main thread yields, then resumes it where it stopped.
/// Otherwise (inside a Rust or C callback, a metamethod) the interrupt
/// stays installed and fires again at the next safe point, or, past
/// `HARD_LIMIT`, stops the step: from then on it raises the stop error at
/// every safe point, yieldable or not, until the step ends (see
/// `engine/preempt.rs`, `HARD_LIMIT`: a `pcall` cannot survive it).
///
/// # Safety
/// Called by the VM on its own thread with its running state.
unsafe extern "C-unwind" fn interrupt(l: *mut lua_State, gc: c_int) {
    if gc >= 0 {
        return; // GC safepoint, not a code safepoint
    }
    if stopped() {
        // SAFETY: as below.
        unsafe { raise_overrun(l) };
    }
    // SAFETY: the running state (the contract).
    if unsafe { ffi::lua_isyieldable(l) } != 0 {
        // SAFETY: the VM's own callback table, on its own thread.
        unsafe { (*ffi::lua_callbacks(l)).interrupt = None };
        // SAFETY: a live thread.
        if unsafe { is_main(l) } {
            // SAFETY: yieldable (checked); the interrupt returns normally
            // and the VM completes the yield.
            unsafe { ffi::lua_yield(l, 0) };
        } else {
            // SAFETY: the VM leaves a free slot at a safe point.
            unsafe { ffi::lua_pushlightuserdata(l, Token::Preempt.ptr()) };
            // SAFETY: yieldable (checked), with the token as its value.
            unsafe { ffi::lua_yield(l, 1) };
        }
        return;
    }
    // Cannot yield here. Past the hard limit, the step is stopped: raise the
    // error; the interrupt stays installed, so it is raised again at every
    // safe point until the step ends.
    if overdue() {
        // SAFETY: the contract.
        unsafe { raise_overrun(l) };
    }
}

/// Raises the stop error ([`OVERRUN`]) in `l`.
///
/// # Safety
/// Called from the interrupt at a code safe point of `l`, the running
/// thread, owning nothing that needs dropping.
unsafe fn raise_overrun(l: *mut lua_State) -> ! {
    // SAFETY: a free slot at a safe point; a static message.
    unsafe { ffi::lua_pushlstring(l, OVERRUN.as_ptr() as *const _, OVERRUN.len()) };
    // SAFETY: the interrupt owns nothing; the error unwinds into the VM.
    unsafe { ffi::lua_error(l) }
}
