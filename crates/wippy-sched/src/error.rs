//! The crate's error type.

/// What can go wrong when using the scheduler, the timer service or the
/// blocking pool.
#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    /// The scheduler, timer service or blocking pool has been shut down.
    #[error("scheduler is shut down")]
    ShutDown,
    /// More workers were asked for than one scheduler can have.
    #[error("{requested} workers asked for; a scheduler has at most {max}")]
    TooManyWorkers {
        /// The count asked for.
        requested: usize,
        /// [`Scheduler::MAX_WORKERS`](crate::Scheduler::MAX_WORKERS).
        max: usize,
    },
    /// The operating system refused to start a thread.
    #[error("failed to start thread: {0}")]
    Spawn(#[from] std::io::Error),
}
