//! The `registry` module, read-only (`docs/lua-api.md`): the app's entries as tables `{id, kind, meta, data}`.
//!
//! `registry.get(id)` → the entry, or `nil, err` (NotFound `entry not
//! found: <id>`, PermissionDenied when `registry.get` on the id is denied);
//! `registry.find(filter)` → an array of the entries every criterion of
//! `filter` matches (entries the caller may not `registry.get` are left
//! out; a filter that is not a table raises); `registry.parse_id(s)` →
//! `{ns, name}`, split at the first `:`.
//!
//! Filter keys: `.kind`, `.name`, `.ns`, `.id` are globs (no `*`: exact;
//! `x*` prefix; `*x` suffix; `a*b` both); `meta.F` is equality with
//! `meta[F]`; `~meta.F` an unanchored regular expression on a string,
//! `*meta.F` a substring of a string or of a string in a list, `^meta.F` /
//! `$meta.F` a prefix / suffix of a string. Other keys are ignored, as in
//! Wippy. Results are sorted by id.
//!
//! ```lua
//! local registry = require("registry")
//! for _, e in ipairs(registry.find({ [".kind"] = "registry.entry", ["meta.type"] = "plugin" })) do
//!     print(e.id, e.data.name)
//! end
//! ```

use mlua::{Lua, MultiValue, Table, Value};
use regex_lite::Regex;
use wippy_host::registry::{Entry, EntryId};
use wippy_process::{ErrorKind, Payload};

use super::errors::fail;
use super::{Exports, one};
use crate::convert::to_lua;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// Lists `registry.*`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.native("get", get)?;
    m.native("find", find)?;
    m.function("parse_id", parse_id)
}

/// `registry.get(id)` → the entry table, or `nil, err`.
fn get(lua: &Lua, p: &ProcData, env: &ShardEnv, id: Value) -> mlua::Result<MultiValue> {
    let id = match &id {
        Value::String(s) => s.to_string_lossy(),
        Value::Table(t) => {
            let (ns, name): (String, String) = (t.get("ns")?, t.get("name")?);
            format!("{ns}:{name}")
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #1 to 'registry.get' (string expected, got {})",
                super::type_name(other)
            )));
        }
    };
    if let Err(denied) = p.check(env, "registry.get", &id) {
        return fail(lua, ErrorKind::PermissionDenied, denied);
    }
    let registry = env.host.code.registry();
    match id.parse::<EntryId>().ok().and_then(|id| registry.get(&id)) {
        Some(e) => one(Value::Table(entry_table(lua, e)?)),
        None => fail(lua, ErrorKind::NotFound, format!("entry not found: {id}")),
    }
}

/// `registry.find(filter)` → the matching entries the caller may read.
fn find(lua: &Lua, p: &ProcData, env: &ShardEnv, filter: Value) -> mlua::Result<MultiValue> {
    let Value::Table(filter) = filter else {
        return Err(mlua::Error::runtime(format!(
            "bad argument #1 to 'registry.find' (table expected, got {})",
            super::type_name(&filter)
        )));
    };
    let criteria = match criteria(&filter) {
        Ok(c) => c,
        Err(e) => return fail(lua, ErrorKind::Invalid, e),
    };
    let out = lua.create_table()?;
    let mut n = 0;
    for e in env.host.code.registry().entries() {
        if criteria.iter().all(|c| c.matches(e))
            && p.check(env, "registry.get", e.id.as_str()).is_ok()
        {
            n += 1;
            out.raw_seti(n, entry_table(lua, e)?)?;
        }
    }
    one(Value::Table(out))
}

/// `registry.parse_id(s)` → `{ns, name}`: split at the first `:`; without
/// one, the namespace is `""`.
fn parse_id(lua: &Lua, s: String) -> mlua::Result<Table> {
    let (ns, name) = split_id(&s);
    let t = lua.create_table_with_capacity(0, 2)?;
    t.raw_set("ns", ns)?;
    t.raw_set("name", name)?;
    Ok(t)
}

/// An id's namespace and name, split at the first `:` as Wippy splits it.
fn split_id(s: &str) -> (&str, &str) {
    s.split_once(':').unwrap_or(("", s))
}

/// An entry as Lua sees it: `{id, kind, meta, data}` (meta always a table).
fn entry_table(lua: &Lua, e: &Entry) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 4)?;
    t.raw_set("id", e.id.as_str())?;
    t.raw_set("kind", e.kind.as_str())?;
    let meta = lua.create_table_with_capacity(0, e.meta.len())?;
    for (k, v) in &e.meta {
        meta.raw_set(k.as_str(), to_lua(lua, v)?)?;
    }
    t.raw_set("meta", meta)?;
    t.raw_set("data", to_lua(lua, &e.data)?)?;
    Ok(t)
}

/// One criterion of a `find` filter.
enum Criterion {
    /// `.kind`, `.name`, `.ns`, `.id`.
    Glob(Part, Glob),
    /// `meta.F`: equal.
    Equals(String, Payload),
    /// `~meta.F`.
    Regex(String, Regex),
    /// `*meta.F`.
    Contains(String, String),
    /// `^meta.F`.
    Prefix(String, String),
    /// `$meta.F`.
    Suffix(String, String),
}

#[derive(Clone, Copy)]
enum Part {
    Kind,
    Name,
    Namespace,
    Id,
}

/// A glob with at most one `*`-split: prefix and suffix (exact when there
/// is no `*`).
struct Glob {
    prefix: String,
    suffix: Option<String>,
}

impl Glob {
    fn new(pattern: &str) -> Glob {
        match pattern.split_once('*') {
            None => Glob {
                prefix: pattern.to_owned(),
                suffix: None,
            },
            Some((prefix, rest)) => Glob {
                prefix: prefix.to_owned(),
                // `a*b*c` keeps `b*c` as the suffix text: Wippy's globs
                // have one star.
                suffix: Some(rest.to_owned()),
            },
        }
    }

    fn matches(&self, text: &str) -> bool {
        match &self.suffix {
            None => text == self.prefix,
            Some(suffix) => {
                text.len() >= self.prefix.len() + suffix.len()
                    && text.starts_with(self.prefix.as_str())
                    && text.ends_with(suffix.as_str())
            }
        }
    }
}

/// The criteria of a filter table (keys it does not know are ignored).
fn criteria(filter: &Table) -> Result<Vec<Criterion>, String> {
    let mut out = Vec::new();
    for pair in filter.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        let Value::String(k) = k else { continue };
        let key = k.to_string_lossy();
        let text = match &v {
            Value::String(s) => Some(s.to_string_lossy()),
            _ => None,
        };
        let part = match key.as_str() {
            ".kind" => Some(Part::Kind),
            ".name" => Some(Part::Name),
            ".ns" => Some(Part::Namespace),
            ".id" => Some(Part::Id),
            _ => None,
        };
        if let Some(part) = part {
            if let Some(t) = text {
                out.push(Criterion::Glob(part, Glob::new(&t)));
            }
            continue;
        }
        let (op, field) = match key.split_once("meta.") {
            Some((op, field)) if !field.is_empty() => (op, field.to_owned()),
            _ => continue,
        };
        match (op, text) {
            ("", _) => {
                let value = crate::convert::to_payload(&filter.weak_lua().upgrade(), &v, &key)?;
                out.push(Criterion::Equals(field, value));
            }
            ("~", Some(t)) => {
                let re = Regex::new(&t).map_err(|e| format!("{key}: invalid pattern: {e}"))?;
                out.push(Criterion::Regex(field, re));
            }
            ("*", Some(t)) => out.push(Criterion::Contains(field, t)),
            ("^", Some(t)) => out.push(Criterion::Prefix(field, t)),
            ("$", Some(t)) => out.push(Criterion::Suffix(field, t)),
            _ => {}
        }
    }
    Ok(out)
}

impl Criterion {
    fn matches(&self, e: &Entry) -> bool {
        let meta_str = |f: &str| e.meta_str(f);
        match self {
            Criterion::Glob(part, glob) => {
                let id = e.id.as_str();
                let (ns, name) = split_id(id);
                glob.matches(match part {
                    Part::Kind => e.kind.as_str(),
                    Part::Name => name,
                    Part::Namespace => ns,
                    Part::Id => id,
                })
            }
            Criterion::Equals(f, want) => e.meta.get(f).is_some_and(|have| same(have, want)),
            Criterion::Regex(f, re) => meta_str(f).is_some_and(|s| re.is_match(s)),
            Criterion::Contains(f, t) => match e.meta.get(f) {
                Some(Payload::Str(s)) => s.contains(t.as_str()),
                Some(Payload::Array(items)) => items
                    .iter()
                    .any(|i| i.as_str().is_some_and(|s| s.contains(t.as_str()))),
                _ => false,
            },
            Criterion::Prefix(f, t) => meta_str(f).is_some_and(|s| s.starts_with(t.as_str())),
            Criterion::Suffix(f, t) => meta_str(f).is_some_and(|s| s.ends_with(t.as_str())),
        }
    }
}

/// Whether a meta value equals a filter value: numbers by value (Luau has
/// one number type; Wippy compares integer and float subtypes strictly),
/// everything else as it is.
fn same(have: &Payload, want: &Payload) -> bool {
    let number = |p: &Payload| match p {
        Payload::Int(i) => Some(*i as f64),
        Payload::Float(f) => Some(*f),
        _ => None,
    };
    match (number(have), number(want)) {
        (Some(a), Some(b)) => a == b,
        _ => have == want,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_have_one_star() {
        let g = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(g("app:x", "app:x") && !g("app:x", "app:xy"));
        assert!(g("app.*", "app.db") && !g("app.*", "other"));
        assert!(g("*.lua", "process.lua") && !g("*.lua", "process.host"));
        assert!(g("env.*.os", "env.storage.os") && !g("env.*.os", "env.os.x"));
        assert!(g("*", "anything") && g("*", ""));
        assert!(!g("ab*ba", "aba"), "prefix and suffix may not overlap");
    }

    #[test]
    fn ids_split_at_the_first_colon() {
        assert_eq!(split_id("a:b:c"), ("a", "b:c"));
        assert_eq!(split_id("name"), ("", "name"));
        assert_eq!(split_id(""), ("", ""));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(same(&Payload::Int(3), &Payload::Float(3.0)));
        assert!(!same(&Payload::from("3"), &Payload::Int(3)));
        assert!(same(&Payload::Bool(true), &Payload::Bool(true)));
    }
}
