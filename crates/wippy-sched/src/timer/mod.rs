//! Timers: a pure hierarchical [`wheel`] and the [`service`] thread that
//! drives it.

pub(crate) mod service;
pub(crate) mod wheel;

pub use service::{TimerHandle, TimerId, TimerService};
