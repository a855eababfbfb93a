//! The engine: how Lua processes run on the kernel.
//!
//! A [`lua_host::LuaHost`] owns a scheduler and VM shards; a shard is one
//! Luau VM and the processes living in it, run as one scheduler task; a
//! process is a sandboxed thread of that VM, stepped by the kernel.

pub(crate) mod code;
pub(crate) mod current;
pub(crate) mod lua_host;
pub(crate) mod preempt;
pub(crate) mod prefetch;
pub(crate) mod proc_data;
pub(crate) mod process;
pub(crate) mod shard;
pub(crate) mod vm;
