//! Principals: the actor and scope a process runs with, and the checks
//! made against them.

use std::fmt::Display;
use std::sync::Arc;

use wippy_process::Payload;

use crate::actor::Actor;
use crate::condition::Request;
use crate::error::Denied;
use crate::scope::Scope;

/// Who a process runs as (its [`Actor`]) and what it may do (its
/// [`Scope`]). Cheap to clone; a child inherits its spawner's unless the
/// spawner gives it another ([`Principal::may_grant`] says whether it may).
///
/// The rule (`docs/security.md`): the system actor without a scope is
/// allowed everything, and costs nothing to check. Any other principal is
/// decided by its scope, with default deny: a named actor without a scope
/// may do nothing that is checked, and a scope restricts the system actor
/// too (a scope given is a scope applied).
///
/// ```
/// use std::sync::Arc;
/// use wippy_security::{Actor, Effect, Policy, Principal, Scope};
/// let sys = Principal::system();
/// assert!(sys.is_unrestricted());
/// assert!(sys.decide(None, "process.send", "app:system", None));
///
/// let send_users = Arc::new(Policy::new("app:p", ["process.send"], ["app:users"], Effect::Allow, vec![]));
/// let guest = Principal::new(Actor::new("guest"), Some(Scope::new([send_users])));
/// assert!(guest.decide(None, "process.send", "app:users", None));
/// assert!(!guest.decide(None, "process.send", "app:system", None));
/// assert!(!Principal::new(Actor::new("svc"), None).decide(None, "process.send", "app:users", None));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Principal(Option<Arc<Restricted>>);

#[derive(Debug)]
struct Restricted {
    actor: Actor,
    scope: Option<Scope>,
}

impl Principal {
    /// The system actor, unrestricted.
    pub const fn system() -> Principal {
        Principal(None)
    }

    /// `actor` with `scope`.
    pub fn new(actor: Actor, scope: Option<Scope>) -> Principal {
        if actor.is_system() && scope.is_none() {
            return Principal(None);
        }
        Principal(Some(Arc::new(Restricted { actor, scope })))
    }

    /// The actor.
    pub fn actor(&self) -> Actor {
        self.0
            .as_ref()
            .map_or_else(Actor::system, |r| r.actor.clone())
    }

    /// The scope, if one is attached.
    pub fn scope(&self) -> Option<&Scope> {
        self.0.as_ref().and_then(|r| r.scope.as_ref())
    }

    /// Whether every check passes (the system actor without a scope).
    pub fn is_unrestricted(&self) -> bool {
        self.0.is_none()
    }

    /// Whether this principal may do `action` on `resource`, inside a host
    /// whose policies are `boundary` (a host's policies bound every process
    /// on it, unrestricted ones included).
    pub fn decide(
        &self,
        boundary: Option<&Scope>,
        action: &str,
        resource: &str,
        meta: Option<&Payload>,
    ) -> bool {
        if self.0.is_none() && boundary.is_none() {
            return true;
        }
        let actor = self.actor();
        let req = Request {
            actor: &actor,
            action,
            resource,
            meta,
        };
        let own = match &self.0 {
            None => true,
            Some(r) => r.scope.as_ref().is_some_and(|s| s.allows(&req)),
        };
        own && boundary.is_none_or(|b| b.allows(&req))
    }

    /// [`Principal::decide`] as a runtime check: a denial is logged as an
    /// audit event (actor, action, resource, pid) and returned as the error
    /// the caller reports.
    pub fn check(
        &self,
        boundary: Option<&Scope>,
        action: &str,
        resource: &str,
        pid: impl Display,
    ) -> Result<(), Denied> {
        if self.decide(boundary, action, resource, None) {
            return Ok(());
        }
        self.denied(action, resource, pid)
    }

    /// A check of an action something else has already allowed (loading a
    /// module that the entry lists and the host grants): only a deny policy
    /// that applies, in the scope or the boundary, refuses it. Logged and
    /// returned as [`Principal::check`] does.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wippy_security::{Actor, Effect, Policy, Principal, Scope};
    /// let no_io = Arc::new(Policy::new("app:no_io", ["module.require"], ["io"], Effect::Deny, vec![]));
    /// let guest = Principal::new(Actor::new("guest"), Some(Scope::new([no_io])));
    /// assert!(guest.veto(None, "module.require", "json", "{app:users|0x1}").is_ok());
    /// assert!(guest.veto(None, "module.require", "io", "{app:users|0x1}").is_err());
    /// ```
    pub fn veto(
        &self,
        boundary: Option<&Scope>,
        action: &str,
        resource: &str,
        pid: impl Display,
    ) -> Result<(), Denied> {
        if self.0.is_none() && boundary.is_none() {
            return Ok(());
        }
        let actor = self.actor();
        let req = Request::new(&actor, action, resource);
        let refused = self.scope().is_some_and(|s| s.refuses(&req))
            || boundary.is_some_and(|b| b.refuses(&req));
        if refused {
            return self.denied(action, resource, pid);
        }
        Ok(())
    }

    /// Logs a denial as an audit event and returns it.
    fn denied(&self, action: &str, resource: &str, pid: impl Display) -> Result<(), Denied> {
        let actor = self.actor();
        tracing::warn!(
            target: "wippy::audit",
            actor = actor.id(),
            action,
            resource,
            pid = %pid,
            "denied"
        );
        Err(Denied {
            action: action.to_owned(),
            resource: resource.to_owned(),
        })
    }

    /// Whether this principal may start a process as `child`: running as
    /// another actor needs `security.actor.set` on the new actor's id, and
    /// each policy the child's scope has that this one lacks needs
    /// `security.scope.set` on the policy's id. Narrowing is always
    /// allowed; the unrestricted system may grant anything.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wippy_security::{Actor, Effect, Policy, Principal, Scope};
    /// let p = Arc::new(Policy::new("app:p", ["process.send"], ["*"], Effect::Allow, vec![]));
    /// let admin = Arc::new(Policy::new("app:admin", ["*"], ["*"], Effect::Allow, vec![]));
    /// let guest = Principal::new(Actor::new("guest"), Some(Scope::new([p.clone()])));
    /// let narrower = Principal::new(Actor::new("guest"), Some(Scope::default()));
    /// let wider = Principal::new(Actor::new("guest"), Some(Scope::new([p, admin.clone()])));
    /// let other = Principal::new(Actor::new("root"), Some(Scope::default()));
    /// assert!(guest.may_grant(None, &narrower, "{app:users|0x1}").is_ok());
    /// let denied = guest.may_grant(None, &wider, "{app:users|0x1}").unwrap_err();
    /// assert_eq!(denied.to_string(), "not allowed to security.scope.set: app:admin");
    /// assert!(guest.may_grant(None, &other, "{app:users|0x1}").is_err());
    /// assert!(Principal::system().may_grant(None, &wider, "{app:users|0x1}").is_ok());
    /// ```
    pub fn may_grant(
        &self,
        boundary: Option<&Scope>,
        child: &Principal,
        pid: impl Display,
    ) -> Result<(), Denied> {
        if self.0.is_none() && boundary.is_none() {
            return Ok(());
        }
        let (mine, theirs) = (self.actor(), child.actor());
        if mine != theirs {
            self.check(boundary, "security.actor.set", theirs.id(), &pid)?;
        }
        let own = self.scope();
        for p in child.scope().map(Scope::policies).unwrap_or_default() {
            if !own.is_some_and(|s| s.contains(p.id())) {
                self.check(boundary, "security.scope.set", p.id(), &pid)?;
            }
        }
        Ok(())
    }
}
