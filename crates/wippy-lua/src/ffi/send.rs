//! `process.send(dest, topic, ...)`, a C function: the message path's
//! other half (`receive.rs` is the first).
//!
//! A process usually sends to the same peer over and over, by the same Lua
//! string: a peer named by the same pid string twice in a row is
//! remembered with the address of that string object ([`LastTo`]), and a
//! send naming it again goes straight to its cell: no parse, no
//! process-table lookup, not even a read of the string (`lua_topointer`
//! gives the object's address without touching it, and in a ring of 10k
//! processes that string is a cache miss). (Not after one send: a process
//! that sends once, to say it is ready, and then waits, would keep the
//! entry for nothing.) The entry also remembers the topic of the latest
//! send to that peer, the same way.

use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};
use wippy_process::{ErrorKind, ExitError, Message, Payload, Pid, Topic};

use crate::engine::current::with_current_or;
use crate::engine::proc_data::{LastTo, ProcData};
use crate::engine::vm::ShardEnv;
use crate::ffi::payload::to_payload_sized;
use crate::ffi::{bad_argument, nil_error, to_str};

/// `process.send` as a Lua function.
pub(crate) fn send_function(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    // SAFETY: `send` follows the C function protocol of the Luau API.
    unsafe { lua.create_c_function(send) }
}

/// `process.send(dest, topic, ...)` → `true` or `nil, err`: Invalid for
/// fewer than two arguments, a topic starting with `@` or a value that
/// cannot be sent; NotFound for a destination that names no process (an
/// unknown name, a process that has ended); PermissionDenied when the
/// sender may not send there. Each value after the topic is one payload;
/// several arrive as one message of several ([`Message::multi`]).
///
/// # Safety
/// Called by Luau as a C function (`l` is the running thread).
unsafe extern "C-unwind" fn send(l: *mut lua_State) -> c_int {
    with_current_or(
        // SAFETY: `l` is the running thread of the process whose step set
        // the current process, inside this C function.
        |p, env| unsafe { send_for(l, p, env) },
        // SAFETY: the running thread of a C function call.
        || unsafe {
            nil_error(
                l,
                ExitError::non_retryable(
                    ErrorKind::Internal,
                    "process.send called outside a process",
                ),
            )
        },
    )
}

/// `process.send` for the running process `p`.
///
/// # Safety
/// `l` is the running thread of `p`, inside the C function `send`.
unsafe fn send_for(l: *mut lua_State, p: &ProcData, env: &ShardEnv) -> c_int {
    // SAFETY: `l` is the running thread (the contract); lua_gettop,
    // lua_type and lua_topointer accept any index, and nothing is owned yet
    // when an argument error unwinds (this holds for the reads below, up to
    // the conversions).
    let top = unsafe { ffi::lua_gettop(l) };
    if top < 2 {
        let e = ExitError::non_retryable(
            ErrorKind::Invalid,
            "process.send needs a destination and a topic",
        );
        // SAFETY: the running thread of a C function call.
        return unsafe { nil_error(l, e) };
    }
    // SAFETY: as above.
    if unsafe { ffi::lua_type(l, 1) } != ffi::LUA_TSTRING {
        // SAFETY: as above.
        unsafe { bad_argument(l, 1, "process.send", "a pid or a registered name") }
    }
    // SAFETY: as above.
    if unsafe { ffi::lua_type(l, 2) } != ffi::LUA_TSTRING {
        // SAFETY: as above.
        unsafe { bad_argument(l, 2, "process.send", "a string topic") }
    }
    // The topic as the peer remembered by `LastTo` last took it: a process
    // sending to the same peer with the same topic string converts it once
    // (see `deliver`).
    // SAFETY: as above.
    let topic_key = unsafe { ffi::lua_topointer(l, 2) };
    let cached = p.with_last_to(|last| match last {
        Some(t) if t.topic_string == topic_key => Some(t.topic.clone()),
        _ => None,
    });
    let (topic, cached) = match cached {
        Some(t) => (t, true),
        None => {
            // SAFETY: index 2 holds a string (checked above), an argument
            // that stays on the stack for the call.
            let topic = unsafe { to_str(l, 2) };
            if topic.starts_with('@') {
                let e = wippy_process::Error::ReservedTopic(topic.into()).to_exit_error();
                // SAFETY: the running thread of a C function call.
                return unsafe { nil_error(l, e) };
            }
            (Topic::from(topic), false)
        }
    };
    // The payload and its size (see `Message::sized`).
    let payload = if top <= 2 {
        Ok((Payload::Nil, Payload::Nil.byte_size()))
    } else if top == 3 {
        // SAFETY: index 3 is an argument of the call, on the running thread,
        // which has the LUA_MINSTACK free slots of a C function's call
        // (nothing was pushed yet).
        unsafe { to_payload_sized(l, 3, "payload") }
    } else {
        let mut bytes = std::mem::size_of::<Payload>();
        (3..=top)
            // SAFETY: indices 3..=top are arguments of the call, on the
            // running thread, with a C function's free slots (as above).
            .map(|i| unsafe { to_payload_sized(l, i, &format!("payload[{}]", i - 2)) })
            .map(|r| {
                r.map(|(p, size)| {
                    bytes += size;
                    p
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|items| (Payload::Array(items), bytes))
    };
    let (payload, bytes) = match payload {
        Ok(sized) => sized,
        // SAFETY: the running thread of a C function call.
        Err(e) => return unsafe { nil_error(l, ExitError::non_retryable(ErrorKind::Invalid, e)) },
    };
    let topic = SendTopic {
        topic,
        string: topic_key,
        cached,
    };
    let multi = top > 3;
    // SAFETY: `l` is `p`'s running thread, with strings at 1 and 2.
    match unsafe { deliver(l, p, env, topic, (payload, bytes), multi) } {
        Ok(()) => {
            // SAFETY: a C function has a free slot (LUA_MINSTACK).
            unsafe { ffi::lua_pushboolean(l, 1) };
            1
        }
        // SAFETY: the running thread of a C function call.
        Err(e) => unsafe { nil_error(l, e) },
    }
}

/// The failure of a destination that names no process: not a pid, and no
/// registered name (Wippy's text).
#[cold]
fn unresolved(dest: &str) -> ExitError {
    ExitError::non_retryable(
        ErrorKind::NotFound,
        format!("could not resolve '{dest}' as PID or registered name"),
    )
}

/// The failure of a send the sender may not make (Wippy's text; the
/// denial itself is in the audit log).
#[cold]
fn denied(dest: &str) -> ExitError {
    ExitError::non_retryable(
        ErrorKind::PermissionDenied,
        format!("not allowed to send: {dest}"),
    )
}

/// The topic of a send (the string at index 2), converted.
struct SendTopic {
    topic: Topic,
    /// The string object (`lua_topointer`).
    string: *const c_void,
    /// Whether the conversion came from the `LastTo` topic cache.
    cached: bool,
}

/// Sends to the destination at index 1 (a string: a pid or a registered
/// name), through the remembered peer when that string names it (see the
/// module doc); `bytes` is the payload's size.
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
    (payload, bytes): (Payload, usize),
    multi: bool,
) -> Result<(), ExitError> {
    let node = &env.host.node;
    let from = Some(p.pid());
    let message = |topic| Message::sized(from, topic, payload, multi, bytes);
    // SAFETY: index 1 holds a string (the contract).
    let key = unsafe { ffi::lua_topointer(l, 1) };
    let mut last = p.last_to.take();
    if let Some(t) = &mut last
        && t.string == key
    {
        if !cached {
            // SAFETY: the old reference belongs to this VM (see `LastTo`).
            unsafe { ffi::lua_unref(l, t.topic_ref) };
            // SAFETY: index 2 holds the topic string (the contract).
            t.topic_ref = unsafe { ffi::lua_ref(l, 2) };
            t.topic_string = topic_key;
            t.topic = topic.clone();
        }
        let sent = node.send_message_to(&t.cell, message(topic));
        p.last_to.set(last);
        return sent.map_err(|e| e.to_exit_error());
    }
    p.last_to.set(last);
    // SAFETY: index 1 holds a string, an argument of the call.
    let dest = unsafe { to_str(l, 1) };
    if !dest.starts_with('{') {
        // A name (of any scope): looked up every time (it may be
        // re-registered).
        let Some(to) = env.host.lookup(dest) else {
            return Err(unresolved(dest));
        };
        p.check_host(env, "process.send", to.host())
            .map_err(|_| denied(dest))?;
        return node
            .send_message(to, message(topic))
            .map_err(|e| e.to_exit_error());
    }
    let to = parse_pid(dest).map_err(|_| unresolved(dest))?;
    // Checked before a peer is remembered: a remembered peer was allowed,
    // and a process's principal and host never change.
    p.check_host(env, "process.send", to.host())
        .map_err(|_| denied(dest))?;
    let Some(cell) = node.cell(to) else {
        // Ended (or never lived): a dead letter, NotFound.
        return node
            .send_message(to, message(topic))
            .map_err(|e| e.to_exit_error());
    };
    if p.last_string.replace(key) != key {
        return node
            .send_message_to(&cell, message(topic))
            .map_err(|e| e.to_exit_error());
    }
    // SAFETY: `l` is a thread of `p`'s VM (the contract).
    unsafe { forget_peer(l, p) };
    // SAFETY: index 1 holds the string object `key` (the contract); the
    // reference keeps it alive while the entry exists (see `LastTo`).
    let string_ref = unsafe { ffi::lua_ref(l, 1) };
    // SAFETY: index 2 holds the topic string object `topic_key`; as above.
    let topic_ref = unsafe { ffi::lua_ref(l, 2) };
    p.last_to.set(Some(Box::new(LastTo {
        string: key,
        string_ref,
        cell: cell.clone(),
        topic_string: topic_key,
        topic_ref,
        topic: topic.clone(),
    })));
    node.send_message_to(&cell, message(topic))
        .map_err(|e| e.to_exit_error())
}

/// Drops `p`'s remembered send destination and the references that kept
/// its strings alive.
///
/// # Safety
/// `l` is a state of `p`'s VM, on the thread running it.
pub(crate) unsafe fn forget_peer(l: *mut lua_State, p: &ProcData) {
    if let Some(last) = p.last_to.take() {
        // SAFETY: the reference belongs to this VM (see `LastTo`).
        unsafe { ffi::lua_unref(l, last.string_ref) };
        // SAFETY: as above.
        unsafe { ffi::lua_unref(l, last.topic_ref) };
    }
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
