//! Logs to stderr through tracing: the level from the command line, the
//! console layout (modelled on Wippy's), and hiding logs while a terminal
//! host with `hide_logs: true` runs an entry.
//!
//! A text line is Wippy's console line (`docs/cli.md`): local time, level,
//! logger name, message, and the other fields as one JSON object, separated
//! by tabs (shown here as `<TAB>`):
//!
//! ```text
//! 2026-06-13 19:27:28<TAB>INFO<TAB>supervise<TAB>child started<TAB>{"child": "app:svc", "pid": "{app:procs|0x1}"}
//! ```

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, reload};

use crate::cli::LogFormat;

/// The level when no flag names one (Wippy's default).
pub const DEFAULT_LEVEL: &str = "info";

/// The level names a `--log-level` directive may use.
const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Checks a `--log-level` value: a level name, or a comma-separated list of
/// `level` and `target=level` directives (e.g. `warn,wippy_lua=debug`).
/// Anything else is an error naming what is wrong, so a typo such as
/// `--log-level inf` is not taken for a target name and silently logs
/// nothing.
pub fn check_level(text: &str) -> Result<(), String> {
    let bad = |what: String| {
        Err(format!(
            "invalid --log-level {text:?}: {what} (expected one of {}, or target=level)",
            LEVELS.join(", ")
        ))
    };
    if text.trim().is_empty() {
        return bad("it is empty".into());
    }
    for directive in text.split(',').map(str::trim) {
        let level = match directive.split_once('=') {
            Some((target, level)) if !target.trim().is_empty() => level.trim(),
            Some(_) => return bad(format!("{directive:?} names no target")),
            None => directive,
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return bad(format!("{level:?} is not a level"));
        }
    }
    Ok(())
}

/// The installed logger: its level filter can be switched off and back.
pub struct Logs {
    filter: reload::Handle<EnvFilter, Registry>,
    /// The filter in force before [`Logs::hide`]; `Some` while hidden.
    stashed: Mutex<Option<EnvFilter>>,
}

/// Installs the global subscriber at `level` (checked by [`check_level`]);
/// `RUST_LOG` wins if set.
pub fn init(level: &str, format: LogFormat) -> Result<Logs, String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => {
            EnvFilter::try_new(&env).map_err(|e| format!("invalid RUST_LOG {env:?}: {e}"))?
        }
        _ => {
            check_level(level)?;
            EnvFilter::try_new(level).map_err(|e| format!("invalid --log-level {level:?}: {e}"))?
        }
    };
    // A reloadable filter rather than a flag checked per event: switching
    // it rebuilds tracing's per-callsite cache, so disabled log lines stay
    // free whether logs are hidden or not.
    let (filter, handle) = reload::Layer::new(filter);
    // Colour codes only for a terminal: logs piped to a file or a
    // collector stay plain text.
    let colour = std::io::stderr().is_terminal();
    let lines = match format {
        LogFormat::Text => fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .event_format(Console { colour })
            .boxed(),
        LogFormat::Json => fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(false)
            .json()
            .boxed(),
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

/// Wippy's console layout (module doc).
struct Console {
    /// Whether to colour the level (stderr is a terminal).
    colour: bool,
}

impl<S, N> FormatEvent<S, N> for Console
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut out: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let now = jiff::Zoned::now();
        write!(out, "{}\t", now.strftime("%Y-%m-%d %H:%M:%S"))?;
        let level = match *meta.level() {
            Level::ERROR => ("ERROR", "\x1b[31m"),
            Level::WARN => ("WARN", "\x1b[33m"),
            Level::INFO => ("INFO", "\x1b[34m"),
            Level::DEBUG => ("DEBUG", "\x1b[35m"),
            Level::TRACE => ("TRACE", "\x1b[35m"),
        };
        if self.colour {
            write!(out, "{}{}\x1b[0m\t", level.1, level.0)?;
        } else {
            write!(out, "{}\t", level.0)?;
        }
        let name = match fields.logger.take() {
            Some(name) if !name.is_empty() => name,
            _ => logger_name(meta.target()).to_owned(),
        };
        write!(out, "{name}\t{}", fields.message)?;
        if !fields.json.is_empty() {
            write!(out, "\t{{{}}}", fields.json)?;
        }
        writeln!(out)
    }
}

/// The logger name of an event without a `logger` field: a named target's
/// name (`wippy::audit` → `audit`, a Lua process's `lua`), else its crate
/// without the `wippy_` prefix (`wippy_supervise::process` →
/// `supervise`); the CLI's own lines are `wippy`.
fn logger_name(target: &str) -> &str {
    if target == "wippy::audit" {
        return "audit";
    }
    let krate = target.split("::").next().unwrap_or(target);
    krate.strip_prefix("wippy_").unwrap_or(krate)
}

/// An event's fields as the console line shows them: the message, the
/// logger name, and the rest as the inside of a JSON object (`"k": v`
/// pairs, as zap writes them). A `fields` field holding a JSON object (the
/// Lua logger's own fields) is spread into it.
#[derive(Default)]
struct Fields {
    message: String,
    logger: Option<String>,
    json: String,
}

impl Fields {
    fn push(&mut self, key: &str, value: serde_json::Value) {
        if !self.json.is_empty() {
            self.json.push_str(", ");
        }
        let key = serde_json::Value::from(key);
        let _ = write!(self.json, "{key}: {value}");
    }

    fn text(&mut self, field: &Field, text: String) {
        match field.name() {
            "message" => self.message = text,
            "logger" => self.logger = Some(text),
            "fields" => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(map)) => {
                    for (k, v) in map {
                        self.push(&k, v);
                    }
                }
                _ => self.push("fields", text.into()),
            },
            name => self.push(name, text.into()),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.text(field, format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_target_directives_pass_and_anything_else_is_an_error() {
        for ok in ["info", "WARN", "off", "warn,wippy_lua=debug", "lua=trace"] {
            assert_eq!(check_level(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("nonsense", "\"nonsense\" is not a level"),
            ("inf", "\"inf\" is not a level"),
            ("lua=loud", "\"loud\" is not a level"),
            ("=info", "\"=info\" names no target"),
            ("", "it is empty"),
        ] {
            let err = check_level(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.starts_with("invalid --log-level"), "{err}");
        }
    }

    #[test]
    fn logger_names_are_short_crate_names() {
        assert_eq!(logger_name("wippy_supervise::process"), "supervise");
        assert_eq!(logger_name("wippy::boot"), "wippy");
        assert_eq!(logger_name("lua"), "lua");
        assert_eq!(logger_name("wippy::audit"), "audit");
    }
}
