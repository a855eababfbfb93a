//! The benchmark suite: whole-scenario actor benchmarks, each run in a fresh
//! child process (so memory figures are not skewed by earlier runs), printed
//! as a table and optionally written as JSON.

mod cluster;
mod lua;
mod native;
mod sched;
mod supervise;

use std::path::Path;
use std::process::{Command, ExitCode};

use serde::{Deserialize, Serialize};

/// One measured figure, as written to JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// Benchmark name, e.g. `native.pingpong`.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// Its unit (`per_s`, `bytes`, `ns`, `msgs_per_s`, `ms`, `ratio`, `percent`, `us`).
    pub unit: String,
}

/// Whether a bigger value is better.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// A benchmark of the suite.
pub struct Bench {
    pub name: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// The figure to reach on a 2-core machine.
    pub target: f64,
    /// What the reference runtime (BEAM) does, for the table.
    pub reference: &'static str,
    pub run: fn(quick: bool) -> f64,
}

fn suite() -> Vec<Bench> {
    let mut all = Vec::new();
    all.extend(native::benches());
    all.extend(sched::benches());
    all.extend(lua::benches());
    all.extend(supervise::benches());
    all.extend(cluster::benches());
    all
}

/// Entry point of `cargo xtask bench`.
pub fn run(quick: bool, filter: Option<&str>, json: Option<&Path>) -> ExitCode {
    let selected: Vec<Bench> = suite()
        .into_iter()
        .filter(|b| filter.is_none_or(|f| b.name.contains(f)))
        .collect();
    if selected.is_empty() {
        eprintln!("no benchmark matches {filter:?}");
        return ExitCode::FAILURE;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{:<26} {:>14} {:<11} {:>12} {:>7}  reference",
        "benchmark", "value", "unit", "target", "ok"
    );
    let mut figures = Vec::new();
    let mut failed = false;
    // A 2-core machine is noisy: the full suite runs every benchmark three
    // times and reports the median; --quick runs each once.
    let runs = if quick { 1 } else { 3 };
    for b in &selected {
        let mut samples: Vec<f64> = (0..runs).filter_map(|_| measure(&exe, b, quick)).collect();
        if samples.len() < runs {
            failed = true;
            continue;
        }
        samples.sort_by(f64::total_cmp);
        let value = samples[samples.len() / 2];
        let ok = match b.better {
            Better::Higher => value >= b.target,
            Better::Lower => value <= b.target,
        };
        let cmp = if b.better == Better::Higher {
            "≥"
        } else {
            "≤"
        };
        println!(
            "{:<26} {:>14} {:<11} {:>2}{:>10} {:>7}  {}",
            b.name,
            fmt_value(value),
            b.unit,
            cmp,
            fmt_value(b.target),
            if ok { "yes" } else { "NO" },
            b.reference
        );
        figures.push(Figure {
            name: b.name.to_owned(),
            value,
            unit: b.unit.to_owned(),
        });
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&figures).expect("figures serialise");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs benchmark `b` in a child process of its own (so memory figures are
/// not skewed by earlier runs) and returns its figure.
fn measure(exe: &Path, b: &Bench, quick: bool) -> Option<f64> {
    let mut cmd = Command::new(exe);
    cmd.env("WIPPY_BENCH_ONE", b.name);
    if quick {
        cmd.env("WIPPY_BENCH_QUICK", "1");
    }
    match cmd.output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("FIGURE "))
            .next_back()
            .and_then(|v| v.trim().parse::<f64>().ok()),
        Ok(o) => {
            eprintln!(
                "{} failed: {}\n{}",
                b.name,
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("{} could not start: {e}", b.name);
            None
        }
    }
}

/// Resident bytes of this process now, for the memory figures. Without
/// `/proc` there is no figure: the benchmark's child process fails, naming
/// why, instead of reporting zero.
fn resident_bytes() -> u64 {
    wippy_testkit::resident_bytes().unwrap_or_else(|e| panic!("memory figures need /proc: {e}"))
}

fn fmt_value(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Runs the benchmark named in `WIPPY_BENCH_ONE`, if set (child mode).
pub fn run_child() -> Option<ExitCode> {
    let name = std::env::var("WIPPY_BENCH_ONE").ok()?;
    let quick = std::env::var_os("WIPPY_BENCH_QUICK").is_some();
    let Some(b) = suite().into_iter().find(|b| b.name == name) else {
        eprintln!("unknown benchmark {name}");
        return Some(ExitCode::FAILURE);
    };
    let value = (b.run)(quick);
    println!("FIGURE {value}");
    Some(ExitCode::SUCCESS)
}
