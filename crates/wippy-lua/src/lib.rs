//! Lua processes for wippy-rs, on Luau VM shards.
//!
//! A [`LuaHost`] owns a scheduler and a set of VM shards. Each shard is one
//! Luau VM holding many processes; each process is a sandboxed thread with
//! its own globals (see `spec/execution.md`). The kernel's pids, mailboxes
//! and events are used unchanged, so Lua and native processes talk freely.
//!
//! * `code` — entries compiled to bytecode once per runtime.
//! * `shard` — the VM as a scheduler task; wake-ups and placement.
//! * `vm` — building a sandboxed VM; process environments.
//! * `proc` — a Lua process as a kernel [`wippy_process::Process`].
//! * `natives` — the Lua API implemented in Rust; `prelude.lua` — the part
//!   in Lua (coroutines, channels, select, blocking calls).
//! * `convert` — Lua values ↔ owned payloads; `time` — Time/Duration.
//! * `ctx` — the `ctx` module: the context a process was spawned with
//!   (`process.with_context`), read with `ctx.get(key)` and `ctx.all()`.

mod api;
mod convert;
mod engine;
mod ffi;

pub use engine::code::{CodeCache, Compiled};
pub use engine::lua_host::{
    HostSecurity, HostSnapshot, LuaHost, LuaHostConfig, ProcessInfo, ShardId, ShardInfo,
};
