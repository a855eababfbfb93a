//! The string library taking error objects as the strings they stand for:
//! go-lua treats an error object as convertible to its message, so Wippy
//! code writes `string.find(err, "not found")`, `err:match(...)` style
//! calls through `string.*`, `string.lower(err)` and so on.
//!
//! Each `string` function whose first argument is the string worked on
//! (the subject) is replaced by a C function that, when that argument is an
//! error object, replaces it with the error's message, and then calls the
//! library's own C function on the same stack: no Lua frame, no table, and
//! for a string subject one type test. `string.format` takes error objects
//! as its values (Luau's `%s` wants a string) the same way. Luau's fast calls (`string.sub`,
//! `string.len`, `string.byte` with string arguments) never reach the
//! replacement: the interpreter runs the builtin directly, and falls back
//! to calling the function value only when the builtin refuses its
//! arguments, as it does for an error object.
//!
//! Invariant: [`ORIGINALS`] holds the library's own functions, read from a
//! fresh VM's `string` table before any replacement; every VM's string
//! library is made of the same C functions, so one set serves them all.

use std::ffi::{CStr, c_int};
use std::sync::OnceLock;

use mlua::ffi::{self, lua_State};

use crate::ffi::error_object;
use crate::ffi::push_bytes;

/// The `string` functions whose first argument is the subject, and
/// `format` (the last, whose values are every argument after the first).
const SUBJECTS: [&CStr; 13] = [
    c"byte", c"find", c"gmatch", c"gsub", c"len", c"lower", c"match", c"rep", c"reverse", c"split",
    c"sub", c"upper", c"format",
];

/// The index of `format` in [`SUBJECTS`].
const FORMAT: usize = 12;

/// The library's own function for each of [`SUBJECTS`], in order.
static ORIGINALS: OnceLock<[ffi::lua_CFunction; SUBJECTS.len()]> = OnceLock::new();

/// The replacements, in the order of [`SUBJECTS`].
const REPLACEMENTS: [ffi::lua_CFunction; SUBJECTS.len()] = [
    subject::<0>,
    subject::<1>,
    subject::<2>,
    subject::<3>,
    subject::<4>,
    subject::<5>,
    subject::<6>,
    subject::<7>,
    subject::<8>,
    subject::<9>,
    subject::<10>,
    subject::<11>,
    subject::<12>,
];

/// Replaces the subject-taking functions of a fresh VM's `string` table
/// (the global, which is also the strings' `__index`), before the library
/// is frozen.
pub(crate) fn install(lua: &mlua::Lua) -> mlua::Result<()> {
    // SAFETY: exec_raw hands the closure the VM's main state, outside any
    // running process, with room for the values `install_raw` pushes; it
    // leaves the stack as it found it.
    unsafe { lua.exec_raw::<()>((), |l| install_raw(l)) }
}

/// # Safety
/// `l` is the main state of a VM whose `string` library is Luau's own and
/// not yet frozen, outside any running process, with two free slots; the
/// stack is left as it was.
unsafe fn install_raw(l: *mut lua_State) {
    // SAFETY: the contract (one slot: the library table).
    if unsafe { ffi::lua_getglobal(l, c"string".as_ptr()) } != ffi::LUA_TTABLE {
        // SAFETY: the value just pushed.
        unsafe { ffi::lua_pop(l, 1) };
        return;
    }
    let mut found = [None; SUBJECTS.len()];
    for (slot, name) in found.iter_mut().zip(SUBJECTS) {
        // SAFETY: the table at -1; pushes the field (the second slot).
        unsafe { ffi::lua_rawgetfield(l, -1, name.as_ptr()) };
        // SAFETY: the value on top; popped right after.
        *slot = unsafe { ffi::lua_tocfunction(l, -1) };
        // SAFETY: the field pushed above.
        unsafe { ffi::lua_pop(l, 1) };
    }
    let Some(found) = found
        .iter()
        .copied()
        .collect::<Option<Vec<ffi::lua_CFunction>>>()
    else {
        // A library without one of them: leave it as it is.
        // SAFETY: the table pushed above.
        unsafe { ffi::lua_pop(l, 1) };
        return;
    };
    // Every VM's library is the same C functions: the first VM's are kept.
    ORIGINALS.get_or_init(|| found.try_into().expect("one per subject"));
    for (name, f) in SUBJECTS.iter().zip(REPLACEMENTS) {
        // SAFETY: the second slot; the name is static, as the closure's
        // debug name must be (errors say `bad argument #1 to 'find'`).
        unsafe { ffi::lua_pushcclosurek(l, f, name.as_ptr(), 0, None) };
        // SAFETY: the table at -2, the function on top (popped).
        unsafe { ffi::lua_rawsetfield(l, -2, name.as_ptr()) };
    }
    // SAFETY: the table pushed above.
    unsafe { ffi::lua_pop(l, 1) };
}

/// `string.<SUBJECTS[I]>`: an error object as its first argument (for
/// `format`, as any argument after the first) becomes its message; then the
/// library's function runs on the same stack.
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn subject<const I: usize>(l: *mut lua_State) -> c_int {
    if I == FORMAT {
        // SAFETY: the running thread; lua_gettop and lua_type accept any
        // index.
        let top = unsafe { ffi::lua_gettop(l) };
        for i in 2..=top {
            // SAFETY: as above.
            if unsafe { ffi::lua_type(l, i) } == ffi::LUA_TUSERDATA {
                // SAFETY: as above, with index `i` holding a userdata.
                unsafe { message_in_place(l, i) };
            }
        }
    // SAFETY: the running thread; lua_type accepts any index.
    } else if unsafe { ffi::lua_type(l, 1) } == ffi::LUA_TUSERDATA {
        // SAFETY: as above, with index 1 holding a userdata.
        unsafe { message_in_place(l, 1) };
    }
    let original = ORIGINALS
        .get()
        .expect("installed before any replacement runs")[I];
    // SAFETY: the library's own C function, called as Luau would call it:
    // on this C function's frame, which holds its arguments.
    unsafe { original(l) }
}

/// Replaces the error object at `idx`, if it is one, with its message.
///
/// # Safety
/// `l` is the running thread of a C function call, `idx` one of its
/// arguments, with a free slot.
#[cold]
unsafe fn message_in_place(l: *mut lua_State, idx: c_int) {
    // SAFETY: the contract; the object stays at `idx` while its message is
    // copied onto the stack.
    if let Some(e) = unsafe { error_object::get(l, idx) } {
        // SAFETY: a free slot; Luau copies the bytes.
        unsafe { push_bytes(l, e.error.message().as_bytes()) };
        // SAFETY: the string on top replaces `idx` (and is popped).
        unsafe { ffi::lua_replace(l, idx) };
    }
}
