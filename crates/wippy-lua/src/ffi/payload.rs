//! Lua values on a thread's stack ↔ owned payloads, on the raw API: what
//! `process.send`, a message's `:data()`, spawn arguments and a process's
//! results convert with (the rules are `convert.rs`'s, which does the same
//! through mlua on the cold paths).
//!
//! Invariant: every function here leaves the stack as it found it, except
//! [`push_payload`], which pushes exactly one value.

use std::ffi::c_int;
use std::os::raw::c_char;

use mlua::ffi::{self, lua_State};
use wippy_process::Payload;

use crate::convert::{MAX_DEPTH, number, push_key, table_payload};
use crate::ffi::error_object::{self, ErrorObject};
use crate::ffi::payload_object::PayloadObject;
use crate::ffi::strings::LuaStrings;
use crate::ffi::tagged;
use crate::ffi::{message_object, push_bytes, str_bytes, to_str, utf8};

/// Converts the value at `idx` into an owned payload (rules as in
/// `convert`). Errors name the offending value by its path from `root`
/// (`payload.list[3]: function cannot be sent`).
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread, and `idx` a
/// valid index of its current frame.
pub(crate) unsafe fn to_payload(
    l: *mut lua_State,
    idx: c_int,
    root: &str,
) -> Result<Payload, String> {
    let idx = if idx < 0 {
        // SAFETY: `l` is live (the contract).
        unsafe { ffi::lua_gettop(l) + idx + 1 }
    } else {
        idx
    };
    let mut stack = Stack::new();
    // SAFETY: an absolute index of a live slot (the contract).
    unsafe { convert(l, idx, &mut stack) }.map_err(|e| e.render(root))
}

/// Tables being converted, outermost first (cycle detection); inline for
/// the usual shallow payloads.
type Stack = smallvec::SmallVec<[usize; 8]>;

/// A conversion failure: what went wrong and where. The path is collected
/// only on failure, innermost key first, so a successful conversion builds
/// no strings.
struct ConvError {
    keys: Vec<Payload>,
    what: String,
}

impl ConvError {
    fn new(what: impl Into<String>) -> ConvError {
        ConvError {
            keys: Vec::new(),
            what: what.into(),
        }
    }

    fn render(self, root: &str) -> String {
        let mut path = root.to_owned();
        for k in self.keys.iter().rev() {
            push_key(&mut path, k);
        }
        format!("{path}: {}", self.what)
    }
}

/// # Safety
/// `l` is a live thread of a VM running on this OS thread; `idx` is an
/// absolute index of a live slot of its current frame.
unsafe fn convert(l: *mut lua_State, idx: c_int, stack: &mut Stack) -> Result<Payload, ConvError> {
    // SAFETY: a live slot (the contract); the arms read it as the type
    // this returns.
    Ok(match unsafe { ffi::lua_type(l, idx) } {
        ffi::LUA_TNIL | ffi::LUA_TNONE => Payload::Nil,
        // SAFETY: as above.
        ffi::LUA_TBOOLEAN => Payload::Bool(unsafe { ffi::lua_toboolean(l, idx) } != 0),
        // SAFETY: as above.
        ffi::LUA_TNUMBER => number(unsafe { ffi::lua_tonumber(l, idx) }),
        ffi::LUA_TSTRING => {
            // SAFETY: a string, on the stack for this conversion.
            let bytes = unsafe { str_bytes(l, idx) };
            match utf8(bytes) {
                Ok(s) => Payload::Str(s.into()),
                Err(_) => Payload::Bytes(bytes.to_vec()),
            }
        }
        // SAFETY: a table at an absolute index (the contract).
        ffi::LUA_TTABLE => unsafe { table(l, idx, stack) }?,
        t => {
            let name = match t {
                ffi::LUA_TFUNCTION => "function",
                ffi::LUA_TTHREAD => "thread",
                ffi::LUA_TBUFFER => "buffer",
                ffi::LUA_TVECTOR => "vector",
                ffi::LUA_TUSERDATA => {
                    // SAFETY: a live slot, kept for this conversion.
                    if let Some(p) = unsafe { carried(l, idx) } {
                        return Ok(p);
                    }
                    "userdata"
                }
                _ => "userdata",
            };
            return Err(ConvError::new(format!("{name} cannot be sent")));
        }
    })
}

/// What the runtime's userdata at `idx` carries when sent: an error object
/// its error; a payload object, or a message (its own payload object), its
/// value. None for any other value.
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread, and `idx` a
/// valid index of its current frame.
pub(crate) unsafe fn carried(l: *mut lua_State, idx: c_int) -> Option<Payload> {
    // SAFETY: the contract; each reader checks the tag.
    if let Some(e) = unsafe { error_object::get(l, idx) } {
        return Some(Payload::Error(e.error.clone()));
    }
    // SAFETY: as above.
    if let Some(p) = unsafe { tagged::get::<PayloadObject>(l, idx) } {
        return Some(p.value.clone());
    }
    // SAFETY: as above.
    unsafe { message_object::payload_of(l, idx) }
}

/// [`carried`] for an mlua value (the cold paths of `convert.rs`).
pub(crate) fn carried_value(lua: &mlua::Lua, v: &mlua::Value) -> Option<Payload> {
    if !matches!(v, mlua::Value::UserData(_)) {
        return None;
    }
    let mut out = None;
    // SAFETY: exec_raw pushes `v` as the closure's one argument, at the
    // top of the main state's stack, for the length of the closure.
    let read = unsafe { lua.exec_raw::<()>(v, |l| out = carried(l, -1)) };
    read.ok().and(out)
}

/// A table's `__wippy` kind (a runtime object: a channel, a timer, a
/// spawner), if its metatable names one.
///
/// # Safety
/// `l` is a live thread; `idx` an absolute index of a table; two free
/// stack slots.
unsafe fn runtime_kind(l: *mut lua_State, idx: c_int) -> Option<String> {
    // SAFETY: the contract (pushes the metatable, if any).
    if unsafe { ffi::lua_getmetatable(l, idx) } == 0 {
        return None;
    }
    // SAFETY: the metatable is on top (pushes the field's value).
    let kind = unsafe { ffi::lua_rawgetfield(l, -1, c"__wippy".as_ptr()) };
    let name = if kind == ffi::LUA_TSTRING {
        // SAFETY: a string on top, popped only after it is copied.
        Some(unsafe { to_str(l, -1) }.to_owned())
    } else {
        None
    };
    // SAFETY: the metatable and the field's value, pushed above.
    unsafe { ffi::lua_pop(l, 2) };
    name
}

/// # Safety
/// `l` is a live thread of a VM running on this OS thread; `idx` is the
/// absolute index of a table.
unsafe fn table(l: *mut lua_State, idx: c_int, stack: &mut Stack) -> Result<Payload, ConvError> {
    // Room for the metatable and its field, then a key and a value.
    // SAFETY: `l` is live (the contract).
    if unsafe { ffi::lua_checkstack(l, 4) } == 0 {
        return Err(ConvError::new("too deeply nested"));
    }
    // SAFETY: a table at `idx`, with the slots just reserved.
    if let Some(k) = unsafe { runtime_kind(l, idx) } {
        return Err(ConvError::new(format!("{k} cannot be sent")));
    }
    // SAFETY: any index is acceptable.
    let ptr = unsafe { ffi::lua_topointer(l, idx) } as usize;
    if stack.contains(&ptr) {
        return Err(ConvError::new("table contains a cycle and cannot be sent"));
    }
    if stack.len() >= MAX_DEPTH {
        return Err(ConvError::new(format!(
            "nested deeper than {MAX_DEPTH} levels and cannot be sent"
        )));
    }
    stack.push(ptr);
    // SAFETY: a table at `idx`.
    let len = unsafe { ffi::lua_objlen(l, idx) };
    let mut pairs: Vec<(Payload, Payload)> = Vec::new();
    let mut sequence = true;
    let mut result = Ok(());
    // lua_rawiter walks the array part, then the hash part, by slot index
    // (lua_next re-finds the previous key every step). Each step pushes a
    // key and a value (slots reserved above), popped before the next.
    let mut iter = 0;
    loop {
        // SAFETY: a table at `idx`; `iter` is 0 or what the last call
        // returned.
        iter = unsafe { ffi::lua_rawiter(l, idx, iter) };
        if iter < 0 {
            break;
        }
        // SAFETY: `l` is live.
        let top = unsafe { ffi::lua_gettop(l) };
        // SAFETY: the key just pushed, at `top - 1`.
        let key = match unsafe { ffi::lua_type(l, top - 1) } {
            // SAFETY: as above, an absolute index.
            ffi::LUA_TSTRING | ffi::LUA_TNUMBER | ffi::LUA_TBOOLEAN => unsafe {
                convert(l, top - 1, stack)
            },
            t => {
                let name = match t {
                    ffi::LUA_TTABLE => "table",
                    ffi::LUA_TFUNCTION => "function",
                    _ => "non-scalar",
                };
                Err(ConvError::new(format!("a {name} key cannot be sent")))
            }
        };
        let key = match key {
            Ok(k) => k,
            Err(e) => {
                result = Err(e);
                // SAFETY: the key and value this step pushed.
                unsafe { ffi::lua_pop(l, 2) };
                break;
            }
        };
        if sequence && !matches!(key, Payload::Int(i) if i >= 1 && (i as usize) <= len) {
            sequence = false;
        }
        // SAFETY: the value just pushed, at `top` (absolute).
        let val = unsafe { convert(l, top, stack) };
        // SAFETY: the key and value this step pushed.
        unsafe { ffi::lua_pop(l, 2) };
        match val {
            Ok(v) => pairs.push((key, v)),
            Err(mut e) => {
                e.keys.push(key);
                result = Err(e);
                break;
            }
        }
    }
    stack.pop();
    result?;
    Ok(table_payload(pairs, sequence, len))
}

/// Pushes a fresh Lua value for `p`; pids and string keys come from the
/// VM's string cache.
///
/// # Safety
/// `l` is the running thread (or one suspended on this thread) of the VM
/// `strings` belongs to, with at least one free stack slot; a table level
/// reserves the slots its entries need (the table, a key, a value) itself.
pub(crate) unsafe fn push_payload(l: *mut lua_State, p: &Payload, strings: &LuaStrings) {
    match p {
        // SAFETY: the caller's free slot (each scalar arm pushes one value).
        Payload::Nil => unsafe { ffi::lua_pushnil(l) },
        // SAFETY: as above.
        Payload::Bool(b) => unsafe { ffi::lua_pushboolean(l, *b as c_int) },
        // SAFETY: as above.
        Payload::Int(i) => unsafe { ffi::lua_pushnumber(l, *i as f64) },
        // SAFETY: as above.
        Payload::Float(f) => unsafe { ffi::lua_pushnumber(l, *f) },
        // SAFETY: as above.
        Payload::Str(s) => unsafe { push_bytes(l, s.as_bytes()) },
        // SAFETY: as above.
        Payload::Bytes(b) => unsafe {
            ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len());
        },
        // SAFETY: as above; `strings` is this VM's cache (the contract).
        Payload::Pid(pid) => unsafe { strings.push_pid(l, *pid) },
        // SAFETY: the caller's free slot; error objects are installed in
        // every VM the runtime builds.
        Payload::Error(e) => unsafe { error_object::push(l, ErrorObject::new(e.clone())) },
        Payload::Array(items) => {
            // SAFETY: `l` is live; the table, a value and a spare slot.
            unsafe { ffi::lua_checkstack(l, 3) };
            let n = items.len().min(i32::MAX as usize) as c_int;
            // SAFETY: the caller's free slot.
            unsafe { ffi::lua_createtable(l, n, 0) };
            for (i, v) in items.iter().enumerate() {
                // SAFETY: a slot reserved above; the value is consumed next.
                unsafe { push_payload(l, v, strings) };
                // SAFETY: the table at -2, the value on top.
                unsafe { ffi::lua_rawseti(l, -2, (i + 1) as ffi::lua_Integer) };
            }
        }
        Payload::Map(pairs) => {
            // SAFETY: `l` is live; the table, a key and a value.
            unsafe { ffi::lua_checkstack(l, 3) };
            let n = pairs.len().min(i32::MAX as usize) as c_int;
            // SAFETY: the caller's free slot.
            unsafe { ffi::lua_createtable(l, 0, n) };
            for (k, v) in pairs {
                if matches!(k, Payload::Nil) {
                    continue;
                }
                match k {
                    // SAFETY: a slot reserved above; this VM's cache.
                    Payload::Str(k) => unsafe { strings.push_str(l, k) },
                    // SAFETY: as above.
                    k => unsafe { push_payload(l, k, strings) },
                }
                // SAFETY: the other slot reserved above.
                unsafe { push_payload(l, v, strings) };
                // SAFETY: the table at -3, key and value on top.
                unsafe { ffi::lua_rawset(l, -3) };
            }
        }
    }
}
