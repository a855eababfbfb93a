//! The cluster as Lua code meets it (`docs/lua-api.md`, "Processes on
//! other nodes"): calls that cross the network (a remote spawn, a global
//! registration) and the errors of the cluster as Wippy kinds.
//!
//! A native that starts such a call does not wait for it: it returns a
//! [`PendingCall`] userdata instead of its result, and the prelude's
//! `settle` parks the calling coroutine on an operation that
//! `rt.await_call` completes when the call's answer comes, on the cluster's
//! thread (`Call::then` → `ProcessCell::complete`). No worker thread ever
//! waits for the network. The answer is the call's result as a payload: the
//! value itself, or `{error = err}` for a failure.

use std::cell::Cell;

use mlua::{AnyUserData, Lua, MultiValue, UserData, Value};
use wippy_cluster::{Call, ClusterError, NameScope};
use wippy_process::{Completion, ErrorKind, ExitError, Payload};

use crate::api::errors::fail;
use crate::api::{Exports, ok_true};
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// Gives the prelude `rt.await_call`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.for_prelude("await_call", super::super::process_fn(m.lua(), await_call)?)
}

/// A call across the cluster a native started, for the prelude to wait on
/// (taken once, by `rt.await_call`).
pub(crate) struct PendingCall(Cell<Option<Call<Payload>>>);

impl UserData for PendingCall {}

/// The result of a native that started `call`: a [`PendingCall`] whose
/// answer is `answer` of the call's.
pub(crate) fn pending<T: Send + 'static>(
    lua: &Lua,
    call: Call<T>,
    answer: impl FnOnce(T) -> Payload + Send + 'static,
) -> mlua::Result<MultiValue> {
    let (out, done) = Call::pending();
    call.then(move |v| done.complete(answer(v)));
    let ud = lua.create_userdata(PendingCall(Cell::new(Some(out))))?;
    Ok(MultiValue::from_vec(vec![Value::UserData(ud)]))
}

/// A failed call's answer, as the prelude's `settle` reads it.
pub(crate) fn failure(e: ExitError) -> Payload {
    Payload::map([("error", Payload::Error(e))])
}

/// `rt.await_call(tag, call)` → `true`: completes the operation `tag`
/// with the answer of `call` when it comes (at once if it has).
fn await_call(
    lua: &Lua,
    p: &ProcData,
    _: &ShardEnv,
    (tag, call): (u64, AnyUserData),
) -> mlua::Result<MultiValue> {
    let Some(call) = call.borrow::<PendingCall>()?.0.take() else {
        return fail(lua, ErrorKind::Internal, "the call is awaited already");
    };
    let cell = p.cell.clone();
    // On the cluster's thread: `complete` only queues and wakes.
    call.then(move |value| cell.complete(Completion { tag, value }));
    ok_true()
}

/// A registry scope, by its Lua constant.
pub(crate) fn name_scope(n: f64) -> Option<NameScope> {
    if n.fract() != 0.0 {
        return None;
    }
    NameScope::from_number(n as i64)
}

/// A scope's name, as the constant says it.
pub(crate) fn scope_name(scope: NameScope) -> &'static str {
    match scope {
        NameScope::Local => "LOCAL",
        NameScope::Eventual => "EVENTUAL",
        NameScope::Consistent => "CONSISTENT",
        NameScope::Strong => "STRONG",
    }
}

/// The failure of a call on a runtime in no cluster.
pub(crate) fn no_cluster(what: &str) -> ExitError {
    ExitError::non_retryable(
        ErrorKind::Unavailable,
        format!(
            "{what} needs a cluster, and this runtime is in none (wippy run --cluster URL --node NAME)"
        ),
    )
}

/// A cluster's error as Lua code sees it: Wippy's kind for what went
/// wrong, and the cluster's text (Wippy's `name already registered` for a
/// name another process holds).
pub(crate) fn cluster_error(e: ClusterError) -> ExitError {
    use ClusterError as C;
    let (kind, retryable) = match &e {
        C::NameTaken { .. } => {
            return ExitError::non_retryable(ErrorKind::AlreadyExists, "name already registered");
        }
        C::Unavailable(_)
        | C::ShutDown
        | C::Connect { .. }
        | C::NoJetStream { .. }
        | C::NodeDown(_) => (ErrorKind::Unavailable, true),
        C::NotAcknowledged { .. } | C::TimedOut { .. } => (ErrorKind::Timeout, true),
        C::NodeNotFound(_) | C::NoProcess(_) => (ErrorKind::NotFound, false),
        C::Denied(_) => (ErrorKind::PermissionDenied, false),
        C::InvalidName(_)
        | C::BadTarget(_)
        | C::NotLocal(_)
        | C::Config { .. }
        | C::NotANode
        | C::NameInUse(_) => (ErrorKind::Invalid, false),
        // The other node answers a spawn with its error's text: a denial
        // is `wippy_security::Denied`'s, an unknown host or entry
        // `wippy_host::HostError`'s.
        C::SpawnFailed { reason, .. } if reason.starts_with("not allowed to ") => {
            (ErrorKind::PermissionDenied, false)
        }
        C::SpawnFailed { reason, .. }
            if reason.starts_with("unknown host") || reason.starts_with("unknown entry") =>
        {
            (ErrorKind::NotFound, false)
        }
        C::SpawnFailed { .. } | C::Registry(_) | C::Kernel(_) => (ErrorKind::Internal, false),
    };
    ExitError::with_kind(kind, e.to_string()).retryable(retryable)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn cluster_errors_have_wippys_kinds() {
        let pid: wippy_process::Pid = "{app:h|0x1}".parse().unwrap();
        let kind = |e: ClusterError| cluster_error(e).kind().as_str().to_owned();
        assert_eq!(
            kind(ClusterError::NameTaken {
                name: "n".into(),
                holder: pid
            }),
            "AlreadyExists"
        );
        assert_eq!(
            kind(ClusterError::Unavailable("gone".into())),
            "Unavailable"
        );
        assert_eq!(
            kind(ClusterError::NotAcknowledged {
                name: "n".into(),
                missing: "b".into(),
                deadline: Duration::from_secs(1)
            }),
            "Timeout"
        );
        assert_eq!(kind(ClusterError::NodeNotFound("b".into())), "NotFound");
        assert_eq!(
            kind(ClusterError::SpawnFailed {
                node: "b".into(),
                reason: "not allowed to process.spawn: app:x".into()
            }),
            "PermissionDenied"
        );
        assert_eq!(
            kind(ClusterError::SpawnFailed {
                node: "b".into(),
                reason: wippy_host::HostError::UnknownHost("app:nope".into()).to_string()
            }),
            "NotFound"
        );
        assert_eq!(
            cluster_error(ClusterError::ShutDown).is_retryable(),
            Some(true)
        );
    }

    #[test]
    fn scopes_are_wippys_constants() {
        assert_eq!(name_scope(0.0), Some(NameScope::Local));
        assert_eq!(name_scope(2.0), Some(NameScope::Consistent));
        assert_eq!(name_scope(4.0), None);
        assert_eq!(name_scope(1.5), None);
        assert_eq!(scope_name(NameScope::Strong), "STRONG");
    }
}
