//! Errors of the security layer.

/// What is wrong with a policy or a scope as written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecurityError {
    /// A condition names a field policies cannot test.
    #[error(
        "unknown condition field {0:?} (expected actor.id, actor.meta.<key>, meta.<key>, action or resource)"
    )]
    UnknownField(String),
    /// A condition names an operator there is none of.
    #[error(
        "unknown condition operator {0:?} (expected eq, ne, lt, gt, in, exists, contains or matches)"
    )]
    UnknownOperator(String),
    /// A condition's value does not suit its operator.
    #[error("condition operator {operator} {expected}")]
    BadValue {
        /// The operator.
        operator: &'static str,
        /// What it needs, e.g. "needs a list of values".
        expected: &'static str,
    },
    /// A `matches` condition's pattern is no regular expression.
    #[error("condition operator matches: invalid regular expression {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern as written.
        pattern: String,
        /// Why it does not compile.
        reason: String,
    },
    /// A scope names a policy the app does not have.
    #[error("no security.policy {0}")]
    UnknownPolicy(String),
}

/// A check that failed: the caller may not do `action` on `resource`.
/// Its text is what Lua callers get as the error of `nil, err`.
///
/// ```
/// use wippy_security::Denied;
/// let d = Denied { action: "process.send".into(), resource: "app:system".into() };
/// assert_eq!(d.to_string(), "not allowed to process.send: app:system");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not allowed to {action}: {resource}")]
pub struct Denied {
    /// The action checked, e.g. `process.spawn`.
    pub action: String,
    /// The resource it was checked on, e.g. an entry or host id.
    pub resource: String,
}
