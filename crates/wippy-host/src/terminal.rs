//! The terminal: stdin/stdout/stderr, granted only to the terminal host.
//!
//! Reads go through the runtime's blocking pool, so a process waiting for a
//! line frees its worker; writes are line-buffered and flushed per call.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex, PoisonError};

use wippy_process::wippy_sched::{BlockingHandle, SchedError};

/// Access to the process's standard streams and the command-line arguments
/// after `--`. Only the terminal host holds one.
pub struct Terminal {
    args: Vec<String>,
    out: Mutex<()>,
}

impl Terminal {
    /// The terminal of this OS process, with `args` for `io.args()`.
    pub fn new(args: Vec<String>) -> Arc<Terminal> {
        Arc::new(Terminal {
            args,
            out: Mutex::new(()),
        })
    }

    /// The arguments after `--`.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Writes `text` to stdout and flushes.
    pub fn write(&self, text: &[u8]) -> std::io::Result<()> {
        let _guard = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = std::io::stdout().lock();
        out.write_all(text)?;
        out.flush()
    }

    /// Writes `text` to stderr.
    pub fn ewrite(&self, text: &[u8]) -> std::io::Result<()> {
        let mut err = std::io::stderr().lock();
        err.write_all(text)?;
        err.flush()
    }

    /// Reads one line on the blocking pool and hands it (without its line
    /// ending; `None` at end of input) to `done`. An error means the pool is
    /// shut down and `done` will never be called.
    pub fn read_line(
        &self,
        pool: &BlockingHandle,
        done: impl FnOnce(std::io::Result<Option<String>>) + Send + 'static,
    ) -> Result<(), SchedError> {
        // `Stdin` serialises concurrent readers itself; the lock is taken
        // inside the job so nothing non-Send crosses threads.
        let job = move || {
            let mut line = String::new();
            let r = std::io::stdin().lock().read_line(&mut line);
            done(r.map(|n| {
                (n > 0).then(|| {
                    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
                    trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned()
                })
            }))
        };
        pool.run(job)
    }
}
