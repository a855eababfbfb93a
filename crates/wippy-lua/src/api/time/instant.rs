//! Time objects, as Go's `time.Time`: an instant exact to the nanosecond,
//! the location it is shown in, and, for times read from the clock
//! (`time.now()`, a timer's tick), a monotonic reading.
//!
//! The instant is a `jiff::Timestamp` (whole seconds and nanoseconds), so
//! no arithmetic on a Time rounds, although Lua numbers are doubles: only
//! the numbers a method returns are doubles (`unix_nano()` is exact up to
//! 2^53 ns, about 104 days from 1970; later times round to a few hundred
//! nanoseconds). Times span years -9999 to 9999 (jiff's range); a result
//! outside it raises.
//!
//! The monotonic reading follows Go's rules: `sub`, `after`, `before` and
//! `equal` use it when both times have one, `add` keeps it, and the wall
//! computations (`add_date`, `round`, `truncate`, the location changes)
//! drop it. `tostring` shows it as Go does (` m=+1.000000001`, seconds
//! since the runtime started).

use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use jiff::Timestamp;
use jiff::tz::Offset;
use mlua::{FromLua, Lua, MetaMethod, UserData, UserDataMethods, Value};

use super::duration::{Duration, duration_arg};
use super::layout::{self, Civil, GO_STRING, RFC3339};
use super::location::{Location, NS, WallFields};

/// A point in time, where it is shown, and maybe a monotonic reading.
#[derive(Clone, Debug)]
pub(crate) struct Time {
    wall: Timestamp,
    loc: Location,
    /// Nanoseconds since [`monotonic_start`], for times read from the clock.
    mono: Option<i64>,
}

/// The instant monotonic readings count from: the first use of the `time`
/// module in this OS process (when the first VM is built).
pub(crate) fn monotonic_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Nanoseconds since the year 1 began (Go's zero Time) at the Unix epoch.
const ZERO_TIME_TO_UNIX_NS: i128 = 62_135_596_800 * NS;

impl Time {
    /// The current time, local, with a monotonic reading.
    pub(crate) fn now() -> Time {
        let start = monotonic_start();
        let mono = i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX);
        let mut t = Time::from_system(SystemTime::now());
        t.mono = Some(mono);
        t
    }

    /// A system time, local, without a monotonic reading. A time outside
    /// years -9999..9999 is clamped to the nearest end.
    pub(crate) fn from_system(t: SystemTime) -> Time {
        let wall = Timestamp::try_from(t).unwrap_or_else(|_| {
            if t < SystemTime::UNIX_EPOCH {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            }
        });
        Time::at(wall, Location::local())
    }

    /// The instant `wall`, shown in `loc`.
    pub(crate) fn at(wall: Timestamp, loc: Location) -> Time {
        Time {
            wall,
            loc,
            mono: None,
        }
    }

    /// The instant `ns` nanoseconds after the Unix epoch, in `loc`.
    pub(crate) fn from_unix_nanos(ns: i128, loc: Location) -> mlua::Result<Time> {
        let wall = Timestamp::from_nanosecond(ns).map_err(|_| {
            mlua::Error::runtime("time out of range (years -9999 to 9999 are supported)")
        })?;
        Ok(Time::at(wall, loc))
    }

    /// Nanoseconds since the Unix epoch.
    pub(crate) fn unix_nanos(&self) -> i128 {
        self.wall.as_nanosecond()
    }

    /// The wall clock and zone of this time in its location.
    fn with_civil<R>(&self, f: impl FnOnce(&Civil<'_>) -> R) -> R {
        let zone = self.loc.zone_at(self.wall);
        let offset = Offset::from_seconds(zone.offset).expect("tzdb offsets are in jiff's range");
        let dt = offset.to_datetime(self.wall);
        f(&Civil {
            year: dt.year().into(),
            month: dt.month().into(),
            day: dt.day().into(),
            hour: dt.hour().into(),
            minute: dt.minute().into(),
            second: dt.second().into(),
            nanosecond: u32::try_from(dt.subsec_nanosecond())
                .expect("a civil time's nanoseconds are 0..1e9"),
            weekday: dt.weekday().to_sunday_zero_offset() as usize,
            year_day: dt.day_of_year().into(),
            offset: zone.offset,
            zone: &zone.abbreviation,
        })
    }

    /// Formats this time with a Go layout.
    pub(crate) fn format(&self, layout: &str) -> String {
        self.with_civil(|c| layout::format(c, layout))
    }

    /// Go's `Time.String`.
    fn go_string(&self) -> String {
        let mut s = self.format(GO_STRING);
        if let Some(m) = self.mono {
            let sign = if m < 0 { '-' } else { '+' };
            let m = m.unsigned_abs();
            s.push_str(&format!(
                " m={sign}{}.{:09}",
                m / 1_000_000_000,
                m % 1_000_000_000
            ));
        }
        s
    }

    /// Go's `t.Sub(u)`, saturating at the ends of a Duration.
    fn sub(&self, u: &Time) -> Duration {
        if let (Some(a), Some(b)) = (self.mono, u.mono) {
            return Duration(a.saturating_sub(b));
        }
        let d = self.unix_nanos() - u.unix_nanos();
        Duration(d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// How two times compare: by monotonic readings when both have one.
    fn cmp(&self, u: &Time) -> std::cmp::Ordering {
        match (self.mono, u.mono) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.wall.cmp(&u.wall),
        }
    }

    /// Go's `t.Add(d)`: the monotonic reading moves too (and is dropped if
    /// it would overflow).
    fn add(&self, d: Duration) -> mlua::Result<Time> {
        let mut t = Time::from_unix_nanos(self.unix_nanos() + i128::from(d.0), self.loc.clone())?;
        t.mono = self.mono.and_then(|m| m.checked_add(d.0));
        Ok(t)
    }

    /// Go's `t.AddDate(y, m, d)`: the same wall clock that many years,
    /// months and days later, normalised as `time.date` normalises.
    fn add_date(&self, years: i64, months: i64, days: i64) -> mlua::Result<Time> {
        let fields = self.with_civil(|c| WallFields {
            year: c.year.saturating_add(years),
            month: c.month.saturating_add(months),
            day: c.day.saturating_add(days),
            hour: c.hour,
            minute: c.minute,
            second: c.second,
            nanosecond: c.nanosecond.into(),
        });
        let wall = self.loc.instant_of(fields).map_err(mlua::Error::runtime)?;
        Ok(Time::at(wall, self.loc.clone()))
    }

    /// The remainder of this time since Go's zero Time modulo `d` (> 0).
    fn since_zero_mod(&self, d: i64) -> i128 {
        (self.unix_nanos() + ZERO_TIME_TO_UNIX_NS).rem_euclid(i128::from(d))
    }

    /// Go's `t.Truncate(d)`: rounded down to a multiple of `d` since the
    /// zero Time; `d <= 0` only drops the monotonic reading.
    fn truncate(&self, d: Duration) -> mlua::Result<Time> {
        if d.0 <= 0 {
            return Ok(Time::at(self.wall, self.loc.clone()));
        }
        let r = self.since_zero_mod(d.0);
        Time::from_unix_nanos(self.unix_nanos() - r, self.loc.clone())
    }

    /// Go's `t.Round(d)`: to the nearest multiple of `d` since the zero
    /// Time, halves up; `d <= 0` only drops the monotonic reading.
    fn round(&self, d: Duration) -> mlua::Result<Time> {
        if d.0 <= 0 {
            return Ok(Time::at(self.wall, self.loc.clone()));
        }
        let r = self.since_zero_mod(d.0);
        let ns = if r + r < i128::from(d.0) {
            self.unix_nanos() - r
        } else {
            self.unix_nanos() + (i128::from(d.0) - r)
        };
        Time::from_unix_nanos(ns, self.loc.clone())
    }
}

impl FromLua for Time {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<Time> {
        match value {
            Value::UserData(ud) => match ud.borrow::<Time>() {
                Ok(t) => Ok(t.clone()),
                Err(_) => Err(mlua::Error::external("expected a Time, got another object")),
            },
            other => Err(mlua::Error::external(format!(
                "expected a Time, got {}",
                other.type_name()
            ))),
        }
    }
}

/// A duration argument that must be a Duration object (`round`,
/// `truncate`), as Wippy's are.
struct DurationObject(Duration);

impl FromLua for DurationObject {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<DurationObject> {
        match &value {
            Value::UserData(ud) => match ud.borrow::<Duration>() {
                Ok(d) => Ok(DurationObject(*d)),
                Err(_) => Err(mlua::Error::external(
                    "expected a Duration, got another object",
                )),
            },
            other => Err(mlua::Error::external(format!(
                "expected a Duration (time.parse_duration), got {}",
                other.type_name()
            ))),
        }
    }
}

/// A duration argument: a Go duration string, a Duration or nanoseconds
/// (anything else raises).
struct AnyDuration(Duration);

impl FromLua for AnyDuration {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<AnyDuration> {
        duration_arg(&value)
            .map(AnyDuration)
            .map_err(mlua::Error::external)
    }
}

/// An integer argument: a number, truncated toward zero as Go converts a
/// Lua number to an int.
pub(crate) struct Int(pub(crate) i64);

impl FromLua for Int {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<Int> {
        match value {
            Value::Integer(i) => Ok(Int(i)),
            Value::Number(n) if n.is_finite() => Ok(Int(n.trunc() as i64)),
            Value::Number(n) => Err(mlua::Error::external(format!("expected a number, got {n}"))),
            other => Err(mlua::Error::external(format!(
                "expected a number, got {}",
                other.type_name()
            ))),
        }
    }
}

impl UserData for Time {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("add", |_, t, d: AnyDuration| t.add(d.0));
        methods.add_method("add_date", |_, t, (y, m, d): (Int, Int, Int)| {
            t.add_date(y.0, m.0, d.0)
        });
        methods.add_method("sub", |_, t, u: Time| Ok(t.sub(&u)));
        methods.add_method("in_location", |_, t, loc: Location| {
            Ok(Time::at(t.wall, loc))
        });
        methods.add_method("utc", |_, t, ()| Ok(Time::at(t.wall, Location::utc())));
        methods.add_method("in_local", |_, t, ()| {
            Ok(Time::at(t.wall, Location::local()))
        });
        methods.add_method("round", |_, t, d: DurationObject| t.round(d.0));
        methods.add_method("truncate", |_, t, d: DurationObject| t.truncate(d.0));
        methods.add_method("after", |_, t, u: Time| Ok(t.cmp(&u).is_gt()));
        methods.add_method("before", |_, t, u: Time| Ok(t.cmp(&u).is_lt()));
        methods.add_method("equal", |_, t, u: Time| Ok(t.cmp(&u).is_eq()));
        methods.add_method("is_zero", |_, t, ()| {
            Ok(t.unix_nanos() == -ZERO_TIME_TO_UNIX_NS)
        });
        methods.add_method("format", |_, t, layout: mlua::LuaString| {
            Ok(t.format(&layout.to_str()?))
        });
        methods.add_method("format_rfc3339", |_, t, ()| Ok(t.format(RFC3339)));
        methods.add_method("unix", |_, t, ()| Ok(t.unix_nanos().div_euclid(NS) as f64));
        methods.add_method("unix_nano", |_, t, ()| Ok(t.unix_nanos() as f64));
        methods.add_method("year", |_, t, ()| Ok(t.with_civil(|c| c.year as f64)));
        methods.add_method("month", |_, t, ()| Ok(t.with_civil(|c| c.month as f64)));
        methods.add_method("day", |_, t, ()| Ok(t.with_civil(|c| c.day as f64)));
        methods.add_method("hour", |_, t, ()| Ok(t.with_civil(|c| c.hour as f64)));
        methods.add_method("minute", |_, t, ()| Ok(t.with_civil(|c| c.minute as f64)));
        methods.add_method("second", |_, t, ()| Ok(t.with_civil(|c| c.second as f64)));
        methods.add_method("nanosecond", |_, t, ()| {
            Ok(t.with_civil(|c| f64::from(c.nanosecond)))
        });
        methods.add_method("weekday", |_, t, ()| Ok(t.with_civil(|c| c.weekday as f64)));
        methods.add_method("year_day", |_, t, ()| {
            Ok(t.with_civil(|c| c.year_day as f64))
        });
        methods.add_method("date", |_, t, ()| {
            Ok(t.with_civil(|c| (c.year as f64, c.month as f64, c.day as f64)))
        });
        methods.add_method("clock", |_, t, ()| {
            Ok(t.with_civil(|c| (c.hour as f64, c.minute as f64, c.second as f64)))
        });
        methods.add_method("location", |_, t, ()| Ok(t.loc.clone()));
        methods.add_meta_method(MetaMethod::ToString, |_, t, ()| Ok(t.go_string()));
        methods.add_meta_method(MetaMethod::Eq, |_, t, u: Time| Ok(t.cmp(&u).is_eq()));
        methods.add_meta_method(MetaMethod::Lt, |_, t, u: Time| Ok(t.cmp(&u).is_lt()));
        methods.add_meta_method(MetaMethod::Le, |_, t, u: Time| Ok(t.cmp(&u).is_le()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(ns: i128) -> Time {
        Time::from_unix_nanos(ns, Location::utc()).unwrap()
    }

    #[test]
    fn go_string_shows_the_zone_and_the_monotonic_reading() {
        let mut t = utc(1_781_378_848 * NS + 123_456_789);
        assert_eq!(t.go_string(), "2026-06-13 19:27:28.123456789 +0000 UTC");
        t.mono = Some(12_345_678_901);
        assert_eq!(
            t.go_string(),
            "2026-06-13 19:27:28.123456789 +0000 UTC m=+12.345678901"
        );
        t.mono = Some(-5);
        assert!(
            t.go_string().ends_with(" m=-0.000000005"),
            "{}",
            t.go_string()
        );
    }

    #[test]
    fn round_and_truncate_count_from_the_zero_time_as_go() {
        let t = utc(1_704_112_496 * NS + 789_000_000); // 2024-01-01T12:34:56.789Z
        let second = Duration(1_000_000_000);
        assert_eq!(
            t.round(second).unwrap().format(RFC3339),
            "2024-01-01T12:34:57Z"
        );
        assert_eq!(
            t.truncate(Duration(60 * 1_000_000_000))
                .unwrap()
                .format(RFC3339),
            "2024-01-01T12:34:00Z"
        );
        // Halves round up; days are counted from year 1, not from 1970.
        let half = utc(1_704_112_496 * NS + 500_000_000);
        assert_eq!(half.round(second).unwrap().unix_nanos(), 1_704_112_497 * NS);
        let week = Duration(7 * 86_400 * 1_000_000_000);
        // 0001-01-01 was a Monday, so weeks truncate to Mondays.
        assert_eq!(
            t.truncate(week).unwrap().format("Mon 2006-01-02"),
            "Mon 2024-01-01"
        );
        // Before the epoch, the remainder is still counted forward.
        let early = utc(-NS / 2);
        assert_eq!(early.truncate(second).unwrap().unix_nanos(), -NS);
        assert_eq!(early.round(second).unwrap().unix_nanos(), 0);
    }

    #[test]
    fn monotonic_readings_decide_comparisons_and_differences() {
        let mut a = utc(10 * NS);
        let mut b = utc(20 * NS);
        assert_eq!(b.sub(&a), Duration(10 * 1_000_000_000));
        (a.mono, b.mono) = (Some(5), Some(3));
        assert_eq!(b.sub(&a), Duration(-2));
        assert!(b.cmp(&a).is_lt());
        let later = a.add(Duration(7)).unwrap();
        assert_eq!(later.mono, Some(12));
        assert_eq!(a.round(Duration(0)).unwrap().mono, None);
    }

    #[test]
    fn add_date_normalises_like_date() {
        let t = utc(1_706_702_400 * NS); // 2024-01-31T12:00:00Z
        assert_eq!(
            t.add_date(0, 1, 0).unwrap().format(RFC3339),
            "2024-03-02T12:00:00Z"
        );
        assert_eq!(
            t.add_date(1, 2, 3).unwrap().format(RFC3339),
            "2025-04-03T12:00:00Z"
        );
        assert!(t.add_date(20_000, 0, 0).is_err());
    }
}
