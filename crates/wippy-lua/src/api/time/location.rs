//! Locations, as Go's `*time.Location`: a name and the rule that gives
//! the offset from UTC and the zone's abbreviation at each instant.
//!
//! A location is an IANA zone (`time.load_location("Europe/Paris")`), the
//! system's zone (`time.localtz`, named `Local` as in Go), or a fixed
//! offset (`time.fixed_zone(name, seconds)`, and `time.utc`). IANA rules
//! come from jiff's time-zone database: the system's
//! (`/usr/share/zoneinfo`, or `TZDIR`) when there is one, else the copy
//! bundled into the binary (see `docs/lua-api.md`).
//!
//! [`Location::instant_of`] is Go's `time.Date`: it turns wall-clock
//! fields that may overflow (month 13, second -1) into an instant here.

use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use jiff::civil::{Date, Time as CivilTime};
use jiff::tz::{Offset, TimeZone};
use mlua::{FromLua, Lua, MetaMethod, UserData, UserDataMethods, Value};
use wippy_process::ErrorKind;

/// Nanoseconds in a second.
pub(crate) const NS: i128 = 1_000_000_000;

/// A location: its name (what `:string()` returns) and its zone rule.
#[derive(Clone, Debug)]
pub(crate) struct Location {
    name: Arc<str>,
    zone: Zone,
}

#[derive(Clone, Debug)]
enum Zone {
    /// An IANA zone or the system's: offsets and abbreviations from tzdb.
    Tz(TimeZone),
    /// Go's `FixedZone`: one offset, abbreviated as the location's name.
    Fixed(Offset),
    /// The system's zone, read on first use ([`system_zone`]).
    Local,
}

/// The system's zone (`TZ`, else `/etc/localtime`; UTC when neither says),
/// read once, when a process first uses local time: reading it walks the
/// zone database (about 5 M instructions), which every VM's `time.localtz`
/// paid at start-up when it was read there.
fn system_zone() -> &'static TimeZone {
    static SYSTEM: OnceLock<TimeZone> = OnceLock::new();
    SYSTEM.get_or_init(TimeZone::system)
}

/// A zone rule, the system's read: what the offsets are computed from.
enum Rule<'a> {
    Tz(&'a TimeZone),
    Fixed(Offset),
}

impl Zone {
    fn rule(&self) -> Rule<'_> {
        match self {
            Zone::Tz(tz) => Rule::Tz(tz),
            Zone::Fixed(offset) => Rule::Fixed(*offset),
            Zone::Local => Rule::Tz(system_zone()),
        }
    }
}

/// The zone in effect at an instant: its offset east of UTC and its
/// abbreviation (empty for a fixed zone without a name).
pub(crate) struct ZoneAt {
    pub(crate) offset: i32,
    pub(crate) abbreviation: String,
}

impl Location {
    /// Go's `time.UTC`.
    pub(crate) fn utc() -> Location {
        static UTC: OnceLock<Location> = OnceLock::new();
        UTC.get_or_init(|| Location {
            name: "UTC".into(),
            zone: Zone::Fixed(Offset::UTC),
        })
        .clone()
    }

    /// Go's `time.Local`: the system's zone (`TZ`, else `/etc/localtime`;
    /// UTC when neither says), named `Local`. The zone is read when first
    /// used, not here.
    pub(crate) fn local() -> Location {
        static LOCAL: OnceLock<Location> = OnceLock::new();
        LOCAL
            .get_or_init(|| Location {
                name: "Local".into(),
                zone: Zone::Local,
            })
            .clone()
    }

    /// Go's `time.LoadLocation`: `UTC`, `Local`, or an IANA zone name,
    /// matched exactly. Fails with the error kind and message to return.
    pub(crate) fn load(name: &str) -> Result<Location, (ErrorKind, String)> {
        match name {
            "" => return Err((ErrorKind::Invalid, "empty location name".into())),
            "UTC" => return Ok(Location::utc()),
            "Local" => return Ok(Location::local()),
            _ => {}
        }
        let unknown = || (ErrorKind::NotFound, format!("unknown time zone {name}"));
        if name.starts_with(['/', '\\']) || name.split(['/', '\\']).any(|part| part == "..") {
            return Err((ErrorKind::NotFound, "time: invalid location name".into()));
        }
        let tz = TimeZone::get(name).map_err(|_| unknown())?;
        // The database may match names regardless of case; Go does not.
        if tz.iana_name().is_some_and(|found| found != name) {
            return Err(unknown());
        }
        Ok(Location {
            name: name.into(),
            zone: Zone::Tz(tz),
        })
    }

    /// Go's `time.FixedZone(name, offset)`. The offset is limited to
    /// ±25:59:59 (jiff's range; Go takes any).
    pub(crate) fn fixed(name: &str, offset_seconds: i64) -> Result<Location, String> {
        let offset = i32::try_from(offset_seconds)
            .ok()
            .and_then(|s| Offset::from_seconds(s).ok())
            .ok_or_else(|| {
                format!("offset {offset_seconds} s is out of range (at most ±93599 s, ±25:59:59)")
            })?;
        Ok(Location {
            name: name.into(),
            zone: Zone::Fixed(offset),
        })
    }

    /// The location's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The offset east of UTC, in seconds, at `t`.
    pub(crate) fn offset_at(&self, t: Timestamp) -> i32 {
        match self.zone.rule() {
            Rule::Tz(tz) => tz.to_offset(t).seconds(),
            Rule::Fixed(offset) => offset.seconds(),
        }
    }

    /// The zone in effect at `t`.
    pub(crate) fn zone_at(&self, t: Timestamp) -> ZoneAt {
        match self.zone.rule() {
            Rule::Tz(tz) => {
                let info = tz.to_offset_info(t);
                ZoneAt {
                    offset: info.offset().seconds(),
                    abbreviation: info.abbreviation().to_owned(),
                }
            }
            Rule::Fixed(offset) => ZoneAt {
                offset: offset.seconds(),
                abbreviation: self.name.to_string(),
            },
        }
    }

    /// The offset at `unix` seconds, clamped into the range of instants.
    fn offset_at_second(&self, unix: i64) -> i32 {
        let t = Timestamp::from_second(
            unix.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second()),
        )
        .expect("clamped into range");
        self.offset_at(t)
    }

    /// Go's `Location.lookupName`: the offset of the zone abbreviated
    /// `abbreviation` here, preferring one in effect at `unix` (the wall
    /// time read as UTC). tzdb zones are searched around `unix` (the same
    /// day, and half a year either side for the other half of a DST pair).
    pub(crate) fn lookup_abbreviation(&self, abbreviation: &str, unix: i64) -> Option<i32> {
        const HALF_YEAR: i64 = 182 * 86_400;
        let mut seen = None;
        for probe in [unix, unix - HALF_YEAR, unix + HALF_YEAR] {
            let at = self.zone_at_second(probe);
            if at.abbreviation != abbreviation {
                continue;
            }
            let now = self.zone_at_second(unix - i64::from(at.offset));
            if now.abbreviation == abbreviation {
                return Some(now.offset);
            }
            seen.get_or_insert(at.offset);
        }
        seen
    }

    fn zone_at_second(&self, unix: i64) -> ZoneAt {
        let t = Timestamp::from_second(
            unix.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second()),
        )
        .expect("clamped into range");
        self.zone_at(t)
    }

    /// Go's `time.Date`: the instant whose wall clock here shows the given
    /// fields. Fields out of their range carry into the next larger one
    /// (month 13 is January of the next year, second -1 the last second of
    /// the minute before). A wall time that a zone transition skips or
    /// repeats resolves as Go resolves it: by the offset in effect at the
    /// wall time read as UTC, corrected once.
    pub(crate) fn instant_of(&self, f: WallFields) -> Result<Timestamp, String> {
        let month0 = f.month - 1;
        let year = f.year + month0.div_euclid(12);
        let month = month0.rem_euclid(12) + 1;
        let first = i16::try_from(year)
            .ok()
            .and_then(|y| Date::new(y, month as i8, 1).ok())
            .and_then(|d| {
                Offset::UTC
                    .to_timestamp(d.to_datetime(CivilTime::midnight()))
                    .ok()
            })
            .ok_or_else(|| out_of_range(year))?;
        // The wall time read as UTC, in nanoseconds: every field is linear
        // from here, so the carries of Go's normalisation are exact sums.
        let wall = i128::from(first.as_second()) * NS
            + (i128::from(f.day) - 1) * 86_400 * NS
            + i128::from(f.hour) * 3_600 * NS
            + i128::from(f.minute) * 60 * NS
            + i128::from(f.second) * NS
            + i128::from(f.nanosecond);
        let unix = i64::try_from(wall.div_euclid(NS)).map_err(|_| out_of_range(year))?;
        let mut offset = self.offset_at_second(unix);
        if offset != 0 {
            let utc = unix - i64::from(offset);
            let there = self.offset_at_second(utc);
            if there != offset {
                offset = there;
            }
        }
        let ns = wall - i128::from(offset) * NS;
        Timestamp::from_nanosecond(ns).map_err(|_| out_of_range(year))
    }
}

fn out_of_range(year: i64) -> String {
    format!("time out of range: year {year} (years -9999 to 9999 are supported)")
}

/// Wall-clock fields for [`Location::instant_of`], each possibly out of
/// its range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallFields {
    pub(crate) year: i64,
    pub(crate) month: i64,
    pub(crate) day: i64,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
    pub(crate) nanosecond: i64,
}

impl FromLua for Location {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<Location> {
        match value {
            Value::UserData(ud) => match ud.borrow::<Location>() {
                Ok(loc) => Ok(loc.clone()),
                Err(_) => Err(mlua::Error::external(
                    "expected a Location, got another object",
                )),
            },
            other => Err(mlua::Error::external(format!(
                "expected a Location, got {}",
                other.type_name()
            ))),
        }
    }
}

impl UserData for Location {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("string", |_, loc, ()| Ok(loc.name().to_owned()));
        methods.add_meta_method(MetaMethod::ToString, |_, loc, ()| Ok(loc.name().to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(year: i64, month: i64, day: i64, hour: i64, minute: i64) -> WallFields {
        WallFields {
            year,
            month,
            day,
            hour,
            minute,
            second: 0,
            nanosecond: 0,
        }
    }

    fn utc_text(t: Timestamp) -> String {
        t.to_string()
    }

    #[test]
    fn fields_out_of_range_carry_as_in_go() {
        let utc = Location::utc();
        let at = |f| utc_text(utc.instant_of(f).unwrap());
        assert_eq!(at(fields(2024, 13, 1, 0, 0)), "2025-01-01T00:00:00Z");
        assert_eq!(at(fields(2024, 0, 1, 0, 0)), "2023-12-01T00:00:00Z");
        assert_eq!(at(fields(2023, 2, 29, 0, 0)), "2023-03-01T00:00:00Z");
        assert_eq!(at(fields(2024, 1, 0, 0, 0)), "2023-12-31T00:00:00Z");
        assert_eq!(at(fields(2024, 1, 1, 25, -61)), "2024-01-01T23:59:00Z");
        let mut f = fields(2024, 1, 1, 0, 0);
        f.second = -1;
        f.nanosecond = 1_500_000_000;
        assert_eq!(at(f), "2024-01-01T00:00:00.5Z");
    }

    #[test]
    fn skipped_and_repeated_wall_times_resolve_as_in_go() {
        let Ok(ny) = Location::load("America/New_York") else {
            panic!("the bundled tzdb has America/New_York");
        };
        // 02:30 on 2024-03-10 does not exist there; Go gives 01:30 EST.
        let gap = ny.instant_of(fields(2024, 3, 10, 2, 30)).unwrap();
        assert_eq!(utc_text(gap), "2024-03-10T06:30:00Z");
        // 01:30 on 2024-11-03 happens twice; Go takes the first (EDT).
        let fold = ny.instant_of(fields(2024, 11, 3, 1, 30)).unwrap();
        assert_eq!(utc_text(fold), "2024-11-03T05:30:00Z");
        assert_eq!(ny.zone_at(fold).abbreviation, "EDT");
    }

    #[test]
    fn loading_follows_go() {
        assert_eq!(Location::load("").unwrap_err().0, ErrorKind::Invalid);
        assert_eq!(
            Location::load("Invalid/Location").unwrap_err(),
            (
                ErrorKind::NotFound,
                "unknown time zone Invalid/Location".to_owned()
            )
        );
        assert_eq!(
            Location::load("../etc/passwd").unwrap_err().0,
            ErrorKind::NotFound
        );
        assert_eq!(Location::load("UTC").unwrap().name(), "UTC");
        assert_eq!(Location::load("Local").unwrap().name(), "Local");
        assert_eq!(Location::load("Asia/Tokyo").unwrap().name(), "Asia/Tokyo");
    }

    #[test]
    fn a_fixed_zone_is_abbreviated_by_its_name() {
        let est = Location::fixed("EST", -5 * 3600).unwrap();
        let at = est.zone_at(Timestamp::UNIX_EPOCH);
        assert_eq!((at.offset, at.abbreviation.as_str()), (-18_000, "EST"));
        assert!(Location::fixed("far", 100_000).is_err());
    }

    #[test]
    fn abbreviations_are_found_in_either_half_of_the_year() {
        let ny = Location::load("America/New_York").unwrap();
        // 2024-07-01 12:00 read as UTC: EDT is in effect, EST half a year off.
        let july = 1_719_835_200;
        assert_eq!(ny.lookup_abbreviation("EDT", july), Some(-4 * 3600));
        assert_eq!(ny.lookup_abbreviation("EST", july), Some(-5 * 3600));
        assert_eq!(ny.lookup_abbreviation("CET", july), None);
    }

    #[test]
    fn the_bundled_database_stands_in_for_a_missing_system_one() {
        // Used only when no system database is found; it must hold the
        // IANA zones all the same.
        let bundled = jiff::tz::TimeZoneDatabase::bundled();
        let ny = bundled.get("America/New_York").expect("bundled tzdb");
        let july = Timestamp::from_second(1_719_835_200).unwrap();
        assert_eq!(ny.to_offset(july).seconds(), -4 * 3600);
    }
}
