//! What the tests and benchmarks of wippy-rs share, so that each measures
//! the same way and none passes by accident.
//!
//! * [`resident_bytes`], [`process_cpu`], [`threads`], [`thread_count`]: a
//!   sampler of the running OS process, read from Linux's `/proc`. Where
//!   `/proc` is missing or unreadable every reading is an [`Unavailable`]
//!   naming the file and the reason, never a silent zero.
//!   [`check_cpu_meter`] proves the CPU meter moves before a test relies on
//!   it reading (near) zero.
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
//!     Err(why) => {
//!         wippy_testkit::skip(why);
//!         return Ok(());
//!     }
//! };
//! // Busy work shows up (however loaded the machine is).
//! wippy_testkit::check_cpu_meter(Duration::from_millis(20), Duration::from_secs(30))?;
//! let after = wippy_testkit::threads()?;
//! assert!(after.total_cpu() > before.total_cpu());
//! assert!(wippy_testkit::resident_bytes()? > 0);
//! # Ok::<(), wippy_testkit::Unavailable>(())
//! ```

mod sample;
mod skip;

pub use sample::{
    ThreadSample, Threads, Unavailable, check_cpu_meter, process_cpu, resident_bytes, thread_count,
    threads,
};
pub use skip::skip;
