//! Security for wippy-rs (`docs/security.md`): actors (who a process runs
//! as), policies (allow or deny actions on resources, under conditions),
//! scopes (the policies attached to a process), and principals (actor plus
//! scope), which the hosts above check before spawns, sends, links,
//! cancels, registry changes and module loads.
//!
//! This crate decides; it does not enforce. Hosts call
//! [`Principal::check`] at each checked action and refuse what it denies.
//! Every check of the unrestricted system principal is a pointer test.
//!
//! ```
//! use std::sync::Arc;
//! use wippy_process::Payload;
//! use wippy_security::{Actor, Condition, Effect, Policy, Principal, Scope};
//!
//! let only_admins = Condition::new("actor.meta.role", "eq", Payload::from("admin")).unwrap();
//! let policy = Policy::new("app:admin_spawn", ["process.spawn"], ["app:*"], Effect::Allow, vec![only_admins]);
//! let scope = Scope::new([Arc::new(policy)]);
//! let admin = Actor::new("ann").with_meta([("role", Payload::from("admin"))]);
//! let ann = Principal::new(admin, Some(scope.clone()));
//! let bob = Principal::new(Actor::new("bob"), Some(scope));
//! assert!(ann.check(None, "process.spawn", "app:worker", "{app:users|0x1}").is_ok());
//! let denied = bob.check(None, "process.spawn", "app:worker", "{app:users|0x2}").unwrap_err();
//! assert_eq!(denied.to_string(), "not allowed to process.spawn: app:worker");
//! ```

mod actor;
mod condition;
mod directory;
mod error;
mod pattern;
mod policy;
mod principal;
mod scope;

pub use actor::{Actor, SYSTEM_ID};
pub use condition::{Condition, Request};
pub use directory::Policies;
pub use error::{Denied, SecurityError};
pub use pattern::Pattern;
pub use policy::{Effect, Policy};
pub use principal::Principal;
pub use scope::Scope;
