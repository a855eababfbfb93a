//! The raw Luau C API code: the only part of the crate that calls Luau's C
//! API or reads its structs directly. Everything else goes through mlua.
//!
//! It holds what mlua's callback machinery (handles, reference slots,
//! error wrapping) made too slow, or what mlua cannot express:
//! * `receive.rs`: `rt.take` and `rt.recv`, the inbox's fast path;
//! * `send.rs`: `process.send`, with the remembered peer of `LastTo`;
//! * `spawn.rs`: `process.spawn*`, a local spawn's fast path;
//! * `payload.rs`: Lua values on a stack ↔ owned payloads;
//! * `message_object.rs`: message objects, tagged userdata owning the
//!   kernel's `Message`;
//! * `tagged.rs`: Rust values Lua owns as tagged userdata, for
//! * `error_object.rs`: error objects, owning an error value
//!   (`err:kind()`, ...; their methods are the `errors` module's), and
//! * `payload_object.rs`: payload objects, owning a payload and its format
//!   (`p:data()`, ...; their methods are the `payload` module's);
//! * `strings.rs`: per-VM caches of the strings the message path pushes;
//! * `string_subjects.rs`: the string library taking error objects as the
//!   strings they stand for (`string.find(err, "x")`);
//! * `thread.rs`: resuming a process's thread, its results and errors, and
//!   `rt.bind_env`;
//! * `interrupt.rs`: the preemption interrupt and the main-thread mark;
//! * `memory.rs`: Luau's memory categories (what each process holds);
//! * `layout.rs`: Luau's struct offsets, for cache warming
//!   (`engine/prefetch.rs`).
//!
//! What it may touch: the running process only through
//! [`with_current`](crate::engine::current::with_current), the kernel's
//! messages and payloads, and the VM's string caches. The API layer
//! exports its natives as values ([`receive::take_function`], ...), so
//! `api/` has no `unsafe`.
//!
//! Invariants:
//! * A function taking `l: *mut lua_State` is an `unsafe fn` whose
//!   `# Safety` says which thread `l` must be; every unsafe block is short
//!   and gives its own reason.
//! * The C functions raise Lua errors themselves only for arguments of the
//!   wrong type (a programmer error, per the API's conventions), before
//!   they own anything ([`bad_argument`]); other failures are returned as
//!   `nil, err`. The Luau API calls they make may raise only on
//!   out-of-memory, which unwinds through them (`C-unwind`) like any mlua
//!   callback, dropping their locals.

use std::ffi::c_int;
use std::os::raw::c_char;

use mlua::ffi::{self, lua_State};

pub(crate) mod error_object;
pub(crate) mod interrupt;
pub(crate) mod layout;
pub(crate) mod memory;
pub(crate) mod message_object;
pub(crate) mod payload;
pub(crate) mod payload_object;
pub(crate) mod receive;
pub(crate) mod send;
pub(crate) mod spawn;
pub(crate) mod string_subjects;
pub(crate) mod strings;
pub(crate) mod tagged;
pub(crate) mod thread;

/// Pushes `b` as a Lua string.
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread, with a free
/// stack slot.
#[inline]
pub(crate) unsafe fn push_bytes(l: *mut lua_State, b: &[u8]) {
    // SAFETY: the caller's contract; Luau copies the bytes.
    unsafe { ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len()) };
}

/// Pushes `nil, err` and returns 2: a C function's failure, `err` an error
/// object of `e`.
///
/// # Safety
/// `l` is the running thread of a C function call of a VM set up by
/// `error_object::install`, with two free slots (it has `LUA_MINSTACK` on
/// entry).
#[cold]
pub(crate) unsafe fn nil_error(l: *mut lua_State, e: wippy_process::ExitError) -> c_int {
    // SAFETY: the caller's contract.
    unsafe { ffi::lua_pushnil(l) };
    // SAFETY: as above (the second slot).
    unsafe { error_object::push(l, error_object::ErrorObject::new(e)) };
    2
}

/// Raises Lua's usual error for argument `arg` of `func`, which should have
/// been `expected`: `app:main:3: bad argument #2 to 'process.send' (a
/// string topic expected, got number)`.
///
/// # Safety
/// `l` is the running thread of a C function call that owns nothing that
/// needs dropping (the error unwinds through it).
#[cold]
pub(crate) unsafe fn bad_argument(l: *mut lua_State, arg: c_int, func: &str, expected: &str) -> ! {
    // SAFETY: `l` is live (the contract); luaL_typename accepts any index
    // and returns a static C string.
    let got = unsafe { std::ffi::CStr::from_ptr(ffi::luaL_typename(l, arg)) };
    let text = format!(
        "bad argument #{arg} to '{func}' ({expected} expected, got {})",
        got.to_string_lossy()
    );
    // SAFETY: a C function has free slots for the position and the text.
    unsafe { ffi::luaL_where(l, 1) };
    // SAFETY: as above; Luau copies the text, so it can be dropped before
    // the error unwinds.
    unsafe { push_bytes(l, text.as_bytes()) };
    drop(text);
    // SAFETY: the two strings just pushed.
    unsafe { ffi::lua_concat(l, 2) };
    // SAFETY: nothing owned is left in this frame (the contract).
    unsafe { ffi::lua_error(l) }
}

/// `bytes` as UTF-8 text. Topics, keys and pids are short and ASCII: the
/// plain ASCII check costs a fraction of full validation for them.
#[inline]
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes)
    }
}

/// The bytes of the string at `idx`.
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread, the value at
/// `idx` is a string, and it stays on the stack for `'a` (the returned
/// bytes live in the string object, which the stack slot keeps alive).
#[inline]
pub(crate) unsafe fn str_bytes<'a>(l: *mut lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: a string (the contract), so lua_tolstring neither converts
    // nor returns null.
    let ptr = unsafe { ffi::lua_tolstring(l, idx, &mut len) };
    // SAFETY: Luau's string data: `len` bytes at `ptr`, alive for `'a`.
    unsafe { std::slice::from_raw_parts(ptr as *const u8, len) }
}

/// The string at `idx` as text; Lua strings that are not UTF-8 read as
/// U+FFFD here (topics, names, pids).
///
/// # Safety
/// As for [`str_bytes`].
#[inline]
pub(crate) unsafe fn to_str<'a>(l: *mut lua_State, idx: c_int) -> &'a str {
    // SAFETY: forwarded contract.
    utf8(unsafe { str_bytes(l, idx) }).unwrap_or("\u{fffd}")
}
