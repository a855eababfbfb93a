//! Per-VM caches of the Lua strings the message path pushes over and over:
//! topics, table keys of payloads, and pid strings.
//!
//! Pushing a Rust string into Luau interns it (hash, table probe, compare,
//! and a GC check); formatting a pid first costs more. A process that
//! receives a stream of `{n = i}` messages from one peer pushes the same
//! three strings every time. Each cache is direct-mapped: a slot holds the
//! Rust key and a registry reference to the interned Lua string, so a hit
//! is a hash, a compare and a registry read.
//!
//! Invariants:
//! * A cache belongs to one VM (it lives in the VM's `ShardEnv`) and is only
//!   used on the thread running that VM, with a thread of that VM as `l`.
//! * Every reference held by a slot is a live registry reference of that
//!   VM: a replaced slot unrefs its old string; the references die with the
//!   VM. At most `TOPIC_SLOTS + PID_SLOTS` strings are kept alive this way.

use std::cell::RefCell;
use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use wippy_process::{Pid, Topic};

use crate::ffi::push_bytes;

/// Strings longer than this are pushed uncached (they are rarely repeated
/// topics or keys, and comparing them costs what interning does).
const MAX_CACHED_LEN: usize = 32;
const TOPIC_SLOTS: usize = 64;
const PID_SLOTS: usize = 256;

/// The string caches of one VM.
pub(crate) struct LuaStrings {
    inner: RefCell<Slots>,
}

struct Slots {
    strs: Box<[Option<(Topic, c_int)>; TOPIC_SLOTS]>,
    pids: Box<[Option<(Pid, c_int)>; PID_SLOTS]>,
}

impl LuaStrings {
    pub(crate) fn new() -> LuaStrings {
        LuaStrings {
            inner: RefCell::new(Slots {
                strs: Box::new([const { None }; TOPIC_SLOTS]),
                pids: Box::new([const { None }; PID_SLOTS]),
            }),
        }
    }

    /// Pushes `s` (a topic or a table key) as a Lua string.
    ///
    /// # Safety
    /// `l` is a running thread of this cache's VM with a free stack slot.
    pub(crate) unsafe fn push_str(&self, l: *mut lua_State, s: &str) {
        if s.len() > MAX_CACHED_LEN {
            // SAFETY: the caller's contract.
            unsafe { push_bytes(l, s.as_bytes()) };
            return;
        }
        let ix = hash_str(s) % TOPIC_SLOTS;
        let mut slots = self.inner.borrow_mut();
        if let Some((key, r)) = &slots.strs[ix]
            && key == s
        {
            // SAFETY: the caller's contract; `r` is a live registry
            // reference of this VM (the module's invariant).
            unsafe { ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, *r as _) };
            return;
        }
        // SAFETY: the caller's contract.
        unsafe { push_bytes(l, s.as_bytes()) };
        // SAFETY: the string just pushed (lua_ref leaves it on the stack).
        let r = unsafe { ffi::lua_ref(l, -1) };
        if let Some((_, old)) = slots.strs[ix].replace((Topic::new(s), r)) {
            // SAFETY: the slot's old reference, of this VM, now unused.
            unsafe { ffi::lua_unref(l, old) };
        }
    }

    /// Pushes the string form of `pid`.
    ///
    /// # Safety
    /// As for [`LuaStrings::push_str`].
    pub(crate) unsafe fn push_pid(&self, l: *mut lua_State, pid: Pid) {
        let ix = hash_pid(pid) % PID_SLOTS;
        let mut slots = self.inner.borrow_mut();
        if let Some((key, r)) = &slots.pids[ix]
            && *key == pid
        {
            // SAFETY: as in `push_str`.
            unsafe { ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, *r as _) };
            return;
        }
        let mut buf = String::with_capacity(32);
        pid.write_to(&mut buf);
        // SAFETY: the caller's contract.
        unsafe { push_bytes(l, buf.as_bytes()) };
        // SAFETY: the string just pushed (lua_ref leaves it on the stack).
        let r = unsafe { ffi::lua_ref(l, -1) };
        if let Some((_, old)) = slots.pids[ix].replace((pid, r)) {
            // SAFETY: the slot's old reference, of this VM, now unused.
            unsafe { ffi::lua_unref(l, old) };
        }
    }
}

fn hash_str(s: &str) -> usize {
    // FNV-1a: short keys, no need for more.
    let mut h: u32 = 0x811c_9dc5;
    for &b in s.as_bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h as usize
}

fn hash_pid(pid: Pid) -> usize {
    static SEED: ahash::RandomState = ahash::RandomState::with_seeds(1, 2, 3, 4);
    SEED.hash_one(pid) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string on top of `l`'s stack, popped.
    ///
    /// # Safety
    /// `l` is a live state on this thread with a string on top.
    unsafe fn pop_str(l: *mut lua_State) -> String {
        // SAFETY: a string on top (the contract).
        let s = unsafe { std::ffi::CStr::from_ptr(ffi::lua_tostring(l, -1)) };
        let s = s.to_str().unwrap().to_owned();
        // SAFETY: the string, copied above.
        unsafe { ffi::lua_pop(l, 1) };
        s
    }

    #[test]
    fn cached_strings_are_the_same_lua_strings_and_survive_eviction() {
        let lua = mlua::Lua::new();
        let cache = LuaStrings::new();
        let pid = Pid::new(wippy_process::HostId::intern("strings:test"), 7);
        let l = lua.state();
        // SAFETY: the main state of `lua`, on this thread.
        unsafe { ffi::lua_checkstack(l, 8) };
        // SAFETY: room for both (above); the cache is new, for this VM.
        unsafe { cache.push_str(l, "topic") };
        // SAFETY: as above.
        unsafe { cache.push_str(l, "topic") };
        // SAFETY: the two strings just pushed.
        assert_eq!(unsafe { ffi::lua_rawequal(l, -1, -2) }, 1);
        // SAFETY: strings on top.
        assert_eq!(unsafe { pop_str(l) }, "topic");
        // SAFETY: as above.
        assert_eq!(unsafe { pop_str(l) }, "topic");
        // SAFETY: room, as above.
        unsafe { cache.push_pid(l, pid) };
        // SAFETY: a string on top.
        assert_eq!(unsafe { pop_str(l) }, pid.to_string());
        // Many distinct keys evict each other; every push still yields the
        // right string.
        for i in 0..1000 {
            let k = format!("k{i}");
            // SAFETY: room, as above; each string is popped before the next.
            unsafe { cache.push_str(l, &k) };
            // SAFETY: a string on top.
            assert_eq!(unsafe { pop_str(l) }, k);
        }
        let long = "x".repeat(100);
        // SAFETY: room, as above.
        unsafe { cache.push_str(l, &long) };
        // SAFETY: a string on top.
        assert_eq!(unsafe { pop_str(l) }, long);
    }
}
