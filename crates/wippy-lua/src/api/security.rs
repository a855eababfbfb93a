//! The `security` module (`docs/security.md`): the running process's actor
//! and scope, checks against them, and the actor, policy and scope objects
//! a Spawner's `with_actor` / `with_scope` take.
//!
//! ```lua
//! local security = require("security")   -- the entry lists `security`
//! print(security.actor():id())           -- "system" for the runtime's own
//! local scope = security.new_scope({ security.policy("app:user_policy") })
//! process.with_context({})
//!     :with_actor(security.new_actor("guest-1", { role = "guest" }))
//!     :with_scope(scope)
//!     :spawn("app:guest", "app:users")
//! if not security.can("process.send", "app:system") then ... end
//! ```
//!
//! The objects are userdata: they cannot be sent, and Lua code can make an
//! actor of any id but a scope only of the app's own policies. Giving a
//! child another actor or scope is itself checked at spawn
//! (`Principal::may_grant`).

use std::sync::Arc;

use mlua::{FromLua, Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value};
use wippy_process::{ErrorKind, Payload};
use wippy_security::{Actor, Policy, Scope};

use super::errors::fail;
use super::{Exports, one};
use crate::convert::{to_lua, to_payload};
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// Lists `security.*` (one table per VM: it reads the calling process's
/// principal on each call).
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.native("actor", actor)?;
    m.native("scope", scope)?;
    m.native("can", can)?;
    m.function("new_actor", new_actor)?;
    m.native("policy", policy)?;
    m.function("new_scope", new_scope)
}

/// `security.actor()` → the caller's actor.
fn actor(_: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<LuaActor> {
    Ok(LuaActor(p.context.principal().actor()))
}

/// `security.scope()` → the caller's scope, or nil for none.
fn scope(_: &Lua, p: &ProcData, _: &ShardEnv, (): ()) -> mlua::Result<Option<LuaScope>> {
    Ok(p.context.principal().scope().cloned().map(LuaScope))
}

/// `security.can(action, resource, meta?)` → whether the caller may.
fn can(
    lua: &Lua,
    p: &ProcData,
    e: &ShardEnv,
    (action, resource, meta): (String, String, Option<Value>),
) -> mlua::Result<bool> {
    let meta = match meta {
        None | Some(Value::Nil) => None,
        Some(v) => Some(to_payload(lua, &v, "meta").map_err(mlua::Error::runtime)?),
    };
    Ok(p.context.principal().decide(
        e.host.config.security.boundary.as_ref(),
        &action,
        &resource,
        meta.as_ref(),
    ))
}

/// `security.new_actor(id, meta?)` → an actor object (any id; granting it
/// to a child is what is checked).
fn new_actor(lua: &Lua, (id, meta): (String, Option<Value>)) -> mlua::Result<LuaActor> {
    let meta = match meta {
        None | Some(Value::Nil) => Vec::new(),
        Some(v) => match to_payload(lua, &v, "meta").map_err(mlua::Error::runtime)? {
            Payload::Map(pairs) => pairs
                .into_iter()
                .map(|(k, v)| match k {
                    Payload::Str(k) => Ok((k.to_string(), v)),
                    _ => Err(mlua::Error::runtime(
                        "security.new_actor: meta keys must be strings",
                    )),
                })
                .collect::<mlua::Result<_>>()?,
            Payload::Array(a) if a.is_empty() => Vec::new(),
            _ => {
                return Err(mlua::Error::runtime(
                    "security.new_actor: meta must be a table of string keys",
                ));
            }
        },
    };
    Ok(LuaActor(Actor::new(id).with_meta(meta)))
}

/// `security.policy(id)` → the app's policy `id`, or `nil, err`.
fn policy(lua: &Lua, _: &ProcData, e: &ShardEnv, id: String) -> mlua::Result<MultiValue> {
    let found = e
        .host
        .app
        .upgrade()
        .and_then(|app| app.policies().get(&id).cloned());
    match found {
        Some(p) => one(Value::UserData(lua.create_userdata(LuaPolicy(p))?)),
        None => fail(lua, ErrorKind::NotFound, format!("no security.policy {id}")),
    }
}

/// `security.new_scope(policies?)` → a scope of those policy objects.
fn new_scope(_: &Lua, policies: Option<Table>) -> mlua::Result<LuaScope> {
    let mut list = Vec::new();
    if let Some(t) = policies {
        for (i, v) in t.sequence_values::<Value>().enumerate() {
            let p = LuaPolicy::take(v?).map_err(|e| {
                mlua::Error::runtime(format!("security.new_scope: policies[{}]: {e}", i + 1))
            })?;
            list.push(p.0);
        }
    }
    Ok(LuaScope(Scope::new(list)))
}

/// An actor object (`security.actor()`, `security.new_actor`).
#[derive(Clone)]
pub(crate) struct LuaActor(pub(crate) Actor);

/// A policy object (`security.policy(id)`).
#[derive(Clone)]
pub(crate) struct LuaPolicy(pub(crate) Arc<Policy>);

/// A scope object (`security.scope()`, `security.new_scope`).
#[derive(Clone)]
pub(crate) struct LuaScope(pub(crate) Scope);

impl UserData for LuaActor {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("id", |_, a, ()| Ok(a.0.id().to_owned()));
        methods.add_method("meta", |lua, a, ()| {
            let t = lua.create_table()?;
            for (k, v) in a.0.meta() {
                t.raw_set(k.as_str(), to_lua(lua, v)?)?;
            }
            Ok(t)
        });
        methods.add_meta_method(MetaMethod::ToString, |_, a, ()| {
            Ok(format!("actor: {}", a.0.id()))
        });
    }
}

impl UserData for LuaPolicy {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("id", |_, p, ()| Ok(p.0.id().to_owned()));
        methods.add_meta_method(MetaMethod::ToString, |_, p, ()| {
            Ok(format!("policy: {}", p.0.id()))
        });
    }
}

impl UserData for LuaScope {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("with", |_, s, p: LuaPolicy| Ok(LuaScope(s.0.with(p.0))));
        methods.add_method("without", |_, s, id: String| Ok(LuaScope(s.0.without(&id))));
        methods.add_method("contains", |_, s, id: String| Ok(s.0.contains(&id)));
        methods.add_method("policies", |lua, s, ()| {
            lua.create_sequence_from(s.0.policies().iter().map(|p| LuaPolicy(p.clone())))
        });
        methods.add_meta_method(MetaMethod::ToString, |_, s, ()| {
            let ids: Vec<&str> = s.0.policies().iter().map(|p| p.id()).collect();
            Ok(format!("scope: {}", ids.join(", ")))
        });
    }
}

/// One of the module's objects, read from a Lua value.
pub(crate) trait Object: UserData + Clone + 'static {
    /// What a wrong value is told it should have been.
    const EXPECTED: &'static str;

    /// The object in `value`, or what was wrong (`expected an actor
    /// (security.actor, security.new_actor), got string`).
    fn take(value: Value) -> Result<Self, String> {
        if let Value::UserData(ud) = &value
            && let Ok(v) = ud.borrow::<Self>()
        {
            return Ok(v.clone());
        }
        let got = match &value {
            Value::UserData(_) => "another object",
            v => v.type_name(),
        };
        Err(format!("expected {}, got {got}", Self::EXPECTED))
    }
}

impl Object for LuaActor {
    const EXPECTED: &'static str = "an actor (security.actor, security.new_actor)";
}

impl Object for LuaPolicy {
    const EXPECTED: &'static str = "a policy (security.policy)";
}

impl Object for LuaScope {
    const EXPECTED: &'static str = "a scope (security.scope, security.new_scope)";
}

impl FromLua for LuaPolicy {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<LuaPolicy> {
        LuaPolicy::take(value).map_err(mlua::Error::runtime)
    }
}
