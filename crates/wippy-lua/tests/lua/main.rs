//! wippy-lua's integration tests, through the public API only, in one
//! binary (Luau is linked once). Each module holds the tests of one
//! behaviour and keeps the name its file had when each was a binary of
//! its own (ARCHITECTURE.md cites them as `preemption.rs::...`).
//!
//! Tests that measure the whole OS process (its CPU time, its allocations)
//! or need every core run alone (`common::alone`): every other test app
//! holds a shared guard while it lives.

mod apps;
mod common;

mod bindings;
mod cancel_deadline;
mod casts;
mod channels;
mod cluster;
mod codecs;
mod context;
mod conventions;
mod env;
mod error_text;
mod errors;
mod events;
mod footprint;
mod funcs;
mod idle;
mod imports;
mod json;
mod logging;
mod mailbox;
mod memory;
mod messages;
mod modules;
mod native_interop;
mod observe;
mod os;
mod outcomes;
mod payload_objects;
mod payloads;
mod placement;
mod preemption;
mod process_api;
mod reclaim;
mod registry;
mod sandbox;
mod scale;
mod security;
mod send;
mod stealing;
mod storm;
mod tables;
mod time;
mod uuid;
