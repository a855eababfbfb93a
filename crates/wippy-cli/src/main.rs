//! `wippy`: runs wippy-rs apps (see `docs/cli.md`).

mod boot;
mod cli;
mod demo;
mod logging;
mod preflight;
mod signals;
mod test_cmd;
mod top;

/// mimalloc: processes are allocated on one worker and freed on another
/// all the time; glibc's malloc serialises those cross-thread frees on its
/// arena locks (native spawn+exit ran at half the rate), mimalloc frees them
/// without a lock. Lua idle memory is about the same with either.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's "return what this thread's heap holds free to the OS": every
/// worker of a host calls it after the host's shards collected what ended
/// processes left (`LuaHostConfig::release_memory`). Without it, memory a
/// worker freed of another thread's allocations stays resident.
pub(crate) fn release_memory() {
    // SAFETY: no contract; collects the calling thread's heap.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use clap::Parser;
use wippy_host::registry::Registry;
use wippy_lua::CodeCache;
use wippy_process::{ExitResult, Payload, Pid};

use crate::boot::{Booted, boot, exit_code};
use crate::cli::{Cli, Command};
use crate::logging::Logs;
use crate::signals::interrupts;

/// How long processes other than services get to end after their CANCEL
/// at shutdown (services get their own `lifecycle.stop_timeout` on top).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run -x` (and the demo, which runs as one) logs nothing unless a log
    // flag asks for it, as in Wippy: stderr is the entry's, for its error.
    let runs_an_entry = matches!(cli.command, None | Some(Command::Run { exec: Some(_), .. }));
    let level = match cli.log_level() {
        Some(level) => level,
        None if runs_an_entry => "off",
        None => logging::DEFAULT_LEVEL,
    };
    let logs = match logging::init(level, cli.log_format) {
        Ok(logs) => logs,
        Err(e) => {
            eprintln!("wippy: {e}");
            return ExitCode::from(2);
        }
    };
    let workers = cli.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    match cli.command {
        None => match demo::registry() {
            Ok(reg) => match checked(reg, workers, Path::new("demo")) {
                Ok(code) => run(
                    code,
                    workers,
                    &logs,
                    Mode::Exec("demo:main".into()),
                    Vec::new(),
                    None,
                ),
                Err(code) => code,
            },
            Err(e) => fail(&e.to_string()),
        },
        Some(Command::Run {
            exec,
            dir,
            cluster,
            node,
            args,
        }) => match load(dir.as_deref(), workers) {
            Ok(code) => {
                let mode = exec.map_or(Mode::Serve, Mode::Exec);
                let cluster = boot::ClusterArgs { url: cluster, node };
                run(code, workers, &logs, mode, args, Some(&cluster))
            }
            Err(code) => code,
        },
        Some(Command::Top { dir }) => match load(dir.as_deref(), workers) {
            Ok(code) => run(code, workers, &logs, Mode::Top, Vec::new(), None),
            Err(code) => code,
        },
        Some(Command::Test {
            dir,
            suite,
            filter,
            timeout,
        }) => match load(dir.as_deref(), workers) {
            Ok(code) => {
                let opts = test_cmd::TestOptions {
                    suite,
                    filter,
                    timeout,
                };
                test_cmd::run(code, workers, &opts, &interrupts())
            }
            Err(code) => code,
        },
        Some(Command::Check { dir }) => match load(dir.as_deref(), workers) {
            Ok(code) => {
                println!("ok: {} entries", code.registry().len());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("wippy: {msg}");
    ExitCode::FAILURE
}

/// Loads the app in `dir` (default `.`) and runs every check `preflight`
/// runs: what `check` reports and what `run`, `test` and `top` refuse to
/// start with. Every problem is printed.
fn load(dir: Option<&Path>, workers: usize) -> Result<Arc<CodeCache>, ExitCode> {
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    match Registry::load_dir(&dir) {
        Ok(registry) => checked(registry, workers, &dir),
        Err(errs) => Err(problems(errs.0.iter().map(ToString::to_string), &dir)),
    }
}

/// `registry` after `preflight`, or every problem printed.
fn checked(registry: Registry, workers: usize, dir: &Path) -> Result<Arc<CodeCache>, ExitCode> {
    preflight::preflight(registry, workers).map_err(|found| problems(found.into_iter(), dir))
}

/// Prints each problem and their count; exit code 1.
fn problems(lines: impl Iterator<Item = String>, dir: &Path) -> ExitCode {
    let mut count = 0;
    for line in lines {
        eprintln!("{line}");
        count += 1;
    }
    eprintln!("{count} error(s) in {}", dir.display());
    ExitCode::FAILURE
}

/// What a running app does besides its services.
enum Mode {
    /// Nothing: it runs until Ctrl-C / SIGTERM (`wippy run`).
    Serve,
    /// Runs this entry on the terminal host and exits with its result (`run -x`).
    Exec(String),
    /// Shows its hosts and processes until Ctrl-C / SIGTERM (`wippy top`).
    Top,
}

fn run(
    code: Arc<CodeCache>,
    workers: usize,
    logs: &Logs,
    mode: Mode,
    args: Vec<String>,
    cluster: Option<&boot::ClusterArgs>,
) -> ExitCode {
    let sig_rx = interrupts();
    let booted = match boot(code, workers, args, cluster) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    tracing::info!(hosts = booted.hosts.len(), "runtime ready");
    let code = match mode {
        Mode::Serve => {
            sig_rx.recv().ok();
            signals::announce_shutdown();
            0
        }
        Mode::Exec(entry) => {
            // A terminal host with `hide_logs` keeps stderr for the entry.
            let _hidden = booted.hide_logs.then(|| logs.hide());
            run_exec(&booted, &entry, &sig_rx)
        }
        Mode::Top => top::run(&booted, logs, &sig_rx),
    };
    booted.shutdown(SHUTDOWN_GRACE);
    tracing::info!("stopped");
    ExitCode::from(code)
}

fn run_exec(booted: &Booted, entry: &str, sig: &Receiver<()>) -> u8 {
    let host = booted.terminal.clone();
    let (pid, rx) = match booted.run_entry(&host, entry, Vec::<Payload>::new()) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("wippy: cannot run {entry}: {e}");
            return 1;
        }
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(result) => {
                if let Err(e) = &result {
                    eprintln!("wippy: {entry} failed: {}", e.message());
                }
                return exit_code(&result);
            }
            Err(RecvTimeoutError::Disconnected) => {
                eprintln!("wippy: lost the result of {entry}");
                return 1;
            }
            Err(RecvTimeoutError::Timeout) => {
                if sig.try_recv().is_ok() {
                    return interrupted(booted, entry, pid, &rx);
                }
            }
        }
    }
}

/// `run -x` interrupted: the entry gets its CANCEL and the terminal host's
/// `stop_timeout` to end (it is terminated after that). The exit status is
/// the entry's result if it finished with one, and 1 otherwise.
fn interrupted(booted: &Booted, entry: &str, pid: Pid, rx: &Receiver<ExitResult>) -> u8 {
    let stop = booted.terminal_stop;
    // Written even with logs off: the user pressed the key and waits.
    eprintln!(
        "wippy: interrupted; stopping {entry} within {stop:?} (press Ctrl+C again to force exit)"
    );
    signals::announce_shutdown();
    if booted
        .rt
        .node()
        .cancel(None, pid, stop, "runtime stopping")
        .is_err()
    {
        // It ended just now: its result is on its way.
    }
    // The node terminates it at the deadline, so its EXIT follows soon
    // after; the margin is for the waiter's hop.
    match rx.recv_timeout(stop + Duration::from_secs(1)) {
        Ok(Ok(value)) => exit_code(&Ok(value)),
        Ok(Err(e)) => {
            eprintln!("wippy: {entry} interrupted: {}", e.message());
            1
        }
        Err(_) => {
            eprintln!("wippy: {entry} did not end within {stop:?} of its CANCEL");
            1
        }
    }
}
