//! The `time` module: the wall clock, Time and Duration objects, and the
//! waits (`sleep`, `after`, timers and tickers, written in Lua in the
//! prelude over the natives `rt.timer` and `rt.cancel_timer`).
//!
//! Durations are Go's: strings like `"1h30m"`, Duration objects, or integers
//! in nanoseconds. Times format with Go layouts, as Go's `time.Time.Format`
//! formats a UTC time (`layout.rs`).

use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use mlua::{FromLua, Lua, MetaMethod, MultiValue, UserData, UserDataMethods, Value};
use wippy_host::units::parse_duration;
use wippy_process::{Completion, Payload};

use super::{Exports, err_pair, one};
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

mod layout;

use layout::{RFC3339, format_time};

/// Lists `time.*` and the natives the prelude's waits are built on.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.prelude("sleep");
    m.prelude("after");
    m.prelude("ticker");
    m.prelude("timer");
    // One function, for Lua code and the prelude alike.
    let now = m.lua().create_function(|_, ()| Ok(Time::now()))?;
    m.set("now", now.clone())?;
    m.function("unix", unix)?;
    m.function("parse_duration", parse_duration_fn)?;
    m.set("NANOSECOND", 1i64)?;
    m.set("MICROSECOND", 1_000i64)?;
    m.set("MILLISECOND", 1_000_000i64)?;
    m.set("SECOND", 1_000_000_000i64)?;
    m.set("MINUTE", 60_000_000_000i64)?;
    m.set("HOUR", 3_600_000_000_000i64)?;

    m.for_prelude("now", now)?;
    m.for_prelude("timer", super::process_fn(m.lua(), timer)?)?;
    m.for_prelude("cancel_timer", super::process_fn(m.lua(), cancel_timer)?)?;
    m.for_prelude("duration_ns", m.lua().create_function(duration_ns)?)?;
    Ok(())
}

/// `time.unix(sec, nsec?)` → the Time that many seconds (and nanoseconds)
/// after the Unix epoch.
fn unix(_: &Lua, (sec, nsec): (i64, Option<i64>)) -> mlua::Result<Time> {
    Ok(Time(
        sec as i128 * 1_000_000_000 + nsec.unwrap_or(0) as i128,
    ))
}

/// `time.parse_duration(v)` → a Duration or `nil, err`.
fn parse_duration_fn(lua: &Lua, v: Value) -> mlua::Result<MultiValue> {
    match duration_arg(&v) {
        Ok(d) => one(Value::UserData(lua.create_userdata(d)?)),
        Err(e) => err_pair(lua, e),
    }
}

/// `rt.duration_ns(v)` → a duration argument in nanoseconds (raises on a
/// bad one).
fn duration_ns(_: &Lua, v: Value) -> mlua::Result<i64> {
    duration_arg(&v).map(|d| d.0).map_err(mlua::Error::runtime)
}

/// `rt.timer(tag, d, periodic?)`: completes the operation `tag` after `d`
/// (every `d` when `periodic`), until cancelled or the process ends.
fn timer(
    _: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    (tag, d, periodic): (u64, Value, Option<bool>),
) -> mlua::Result<bool> {
    let d = duration_arg(&d).map_err(mlua::Error::runtime)?;
    let d = positive(d, "timer").map_err(mlua::Error::runtime)?;
    let cell = p.cell.clone();
    let fire = move || {
        cell.complete(Completion {
            tag,
            value: Payload::Nil,
        });
        cell.is_alive()
    };
    let timers = e.host.node.timers();
    let id = if periodic == Some(true) {
        timers.every(d, fire)
    } else {
        timers.after(d, move || {
            fire();
        })
    };
    p.with_timers(|t| {
        t.get_or_insert_with(Default::default)
            .insert(tag, (id, periodic == Some(true)))
    });
    Ok(true)
}

/// `rt.cancel_timer(tag)`: disarms the timer of operation `tag`, if armed.
fn cancel_timer(_: &Lua, p: &ProcData, e: &ShardEnv, tag: u64) -> mlua::Result<()> {
    let removed = p.with_timers(|t| t.as_mut().and_then(|m| m.remove(&tag)));
    if let Some((id, _)) = removed {
        e.host.node.timers().cancel(id);
    }
    Ok(())
}

/// A point in time, nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Time(pub(crate) i128);

/// A signed span of time in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Duration(pub(crate) i64);

impl Time {
    /// The current wall-clock time.
    pub(crate) fn now() -> Time {
        Time::from_system(SystemTime::now())
    }

    /// Converts a system time.
    pub(crate) fn from_system(t: SystemTime) -> Time {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Time(d.as_nanos() as i128),
            Err(e) => Time(-(e.duration().as_nanos() as i128)),
        }
    }
}

impl FromLua for Time {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<Time> {
        match value {
            Value::UserData(ud) => Ok(*ud.borrow::<Time>()?),
            other => Err(mlua::Error::runtime(format!(
                "expected a Time, got {}",
                other.type_name()
            ))),
        }
    }
}

impl FromLua for Duration {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<Duration> {
        duration_arg(&value).map_err(mlua::Error::runtime)
    }
}

/// Reads a duration argument: a Go duration string, a Duration, or an
/// integer number of nanoseconds.
pub(crate) fn duration_arg(value: &Value) -> Result<Duration, String> {
    match value {
        Value::Integer(i) => Ok(Duration(*i)),
        Value::Number(n) if n.fract() == 0.0 => Ok(Duration(*n as i64)),
        Value::Number(n) => Err(format!(
            "a number as a duration is whole nanoseconds, got {n} (write a string such as \"{}ms\" for fractions of a second)",
            n * 1000.0
        )),
        Value::String(s) => {
            let text = s.to_string_lossy();
            let neg = text.trim().starts_with('-');
            let d =
                parse_duration(text.trim().trim_start_matches('-')).map_err(|e| e.to_string())?;
            let ns = d.as_nanos().min(i64::MAX as u128) as i64;
            Ok(Duration(if neg { -ns } else { ns }))
        }
        Value::UserData(ud) => ud
            .borrow::<Duration>()
            .map(|d| *d)
            .map_err(|_| "expected a duration, got another object".to_owned()),
        other => Err(format!(
            "expected a duration (e.g. \"250ms\", a Duration, or nanoseconds), got {}",
            other.type_name()
        )),
    }
}

/// A positive duration as a std one (for timers).
pub(crate) fn positive(d: Duration, what: &str) -> Result<StdDuration, String> {
    if d.0 <= 0 {
        Err(format!("{what}: duration must be positive"))
    } else {
        Ok(StdDuration::from_nanos(d.0 as u64))
    }
}

impl UserData for Duration {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("seconds", |_, d, ()| Ok(d.0 as f64 / 1e9));
        methods.add_method("milliseconds", |_, d, ()| Ok(d.0 as f64 / 1e6));
        methods.add_method("microseconds", |_, d, ()| Ok(d.0 as f64 / 1e3));
        methods.add_method("nanoseconds", |_, d, ()| Ok(d.0));
        methods.add_method("minutes", |_, d, ()| Ok(d.0 as f64 / 60e9));
        methods.add_method("hours", |_, d, ()| Ok(d.0 as f64 / 3600e9));
        methods.add_meta_method(MetaMethod::ToString, |_, d, ()| Ok(format_duration(d.0)));
        methods.add_meta_method(MetaMethod::Eq, |_, d, o: Duration| Ok(d.0 == o.0));
        methods.add_meta_method(MetaMethod::Lt, |_, d, o: Duration| Ok(d.0 < o.0));
        methods.add_meta_method(MetaMethod::Le, |_, d, o: Duration| Ok(d.0 <= o.0));
        methods.add_meta_method(MetaMethod::Add, |_, d, o: Duration| Ok(Duration(d.0 + o.0)));
        methods.add_meta_method(MetaMethod::Sub, |_, d, o: Duration| Ok(Duration(d.0 - o.0)));
    }
}

/// Formats nanoseconds like Go's `Duration.String`.
pub(crate) fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", trim(u as f64 / 1e3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", trim(u as f64 / 1e6));
    }
    let secs = u as f64 / 1e9;
    let h = (secs / 3600.0).floor();
    let m = ((secs - h * 3600.0) / 60.0).floor();
    let s = secs - h * 3600.0 - m * 60.0;
    let mut out = sign.to_owned();
    if h > 0.0 {
        out += &format!("{h}h");
    }
    if h > 0.0 || m > 0.0 {
        out += &format!("{m}m");
    }
    out += &format!("{}s", trim(s));
    out
}

fn trim(x: f64) -> String {
    let s = format!("{x:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

impl UserData for Time {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("add", |_, t, d: Duration| Ok(Time(t.0 + d.0 as i128)));
        methods.add_method("sub", |_, t, o: Time| {
            Ok(Duration(
                (t.0 - o.0).clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            ))
        });
        methods.add_method("after", |_, t, o: Time| Ok(t.0 > o.0));
        methods.add_method("before", |_, t, o: Time| Ok(t.0 < o.0));
        methods.add_method("equal", |_, t, o: Time| Ok(t.0 == o.0));
        methods.add_method("unix", |_, t, ()| Ok(t.0.div_euclid(1_000_000_000) as i64));
        methods.add_method("unix_nano", |_, t, ()| Ok(t.0 as i64));
        methods.add_method("format", |_, t, layout: Option<String>| {
            Ok(format_time(*t, layout.as_deref().unwrap_or(RFC3339)))
        });
        methods.add_meta_method(MetaMethod::ToString, |_, t, ()| {
            Ok(format_time(*t, RFC3339))
        });
        methods.add_meta_method(MetaMethod::Eq, |_, t, o: Time| Ok(t.0 == o.0));
        methods.add_meta_method(MetaMethod::Lt, |_, t, o: Time| Ok(t.0 < o.0));
        methods.add_meta_method(MetaMethod::Le, |_, t, o: Time| Ok(t.0 <= o.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fractional_number_is_no_duration_and_the_error_says_what_to_write() {
        let err = duration_arg(&Value::Number(0.5)).unwrap_err();
        assert!(err.contains("whole nanoseconds, got 0.5"), "{err}");
        assert!(err.contains("\"500ms\""), "{err}");
        assert_eq!(duration_arg(&Value::Number(3.0)), Ok(Duration(3)));
    }

    #[test]
    fn formats_durations_like_go() {
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(5_400_000_000_000), "1h30m0s");
        assert_eq!(format_duration(250_000_000), "250ms");
    }
}
