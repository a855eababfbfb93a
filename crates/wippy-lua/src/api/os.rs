//! The `os` global, as Wippy's replaces the standard table (reference
//! §6.4, addendum §5): `os.time(t?)`, `os.date(fmt?, t?)`, `os.clock()`,
//! `os.difftime(t2, t1)` and `os.platform == "wippy"`; nothing that reaches
//! the OS (no `getenv`, `exit`, `remove`, `execute`).
//!
//! Calendar and time-zone logic is `jiff`'s; "local" is the zone of the
//! OS process (`TZ`, else the system's). `os.date` formats with strftime
//! specifiers (`a A b B c d H I j m M p S U w W x X y Y z Z %`, C locale),
//! keeps an unknown one as written, takes a leading `!` for UTC and `*t`
//! for a table `{year, month, day, hour, min, sec, wday, yday, isdst}`.

use std::fmt::Write;
use std::sync::OnceLock;
use std::time::Instant;

use jiff::civil::{DateTime, date};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};
use mlua::{Lua, Table, Value};

use super::Exports;

/// Lists `os.*`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    // The clock starts with the first VM, that is with the runtime.
    start();
    m.function("time", time)?;
    m.function("date", date_fn)?;
    m.function("clock", |_, ()| Ok(start().elapsed().as_secs_f64()))?;
    m.function("difftime", |_, (t2, t1): (f64, Option<f64>)| {
        Ok(t2 - t1.unwrap_or(0.0))
    })?;
    m.set("platform", "wippy")
}

/// When the runtime started (`os.clock()` counts from it).
fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// `os.time(t?)` → Unix seconds: now, or the local time `t` describes
/// (`year`, `month`, `day` default to today; `hour`, `min`, `sec` to 0;
/// values out of range carry over, as C's `mktime` does).
fn time(_: &Lua, t: Option<Table>) -> mlua::Result<f64> {
    let Some(t) = t else {
        return Ok(Timestamp::now().as_second() as f64);
    };
    let tz = TimeZone::system();
    let today = Zoned::now().with_time_zone(tz.clone());
    let field = |name: &str, default: i64| -> mlua::Result<i64> {
        Ok(match t.raw_get::<Value>(name)? {
            Value::Integer(i) => i,
            Value::Number(n) => n.floor() as i64,
            Value::String(s) => s
                .to_str()?
                .trim()
                .parse::<f64>()
                .map(|n| n.floor() as i64)
                .unwrap_or(default),
            _ => default,
        })
    };
    let year = field("year", i64::from(today.year()))?;
    let month = field("month", i64::from(today.month()))?;
    let day = field("day", i64::from(today.day()))?;
    let hour = field("hour", 0)?;
    let min = field("min", 0)?;
    let sec = field("sec", 0)?;
    let out_of_range = |e: jiff::Error| mlua::Error::runtime(format!("os.time: {e}"));
    let year = i16::try_from(year)
        .map_err(|_| mlua::Error::runtime(format!("os.time: year {year} is out of range")))?;
    let carried = Span::new()
        .try_months(month - 1)
        .and_then(|s| s.try_days(day - 1))
        .and_then(|s| s.try_hours(hour))
        .and_then(|s| s.try_minutes(min))
        .and_then(|s| s.try_seconds(sec))
        .map_err(out_of_range)?;
    let civil: DateTime = date(year, 1, 1)
        .at(0, 0, 0, 0)
        .checked_add(carried)
        .map_err(out_of_range)?;
    let zoned = civil.to_zoned(tz).map_err(out_of_range)?;
    Ok(zoned.timestamp().as_second() as f64)
}

/// `os.date(fmt?, t?)`: `t` (Unix seconds, default now) in the local zone
/// (UTC with a leading `!`), formatted by `fmt` (default `%c`), or as a
/// table with `*t`.
fn date_fn(lua: &Lua, (fmt, t): (Option<String>, Option<f64>)) -> mlua::Result<Value> {
    let fmt = fmt.unwrap_or_else(|| "%c".to_owned());
    let (fmt, tz) = match fmt.strip_prefix('!') {
        Some(rest) => (rest, TimeZone::UTC),
        None => (fmt.as_str(), TimeZone::system()),
    };
    let ts = match t {
        None => Timestamp::now(),
        Some(secs) => Timestamp::from_second(secs.floor() as i64)
            .map_err(|e| mlua::Error::runtime(format!("os.date: {e}")))?,
    };
    let z = ts.to_zoned(tz);
    if fmt.starts_with("*t") {
        let t = lua.create_table_with_capacity(0, 9)?;
        t.raw_set("year", z.year())?;
        t.raw_set("month", z.month())?;
        t.raw_set("day", z.day())?;
        t.raw_set("hour", z.hour())?;
        t.raw_set("min", z.minute())?;
        t.raw_set("sec", z.second())?;
        t.raw_set("wday", z.weekday().to_sunday_one_offset())?;
        t.raw_set("yday", z.day_of_year())?;
        t.raw_set("isdst", is_dst(&z))?;
        return Ok(Value::Table(t));
    }
    Ok(Value::String(lua.create_string(strftime(fmt, &z))?))
}

fn is_dst(z: &Zoned) -> bool {
    z.time_zone().to_offset_info(z.timestamp()).dst().is_dst()
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

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

/// `z` formatted by the strftime specifiers of `fmt` (C locale); an
/// unknown specifier is kept as written.
fn strftime(fmt: &str, z: &Zoned) -> String {
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(spec) => specifier(spec, z, &mut out),
            None => out.push('%'),
        }
    }
    out
}

/// Appends what specifier `%<spec>` gives for `z`.
fn specifier(spec: char, z: &Zoned, out: &mut String) {
    let weekday = z.weekday().to_sunday_zero_offset() as usize;
    let month = z.month() as usize - 1;
    let yday = i32::from(z.day_of_year()) - 1;
    let hour12 = match z.hour() % 12 {
        0 => 12,
        h => h,
    };
    // Writing to a String cannot fail.
    let _ = match spec {
        'a' => write!(out, "{}", &DAYS[weekday][..3]),
        'A' => write!(out, "{}", DAYS[weekday]),
        'b' => write!(out, "{}", &MONTHS[month][..3]),
        'B' => write!(out, "{}", MONTHS[month]),
        'c' => write!(
            out,
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            &DAYS[weekday][..3],
            &MONTHS[month][..3],
            z.day(),
            z.hour(),
            z.minute(),
            z.second(),
            z.year()
        ),
        'd' => write!(out, "{:02}", z.day()),
        'H' => write!(out, "{:02}", z.hour()),
        'I' => write!(out, "{hour12:02}"),
        'j' => write!(out, "{:03}", yday + 1),
        'm' => write!(out, "{:02}", month + 1),
        'M' => write!(out, "{:02}", z.minute()),
        'p' => write!(out, "{}", if z.hour() < 12 { "AM" } else { "PM" }),
        'S' => write!(out, "{:02}", z.second()),
        // Weeks of the year whose first day is Sunday (U) or Monday (W);
        // days before the first such day are in week 0.
        'U' => write!(out, "{:02}", (yday + 7 - weekday as i32) / 7),
        'W' => write!(out, "{:02}", (yday + 7 - (weekday as i32 + 6) % 7) / 7),
        'w' => write!(out, "{weekday}"),
        'x' => write!(
            out,
            "{:02}/{:02}/{:02}",
            month + 1,
            z.day(),
            z.year().rem_euclid(100)
        ),
        'X' => write!(out, "{:02}:{:02}:{:02}", z.hour(), z.minute(), z.second()),
        'y' => write!(out, "{:02}", z.year().rem_euclid(100)),
        'Y' => write!(out, "{}", z.year()),
        'z' => {
            let secs = z.offset().seconds();
            let sign = if secs < 0 { '-' } else { '+' };
            let secs = secs.abs();
            write!(out, "{sign}{:02}{:02}", secs / 3600, secs % 3600 / 60)
        }
        'Z' => write!(
            out,
            "{}",
            z.time_zone().to_offset_info(z.timestamp()).abbreviation()
        ),
        '%' => write!(out, "%"),
        other => write!(out, "%{other}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Zoned {
        Timestamp::from_second(secs)
            .unwrap()
            .to_zoned(TimeZone::UTC)
    }

    #[test]
    fn every_specifier_formats_as_c_does() {
        // 2026-06-13 19:27:08 UTC, a Saturday, day 164 of the year.
        let z = at(1_781_378_828);
        assert_eq!(
            strftime("%a %A %b %B %d %H %I %j %m %M %p %S %w %y %Y %z %Z %%", &z),
            "Sat Saturday Jun June 13 19 07 164 06 27 PM 08 6 26 2026 +0000 UTC %"
        );
        assert_eq!(strftime("%c", &z), "Sat Jun 13 19:27:08 2026");
        assert_eq!(strftime("%x %X", &z), "06/13/26 19:27:08");
        assert_eq!(strftime("%U %W", &z), "23 23");
    }

    #[test]
    fn an_unknown_specifier_is_kept_and_a_trailing_percent_too() {
        let z = at(0);
        assert_eq!(strftime("%Q %Y%", &z), "%Q 1970%");
    }

    #[test]
    fn weeks_count_from_the_first_sunday_or_monday() {
        // 1970-01-01 was a Thursday: both counts are still in week 0.
        assert_eq!(strftime("%U %W", &at(0)), "00 00");
        // 1970-01-04, the first Sunday: week 1 by %U, still 0 by %W.
        assert_eq!(strftime("%U %W", &at(3 * 86_400)), "01 00");
        // 1970-01-05, the first Monday.
        assert_eq!(strftime("%U %W", &at(4 * 86_400)), "01 01");
    }
}
