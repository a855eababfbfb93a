//! The policies of an app, by id and by group.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::SecurityError;
use crate::policy::Policy;
use crate::scope::Scope;

/// Every `security.policy` of an app, found by id (`security.policy(id)`,
/// `lifecycle.security.policies`) or by group (`groups:`).
///
/// ```
/// use wippy_security::{Effect, Policies, Policy};
/// let mut all = Policies::default();
/// all.insert(Policy::new("app:a", ["*"], ["*"], Effect::Allow, vec![]), &["workers".to_owned()]);
/// all.insert(Policy::new("app:b", ["*"], ["x"], Effect::Deny, vec![]), &[]);
/// let scope = all.scope(["app:b"], ["workers"]).unwrap();
/// assert!(scope.contains("app:a") && scope.contains("app:b"));
/// assert_eq!(all.scope(["app:c"], Vec::<String>::new()).unwrap_err().to_string(), "no security.policy app:c");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Policies {
    by_id: BTreeMap<String, Arc<Policy>>,
    groups: BTreeMap<String, Vec<Arc<Policy>>>,
}

impl Policies {
    /// Adds a policy, a member of `groups`.
    pub fn insert(&mut self, policy: Policy, groups: &[String]) {
        let policy = Arc::new(policy);
        for g in groups {
            self.groups
                .entry(g.clone())
                .or_default()
                .push(policy.clone());
        }
        self.by_id.insert(policy.id().to_owned(), policy);
    }

    /// The policy `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<Policy>> {
        self.by_id.get(id)
    }

    /// The policies of group `name` (none for a group nothing is in).
    pub fn group(&self, name: &str) -> &[Arc<Policy>] {
        self.groups.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether there are no policies.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// A scope of the policies `ids` and of every member of `groups`.
    pub fn scope<I: AsRef<str>, G: AsRef<str>>(
        &self,
        ids: impl IntoIterator<Item = I>,
        groups: impl IntoIterator<Item = G>,
    ) -> Result<Scope, SecurityError> {
        let mut list = Vec::new();
        for id in ids {
            let id = id.as_ref();
            list.push(
                self.get(id)
                    .cloned()
                    .ok_or_else(|| SecurityError::UnknownPolicy(id.to_owned()))?,
            );
        }
        for g in groups {
            list.extend(self.group(g.as_ref()).iter().cloned());
        }
        Ok(Scope::new(list))
    }
}
