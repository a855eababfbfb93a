//! Skipping a test visibly.
//!
//! Rust's test harness has no run-time skip: a test either passes, fails or
//! is `#[ignore]`d at compile time, and what it prints with `eprintln!` is
//! captured and shown only if it fails. A test that finds it cannot run here
//! (no `/proc`, one core) and returns would pass unseen. [`skip`] writes to
//! the stderr handle directly, which the harness does not capture, so the
//! line shows in every `cargo test` run.

use std::fmt::Display;
use std::io::Write;

/// Reports that the running test checks nothing here, and why, then lets
/// the test return. The line reads `SKIPPED <test>: <reason>`, where
/// `<test>` is the name of the test's thread (the harness names it after
/// the test).
///
/// Use it only for a condition of the machine the test runs on; a test that
/// can never run in CI is `#[ignore = "reason"]` instead.
pub fn skip(reason: impl Display) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    // Ignoring a failed write: there is nowhere else to report it.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
}
