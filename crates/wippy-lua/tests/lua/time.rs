//! The `time` module beyond what Wippy's own suite reaches: time zones (a
//! fixed zone, an IANA zone across DST), parse/format round trips,
//! Duration formatting, normalisation in `date`, exactness of Time
//! values, and the failures of the waits (reference §6).

use wippy_process::Payload;

use crate::common::*;

fn run(body: &str) -> Payload {
    let src = format!(
        "local time = require('time')\nlocal M = {{}}\nfunction M.main(...)\n{body}\nend\nreturn M\n"
    );
    let t = TestApp::new(vec![entry_time("body", &src)], 1);
    exit_value(t.run("body", vec![], TIMEOUT))
}

fn int(p: &Payload, k: &str) -> i64 {
    as_i64(p.get(k).unwrap_or_else(|| panic!("{k} missing in {p:?}")))
}

#[test]
fn a_fixed_zone_shows_its_offset_and_name() {
    let r = run(r#"
        local est = time.fixed_zone("EST", -5 * 3600)
        local t = time.date(2024, 12, 29, 15, 4, 5, 0, time.utc):in_location(est)
        local local_t = time.date(2024, 12, 29, 10, 4, 5, 0, est)
        return { shown = tostring(t), hour = t:hour(), zone = t:location():string(),
                 rfc = t:format_rfc3339(), numeric = t:format("-07:00 MST"),
                 same = t:equal(local_t), utc_again = t:utc():format(time.RFC3339) }
    "#);
    assert_eq!(text(&r, "shown"), "2024-12-29 10:04:05 -0500 EST");
    assert_eq!(int(&r, "hour"), 10);
    assert_eq!(text(&r, "zone"), "EST");
    assert_eq!(text(&r, "rfc"), "2024-12-29T10:04:05-05:00");
    assert_eq!(text(&r, "numeric"), "-05:00 EST");
    assert_eq!(r.get("same"), Some(&Payload::Bool(true)));
    assert_eq!(text(&r, "utc_again"), "2024-12-29T15:04:05Z");
}

#[test]
fn an_iana_zone_follows_daylight_saving_time() {
    let r = run(r#"
        local ny, err = time.load_location("America/New_York")
        assert(ny, tostring(err))
        local winter = time.date(2024, 1, 15, 12, 0, 0, 0, ny)
        local summer = time.date(2024, 7, 15, 12, 0, 0, 0, ny)
        -- the night the clocks go forward: 01:59:59 EST, then 03:00 EDT
        local before = time.date(2024, 3, 10, 1, 59, 59, 0, ny)
        local after = before:add("1s")
        -- a day later by the calendar is 23 hours later by the clock
        local day = time.date(2024, 3, 9, 12, 0, 0, 0, ny)
        return { winter = tostring(winter), summer = tostring(summer),
                 winter_utc = winter:utc():format(time.DATE_TIME),
                 summer_utc = summer:utc():format(time.DATE_TIME),
                 before = before:format("15:04:05 MST"), after = after:format("15:04:05 MST"),
                 day_hours = day:add_date(0, 0, 1):sub(day):hours(),
                 name = tostring(winter:location()) }
    "#);
    assert_eq!(text(&r, "winter"), "2024-01-15 12:00:00 -0500 EST");
    assert_eq!(text(&r, "summer"), "2024-07-15 12:00:00 -0400 EDT");
    assert_eq!(text(&r, "winter_utc"), "2024-01-15 17:00:00");
    assert_eq!(text(&r, "summer_utc"), "2024-07-15 16:00:00");
    assert_eq!(text(&r, "before"), "01:59:59 EST");
    assert_eq!(text(&r, "after"), "03:00:00 EDT");
    assert_eq!(int(&r, "day_hours"), 23);
    assert_eq!(text(&r, "name"), "America/New_York");
}

#[test]
fn parse_and_format_round_trip() {
    let r = run(r#"
        local out = {}
        for i, case in ipairs({
            { time.RFC3339NANO, "2024-02-29T23:59:59.123456789+05:30" },
            { time.RFC1123Z, "Thu, 29 Feb 2024 23:59:59 -0800" },
            { "Monday, January 2, 2006 3:04:05.000 PM", "Thursday, February 29, 2024 11:59:59.250 PM" },
            { time.KITCHEN, "3:04AM" },
            { time.DATE_ONLY, "0001-01-01" },
        }) do
            local t, err = time.parse(case[1], case[2])
            assert(t, tostring(err))
            out["case" .. i] = t:format(case[1])
        end
        local tokyo = time.load_location("Asia/Tokyo")
        local t = time.parse(time.DATE_TIME, "2024-06-01 09:00:00", tokyo)
        out.tokyo = tostring(t)
        out.tokyo_unix = t:unix()
        out.zero = time.parse(time.DATE_ONLY, "0001-01-01", time.utc):is_zero()
        return out
    "#);
    let cases = [
        "2024-02-29T23:59:59.123456789+05:30",
        "Thu, 29 Feb 2024 23:59:59 -0800",
        "Thursday, February 29, 2024 11:59:59.250 PM",
        "3:04AM",
        "0001-01-01",
    ];
    for (i, want) in cases.iter().enumerate() {
        assert_eq!(text(&r, &format!("case{}", i + 1)), *want, "{r:?}");
    }
    assert_eq!(text(&r, "tokyo"), "2024-06-01 09:00:00 +0900 JST");
    assert_eq!(int(&r, "tokyo_unix"), 1_717_200_000);
    assert_eq!(r.get("zero"), Some(&Payload::Bool(true)));
}

#[test]
fn a_bad_parse_is_an_invalid_error_with_gos_message() {
    let r = run(r#"
        local t, err = time.parse(time.DATE_ONLY, "2024-02-30")
        local d, derr = time.parse_duration("5 parsecs")
        local l, lerr = time.load_location("")
        return { t = t == nil, kind = err:kind(), msg = err:message(),
                 retryable = err:retryable(), dkind = derr:kind(), dmsg = tostring(derr),
                 lkind = lerr:kind(), lmsg = lerr:message() }
    "#);
    assert_eq!(r.get("t"), Some(&Payload::Bool(true)));
    assert_eq!(text(&r, "kind"), "Invalid");
    assert_eq!(
        text(&r, "msg"),
        r#"parsing time "2024-02-30": day out of range"#
    );
    assert_eq!(r.get("retryable"), Some(&Payload::Bool(false)));
    assert_eq!(text(&r, "dkind"), "Invalid");
    assert_eq!(
        text(&r, "dmsg"),
        r#"time: unknown unit " parsecs" in duration "5 parsecs""#
    );
    assert_eq!(text(&r, "lkind"), "Invalid");
    assert_eq!(text(&r, "lmsg"), "empty location name");
}

#[test]
fn durations_print_as_go_prints_them() {
    let r = run(r#"
        local d = time.parse_duration("1h2m3.5s")
        return { d = tostring(d), zero = tostring(time.parse_duration(0)),
                 ms = tostring(time.parse_duration(1.5 * time.MILLISECOND)),
                 neg = tostring(time.parse_duration("-90m")),
                 sum = tostring(d + time.parse_duration("57.5s")),
                 ns = d:nanoseconds(), us = time.parse_duration("1999ns"):microseconds(),
                 secs = d:seconds(), mins = time.parse_duration("90s"):minutes() }
    "#);
    assert_eq!(text(&r, "d"), "1h2m3.5s");
    assert_eq!(text(&r, "zero"), "0s");
    assert_eq!(text(&r, "ms"), "1.5ms");
    assert_eq!(text(&r, "neg"), "-1h30m0s");
    assert_eq!(text(&r, "sum"), "1h3m1s");
    assert_eq!(int(&r, "ns"), 3_723_500_000_000);
    // truncated to whole units
    assert_eq!(int(&r, "us"), 1);
    assert_eq!(r.get("secs"), Some(&Payload::Float(3723.5)));
    assert_eq!(r.get("mins"), Some(&Payload::Float(1.5)));
}

#[test]
fn date_normalises_fields_out_of_range() {
    let r = run(r#"
        local function at(...) return time.date(...):format(time.RFC3339NANO) end
        return {
            month13 = at(2024, 13, 1, 0, 0, 0, 0, time.utc),
            feb30 = at(2023, 2, 30, 0, 0, 0, 0, time.utc),
            day0 = at(2024, 3, 0, 0, 0, 0, 0, time.utc),
            hour25 = at(2024, 12, 31, 25, 0, 0, 0, time.utc),
            negsec = at(2024, 1, 1, 0, 0, -1, 0, time.utc),
            nanos = at(2024, 1, 1, 0, 0, 0, 1500000000, time.utc),
            month0 = at(2024, 0, 1, 0, 0, 0, 0, time.utc),
        }
    "#);
    for (k, want) in [
        ("month13", "2025-01-01T00:00:00Z"),
        ("feb30", "2023-03-02T00:00:00Z"),
        ("day0", "2024-02-29T00:00:00Z"),
        ("hour25", "2025-01-01T01:00:00Z"),
        ("negsec", "2023-12-31T23:59:59Z"),
        ("nanos", "2024-01-01T00:00:01.5Z"),
        ("month0", "2023-12-01T00:00:00Z"),
    ] {
        assert_eq!(text(&r, k), want, "{k}");
    }
}

#[test]
fn times_stay_exact_to_the_nanosecond() {
    let r = run(r#"
        local t = time.unix(1735484645, 123456789)
        local later = t:add(1)
        local back = later:add(-1)
        return { ns = later:nanosecond(), diff = later:sub(t):nanoseconds(),
                 equal = back:equal(t), text = later:utc():format(time.RFC3339NANO),
                 unix = t:unix(), before_epoch = time.unix(-1, 500000000):unix(),
                 unix_nano = time.unix(0, 42):unix_nano() }
    "#);
    assert_eq!(int(&r, "ns"), 123_456_790);
    assert_eq!(int(&r, "diff"), 1);
    assert_eq!(r.get("equal"), Some(&Payload::Bool(true)));
    assert_eq!(text(&r, "text"), "2024-12-29T15:04:05.12345679Z");
    assert_eq!(int(&r, "unix"), 1_735_484_645);
    assert_eq!(int(&r, "before_epoch"), -1);
    assert_eq!(int(&r, "unix_nano"), 42);
}

#[test]
fn now_is_local_with_a_monotonic_reading_and_constants_are_floats() {
    let r = run(r#"
        local t = time.now()
        return { text = tostring(t), loc = t:location():string(),
                 stripped = tostring(t:round(time.parse_duration(0))),
                 hour = time.HOUR, utc = tostring(time.utc), localtz = tostring(time.localtz),
                 month = time.MARCH, day = time.SATURDAY, nano_layout = time.STAMP_NANO }
    "#);
    let shown = text(&r, "text");
    assert!(shown.contains(" m=+"), "{shown}");
    assert!(!text(&r, "stripped").contains(" m="), "{r:?}");
    assert_eq!(text(&r, "loc"), "Local");
    assert_eq!(as_i64(r.get("hour").unwrap()), 3_600_000_000_000);
    assert_eq!(text(&r, "utc"), "UTC");
    assert_eq!(text(&r, "localtz"), "Local");
    assert_eq!(int(&r, "month"), 3);
    assert_eq!(int(&r, "day"), 6);
    assert_eq!(text(&r, "nano_layout"), "Jan _2 15:04:05.000000000");
}

#[test]
fn waits_refuse_bad_durations_as_wippy_does() {
    let r = run(r##"
        local out = {}
        local s, serr = time.sleep("soon")
        out.sleep = tostring(s) .. "|" .. serr:kind()
        out.sleep_zero = select("#", time.sleep(0))
        local a, aerr = time.after(0)
        out.after = tostring(a) .. "|" .. aerr:kind() .. "|" .. aerr:message()
        local tm, terr = time.timer("x")
        out.timer = tostring(tm) .. "|" .. terr:kind()
        local tk, kerr = time.ticker(-5)
        out.ticker = tostring(tk) .. "|" .. kerr:kind()
        local timer = time.timer("1h")
        local ok, rerr = pcall(timer.reset, timer, 0)
        out.reset = tostring(ok) .. "|" .. tostring(rerr)
        local bad_round = pcall(function() return time.now():round("1s") end)
        out.round_raises = not bad_round
        out.stopped = timer:stop()
        out.stopped_again = timer:stop()
        return out
    "##);
    assert_eq!(text(&r, "sleep"), "nil|Invalid");
    assert_eq!(int(&r, "sleep_zero"), 0);
    assert_eq!(text(&r, "after"), "nil|Invalid|duration must be positive");
    assert_eq!(text(&r, "timer"), "nil|Invalid");
    assert_eq!(text(&r, "ticker"), "nil|Invalid");
    assert_eq!(text(&r, "reset"), "false|duration must be positive");
    assert_eq!(r.get("round_raises"), Some(&Payload::Bool(true)));
    assert_eq!(r.get("stopped"), Some(&Payload::Bool(true)));
    assert_eq!(r.get("stopped_again"), Some(&Payload::Bool(false)));
}

#[test]
fn a_fired_timer_closes_its_channel_and_a_reset_rearms_it() {
    let r = run(r#"
        local out = {}
        local ch = time.after("5ms")
        local v, ok = ch:receive()
        out.after_value = type(v) .. "|" .. tostring(ok)
        local v2, ok2 = ch:receive()
        out.after_closed = tostring(v2) .. "|" .. tostring(ok2)
        local tm = time.timer("5ms")
        tm:channel():receive()
        out.fired_stop = tm:stop()
        out.reset = tm:reset("5ms")
        local v3, ok3 = tm:channel():receive()
        out.refired = type(v3) .. "|" .. tostring(ok3)
        local tk = time.ticker("1ms")
        tk:channel():receive()
        out.ticker_stop = tk:stop()
        out.ticker_stop_again = tk:stop()
        return out
    "#);
    assert_eq!(text(&r, "after_value"), "userdata|true");
    assert_eq!(text(&r, "after_closed"), "nil|false");
    assert_eq!(r.get("fired_stop"), Some(&Payload::Bool(false)));
    assert_eq!(r.get("reset"), Some(&Payload::Bool(false)));
    assert_eq!(text(&r, "refired"), "userdata|true");
    assert_eq!(r.get("ticker_stop"), Some(&Payload::Bool(true)));
    assert_eq!(r.get("ticker_stop_again"), Some(&Payload::Bool(true)));
}
