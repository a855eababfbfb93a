//! Scopes: the set of policies a process's checks are decided by.

use std::sync::Arc;

use crate::condition::Request;
use crate::policy::{Effect, Policy};

/// The policies attached to a process. A request is allowed when some
/// policy that applies allows it and none that applies denies it: a
/// matching deny wins, and nothing matching means deny. Immutable and
/// cheap to clone; [`Scope::with`] and [`Scope::without`] make new ones.
///
/// ```
/// use std::sync::Arc;
/// use wippy_security::{Actor, Effect, Policy, Request, Scope};
/// let spawn_any = Arc::new(Policy::new("app:spawn", ["process.spawn"], ["*"], Effect::Allow, vec![]));
/// let no_secret = Arc::new(Policy::new("app:no_secret", ["*"], ["app:secret"], Effect::Deny, vec![]));
/// let scope = Scope::new([spawn_any]).with(no_secret);
/// let a = Actor::new("guest");
/// assert!(scope.allows(&Request::new(&a, "process.spawn", "app:guest")));
/// assert!(!scope.allows(&Request::new(&a, "process.spawn", "app:secret")));
/// assert!(!scope.allows(&Request::new(&a, "process.send", "app:users")));
/// assert!(!scope.without("app:spawn").allows(&Request::new(&a, "process.spawn", "app:guest")));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Scope(Arc<[Arc<Policy>]>);

impl Scope {
    /// A scope of these policies (a later one with the same id as an
    /// earlier one replaces it).
    pub fn new(policies: impl IntoIterator<Item = Arc<Policy>>) -> Scope {
        let mut list: Vec<Arc<Policy>> = Vec::new();
        for p in policies {
            list.retain(|q| q.id() != p.id());
            list.push(p);
        }
        Scope(list.into())
    }

    /// This scope plus `policy` (replacing one with its id).
    pub fn with(&self, policy: Arc<Policy>) -> Scope {
        Scope::new(self.0.iter().cloned().chain([policy]))
    }

    /// This scope without the policy `id`.
    pub fn without(&self, id: &str) -> Scope {
        Scope(self.0.iter().filter(|p| p.id() != id).cloned().collect())
    }

    /// Whether the scope holds the policy `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.0.iter().any(|p| p.id() == id)
    }

    /// Its policies.
    pub fn policies(&self) -> &[Arc<Policy>] {
        &self.0
    }

    /// Whether a policy that applies to `req` denies it.
    pub fn refuses(&self, req: &Request) -> bool {
        self.0
            .iter()
            .any(|p| p.effect() == Effect::Deny && p.applies(req))
    }

    /// Whether `req` is allowed (see the type's rule).
    pub fn allows(&self, req: &Request) -> bool {
        let mut allowed = false;
        for p in self.0.iter().filter(|p| p.applies(req)) {
            match p.effect() {
                Effect::Deny => return false,
                Effect::Allow => allowed = true,
            }
        }
        allowed
    }
}
