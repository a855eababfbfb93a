//! What the tests and benchmarks of wippy-rs share, so that each measures
//! the same way and none passes by accident.
//!
//! * [`resident_bytes`], [`process_cpu`], [`threads`], [`thread_count`]: a
//!   sampler of the running OS process, read from Linux's `/proc`. Where
//!   `/proc` is missing or unreadable every reading is an [`Unavailable`]
//!   naming the file and the reason, never a silent zero.
//! * [`skip`]: a test that cannot check what it is for says so on stderr,
//!   past the test harness's capture, instead of passing quietly.
//!
//! It depends on no workspace crate: any crate takes it as a
//! dev-dependency (and `xtask` as a dependency) without a cycle. It is not
//! published.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! let before = match wippy_testkit::threads() {
//!     Ok(threads) => threads,
//!     // Not Linux, or /proc is hidden: say so and check nothing.
//!     Err(why) => return wippy_testkit::skip(why),
//! };
//! let start = std::time::Instant::now();
//! let mut x = 0u64;
//! while start.elapsed() < Duration::from_millis(20) {
//!     x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
//! }
//! let after = wippy_testkit::threads().expect("readable a moment ago");
//! assert!(after.total_cpu() > before.total_cpu());
//! assert!(wippy_testkit::resident_bytes().expect("readable") > 0);
//! ```

mod sample;
mod skip;

pub use sample::{
    ThreadSample, Threads, Unavailable, process_cpu, resident_bytes, thread_count, threads,
};
pub use skip::skip;
