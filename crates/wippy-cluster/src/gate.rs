//! Security across nodes: what a record acts for, and the checks the
//! receiving node makes before it does anything a record asks.
//!
//! The sender writes the asker's principal into the record (its actor and
//! the ids of its scope's policies); the receiver rebuilds it with its own
//! app's policies and checks it, with the boundary of the asker's host,
//! exactly as the asker's own node did before sending. The receiver's
//! verdict is the one that counts: a refusal is logged as an audit event
//! there (`wippy::audit`) and nothing is delivered or started. Nodes trust
//! each other's word on who asks: the cluster is one trust domain, kept by
//! the NATS server's credentials and TLS.

use std::fmt::Display;

use ahash::AHashMap;
use wippy_host::App;
use wippy_host::registry::{EntryKind, EntrySpec};
use wippy_process::{Credentials, Error, HostId, Pid};
use wippy_security::{Denied, Policies, Principal, Scope};

use crate::codec::{Asker, Resolved};

/// The receiving side's checks, made from the app every node runs.
pub(crate) struct Gate {
    policies: Policies,
    /// The policies of each host that has some: they bound every process
    /// on it.
    boundaries: AHashMap<HostId, Scope>,
}

impl Gate {
    pub(crate) fn new(app: &App) -> Gate {
        let policies = app.policies().clone();
        let mut boundaries = AHashMap::new();
        for e in app.registry().of_kind(EntryKind::ProcessHost) {
            if let EntrySpec::Host(spec) = &e.spec
                && let Some(security) = &spec.security
            {
                match security.scope(&policies) {
                    Ok(Some(scope)) => {
                        boundaries.insert(HostId::intern(e.id.as_str()), scope);
                    }
                    Ok(None) => {}
                    // The registry checked this at load: a host whose
                    // policies cannot be built does not start either.
                    Err(err) => tracing::warn!(host = %e.id, "host policies: {err}"),
                }
            }
        }
        Gate {
            policies,
            boundaries,
        }
    }

    pub(crate) fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Whether `asker`, a process of `host` (if it is one), may do `action`
    /// on `resource`; a refusal is an audit event naming `pid`.
    pub(crate) fn check(
        &self,
        asker: &Resolved,
        host: Option<HostId>,
        action: &str,
        resource: &str,
        pid: impl Display,
    ) -> Result<(), Denied> {
        let boundary = host.and_then(|h| self.boundaries.get(&h));
        match asker {
            Ok(p) if p.is_unrestricted() && boundary.is_none() => Ok(()),
            Ok(p) => p.check(boundary, action, resource, pid),
            Err(why) => {
                tracing::warn!(
                    target: "wippy::audit",
                    action,
                    resource,
                    pid = %pid,
                    "denied: the asker's principal names {why}"
                );
                Err(Denied {
                    action: action.to_owned(),
                    resource: resource.to_owned(),
                })
            }
        }
    }

    /// Whether `by`, a process of `host`, may start a process that runs as
    /// `child` (another actor, or policies it lacks).
    pub(crate) fn may_grant(
        &self,
        by: &Resolved,
        child: &Resolved,
        host: Option<HostId>,
        pid: impl Display,
    ) -> Result<(), Denied> {
        let boundary = host.and_then(|h| self.boundaries.get(&h));
        match (by, child) {
            (Ok(by), Ok(child)) => by.may_grant(boundary, child, pid),
            (Err(why), _) | (_, Err(why)) => {
                tracing::warn!(
                    target: "wippy::audit",
                    action = "security.scope.set",
                    pid = %pid,
                    "denied: a principal of the spawn names {why}"
                );
                Err(Denied {
                    action: "security.scope.set".into(),
                    resource: why.clone(),
                })
            }
        }
    }

    /// [`Gate::check`] on a host as the resource (sends, links, cancels).
    pub(crate) fn check_on(
        &self,
        asker: &Resolved,
        from: Option<Pid>,
        action: &str,
        target: Pid,
    ) -> Result<(), Denied> {
        let host = from.map(Pid::host);
        target
            .host()
            .with_name(|name| self.check(asker, host, action, name, from.map_or(target, |f| f)))
    }
}

/// What the kernel's credentials make of the asker of a record: the
/// runtime, or a process's principal (the credential a home gives must be
/// a [`Principal`]). `who` is the process that asks, if one does.
pub(crate) fn asker(by: &Credentials, who: Option<Pid>) -> Result<Asker<'_>, Error> {
    match by {
        Credentials::Runtime => Ok(Asker::Runtime),
        Credentials::Process(c) => match c.downcast_ref::<Principal>() {
            Some(p) if p.is_unrestricted() => Ok(Asker::Runtime),
            Some(p) => Ok(Asker::Principal(p)),
            // A home gave something that is not a principal: as good as
            // nothing (Credentials::Process comes only from a live process).
            None => {
                Err(Error::NoCredentials(who.unwrap_or_else(|| {
                    Pid::new(HostId::intern("wippy:unknown"), 0)
                })))
            }
        },
        Credentials::Unknown(pid) => Err(Error::NoCredentials(*pid)),
    }
}
