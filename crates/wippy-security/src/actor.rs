//! Actors: who a process runs as.

use std::collections::BTreeMap;
use std::sync::Arc;

use wippy_process::Payload;

/// Who a process runs as: an id and metadata that policy conditions can
/// test (`actor.id`, `actor.meta.role`). Cheap to clone.
///
/// The *system* actor is a distinct actor, not an id: [`Actor::new`] never
/// makes it, whatever the id, so no process can name its way into it.
///
/// ```
/// use wippy_security::Actor;
/// use wippy_process::Payload;
/// let guest = Actor::new("guest-1").with_meta([("role", Payload::from("guest"))]);
/// assert_eq!(guest.id(), "guest-1");
/// assert_eq!(guest.meta().get("role"), Some(&Payload::from("guest")));
/// assert!(Actor::system().is_system());
/// assert!(!Actor::new("system").is_system());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Actor(Arc<ActorData>);

#[derive(Debug, PartialEq)]
struct ActorData {
    id: String,
    meta: BTreeMap<String, Payload>,
    system: bool,
}

/// The id the system actor shows (in logs and to `security.actor():id()`).
pub const SYSTEM_ID: &str = "system";

impl Actor {
    /// The system actor: what the runtime's own processes, services
    /// without a `lifecycle.security` and top-level processes run as.
    pub fn system() -> Actor {
        thread_local! {
            static SYSTEM: Actor = Actor(Arc::new(ActorData {
                id: SYSTEM_ID.to_owned(),
                meta: BTreeMap::new(),
                system: true,
            }));
        }
        SYSTEM.with(Actor::clone)
    }

    /// An actor with this id and no metadata.
    pub fn new(id: impl Into<String>) -> Actor {
        Actor(Arc::new(ActorData {
            id: id.into(),
            meta: BTreeMap::new(),
            system: false,
        }))
    }

    /// This actor with `meta` (replacing what it had).
    pub fn with_meta<K: Into<String>>(self, meta: impl IntoIterator<Item = (K, Payload)>) -> Actor {
        Actor(Arc::new(ActorData {
            id: self.0.id.clone(),
            meta: meta.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            system: self.0.system,
        }))
    }

    /// The actor's id (`"system"` for the system actor).
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The actor's metadata.
    pub fn meta(&self) -> &BTreeMap<String, Payload> {
        &self.0.meta
    }

    /// Whether this is the system actor.
    pub fn is_system(&self) -> bool {
        self.0.system
    }
}

impl Default for Actor {
    fn default() -> Actor {
        Actor::system()
    }
}
