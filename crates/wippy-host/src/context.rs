//! The context a process is spawned with.

use std::collections::BTreeMap;
use std::sync::Arc;

use wippy_process::Payload;
use wippy_security::Principal;

/// What a process is spawned with, inherited from its spawner: the values
/// Lua's `ctx` module reads (the spawner's plus what it added with
/// `process.with_context`), and its [`Principal`] (who it runs as and what
/// it may do: the spawner's, unless the spawner gave another). Immutable
/// once made, and shared: a child that changes nothing holds its parent's
/// without copying.
///
/// ```
/// use wippy_host::SpawnContext;
/// use wippy_process::Payload;
/// use wippy_security::{Actor, Principal};
/// let parent = SpawnContext::default().with([("user", Payload::from("ann")), ("n", 1.into())]);
/// let child = parent.with([("n", Payload::Int(2))]);
/// assert_eq!(child.get("user"), Some(&Payload::from("ann")));
/// assert_eq!(child.get("n"), Some(&Payload::Int(2)));
/// assert_eq!(parent.get("n"), Some(&Payload::Int(1)));
/// assert!(SpawnContext::default().is_empty());
/// assert!(child.principal().is_unrestricted());
/// let guest = child.with_principal(Principal::new(Actor::new("guest"), None));
/// assert_eq!(guest.principal().actor().id(), "guest");
/// assert_eq!(guest.get("user"), Some(&Payload::from("ann")));
/// ```
#[derive(Debug, Clone, Default)]
pub struct SpawnContext(Option<Arc<Data>>);

#[derive(Debug, Clone, Default)]
struct Data {
    values: BTreeMap<String, Payload>,
    principal: Principal,
}

/// The principal of a context that names none.
static SYSTEM: Principal = Principal::system();

impl SpawnContext {
    /// This context with `values` added; where keys clash, `values` win.
    pub fn with<K: Into<String>>(
        &self,
        values: impl IntoIterator<Item = (K, Payload)>,
    ) -> SpawnContext {
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return self.clone();
        }
        let mut data = self.0.as_deref().cloned().unwrap_or_default();
        data.values.extend(values.map(|(k, v)| (k.into(), v)));
        SpawnContext(Some(Arc::new(data)))
    }

    /// This context running as `principal`.
    pub fn with_principal(&self, principal: Principal) -> SpawnContext {
        if self.0.is_none() && principal.is_unrestricted() {
            return SpawnContext(None);
        }
        let mut data = self.0.as_deref().cloned().unwrap_or_default();
        data.principal = principal;
        SpawnContext(Some(Arc::new(data)))
    }

    /// Who the process runs as and what it may do.
    pub fn principal(&self) -> &Principal {
        self.0.as_deref().map_or(&SYSTEM, |d| &d.principal)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Payload> {
        self.0.as_deref()?.values.get(key)
    }

    /// Every key and value, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Payload)> {
        self.0
            .as_deref()
            .into_iter()
            .flat_map(|d| d.values.iter())
            .map(|(k, v)| (k.as_str(), v))
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.as_deref().map_or(0, |d| d.values.len())
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
