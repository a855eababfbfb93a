//! Time and Duration objects of the `time` module, and duration arguments.
//!
//! Durations are Go's: strings like `"1h30m"`, Duration objects, or integers
//! in nanoseconds.

use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use mlua::{FromLua, Lua, MetaMethod, UserData, UserDataMethods, Value};
use wippy_host::units::parse_duration;

/// A point in time, nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub i128);

/// A signed span of time in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

impl Time {
    /// The current wall-clock time.
    pub fn now() -> Time {
        Time::from_system(SystemTime::now())
    }

    /// Converts a system time.
    pub fn from_system(t: SystemTime) -> Time {
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
pub fn duration_arg(value: &Value) -> Result<Duration, String> {
    match value {
        Value::Integer(i) => Ok(Duration(*i)),
        Value::Number(n) if n.fract() == 0.0 => Ok(Duration(*n as i64)),
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
            .map_err(|_| "expected a duration".to_owned()),
        other => Err(format!(
            "expected a duration (e.g. \"250ms\", a Duration, or nanoseconds), got {}",
            other.type_name()
        )),
    }
}

/// A positive duration as a std one (for timers).
pub fn positive(d: Duration, what: &str) -> Result<StdDuration, String> {
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
pub fn format_duration(ns: i64) -> String {
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

/// Go's RFC 3339 layout.
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

/// Formats `t` (UTC) with a Go layout (reference time `2006-01-02 15:04:05`).
pub fn format_time(t: Time, layout: &str) -> String {
    let secs = t.0.div_euclid(1_000_000_000) as i64;
    let nanos = t.0.rem_euclid(1_000_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let wd = DAYS[days.rem_euclid(7) as usize];
    let month = MONTHS[(mo - 1) as usize];
    let tokens: [(&str, String); 22] = [
        ("2006", format!("{y:04}")),
        ("January", month.to_owned()),
        ("Monday", wd.to_owned()),
        ("Jan", month[..3].to_owned()),
        ("Mon", wd[..3].to_owned()),
        (".000000000", format!(".{nanos:09}")),
        (".000000", format!(".{:06}", nanos / 1000)),
        (".000", format!(".{:03}", nanos / 1_000_000)),
        ("Z07:00", "Z".to_owned()),
        ("-07:00", "+00:00".to_owned()),
        ("-0700", "+0000".to_owned()),
        ("MST", "UTC".to_owned()),
        ("01", format!("{mo:02}")),
        ("02", format!("{d:02}")),
        ("15", format!("{hh:02}")),
        ("03", format!("{:02}", (hh + 11) % 12 + 1)),
        ("04", format!("{mm:02}")),
        ("05", format!("{ss:02}")),
        ("06", format!("{:02}", y % 100)),
        ("PM", if hh >= 12 { "PM" } else { "AM" }.to_owned()),
        ("_2", format!("{d:>2}")),
        ("Z", "Z".to_owned()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (tok, val) in &tokens {
            if let Some(r) = rest.strip_prefix(tok) {
                out += val;
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Days since the epoch → (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_go_layouts() {
        // 2009-11-10 23:00:00 UTC
        let t = Time(1_257_894_000 * 1_000_000_000);
        assert_eq!(format_time(t, RFC3339), "2009-11-10T23:00:00Z");
        assert_eq!(format_time(t, "Jan _2 15:04:05.000"), "Nov 10 23:00:00.000");
    }

    #[test]
    fn formats_durations_like_go() {
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(5_400_000_000_000), "1h30m0s");
        assert_eq!(format_duration(250_000_000), "250ms");
    }
}
