//! Errors of supervision.

use std::time::Duration;

use wippy_process::Pid;

use crate::spec::{StartError, Strategy};

/// What went wrong planning, starting or asking a supervisor.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// Children depend on each other in a circle (see [`crate::start_order`]).
    #[error("dependency cycle: {cycle}")]
    DependencyCycle {
        /// The circle, as `a -> b -> a`.
        cycle: String,
    },
    /// Two children of one supervisor have the same id.
    #[error("two children named {id}")]
    DuplicateChild {
        /// The id given twice.
        id: String,
    },
    /// A `simple_one_for_one` supervisor is given its one template child,
    /// no more and no fewer.
    #[error(
        "a simple_one_for_one supervisor needs exactly one child spec, its template; got {count}"
    )]
    NoTemplate {
        /// How many child specs it was given.
        count: usize,
    },
    /// The operation does not fit the supervisor's strategy.
    #[error("{operation} is not available under {strategy}: {hint}")]
    WrongStrategy {
        /// The operation asked for.
        operation: &'static str,
        /// The supervisor's strategy.
        strategy: Strategy,
        /// What to use instead.
        hint: &'static str,
    },
    /// The supervisor process could not be spawned.
    #[error("cannot spawn the supervisor: {0}")]
    Spawn(#[source] wippy_process::Error),
    /// A child's start function failed (or its start took longer than its
    /// start timeout).
    #[error("child {child} failed to start: {source}")]
    StartFailed {
        /// The child's id.
        child: String,
        /// Why.
        #[source]
        source: StartError,
    },
    /// Starting the children took longer than their start timeouts allow.
    #[error("child {child} did not start within {limit:?}")]
    StartTimeout {
        /// The child being started when the time ran out.
        child: String,
        /// The time the supervisor's start was given.
        limit: Duration,
    },
    /// The supervisor has ended (or never started), so it cannot answer.
    #[error("supervisor {pid} is not running")]
    NotRunning {
        /// Its pid.
        pid: Pid,
    },
    /// No child has that id (or pid).
    #[error("no child {child} under supervisor {pid}")]
    NoSuchChild {
        /// The id or pid asked for.
        child: String,
        /// The supervisor's pid.
        pid: Pid,
    },
}
