//! The `events` module (`docs/lua-api.md`): the app's event
//! bus (`wippy_host::EventBus`) as Lua sees it.
//!
//! `events.subscribe(system, kind?)` → a subscription, whose `:channel()`
//! (buffer 64) receives `{system, kind, path, data?}` tables and whose
//! `:close()` ends it (idempotent, closes the channel, returns `true`);
//! `events.send(system, kind, path, data?)` → `true`. Patterns: `""` or
//! `"*"` match anything, a trailing `*` a prefix, anything else exactly; no
//! kind, every kind. Checked: `events.subscribe` and `events.send` on the
//! system; a denial, like an empty system, kind or path, is `nil, err` of
//! kind Invalid (as in Wippy).
//!
//! A subscription hands each event to its process as an op completion
//! (the tag of an op the prelude's `subscribe` registered), so events
//! arrive with the process's timers and replies, in publishing order; the
//! prelude feeds them into the channel. A process that ends is dropped
//! from the bus at the next event it would have got.
//!
//! ```lua
//! local events = require("events")
//! local sub = events.subscribe("orders.*")
//! events.send("orders.eu", "created", "/orders/1", {total = 10})
//! local e = sub:channel():receive()   -- e.path == "/orders/1"
//! sub:close()
//! ```

use mlua::{Lua, MultiValue, Value};
use wippy_host::{BusEvent, SubscriptionId};
use wippy_process::{Completion, ErrorKind};

use super::errors::fail;
use super::{Exports, one, process_fn};
use crate::convert::to_payload;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// Lists `events.*` and the natives of the prelude's subscriptions.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.prelude_as("subscribe", "events_subscribe");
    m.native("send", send)?;
    m.for_prelude("events_sub", process_fn(m.lua(), subscribe)?)?;
    m.for_prelude("events_close", process_fn(m.lua(), close)?)
}

/// A string argument, raising like Lua's own checks for another type.
fn text(v: &Value, n: usize, what: &str) -> mlua::Result<String> {
    match v {
        Value::String(s) => Ok(s.to_string_lossy()),
        other => Err(mlua::Error::runtime(format!(
            "bad argument #{n} to '{what}' (string expected, got {})",
            super::type_name(other)
        ))),
    }
}

/// `rt.events_sub(tag, system, kind?)` → the subscription's number, or
/// `nil, err`: subscribes the calling process; each event completes op
/// `tag` with the event's table.
fn subscribe(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    (tag, system, kind): (u64, Value, Value),
) -> mlua::Result<MultiValue> {
    let system = text(&system, 1, "events.subscribe")?;
    let kind = match kind {
        Value::Nil => None,
        k => Some(text(&k, 2, "events.subscribe")?),
    };
    if system.is_empty() {
        return fail(lua, ErrorKind::Invalid, "system is required");
    }
    if let Err(denied) = p.check(env, "events.subscribe", &system) {
        return fail(lua, ErrorKind::Invalid, denied);
    }
    let Some(app) = env.host.app.upgrade() else {
        return fail(lua, ErrorKind::Unavailable, "the app is shutting down");
    };
    let cell = p.cell.clone();
    let id = app
        .events()
        .subscribe(&system, kind.as_deref(), move |event: &BusEvent| {
            cell.complete(Completion {
                tag,
                value: event.to_payload(),
            });
            cell.is_alive()
        });
    one(Value::Number(id.get() as f64))
}

/// `rt.events_close(id)`: ends subscription `id`.
fn close(_: &Lua, _: &ProcData, env: &ShardEnv, id: u64) -> mlua::Result<()> {
    if let Some(app) = env.host.app.upgrade() {
        app.events().unsubscribe(SubscriptionId::from_raw(id));
    }
    Ok(())
}

/// `events.send(system, kind, path, data?)` → `true`, or `nil, err`
/// (Invalid) for an empty system, kind or path, a denial, or data that
/// cannot be sent.
fn send(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    (system, kind, path, data): (Value, Value, Value, Value),
) -> mlua::Result<MultiValue> {
    let system = text(&system, 1, "events.send")?;
    let kind = text(&kind, 2, "events.send")?;
    let path = text(&path, 3, "events.send")?;
    for (value, name) in [(&system, "system"), (&kind, "kind"), (&path, "path")] {
        if value.is_empty() {
            return fail(lua, ErrorKind::Invalid, format!("{name} is required"));
        }
    }
    if let Err(denied) = p.check(env, "events.send", &system) {
        return fail(lua, ErrorKind::Invalid, denied);
    }
    let mut event = BusEvent::new(system, kind, path);
    if !data.is_nil() {
        match to_payload(lua, &data, "data") {
            Ok(d) => event = event.with_data(d),
            Err(e) => return fail(lua, ErrorKind::Invalid, e),
        }
    }
    let Some(app) = env.host.app.upgrade() else {
        return fail(lua, ErrorKind::Unavailable, "the app is shutting down");
    };
    app.events().publish(&event);
    one(Value::Boolean(true))
}
