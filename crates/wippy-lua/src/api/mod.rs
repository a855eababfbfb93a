//! The Lua API: what Lua code sees, built from Rust natives and the prelude.

pub(crate) mod ctx;
pub(crate) mod json;
pub(crate) mod logger;
pub(crate) mod natives;
pub(crate) mod security;
pub mod time;
