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

/// The shared acceptance app `cancel` expects a send to an ended process to
/// return `true`; Wippy's own suites (the judge) say NotFound, which is what
/// we do. This is that app with Wippy's answers.
#[test]
fn cancel_delivers_a_reason_the_deadline_ends_a_stubborn_process_and_a_dead_pid_is_not_found() {
    let out = wippy(&["run", "-x", "app:main", &app("cancel")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want = [
        "polite: cancelled after 3",
        "stubborn ended with error: true",
        "terminated: true",
        "terminated kind: Internal",
        "reserved topic rejected: true",
        "send to an ended process: nil NotFound process not found",
    ];
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, want, "{}", out.stderr);
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

    // At level warn the worker's warning is written, and the info line it
    // printed just before is not.
    let mut quiet = Running::start(&["--log-level", "warn", "run", &app("service")]);
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
fn the_default_level_is_info_in_wippys_console_layout() {
    let mut run = Running::start(&["run", &app("service")]);
    let up = run.wait_for("worker up");
    run.interrupt();
    assert_eq!(run.exit_within(Duration::from_secs(3)), 0);
    // `2026-06-13 19:27:28<TAB>INFO<TAB>lua<TAB>worker up<TAB>{"pid": "..."}`
    let parts: Vec<&str> = up.split('\t').collect();
    assert_eq!(parts.len(), 5, "{up:?}");
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let (date, time) = parts[0].split_once(' ').expect("date and time");
    assert!(
        date.len() == 10
            && date.split('-').all(digits)
            && time.len() == 8
            && time.split(':').all(digits),
        "{up:?}"
    );
    assert_eq!(parts[1..4], ["INFO", "lua", "worker up"], "{up:?}");
    assert!(
        field(&up, "pid")
            .as_str()
            .unwrap()
            .starts_with("{app:procs|"),
        "{up:?}"
    );
    let started = run.find("the supervisor's line", |l| l.contains("child started"));
    assert!(
        started.contains("\tINFO\tsupervise\tchild started\t{"),
        "{started:?}"
    );
    assert_eq!(field(&started, "child"), "app:worker.service");
}

#[test]
fn run_exec_logs_nothing_unless_a_log_flag_is_given() {
    let out = wippy(&["run", "-x", "app:main", &app("quiet")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "entry done\n");
    assert_eq!(out.stderr, "", "run -x writes no logs by default");

    let raises = wippy(&["run", "-x", "app:raises", &app("exec")]);
    assert_eq!(raises.code, 1);
    assert!(
        raises
            .stderr
            .starts_with("wippy: app:raises failed: app:raises:2: exec boom"),
        "only the error: {}",
        raises.stderr
    );

    let verbose = wippy(&["-v", "run", "-x", "app:main", &app("quiet")]);
    assert_eq!(verbose.code, 0, "{}", verbose.stderr);
    assert!(
        verbose.stderr.contains("worker warns when stopped"),
        "-v asks for logs: {}",
        verbose.stderr
    );
}

#[test]
fn an_unknown_log_level_is_an_error() {
    let out = wippy(&["--log-level", "nonsense", "run", &app("service")]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("invalid --log-level \"nonsense\": \"nonsense\" is not a level"),
        "{}",
        out.stderr
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
        "\tWARN\taudit\tdenied\t",
        r#""actor": "svc-actor""#,
        r#""action": "process.spawn""#,
        r#""resource": "app:svc""#,
        r#""pid": "{app:users|"#,
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

/// The field `name` of a text log line: its last tab-separated part is a
/// JSON object of the fields.
fn field(line: &str, name: &str) -> serde_json::Value {
    let json = line.rsplit('\t').next().unwrap_or("");
    let fields: serde_json::Value = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("no JSON fields at the end of {line:?}: {e}"));
    fields
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// How a log line's JSON fields show `"name": "value"`.
fn shows(name: &str, value: &str) -> String {
    format!("{}: {}", serde_json::json!(name), serde_json::json!(value))
}

#[test]
fn service_lifecycle_fields_behave_as_wippys() {
    // Debug for the supervisor: a crash loop's restarts past the first few
    // are logged at debug level (crash lines are rate-limited).
    let mut run = Running::start(&[
        "--log-level",
        "info,wippy_supervise=debug",
        "run",
        &app("lifecycle"),
    ]);
    let has = |parts: &'static [&'static str]| move |l: &str| parts.iter().all(|p| l.contains(p));
    // `input` is the argument list.
    run.find("z_db's input", has(&["up z_db 1"]));
    run.find("a_web's input", has(&["up a_web 2"]));
    // max_attempts 0: restarted far past the old limit of 5.
    run.find(
        "an 8th restart",
        has(&[
            "restarting child",
            r#""child": "app:forever.service""#,
            r#""attempt": 8,"#,
        ]),
    );
    // max_attempts 2: two runs, then given up with its last error.
    let gave_up = run.find(
        "quitter given up",
        has(&["giving up on child", r#""child": "app:quitter.service""#]),
    );
    assert!(gave_up.contains(r#""failures": 2"#), "{gave_up}");
    assert!(gave_up.contains("quitter failed"), "{gave_up}");
    // Wippy's default restart delay: 1 s ± 10 %.
    let default = run.find(
        "the default delay",
        has(&["restarting child", r#""child": "app:default.service""#]),
    );
    let delay = field(&default, "delay");
    let delay = delay.as_str().unwrap_or("");
    let secs: f64 = delay.trim_end_matches('s').parse().unwrap_or_else(|_| {
        panic!("delay {delay} is not in seconds: {default}");
    });
    assert!((0.9..=1.1).contains(&secs), "{default}");
    // A clean exit is logged and not restarted.
    let exited = run.find(
        "done exited",
        has(&["child exited", r#""child": "app:done.service""#]),
    );
    assert!(exited.contains(&shows("value", "all done")), "{exited}");
    run.interrupt();
    // stop_timeout: the service that ignores CANCEL is terminated after it.
    run.find(
        "stubborn terminated",
        has(&["did not stop in time", r#""child": "app:stubborn.service""#]),
    );
    // The rest kept running: a_web gets its CANCEL, before z_db (reverse
    // start order).
    run.find("z_db's CANCEL", has(&["bye z_db"]));
    assert_eq!(run.exit_within(Duration::from_secs(5)), 0);

    let started = |id: &str| {
        run.seen
            .iter()
            .position(|l| l.contains("child started") && l.contains(&shows("child", id)))
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
        run.seen_with(&["child started", r#""child": "app:quitter.service""#])
            .len(),
        2
    );
    assert!(
        run.seen_with(&["restarting child", r#""child": "app:done.service""#])
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
        has(&["child failed to start", r#""child": "app:absent.service""#]),
    );
    run.find(
        "a retry",
        has(&[
            "restarting child",
            r#""child": "app:absent.service""#,
            r#""attempt": 2,"#,
        ]),
    );
    run.find("the other service", has(&["worker up"]));
    run.interrupt();
    assert_eq!(run.exit_within(Duration::from_secs(5)), 0);
}

#[test]
fn a_host_or_flag_asking_for_too_many_workers_is_a_clear_error_for_check_and_run() {
    let dir = app("too_many_workers");
    for args in [vec!["check", &dir], vec!["run", &dir]] {
        let out = wippy(&args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(
                "too_many_workers/_index.yaml:7: [app:workers] entries[0].host.workers: 100000 workers is more than this machine's maximum of"
            ),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = wippy(&["--workers", "100000", "check", &dir]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("100000 workers is more than this machine's maximum of"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_wippy_kind_or_module_that_wippy_rs_lacks_stops_check_and_run_with_file_and_line() {
    let dir = app("wippy_only");
    for args in [vec!["check", &dir], vec!["run", "-x", "app:main", &dir]] {
        let out = wippy(&args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        for want in [
            "wippy_only/_index.yaml:5: [app:gateway] entries[0].kind: kind http.service is not available in wippy-rs",
            "wippy_only/_index.yaml:11: [app:main] entries[1].modules[0]: module http is not available in wippy-rs",
        ] {
            assert!(
                out.stderr.contains(want),
                "{args:?}: no {want:?} in\n{}",
                out.stderr
            );
        }
    }
}

/// A fresh folder for one test's app, below cargo's temporary folder for
/// integration tests (emptied first, so a rerun starts clean).
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("the old scratch folder is removed");
    }
    std::fs::create_dir_all(&dir).expect("the scratch folder is made");
    dir
}

#[test]
fn check_and_run_refuse_sources_outside_the_app_folder_by_dot_dot_or_by_link() {
    let base = scratch("escape");
    let app = base.join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(
        base.join("secret.lua"),
        "return { main = function() return 7 end }",
    )
    .unwrap();
    std::fs::write(
        app.join("main.lua"),
        "return { main = function() return 0 end }",
    )
    .unwrap();
    std::os::unix::fs::symlink(base.join("secret.lua"), app.join("link.lua")).unwrap();
    std::fs::write(
        app.join("_index.yaml"),
        "namespace: app\nentries:\n  - { name: up, kind: process.lua, source: file://../secret.lua, method: main }\n  - { name: linked, kind: process.lua, source: file://link.lua, method: main }\n  - { name: main, kind: process.lua, source: file:///main.lua, method: main }\n",
    )
    .unwrap();
    let dir = app.to_str().unwrap();
    for args in [vec!["check", dir], vec!["run", "-x", "app:main", dir]] {
        let out = wippy(&args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(
                "_index.yaml:3: [app:up] entries[0].source: source file://../secret.lua leads out of the app folder"
            ),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("_index.yaml:4: [app:linked] entries[1].source: cannot read source")
                && out.stderr.contains("outside the app folder"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("2 error(s)"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn check_compiles_every_lua_source_and_finds_a_method_the_source_never_names_as_run_does() {
    // The fixture's files, and one that does not compile, written here: the
    // workspace's own Lua files must all parse (wippy-dialect's suites).
    let scratch = scratch("unchecked");
    for file in ["_index.yaml", "main.lua"] {
        std::fs::copy(format!("{}/{file}", app("unchecked")), scratch.join(file)).unwrap();
    }
    std::fs::write(
        scratch.join("broken.lua"),
        "local function main()\n    local x = \nend\nreturn { main = main }\n",
    )
    .unwrap();
    let dir = scratch.to_str().unwrap().to_owned();
    for args in [vec!["check", &dir], vec!["run", "-x", "app:main", &dir]] {
        let out = wippy(&args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        // The syntax error, at its line in the Lua file, though nothing
        // runs the entry.
        assert!(
            out.stderr.contains("unchecked/broken.lua:3: [app:broken] "),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(
                "unchecked/_index.yaml:14: [app:misnamed] method: method \"nosuch\" not found in module: main.lua never names it"
            ),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("2 error(s)"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
}

#[test]
fn a_requires_cycle_between_two_services_stops_check_and_run_with_file_and_line() {
    let dir = app("cycle");
    for args in [vec!["check", &dir], vec!["run", &dir]] {
        let out = wippy(&args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(
                "cycle/_index.yaml:23: [app:b] entries[3].lifecycle.requires[0]: requires cycle: app:a -> app:b -> app:a"
            ),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_lua_file_with_a_byte_order_mark_passes_check_and_runs() {
    // Written here: the workspace's own Lua files are read raw by
    // wippy-dialect's suites, which take no byte order mark.
    let scratch = scratch("bom");
    std::fs::write(
        scratch.join("_index.yaml"),
        "namespace: app\nentries:\n  - { name: main, kind: function.lua, source: file://main.lua, method: main }\n",
    )
    .unwrap();
    std::fs::write(
        scratch.join("main.lua"),
        "\u{feff}return { main = function() return 4 end }\n",
    )
    .unwrap();
    let dir = scratch.to_str().unwrap().to_owned();
    let out = wippy(&["check", &dir]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "ok: 1 entries\n");
    let out = wippy(&["run", "-x", "app:main", &dir]);
    assert_eq!(out.code, 4, "{}", out.stderr);
}

#[test]
fn run_exec_interrupted_gives_the_entry_its_cancel_and_exits_with_its_result_or_1() {
    let dir = app("interrupt");
    // It finishes with a result after its CANCEL: that is the exit status.
    let mut run = Running::start_stdout(&["run", "-x", "app:listens", &dir]);
    run.wait_for("waiting");
    run.interrupt();
    run.wait_for("got cancel");
    assert_eq!(run.exit_within(Duration::from_secs(3)), 3);

    // It ignores its CANCEL: terminated after the terminal host's 500 ms
    // stop timeout, and the status is 1, not 0.
    let mut run = Running::start_stdout(&["run", "-x", "app:ignores", &dir]);
    run.wait_for("waiting");
    let interrupted = Instant::now();
    run.interrupt();
    assert_eq!(run.exit_within(Duration::from_secs(5)), 1);
    assert!(
        interrupted.elapsed() >= Duration::from_millis(500),
        "it was given its stop time"
    );
}

#[test]
fn a_second_ctrl_c_forces_exit_at_once_with_status_1_and_says_so() {
    let mut run = Running::start(&["run", &app("slow_stop")]);
    run.wait_for("worker up");
    run.interrupt();
    run.wait_for("press Ctrl+C again to force exit");
    // The worker now takes 3 s to clean up; a second Ctrl-C does not wait.
    run.wait_for("worker cleaning up");
    run.interrupt();
    assert_eq!(run.exit_within(Duration::from_secs(1)), 1);
    run.wait_for("forced exit");
    assert!(
        run.seen.iter().all(|l| !l.contains("worker cleaned up")),
        "{:?}",
        run.seen
    );
}

#[test]
fn a_service_crashing_in_a_loop_with_no_delay_does_not_flood_the_log() {
    let mut run = Running::start(&["run", &app("crash_loop")]);
    // 1.5 s of crashes and immediate restarts.
    run.wait_for("steady still here");
    run.interrupt();
    // The last line: every line is in `seen` after it.
    run.wait_for("\tstopped");
    assert_eq!(run.exit_within(Duration::from_secs(5)), 0);
    let crasher = shows("child", "app:crasher.service");
    let crashed = run.seen_with(&["\tchild crashed\t", &crasher]).len();
    assert!(
        (1..=5).contains(&crashed),
        "{crashed} crash lines for one service"
    );
    let lines = run.seen_with(&[&crasher]).len();
    // Its first start, five crashes with their restart and start, the
    // summary, its stop.
    assert!(
        lines <= 1 + 3 * 5 + 1 + 1,
        "{lines} lines about one crashing service"
    );
    // The rest are counted in one summary when it is stopped.
    let summary = run.seen_with(&["child crashed more times than were logged", &crasher]);
    assert_eq!(summary.len(), 1, "{:?}", run.seen);
    let more = field(summary[0], "crashes").as_u64().unwrap();
    assert!(more > 20, "only {more} crashes in 1.5 s: {}", summary[0]);
    assert!(
        field(summary[0], "last_error")
            .as_str()
            .unwrap()
            .contains("crash on purpose"),
        "{}",
        summary[0]
    );
}
