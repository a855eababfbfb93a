//! The `os` global, Wippy's (reference §6.4, addendum §5): `time`, `date`,
//! `clock`, `difftime`, `platform`, and nothing that reaches the OS; an
//! entry may also list it under `modules`.

use wippy_process::Payload;

use crate::common::*;

fn run(body: &str) -> Payload {
    let src = format!("local M = {{}}\nfunction M.main(...)\n{body}\nend\nreturn M\n");
    // Listed under modules, as Wippy code often does: it loads, and
    // require("os") is the global.
    let e = Lua {
        modules: &["os"],
        ..entry("body", &src)
    };
    let t = TestApp::new(vec![e], 1);
    exit_value(t.run("body", vec![], TIMEOUT))
}

#[test]
fn os_is_wippys_and_the_listed_module_is_the_global() {
    let r = run(r#"
        local names = {}
        for k in pairs(os) do names[#names + 1] = k end
        table.sort(names)
        return { names = table.concat(names, ","), same = require("os") == os,
                 platform = os.platform }
    "#);
    assert_eq!(text(&r, "names"), "clock,date,difftime,platform,time");
    assert_eq!(r.get("same"), Some(&Payload::Bool(true)));
    assert_eq!(text(&r, "platform"), "wippy");
}

#[test]
fn date_formats_a_time_in_utc_and_time_reads_a_table_back() {
    let r = run(r#"
        -- 2026-06-13 19:27:08 UTC, a Saturday
        local t = 1781378828
        local parts = os.date("!*t", t)
        return {
            text = os.date("!%Y-%m-%d %H:%M:%S %a %b %j %p %%", t),
            c = os.date("!%c", t),
            unknown = os.date("!%Q", t),
            wday = parts.wday, yday = parts.yday, month = parts.month, isdst = parts.isdst,
            diff = os.difftime(t + 90, t),
            now = math.abs(os.time() - os.time(os.date("*t"))) <= 1,
            carried = os.time({ year = 2026, month = 13, day = 1, hour = 0 })
                == os.time({ year = 2027, month = 1, day = 1 }),
            clock = os.clock() >= 0,
        }
    "#);
    assert_eq!(text(&r, "text"), "2026-06-13 19:27:08 Sat Jun 164 PM %");
    assert_eq!(text(&r, "c"), "Sat Jun 13 19:27:08 2026");
    assert_eq!(text(&r, "unknown"), "%Q");
    assert_eq!(r.get("wday"), Some(&Payload::Int(7)), "Saturday is 7");
    assert_eq!(r.get("yday"), Some(&Payload::Int(164)));
    assert_eq!(r.get("month"), Some(&Payload::Int(6)));
    assert_eq!(r.get("isdst"), Some(&Payload::Bool(false)));
    assert_eq!(r.get("diff"), Some(&Payload::Int(90)));
    assert_eq!(r.get("now"), Some(&Payload::Bool(true)), "{r:?}");
    assert_eq!(r.get("carried"), Some(&Payload::Bool(true)), "{r:?}");
    assert_eq!(r.get("clock"), Some(&Payload::Bool(true)));
}
