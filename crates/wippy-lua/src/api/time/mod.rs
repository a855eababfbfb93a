//! The `time` module, as Wippy has it (Go's `time` package for Lua): the
//! clock (`now`), Time values made from fields, Unix time or text (`date`,
//! `unix`, `parse`), locations (`load_location`, `fixed_zone`, `utc`,
//! `localtz`), durations (`parse_duration`), and the waits (`sleep`,
//! `after`, `timer`, `ticker`, written in Lua in the prelude over the
//! natives `rt.timer`, `rt.cancel_timer` and `rt.wait_duration`).
//!
//! The parts: `instant.rs` (Time objects), `duration.rs` (Duration objects
//! and Go's duration syntax), `location.rs` (locations and Go's
//! `time.Date`), `layout.rs` (Go layouts, to format and to parse).
//! Calendar and time-zone rules are jiff's.
//!
//! Failures a caller can act on return `nil, err` with Wippy's kinds
//! (Invalid, NotFound; never retryable); wrong argument types raise.

use mlua::{Lua, MultiValue, Value};
use wippy_process::{Completion, ErrorKind, ExitError, Payload};

use super::errors::fail_with;
use super::{Exports, one};
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

mod duration;
mod instant;
mod layout;
mod location;

pub(crate) use duration::duration_arg;
pub(crate) use instant::Time;

use duration::positive;
use instant::Int;
use location::{Location, NS, WallFields};

/// Lists `time.*` and the natives the prelude's waits are built on.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    // Monotonic readings count from here: the first VM's start.
    instant::monotonic_start();
    m.prelude("sleep");
    m.prelude("after");
    m.prelude("ticker");
    m.prelude("timer");
    // One function, for Lua code and the prelude alike.
    let now = m.lua().create_function(|_, ()| Ok(Time::now()))?;
    m.set("now", now.clone())?;
    m.function("date", date)?;
    m.function("unix", unix)?;
    m.function("parse", parse)?;
    m.function("parse_duration", parse_duration)?;
    m.function("load_location", load_location)?;
    m.function("fixed_zone", fixed_zone)?;
    m.set("utc", Location::utc())?;
    m.set("localtz", Location::local())?;
    // Numbers are floats, as in Wippy.
    for (name, ns) in [
        ("NANOSECOND", 1.0),
        ("MICROSECOND", 1e3),
        ("MILLISECOND", 1e6),
        ("SECOND", 1e9),
        ("MINUTE", 6e10),
        ("HOUR", 3.6e12),
    ] {
        m.set(name, ns)?;
    }
    for (name, layout) in layout::NAMED {
        m.set(name, layout)?;
    }
    for (i, name) in [
        "JANUARY",
        "FEBRUARY",
        "MARCH",
        "APRIL",
        "MAY",
        "JUNE",
        "JULY",
        "AUGUST",
        "SEPTEMBER",
        "OCTOBER",
        "NOVEMBER",
        "DECEMBER",
    ]
    .into_iter()
    .enumerate()
    {
        m.set(name, (i + 1) as f64)?;
    }
    for (i, name) in [
        "SUNDAY",
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
    ]
    .into_iter()
    .enumerate()
    {
        m.set(name, i as f64)?;
    }

    m.for_prelude("now", now)?;
    m.for_prelude("timer", super::process_fn(m.lua(), timer)?)?;
    m.for_prelude("cancel_timer", super::process_fn(m.lua(), cancel_timer)?)?;
    m.for_prelude("wait_duration", m.lua().create_function(wait_duration)?)?;
    Ok(())
}

/// `nil, err`: a failure of `kind`, not retryable (as every module error
/// of Wippy's).
fn fail(lua: &Lua, kind: ErrorKind, msg: impl Into<String>) -> mlua::Result<MultiValue> {
    fail_with(lua, ExitError::with_kind(kind, msg).retryable(false))
}

/// `time.date(year, month, day, hour, min, sec, nsec, loc?)` → the Time
/// with that wall clock in `loc` (local by default). Fields out of range
/// carry over (month 13 is January of the next year).
fn date(
    _: &Lua,
    (year, month, day, hour, minute, second, nanosecond, loc): (
        Int,
        Int,
        Int,
        Int,
        Int,
        Int,
        Int,
        Option<Location>,
    ),
) -> mlua::Result<Time> {
    let loc = loc.unwrap_or_else(Location::local);
    let fields = WallFields {
        year: year.0,
        month: month.0,
        day: day.0,
        hour: hour.0,
        minute: minute.0,
        second: second.0,
        nanosecond: nanosecond.0,
    };
    let wall = loc
        .instant_of(fields)
        .map_err(|e| mlua::Error::runtime(format!("time.date: {e}")))?;
    Ok(Time::at(wall, loc))
}

/// `time.unix(sec, nsec)` → the local Time that many seconds and
/// nanoseconds after the Unix epoch (`nsec` may be out of 0..1e9).
fn unix(_: &Lua, (sec, nsec): (Int, Int)) -> mlua::Result<Time> {
    let ns = i128::from(sec.0) * NS + i128::from(nsec.0);
    Time::from_unix_nanos(ns, Location::local())
}

/// `time.parse(layout, value, loc?)` → the Time `value` shows, read with a
/// Go layout, or `nil, err` (Invalid, Go's message). Without a zone in the
/// layout the time is in `loc` (local by default).
fn parse(
    lua: &Lua,
    (layout, value, loc): (mlua::LuaString, mlua::LuaString, Option<Location>),
) -> mlua::Result<MultiValue> {
    let loc = loc.unwrap_or_else(Location::local);
    let (layout, value) = (layout.to_str()?, value.to_str()?);
    match layout::parse(&layout, &value, &loc) {
        Ok((wall, loc)) => one(Value::UserData(lua.create_userdata(Time::at(wall, loc))?)),
        Err(msg) => fail(lua, ErrorKind::Invalid, msg),
    }
}

/// `time.parse_duration(v)` → a Duration (from Go syntax, nanoseconds, or
/// a Duration), or `nil, err` (Invalid).
fn parse_duration(lua: &Lua, v: Value) -> mlua::Result<MultiValue> {
    match duration_arg(&v) {
        Ok(d) => one(Value::UserData(lua.create_userdata(d)?)),
        Err(e) => fail(lua, ErrorKind::Invalid, e),
    }
}

/// `time.load_location(name)` → a Location (IANA names, `UTC`, `Local`),
/// or `nil, err`: Invalid for `""`, NotFound for an unknown name.
fn load_location(lua: &Lua, name: mlua::LuaString) -> mlua::Result<MultiValue> {
    match Location::load(&name.to_str()?) {
        Ok(loc) => one(Value::UserData(lua.create_userdata(loc)?)),
        Err((kind, msg)) => fail(lua, kind, msg),
    }
}

/// `time.fixed_zone(name, offset)` → a Location `offset` seconds east of
/// UTC, abbreviated `name`.
fn fixed_zone(_: &Lua, (name, offset): (mlua::LuaString, Int)) -> mlua::Result<Location> {
    Location::fixed(&name.to_str()?, offset.0)
        .map_err(|e| mlua::Error::runtime(format!("time.fixed_zone: {e}")))
}

/// `rt.wait_duration(d, positive)` → `d` in nanoseconds, or `nil, err`
/// (Invalid) when it is no duration, or, with `positive`, not above zero.
fn wait_duration(lua: &Lua, (d, must_be_positive): (Value, bool)) -> mlua::Result<MultiValue> {
    match duration_arg(&d) {
        Ok(d) if must_be_positive && d.0 <= 0 => {
            fail(lua, ErrorKind::Invalid, "duration must be positive")
        }
        Ok(d) => one(Value::Number(d.0 as f64)),
        Err(e) => fail(lua, ErrorKind::Invalid, e),
    }
}

/// `rt.timer(tag, ns, periodic?)`: completes the operation `tag` after `ns`
/// (every `ns` when `periodic`), until cancelled or the process ends.
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
