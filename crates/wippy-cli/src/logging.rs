//! Logs to stderr through tracing, and hiding them while a terminal host
//! with `hide_logs: true` runs an entry.

use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, reload};

use crate::cli::LogFormat;

/// The installed logger: its level filter can be switched off and back.
pub struct Logs {
    filter: reload::Handle<EnvFilter, Registry>,
    /// The filter in force before [`Logs::hide`]; `Some` while hidden.
    stashed: Mutex<Option<EnvFilter>>,
}

/// Installs the global subscriber. `level` is a level name or any
/// `tracing` filter directive (e.g. `wippy_lua=debug`); `RUST_LOG` wins if set.
pub fn init(level: &str, format: LogFormat) -> Result<Logs, String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env),
        _ => EnvFilter::try_new(level),
    }
    .map_err(|e| format!("invalid --log-level {level:?}: {e}"))?;
    // A reloadable filter rather than a flag checked per event: switching
    // it rebuilds tracing's per-callsite cache, so disabled log lines stay
    // free whether logs are hidden or not.
    let (filter, handle) = reload::Layer::new(filter);
    let lines = fmt::layer()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs piped to a file or a
        // collector stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .try_init()
        .map_err(|e| format!("cannot install logger: {e}"))?;
    Ok(Logs {
        filter: handle,
        stashed: Mutex::new(None),
    })
}

impl Logs {
    /// Writes no logs until the returned guard is dropped.
    pub fn hide(&self) -> Hidden<'_> {
        let mut stashed = self.stashed.lock().unwrap_or_else(PoisonError::into_inner);
        if stashed.is_none() {
            let swapped = self.filter.modify(|f| {
                *stashed = Some(std::mem::replace(f, EnvFilter::new("off")));
            });
            if let Err(e) = swapped {
                eprintln!("wippy: cannot hide logs: {e}");
            }
        }
        Hidden(self)
    }

    fn show(&self) {
        let mut stashed = self.stashed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(filter) = stashed.take()
            && let Err(e) = self.filter.reload(filter)
        {
            eprintln!("wippy: cannot show logs again: {e}");
        }
    }
}

/// Logs are hidden while this lives (see [`Logs::hide`]).
pub struct Hidden<'a>(&'a Logs);

impl Drop for Hidden<'_> {
    fn drop(&mut self) {
        self.0.show();
    }
}
