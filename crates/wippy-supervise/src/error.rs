//! Errors of supervision.

/// What went wrong planning or running services.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuperviseError {
    /// Services depend on each other in a circle.
    #[error("service dependency cycle: {0}")]
    DependencyCycle(String),
    /// The supervisor process could not start.
    #[error("supervisor failed to start: {0}")]
    Start(String),
}
