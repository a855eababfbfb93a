//! Conditions of policies: tests on the actor, the check's metadata, the
//! action and the resource.

use std::cmp::Ordering;

use wippy_process::Payload;

use crate::SecurityError;
use crate::actor::Actor;

/// One check being decided: who asks to do what to which resource, with
/// optional metadata (the third argument of Lua's `security.can`).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who asks.
    pub actor: &'a Actor,
    /// What, e.g. `process.spawn`.
    pub action: &'a str,
    /// On what, e.g. `app:guest`.
    pub resource: &'a str,
    /// Extra facts conditions can test as `meta.<key>`.
    pub meta: Option<&'a Payload>,
}

impl<'a> Request<'a> {
    /// A request without metadata.
    pub fn new(actor: &'a Actor, action: &'a str, resource: &'a str) -> Request<'a> {
        Request {
            actor,
            action,
            resource,
            meta: None,
        }
    }
}

/// What a condition tests.
#[derive(Debug, Clone, PartialEq)]
enum Subject {
    ActorId,
    /// A key path into the actor's metadata (`actor.meta.org.team`).
    ActorMeta(Vec<String>),
    /// A key path into the request's metadata.
    Meta(Vec<String>),
    Action,
    Resource,
}

#[derive(Debug, Clone)]
enum Operator {
    Eq,
    Ne,
    Lt,
    Gt,
    In,
    Exists,
    Contains,
    Matches(regex_lite::Regex),
}

/// A test a policy applies only when it holds: `field operator value`,
/// written in a policy as `{field: actor.meta.role, operator: eq, value:
/// admin}`.
///
/// | operator | holds when the field's value |
/// |---|---|
/// | `eq`, `ne` | equals / does not equal `value` (numbers by value: `1` equals `1.0`; an absent field equals nothing) |
/// | `lt`, `gt` | is less / greater than `value` (both numbers, or both strings) |
/// | `in` | equals one of the list `value` |
/// | `exists` | is present (`value: false`: is absent; no value means `true`) |
/// | `contains` | is a string containing the string `value`, or a list holding it |
/// | `matches` | is a string the regular expression `value` matches |
///
/// ```
/// use wippy_security::{Actor, Condition, Request};
/// use wippy_process::Payload;
/// let admin = Condition::new("actor.meta.role", "eq", Payload::from("admin")).unwrap();
/// let ann = Actor::new("ann").with_meta([("role", Payload::from("admin"))]);
/// let bob = Actor::new("bob");
/// assert!(admin.holds(&Request::new(&ann, "process.spawn", "app:x")));
/// assert!(!admin.holds(&Request::new(&bob, "process.spawn", "app:x")));
/// assert!(Condition::new("actor.role", "eq", Payload::Nil).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Condition {
    subject: Subject,
    operator: Operator,
    value: Payload,
}

impl Condition {
    /// A condition as written in a policy.
    pub fn new(field: &str, operator: &str, value: Payload) -> Result<Condition, SecurityError> {
        let path = |rest: &str| -> Result<Vec<String>, SecurityError> {
            let keys: Vec<String> = rest.split('.').map(str::to_owned).collect();
            if keys.iter().any(String::is_empty) {
                return Err(SecurityError::UnknownField(field.to_owned()));
            }
            Ok(keys)
        };
        let subject = match field {
            "actor.id" => Subject::ActorId,
            "action" => Subject::Action,
            "resource" => Subject::Resource,
            _ => {
                if let Some(rest) = field.strip_prefix("actor.meta.") {
                    Subject::ActorMeta(path(rest)?)
                } else if let Some(rest) = field.strip_prefix("meta.") {
                    Subject::Meta(path(rest)?)
                } else {
                    return Err(SecurityError::UnknownField(field.to_owned()));
                }
            }
        };
        let needs = |ok: bool, operator: &'static str, expected: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(SecurityError::BadValue { operator, expected })
            }
        };
        let operator = match operator {
            "eq" => Operator::Eq,
            "ne" => Operator::Ne,
            "lt" | "gt" => {
                let scalar = matches!(value, Payload::Int(_) | Payload::Float(_) | Payload::Str(_));
                needs(
                    scalar,
                    if operator == "lt" { "lt" } else { "gt" },
                    "needs a number or a string",
                )?;
                if operator == "lt" {
                    Operator::Lt
                } else {
                    Operator::Gt
                }
            }
            "in" => {
                needs(
                    matches!(value, Payload::Array(_)),
                    "in",
                    "needs a list of values",
                )?;
                Operator::In
            }
            "exists" => {
                needs(
                    matches!(value, Payload::Nil | Payload::Bool(_)),
                    "exists",
                    "takes true, false or no value",
                )?;
                Operator::Exists
            }
            "contains" => Operator::Contains,
            "matches" => {
                let Payload::Str(pattern) = &value else {
                    return Err(SecurityError::BadValue {
                        operator: "matches",
                        expected: "needs a regular expression (a string)",
                    });
                };
                let re =
                    regex_lite::Regex::new(pattern).map_err(|e| SecurityError::BadPattern {
                        pattern: pattern.to_string(),
                        reason: e.to_string(),
                    })?;
                Operator::Matches(re)
            }
            other => return Err(SecurityError::UnknownOperator(other.to_owned())),
        };
        Ok(Condition {
            subject,
            operator,
            value,
        })
    }

    /// Whether the condition holds for `req`.
    pub fn holds(&self, req: &Request) -> bool {
        let text;
        let subject: Option<&Payload> = match &self.subject {
            Subject::ActorId => {
                text = Payload::from(req.actor.id());
                Some(&text)
            }
            Subject::Action => {
                text = Payload::from(req.action);
                Some(&text)
            }
            Subject::Resource => {
                text = Payload::from(req.resource);
                Some(&text)
            }
            Subject::ActorMeta(keys) => {
                let (first, rest) = keys.split_first().expect("a path has a key");
                req.actor.meta().get(first).and_then(|v| lookup(v, rest))
            }
            Subject::Meta(keys) => req.meta.and_then(|m| lookup(m, keys)),
        };
        match &self.operator {
            Operator::Eq => subject.is_some_and(|s| same(s, &self.value)),
            Operator::Ne => !subject.is_some_and(|s| same(s, &self.value)),
            Operator::Lt => subject.and_then(|s| order(s, &self.value)) == Some(Ordering::Less),
            Operator::Gt => subject.and_then(|s| order(s, &self.value)) == Some(Ordering::Greater),
            Operator::In => match (&self.value, subject) {
                (Payload::Array(items), Some(s)) => items.iter().any(|i| same(s, i)),
                _ => false,
            },
            Operator::Exists => {
                let want = !matches!(self.value, Payload::Bool(false));
                subject.is_some_and(|s| *s != Payload::Nil) == want
            }
            Operator::Contains => match (subject, &self.value) {
                (Some(Payload::Str(s)), Payload::Str(part)) => s.contains(part.as_str()),
                (Some(Payload::Array(items)), v) => items.iter().any(|i| same(i, v)),
                _ => false,
            },
            Operator::Matches(re) => matches!(subject, Some(Payload::Str(s)) if re.is_match(s)),
        }
    }
}

/// The value at `keys` inside `value` (string keys of maps).
fn lookup<'p>(value: &'p Payload, keys: &[String]) -> Option<&'p Payload> {
    keys.iter().try_fold(value, |v, k| v.get(k))
}

/// Equality with numbers compared by value.
fn same(a: &Payload, b: &Payload) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn number(p: &Payload) -> Option<f64> {
    match p {
        Payload::Int(i) => Some(*i as f64),
        Payload::Float(f) => Some(*f),
        _ => None,
    }
}

/// Order of two numbers or two strings; none for anything else.
fn order(a: &Payload, b: &Payload) -> Option<Ordering> {
    match (a, b) {
        (Payload::Str(x), Payload::Str(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(field: &str, op: &str, value: Payload) -> Condition {
        Condition::new(field, op, value).unwrap_or_else(|e| panic!("{e}"))
    }

    fn list(items: &[&str]) -> Payload {
        Payload::Array(items.iter().map(|s| Payload::from(*s)).collect())
    }

    #[test]
    fn every_operator_tests_what_its_table_says() {
        let ann = Actor::new("ann").with_meta([
            ("role", Payload::from("admin")),
            ("level", Payload::Int(3)),
            ("teams", list(&["a", "b"])),
            ("org", Payload::map([("unit", Payload::from("ops"))])),
        ]);
        let meta = Payload::map([("size", Payload::Float(2.5))]);
        let req = Request {
            actor: &ann,
            action: "process.spawn",
            resource: "app:guest",
            meta: Some(&meta),
        };
        let yes = |f: &str, o: &str, v: Payload| {
            assert!(cond(f, o, v.clone()).holds(&req), "{f} {o} {v:?}")
        };
        let no = |f: &str, o: &str, v: Payload| {
            assert!(!cond(f, o, v.clone()).holds(&req), "{f} {o} {v:?}")
        };
        yes("actor.id", "eq", "ann".into());
        no("actor.id", "eq", "bob".into());
        yes("actor.id", "ne", "bob".into());
        yes("actor.meta.level", "eq", Payload::Float(3.0));
        yes("actor.meta.level", "gt", Payload::Int(2));
        no("actor.meta.level", "lt", Payload::Int(3));
        yes("actor.meta.role", "lt", "b".into());
        no("actor.meta.role", "gt", Payload::Int(1));
        yes("actor.meta.role", "in", list(&["user", "admin"]));
        no("actor.meta.role", "in", list(&["user"]));
        yes("actor.meta.role", "exists", Payload::Nil);
        yes("actor.meta.missing", "exists", Payload::Bool(false));
        no("actor.meta.missing", "exists", Payload::Bool(true));
        no("actor.meta.missing", "eq", Payload::Nil);
        yes("actor.meta.missing", "ne", "x".into());
        yes("actor.meta.teams", "contains", "b".into());
        no("actor.meta.teams", "contains", "c".into());
        yes("actor.meta.role", "contains", "dmi".into());
        yes("actor.meta.org.unit", "eq", "ops".into());
        yes("meta.size", "gt", Payload::Int(2));
        no("meta.other", "exists", Payload::Nil);
        yes("action", "matches", "^process\\.".into());
        no("resource", "matches", "^sys".into());
        yes("resource", "eq", "app:guest".into());
    }

    #[test]
    fn bad_conditions_say_what_is_wrong() {
        let err = |f: &str, o: &str, v: Payload| Condition::new(f, o, v).unwrap_err().to_string();
        assert!(
            err("actor.name", "eq", Payload::Nil)
                .contains("unknown condition field \"actor.name\"")
        );
        assert!(err("meta.", "eq", Payload::Nil).contains("unknown condition field"));
        assert!(
            err("action", "equals", Payload::Nil).contains("unknown condition operator \"equals\"")
        );
        assert!(err("action", "in", "x".into()).contains("in needs a list"));
        assert!(err("action", "matches", "(".into()).contains("invalid regular expression"));
        assert!(err("action", "lt", Payload::Bool(true)).contains("lt needs a number or a string"));
        assert!(err("action", "exists", "yes".into()).contains("exists takes true, false"));
    }
}
