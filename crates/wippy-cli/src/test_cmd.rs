//! `wippy test`: runs the app's test entries (`meta.type: test`), each in its
//! own process on a runner host the CLI adds, and reports every result.
//!
//! The app boots as for `run` (auto-start hosts and services), so tests can
//! spawn onto the app's own hosts. Tests run one at a time, in entry-id order.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use wippy_host::registry::{EntryId, EntryKind, Registry};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{ExitResult, Payload, Pid};

use crate::boot::{Booted, boot};

/// The host the tests run on: every module but `io`, no terminal.
pub const RUNNER_HOST: &str = "wippy:test";

/// How often a running test is checked for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

/// Longest wait for the exit of a test that was terminated.
const TERMINATE_WAIT: Duration = Duration::from_secs(2);

/// Which tests to run, and for how long each may run.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Only tests whose `meta.suite` equals this.
    pub suite: Option<String>,
    /// Only tests whose entry id contains this.
    pub filter: Option<String>,
    /// A test still running after this long is terminated and fails.
    pub timeout: Duration,
}

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It returned `true`, nothing, or any value but `false`.
    Passed,
    /// It returned `false` (with this message), raised an error (message
    /// and traceback), timed out, or could not start.
    Failed(String),
}

/// The test entries of `registry` that `opts` selects, sorted by id:
/// `function.lua` and `process.lua` entries with `meta.type: test`.
pub fn select(registry: &Registry, opts: &TestOptions) -> Vec<EntryId> {
    let mut ids: Vec<EntryId> = registry
        .entries()
        .filter(|e| e.meta_str("type") == Some("test"))
        .filter(|e| {
            let runnable = matches!(e.kind, EntryKind::FunctionLua | EntryKind::ProcessLua);
            if !runnable {
                tracing::warn!(
                    "{} has meta.type: test but is a {}, not a function.lua or process.lua; skipped",
                    e.id,
                    e.kind
                );
            }
            runnable
        })
        .filter(|e| opts.suite.is_none() || e.meta_str("suite") == opts.suite.as_deref())
        .filter(|e| {
            opts.filter
                .as_deref()
                .is_none_or(|f| e.id.as_str().contains(f))
        })
        .map(|e| e.id.clone())
        .collect();
    ids.sort();
    ids
}

/// The verdict on a test's exit. A `function.lua` exits with the array of
/// its return values, a `process.lua` with its single value (an array when
/// it returned several); either way the first value decides: `false` fails,
/// with the second value as the message; anything else passes. An error
/// fails with its message, which carries the Lua traceback.
pub fn outcome(result: &ExitResult) -> Outcome {
    let (status, message) = match result {
        Err(e) => return Outcome::Failed(e.message().to_owned()),
        Ok(Payload::Array(values)) => (values.first(), values.get(1)),
        Ok(value) => (Some(value), None),
    };
    match (status, message) {
        (Some(Payload::Bool(false)), None | Some(Payload::Nil)) => {
            Outcome::Failed("returned false".to_owned())
        }
        (Some(Payload::Bool(false)), Some(msg)) => Outcome::Failed(msg.to_string()),
        _ => Outcome::Passed,
    }
}

/// Boots the app, adds the runner host, runs the selected tests and prints
/// a line per test and the summary `N passed, M failed`. Exit code 1 if any
/// test failed; 0 when every one passed or none was selected. Ctrl-C (a
/// message on `sig`) fails the running test and skips the rest.
pub fn run(
    code: Arc<CodeCache>,
    workers: usize,
    opts: &TestOptions,
    sig: &Receiver<()>,
) -> ExitCode {
    let tests = select(code.registry(), opts);
    if tests.is_empty() {
        if opts.suite.is_some() || opts.filter.is_some() {
            eprintln!("wippy: no tests matched the --suite/--filter given");
        } else {
            eprintln!("wippy: no entries with meta.type: test");
        }
        println!("0 passed, 0 failed");
        return ExitCode::SUCCESS;
    }
    let booted = match boot(code, workers, Vec::new(), None) {
        Ok(b) => b,
        Err(e) => return crate::fail(&e),
    };
    let runner = LuaHostConfig::new(RUNNER_HOST, workers);
    if let Err(e) = LuaHost::start(&booted.rt, &booted.app, booted.code.clone(), runner) {
        booted.shutdown(crate::SHUTDOWN_GRACE);
        return crate::fail(&format!("cannot start the test host {RUNNER_HOST}: {e}"));
    }
    let noun = if tests.len() == 1 { "test" } else { "tests" };
    println!("running {} {noun}", tests.len());
    let (mut passed, mut failed) = (0usize, 0usize);
    for id in &tests {
        let started = Instant::now();
        let (outcome, interrupted) = run_one(&booted, id.as_str(), opts.timeout, sig);
        let took = elapsed(started.elapsed());
        match outcome {
            Outcome::Passed => {
                passed += 1;
                println!("ok    {id} ({took})");
            }
            Outcome::Failed(message) => {
                failed += 1;
                let mut lines = message.lines();
                println!("FAIL  {id} ({took}): {}", lines.next().unwrap_or(""));
                for line in lines {
                    // Lua indents traceback frames with a tab; spaces line up.
                    match line.strip_prefix('\t') {
                        Some(frame) => println!("        {frame}"),
                        None => println!("      {line}"),
                    }
                }
            }
        }
        if interrupted {
            println!("interrupted; {} not run", tests.len() - passed - failed);
            break;
        }
    }
    println!("{passed} passed, {failed} failed");
    booted.shutdown(crate::SHUTDOWN_GRACE);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs one test and waits for its end, at most `timeout`; true in the
/// second place when Ctrl-C interrupted it.
fn run_one(booted: &Booted, id: &str, timeout: Duration, sig: &Receiver<()>) -> (Outcome, bool) {
    let (pid, rx) = match booted.run_entry(RUNNER_HOST, id, Vec::new()) {
        Ok(started) => started,
        Err(e) => return (Outcome::Failed(format!("cannot start: {e}")), false),
    };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            stop(booted, pid, &rx);
            let msg = format!("timed out after {timeout:?}");
            return (Outcome::Failed(msg), false);
        }
        match rx.recv_timeout(left.min(POLL)) {
            Ok(result) => return (outcome(&result), false),
            Err(RecvTimeoutError::Disconnected) => {
                return (Outcome::Failed("lost the test's result".to_owned()), false);
            }
            Err(RecvTimeoutError::Timeout) => {
                if sig.try_recv().is_ok() {
                    stop(booted, pid, &rx);
                    return (Outcome::Failed("interrupted".to_owned()), true);
                }
            }
        }
    }
}

/// Terminates a test still running and waits (bounded) for its exit, so
/// that it is gone before the next test starts.
fn stop(booted: &Booted, pid: Pid, rx: &Receiver<ExitResult>) {
    if booted.rt.node().terminate(pid).is_ok() {
        let _ = rx.recv_timeout(TERMINATE_WAIT);
    }
}

/// A test's run time: milliseconds under a second, else seconds.
fn elapsed(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wippy_process::ExitError;

    fn failed(msg: &str) -> Outcome {
        Outcome::Failed(msg.to_owned())
    }

    #[test]
    fn true_nothing_and_other_values_pass() {
        for result in [
            Ok(Payload::Array(vec![])),
            Ok(Payload::Array(vec![Payload::Bool(true)])),
            Ok(Payload::Array(vec![Payload::Nil])),
            Ok(Payload::Nil),
            Ok(Payload::Bool(true)),
            Ok(Payload::Int(0)),
            Ok(Payload::from("fine")),
        ] {
            assert_eq!(outcome(&result), Outcome::Passed, "{result:?}");
        }
    }

    #[test]
    fn false_fails_with_the_second_value_as_message() {
        let r = Ok(Payload::Array(vec![
            Payload::Bool(false),
            "bad echo".into(),
        ]));
        assert_eq!(outcome(&r), failed("bad echo"));
        let r = Ok(Payload::Array(vec![Payload::Bool(false), Payload::Int(7)]));
        assert_eq!(outcome(&r), failed("7"));
        let r = Ok(Payload::Array(vec![Payload::Bool(false)]));
        assert_eq!(outcome(&r), failed("returned false"));
        assert_eq!(outcome(&Ok(Payload::Bool(false))), failed("returned false"));
    }

    #[test]
    fn an_error_fails_with_its_message() {
        let r = Err(ExitError::new("app:t:2: boom\nstack traceback:\n\tapp:t:2"));
        assert_eq!(
            outcome(&r),
            failed("app:t:2: boom\nstack traceback:\n\tapp:t:2")
        );
    }

    fn registry() -> Registry {
        let text = r#"
version: "1.0"
namespace: app
entries:
  - { name: b_test, kind: function.lua, meta: { type: test, suite: one }, source: file://t.lua, method: main }
  - { name: a_test, kind: process.lua, meta: { type: test, suite: two }, source: file://t.lua, method: main }
  - { name: lib, kind: library.lua, meta: { type: test }, source: file://t.lua }
  - { name: helper, kind: function.lua, source: file://t.lua, method: main }
  - { name: other, kind: function.lua, meta: { type: bench }, source: file://t.lua, method: main }
"#;
        Registry::load_files([
            ("app/_index.yaml", text),
            ("app/t.lua", "return { main = function() end }"),
        ])
        .expect("the test registry loads")
    }

    fn selected(suite: Option<&str>, filter: Option<&str>) -> Vec<String> {
        let opts = TestOptions {
            suite: suite.map(str::to_owned),
            filter: filter.map(str::to_owned),
            timeout: Duration::from_secs(1),
        };
        select(&registry(), &opts)
            .iter()
            .map(|id| id.to_string())
            .collect()
    }

    #[test]
    fn select_takes_runnable_test_entries_in_id_order() {
        assert_eq!(selected(None, None), ["app:a_test", "app:b_test"]);
    }

    #[test]
    fn select_narrows_by_suite_and_by_id_substring() {
        assert_eq!(selected(Some("one"), None), ["app:b_test"]);
        assert_eq!(selected(None, Some("a_t")), ["app:a_test"]);
        assert_eq!(selected(Some("one"), Some("a_t")), Vec::<String>::new());
        assert_eq!(selected(Some("three"), None), Vec::<String>::new());
    }

    #[test]
    fn elapsed_is_in_ms_under_a_second() {
        assert_eq!(elapsed(Duration::from_millis(3)), "3 ms");
        assert_eq!(elapsed(Duration::from_millis(1500)), "1.50 s");
    }
}
