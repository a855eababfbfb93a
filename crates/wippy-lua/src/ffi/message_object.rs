//! Message objects as Lua sees them (`inbox:receive()`, listen channels):
//! a tagged userdata holding the kernel's [`Message`] itself, with the
//! methods `:topic()`, `:from()`, `:payload()` and `:data()` as C
//! functions.
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
use wippy_process::Message;

use crate::engine::current::with_current;
use crate::ffi::raw::push_payload;

/// The userdata tag of message objects (tag 0 is mlua's).
pub(crate) const MSG_TAG: c_int = 1;

const _: () = assert!(
    std::mem::align_of::<Message>() <= 8,
    "Luau aligns userdata memory to 8 bytes"
);

/// Registers the message metatable and destructor of a fresh VM.
///
/// # Safety
/// `l` is the VM's main state, outside any running process, with room for
/// three values; the stack is left as it was.
pub(crate) unsafe fn install(l: *mut lua_State) {
    // SAFETY: forwarded from the caller; every push is consumed below.
    unsafe {
        ffi::lua_setuserdatadtor(l, MSG_TAG, Some(drop_message));
        ffi::lua_createtable(l, 0, 4);
        ffi::lua_createtable(l, 0, 4);
        let methods: [(&std::ffi::CStr, ffi::lua_CFunction); 4] = [
            (c"topic", topic),
            (c"from", from),
            (c"payload", payload),
            (c"data", data),
        ];
        for (name, f) in methods {
            ffi::lua_pushcfunction(l, f);
            ffi::lua_setfield(l, -2, name.as_ptr());
        }
        ffi::lua_setreadonly(l, -1, 1);
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        ffi::lua_pushstring(l, c"message".as_ptr());
        ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
        ffi::lua_pushstring(l, c"message".as_ptr());
        ffi::lua_setfield(l, -2, c"__type".as_ptr());
        ffi::lua_setreadonly(l, -1, 1);
        ffi::lua_setuserdatametatable(l, MSG_TAG);
    }
}

/// Pushes `msg` as a message object.
///
/// # Safety
/// `l` is a thread of a VM set up by [`install`], with a free stack slot.
pub(crate) unsafe fn push(l: *mut lua_State, msg: Message) {
    // SAFETY: the userdata is fresh, sized and aligned for a Message (see
    // the assertion above), and owned by the VM from here on; the tag's
    // destructor drops it.
    unsafe {
        let p = ffi::lua_newuserdatataggedwithmetatable(l, size_of::<Message>(), MSG_TAG);
        std::ptr::write(p as *mut Message, msg);
    }
}

unsafe extern "C" fn drop_message(_l: *mut lua_State, p: *mut c_void) {
    // SAFETY: called once by the collector for a userdata made by `push`.
    unsafe { std::ptr::drop_in_place(p as *mut Message) };
}

/// The message at index 1, or a Lua error naming `method`.
unsafe fn this<'a>(l: *mut lua_State, method: &str) -> &'a Message {
    // SAFETY: a C function's own stack; the pointer lives while the
    // userdata is on it, which outlives the call.
    unsafe {
        let p = ffi::lua_touserdatatagged(l, 1, MSG_TAG) as *const Message;
        if p.is_null() {
            let text = format!("message:{method}: expected a message (call it with `:`)");
            ffi::lua_pushlstring(l, text.as_ptr() as *const _, text.len());
            drop(text);
            ffi::lua_error(l);
        }
        &*p
    }
}

unsafe extern "C-unwind" fn topic(l: *mut lua_State) -> c_int {
    // SAFETY: C function protocol; one value pushed.
    unsafe {
        let m = this(l, "topic");
        if with_current(|_, env| env.strings.push_str(l, &m.topic)).is_none() {
            ffi::lua_pushlstring(l, m.topic.as_ptr() as *const _, m.topic.len());
        }
    }
    1
}

unsafe extern "C-unwind" fn from(l: *mut lua_State) -> c_int {
    // SAFETY: C function protocol; one value pushed.
    unsafe {
        let m = this(l, "from");
        match m.from {
            None => ffi::lua_pushnil(l),
            Some(pid) => {
                if with_current(|_, env| env.strings.push_pid(l, pid)).is_none() {
                    let s = pid.to_string();
                    ffi::lua_pushlstring(l, s.as_ptr() as *const _, s.len());
                }
            }
        }
    }
    1
}

/// A message is its own payload object: `msg:payload():data()`.
unsafe extern "C-unwind" fn payload(l: *mut lua_State) -> c_int {
    // SAFETY: C function protocol; one value pushed.
    unsafe {
        this(l, "payload");
        ffi::lua_pushvalue(l, 1);
    }
    1
}

unsafe extern "C-unwind" fn data(l: *mut lua_State) -> c_int {
    // SAFETY: C function protocol; push_payload reserves its own slots.
    unsafe {
        let m = this(l, "data");
        if with_current(|_, env| push_payload(l, &m.payload, &env.strings)).is_none() {
            push_payload(l, &m.payload, &crate::ffi::strings::LuaStrings::new());
        }
    }
    1
}
