//! Go layouts: the layout language of Go's `time` package, whose
//! elements are the parts of the reference time
//! `Mon Jan 2 15:04:05 MST 2006` (`2006` is the year, `01` the month,
//! `.000` milliseconds, `Z07:00` the offset...). [`format`] writes a time
//! as Go's `Time.Format` does; [`parse`] (in `layout/parse.rs`) reads one
//! as Go's `time.Parse` does. Both find the elements of a layout the same
//! way ([`next_chunk`], Go's `nextStdChunk`).

use std::fmt::Write as _;

mod parse;

pub(crate) use parse::parse;

/// Go's RFC 3339 layout.
pub(crate) const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

/// The layout of Go's `Time.String`.
pub(crate) const GO_STRING: &str = "2006-01-02 15:04:05.999999999 -0700 MST";

/// Go's predefined layouts, by the name `time.*` gives them.
pub(crate) const NAMED: [(&str, &str); 17] = [
    ("RFC3339", RFC3339),
    ("RFC3339NANO", "2006-01-02T15:04:05.999999999Z07:00"),
    ("RFC822", "02 Jan 06 15:04 MST"),
    ("RFC822Z", "02 Jan 06 15:04 -0700"),
    ("RFC850", "Monday, 02-Jan-06 15:04:05 MST"),
    ("RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"),
    ("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"),
    ("KITCHEN", "3:04PM"),
    ("STAMP", "Jan _2 15:04:05"),
    ("STAMP_MILLI", "Jan _2 15:04:05.000"),
    ("STAMP_MICRO", "Jan _2 15:04:05.000000"),
    ("STAMP_NANO", "Jan _2 15:04:05.000000000"),
    ("DATE_TIME", "2006-01-02 15:04:05"),
    ("DATE_ONLY", "2006-01-02"),
    ("TIME_ONLY", "15:04:05"),
    ("ANSIC", "Mon Jan _2 15:04:05 2006"),
    ("UNIX_DATE", "Mon Jan _2 15:04:05 MST 2006"),
];

/// Month names, January first.
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

/// Day names, Sunday first (Go's `Weekday` numbering).
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A time as a layout reads it: its wall clock in its location, and that
/// location's zone at the time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Civil<'a> {
    pub(crate) year: i64,
    /// 1 to 12.
    pub(crate) month: i64,
    pub(crate) day: i64,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
    pub(crate) nanosecond: u32,
    /// 0 (Sunday) to 6.
    pub(crate) weekday: usize,
    /// 1 to 366.
    pub(crate) year_day: i64,
    /// Seconds east of UTC.
    pub(crate) offset: i32,
    /// The zone's abbreviation; empty when it has none.
    pub(crate) zone: &'a str,
}

/// One element of a Go layout: Go's `std*` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    LongMonth,    // January
    Month,        // Jan
    NumMonth,     // 1
    ZeroMonth,    // 01
    LongWeekDay,  // Monday
    WeekDay,      // Mon
    Day,          // 2
    UnderDay,     // _2
    ZeroDay,      // 02
    UnderYearDay, // __2
    ZeroYearDay,  // 002
    Hour,         // 15
    Hour12,       // 3
    ZeroHour12,   // 03
    Minute,       // 4
    ZeroMinute,   // 04
    Second,       // 5
    ZeroSecond,   // 05
    LongYear,     // 2006
    Year,         // 06
    UpperPm,      // PM
    LowerPm,      // pm
    ZoneName,     // MST
    /// `Z0700` and friends (`iso`, which print `Z` at offset zero) and
    /// `-0700` and friends (always numeric).
    Zone {
        iso: bool,
        colon: bool,
        minutes: bool,
        seconds: bool,
    },
    /// `.000` / `,000` (`trim` false) or `.999` / `,999` (`trim` true).
    Frac {
        sep: char,
        digits: usize,
        trim: bool,
    },
}

/// The Go layout element that a `0` followed by `1`..=`6` is.
const ZERO_X: [Chunk; 6] = [
    Chunk::ZeroMonth,
    Chunk::ZeroDay,
    Chunk::ZeroHour12,
    Chunk::ZeroMinute,
    Chunk::ZeroSecond,
    Chunk::Year,
];

/// Zone suffixes after the `-` or `Z`, in the order Go tries them:
/// (text, colon, minutes, seconds).
const ZONES: [(&str, bool, bool, bool); 5] = [
    ("070000", false, true, true),
    ("07:00:00", true, true, true),
    ("0700", false, true, false),
    ("07:00", true, true, false),
    ("07", false, false, false),
];

/// Finds the first layout element in `layout` exactly as Go's
/// `nextStdChunk` does: returns where the literal prefix ends, the element,
/// and where the rest begins. Every element starts with an ASCII byte, so
/// both positions are char boundaries.
fn next_chunk(layout: &str) -> Option<(usize, Chunk, usize)> {
    use Chunk::*;
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| b[i..].starts_with(s.as_bytes());
    // "Jan" and "Mon" are elements only when no lower-case letter follows
    // ("Month" is text).
    let word_ends = |i: usize| !b.get(i).is_some_and(u8::is_ascii_lowercase);
    for i in 0..b.len() {
        let found = match b[i] {
            b'J' if at(i, "January") => Some((LongMonth, 7)),
            b'J' if at(i, "Jan") && word_ends(i + 3) => Some((Month, 3)),
            b'M' if at(i, "Monday") => Some((LongWeekDay, 6)),
            b'M' if at(i, "Mon") && word_ends(i + 3) => Some((WeekDay, 3)),
            b'M' if at(i, "MST") => Some((ZoneName, 3)),
            b'0' if matches!(b.get(i + 1), Some(b'1'..=b'6')) => {
                Some((ZERO_X[usize::from(b[i + 1] - b'1')], 2))
            }
            b'0' if at(i, "002") => Some((ZeroYearDay, 3)),
            b'1' if at(i, "15") => Some((Hour, 2)),
            b'1' => Some((NumMonth, 1)),
            b'2' if at(i, "2006") => Some((LongYear, 4)),
            b'2' => Some((Day, 1)),
            // "_2006" is a literal "_" and the year.
            b'_' if at(i, "_2006") => return Some((i + 1, LongYear, i + 5)),
            b'_' if at(i, "_2") => Some((UnderDay, 2)),
            b'_' if at(i, "__2") => Some((UnderYearDay, 3)),
            b'3' => Some((Hour12, 1)),
            b'4' => Some((Minute, 1)),
            b'5' => Some((Second, 1)),
            b'P' if at(i, "PM") => Some((UpperPm, 2)),
            b'p' if at(i, "pm") => Some((LowerPm, 2)),
            c @ (b'-' | b'Z') => {
                ZONES
                    .iter()
                    .find(|z| at(i + 1, z.0))
                    .map(|&(text, colon, minutes, seconds)| {
                        let iso = c == b'Z';
                        (
                            Zone {
                                iso,
                                colon,
                                minutes,
                                seconds,
                            },
                            1 + text.len(),
                        )
                    })
            }
            c @ (b'.' | b',') if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let digit = b[i + 1];
                let run = b[i + 1..].iter().take_while(|&&x| x == digit).count();
                // A run followed by another digit is not a fraction.
                (!b.get(i + 1 + run).is_some_and(u8::is_ascii_digit)).then(|| {
                    let frac = Frac {
                        sep: char::from(c),
                        // Go keeps the count in 12 bits, so it wraps.
                        digits: run & 0xfff,
                        trim: digit == b'9',
                    };
                    (frac, 1 + run)
                })
            }
            _ => None,
        };
        if let Some((chunk, len)) = found {
            return Some((i, chunk, i + len));
        }
    }
    None
}

/// Appends `x` as Go's `appendInt` does: a sign, then at least `width`
/// digits.
fn push_int(out: &mut String, x: i64, width: usize) {
    if x < 0 {
        out.push('-');
    }
    let _ = write!(out, "{:0width$}", x.unsigned_abs());
}

/// Appends the offset `seconds` as Go does: sign, hours, then minutes and
/// seconds as the element asks. The sign is that of the whole minutes
/// (Go's), so an offset of -30 s prints as `+00...`.
fn push_offset(out: &mut String, seconds: i32, colon: bool, minutes: bool, with_seconds: bool) {
    let mut zone = seconds / 60;
    let mut abs = seconds;
    if zone < 0 {
        out.push('-');
        zone = -zone;
        abs = -abs;
    } else {
        out.push('+');
    }
    push_int(out, i64::from(zone / 60), 2);
    if colon {
        out.push(':');
    }
    if minutes {
        push_int(out, i64::from(zone % 60), 2);
    }
    if with_seconds {
        if colon {
            out.push(':');
        }
        push_int(out, i64::from(abs % 60), 2);
    }
}

/// Formats `t` with a Go layout, the way Go's `time.Time.Format` does:
/// layout elements are recognised as Go's `nextStdChunk` recognises them,
/// everything else is copied.
pub(crate) fn format(t: &Civil<'_>, layout: &str) -> String {
    let hour12 = (t.hour + 11) % 12 + 1;
    let month_name = MONTHS[(t.month - 1) as usize];
    let weekday = WEEKDAYS[t.weekday];

    let mut out = String::with_capacity(layout.len() + 10);
    let mut rest = layout;
    while let Some((start, chunk, end)) = next_chunk(rest) {
        out.push_str(&rest[..start]);
        rest = &rest[end..];
        match chunk {
            Chunk::LongMonth => out.push_str(month_name),
            Chunk::Month => out.push_str(&month_name[..3]),
            Chunk::NumMonth => push_int(&mut out, t.month, 0),
            Chunk::ZeroMonth => push_int(&mut out, t.month, 2),
            Chunk::LongWeekDay => out.push_str(weekday),
            Chunk::WeekDay => out.push_str(&weekday[..3]),
            Chunk::Day => push_int(&mut out, t.day, 0),
            Chunk::UnderDay => {
                let _ = write!(out, "{:>2}", t.day);
            }
            Chunk::ZeroDay => push_int(&mut out, t.day, 2),
            Chunk::UnderYearDay => {
                let _ = write!(out, "{:>3}", t.year_day);
            }
            Chunk::ZeroYearDay => push_int(&mut out, t.year_day, 3),
            Chunk::Hour => push_int(&mut out, t.hour, 2),
            Chunk::Hour12 => push_int(&mut out, hour12, 0),
            Chunk::ZeroHour12 => push_int(&mut out, hour12, 2),
            Chunk::Minute => push_int(&mut out, t.minute, 0),
            Chunk::ZeroMinute => push_int(&mut out, t.minute, 2),
            Chunk::Second => push_int(&mut out, t.second, 0),
            Chunk::ZeroSecond => push_int(&mut out, t.second, 2),
            Chunk::LongYear => push_int(&mut out, t.year, 4),
            // Go drops the sign of a year before year 0 here.
            Chunk::Year => push_int(&mut out, t.year.abs() % 100, 2),
            Chunk::UpperPm => out.push_str(if t.hour >= 12 { "PM" } else { "AM" }),
            Chunk::LowerPm => out.push_str(if t.hour >= 12 { "pm" } else { "am" }),
            // A zone without a name prints as -0700 would.
            Chunk::ZoneName if t.zone.is_empty() => {
                push_offset(&mut out, t.offset, false, true, false)
            }
            Chunk::ZoneName => out.push_str(t.zone),
            Chunk::Zone { iso: true, .. } if t.offset == 0 => out.push('Z'),
            Chunk::Zone {
                colon,
                minutes,
                seconds,
                ..
            } => push_offset(&mut out, t.offset, colon, minutes, seconds),
            Chunk::Frac { sep, digits, trim } => {
                let all = format!("{:09}", t.nanosecond);
                let mut shown = &all[..digits.min(9)];
                if trim {
                    shown = shown.trim_end_matches('0');
                    if shown.is_empty() {
                        continue;
                    }
                }
                out.push(sep);
                out.push_str(shown);
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i128 = 1_000_000_000;

    /// The civil fields of `ns` after the epoch, in UTC.
    fn utc(ns: i128) -> Civil<'static> {
        at_offset(ns, 0, "UTC")
    }

    /// The civil fields of `ns` after the epoch at `offset` seconds east,
    /// in a zone abbreviated `zone`.
    fn at_offset(ns: i128, offset: i32, zone: &'static str) -> Civil<'static> {
        let ts = jiff::Timestamp::from_nanosecond(ns).unwrap();
        let dt = jiff::tz::Offset::from_seconds(offset)
            .unwrap()
            .to_datetime(ts);
        Civil {
            year: dt.year().into(),
            month: dt.month().into(),
            day: dt.day().into(),
            hour: dt.hour().into(),
            minute: dt.minute().into(),
            second: dt.second().into(),
            nanosecond: dt.subsec_nanosecond() as u32,
            weekday: dt.weekday().to_sunday_zero_offset() as usize,
            year_day: dt.day_of_year().into(),
            offset,
            zone,
        }
    }

    fn format_time(ns: i128, layout: &str) -> String {
        format(&utc(ns), layout)
    }

    /// The instants every layout is checked on; expected strings below were
    /// printed by Go 1.19's `time.Time.Format` for the same instants in UTC.
    const INSTANTS: [i128; 6] = [
        // 2009-11-10 23:00:00, a zero fraction
        1_257_894_000 * NS,
        // 2009-11-10 23:04:05.012345678
        1_257_894_245 * NS + 12_345_678,
        // 1969-12-31 23:59:59.999999999, the last nanosecond before the epoch
        -NS + 999_999_999,
        // 1905-03-07 09:08:01.1, one-digit fields, morning
        -2_045_573_519 * NS + 100_000_000,
        // 0007-01-02 12:00:00.0000005, noon, a two-digit year day
        -61_946_164_800 * NS + 500,
        // -0043-03-15 00:30:00, a year before year 0, just after midnight
        -63_517_822_200 * NS,
    ];

    fn assert_layouts(cases: &[(&str, [&str; 6])]) {
        for (layout, expected) in cases {
            for (t, want) in INSTANTS.iter().zip(expected) {
                assert_eq!(format_time(*t, layout), *want, "layout {layout:?}, {t:?}");
            }
        }
    }

    #[test]
    fn formats_month_and_weekday_tokens_like_go() {
        assert_layouts(&[
            (
                "January|Jan|1|01",
                [
                    "November|Nov|11|11",
                    "November|Nov|11|11",
                    "December|Dec|12|12",
                    "March|Mar|3|03",
                    "January|Jan|1|01",
                    "March|Mar|3|03",
                ],
            ),
            (
                "Monday|Mon",
                [
                    "Tuesday|Tue",
                    "Tuesday|Tue",
                    "Wednesday|Wed",
                    "Tuesday|Tue",
                    "Tuesday|Tue",
                    "Friday|Fri",
                ],
            ),
        ]);
    }

    #[test]
    fn formats_day_and_year_day_tokens_like_go() {
        assert_layouts(&[(
            "2|_2|02|__2|002",
            [
                "10|10|10|314|314",
                "10|10|10|314|314",
                "31|31|31|365|365",
                "7| 7|07| 66|066",
                "2| 2|02|  2|002",
                "15|15|15| 74|074",
            ],
        )]);
    }

    #[test]
    fn formats_clock_tokens_like_go() {
        assert_layouts(&[(
            "15|3|03|4|04|5|05",
            [
                "23|11|11|0|00|0|00",
                "23|11|11|4|04|5|05",
                "23|11|11|59|59|59|59",
                "09|9|09|8|08|1|01",
                "12|12|12|0|00|0|00",
                "00|12|12|30|30|0|00",
            ],
        )]);
    }

    #[test]
    fn formats_year_and_meridiem_tokens_like_go() {
        assert_layouts(&[(
            "2006|06|PM|pm",
            [
                "2009|09|PM|pm",
                "2009|09|PM|pm",
                "1969|69|PM|pm",
                "1905|05|AM|am",
                "0007|07|PM|pm",
                "-0043|43|AM|am",
            ],
        )]);
    }

    #[test]
    fn formats_zone_tokens_as_go_formats_utc() {
        let iso = "MST|Z0700|Z07:00|Z07|Z070000|Z07:00:00";
        let numeric = "-0700|-07:00|-07|-070000|-07:00:00";
        assert_layouts(&[
            (iso, ["UTC|Z|Z|Z|Z|Z"; 6]),
            (numeric, ["+0000|+00:00|+00|+000000|+00:00:00"; 6]),
        ]);
    }

    #[test]
    fn formats_fractional_seconds_like_go() {
        assert_layouts(&[
            (
                ".0|.00|.000|.0000|.00000",
                [
                    ".0|.00|.000|.0000|.00000",
                    ".0|.01|.012|.0123|.01234",
                    ".9|.99|.999|.9999|.99999",
                    ".1|.10|.100|.1000|.10000",
                    ".0|.00|.000|.0000|.00000",
                    ".0|.00|.000|.0000|.00000",
                ],
            ),
            (
                ".000000|.0000000|.00000000|.000000000",
                [
                    ".000000|.0000000|.00000000|.000000000",
                    ".012345|.0123456|.01234567|.012345678",
                    ".999999|.9999999|.99999999|.999999999",
                    ".100000|.1000000|.10000000|.100000000",
                    ".000000|.0000005|.00000050|.000000500",
                    ".000000|.0000000|.00000000|.000000000",
                ],
            ),
            (
                ".9|.99|.999|.9999|.99999",
                [
                    "||||",
                    "|.01|.012|.0123|.01234",
                    ".9|.99|.999|.9999|.99999",
                    ".1|.1|.1|.1|.1",
                    "||||",
                    "||||",
                ],
            ),
            (
                ".999999|.9999999|.99999999|.999999999",
                [
                    "|||",
                    ".012345|.0123456|.01234567|.012345678",
                    ".999999|.9999999|.99999999|.999999999",
                    ".1|.1|.1|.1",
                    "|.0000005|.0000005|.0000005",
                    "|||",
                ],
            ),
            (
                ",0|,000|,000000000|,9|,999|,999999999",
                [
                    ",0|,000|,000000000|||",
                    ",0|,012|,012345678||,012|,012345678",
                    ",9|,999|,999999999|,9|,999|,999999999",
                    ",1|,100|,100000000|,1|,1|,1",
                    ",0|,000|,000000500|||,0000005",
                    ",0|,000|,000000000|||",
                ],
            ),
            // More than nine digits print nine.
            (
                ".0000000000|.9999999999",
                [
                    ".000000000|",
                    ".012345678|.012345678",
                    ".999999999|.999999999",
                    ".100000000|.1",
                    ".000000500|.0000005",
                    ".000000000|",
                ],
            ),
        ]);
    }

    #[test]
    fn fraction_digit_count_wraps_at_4096_like_go() {
        let t = INSTANTS[1];
        let layout = |digit: &str, n: usize| format!("5.{}|", digit.repeat(n));
        assert_eq!(format_time(t, &layout("0", 4095)), "5.012345678|");
        assert_eq!(format_time(t, &layout("0", 4096)), "5.|");
        assert_eq!(format_time(t, &layout("9", 4096)), "5|");
        assert_eq!(format_time(t, &layout("0", 4098)), "5.01|");
        assert_eq!(format_time(t, &layout("9", 4098)), "5.01|");
    }

    #[test]
    fn tokenizes_words_like_go() {
        assert_layouts(&[
            ("Janet", ["Janet"; 6]),
            ("Jan.", ["Nov.", "Nov.", "Dec.", "Mar.", "Jan.", "Mar."]),
            ("JanX", ["NovX", "NovX", "DecX", "MarX", "JanX", "MarX"]),
            (
                "Jan2006",
                [
                    "Nov2009", "Nov2009", "Dec1969", "Mar1905", "Jan0007", "Mar-0043",
                ],
            ),
            ("Month", ["Month"; 6]),
            ("Monthly", ["Monthly"; 6]),
            ("Mon.", ["Tue.", "Tue.", "Wed.", "Tue.", "Tue.", "Fri."]),
            ("MonX", ["TueX", "TueX", "WedX", "TueX", "TueX", "FriX"]),
            ("MSTx", ["UTCx"; 6]),
            ("MSt", ["MSt"; 6]),
            (
                "Pm pM PMpm",
                [
                    "Pm pM PMpm",
                    "Pm pM PMpm",
                    "Pm pM PMpm",
                    "Pm pM AMam",
                    "Pm pM PMpm",
                    "Pm pM AMam",
                ],
            ),
            (
                "é2006ü — 15h",
                [
                    "é2009ü — 23h",
                    "é2009ü — 23h",
                    "é1969ü — 23h",
                    "é1905ü — 09h",
                    "é0007ü — 12h",
                    "é-0043ü — 00h",
                ],
            ),
            (
                "January 2, 2006 at 3:04pm",
                [
                    "November 10, 2009 at 11:00pm",
                    "November 10, 2009 at 11:04pm",
                    "December 31, 1969 at 11:59pm",
                    "March 7, 1905 at 9:08am",
                    "January 2, 0007 at 12:00pm",
                    "March 15, -0043 at 12:30am",
                ],
            ),
        ]);
    }

    #[test]
    fn tokenizes_digit_runs_like_go() {
        assert_layouts(&[
            // "1" is the month unless "15"; what follows is read afresh.
            ("10", ["110", "110", "120", "30", "10", "30"]),
            ("115", ["1123", "1123", "1223", "309", "112", "300"]),
            ("151", ["2311", "2311", "2312", "093", "121", "003"]),
            ("7 8 9 6", ["7 8 9 6"; 6]),
            ("0", ["0"; 6]),
            ("00", ["00"; 6]),
            ("007", ["007"; 6]),
            ("0002", ["0314", "0314", "0365", "0066", "0002", "0074"]),
            (
                "02006",
                ["10009", "10009", "31069", "07005", "02007", "15043"],
            ),
            ("0102", ["1110", "1110", "1231", "0307", "0102", "0315"]),
            // "2" is the day unless "2006".
            ("2007", ["10007", "10007", "31007", "7007", "2007", "15007"]),
            (
                "20066",
                ["20096", "20096", "19696", "19056", "00076", "-00436"],
            ),
            (
                "22006",
                ["102009", "102009", "311969", "71905", "20007", "15-0043"],
            ),
            (
                "_2006",
                ["_2009", "_2009", "_1969", "_1905", "_0007", "_-0043"],
            ),
            (
                "__2006",
                ["314009", "314009", "365069", " 66005", "  2007", " 74043"],
            ),
            ("_20", ["100", "100", "310", " 70", " 20", "150"]),
            ("__", ["__"; 6]),
            ("_ 2", ["_ 10", "_ 10", "_ 31", "_ 7", "_ 2", "_ 15"]),
            (
                "2006-002",
                [
                    "2009-314",
                    "2009-314",
                    "1969-365",
                    "1905-066",
                    "0007-002",
                    "-0043-074",
                ],
            ),
            ("4.5", ["0.0", "4.5", "59.59", "8.1", "0.0", "30.0"]),
        ]);
    }

    #[test]
    fn tokenizes_zones_and_fractions_like_go() {
        assert_layouts(&[
            ("-07:0", ["+00:0"; 6]),
            ("-0", ["-0"; 6]),
            ("-07000", ["+00000"; 6]),
            ("Z", ["Z"; 6]),
            ("Z0", ["Z0"; 6]),
            ("Z07:0", ["Z:0"; 6]),
            ("Z0700 Z", ["Z Z"; 6]),
            (
                "05.000",
                ["00.000", "05.012", "59.999", "01.100", "00.000", "00.000"],
            ),
            // A run of zeros followed by another digit is not a fraction.
            (
                "05.0001",
                [
                    "00.0011", "05.0011", "59.0012", "01.0003", "00.0001", "00.0003",
                ],
            ),
            ("5.99x", ["0x", "5.01x", "59.99x", "1.1x", "0x", "0x"]),
            (".9.0", [".0", ".0", ".9.9", ".1.1", ".0", ".0"]),
            (
                "..000",
                ["..000", "..012", "..999", "..100", "..000", "..000"],
            ),
            (".", ["."; 6]),
            (",", [","; 6]),
            (".09", [".09"; 6]),
            (".90", [".90"; 6]),
            // A fraction needs no seconds before it.
            (
                "x.000",
                ["x.000", "x.012", "x.999", "x.100", "x.000", "x.000"],
            ),
            (
                ".000.9",
                [".000", ".012", ".999.9", ".100.1", ".000", ".000"],
            ),
            (
                "15:04:05,000",
                [
                    "23:00:00,000",
                    "23:04:05,012",
                    "23:59:59,999",
                    "09:08:01,100",
                    "12:00:00,000",
                    "00:30:00,000",
                ],
            ),
        ]);
    }

    #[test]
    fn formats_go_predefined_layouts() {
        // Go's layout constants (DateTime, DateOnly and TimeOnly are Go 1.20's).
        const LAYOUT: &str = "01/02 03:04:05PM '06 -0700";
        const ANSIC: &str = "Mon Jan _2 15:04:05 2006";
        const UNIX_DATE: &str = "Mon Jan _2 15:04:05 MST 2006";
        const RUBY_DATE: &str = "Mon Jan 02 15:04:05 -0700 2006";
        const RFC822: &str = "02 Jan 06 15:04 MST";
        const RFC822Z: &str = "02 Jan 06 15:04 -0700";
        const RFC850: &str = "Monday, 02-Jan-06 15:04:05 MST";
        const RFC1123: &str = "Mon, 02 Jan 2006 15:04:05 MST";
        const RFC1123Z: &str = "Mon, 02 Jan 2006 15:04:05 -0700";
        const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";
        const KITCHEN: &str = "3:04PM";
        const STAMP: &str = "Jan _2 15:04:05";
        const STAMP_MILLI: &str = "Jan _2 15:04:05.000";
        const STAMP_MICRO: &str = "Jan _2 15:04:05.000000";
        const STAMP_NANO: &str = "Jan _2 15:04:05.000000000";
        const DATE_TIME: &str = "2006-01-02 15:04:05";
        const DATE_ONLY: &str = "2006-01-02";
        const TIME_ONLY: &str = "15:04:05";
        assert_layouts(&[
            (
                LAYOUT,
                [
                    "11/10 11:00:00PM '09 +0000",
                    "11/10 11:04:05PM '09 +0000",
                    "12/31 11:59:59PM '69 +0000",
                    "03/07 09:08:01AM '05 +0000",
                    "01/02 12:00:00PM '07 +0000",
                    "03/15 12:30:00AM '43 +0000",
                ],
            ),
            (
                ANSIC,
                [
                    "Tue Nov 10 23:00:00 2009",
                    "Tue Nov 10 23:04:05 2009",
                    "Wed Dec 31 23:59:59 1969",
                    "Tue Mar  7 09:08:01 1905",
                    "Tue Jan  2 12:00:00 0007",
                    "Fri Mar 15 00:30:00 -0043",
                ],
            ),
            (
                UNIX_DATE,
                [
                    "Tue Nov 10 23:00:00 UTC 2009",
                    "Tue Nov 10 23:04:05 UTC 2009",
                    "Wed Dec 31 23:59:59 UTC 1969",
                    "Tue Mar  7 09:08:01 UTC 1905",
                    "Tue Jan  2 12:00:00 UTC 0007",
                    "Fri Mar 15 00:30:00 UTC -0043",
                ],
            ),
            (
                RUBY_DATE,
                [
                    "Tue Nov 10 23:00:00 +0000 2009",
                    "Tue Nov 10 23:04:05 +0000 2009",
                    "Wed Dec 31 23:59:59 +0000 1969",
                    "Tue Mar 07 09:08:01 +0000 1905",
                    "Tue Jan 02 12:00:00 +0000 0007",
                    "Fri Mar 15 00:30:00 +0000 -0043",
                ],
            ),
            (
                RFC822,
                [
                    "10 Nov 09 23:00 UTC",
                    "10 Nov 09 23:04 UTC",
                    "31 Dec 69 23:59 UTC",
                    "07 Mar 05 09:08 UTC",
                    "02 Jan 07 12:00 UTC",
                    "15 Mar 43 00:30 UTC",
                ],
            ),
            (
                RFC822Z,
                [
                    "10 Nov 09 23:00 +0000",
                    "10 Nov 09 23:04 +0000",
                    "31 Dec 69 23:59 +0000",
                    "07 Mar 05 09:08 +0000",
                    "02 Jan 07 12:00 +0000",
                    "15 Mar 43 00:30 +0000",
                ],
            ),
            (
                RFC850,
                [
                    "Tuesday, 10-Nov-09 23:00:00 UTC",
                    "Tuesday, 10-Nov-09 23:04:05 UTC",
                    "Wednesday, 31-Dec-69 23:59:59 UTC",
                    "Tuesday, 07-Mar-05 09:08:01 UTC",
                    "Tuesday, 02-Jan-07 12:00:00 UTC",
                    "Friday, 15-Mar-43 00:30:00 UTC",
                ],
            ),
            (
                RFC1123,
                [
                    "Tue, 10 Nov 2009 23:00:00 UTC",
                    "Tue, 10 Nov 2009 23:04:05 UTC",
                    "Wed, 31 Dec 1969 23:59:59 UTC",
                    "Tue, 07 Mar 1905 09:08:01 UTC",
                    "Tue, 02 Jan 0007 12:00:00 UTC",
                    "Fri, 15 Mar -0043 00:30:00 UTC",
                ],
            ),
            (
                RFC1123Z,
                [
                    "Tue, 10 Nov 2009 23:00:00 +0000",
                    "Tue, 10 Nov 2009 23:04:05 +0000",
                    "Wed, 31 Dec 1969 23:59:59 +0000",
                    "Tue, 07 Mar 1905 09:08:01 +0000",
                    "Tue, 02 Jan 0007 12:00:00 +0000",
                    "Fri, 15 Mar -0043 00:30:00 +0000",
                ],
            ),
            (
                RFC3339,
                [
                    "2009-11-10T23:00:00Z",
                    "2009-11-10T23:04:05Z",
                    "1969-12-31T23:59:59Z",
                    "1905-03-07T09:08:01Z",
                    "0007-01-02T12:00:00Z",
                    "-0043-03-15T00:30:00Z",
                ],
            ),
            (
                RFC3339_NANO,
                [
                    "2009-11-10T23:00:00Z",
                    "2009-11-10T23:04:05.012345678Z",
                    "1969-12-31T23:59:59.999999999Z",
                    "1905-03-07T09:08:01.1Z",
                    "0007-01-02T12:00:00.0000005Z",
                    "-0043-03-15T00:30:00Z",
                ],
            ),
            (
                KITCHEN,
                [
                    "11:00PM", "11:04PM", "11:59PM", "9:08AM", "12:00PM", "12:30AM",
                ],
            ),
            (
                STAMP,
                [
                    "Nov 10 23:00:00",
                    "Nov 10 23:04:05",
                    "Dec 31 23:59:59",
                    "Mar  7 09:08:01",
                    "Jan  2 12:00:00",
                    "Mar 15 00:30:00",
                ],
            ),
            (
                STAMP_MILLI,
                [
                    "Nov 10 23:00:00.000",
                    "Nov 10 23:04:05.012",
                    "Dec 31 23:59:59.999",
                    "Mar  7 09:08:01.100",
                    "Jan  2 12:00:00.000",
                    "Mar 15 00:30:00.000",
                ],
            ),
            (
                STAMP_MICRO,
                [
                    "Nov 10 23:00:00.000000",
                    "Nov 10 23:04:05.012345",
                    "Dec 31 23:59:59.999999",
                    "Mar  7 09:08:01.100000",
                    "Jan  2 12:00:00.000000",
                    "Mar 15 00:30:00.000000",
                ],
            ),
            (
                STAMP_NANO,
                [
                    "Nov 10 23:00:00.000000000",
                    "Nov 10 23:04:05.012345678",
                    "Dec 31 23:59:59.999999999",
                    "Mar  7 09:08:01.100000000",
                    "Jan  2 12:00:00.000000500",
                    "Mar 15 00:30:00.000000000",
                ],
            ),
            (
                DATE_TIME,
                [
                    "2009-11-10 23:00:00",
                    "2009-11-10 23:04:05",
                    "1969-12-31 23:59:59",
                    "1905-03-07 09:08:01",
                    "0007-01-02 12:00:00",
                    "-0043-03-15 00:30:00",
                ],
            ),
            (
                DATE_ONLY,
                [
                    "2009-11-10",
                    "2009-11-10",
                    "1969-12-31",
                    "1905-03-07",
                    "0007-01-02",
                    "-0043-03-15",
                ],
            ),
            (
                TIME_ONLY,
                [
                    "23:00:00", "23:04:05", "23:59:59", "09:08:01", "12:00:00", "00:30:00",
                ],
            ),
        ]);
    }

    #[test]
    fn formats_go_layouts() {
        // 2009-11-10 23:00:00 UTC
        let t = 1_257_894_000 * NS;
        assert_eq!(format_time(t, RFC3339), "2009-11-10T23:00:00Z");
        assert_eq!(format_time(t, "Jan _2 15:04:05.000"), "Nov 10 23:00:00.000");
    }

    #[test]
    fn formats_zones_with_offsets_and_names_like_go() {
        // 2009-11-10 23:00:00 UTC seen at other offsets.
        let t = 1_257_894_000 * NS;
        let layout = "15:04 MST|Z07:00|-0700|-07|Z070000|-07:00:00";
        assert_eq!(
            format(&at_offset(t, -18_000, "EST"), layout),
            "18:00 EST|-05:00|-0500|-05|-050000|-05:00:00"
        );
        assert_eq!(
            format(&at_offset(t, 19_800, "IST"), layout),
            "04:30 IST|+05:30|+0530|+05|+053000|+05:30:00"
        );
        // A zone without a name prints its offset for `MST`.
        assert_eq!(
            format(&at_offset(t, 20_700, ""), layout),
            "04:45 +0545|+05:45|+0545|+05|+054500|+05:45:00"
        );
        // Go takes the sign from whole minutes: -30 s is "+00" with "-30" seconds.
        assert_eq!(
            format(&at_offset(t, -30, ""), layout),
            "22:59 +0000|+00:00|+0000|+00|+0000-30|+00:00:-30"
        );
    }

    #[test]
    fn the_named_layouts_are_gos() {
        let t = 1_257_894_245 * NS + 12_345_678;
        let named = |name: &str| NAMED.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(
            format_time(t, named("RFC3339NANO")),
            "2009-11-10T23:04:05.012345678Z"
        );
        assert_eq!(format_time(t, named("KITCHEN")), "11:04PM");
        assert_eq!(
            format_time(t, named("RFC850")),
            "Tuesday, 10-Nov-09 23:04:05 UTC"
        );
        assert_eq!(
            format(&at_offset(t, 3600, "CET"), GO_STRING),
            "2009-11-11 00:04:05.012345678 +0100 CET"
        );
    }
}
