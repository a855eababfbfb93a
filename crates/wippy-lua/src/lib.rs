//! Lua processes for wippy-rs: Wippy's Lua API on Luau VM shards.
//!
//! A [`LuaHost`] is a process host (a security boundary with a scheduler of
//! its own) that runs `process.lua` and `function.lua` entries. It keeps a
//! few VM shards; each shard is one Luau VM holding many processes, each
//! process a sandboxed thread with its own globals, stepped by the kernel
//! like any other process. The kernel's pids, mailboxes and events are used
//! unchanged, so Lua and native processes talk freely; what crosses between
//! processes is always an owned copy (a payload), never a Lua object.
//!
//! ```
//! use std::sync::{Arc, mpsc};
//! use std::time::Duration;
//!
//! use wippy_host::registry::{Registry, Source};
//! use wippy_host::{App, ProcessHost, SpawnContext, SpawnRequest};
//! use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
//! use wippy_process::{Payload, Runtime, SpawnOptions};
//!
//! // An app of one Lua entry, read from memory.
//! let index = Source {
//!     path: "app/_index.yaml".into(),
//!     text: "version: \"1.0\"\nnamespace: app\nentries:\n  - { name: greeter, \
//!            kind: process.lua, source: file://greeter.lua, method: main }\n"
//!         .into(),
//! };
//! let greeter = r#"return { main = function(to)
//!     process.send(to, "hello", { n = 42 })
//! end }"#;
//! let registry = Arc::new(Registry::load_sources(&[index], &|_| Ok(greeter.to_owned())).unwrap());
//! let rt = Runtime::new(Default::default()).unwrap();
//! let app = App::new(rt.node().clone(), registry.clone());
//! let code = CodeCache::new(registry);
//! let host = LuaHost::start(&rt, &app, code, LuaHostConfig::new("app:workers", 1)).unwrap();
//!
//! // A native process that hands the first message it gets to this thread.
//! let native = rt.native_host("app:native", 1).unwrap();
//! let (tx, rx) = mpsc::channel();
//! let inbox = native
//!     .spawn_async(SpawnOptions::default(), move |cx| async move {
//!         let _ = tx.send(cx.recv().await);
//!         Ok(Payload::Nil)
//!     })
//!     .unwrap();
//!
//! host.spawn(SpawnRequest {
//!     entry: "app:greeter".parse().unwrap(),
//!     args: vec![Payload::Pid(inbox)],
//!     opts: SpawnOptions::default(),
//!     context: SpawnContext::default(),
//! })
//! .unwrap();
//! let msg = rx.recv_timeout(Duration::from_secs(10)).unwrap();
//! assert_eq!(msg.topic.as_str(), "hello");
//! assert_eq!(msg.payload.get("n"), Some(&Payload::Int(42)));
//! app.shutdown(Duration::ZERO);
//! ```
//!
//! # Code map
//!
//! Three layers, each a folder whose module doc says what it may touch:
//!
//! * `engine/` — how Lua processes run on the kernel:
//!   * `lua_host` — [`LuaHost`] and its settings: shards, placement, spawn;
//!   * `shard` — one VM and its processes as a scheduler task; wake-ups;
//!   * `vm` — building a sandboxed VM; the yield tokens;
//!   * `process` — a Lua process as a kernel `Process` (resume, park,
//!     preemption, upgrade, memory budget);
//!   * `proc_data` — a process's Rust state (`ProcData`, `LastTo`);
//!   * `current` — the process running on this thread, for its natives;
//!   * `code` — [`CodeCache`]: entries compiled to bytecode once;
//!   * `preempt` — the per-shard watchdog that preempts long steps;
//!   * `memory` — what each process holds, against the memory limit;
//!   * `prefetch` — cache warming for a process about to run.
//! * `ffi/` — the raw Luau C API code, the only place with unsafe Luau
//!   calls: `receive`, `send`, `payload` (the message path), `message_object`,
//!   `strings`, `thread` (resuming a process's thread), `interrupt`
//!   (preemption), `memory` (memory categories), `layout` (Luau struct
//!   offsets for prefetching).
//! * `api/` — what Lua code sees, one file per module: `base` (print,
//!   require, load, pcall), `process` (with `process/spawn`), `channel`,
//!   `coroutine`, `time` (with `time/layout`, Go layouts), `funcs`, `json`,
//!   `ctx`, `security`, `logger`, `io` (with `io.lua`); `prelude.lua` is
//!   the half of the API written in Lua. `api/mod.rs` lists the modules and
//!   says how to add one.
//! * `convert` — Lua values ↔ owned payloads through mlua, the rules the
//!   raw conversion (`ffi/payload`) shares.
//! * `error` — [`Error`], what the host API's calls fail with.

mod api;
mod convert;
mod engine;
mod error;
mod ffi;

pub use engine::code::{CodeCache, Compiled};
pub use engine::lua_host::{
    DEFAULT_MAX_MAILBOX, HostSecurity, HostSnapshot, LuaHost, LuaHostConfig, ProcessInfo, ShardId,
    ShardInfo,
};
pub use error::Error;
