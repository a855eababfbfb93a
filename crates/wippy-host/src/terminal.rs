//! The terminal: stdin/stdout/stderr, granted only to the terminal host.
//!
//! Reads go through the runtime's blocking pool, so a process waiting for a
//! line frees its worker; writes are line-buffered and flushed per call.

use std::io::{BufRead, Read, Write};
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

    /// Reads from stdin on the blocking pool and hands what it read to
    /// `done`: `None` at end of input (nothing read). An error means the
    /// pool is shut down and `done` will never be called.
    ///
    /// A line comes without its line ending; bytes that are not UTF-8 are
    /// handed on as they are.
    pub fn read(
        &self,
        pool: &BlockingHandle,
        what: ReadKind,
        done: impl FnOnce(std::io::Result<Option<Vec<u8>>>) + Send + 'static,
    ) -> Result<(), SchedError> {
        // `Stdin` serialises concurrent readers itself; the lock is taken
        // inside the job so nothing non-Send crosses threads.
        let job = move || {
            let mut input = std::io::stdin().lock();
            let mut buf = Vec::new();
            let r = match what {
                ReadKind::Line => input.read_until(b'\n', &mut buf).inspect(|_| {
                    if buf.ends_with(b"\n") {
                        buf.pop();
                        if buf.ends_with(b"\r") {
                            buf.pop();
                        }
                    }
                }),
                ReadKind::Bytes(n) => (&mut input).take(n as u64).read_to_end(&mut buf),
                ReadKind::All => input.read_to_end(&mut buf),
            };
            done(r.map(|n| (n > 0 || what == ReadKind::All).then_some(buf)))
        };
        pool.run(job)
    }
}

/// What [`Terminal::read`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    /// One line.
    Line,
    /// Up to this many bytes (fewer only at end of input).
    Bytes(usize),
    /// Everything up to end of input (empty, not `None`, when there is
    /// nothing left).
    All,
}
