//! Error values: why a process ended abnormally, and what an error object
//! of the Lua API carries when it crosses between processes (in a message,
//! or as the result of an EXIT or LINK_DOWN event).
//!
//! An error has Wippy's four parts: a message, a kind (`NotFound`,
//! `Internal`, ...; see [`ErrorKind`]), whether retrying may help
//! (`retryable`, unset unless someone said), and optional details (a
//! payload). The whole is one allocation, so an [`ExitResult`] is no bigger
//! than a [`Payload`], and a process that ends well pays nothing for it.
//!
//! [`ExitResult`]: crate::ExitResult

use std::fmt;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::payload::Payload;
use crate::pid::Pid;

/// What kind of failure an error is: Wippy's kinds (the values of the Lua
/// `errors` table), plus kinds its runtime surfaces elsewhere, plus any
/// other string a program chose.
///
/// ```
/// use wippy_process::ErrorKind;
/// assert_eq!(ErrorKind::from("NotFound"), ErrorKind::NotFound);
/// assert_eq!(ErrorKind::NotFound.as_str(), "NotFound");
/// assert_eq!(ErrorKind::from(""), ErrorKind::Unknown);
/// assert_eq!(ErrorKind::from("Quota").as_str(), "Quota");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ErrorKind {
    /// No kind was given (Wippy's `errors.UNKNOWN`, the empty string).
    #[default]
    Unknown,
    /// Something looked up does not exist (`NotFound`).
    NotFound,
    /// Something to create exists already (`AlreadyExists`).
    AlreadyExists,
    /// An argument or input is not acceptable (`Invalid`).
    Invalid,
    /// A security check refused the action (`PermissionDenied`).
    PermissionDenied,
    /// A service or feature is not reachable now (`Unavailable`).
    Unavailable,
    /// A failure inside the runtime or the program (`Internal`).
    Internal,
    /// The work was cancelled (`Canceled`).
    Canceled,
    /// The action conflicts with the current state (`Conflict`).
    Conflict,
    /// A deadline passed (`Timeout`).
    Timeout,
    /// Too many requests (`RateLimited`).
    RateLimited,
    /// The target is in a state that cannot take the action, e.g. a
    /// process that is shutting down (`InvalidState`).
    InvalidState,
    /// A limit was reached (`LimitExceeded`).
    LimitExceeded,
    /// Any other kind a program chose.
    Other(SmolStr),
}

impl ErrorKind {
    /// The kind as Lua code sees it (`err:kind()`); `""` for
    /// [`ErrorKind::Unknown`].
    pub fn as_str(&self) -> &str {
        match self {
            ErrorKind::Unknown => "",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::Invalid => "Invalid",
            ErrorKind::PermissionDenied => "PermissionDenied",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::Internal => "Internal",
            ErrorKind::Canceled => "Canceled",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::RateLimited => "RateLimited",
            ErrorKind::InvalidState => "InvalidState",
            ErrorKind::LimitExceeded => "LimitExceeded",
            ErrorKind::Other(s) => s,
        }
    }

    /// The kinds of the Lua `errors` table, by their constant names
    /// (`errors.NOT_FOUND == "NotFound"`).
    pub const CONSTANTS: [(&'static str, ErrorKind); 11] = [
        ("NOT_FOUND", ErrorKind::NotFound),
        ("ALREADY_EXISTS", ErrorKind::AlreadyExists),
        ("INVALID", ErrorKind::Invalid),
        ("PERMISSION_DENIED", ErrorKind::PermissionDenied),
        ("UNAVAILABLE", ErrorKind::Unavailable),
        ("INTERNAL", ErrorKind::Internal),
        ("CANCELED", ErrorKind::Canceled),
        ("CONFLICT", ErrorKind::Conflict),
        ("TIMEOUT", ErrorKind::Timeout),
        ("RATE_LIMITED", ErrorKind::RateLimited),
        ("UNKNOWN", ErrorKind::Unknown),
    ];
}

impl From<&str> for ErrorKind {
    fn from(s: &str) -> ErrorKind {
        match s {
            "" => ErrorKind::Unknown,
            "NotFound" => ErrorKind::NotFound,
            "AlreadyExists" => ErrorKind::AlreadyExists,
            "Invalid" => ErrorKind::Invalid,
            "PermissionDenied" => ErrorKind::PermissionDenied,
            "Unavailable" => ErrorKind::Unavailable,
            "Internal" => ErrorKind::Internal,
            "Canceled" => ErrorKind::Canceled,
            "Conflict" => ErrorKind::Conflict,
            "Timeout" => ErrorKind::Timeout,
            "RateLimited" => ErrorKind::RateLimited,
            "InvalidState" => ErrorKind::InvalidState,
            "LimitExceeded" => ErrorKind::LimitExceeded,
            other => ErrorKind::Other(other.into()),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ErrorKind, D::Error> {
        Ok(ErrorKind::from(SmolStr::deserialize(d)?.as_str()))
    }
}

/// An error value: why a process ended abnormally, or what a Lua error
/// object holds.
///
/// ```
/// use wippy_process::{ErrorKind, ExitError};
/// let e = ExitError::new("boom");
/// assert_eq!(e.to_string(), "boom");
/// assert_eq!(e.kind(), &ErrorKind::Unknown);
/// let e = ExitError::with_kind(ErrorKind::NotFound, "process not found").retryable(false);
/// assert_eq!(e.kind(), &ErrorKind::NotFound);
/// assert_eq!(e.is_retryable(), Some(false));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitError(Box<Repr>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Repr {
    message: String,
    #[serde(default)]
    kind: ErrorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retryable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    details: Option<Payload>,
}

impl ExitError {
    /// An error with this message and no kind.
    pub fn new(message: impl Into<String>) -> ExitError {
        ExitError::with_kind(ErrorKind::Unknown, message)
    }

    /// An error of `kind` with this message.
    pub fn with_kind(kind: ErrorKind, message: impl Into<String>) -> ExitError {
        ExitError(Box::new(Repr {
            message: message.into(),
            kind,
            retryable: None,
            details: None,
        }))
    }

    /// An error of `kind` that says retrying will not help: what a runtime
    /// module's failure is (Wippy's module errors are not retryable, and
    /// Lua code sees `err:retryable() == false`).
    pub fn non_retryable(kind: ErrorKind, message: impl Into<String>) -> ExitError {
        ExitError::with_kind(kind, message).retryable(false)
    }

    /// The same error, saying whether retrying may help.
    pub fn retryable(mut self, retryable: bool) -> ExitError {
        self.0.retryable = Some(retryable);
        self
    }

    /// The same error, with details (Wippy's `err:details()`; a map, by
    /// convention).
    pub fn details(mut self, details: Payload) -> ExitError {
        self.0.details = Some(details);
        self
    }

    /// The same error, with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> ExitError {
        self.0.message = message.into();
        self
    }

    /// The same error, of another kind.
    pub fn kind_set(mut self, kind: ErrorKind) -> ExitError {
        self.0.kind = kind;
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The kind ([`ErrorKind::Unknown`] when none was given).
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Whether retrying may help: `None` when nobody said.
    pub fn is_retryable(&self) -> Option<bool> {
        self.0.retryable
    }

    /// The details, if any.
    pub fn details_payload(&self) -> Option<&Payload> {
        self.0.details.as_ref()
    }

    /// The error of a process ended by `terminate` (Wippy: Internal,
    /// `process terminated`).
    pub fn terminated() -> ExitError {
        ExitError::with_kind(ErrorKind::Internal, "process terminated")
    }

    /// The error of a process ended because a process linked to it failed
    /// (Wippy: no kind, `linked process failed`); the details say which
    /// process and why (`{from = pid, error = err}`).
    pub fn linked_failure(from: Pid, error: &ExitError) -> ExitError {
        ExitError::new("linked process failed").details(Payload::map([
            ("from", Payload::Pid(from)),
            ("error", Payload::Error(error.clone())),
        ]))
    }

    /// The error of a process whose cancel deadline passed.
    pub fn cancelled() -> ExitError {
        ExitError::with_kind(ErrorKind::Canceled, "cancelled: deadline exceeded")
    }
}

impl fmt::Debug for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ExitError");
        d.field("message", &self.0.message);
        if self.0.kind != ErrorKind::Unknown {
            d.field("kind", &self.0.kind.as_str());
        }
        if let Some(r) = self.0.retryable {
            d.field("retryable", &r);
        }
        if let Some(details) = &self.0.details {
            d.field("details", details);
        }
        d.finish()
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for ExitError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<ExitError>(), 8);
    }

    #[test]
    fn every_named_kind_parses_back_from_its_text() {
        for (_, kind) in ErrorKind::CONSTANTS {
            assert_eq!(ErrorKind::from(kind.as_str()), kind);
        }
        for kind in [ErrorKind::InvalidState, ErrorKind::LimitExceeded] {
            assert_eq!(ErrorKind::from(kind.as_str()), kind);
        }
    }

    #[test]
    fn an_error_round_trips_through_serde_with_all_its_parts() {
        let e = ExitError::with_kind(ErrorKind::Other("Quota".into()), "too many")
            .retryable(true)
            .details(Payload::map([("limit", Payload::Int(3))]));
        let text = serde_json::to_string(&e).unwrap();
        let back: ExitError = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
    }
}
