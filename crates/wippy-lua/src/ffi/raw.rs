//! Hot-path natives written against the raw Luau C API: receiving a message
//! and `process.send`, with direct payload conversion. They skip mlua's
//! callback machinery (handles, ref slots, error wrapping), which dominated
//! the message round trip. Everything else goes through mlua.
//!
//! Invariants:
//! * The natives reach the running process only through
//!   [`with_current`]; called outside a step they return an error value
//!   instead of touching anything.
//! * These functions raise Lua errors themselves only for arguments of the
//!   wrong type (a programmer error, per the API's conventions), before
//!   they own anything (`bad_argument`); other failures are returned as
//!   `nil, err`. The Luau API calls they make may raise only on
//!   out-of-memory, which unwinds through them (`C-unwind`) like any mlua
//!   callback, dropping their locals.

use std::ffi::c_int;
use std::os::raw::c_char;

use mlua::ffi::{self, lua_State};
use wippy_process::{Payload, Pid};

use crate::convert::{MAX_DEPTH, number, push_key, table_payload};
use crate::engine::current::with_current;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;
use crate::ffi::strings::LuaStrings;

unsafe fn push_str(l: *mut lua_State, s: &str) {
    // SAFETY: the caller checked stack space.
    unsafe { ffi::lua_pushlstring(l, s.as_ptr() as *const c_char, s.len()) };
}

/// Parses a destination pid string, remembering the last few per thread: a
/// process usually sends to the same few pids over and over, and parsing
/// interns the host name under a lock.
fn parse_pid(text: &str) -> Result<Pid, wippy_process::ParsePidError> {
    const WAYS: usize = 8;
    thread_local! {
        static CACHE: std::cell::RefCell<[(String, Option<Pid>); WAYS]> =
            std::cell::RefCell::new(Default::default());
    }
    let way = text.bytes().rev().take(6).fold(text.len(), |h, b| {
        h.wrapping_mul(31).wrapping_add(b as usize)
    }) % WAYS;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let (key, pid) = &mut c[way];
        if let Some(p) = pid
            && key == text
        {
            return Ok(*p);
        }
        let parsed = text.parse::<Pid>()?;
        key.clear();
        key.push_str(text);
        *pid = Some(parsed);
        Ok(parsed)
    })
}

unsafe fn nil_err(l: *mut lua_State, msg: &str) -> c_int {
    // SAFETY: two slots are always available to a C function (LUA_MINSTACK).
    unsafe {
        ffi::lua_pushnil(l);
        push_str(l, msg);
    }
    2
}

/// `rt.take()` → the next message as a message object (see `message.rs`),
/// or nothing.
pub(crate) unsafe extern "C-unwind" fn take(l: *mut lua_State) -> c_int {
    let Some(Some(msg)) = with_current(|p, _| p.cell.try_recv()) else {
        return 0;
    };
    // SAFETY: `l` is the running thread of a VM set up by message::install;
    // a C function has a free slot (LUA_MINSTACK).
    unsafe { crate::ffi::message_object::push(l, msg) };
    1
}

/// `rt.recv(park)` → the next message as a message object; else, when
/// `park` is true and the caller runs in its process's main thread, it
/// yields IDLE itself (the process parks until news arrives) and, resumed,
/// returns the message that woke it (`LuaProc::resume` takes it from the
/// mailbox) or nothing; else `false`. Taking and parking in one call saves
/// the inbox's fast path two calls per blocking receive.
pub(crate) unsafe extern "C-unwind" fn recv(l: *mut lua_State) -> c_int {
    let Some(msg) = with_current(|p, _| p.cell.try_recv()) else {
        return 0;
    };
    // SAFETY: `l` is the running thread; a C function has free slots
    // (LUA_MINSTACK); lua_yield's result is this function's return value,
    // as the Luau API requires of a yielding C function.
    unsafe {
        if let Some(msg) = msg {
            crate::ffi::message_object::push(l, msg);
            return 1;
        }
        if ffi::lua_toboolean(l, 1) != 0
            && crate::engine::preempt::is_main(l)
            && ffi::lua_isyieldable(l) != 0
        {
            ffi::lua_pushlightuserdata(l, crate::engine::vm::Token::IdleRecv.ptr());
            return ffi::lua_yield(l, 1);
        }
        ffi::lua_pushboolean(l, 0);
    }
    1
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
pub(crate) unsafe extern "C-unwind" fn bind_env(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the running thread; arguments are checked before use
    // and the pushed copy is consumed by lua_setfenv.
    unsafe {
        if ffi::lua_type(l, 1) == ffi::LUA_TFUNCTION && ffi::lua_type(l, 2) == ffi::LUA_TTABLE {
            ffi::lua_setsafeenv(l, 2, 1);
            ffi::lua_pushvalue(l, 2);
            ffi::lua_setfenv(l, 1);
        }
    }
    0
}

/// `process.send(dest, topic, ...)` → `true` or `nil, err`.
pub(crate) unsafe extern "C-unwind" fn send(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the running thread of this call (forwarded).
    let sent = with_current(|p, env| unsafe { send_for(l, p, env) });
    // SAFETY: as above.
    sent.unwrap_or_else(|| unsafe { nil_err(l, "process.send called outside a process") })
}

/// `process.send` for the running process `p`.
///
/// # Safety
/// `l` is the running thread of `p`, in the C function `send`.
unsafe fn send_for(l: *mut lua_State, p: &ProcData, env: &ShardEnv) -> c_int {
    // SAFETY: `l` is the running thread; indices are within `top`.
    unsafe {
        let top = ffi::lua_gettop(l);
        if ffi::lua_type(l, 1) != ffi::LUA_TSTRING {
            bad_argument(l, 1, "process.send", "a pid or a registered name");
        }
        if ffi::lua_type(l, 2) != ffi::LUA_TSTRING {
            bad_argument(l, 2, "process.send", "a string topic");
        }
        // The topic as the peer remembered by `LastTo` last took it: a
        // process sending to the same peer with the same topic string
        // converts it once (see `deliver`).
        let topic_key = ffi::lua_topointer(l, 2);
        let cached = p.with_last_to(|last| match last {
            Some(t) if t.topic_string == topic_key => Some(t.topic.clone()),
            _ => None,
        });
        let (topic, cached) = match cached {
            Some(t) => (t, true),
            None => {
                let topic = to_str(l, 2);
                if topic.starts_with('@') {
                    let msg = format!(
                        "topic {topic:?} is reserved (topics starting with @ belong to the runtime)"
                    );
                    return nil_err(l, &msg);
                }
                (wippy_process::Topic::from(topic), false)
            }
        };
        let payload = if top <= 2 {
            Ok(Payload::Nil)
        } else if top == 3 {
            to_payload(l, 3, "payload")
        } else {
            (3..=top)
                .map(|i| to_payload(l, i, &format!("payload[{}]", i - 2)))
                .collect::<Result<Vec<_>, _>>()
                .map(Payload::Array)
        };
        let payload = match payload {
            Ok(p) => p,
            Err(e) => return nil_err(l, &e),
        };
        let topic = SendTopic {
            topic,
            string: topic_key,
            cached,
        };
        match deliver(l, p, env, topic, payload) {
            Ok(()) => {
                ffi::lua_pushboolean(l, 1);
                1
            }
            Err(e) => nil_err(l, &e),
        }
    }
}

/// The topic of a send (the string at index 2), converted.
struct SendTopic {
    topic: wippy_process::Topic,
    /// The string object (`lua_topointer`).
    string: *const std::ffi::c_void,
    /// Whether the conversion came from the `LastTo` topic cache.
    cached: bool,
}

/// Raises Lua's usual error for argument `arg` of `func`, which should have
/// been `expected`: `app:main:3: bad argument #2 to 'process.send' (a
/// string topic expected, got number)`.
///
/// # Safety
/// `l` is the running thread of a C function that owns nothing that needs
/// dropping (the error unwinds through it).
#[cold]
unsafe fn bad_argument(l: *mut lua_State, arg: c_int, func: &str, expected: &str) -> ! {
    // SAFETY: per the contract; the message is copied into Lua before the
    // String is dropped, and the error unwinds through `C-unwind` frames.
    unsafe {
        let text = {
            let got = std::ffi::CStr::from_ptr(ffi::luaL_typename(l, arg)).to_string_lossy();
            format!("bad argument #{arg} to '{func}' ({expected} expected, got {got})")
        };
        ffi::luaL_where(l, 1);
        ffi::lua_pushlstring(l, text.as_ptr() as *const c_char, text.len());
        drop(text);
        ffi::lua_concat(l, 2);
        ffi::lua_error(l)
    }
}

/// Sends to the destination at index 1 (a string: a pid or a registered
/// name).
///
/// A process usually sends to the same peer over and over, by the same Lua
/// string: a peer named by the same pid string twice in a row is
/// remembered with the address of that string object (see `LastTo`), and a
/// send naming it again goes straight to its cell: no parse, no
/// process-table lookup, not even a read of the string (`lua_topointer`
/// gives the object's address without touching it, and in a ring of 10k
/// processes that string is a cache miss). (Not after one send: a process
/// that sends once, to say it is ready, and then waits, would keep the
/// entry for nothing.)
///
/// The topic comes converted (see [`SendTopic`]); a peer's entry
/// remembers the topic of the latest send to it.
///
/// # Safety
/// `l` is the running thread of `p`, with strings at indices 1 and 2.
unsafe fn deliver(
    l: *mut lua_State,
    p: &ProcData,
    env: &ShardEnv,
    SendTopic {
        topic,
        string: topic_key,
        cached,
    }: SendTopic,
    payload: Payload,
) -> Result<(), String> {
    let node = &env.host.node;
    let from = Some(p.pid());
    // SAFETY: index 1 holds a string (checked by the caller).
    let key = unsafe { ffi::lua_topointer(l, 1) };
    let mut last = p.last_to.take();
    if let Some(t) = &mut last
        && t.string == key
    {
        if !cached {
            // SAFETY: index 2 holds the topic string; the old reference
            // belongs to this VM (see `LastTo`).
            unsafe {
                ffi::lua_unref(l, t.topic_ref);
                t.topic_ref = ffi::lua_ref(l, 2);
            }
            t.topic_string = topic_key;
            t.topic = topic.clone();
        }
        let sent = node.send_to(from, &t.cell, topic, payload);
        p.last_to.set(last);
        return sent.map_err(|e| e.to_string());
    }
    p.last_to.set(last);
    // SAFETY: as above.
    let dest = unsafe { to_str(l, 1) };
    if !dest.starts_with('{') {
        // A name: looked up every time (it may be re-registered).
        let Some(to) = node.lookup(dest) else {
            return Err(format!("no process registered as {dest:?}"));
        };
        p.check_host(env, "process.send", to.host())?;
        return node
            .send(from, to, topic, payload)
            .map_err(|e| e.to_string());
    }
    let to = parse_pid(dest).map_err(|e| e.to_string())?;
    // Checked before a peer is remembered: a remembered peer was allowed,
    // and a process's principal and host never change.
    p.check_host(env, "process.send", to.host())?;
    let Some(cell) = node.cell(to) else {
        // Ended (or never lived): a dead letter.
        return node
            .send(from, to, topic, payload)
            .map_err(|e| e.to_string());
    };
    if p.last_string.replace(key) != key {
        return node
            .send_to(from, &cell, topic, payload)
            .map_err(|e| e.to_string());
    }
    // SAFETY: indices 1 and 2 hold the string objects `key` and
    // `topic_key`; the old entry's references belong to this VM (see
    // `LastTo`).
    unsafe {
        p.forget_peer(l);
        let string_ref = ffi::lua_ref(l, 1);
        let topic_ref = ffi::lua_ref(l, 2);
        p.last_to
            .set(Some(Box::new(crate::engine::proc_data::LastTo {
                string: key,
                string_ref,
                cell: cell.clone(),
                topic_string: topic_key,
                topic_ref,
                topic: topic.clone(),
            })));
    }
    node.send_to(from, &cell, topic, payload)
        .map_err(|e| e.to_string())
}

/// `bytes` as UTF-8 text. Topics, keys and pids are short and ASCII: the
/// plain ASCII check costs a fraction of full validation for them.
fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes)
    }
}

/// The string at `idx` (which the caller checked is a string). Lua strings
/// that are not UTF-8 are read lossily here (topics, names, pids).
unsafe fn to_str<'a>(l: *mut lua_State, idx: c_int) -> &'a str {
    let mut len = 0usize;
    // SAFETY: the value at `idx` is a string; the pointer lives while it is
    // on the stack, which outlives our use.
    unsafe {
        let ptr = ffi::lua_tolstring(l, idx, &mut len);
        let bytes = std::slice::from_raw_parts(ptr as *const u8, len);
        utf8(bytes).unwrap_or("\u{fffd}")
    }
}

/// Converts the value at `idx` into an owned payload (rules as in `convert`).
/// Errors name the offending value by its path from `root`
/// (`payload.list[3]: function cannot be sent`).
pub(crate) unsafe fn to_payload(
    l: *mut lua_State,
    idx: c_int,
    root: &str,
) -> Result<Payload, String> {
    let idx = if idx < 0 {
        // SAFETY: relative index into the current frame.
        unsafe { ffi::lua_gettop(l) + idx + 1 }
    } else {
        idx
    };
    let mut stack = Stack::new();
    // SAFETY: forwarded from the caller.
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

unsafe fn convert(l: *mut lua_State, idx: c_int, stack: &mut Stack) -> Result<Payload, ConvError> {
    // SAFETY: `idx` is an absolute index of a live stack slot.
    unsafe {
        Ok(match ffi::lua_type(l, idx) {
            ffi::LUA_TNIL | ffi::LUA_TNONE => Payload::Nil,
            ffi::LUA_TBOOLEAN => Payload::Bool(ffi::lua_toboolean(l, idx) != 0),
            ffi::LUA_TNUMBER => number(ffi::lua_tonumber(l, idx)),
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let ptr = ffi::lua_tolstring(l, idx, &mut len);
                let bytes = std::slice::from_raw_parts(ptr as *const u8, len);
                match utf8(bytes) {
                    Ok(s) => Payload::Str(s.into()),
                    Err(_) => Payload::Bytes(bytes.to_vec()),
                }
            }
            ffi::LUA_TTABLE => table(l, idx, stack)?,
            t => {
                let name = match t {
                    ffi::LUA_TFUNCTION => "function",
                    ffi::LUA_TTHREAD => "thread",
                    ffi::LUA_TBUFFER => "buffer",
                    ffi::LUA_TVECTOR => "vector",
                    ffi::LUA_TUSERDATA
                        if ffi::lua_userdatatag(l, idx) == crate::ffi::message_object::MSG_TAG =>
                    {
                        "message"
                    }
                    _ => "userdata",
                };
                return Err(ConvError::new(format!("{name} cannot be sent")));
            }
        })
    }
}

unsafe fn table(l: *mut lua_State, idx: c_int, stack: &mut Stack) -> Result<Payload, ConvError> {
    // SAFETY: `idx` is an absolute index of a table; we keep the stack
    // balanced (every push is popped on every path).
    unsafe {
        if ffi::lua_checkstack(l, 4) == 0 {
            return Err(ConvError::new("too deeply nested"));
        }
        if ffi::lua_getmetatable(l, idx) != 0 {
            let kind = ffi::lua_rawgetfield(l, -1, c"__wippy".as_ptr());
            if kind == ffi::LUA_TSTRING {
                let k = to_str(l, -1).to_owned();
                ffi::lua_pop(l, 2);
                return Err(ConvError::new(format!("{k} cannot be sent")));
            }
            ffi::lua_pop(l, 2);
        }
        let ptr = ffi::lua_topointer(l, idx) as usize;
        if stack.contains(&ptr) {
            return Err(ConvError::new("table contains a cycle and cannot be sent"));
        }
        if stack.len() >= MAX_DEPTH {
            return Err(ConvError::new(format!(
                "nested deeper than {MAX_DEPTH} levels and cannot be sent"
            )));
        }
        stack.push(ptr);
        let len = ffi::lua_objlen(l, idx);
        let mut pairs: Vec<(Payload, Payload)> = Vec::new();
        let mut sequence = true;
        let mut result = Ok(());
        // lua_rawiter walks the array part, then the hash part, by slot
        // index (lua_next re-finds the previous key every step).
        let mut iter = 0;
        loop {
            iter = ffi::lua_rawiter(l, idx, iter);
            if iter < 0 {
                break;
            }
            let top = ffi::lua_gettop(l);
            let key = match ffi::lua_type(l, top - 1) {
                ffi::LUA_TSTRING | ffi::LUA_TNUMBER | ffi::LUA_TBOOLEAN => {
                    convert(l, top - 1, stack)
                }
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
                    ffi::lua_pop(l, 2);
                    break;
                }
            };
            if sequence && !matches!(key, Payload::Int(i) if i >= 1 && (i as usize) <= len) {
                sequence = false;
            }
            let val = convert(l, top, stack);
            ffi::lua_pop(l, 2);
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
}

/// Pushes a fresh Lua value for `p`; pids and string keys come from the
/// VM's string cache.
///
/// # Safety
/// `l` is the running thread (or one suspended on this thread) with at
/// least one free stack slot; a table level reserves the slots its
/// entries need (the table, a key, a value) itself.
pub(crate) unsafe fn push_payload(l: *mut lua_State, p: &Payload, strings: &LuaStrings) {
    // SAFETY: see above: scalars take the caller's free slot, a table
    // level reserves three before it pushes.
    unsafe {
        match p {
            Payload::Nil => ffi::lua_pushnil(l),
            Payload::Bool(b) => ffi::lua_pushboolean(l, *b as c_int),
            Payload::Int(i) => ffi::lua_pushnumber(l, *i as f64),
            Payload::Float(f) => ffi::lua_pushnumber(l, *f),
            Payload::Str(s) => push_str(l, s),
            Payload::Bytes(b) => {
                ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len());
            }
            Payload::Pid(pid) => strings.push_pid(l, *pid),
            Payload::Array(items) => {
                ffi::lua_checkstack(l, 3);
                ffi::lua_createtable(l, items.len().min(i32::MAX as usize) as c_int, 0);
                for (i, v) in items.iter().enumerate() {
                    push_payload(l, v, strings);
                    ffi::lua_rawseti(l, -2, (i + 1) as ffi::lua_Integer);
                }
            }
            Payload::Map(pairs) => {
                ffi::lua_checkstack(l, 3);
                ffi::lua_createtable(l, 0, pairs.len().min(i32::MAX as usize) as c_int);
                for (k, v) in pairs {
                    if matches!(k, Payload::Nil) {
                        continue;
                    }
                    match k {
                        Payload::Str(k) => strings.push_str(l, k),
                        k => push_payload(l, k, strings),
                    }
                    push_payload(l, v, strings);
                    ffi::lua_rawset(l, -3);
                }
            }
        }
    }
}

/// `process.send` as a Lua function.
pub(crate) fn send_function(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    // SAFETY: `send` follows the C function protocol of the Luau API.
    unsafe { lua.create_c_function(send) }
}

/// `rt.take` as a Lua function.
pub(crate) fn take_function(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    // SAFETY: `take` follows the C function protocol of the Luau API.
    unsafe { lua.create_c_function(take) }
}

/// `rt.recv` as a Lua function.
pub(crate) fn recv_function(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    // SAFETY: `recv` follows the C function protocol of the Luau API (a
    // yielding C function returns lua_yield's value).
    unsafe { lua.create_c_function(recv) }
}

/// `rt.bind_env` as a Lua function.
pub(crate) fn bind_env_function(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    // SAFETY: `bind_env` follows the C function protocol of the Luau API.
    unsafe { lua.create_c_function(bind_env) }
}
