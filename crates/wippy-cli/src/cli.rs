//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// wippy: run Lua apps as supervised, isolated processes.
#[derive(Debug, Parser)]
#[command(name = "wippy", version, about)]
pub struct Cli {
    /// Worker threads per process host that does not set its own (default: one per core;
    /// at most 64 per core).
    #[arg(long, global = true, value_name = "N", value_parser = worker_count)]
    pub workers: Option<usize>,
    /// Log level: off, error, warn, info, debug, trace, or a list of
    /// target=level directives (default: info; `run -x`: off).
    #[arg(long, global = true, value_name = "L", value_parser = log_level)]
    pub log_level: Option<String>,
    /// Log at debug level (Wippy's -v).
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    /// Log at trace level.
    #[arg(long, global = true)]
    pub very_verbose: bool,
    /// No logs at all (Wippy's -s).
    #[arg(short = 's', long, global = true, conflicts_with_all = ["verbose", "very_verbose", "log_level"])]
    pub silent: bool,
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
        /// Join the cluster whose NATS server(s) are at URL (comma-separated), as --node
        /// (over the url of the app's cluster.nats entry).
        #[arg(long, value_name = "URL")]
        cluster: Option<String>,
        /// This node's name in the cluster (letters, digits, '-', '_'; over the app's).
        #[arg(long, value_name = "NAME")]
        node: Option<String>,
        /// Arguments for the entry (after `--`), available as io.args().
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run every entry with `meta.type: test`, each in its own process; exit 1 if any failed.
    ///
    /// A test passes when it returns `true` or nothing (any value but `false`), and fails
    /// when it returns `false, "message"`, raises an error or outlives `--timeout`. Tests
    /// run one at a time in entry-id order. When no test is selected, the run prints
    /// `0 passed, 0 failed` and exits 0.
    Test {
        /// The app folder (default: the current directory).
        dir: Option<PathBuf>,
        /// Only tests whose `meta.suite` is S.
        #[arg(long, value_name = "S")]
        suite: Option<String>,
        /// Only tests whose entry id contains F.
        #[arg(long, value_name = "F")]
        filter: Option<String>,
        /// Longest a test may run before it is terminated and failed (e.g. 500ms, 30s, 2m).
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
        timeout: Duration,
    },
    /// Load and validate an app; print every error; exit 1 if there are any.
    Check {
        /// The app folder (default: the current directory).
        dir: Option<PathBuf>,
    },
    /// Run an app as `run` does, with a view of its hosts and processes refreshed once a second.
    ///
    /// On a terminal the view is redrawn in place (and logs are hidden); otherwise one
    /// snapshot is printed per refresh, each a title line, a host table and a process table
    /// followed by a blank line. Ctrl-C shuts the app down and exits 0.
    ///
    /// STATE: running (its VM is stepping it), ready (queued to run), idle (parked until a
    /// message or an event arrives), waiting (parked on an operation such as a sleep).
    /// MAILBOX: messages it has not taken yet. MEMORY: the Lua heap known to be the
    /// process's own: its VM's on a host with `isolation: dedicated`, `-` in a shared VM
    /// (the host's HEAP is its VMs' heap). CPU: sampled, not measured: every 10 ms each VM
    /// that is running charges the interval to the process it is stepping (a host's CPU is
    /// its VMs' total); `-` for native processes.
    Top {
        /// The app folder (default: the current directory).
        dir: Option<PathBuf>,
    },
}

impl Cli {
    /// The log level the flags ask for, or `None` when no log flag is given
    /// (`--log-level` wins over `--very-verbose`, which wins over `-v`).
    pub fn log_level(&self) -> Option<&str> {
        if let Some(level) = &self.log_level {
            Some(level)
        } else if self.silent {
            Some("off")
        } else if self.very_verbose {
            Some("trace")
        } else if self.verbose {
            Some("debug")
        } else {
            None
        }
    }
}

/// A `--log-level` value that [`crate::logging::check_level`] accepts.
fn log_level(text: &str) -> Result<String, String> {
    crate::logging::check_level(text).map(|()| text.to_owned())
}

/// A worker count from 1 to [`wippy_host::limits::max_workers`].
fn worker_count(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of workers"))?;
    let max = wippy_host::limits::max_workers();
    match n {
        0 => Err("a host needs at least 1 worker".into()),
        n if n > max => Err(format!(
            "{n} workers is more than this machine's maximum of {max} ({} per core)",
            wippy_host::limits::WORKERS_PER_CORE
        )),
        n => Ok(n),
    }
}

/// A Go-style duration (`500ms`, `30s`, `2m`) that is not zero.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match wippy_host::units::parse_duration(text).map_err(|e| e.to_string())? {
        Duration::ZERO => Err("the duration must be more than zero".into()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_and_node_are_read_each_on_its_own() {
        let cli =
            Cli::try_parse_from(["wippy", "run", "--cluster", "nats://h:4222", "--node", "a"])
                .unwrap();
        let Some(Command::Run { cluster, node, .. }) = cli.command else {
            panic!("not a run command");
        };
        assert_eq!(cluster.as_deref(), Some("nats://h:4222"));
        assert_eq!(node.as_deref(), Some("a"));
        // Either may come from the app's cluster.nats entry (boot decides).
        assert!(Cli::try_parse_from(["wippy", "run", "--cluster", "nats://h:4222"]).is_ok());
        assert!(Cli::try_parse_from(["wippy", "run", "--node", "a"]).is_ok());
    }

    #[test]
    fn test_timeout_defaults_to_thirty_seconds_and_parses_units() {
        let cli = Cli::try_parse_from(["wippy", "test"]).unwrap();
        let Some(Command::Test { timeout, .. }) = cli.command else {
            panic!("not a test command");
        };
        assert_eq!(timeout, Duration::from_secs(30));
        for (text, want) in [("500ms", 500), ("2m", 120_000), ("1.5s", 1500)] {
            let cli = Cli::try_parse_from(["wippy", "test", "--timeout", text]).unwrap();
            let Some(Command::Test { timeout, .. }) = cli.command else {
                panic!("not a test command");
            };
            assert_eq!(timeout, Duration::from_millis(want));
        }
        assert!(Cli::try_parse_from(["wippy", "test", "--timeout", "0"]).is_err());
        assert!(Cli::try_parse_from(["wippy", "test", "--timeout", "soon"]).is_err());
    }

    #[test]
    fn workers_are_bounded_by_the_machine() {
        let max = wippy_host::limits::max_workers();
        let parse = |n: String| Cli::try_parse_from(["wippy", "--workers", &n, "check"]);
        assert_eq!(parse(max.to_string()).unwrap().workers, Some(max));
        let err = parse((max + 1).to_string()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("more than this machine's maximum of {max}")),
            "{err}"
        );
        assert!(parse("100000".into()).is_err());
        assert!(parse("0".into()).is_err());
    }

    #[test]
    fn log_flags_name_a_level_and_an_unknown_level_is_an_error() {
        let level = |args: &[&str]| {
            let mut all = vec!["wippy"];
            all.extend_from_slice(args);
            all.push("check");
            Cli::try_parse_from(all).map(|c| c.log_level().map(str::to_owned))
        };
        assert_eq!(level(&[]).unwrap(), None);
        assert_eq!(level(&["-v"]).unwrap().as_deref(), Some("debug"));
        assert_eq!(
            level(&["--very-verbose"]).unwrap().as_deref(),
            Some("trace")
        );
        assert_eq!(level(&["-s"]).unwrap().as_deref(), Some("off"));
        assert_eq!(
            level(&["--log-level", "warn,lua=debug"])
                .unwrap()
                .as_deref(),
            Some("warn,lua=debug")
        );
        let err = level(&["--log-level", "nonsense"]).unwrap_err().to_string();
        assert!(err.contains("\"nonsense\" is not a level"), "{err}");
        assert!(level(&["-s", "-v"]).is_err());
    }
}
