//! Reading a time with a Go layout, as Go's `time.ParseInLocation` does:
//! the same elements as formatting, each read back with Go's rules (two
//! digits or one for `1`/`2`/`3`..., names of any case, runs of spaces
//! matching runs of spaces), Go's checks after the last element, and Go's
//! error messages (`parsing time "x" as "2006-01-02": cannot parse "x" as
//! "2006"`).
//!
//! The zone of the result, as Go chooses it: UTC for `Z` or `UTC`; for an
//! offset, the location given when its zone has that offset at that time,
//! else a fixed zone of that offset; for an abbreviation, the location
//! given when it knows the abbreviation, else a fixed zone of that name;
//! with no zone in the layout, the location given.

use jiff::Timestamp;
use jiff::civil::Date;

use super::super::duration::quote;
use super::super::location::{Location, NS, WallFields};
use super::{Chunk, MONTHS, WEEKDAYS, next_chunk};

/// Why an element could not be read (Go's `errBad`); the caller reports
/// which element and which input.
struct Bad;

/// Reads `value` with `layout`; wall times without a zone are in `loc`,
/// and offsets and abbreviations are matched against `loc`'s zones. The
/// error is Go's message.
pub(crate) fn parse(
    layout: &str,
    value: &str,
    loc: &Location,
) -> Result<(Timestamp, Location), String> {
    let (alayout, avalue) = (layout, value);
    // "cannot parse <elem_value> as <elem_layout>", or `message` when set.
    let fail = |elem_layout: &str, elem_value: &[u8], message: Option<String>| match message {
        Some(m) => format!("parsing time {}{m}", quote(avalue)),
        None => format!(
            "parsing time {} as {}: cannot parse {} as {}",
            quote(avalue),
            quote(alayout),
            quote(&String::from_utf8_lossy(elem_value)),
            quote(elem_layout)
        ),
    };

    let mut layout = layout;
    let mut value = value.as_bytes();
    let (mut am, mut pm) = (false, false);
    let mut year: i64 = 0;
    let (mut month, mut day, mut year_day): (i64, i64, i64) = (-1, -1, -1);
    let (mut hour, mut minute, mut second, mut nanosecond): (i64, i64, i64, i64) = (0, 0, 0, 0);
    let mut utc = false;
    let mut zone_offset: Option<i32> = None;
    let mut zone_name: Option<String> = None;

    loop {
        let found = next_chunk(layout);
        let prefix = &layout[..found.map_or(layout.len(), |(start, _, _)| start)];
        value = skip(value, prefix).map_err(|rest| fail(prefix, rest, None))?;
        let Some((start, chunk, end)) = found else {
            if !value.is_empty() {
                let extra = format!(": extra text: {}", quote(&String::from_utf8_lossy(value)));
                return Err(fail("", value, Some(extra)));
            }
            break;
        };
        let element = &layout[start..end];
        layout = &layout[end..];
        let hold = value;
        let mut range_error: Option<&str> = None;
        let read: Result<(), Bad> = (|| {
            match chunk {
                Chunk::Year => {
                    let digits = value.get(..2).ok_or(Bad)?;
                    let y = atoi(digits)?;
                    value = &value[2..];
                    year = if y >= 69 { y + 1900 } else { y + 2000 };
                }
                Chunk::LongYear => {
                    if value.len() < 4 || !value[0].is_ascii_digit() {
                        return Err(Bad);
                    }
                    year = atoi(&value[..4])?;
                    value = &value[4..];
                }
                Chunk::Month | Chunk::LongMonth => {
                    let long = chunk == Chunk::LongMonth;
                    let i;
                    (i, value) = lookup(&MONTHS, long, value)?;
                    month = i as i64 + 1;
                }
                Chunk::NumMonth | Chunk::ZeroMonth => {
                    (month, value) = getnum(value, chunk == Chunk::ZeroMonth)?;
                    if !(1..=12).contains(&month) {
                        range_error = Some("month");
                    }
                }
                // The weekday is read only to be checked.
                Chunk::WeekDay | Chunk::LongWeekDay => {
                    (_, value) = lookup(&WEEKDAYS, chunk == Chunk::LongWeekDay, value)?;
                }
                Chunk::Day | Chunk::UnderDay | Chunk::ZeroDay => {
                    if chunk == Chunk::UnderDay && value.first() == Some(&b' ') {
                        value = &value[1..];
                    }
                    // Any one or two digits: checked against the month last.
                    (day, value) = getnum(value, chunk == Chunk::ZeroDay)?;
                }
                Chunk::UnderYearDay | Chunk::ZeroYearDay => {
                    for _ in 0..2 {
                        if chunk == Chunk::UnderYearDay && value.first() == Some(&b' ') {
                            value = &value[1..];
                        }
                    }
                    (year_day, value) = getnum3(value, chunk == Chunk::ZeroYearDay)?;
                }
                Chunk::Hour => {
                    (hour, value) = getnum(value, false)?;
                    if !(0..24).contains(&hour) {
                        range_error = Some("hour");
                    }
                }
                Chunk::Hour12 | Chunk::ZeroHour12 => {
                    (hour, value) = getnum(value, chunk == Chunk::ZeroHour12)?;
                    if !(0..=12).contains(&hour) {
                        range_error = Some("hour");
                    }
                }
                Chunk::Minute | Chunk::ZeroMinute => {
                    (minute, value) = getnum(value, chunk == Chunk::ZeroMinute)?;
                    if !(0..60).contains(&minute) {
                        range_error = Some("minute");
                    }
                }
                Chunk::Second | Chunk::ZeroSecond => {
                    (second, value) = getnum(value, chunk == Chunk::ZeroSecond)?;
                    if !(0..60).contains(&second) {
                        range_error = Some("second");
                        return Ok(());
                    }
                    // A fraction in the input that the layout does not
                    // read next is read here (Go's special case).
                    if value.len() >= 2 && is_sep(value[0]) && value[1].is_ascii_digit() {
                        if let Some((_, Chunk::Frac { .. }, _)) = next_chunk(layout) {
                            return Ok(());
                        }
                        let n = 2 + value[2..].iter().take_while(|c| c.is_ascii_digit()).count();
                        let ns;
                        (ns, range_error) = nanoseconds(value, n)?;
                        nanosecond = ns;
                        value = &value[n..];
                    }
                }
                Chunk::UpperPm | Chunk::LowerPm => {
                    let text = value.get(..2).ok_or(Bad)?;
                    let (p, a): (&[u8], &[u8]) = if chunk == Chunk::UpperPm {
                        (b"PM", b"AM")
                    } else {
                        (b"pm", b"am")
                    };
                    if text == p {
                        pm = true;
                    } else if text == a {
                        am = true;
                    } else {
                        return Err(Bad);
                    }
                    value = &value[2..];
                }
                Chunk::Zone {
                    iso,
                    colon,
                    minutes,
                    seconds,
                } => {
                    if iso && value.first() == Some(&b'Z') {
                        value = &value[1..];
                        utc = true;
                        return Ok(());
                    }
                    // sign, hours, minutes, seconds: where each sits.
                    let (len, min_at, sec_at): (usize, Option<usize>, Option<usize>) =
                        match (colon, minutes, seconds) {
                            (_, false, _) => (3, None, None),
                            (true, _, false) => (6, Some(4), None),
                            (true, _, true) => (9, Some(4), Some(7)),
                            (false, _, true) => (7, Some(3), Some(5)),
                            (false, _, false) => (5, Some(3), None),
                        };
                    let text = value.get(..len).ok_or(Bad)?;
                    if colon && (text[3] != b':' || (seconds && text[6] != b':')) {
                        return Err(Bad);
                    }
                    value = &value[len..];
                    let two = |at: Option<usize>| match at {
                        Some(i) => getnum(&text[i..i + 2], true).map(|(n, _)| n),
                        None => Ok(0),
                    };
                    let (hh, mm, ss) = (two(Some(1))?, two(min_at)?, two(sec_at)?);
                    // `>` rather than `>=`: offsets of 24 hours or 60
                    // minutes are written by some.
                    if hh > 24 {
                        range_error = Some("time zone offset hour");
                    }
                    if mm > 60 {
                        range_error = Some("time zone offset minute");
                    }
                    if ss > 60 {
                        range_error = Some("time zone offset second");
                    }
                    let offset = ((hh * 60 + mm) * 60 + ss) as i32;
                    zone_offset = Some(match text[0] {
                        b'+' => offset,
                        b'-' => -offset,
                        _ => return Err(Bad),
                    });
                }
                Chunk::ZoneName => {
                    if value.starts_with(b"UTC") {
                        utc = true;
                        value = &value[3..];
                        return Ok(());
                    }
                    let n = zone_name_len(value).ok_or(Bad)?;
                    zone_name = Some(String::from_utf8_lossy(&value[..n]).into_owned());
                    value = &value[n..];
                }
                Chunk::Frac {
                    trim: false,
                    digits,
                    ..
                } => {
                    // As many digits as the layout has, exactly.
                    let n = 1 + digits;
                    if value.len() < n {
                        return Err(Bad);
                    }
                    let ns;
                    (ns, range_error) = nanoseconds(value, n)?;
                    nanosecond = ns;
                    value = &value[n..];
                }
                Chunk::Frac { trim: true, .. } => {
                    // Optional, and any number of digits.
                    if value.len() < 2 || !is_sep(value[0]) || !value[1].is_ascii_digit() {
                        return Ok(());
                    }
                    let n = 1 + value[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    let ns;
                    (ns, range_error) = nanoseconds(value, n)?;
                    nanosecond = ns;
                    value = &value[n..];
                }
            }
            Ok(())
        })();
        if let Some(what) = range_error {
            return Err(fail(element, value, Some(format!(": {what} out of range"))));
        }
        if read.is_err() {
            return Err(fail(element, hold, None));
        }
    }

    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    let message = |m: &str| fail("", b"", Some(format!(": {m}")));
    if year_day >= 0 {
        let date = i16::try_from(year_day)
            .ok()
            .and_then(|n| {
                let first = Date::new(year as i16, 1, 1).ok()?;
                first.with().day_of_year(n).build().ok()
            })
            .ok_or_else(|| message("day-of-year out of range"))?;
        let (m, d) = (i64::from(date.month()), i64::from(date.day()));
        // A month and day read too must agree with the day of the year.
        if month >= 0 && month != m {
            return Err(message("day-of-year does not match month"));
        }
        if day >= 0 && day != d {
            return Err(message("day-of-year does not match day"));
        }
        (month, day) = (m, d);
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    let days_in_month = Date::new(year as i16, month as i8, 1).map_or(0, |d| d.days_in_month());
    if day < 1 || day > i64::from(days_in_month) {
        return Err(message("day out of range"));
    }

    let fields = WallFields {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanosecond,
    };
    let shift = |t: Timestamp, seconds: i32| {
        Timestamp::from_nanosecond(t.as_nanosecond() - i128::from(seconds) * NS)
            .map_err(|_| message("time out of range"))
    };
    if utc {
        let utc = Location::utc();
        let t = utc.instant_of(fields).map_err(|m| message(&m))?;
        return Ok((t, utc));
    }
    let as_utc = Location::utc()
        .instant_of(fields)
        .map_err(|m| message(&m))?;
    if let Some(offset) = zone_offset {
        let t = shift(as_utc, offset)?;
        // The location given, when its zone then has this offset (and
        // this name, if one was read).
        let there = loc.zone_at(t);
        if there.offset == offset && zone_name.as_ref().is_none_or(|n| *n == there.abbreviation) {
            return Ok((t, loc.clone()));
        }
        let fixed = Location::fixed(zone_name.as_deref().unwrap_or(""), offset.into())
            .map_err(|m| message(&m))?;
        return Ok((t, fixed));
    }
    if let Some(name) = zone_name {
        if let Some(offset) = loc.lookup_abbreviation(&name, as_utc.as_second()) {
            return Ok((shift(as_utc, offset)?, loc.clone()));
        }
        // An unknown abbreviation: a zone of that name; `GMT+3` has an
        // offset, any other none. As Go, the wall time stays read as UTC.
        let offset = match name.strip_prefix("GMT") {
            Some(hours) if !hours.is_empty() => atoi(hours.as_bytes()).unwrap_or(0) * 3600,
            _ => 0,
        };
        let fixed = Location::fixed(&name, offset).map_err(|m| message(&m))?;
        return Ok((as_utc, fixed));
    }
    let t = loc.instant_of(fields).map_err(|m| message(&m))?;
    Ok((t, loc.clone()))
}

/// Go's `skip`: removes `prefix` from `value`, a run of spaces in the
/// prefix matching a run (possibly empty) in the value. On a mismatch,
/// returns the value left.
fn skip<'v>(mut value: &'v [u8], prefix: &str) -> Result<&'v [u8], &'v [u8]> {
    let mut prefix = prefix.as_bytes();
    while let Some(&p) = prefix.first() {
        if p == b' ' {
            if value.first().is_some_and(|&c| c != b' ') {
                return Err(value);
            }
            prefix = trim_spaces(prefix);
            value = trim_spaces(value);
            continue;
        }
        if value.first() != Some(&p) {
            return Err(value);
        }
        prefix = &prefix[1..];
        value = &value[1..];
    }
    Ok(value)
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ').count();
    &s[n..]
}

fn is_sep(c: u8) -> bool {
    c == b'.' || c == b','
}

/// Go's `getnum`: one or two digits (`fixed`: exactly two).
fn getnum(s: &[u8], fixed: bool) -> Result<(i64, &[u8]), Bad> {
    let digit = |i: usize| {
        s.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let first = digit(0).ok_or(Bad)?;
    match digit(1) {
        Some(second) => Ok((first * 10 + second, &s[2..])),
        None if fixed => Err(Bad),
        None => Ok((first, &s[1..])),
    }
}

/// Go's `getnum3`: one to three digits (`fixed`: exactly three).
fn getnum3(s: &[u8], fixed: bool) -> Result<(i64, &[u8]), Bad> {
    let n = s.iter().take(3).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || (fixed && n != 3) {
        return Err(Bad);
    }
    let x = s[..n].iter().fold(0, |x, c| x * 10 + i64::from(c - b'0'));
    Ok((x, &s[n..]))
}

/// Go's `lookup`: which of `names` (or of their three-letter forms, when
/// not `long`) `value` starts with, ignoring ASCII case.
fn lookup<'v>(names: &[&str], long: bool, value: &'v [u8]) -> Result<(usize, &'v [u8]), Bad> {
    for (i, name) in names.iter().enumerate() {
        let name = if long {
            name.as_bytes()
        } else {
            &name.as_bytes()[..3]
        };
        if value.len() >= name.len() && value[..name.len()].eq_ignore_ascii_case(name) {
            return Ok((i, &value[name.len()..]));
        }
    }
    Err(Bad)
}

/// Go's `atoi`: an optional sign and digits, nothing else.
fn atoi(s: &[u8]) -> Result<i64, Bad> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if !digits.iter().all(u8::is_ascii_digit) || digits.len() > 18 {
        return Err(Bad);
    }
    let x = digits
        .iter()
        .fold(0i64, |x, c| x * 10 + i64::from(c - b'0'));
    Ok(if neg { -x } else { x })
}

/// Go's `parseNanoseconds`: `value[..n]` is a separator and digits (at
/// most nine count); returns nanoseconds and a range error, if any.
fn nanoseconds(value: &[u8], n: usize) -> Result<(i64, Option<&'static str>), Bad> {
    if !is_sep(value[0]) {
        return Err(Bad);
    }
    let n = n.min(10);
    let ns = atoi(&value[1..n])?;
    if ns < 0 {
        return Ok((0, Some("fractional second")));
    }
    Ok((ns * 10i64.pow((10 - n) as u32), None))
}

/// Go's `parseTimeZone`: the length of the zone abbreviation `value`
/// starts with, if it looks like one (three upper-case letters, four or
/// five ending in `T`, `ChST`, `MeST`, `WITA`, `GMT` with an hour offset,
/// or a bare `+hh`/`-hh`).
fn zone_name_len(value: &[u8]) -> Option<usize> {
    if value.len() < 3 {
        return None;
    }
    if value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        return Some(4);
    }
    if value.starts_with(b"GMT") {
        return Some(3 + signed_offset_len(&value[3..]));
    }
    if value[0] == b'+' || value[0] == b'-' {
        return Some(signed_offset_len(value)).filter(|&n| n > 0);
    }
    let upper = value
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        5 if value[4] == b'T' => Some(5),
        4 if value[3] == b'T' || value.starts_with(b"WITA") => Some(4),
        3 => Some(3),
        _ => None,
    }
}

/// Go's `parseSignedOffset`: the length of a sign and an hour offset of at
/// most 23 at the start of `value`, or 0.
fn signed_offset_len(value: &[u8]) -> usize {
    let Some(&(b'+' | b'-')) = value.first() else {
        return 0;
    };
    let digits = value[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 18 {
        return 0;
    }
    match atoi(&value[1..1 + digits]) {
        Ok(hours) if hours <= 23 => 1 + digits,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Civil, NAMED, RFC3339, format};
    use super::*;

    fn named(name: &str) -> &'static str {
        NAMED.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// `value` read with `layout` in UTC, shown as RFC 3339 with nanoseconds
    /// and the zone's name.
    fn read(layout: &str, value: &str) -> Result<String, String> {
        read_in(layout, value, &Location::utc())
    }

    fn read_in(layout: &str, value: &str, loc: &Location) -> Result<String, String> {
        let (t, loc) = parse(layout, value, loc)?;
        let zone = loc.zone_at(t);
        let dt = jiff::tz::Offset::from_seconds(zone.offset)
            .unwrap()
            .to_datetime(t);
        let civil = Civil {
            year: dt.year().into(),
            month: dt.month().into(),
            day: dt.day().into(),
            hour: dt.hour().into(),
            minute: dt.minute().into(),
            second: dt.second().into(),
            nanosecond: dt.subsec_nanosecond() as u32,
            weekday: dt.weekday().to_sunday_zero_offset() as usize,
            year_day: dt.day_of_year().into(),
            offset: zone.offset,
            zone: &zone.abbreviation,
        };
        Ok(format!(
            "{} {}",
            format(&civil, named("RFC3339NANO")),
            loc.name()
        ))
    }

    #[test]
    fn reads_what_go_reads() {
        // Expected values are what Go's time.Parse gives for the same input.
        for (layout, value, want) in [
            (RFC3339, "2024-12-29T15:04:05Z", "2024-12-29T15:04:05Z UTC"),
            (
                RFC3339,
                "2024-12-29T15:04:05+01:00",
                "2024-12-29T15:04:05+01:00 ",
            ),
            (
                named("RFC3339NANO"),
                "2024-01-01T12:34:56.789Z",
                "2024-01-01T12:34:56.789Z UTC",
            ),
            // A fraction the layout does not ask for is read anyway.
            (
                "2006-01-02 15:04:05",
                "2024-12-29 15:04:05.123456789",
                "2024-12-29T15:04:05.123456789Z UTC",
            ),
            ("Jan _2 2006", "Feb  3 2013", "2013-02-03T00:00:00Z UTC"),
            ("Jan _2 2006", "feb 3 2013", "2013-02-03T00:00:00Z UTC"),
            (
                named("RFC1123"),
                "Mon, 02 Jan 2006 15:04:05 PST",
                "2006-01-02T15:04:05Z PST",
            ),
            (
                named("RFC1123Z"),
                "Mon, 02 Jan 2006 15:04:05 -0800",
                "2006-01-02T15:04:05-08:00 ",
            ),
            (named("KITCHEN"), "3:04PM", "0000-01-01T15:04:00Z UTC"),
            (named("KITCHEN"), "12:04AM", "0000-01-01T00:04:00Z UTC"),
            ("2006-002", "2024-060", "2024-02-29T00:00:00Z UTC"),
            ("06-01-02", "69-01-02", "1969-01-02T00:00:00Z UTC"),
            ("06-01-02", "68-01-02", "2068-01-02T00:00:00Z UTC"),
            (
                "2006-01-02 15:04 MST",
                "2024-06-01 10:00 GMT+3",
                "2024-06-01T13:00:00+03:00 GMT+3",
            ),
            (
                "2006-01-02 15:04:05.000",
                "2024-06-01 10:00:00,250",
                "2024-06-01T10:00:00.25Z UTC",
            ),
        ] {
            assert_eq!(
                read(layout, value).as_deref(),
                Ok(want),
                "{layout} / {value}"
            );
        }
    }

    #[test]
    fn refuses_what_go_refuses_with_gos_messages() {
        for (layout, value, want) in [
            (
                "2006-01-02",
                "invalid-date",
                r#"parsing time "invalid-date" as "2006-01-02": cannot parse "invalid-date" as "2006""#,
            ),
            (
                "2006-01-02",
                "2024-13-01",
                r#"parsing time "2024-13-01": month out of range"#,
            ),
            (
                "2006-01-02",
                "2023-02-29",
                r#"parsing time "2023-02-29": day out of range"#,
            ),
            (
                "2006-01-02",
                "2024-01-02 extra",
                r#"parsing time "2024-01-02 extra": extra text: " extra""#,
            ),
            (
                "2006-01-02 15:04",
                "2024-01-02 25:00",
                r#"parsing time "2024-01-02 25:00": hour out of range"#,
            ),
            (
                "2006-01-02T15:04",
                "2024-01-02 10:00",
                r#"parsing time "2024-01-02 10:00" as "2006-01-02T15:04": cannot parse " 10:00" as "T""#,
            ),
            (
                "2006-002",
                "2023-366",
                r#"parsing time "2023-366": day-of-year out of range"#,
            ),
            (
                "2006-01-002",
                "2024-03-060",
                r#"parsing time "2024-03-060": day-of-year does not match month"#,
            ),
            (
                RFC3339,
                "2024-01-02T10:00:00+0100",
                r#"parsing time "2024-01-02T10:00:00+0100" as "2006-01-02T15:04:05Z07:00": cannot parse "+0100" as "Z07:00""#,
            ),
            (
                "15:04 MST",
                "10:00 Pacific",
                r#"parsing time "10:00 Pacific" as "15:04 MST": cannot parse "Pacific" as "MST""#,
            ),
        ] {
            assert_eq!(
                read(layout, value),
                Err(want.to_owned()),
                "{layout} / {value}"
            );
        }
    }

    #[test]
    fn zones_are_matched_against_the_location_given() {
        let ny = Location::load("America/New_York").unwrap();
        let layout = "2006-01-02 15:04 MST";
        // Known abbreviations take the location's offset for them.
        assert_eq!(
            read_in(layout, "2024-07-01 10:00 EDT", &ny).as_deref(),
            Ok("2024-07-01T10:00:00-04:00 America/New_York")
        );
        assert_eq!(
            read_in(layout, "2024-01-01 10:00 EST", &ny).as_deref(),
            Ok("2024-01-01T10:00:00-05:00 America/New_York")
        );
        // An offset the location has then keeps the location.
        assert_eq!(
            read_in("2006-01-02 15:04 -0700", "2024-07-01 10:00 -0400", &ny).as_deref(),
            Ok("2024-07-01T10:00:00-04:00 America/New_York")
        );
        // Without a zone, the wall time is the location's.
        assert_eq!(
            read_in("2006-01-02 15:04", "2024-07-01 10:00", &ny).as_deref(),
            Ok("2024-07-01T10:00:00-04:00 America/New_York")
        );
    }
}
