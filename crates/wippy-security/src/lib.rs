//! Security for wippy-rs: actors (who a process runs as), policies (allow or
//! deny actions on resources, with conditions), and scopes (the policies
//! attached to a process), evaluated by hosts before spawns, sends, links,
//! registry changes and module loads. See `shared/spec/security.md`.
//!
//! This crate is filled by the security issue; today it holds the actor
//! type every process carries, so the layers above can already pass it on.
//!
//! ```
//! use wippy_security::Actor;
//! let system = Actor::system();
//! assert!(system.is_system());
//! assert_eq!(Actor::new("svc").id(), "svc");
//! ```

/// Who a process runs as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    id: String,
}

impl Actor {
    /// The system actor: allowed everything.
    pub fn system() -> Actor {
        Actor { id: String::new() }
    }

    /// An actor with this id.
    pub fn new(id: impl Into<String>) -> Actor {
        Actor { id: id.into() }
    }

    /// The actor's id (empty for the system actor).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether this is the system actor.
    pub fn is_system(&self) -> bool {
        self.id.is_empty()
    }
}
