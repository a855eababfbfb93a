//! Policies: allow or deny actions on resources, under conditions.

use crate::condition::{Condition, Request};
use crate::pattern::Pattern;

/// What a policy does when it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Let the action happen.
    Allow,
    /// Refuse it (a matching deny beats every allow).
    Deny,
}

/// A `security.policy` entry: it applies to a request when one of its
/// action patterns matches the action, one of its resource patterns the
/// resource, and every condition holds.
///
/// ```
/// use wippy_security::{Actor, Effect, Policy, Request};
/// let p = Policy::new("app:user", ["process.spawn"], ["app:guest", "app:users"], Effect::Allow, vec![]);
/// let guest = Actor::new("guest");
/// assert!(p.applies(&Request::new(&guest, "process.spawn", "app:guest")));
/// assert!(!p.applies(&Request::new(&guest, "process.spawn", "app:secret")));
/// assert!(!p.applies(&Request::new(&guest, "process.send", "app:guest")));
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    id: String,
    actions: Vec<Pattern>,
    resources: Vec<Pattern>,
    effect: Effect,
    conditions: Vec<Condition>,
}

impl Policy {
    /// A policy with this id (its registry entry id).
    pub fn new<A: AsRef<str>, R: AsRef<str>>(
        id: impl Into<String>,
        actions: impl IntoIterator<Item = A>,
        resources: impl IntoIterator<Item = R>,
        effect: Effect,
        conditions: Vec<Condition>,
    ) -> Policy {
        Policy {
            id: id.into(),
            actions: actions
                .into_iter()
                .map(|a| Pattern::parse(a.as_ref()))
                .collect(),
            resources: resources
                .into_iter()
                .map(|r| Pattern::parse(r.as_ref()))
                .collect(),
            effect,
            conditions,
        }
    }

    /// The policy's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Allow or deny.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether the policy applies to `req`.
    pub fn applies(&self, req: &Request) -> bool {
        self.actions.iter().any(|a| a.matches(req.action))
            && self.resources.iter().any(|r| r.matches(req.resource))
            && self.conditions.iter().all(|c| c.holds(req))
    }
}
