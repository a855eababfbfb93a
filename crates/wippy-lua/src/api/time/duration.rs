//! Durations as Go has them: a signed count of nanoseconds in an `i64`,
//! written as Go writes them (`1h2m3.5s`, `250ms`, `0s`) and read from
//! Go's duration syntax (`"300ms"`, `"-1.5h"`, `"2h45m"`).
//!
//! A duration argument of the Lua API is a Go duration string, a Duration
//! object, or a number of nanoseconds ([`duration_arg`]).

use std::time::Duration as StdDuration;

use mlua::{FromLua, Lua, MetaMethod, UserData, UserDataMethods, Value};

/// A signed span of time in nanoseconds (Go's `time.Duration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Duration(pub(crate) i64);

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;

impl FromLua for Duration {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<Duration> {
        duration_arg(&value).map_err(mlua::Error::external)
    }
}

/// Reads a duration argument: a Go duration string, a Duration, or an
/// integral number of nanoseconds.
pub(crate) fn duration_arg(value: &Value) -> Result<Duration, String> {
    match value {
        Value::Integer(i) => Ok(Duration(*i)),
        Value::Number(n) if n.fract() == 0.0 && n.abs() <= i64::MAX as f64 => {
            Ok(Duration(*n as i64))
        }
        Value::Number(n) if n.is_finite() && n.fract() != 0.0 => Err(format!(
            "a number as a duration is whole nanoseconds, got {n} (write a string such as \"{}ms\" for fractions of a second)",
            n * 1000.0
        )),
        Value::Number(n) => Err(format!("duration out of range: {n}")),
        Value::String(s) => parse_go(&s.to_string_lossy()),
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
        Ok(StdDuration::from_nanos(d.0.unsigned_abs()))
    }
}

impl UserData for Duration {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // Go's truncating conversions: integral counts of the unit.
        methods.add_method("nanoseconds", |_, d, ()| Ok(d.0 as f64));
        methods.add_method("microseconds", |_, d, ()| Ok((d.0 / 1_000) as f64));
        methods.add_method("milliseconds", |_, d, ()| Ok((d.0 / 1_000_000) as f64));
        // Go's fractional ones: whole units plus the rest, each exact
        // before the one rounding of the sum.
        methods.add_method("seconds", |_, d, ()| Ok(fractional(d.0, NANOS_PER_SECOND)));
        methods.add_method("minutes", |_, d, ()| Ok(fractional(d.0, NANOS_PER_MINUTE)));
        methods.add_method("hours", |_, d, ()| Ok(fractional(d.0, NANOS_PER_HOUR)));
        methods.add_meta_method(MetaMethod::ToString, |_, d, ()| Ok(format_go(d.0)));
        methods.add_meta_method(MetaMethod::Eq, |_, d, o: Duration| Ok(d.0 == o.0));
        methods.add_meta_method(MetaMethod::Lt, |_, d, o: Duration| Ok(d.0 < o.0));
        methods.add_meta_method(MetaMethod::Le, |_, d, o: Duration| Ok(d.0 <= o.0));
        methods.add_meta_method(MetaMethod::Add, |_, d, o: Duration| {
            Ok(Duration(d.0.saturating_add(o.0)))
        });
        methods.add_meta_method(MetaMethod::Sub, |_, d, o: Duration| {
            Ok(Duration(d.0.saturating_sub(o.0)))
        });
    }
}

/// `ns` in units of `unit` nanoseconds, as Go's `Duration.Seconds` and
/// friends compute it.
fn fractional(ns: i64, unit: i64) -> f64 {
    (ns / unit) as f64 + (ns % unit) as f64 / unit as f64
}

/// Formats nanoseconds as Go's `Duration.String` does: `1h2m3.5s`,
/// `1.5ms`, `300µs`, `0s`; the fraction has no trailing zeros.
pub(crate) fn format_go(ns: i64) -> String {
    let mut u = ns.unsigned_abs();
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    if u < NANOS_PER_SECOND as u64 {
        // Below a second: the largest unit under it, with a fraction.
        let (unit, digits) = match u {
            0 => return "0s".to_owned(),
            1..=999 => ("ns", 0),
            1_000..=999_999 => ("µs", 3),
            _ => ("ms", 6),
        };
        let scale = 10u64.pow(digits);
        out.push_str(&(u / scale).to_string());
        push_fraction(&mut out, u % scale, digits);
        out.push_str(unit);
        return out;
    }
    let frac = u % NANOS_PER_SECOND as u64;
    u /= NANOS_PER_SECOND as u64;
    let (hours, minutes, seconds) = (u / 3600, u / 60 % 60, u % 60);
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if u >= 60 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&seconds.to_string());
    push_fraction(&mut out, frac, 9);
    out.push('s');
    out
}

/// Appends `.` and the `digits`-digit fraction `frac` without its trailing
/// zeros (nothing when it is zero).
fn push_fraction(out: &mut String, frac: u64, digits: u32) {
    if frac == 0 {
        return;
    }
    let text = format!("{frac:0width$}", width = digits as usize);
    out.push('.');
    out.push_str(text.trim_end_matches('0'));
}

/// Parses Go's duration syntax exactly as Go's `time.ParseDuration` does:
/// a possibly signed sequence of decimal numbers, each with an optional
/// fraction and a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`);
/// `"0"` alone needs no unit. Errors carry Go's messages.
pub(crate) fn parse_go(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {}", quote(text));
    let mut s = text;
    let mut neg = false;
    if let Some(c @ ('-' | '+')) = s.chars().next() {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(Duration(0));
    }
    if s.is_empty() {
        return Err(invalid());
    }
    // Magnitudes up to 2^63 (the most negative duration) fit in a u64.
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let (whole, rest) = leading_int(s).ok_or_else(invalid)?;
        let had_whole = rest.len() != s.len();
        s = rest;
        let (mut frac, mut scale, mut had_frac) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let (f, sc, rest2) = leading_fraction(rest);
            had_frac = rest2.len() != rest.len();
            (frac, scale, s) = (f, sc, rest2);
        }
        if !had_whole && !had_frac {
            return Err(invalid());
        }
        let unit_len = s
            .bytes()
            .position(|c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(text)));
        }
        let unit_text = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u64 = match unit_text {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SECOND as u64,
            "m" => NANOS_PER_MINUTE as u64,
            "h" => NANOS_PER_HOUR as u64,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit_text),
                    quote(text)
                ));
            }
        };
        if whole > LIMIT / unit {
            return Err(invalid());
        }
        let mut v = whole * unit;
        if frac > 0 {
            // As Go: a float is exact enough for fractions of an hour.
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok(Duration((total as i64).wrapping_neg()));
    }
    if total > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(Duration(total as i64))
}

/// Go's `leadingInt`: the leading digits of `s` as a number (`None` past
/// 2^63) and the rest.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let mut x: u64 = 0;
    let end = s
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    for c in s[..end].bytes() {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
    }
    Some((x, &s[end..]))
}

/// Go's `leadingFraction`: the leading digits of `s` as a fraction
/// `x / scale` (precision stops accumulating on overflow), and the rest.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let end = s
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    let (mut x, mut scale, mut overflow) = (0u64, 1f64, false);
    for c in s[..end].bytes() {
        if overflow {
            continue;
        }
        if x > (i64::MAX as u64) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > 1 << 63 {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[end..])
}

/// Quotes `s` as Go's time package does in its error messages: double
/// quotes, `"` and `\` escaped, bytes outside printable ASCII as `\xNN`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
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
        // Expected strings are Go's `Duration.String` for the same values.
        for (ns, want) in [
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_500, "1.5µs"),
            (1_000_000, "1ms"),
            (250_000_000, "250ms"),
            (1_000_000_001, "1.000000001s"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (5_400_000_000_000, "1h30m0s"),
            (-1_500_000_000, "-1.5s"),
            (-1, "-1ns"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(format_go(ns), want, "{ns}");
        }
    }

    #[test]
    fn parses_go_duration_syntax() {
        for (text, want) in [
            ("0", 0),
            ("+0", 0),
            ("-0", 0),
            ("5s", 5_000_000_000),
            ("1h30m45s", 5_445_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("-1.5h", -5_400_000_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("300ms", 300_000_000),
            ("1us", 1_000),
            ("1µs", 1_000),
            ("1μs", 1_000),
            ("2ns", 2),
            ("1h1m1s1ms1us1ns", 3_661_001_001_001),
            ("0.3333333333333333333h", 1_200_000_000_000),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
        ] {
            assert_eq!(parse_go(text), Ok(Duration(want)), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_with_gos_messages() {
        for (text, want) in [
            ("", r#"time: invalid duration """#),
            ("-", r#"time: invalid duration "-""#),
            ("invalid", r#"time: invalid duration "invalid""#),
            (".s", r#"time: invalid duration ".s""#),
            ("1", r#"time: missing unit in duration "1""#),
            ("3x", r#"time: unknown unit "x" in duration "3x""#),
            ("1 s", r#"time: unknown unit " s" in duration "1 s""#),
            (
                "9223372036854775808ns",
                r#"time: invalid duration "9223372036854775808ns""#,
            ),
            ("3000000h", r#"time: invalid duration "3000000h""#),
        ] {
            assert_eq!(parse_go(text), Err(want.to_owned()), "{text}");
        }
    }

    #[test]
    fn fractional_units_are_whole_units_plus_the_rest() {
        assert_eq!(fractional(5_445_000_000_000, NANOS_PER_HOUR), 1.5125);
        assert_eq!(fractional(-90_000_000_000, NANOS_PER_MINUTE), -1.5);
        assert_eq!(fractional(1_500_000_000, NANOS_PER_SECOND), 1.5);
    }
}
