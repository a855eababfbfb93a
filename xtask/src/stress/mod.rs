//! `cargo xtask stress [--quick] [FILTER]`: load and abuse scenarios, each
//! a bounded, self-checking run in a child process of its own (so one
//! scenario's memory and threads never skew the next). A scenario prints
//! its figures and fails when one falls short of its target; the table
//! at the end lists them all. Without `--quick` (and without a filter) the
//! kernel's `#[ignore]`d stress test (native processes) runs first.
//!
//! Adding a scenario: a file of its own in this folder with a
//! `pub(super) fn scenario() -> Scenario`, its `mod` line below and one
//! entry in [`scenarios`]. `--quick` sizes must run in seconds (`.ci/run`
//! runs them); the full sizes are the ones the issue that asked for the
//! scenario names.

mod cancel_at_scale;
mod flood;
mod garbage_churn;
mod lua_app;
mod memory_map;
mod reclaim;
mod spawn_churn;
mod stale_timers;

use std::process::{Command, ExitCode};

/// One scenario.
pub(crate) struct Scenario {
    /// Its name, e.g. `stale_timers`.
    pub(crate) name: &'static str,
    /// What it does and what it holds the runtime to, one line.
    pub(crate) about: &'static str,
    /// Runs it at quick (`true`) or full size; returns its checks.
    pub(crate) run: fn(quick: bool) -> Vec<Check>,
}

/// Every scenario, in the order they run.
fn scenarios() -> Vec<Scenario> {
    vec![
        stale_timers::scenario(),
        garbage_churn::scenario(),
        flood::scenario(),
        reclaim::scenario(),
        spawn_churn::scenario(),
        cancel_at_scale::scenario(),
    ]
}

/// One measured figure and the target it is held to.
pub(crate) struct Check {
    /// What was measured, e.g. `stale_timers.ratio`.
    pub(crate) what: String,
    /// The figure.
    pub(crate) value: f64,
    /// Its unit.
    pub(crate) unit: String,
    /// The target, as shown (`≤ 2.00`).
    pub(crate) target: String,
    /// Whether the figure meets the target.
    pub(crate) ok: bool,
}

impl Check {
    /// `value` must be at most `max`.
    pub(crate) fn at_most(what: &str, value: f64, unit: &'static str, max: f64) -> Check {
        Check {
            what: what.to_owned(),
            value,
            unit: unit.to_owned(),
            target: format!("≤ {max}"),
            ok: value <= max,
        }
    }

    /// `value` must be exactly `want`.
    pub(crate) fn equal(what: &str, value: f64, unit: &'static str, want: f64) -> Check {
        Check {
            what: what.to_owned(),
            value,
            unit: unit.to_owned(),
            target: format!("= {want}"),
            ok: value == want,
        }
    }

    /// A figure shown for reference, held to nothing.
    pub(crate) fn info(what: &str, value: f64, unit: &'static str) -> Check {
        Check {
            what: what.to_owned(),
            value,
            unit: unit.to_owned(),
            target: "-".to_owned(),
            ok: true,
        }
    }

    /// The line the child prints for the parent (`CHECK` then fields
    /// separated by tabs).
    fn line(&self) -> String {
        format!(
            "CHECK\t{}\t{}\t{}\t{}\t{}",
            self.what, self.value, self.unit, self.target, self.ok
        )
    }

    fn parse(line: &str) -> Option<Check> {
        let mut f = line.strip_prefix("CHECK\t")?.split('\t');
        let what = f.next()?.to_owned();
        let value = f.next()?.parse().ok()?;
        let unit = f.next()?.to_owned();
        let target = f.next()?.to_owned();
        let ok = f.next()? == "true";
        Some(Check {
            what,
            value,
            unit,
            target,
            ok,
        })
    }
}

/// Entry point of `cargo xtask stress`.
pub(crate) fn run(quick: bool, filter: Option<&str>) -> ExitCode {
    let mut failed = false;
    if !quick && filter.is_none() && !ignored_tests() {
        failed = true;
    }
    let selected: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| filter.is_none_or(|f| s.name.contains(f)))
        .collect();
    if selected.is_empty() {
        eprintln!("no stress scenario matches {filter:?}");
        return ExitCode::FAILURE;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut table = Vec::new();
    for s in &selected {
        eprintln!(
            "stress: {} ({}): {} [load average {}]",
            s.name,
            size(quick),
            s.about,
            load_average()
        );
        let mut cmd = Command::new(&exe);
        cmd.env("WIPPY_STRESS_ONE", s.name);
        if quick {
            cmd.env("WIPPY_STRESS_QUICK", "1");
        }
        // The child's stderr (its progress lines) goes straight through.
        match cmd.stderr(std::process::Stdio::inherit()).output() {
            Ok(o) => {
                let checks: Vec<Check> = String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter_map(Check::parse)
                    .collect();
                if !o.status.success() || checks.is_empty() {
                    eprintln!("stress: {} failed: {}", s.name, o.status);
                    failed = true;
                }
                table.extend(checks);
            }
            Err(e) => {
                eprintln!("stress: {} could not start: {e}", s.name);
                failed = true;
            }
        }
    }
    println!(
        "{:<34} {:>12} {:<6} {:>10} {:>4}",
        "figure", "value", "unit", "target", "ok"
    );
    for c in &table {
        println!(
            "{:<34} {:>12} {:<6} {:>10} {:>4}",
            c.what,
            format!("{:.2}", c.value),
            c.unit,
            c.target,
            if c.ok { "yes" } else { "NO" }
        );
        failed |= !c.ok;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The machine's load averages (1, 5, 15 minutes), for reading latency
/// figures taken on a shared machine; `?` without `/proc`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".to_owned())
}

fn size(quick: bool) -> &'static str {
    if quick { "quick" } else { "full size" }
}

/// Runs the kernel's `#[ignore]`d stress test (a million native spawns
/// with links and monitors leave nothing behind: `wippy-process`'s
/// `tests/stress.rs`, no Lua, so not a scenario here) in release mode;
/// true if it passes.
fn ignored_tests() -> bool {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "test",
            "--release",
            "-p",
            "wippy-process",
            "--test",
            "stress",
            "--",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
            "stress",
        ])
        .status();
    match status {
        Ok(s) => s.success(),
        Err(e) => {
            eprintln!("xtask stress: cannot run cargo: {e}");
            false
        }
    }
}

/// Runs the scenario named in `WIPPY_STRESS_ONE`, if set (child mode).
pub(crate) fn run_child() -> Option<ExitCode> {
    let name = std::env::var("WIPPY_STRESS_ONE").ok()?;
    let quick = std::env::var_os("WIPPY_STRESS_QUICK").is_some();
    let Some(s) = scenarios().into_iter().find(|s| s.name == name) else {
        eprintln!("unknown stress scenario {name}");
        return Some(ExitCode::FAILURE);
    };
    for c in (s.run)(quick) {
        println!("{}", c.line());
    }
    Some(ExitCode::SUCCESS)
}
