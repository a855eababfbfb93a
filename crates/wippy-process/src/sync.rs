//! The lock of the wake protocol (`cell.rs`), swappable for loom's
//! model-checked one with `RUSTFLAGS="--cfg loom"` (see the `loom_tests` in
//! `cell.rs`). Everything else in the crate uses `std` directly.

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
