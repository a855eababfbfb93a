//! Message objects as Lua sees them (`inbox:receive()`, listen channels):
//! a tagged userdata holding the kernel's [`Message`] itself, with the
//! methods `:topic()`, `:from()`, `:payload()` and `:data()` as C
//! functions, and `tostring(msg)` = `process.Message{topic=<t>}`.
//!
//! A message of one value is its own payload object: `msg:payload()`
//! returns the message, which also answers the payload object's
//! `:data()`, `:unmarshal()`, `:get_format()` and `:transcode(f)` (the
//! last through a payload object of the value, `payload_object.rs`).
//! `msg:payload():data()`, the usual way to read a message, so costs no
//! allocation. A message of several values (`process.send(to, t, a, b)`)
//! gives an array of payload objects; one of none (`send(to, t)`, or a nil
//! value) gives nil.
//!
//! Nothing is converted until it is asked for: the topic and the sender's
//! pid become Lua strings (through the VM's string cache) when `:topic()` /
//! `:from()` is called, and the payload becomes a fresh Lua value on every
//! `:data()` call (the spec's "fresh copy owned by the receiver"). Taking a
//! message from the mailbox is one allocation, and a process that only
//! reads the data never builds the pid string.
//!
//! Invariants:
//! * Userdata with tag [`MSG_TAG`] are made only by [`push`], always with a
//!   valid `Message` written in place; the VM's per-tag destructor drops it
//!   when the userdata is collected (or the VM closes). Lua code cannot make
//!   or reach into one (the metatable is locked and read-only).
//! * The methods check the tag of their `self` before reading it.

use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};
use wippy_process::{Message, Payload};

use crate::engine::current::with_current_or;
use crate::ffi::payload::push_payload;
use crate::ffi::payload_object::{self, PayloadObject};
use crate::ffi::push_bytes;
use crate::ffi::strings::LuaStrings;

/// The userdata tag of message objects (tag 0 is mlua's).
const MSG_TAG: c_int = 1;

const _: () = assert!(
    std::mem::align_of::<Message>() <= 8,
    "Luau aligns userdata memory to 8 bytes"
);

/// Registers the message metatable and destructor of a fresh VM (before
/// any process exists).
pub(crate) fn install(lua: &mlua::Lua) -> mlua::Result<()> {
    // SAFETY: exec_raw hands the closure the VM's main state, outside any
    // running process, with room for the three values `install_raw` uses;
    // it leaves the stack as it found it.
    unsafe { lua.exec_raw::<()>((), |l| install_raw(l)) }
}

/// # Safety
/// `l` is the VM's main state, outside any running process, with room for
/// three values; the stack is left as it was.
unsafe fn install_raw(l: *mut lua_State) {
    // SAFETY: `l` is the main state (the contract); the tag's destructor
    // is set once, before any message object exists.
    unsafe { ffi::lua_setuserdatadtor(l, MSG_TAG, Some(drop_message)) };
    // SAFETY: room for the metatable and the method table (the contract).
    unsafe { ffi::lua_createtable(l, 0, 5) };
    // SAFETY: as above.
    unsafe { ffi::lua_createtable(l, 0, 7) };
    let methods: [(&std::ffi::CStr, ffi::lua_CFunction); 7] = [
        (c"topic", topic),
        (c"from", from),
        (c"payload", payload),
        (c"data", data),
        (c"unmarshal", data),
        (c"get_format", get_format),
        (c"transcode", transcode),
    ];
    for (name, f) in methods {
        // SAFETY: the third slot; consumed by the setfield below.
        unsafe { ffi::lua_pushcfunction(l, f) };
        // SAFETY: the method table at -2.
        unsafe { ffi::lua_setfield(l, -2, name.as_ptr()) };
    }
    // SAFETY: the method table on top.
    unsafe { ffi::lua_setreadonly(l, -1, 1) };
    // SAFETY: the metatable at -2; pops the method table.
    unsafe { ffi::lua_setfield(l, -2, c"__index".as_ptr()) };
    // SAFETY: the second slot; consumed by the setfield below.
    unsafe { ffi::lua_pushcfunction(l, to_string) };
    // SAFETY: the metatable at -2.
    unsafe { ffi::lua_setfield(l, -2, c"__tostring".as_ptr()) };
    for field in [c"__metatable", c"__type"] {
        // SAFETY: the second slot; consumed by the setfield below.
        unsafe { ffi::lua_pushstring(l, c"message".as_ptr()) };
        // SAFETY: the metatable at -2.
        unsafe { ffi::lua_setfield(l, -2, field.as_ptr()) };
    }
    // SAFETY: the metatable on top.
    unsafe { ffi::lua_setreadonly(l, -1, 1) };
    // SAFETY: pops the metatable, which the VM keeps for the tag.
    unsafe { ffi::lua_setuserdatametatable(l, MSG_TAG) };
}

/// Pushes `msg` as a message object.
///
/// # Safety
/// `l` is a thread of a VM set up by [`install`], running on this OS
/// thread, with a free stack slot.
pub(crate) unsafe fn push(l: *mut lua_State, msg: Message) {
    // SAFETY: the contract; the userdata is fresh and sized for a Message.
    let p = unsafe { ffi::lua_newuserdatataggedwithmetatable(l, size_of::<Message>(), MSG_TAG) };
    // SAFETY: `p` is aligned for a Message (the assertion above) and owned
    // by the VM from here on; the tag's destructor drops it.
    unsafe { std::ptr::write(p as *mut Message, msg) };
}

/// The payload of the message object at `idx` (a copy), if the value
/// there is one.
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread.
pub(crate) unsafe fn payload_of(l: *mut lua_State, idx: c_int) -> Option<Payload> {
    // SAFETY: the contract; lua_touserdatatagged checks the tag.
    let p = unsafe { ffi::lua_touserdatatagged(l, idx, MSG_TAG) } as *const Message;
    // SAFETY: a live message object (tag checked), written by `push`.
    (!p.is_null()).then(|| unsafe { (*p).payload.clone() })
}

/// The tag's destructor.
///
/// # Safety
/// Called once by the collector, for a userdata made by [`push`].
unsafe extern "C" fn drop_message(_l: *mut lua_State, p: *mut c_void) {
    // SAFETY: a Message written in place by `push` (the contract).
    unsafe { std::ptr::drop_in_place(p as *mut Message) };
}

/// The message at index 1, or a Lua error naming `method`.
///
/// # Safety
/// `l` is the running thread of a C function call; the message lives
/// while it is at index 1, which outlives the call (`'a`).
unsafe fn this<'a>(l: *mut lua_State, method: &str) -> &'a Message {
    // SAFETY: the contract; lua_touserdatatagged checks the tag.
    let p = unsafe { ffi::lua_touserdatatagged(l, 1, MSG_TAG) } as *const Message;
    if p.is_null() {
        let text = format!("message:{method}: expected a message (call it with `:`)");
        // SAFETY: a C function has a free slot; Luau copies the text.
        unsafe { push_bytes(l, text.as_bytes()) };
        drop(text);
        // SAFETY: nothing owned is left in this frame.
        unsafe { ffi::lua_error(l) };
    }
    // SAFETY: a live message object at index 1 (tag checked), written by
    // `push`.
    unsafe { &*p }
}

/// `msg:topic()` → the topic string.
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn topic(l: *mut lua_State) -> c_int {
    // SAFETY: the running thread of this call.
    let m = unsafe { this(l, "topic") };
    with_current_or(
        // SAFETY: a free slot (LUA_MINSTACK); the cache is this VM's.
        |_, env| unsafe { env.strings.push_str(l, &m.topic) },
        // SAFETY: as above.
        || unsafe { push_bytes(l, m.topic.as_bytes()) },
    );
    1
}

/// `msg:from()` → the sender's pid string, or `""` when it was not a
/// process (Wippy's value: a string either way).
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn from(l: *mut lua_State) -> c_int {
    // SAFETY: the running thread of this call.
    let m = unsafe { this(l, "from") };
    match m.from {
        // SAFETY: a free slot (LUA_MINSTACK).
        None => unsafe { push_bytes(l, b"") },
        Some(pid) => with_current_or(
            // SAFETY: as above; the cache is this VM's.
            |_, env| unsafe { env.strings.push_pid(l, pid) },
            // SAFETY: as above.
            || unsafe { push_bytes(l, pid.to_string().as_bytes()) },
        ),
    }
    1
}

/// `msg:payload()`: the message itself when it carries one value (a
/// message is its own payload object), an array of payload objects when
/// it carries several, nil when it carries none.
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn payload(l: *mut lua_State) -> c_int {
    // SAFETY: the running thread of this call.
    let m = unsafe { this(l, "payload") };
    if m.multi || matches!(m.payload, Payload::Nil) {
        // SAFETY: as above; the message stays at index 1.
        return unsafe { payloads(l, m) };
    }
    // The usual case, one value: the message itself.
    // SAFETY: a free slot (LUA_MINSTACK); index 1 holds the message.
    unsafe { ffi::lua_pushvalue(l, 1) };
    1
}

/// `msg:payload()` of a message of several values (an array of payload
/// objects) or of none (nil).
///
/// # Safety
/// `l` is the running thread of a C function call, with `m` at index 1.
#[cold]
#[inline(never)]
unsafe fn payloads(l: *mut lua_State, m: &Message) -> c_int {
    match &m.payload {
        Payload::Array(values) if m.multi => {
            // SAFETY: the running thread; room for the table and a value.
            unsafe { ffi::lua_checkstack(l, 2) };
            let n = values.len().min(i32::MAX as usize) as c_int;
            // SAFETY: a free slot (reserved above).
            unsafe { ffi::lua_createtable(l, n, 0) };
            for (i, v) in values.iter().enumerate() {
                // SAFETY: the second reserved slot; payload objects are
                // installed in every VM the runtime builds.
                unsafe { payload_object::push(l, PayloadObject::of(v.clone())) };
                // SAFETY: the table at -2, the object on top (popped).
                unsafe { ffi::lua_rawseti(l, -2, (i + 1) as ffi::lua_Integer) };
            }
        }
        // SAFETY: a free slot (LUA_MINSTACK).
        _ => unsafe { ffi::lua_pushnil(l) },
    }
    1
}

/// `msg:data()` (also `:unmarshal()`) → a fresh Lua value of the payload
/// (of a message of several values: the array of them).
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn data(l: *mut lua_State) -> c_int {
    // SAFETY: the running thread of this call.
    let m = unsafe { this(l, "data") };
    with_current_or(
        // SAFETY: a free slot; push_payload reserves its own for tables;
        // the cache is this VM's.
        |_, env| unsafe { push_payload(l, &m.payload, &env.strings) },
        // SAFETY: as above, with a cache of its own.
        || unsafe { push_payload(l, &m.payload, &LuaStrings::new()) },
    );
    1
}

/// `msg:get_format()` → the format of its value as a payload object's
/// (`"lua/any"`, or `"golang/error"` for an error).
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn get_format(l: *mut lua_State) -> c_int {
    // SAFETY: the running thread of this call.
    let m = unsafe { this(l, "get_format") };
    let format = if matches!(m.payload, Payload::Error(_)) {
        payload_object::GOLANG_ERROR
    } else {
        payload_object::LUA_ANY
    };
    // SAFETY: a free slot (LUA_MINSTACK).
    unsafe { push_bytes(l, format.as_bytes()) };
    1
}

/// `msg:transcode(format)`: what `p:transcode(format)` gives for `p`, a
/// payload object of the message's value.
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn transcode(l: *mut lua_State) -> c_int {
    // SAFETY: the running thread of this call.
    let m = unsafe { this(l, "transcode") };
    let object = PayloadObject::of(m.payload.clone());
    // SAFETY: the running thread; room for the object, its method and a
    // copy of it, and the format.
    unsafe { ffi::lua_checkstack(l, 4) };
    // SAFETY: a reserved slot; the object owns its value from here on.
    unsafe { payload_object::push(l, object) };
    // SAFETY: the object on top has a metatable with the payload module's
    // methods; pushes `transcode` (a reserved slot).
    unsafe { ffi::lua_getfield(l, -1, c"transcode".as_ptr()) };
    // SAFETY: the object at -2 becomes the method's first argument.
    unsafe { ffi::lua_pushvalue(l, -2) };
    // SAFETY: the format argument of this call, at index 2.
    unsafe { ffi::lua_pushvalue(l, 2) };
    // SAFETY: the method and its two arguments on top; its two results
    // replace them. An error it raises unwinds through this function,
    // which owns nothing (the object is the VM's).
    unsafe { ffi::lua_call(l, 2, 2) };
    2
}

/// `tostring(msg)` → `process.Message{topic=<t>}`.
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn to_string(l: *mut lua_State) -> c_int {
    // SAFETY: the running thread of this call.
    let m = unsafe { this(l, "tostring") };
    let text = format!("process.Message{{topic={}}}", m.topic);
    // SAFETY: a free slot; Luau copies the text.
    unsafe { push_bytes(l, text.as_bytes()) };
    1
}
