//! Developer commands: `cargo xtask bench [--quick] [FILTER] [--json FILE]`
//! and `cargo xtask stress [--quick] [FILTER]`.

mod bench;
mod stress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "wippy-rs developer tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the benchmark suite, prints a table and optionally writes JSON.
    Bench {
        /// Scaled-down sizes (the whole suite in under a minute).
        #[arg(long)]
        quick: bool,
        /// Write the figures as JSON (a list of {name, value, unit}) to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Run only benchmarks whose name contains FILTER.
        filter: Option<String>,
    },
    /// Runs the stress scenarios (`xtask/src/stress/`), and before them,
    /// at full size, the kernel's `#[ignore]`d stress test in release mode.
    Stress {
        /// Scaled-down sizes (seconds, not minutes; what CI runs), without
        /// the ignored test.
        #[arg(long)]
        quick: bool,
        /// Run only scenarios whose name contains FILTER (and not the
        /// ignored test).
        filter: Option<String>,
    },
}

/// Benchmarks measure the runtime as the `wippy` binary ships it: with
/// mimalloc as the global allocator (see `wippy-cli`'s main.rs for why).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Some(code) = bench::run_child() {
        return code;
    }
    if let Some(code) = stress::run_child() {
        return code;
    }
    match Cli::parse().cmd {
        Cmd::Bench {
            quick,
            json,
            filter,
        } => bench::run(quick, filter.as_deref(), json.as_deref()),
        Cmd::Stress { quick, filter } => stress::run(quick, filter.as_deref()),
    }
}
