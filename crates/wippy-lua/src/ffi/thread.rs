//! A process's thread on the raw API: its first arguments, resuming it,
//! reading how the resume ended (an IDLE yield, the common case, costs no
//! mlua values; a finished thread's results are converted straight off its
//! stack), the error it died of, and `rt.bind_env`.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, MultiValue, Thread, Value};
use wippy_process::{ErrorKind, ExitError, ExitResult, Message, Payload};

use crate::engine::vm::Token;
use crate::ffi::payload::{push_payload, to_payload};
use crate::ffi::str_bytes;
use crate::ffi::strings::LuaStrings;
use crate::ffi::{error_object, message_object};

/// How a resume ended.
///
/// A plain tag byte (`repr(u8)`): the step's match on the common case, an
/// IDLE yield, is then one compare, not a decoding of the niches of the
/// variants' payloads.
#[repr(u8)]
pub(crate) enum Resumed {
    /// The thread yielded IDLE (the hot path: nothing converted);
    /// `Token::IdleRecv` when it parked in `rt.recv`.
    Idle(Token),
    /// The method returned: its outcome (reference §3: `return v, "text"`
    /// and `return v, err` are failures).
    Finished(ExitResult),
    /// The thread raised a Lua value that is not a Rust native's error: an
    /// error object (kept as it is), a string, a table.
    Raised(ExitError),
    /// A yield with values or an interrupt, or an error, as mlua's
    /// `Thread::resume` reports it.
    Other(mlua::Result<MultiValue>),
}

/// Pushes `args` onto `thread`, a new thread (above its function), and
/// returns how many.
///
/// # Safety
/// `thread` is new (not started), of the VM `strings` belongs to, which
/// runs on this OS thread.
pub(crate) unsafe fn push_args(thread: &Thread, args: &[Payload], strings: &LuaStrings) -> c_int {
    let t = thread.state();
    let n = args.len() as c_int;
    // SAFETY: a live thread of a VM on this OS thread (the contract).
    unsafe { ffi::lua_checkstack(t, n) };
    for a in args {
        // SAFETY: a slot reserved above per argument; this VM's cache.
        unsafe { push_payload(t, a, strings) };
    }
    n
}

/// Moves `args` onto `thread`, a new thread (above its function), and
/// returns how many.
///
/// # Safety
/// `thread` is new (not started), of `lua`'s VM, which runs on this OS
/// thread.
pub(crate) unsafe fn move_args(
    lua: &Lua,
    thread: &Thread,
    args: MultiValue,
) -> mlua::Result<c_int> {
    let t = thread.state();
    let n = args.len() as c_int;
    // SAFETY: exec_raw leaves the arguments on the main state's stack; they
    // are moved to the thread (of the same VM, not started), which has room
    // for them after lua_checkstack.
    unsafe {
        lua.exec_raw::<()>(args, |state| {
            ffi::lua_checkstack(t, n);
            ffi::lua_xmove(state, t, n);
        })
    }?;
    Ok(n)
}

/// Hands `msg` to `thread`, suspended in `rt.recv`'s IDLE yield: the
/// resume's value becomes the yield's result. Returns 1 (the value count).
///
/// # Safety
/// `thread` is suspended in a yield, of a VM set up by
/// `message_object::install`, running on this OS thread.
pub(crate) unsafe fn feed(thread: &Thread, msg: Message) -> c_int {
    let t = thread.state();
    // SAFETY: a live, suspended thread (the contract).
    unsafe { ffi::lua_checkstack(t, 1) };
    // SAFETY: the slot reserved above.
    unsafe { message_object::push(t, msg) };
    1
}

/// Resumes `thread` with the `nargs` values on top of its stack, from the
/// VM's main state `main`. A finished thread's results become its EXIT
/// value (`function()`: whether it runs a `function.lua` entry, asked only
/// then); errors get the text mlua's `Thread::resume` would give them
/// (message and traceback).
///
/// # Safety
/// `thread` is new with `nargs` arguments pushed, or suspended in a yield
/// with `nargs` values pushed; it belongs to `lua`'s VM, whose main state
/// is `main`, running on this OS thread (a resume from Rust, not from
/// inside a callback).
pub(crate) unsafe fn resume(
    lua: &Lua,
    main: *mut lua_State,
    thread: &Thread,
    nargs: c_int,
    function: impl FnOnce() -> bool,
) -> Resumed {
    let t = thread.state();
    // SAFETY: the contract.
    let status = unsafe { ffi::lua_resume_(t, main, nargs) };
    match status {
        ffi::LUA_OK => {
            // SAFETY: a finished thread with only its results on its stack.
            let r = unsafe { results(t, function()) };
            // SAFETY: the thread is finished; its stack is ours to clear.
            unsafe { ffi::lua_settop(t, 0) };
            Resumed::Finished(r)
        }
        ffi::LUA_YIELD => {
            // SAFETY: a suspended thread; its yielded values are its stack.
            if let Some(token) = unsafe { idle_token(t) } {
                // SAFETY: the one value it yielded, not needed any more.
                unsafe { ffi::lua_settop(t, 0) };
                return Resumed::Idle(token);
            }
            // An upgrade request, a stray yield, or nothing (an interrupt):
            // hand them over as mlua values.
            // SAFETY: as above.
            let n = unsafe { ffi::lua_gettop(t) };
            // SAFETY: exec_raw leaves on the main state exactly the values
            // it returns: the `n` moved from the thread (room made first).
            Resumed::Other(unsafe {
                lua.exec_raw::<MultiValue>((), |state| {
                    ffi::lua_checkstack(state, n);
                    ffi::lua_xmove(t, state, n);
                })
            })
        }
        ffi::LUA_ERRMEM => Resumed::Other(Err(mlua::Error::MemoryError(
            "not enough memory".to_owned(),
        ))),
        // SAFETY: a thread whose resume just failed, of `lua`'s VM.
        _ => unsafe { thread_error(lua, t) },
    }
}

/// A failure with no kind as a process's outcome: Internal (Wippy's).
fn internal_if_unknown(e: ExitError) -> ExitError {
    if *e.kind() == ErrorKind::Unknown {
        e.kind_set(ErrorKind::Internal)
    } else {
        e
    }
}

/// The IDLE token `t` yielded, if it yielded exactly that.
///
/// # Safety
/// `t` is a live thread suspended in a yield, on this OS thread.
#[inline]
unsafe fn idle_token(t: *mut lua_State) -> Option<Token> {
    // SAFETY: the contract; the accessors accept any index.
    let one_light =
        unsafe { ffi::lua_gettop(t) == 1 && ffi::lua_type(t, 1) == ffi::LUA_TLIGHTUSERDATA };
    if !one_light {
        return None;
    }
    // SAFETY: a light userdata at index 1.
    let token = Token::from_ptr(unsafe { ffi::lua_touserdata(t, 1) });
    token.filter(|t| matches!(t, Token::Idle | Token::IdleRecv))
}

/// The error a thread died of (the raised value is on top of `t`): an
/// error object raised with `error(err)` is that error (no kind becomes
/// Internal); a Rust native's error as mlua reports a failed resume; a
/// table without `__tostring` (`error({ code = 1 })`) is Internal with its
/// contents as text and as the details; any other value is Internal with
/// its `tostring`. The thread's traceback follows the text ([`traceback`]:
/// bounded, unlike the one mlua's Luau compat builds, which counts the
/// levels of the wrong thread and so listed all 20,000 of a stack
/// overflow).
///
/// # Safety
/// `t` is a thread of `lua`'s VM whose resume just failed.
unsafe fn thread_error(lua: &Lua, t: *mut lua_State) -> Resumed {
    // SAFETY: a live thread (the contract) with the raised value on top.
    if let Some(e) = unsafe { error_object::get(t, -1) } {
        return Resumed::Raised(internal_if_unknown(e.error.clone()));
    }
    // SAFETY: the thread's error object is on top of its stack.
    if let Some(contents) = unsafe { table_error(t) } {
        let mut text = contents.to_string();
        text.push('\n');
        // SAFETY: `t` is the thread whose resume just failed.
        unsafe { traceback(t, &mut text) };
        return Resumed::Raised(ExitError::with_kind(ErrorKind::Internal, text).details(contents));
    }
    // SAFETY: exec_raw leaves on the main state exactly the value it
    // returns: the error object, moved from the thread (room made first).
    let obj = unsafe {
        lua.exec_raw::<Value>((), |state| {
            ffi::lua_checkstack(state, 1);
            ffi::lua_xmove(t, state, 1);
        })
    };
    let obj = match obj {
        Ok(Value::Error(e)) => return Resumed::Other(Err(*e)),
        Ok(v) => v,
        Err(e) => return Resumed::Other(Err(e)),
    };
    // `tostring` may run a __tostring metamethod: exec_raw runs this
    // protected, and the preemption watchdog stops one that never returns.
    // SAFETY: exec_raw pushes `obj` and keeps exactly the value it returns:
    // the string, the object removed.
    let text = unsafe {
        lua.exec_raw::<mlua::LuaString>(obj, |state| {
            ffi::luaL_tolstring(state, -1, std::ptr::null_mut());
            ffi::lua_remove(state, -2);
        })
    };
    let mut text = match text {
        Ok(text) => text.to_string_lossy(),
        Err(e) => return Resumed::Other(Err(e)),
    };
    text.push('\n');
    // SAFETY: `t` is the thread whose resume just failed (its frames are
    // still there to read).
    unsafe { traceback(t, &mut text) };
    Resumed::Raised(ExitError::with_kind(ErrorKind::Internal, text))
}

/// The contents of the error object on top of `t` when it is a table
/// without a `__tostring` metamethod (and one a payload can hold).
///
/// # Safety
/// `t` is a live thread of a VM running on this OS thread, not running,
/// with its error object on top.
unsafe fn table_error(t: *mut lua_State) -> Option<Payload> {
    // SAFETY: the contract; lua_type accepts any index.
    if unsafe { ffi::lua_type(t, -1) } != ffi::LUA_TTABLE {
        return None;
    }
    // SAFETY: the contract.
    if unsafe { ffi::lua_checkstack(t, 1) } == 0 {
        return None;
    }
    // SAFETY: a table on top; its metafield (if any) is pushed into the
    // slot just made, and popped at once.
    if unsafe { ffi::luaL_getmetafield(t, -1, c"__tostring".as_ptr()) } != ffi::LUA_TNIL {
        // SAFETY: the metafield just pushed.
        unsafe { ffi::lua_pop(t, 1) };
        return None;
    }
    // SAFETY: a table at the top (an absolute index, as the conversion
    // pushes while it walks).
    unsafe { to_payload(t, ffi::lua_gettop(t), "error") }.ok()
}

/// Levels a traceback lists from the top of the stack, and from its
/// bottom; the ones between are counted, not listed (as Lua 5.x does).
const TRACE_TOP: c_int = 10;
const TRACE_BOTTOM: c_int = 11;

/// Appends the traceback of `t` to `out`, in mlua's words
/// (`stack traceback:` then one `\n\tsource:line: in function 'name'` per
/// level), listing at most [`TRACE_TOP`] + [`TRACE_BOTTOM`] levels.
///
/// # Safety
/// `t` is a live thread of a VM running on this OS thread, not running.
unsafe fn traceback(t: *mut lua_State, out: &mut String) {
    use std::fmt::Write;
    // SAFETY: the contract.
    let depth = unsafe { ffi::lua_stackdepth(t) };
    out.push_str("stack traceback:");
    let mut level = 0;
    while level < depth {
        if level == TRACE_TOP && depth > TRACE_TOP + TRACE_BOTTOM {
            let cut = depth - TRACE_TOP - TRACE_BOTTOM;
            let _ = write!(out, "\n\t...\t({cut} levels cut)");
            level += cut;
            continue;
        }
        // SAFETY: a plain C struct, filled by lua_getinfo.
        let mut ar: ffi::lua_Debug = unsafe { std::mem::zeroed() };
        // SAFETY: the contract; a level below the depth.
        if unsafe { ffi::lua_getinfo(t, level, c"sln".as_ptr(), &mut ar) } == 0 {
            break;
        }
        let text = |p: *const std::ffi::c_char| {
            // SAFETY: lua_getinfo's strings are null or C strings that live
            // as long as the frame's function (or in `ar` itself).
            (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy())
        };
        let src = text(ar.short_src).unwrap_or_default();
        let _ = write!(out, "\n\t{src}:");
        if ar.currentline > 0 {
            let _ = write!(out, "{}:", ar.currentline);
        }
        match text(ar.name) {
            Some(name) => {
                let _ = write!(out, " in function '{name}'");
            }
            None if text(ar.what).as_deref() == Some("C") => out.push_str(" in ?"),
            None => {
                let _ = write!(out, " in function <{src}:{}>", ar.linedefined);
            }
        }
        level += 1;
    }
}

/// The outcome of a finished thread, from its results on its stack
/// (reference §3): its method's first return value, unless the second is a
/// string (a failure: Internal, not retryable, with that text) or an error
/// object (a failure with that error; no kind becomes Internal); other
/// second values, and any after it, are ignored. A `function.lua` entry's
/// value is the array of all its results (what `funcs.call` returns).
///
/// # Safety
/// `t` is a thread of a VM running on this thread, finished with only its
/// results on its stack.
unsafe fn results(t: *mut lua_State, function: bool) -> ExitResult {
    // SAFETY: a live thread (the contract).
    let n = unsafe { ffi::lua_gettop(t) };
    let unsendable = |e: String| ExitError::with_kind(ErrorKind::Internal, e);
    // The room `to_payload` needs (its contract).
    // SAFETY: a live thread (the contract).
    if unsafe { ffi::lua_checkstack(t, ffi::LUA_MINSTACK) } == 0 {
        return Err(unsendable(
            "result: no stack space left to convert it".to_owned(),
        ));
    }
    if function {
        return (1..=n)
            // SAFETY: indices 1..=n are its results.
            .map(|i| unsafe { to_payload(t, i, &format!("result[{i}]")) })
            .collect::<Result<Vec<_>, _>>()
            .map(Payload::Array)
            .map_err(unsendable);
    }
    if n >= 2 {
        // SAFETY: index 2 is its second result; lua_type accepts it.
        match unsafe { ffi::lua_type(t, 2) } {
            ffi::LUA_TSTRING => {
                // SAFETY: a string at index 2, on the stack while read.
                let text = String::from_utf8_lossy(unsafe { str_bytes(t, 2) }).into_owned();
                return Err(ExitError::with_kind(ErrorKind::Internal, text).retryable(false));
            }
            ffi::LUA_TUSERDATA => {
                // SAFETY: a userdata at index 2, on the stack while read.
                if let Some(e) = unsafe { error_object::get(t, 2) } {
                    return Err(internal_if_unknown(e.error.clone()));
                }
            }
            _ => {}
        }
    }
    match n {
        0 => Ok(Payload::Nil),
        // SAFETY: index 1 is its first result.
        _ => unsafe { to_payload(t, 1, "result") }.map_err(unsendable),
    }
}

/// `rt.bind_env` as a Lua function.
pub(crate) fn bind_env_function(lua: &Lua) -> mlua::Result<mlua::Function> {
    // SAFETY: `bind_env` follows the C function protocol of the Luau API.
    unsafe { lua.create_c_function(bind_env) }
}

/// `rt.bind_env(f, env)`: makes table `env` the environment of Lua
/// function `f` (the prelude's boot, for a process's fresh chunk).
///
/// The environment is marked *safe* (`lua_setsafeenv`), as Luau's own
/// `luaL_sandboxthread` does for its per-script proxy environments: code
/// then reads built-ins it names as globals (`math.min`, `process.send`)
/// through the imports resolved when the chunk was loaded, and calls them
/// through Luau's fast paths. The one visible difference: a global a
/// *library* assigns under a built-in's name is not seen by the process
/// chunk's imports of that name (a chunk that assigns a name itself never
/// imports it).
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn bind_env(l: *mut lua_State) -> c_int {
    // SAFETY: the running thread; lua_type accepts any index.
    if unsafe {
        ffi::lua_type(l, 1) == ffi::LUA_TFUNCTION && ffi::lua_type(l, 2) == ffi::LUA_TTABLE
    } {
        // SAFETY: a table at 2.
        unsafe { ffi::lua_setsafeenv(l, 2, 1) };
        // SAFETY: a free slot (LUA_MINSTACK); consumed by lua_setfenv.
        unsafe { ffi::lua_pushvalue(l, 2) };
        // SAFETY: a function at 1, the table on top.
        unsafe { ffi::lua_setfenv(l, 1) };
    }
    0
}
