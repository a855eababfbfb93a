//! End-to-end tests of the `wippy` binary on the fixture apps in `tests/apps/`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest any one `wippy` run may take before the test fails (a hang guard,
/// far above what a run needs).
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// What a `wippy` run printed and how it exited.
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    /// The stdout line that starts with `prefix`.
    fn line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{}", self.stdout))
    }

    /// The indented lines below the stdout line that starts with `prefix`.
    fn details(&self, prefix: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .skip_while(|l| !l.starts_with(prefix))
            .skip(1)
            .take_while(|l| l.starts_with("      "))
            .collect()
    }
}

fn app(name: &str) -> String {
    format!("{}/tests/apps/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `wippy ARGS`, killing it (and failing) if it outlives `RUN_LIMIT`.
fn wippy(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wippy"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the wippy binary starts");
    // Drain both pipes while waiting, so a full pipe cannot stall the child.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).ok();
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let err = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for wippy") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!(
                "`wippy {}` did not finish within {RUN_LIMIT:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        code: status.code().expect("wippy exited, not killed by a signal"),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

#[test]
fn test_reports_every_outcome_and_exits_1_when_any_failed() {
    let dir = app("suite");
    let out = wippy(&["test", &dir]);
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert_eq!(out.stdout.lines().last(), Some("4 passed, 3 failed"));
    for passing in [
        "passes ",
        "passes_silently ",
        "no_stdio ",
        "spawns_on_app_host ",
    ] {
        out.line(&format!("ok    app.tests:{passing}"));
    }
    assert!(
        out.line("FAIL  app.tests:says_false")
            .ends_with(": expected failure message")
    );
    assert!(
        out.line("FAIL  app.tests:process_false")
            .ends_with(": process said no")
    );
    assert!(
        out.line("FAIL  app.tests:raises")
            .ends_with(": app.tests:raises:6: boom")
    );
    let traceback = out.details("FAIL  app.tests:raises").join("\n");
    assert!(traceback.contains("stack traceback"), "{traceback}");
    assert!(
        traceback.contains("app.tests:raises:6: in function 'helper'"),
        "{traceback}"
    );
    // Helpers without meta.type: test are not run.
    assert!(!out.stdout.contains("app.tests:echo"), "{}", out.stdout);
}

#[test]
fn test_suite_and_filter_select_subsets() {
    let dir = app("suite");
    let fast = wippy(&["test", &dir, "--suite", "fast"]);
    assert_eq!(fast.code, 0, "{}", fast.stdout);
    assert_eq!(fast.stdout.lines().last(), Some("4 passed, 0 failed"));

    let by_name = wippy(&["test", &dir, "--filter", "passes"]);
    assert_eq!(by_name.code, 0, "{}", by_name.stdout);
    assert_eq!(by_name.stdout.lines().last(), Some("2 passed, 0 failed"));

    let both = wippy(&["test", &dir, "--suite", "broken", "--filter", "false"]);
    assert_eq!(both.code, 1, "{}", both.stdout);
    assert_eq!(both.stdout.lines().last(), Some("0 passed, 2 failed"));
    both.line("FAIL  app.tests:process_false");
    both.line("FAIL  app.tests:says_false");

    let none = wippy(&["test", &dir, "--filter", "no_such_test"]);
    assert_eq!(none.code, 0, "{}", none.stdout);
    assert_eq!(none.stdout.lines().last(), Some("0 passed, 0 failed"));
    assert!(none.stderr.contains("no tests matched"), "{}", none.stderr);
}

#[test]
fn test_timeout_fails_tests_that_never_end_and_goes_on() {
    let out = wippy(&["test", &app("hang"), "--timeout", "500ms"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    for hung in ["a_waits_forever", "b_spins_forever"] {
        assert!(
            out.line(&format!("FAIL  app.hang:{hung}"))
                .ends_with(": timed out after 500ms")
        );
    }
    out.line("ok    app.hang:c_passes");
    assert_eq!(out.stdout.lines().last(), Some("1 passed, 2 failed"));
}

#[test]
fn check_names_the_file_and_line_of_a_misspelt_field_or_module_and_suggests_the_fix() {
    let out = wippy(&["check", &app("misspelt")]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("methd"))
        .unwrap_or_else(|| panic!("no error about `methd` in:\n{}", out.stderr));
    assert!(line.contains("misspelt/_index.yaml:9:"), "{line}");
    assert!(line.contains("did you mean method"), "{line}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("tiem"))
        .unwrap_or_else(|| panic!("no error about `tiem` in:\n{}", out.stderr));
    assert!(
        line.contains("misspelt/_index.yaml:10: [app:main] entries[0].modules[0]: unknown module"),
        "{line}"
    );
    assert!(line.contains("did you mean time?"), "{line}");
}

#[test]
fn run_exec_exits_with_the_entry_result() {
    let dir = app("exec");
    let three = wippy(&["run", "-x", "app:returns_three", &dir]);
    assert_eq!(three.code, 3, "{}", three.stderr);

    let raises = wippy(&["run", "-x", "app:raises", &dir]);
    assert_eq!(raises.code, 1);
    assert!(raises.stderr.contains("exec boom"), "{}", raises.stderr);

    let nothing = wippy(&["run", "-x", "app:returns_nothing", &dir]);
    assert_eq!(nothing.code, 0, "{}", nothing.stderr);
}

#[test]
fn a_terminal_host_with_hide_logs_keeps_logs_off_stderr_while_its_entry_runs() {
    let out = wippy(&[
        "--log-level",
        "info",
        "run",
        "-x",
        "app:main",
        &app("quiet"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "entry done\n");
    assert!(
        !out.stderr.contains("entry warns while it runs"),
        "a log line while the entry ran:\n{}",
        out.stderr
    );
    // Once the entry is done, logs are written again: the service's warning
    // when shutdown stops it.
    assert!(
        out.stderr.contains("worker warns when stopped"),
        "{}",
        out.stderr
    );
}

#[test]
fn no_arguments_runs_the_demo_a_crash_caught_by_a_monitor_and_a_restart() {
    let out = wippy(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // In order: a spawn, a message answered, a crash seen by the monitor,
    // the restarted process answering, the end.
    let mut rest = out.stdout.as_str();
    for want in [
        "spawned greeter",
        "greeter says: hello, world",
        "monitor saw pid.exit",
        "restarted greeter as",
        "greeter says: hello, again (from generation 2)",
        "demo done",
    ] {
        let at = rest
            .find(want)
            .unwrap_or_else(|| panic!("no {want:?} (in order) in:\n{}", out.stdout));
        rest = &rest[at + want.len()..];
    }
}

/// A `wippy` run whose stderr (or stdout) lines are read as they come.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Starts `wippy ARGS`, reading its stderr.
    fn start(args: &[&str]) -> Running {
        Running::reading(args, false)
    }

    /// Starts `wippy ARGS`, reading its stdout.
    fn start_stdout(args: &[&str]) -> Running {
        Running::reading(args, true)
    }

    fn reading(args: &[&str], stdout: bool) -> Running {
        let (out, err) = if stdout {
            (Stdio::piped(), Stdio::null())
        } else {
            (Stdio::null(), Stdio::piped())
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_wippy"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the wippy binary starts");
        let pipe: Box<dyn Read + Send> = if stdout {
            Box::new(child.stdout.take().expect("stdout is piped"))
        } else {
            Box::new(child.stderr.take().expect("stderr is piped"))
        };
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`, failing after `RUN_LIMIT`.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + RUN_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => {
                    self.child.kill().ok();
                    panic!("no line with {text:?}; saw:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// A line, seen already or still to come, for which `f` holds.
    fn find(&mut self, what: &str, f: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|l| f(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + RUN_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if f(&line) {
                        return line;
                    }
                }
                Err(_) => {
                    self.child.kill().ok();
                    panic!("no line with {what}; saw:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// The lines seen so far that contain every one of `parts`.
    fn seen_with(&self, parts: &[&str]) -> Vec<&String> {
        self.seen
            .iter()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .collect()
    }

    /// The lines up to the next empty one, which is skipped.
    fn block(&mut self) -> Vec<String> {
        let mut block = Vec::new();
        loop {
            // Every line contains "".
            let line = self.wait_for("");
            if line.is_empty() {
                return block;
            }
            block.push(line);
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -INT failed");
    }

    /// Waits for the exit (at most `limit`) and returns its code.
    fn exit_within(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for wippy") {
                return status.code().expect("wippy exited, not killed by a signal");
            }
            if Instant::now() > deadline {
                self.child.kill().ok();
                panic!("wippy did not exit within {limit:?} of the interrupt");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn ctrl_c_cancels_every_process_and_exits_0_within_the_shutdown_limit() {
    let mut run = Running::start(&["--log-level", "info", "run", &app("service")]);
    run.wait_for("worker up");
    run.interrupt();
    // The service's process gets CANCEL and ends at once, so `wippy` exits
    // well before its 5 s stop timeout; 3 s leaves room for the exit itself.
    run.wait_for("worker got cancel");
    assert_eq!(run.exit_within(Duration::from_secs(3)), 0);
}

#[test]
fn shutdown_gives_a_service_its_stop_timeout_to_clean_up() {
    let mut run = Running::start(&["--log-level", "info", "run", &app("slow_stop")]);
    run.wait_for("worker up");
    run.interrupt();
    run.wait_for("worker cleaning up");
    // The worker sleeps 3 s after its CANCEL; its stop timeout is 10 s, so
    // it finishes and returns instead of being terminated.
    run.wait_for("worker cleaned up");
    let exited = run.wait_for("child stopped");
    assert!(exited.contains("clean"), "{exited}");
    assert_eq!(run.exit_within(Duration::from_secs(5)), 0);
    assert!(
        run.seen.iter().all(|l| !l.contains("did not stop in time")),
        "{:?}",
        run.seen
    );
}

#[test]
fn log_format_json_writes_one_json_object_per_line_at_the_chosen_level() {
    let mut run = Running::start(&[
        "--log-level",
        "info",
        "--log-format",
        "json",
        "run",
        &app("service"),
    ]);
    let up = run.wait_for("worker up");
    run.interrupt();
    run.wait_for("child stopped");
    assert_eq!(run.exit_within(Duration::from_secs(3)), 0);
    for line in &run.seen {
        assert!(
            line.starts_with('{') && line.ends_with('}') && line.contains("\"level\":"),
            "not a JSON log line: {line}"
        );
    }
    assert!(up.contains("\"level\":\"INFO\""), "{up}");
    assert!(
        up.contains("\"pid\":\"{app:procs|"),
        "a process's log carries its pid: {up}"
    );

    // At the default level (warn) the worker's warning is written, and the
    // info line it printed just before is not.
    let mut quiet = Running::start(&["run", &app("service")]);
    let warned = quiet.wait_for("worker warns");
    assert!(warned.contains("WARN"), "{warned}");
    quiet.interrupt();
    assert_eq!(quiet.exit_within(Duration::from_secs(3)), 0);
    assert!(
        quiet.seen.iter().all(|l| !l.contains("worker up")),
        "info lines at level warn: {:?}",
        quiet.seen
    );
}

#[test]
fn text_logs_to_a_pipe_carry_no_terminal_colour_codes() {
    let mut run = Running::start(&["--log-level", "info", "run", &app("service")]);
    let up = run.wait_for("worker up");
    run.interrupt();
    assert_eq!(run.exit_within(Duration::from_secs(3)), 0);
    assert!(!up.contains('\u{1b}'), "escape codes in {up:?}");
    assert!(up.contains("INFO"), "{up}");
}

#[test]
fn a_service_runs_as_its_lifecycle_actor_and_denials_are_audit_events() {
    let mut run = Running::start(&["--log-level", "info", "run", &app("secure")]);
    run.wait_for("running as svc-actor");
    let audit = run.wait_for("denied");
    for field in [
        "WARN",
        "actor=\"svc-actor\"",
        "action=\"process.spawn\"",
        "resource=\"app:svc\"",
        "pid={app:users|",
    ] {
        assert!(
            audit.contains(field),
            "no {field} in the audit line {audit:?}"
        );
    }
    run.wait_for("spawn: nil not allowed to spawn process: app:svc");
    run.interrupt();
    assert_eq!(run.exit_within(Duration::from_secs(3)), 0);
}

#[test]
fn top_prints_a_snapshot_of_hosts_and_processes_each_second_and_exits_0_on_ctrl_c() {
    let mut run = Running::start_stdout(&["top", &app("top")]);
    run.wait_for("wippy top: ");
    let host_header = run.wait_for("HOST");
    let split = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        split(&host_header),
        ["HOST", "VMS", "PROCESSES", "HEAP", "CPU"]
    );
    let hosts: Vec<_> = run.block().iter().map(|l| split(l)).collect();
    let header = run.wait_for("PID");
    assert_eq!(
        split(&header),
        ["PID", "ENTRY", "STATE", "MAILBOX", "MEMORY", "CPU"]
    );
    let processes: Vec<_> = run.block().iter().map(|l| split(l)).collect();
    let row = |entry: &str| {
        processes
            .iter()
            .find(|p| p[1] == entry)
            .unwrap_or_else(|| panic!("no process of {entry} in {processes:?}"))
            .clone()
    };
    let hoarder = row("app:hoarder");
    assert!(hoarder[0].starts_with("{app:procs|"), "{hoarder:?}");
    assert_eq!(hoarder[2], "idle", "{hoarder:?}");
    assert_eq!(hoarder[3], "3", "the sender's notes wait in its mailbox");
    assert_eq!(hoarder[4], "-", "a shared VM's heap is not per process");
    row("app:sender");
    // The spinner has a VM of its own (dedicated host): its memory is known,
    // and it was busy for most of the second before the first snapshot.
    let spinner = row("app:spinner");
    assert!(spinner[0].starts_with("{app:solo|"), "{spinner:?}");
    assert_ne!(spinner[4], "-", "{spinner:?}");
    let cpu: f64 = spinner[5].trim_end_matches('s').parse().unwrap();
    assert!(cpu > 0.0, "{spinner:?}");
    for host in ["app:procs", "app:solo"] {
        assert!(hosts.iter().any(|h| h[0] == host), "no {host} in {hosts:?}");
    }
    // The supervision tree: the root, its services indented below it.
    let header = run.wait_for("SUPERVISION");
    assert_eq!(
        split(&header),
        ["SUPERVISION", "PID", "STATE", "RESTARTS", "ERROR"]
    );
    let tree = run.block();
    assert!(tree[0].starts_with("root "), "{tree:?}");
    assert_eq!(split(&tree[0])[2], "running", "{tree:?}");
    let service = |id: &str| {
        tree.iter()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("no {id} in {tree:?}"))
    };
    let hoarder = service("app:hoarder.service");
    assert!(
        hoarder.starts_with("  app:"),
        "a child is indented: {hoarder}"
    );
    assert_eq!(split(hoarder)[2..4], ["running", "0"], "{hoarder}");
    assert!(split(hoarder)[1].starts_with("{app:procs|"), "{hoarder}");
    let broken = service("app:broken.service");
    assert_eq!(split(broken)[1..4], ["-", "given-up", "0"], "{broken}");
    assert!(broken.contains("broken on purpose"), "{broken}");
    // Another snapshot follows a second later.
    run.wait_for("wippy top: ");
    run.interrupt();
    assert_eq!(run.exit_within(Duration::from_secs(5)), 0);
}

/// Finds the `name=value` field of a log line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + key.len();
    line[at..].split(' ').next().unwrap_or("")
}

#[test]
fn service_lifecycle_fields_behave_as_wippys() {
    let mut run = Running::start(&["--log-level", "info", "run", &app("lifecycle")]);
    let has = |parts: &'static [&'static str]| move |l: &str| parts.iter().all(|p| l.contains(p));
    // `input` is the argument list.
    run.find("z_db's input", has(&["up z_db 1"]));
    run.find("a_web's input", has(&["up a_web 2"]));
    // max_attempts 0: restarted far past the old limit of 5.
    run.find(
        "an 8th restart",
        has(&[
            "restarting child",
            "child=app:forever.service",
            "attempt=8 ",
        ]),
    );
    // max_attempts 2: two runs, then given up with its last error.
    let gave_up = run.find(
        "quitter given up",
        has(&["giving up on child", "child=app:quitter.service"]),
    );
    assert!(gave_up.contains("failures=2"), "{gave_up}");
    assert!(gave_up.contains("quitter failed"), "{gave_up}");
    // Wippy's default restart delay: 1 s ± 10 %.
    let default = run.find(
        "the default delay",
        has(&["restarting child", "child=app:default.service"]),
    );
    let delay = field(&default, "delay");
    let secs: f64 = delay.trim_end_matches('s').parse().unwrap_or_else(|_| {
        panic!("delay {delay} is not in seconds: {default}");
    });
    assert!((0.9..=1.1).contains(&secs), "{default}");
    // A clean exit is logged and not restarted.
    let exited = run.find(
        "done exited",
        has(&["child exited", "child=app:done.service"]),
    );
    assert!(exited.contains("value=all done"), "{exited}");
    run.interrupt();
    // stop_timeout: the service that ignores CANCEL is terminated after it.
    run.find(
        "stubborn terminated",
        has(&["did not stop in time", "child=app:stubborn.service"]),
    );
    // The rest kept running: a_web gets its CANCEL, before z_db (reverse
    // start order).
    run.find("z_db's CANCEL", has(&["bye z_db"]));
    assert_eq!(run.exit_within(Duration::from_secs(5)), 0);

    let started = |id: &str| {
        run.seen
            .iter()
            .position(|l| l.contains("child started") && l.contains(&format!("child={id} ")))
    };
    // `requires`: z_db starts before a_web although its id sorts after,
    // and it starts without auto_start because a_web requires it.
    let (db, web) = (started("app:z_db.service"), started("app:a_web.service"));
    assert!(db.is_some() && db < web, "start order: {db:?} {web:?}");
    let bye = |name: &str| {
        run.seen
            .iter()
            .position(|l| l.contains(&format!("bye {name}")))
    };
    assert!(bye("a_web") < bye("z_db"), "stop order");
    // Neither auto_start nor required: never started.
    assert!(
        run.seen_with(&["idle"]).is_empty(),
        "{:?}",
        run.seen_with(&["idle"])
    );
    assert_eq!(
        run.seen_with(&["child started", "child=app:quitter.service "])
            .len(),
        2
    );
    assert!(
        run.seen_with(&["restarting child", "child=app:done.service"])
            .is_empty()
    );
}

#[test]
fn a_required_service_that_cannot_start_fails_the_start() {
    let out = wippy(&["run", &app("startup_required")]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("service app:worker.service failed to start: unknown host \"app:off\""),
        "{}",
        out.stderr
    );
}

#[test]
fn an_optional_service_that_cannot_start_is_retried_while_the_rest_runs() {
    let mut run = Running::start(&["--log-level", "info", "run", &app("startup_optional")]);
    let has = |parts: &'static [&'static str]| move |l: &str| parts.iter().all(|p| l.contains(p));
    run.find(
        "the failed start",
        has(&["child failed to start", "child=app:absent.service"]),
    );
    run.find(
        "a retry",
        has(&["restarting child", "child=app:absent.service", "attempt=2 "]),
    );
    run.find("the other service", has(&["worker up"]));
    run.interrupt();
    assert_eq!(run.exit_within(Duration::from_secs(5)), 0);
}
