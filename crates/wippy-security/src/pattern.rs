//! The action and resource patterns of policies.

/// An action or resource pattern: `*` (anything), a prefix ending in `.*`
/// or `:*` (`process.*` matches `process.spawn` and `process.spawn.host`,
/// `app:*` every entry of namespace `app`), or an exact name.
///
/// ```
/// use wippy_security::Pattern;
/// assert!(Pattern::parse("*").matches("anything"));
/// assert!(Pattern::parse("process.*").matches("process.spawn.host"));
/// assert!(!Pattern::parse("process.*").matches("process"));
/// assert!(Pattern::parse("app:*").matches("app:guest"));
/// assert!(!Pattern::parse("app:*").matches("app.sub:x"));
/// assert!(Pattern::parse("app:guest").matches("app:guest"));
/// assert!(!Pattern::parse("app:guest").matches("app:guests"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `*`.
    Any,
    /// Everything that starts with this (which ends in `.` or `:`).
    Prefix(String),
    /// Exactly this.
    Exact(String),
}

impl Pattern {
    /// Reads a pattern as written in a policy.
    pub fn parse(text: &str) -> Pattern {
        if text == "*" {
            Pattern::Any
        } else if let Some(prefix) = text.strip_suffix('*')
            && (prefix.ends_with('.') || prefix.ends_with(':'))
        {
            Pattern::Prefix(prefix.to_owned())
        } else {
            Pattern::Exact(text.to_owned())
        }
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Prefix(p) => name.len() > p.len() && name.starts_with(p.as_str()),
            Pattern::Exact(e) => e == name,
        }
    }
}
