//! The engine: how Lua processes run on the kernel.
//!
//! A [`lua_host::LuaHost`] owns a scheduler of its own and a few VM shards
//! (`shard.rs`), placing each new process on the least-loaded one. A shard
//! is one Luau VM (`vm.rs`) and the processes living in it, run as one
//! scheduler task by one worker at a time. A process (`process.rs`) is a
//! sandboxed thread of that VM with its Rust state (`proc_data.rs`),
//! stepped by the kernel like any other `Process`: each step resumes the
//! thread until it parks (an IDLE yield), finishes, or is preempted
//! (`preempt.rs`). What a process holds is counted in a memory category
//! of its VM, against its host's limit (`memory.rs`). While a step runs, its process is the current one
//! (`current.rs`) for the natives it calls. Code is compiled once per
//! runtime (`code.rs`); a process woken by its own shard has its memory
//! prefetched (`prefetch.rs`).
//!
//! What it may touch: the kernel (`wippy_process`), the host layer
//! (`wippy_host`: registry, app, terminal), and the VM through mlua. It
//! makes no raw Luau call itself: resuming a thread, the interrupt and the
//! struct reads go through [`crate::ffi`] (whose `unsafe fn`s state what
//! the engine must guarantee). It knows no Lua API name: the VM asks
//! [`crate::api::install`] to build the API, and the engine's only
//! contract with the prelude is what `vm.rs` puts in its `rt` table (the
//! yield tokens of `vm::Token`, the globals, the environment metatable) and
//! the prelude functions it calls (`boot`, `set_current`).

pub(crate) mod code;
pub(crate) mod current;
pub(crate) mod lua_host;
pub(crate) mod memory;
pub(crate) mod preempt;
pub(crate) mod prefetch;
pub(crate) mod proc_data;
pub(crate) mod process;
pub(crate) mod shard;
pub(crate) mod vm;
