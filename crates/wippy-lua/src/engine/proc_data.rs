//! The Rust state of a Lua process: what the natives know of it, kept in an
//! `Rc` the process's step holds (see [`crate::engine::current`]).
//!
//! Invariants:
//! * A `ProcData` is touched only by the thread running its shard, inside
//!   the process's steps or when the shard starts or ends the process.
//! * Its fields are `Cell`s of boxes, not `RefCell`s, where they can be: a
//!   parked process is small, and this struct is most of its Rust state.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use ahash::AHashMap;
use mlua::{Function, Table, Value};
use wippy_host::SpawnContext;
use wippy_process::Pid;
use wippy_process::wippy_sched::TimerId;

use crate::engine::code::Compiled;
use crate::engine::memory::Charge;
use crate::engine::vm::ShardEnv;

/// A process's armed timers: op tag → (timer, periodic).
pub(crate) type TimerMap = AHashMap<u64, (TimerId, bool)>;

/// What the natives know of the running process.
pub(crate) struct ProcData {
    pub(crate) cell: Arc<wippy_process::ProcessCell>,
    pub(crate) entry: RefCell<Arc<Compiled>>,
    /// Timers the process armed, by op tag (cancelled when it ends).
    /// Allocated on first use: most processes arm none, and an empty map
    /// (with its hasher) costs 64 bytes per process.
    pub(crate) timers: Cell<Option<Box<TimerMap>>>,
    /// What the `ctx` module reads: its spawner's context plus what the
    /// spawner added. Set at spawn; an upgrade keeps it (same `ProcData`).
    pub(crate) context: SpawnContext,
    /// The state table, fresh chunk and method name of the thread about to
    /// start (set at spawn and at upgrade, taken by the prelude's boot with
    /// `rt.boot_parts()`; see `engine/process.rs`).
    pub(crate) boot: Cell<Option<Box<(Table, Function, Value)>>>,
    /// The peer this process sends to by pid string, once it has sent to
    /// it twice in a row (see `ffi::send`).
    pub(crate) last_to: Cell<Option<Box<LastTo>>>,
    /// The address of the pid string object of the last send that
    /// `last_to` did not serve (only compared: a hint that the next send
    /// repeats it).
    pub(crate) last_string: Cell<*const std::ffi::c_void>,
    /// Its memory category and what it is charged (`engine/memory.rs`).
    pub(crate) memory: Charge,
}

/// A send destination remembered by the Lua string that named it.
///
/// Invariant: `string_ref` is a registry reference of the process's VM to
/// the string object at `string` (its address as `lua_topointer` gives it).
/// It keeps that string alive, so no other string has that address while
/// the entry exists: a string at `string` *is* that pid string (Luau
/// interns strings). Released in `ffi::send::forget_peer`.
///
/// It also remembers the topic of the latest send to that peer, the same
/// way: `topic_ref` keeps the string object at `topic_string` alive, and
/// `topic` is its conversion (already checked not to be reserved).
pub(crate) struct LastTo {
    pub(crate) string: *const std::ffi::c_void,
    pub(crate) string_ref: std::ffi::c_int,
    pub(crate) cell: Arc<wippy_process::ProcessCell>,
    pub(crate) topic_string: *const std::ffi::c_void,
    pub(crate) topic_ref: std::ffi::c_int,
    pub(crate) topic: wippy_process::Topic,
}

impl ProcData {
    /// Runs `f` on the process's timers (taken out of their cell for it).
    pub(crate) fn with_timers<R>(&self, f: impl FnOnce(&mut Option<Box<TimerMap>>) -> R) -> R {
        let mut timers = self.timers.take();
        let r = f(&mut timers);
        self.timers.set(timers);
        r
    }

    /// Runs `f` on the remembered send destination (see `ffi::send`).
    pub(crate) fn with_last_to<R>(&self, f: impl FnOnce(&mut Option<Box<LastTo>>) -> R) -> R {
        let mut last = self.last_to.take();
        let r = f(&mut last);
        self.last_to.set(last);
        r
    }

    pub(crate) fn pid(&self) -> Pid {
        self.cell.pid()
    }

    /// Whether this process may do `action` on `resource`: its principal
    /// decides, inside its host's boundary (`docs/security.md`). A denial
    /// is logged as an audit event and returned as the `nil, err` text. The
    /// unrestricted system, on a host without policies, passes at once.
    #[inline(always)]
    pub(crate) fn check(&self, env: &ShardEnv, action: &str, resource: &str) -> Result<(), String> {
        if self.unchecked(env) {
            return Ok(());
        }
        self.decide(env, action, resource)
    }

    /// [`ProcData::check`] on a host (the resource of sends, cancels,
    /// links...), whose name is looked up only when there is something to
    /// decide.
    #[inline(always)]
    pub(crate) fn check_host(
        &self,
        env: &ShardEnv,
        action: &str,
        host: wippy_process::HostId,
    ) -> Result<(), String> {
        if self.unchecked(env) {
            return Ok(());
        }
        host.with_name(|name| self.decide(env, action, name))
    }

    /// The check itself, out of the way of the common case.
    #[cold]
    #[inline(never)]
    fn decide(&self, env: &ShardEnv, action: &str, resource: &str) -> Result<(), String> {
        let boundary = env.host.config.security.boundary.as_ref();
        self.context
            .principal()
            .check(boundary, action, resource, self.pid())
            .map_err(|denied| denied.to_string())
    }

    /// Whether every check passes at once: the unrestricted system on a
    /// host without policies.
    #[inline(always)]
    fn unchecked(&self, env: &ShardEnv) -> bool {
        self.context.principal().is_unrestricted() && env.host.config.security.boundary.is_none()
    }

    /// Bytes of Lua heap it holds (`engine/memory.rs`), read by one of its
    /// natives (`lua` runs its step).
    pub(crate) fn heap_bytes(&self, lua: &mlua::Lua, env: &ShardEnv) -> usize {
        let bytes = crate::ffi::memory::category_bytes_of(lua, self.memory.cat());
        let kept = env.host.config.memory_limit.is_some();
        self.memory.held(bytes, kept, env.step_start.get())
    }

    /// Cancels every timer still armed.
    pub(crate) fn cancel_timers(&self, env: &ShardEnv) {
        let timers = env.host.node.timers();
        for (_, (id, _)) in self.timers.take().into_iter().flat_map(|m| *m) {
            timers.cancel(id);
        }
    }
}
