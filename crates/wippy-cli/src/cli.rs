//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// wippy: run Lua apps as supervised, isolated processes.
#[derive(Debug, Parser)]
#[command(name = "wippy", version, about)]
pub struct Cli {
    /// Worker threads per process host that does not set its own (default: one per core).
    #[arg(long, global = true, value_name = "N")]
    pub workers: Option<usize>,
    /// Log level: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long, global = true, default_value = "warn", value_name = "L")]
    pub log_level: String,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load an app, start its hosts and services, run until Ctrl-C.
    Run {
        /// Also run this entry (ns:name) on the terminal host and exit with its result.
        #[arg(short = 'x', long = "exec", value_name = "NS:ENTRY")]
        exec: Option<String>,
        /// The app folder (default: the current directory).
        dir: Option<PathBuf>,
        /// Arguments for the entry (after `--`), available as io.args().
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Load and validate an app; print every error; exit 1 if there are any.
    Check {
        /// The app folder (default: the current directory).
        dir: Option<PathBuf>,
    },
}
