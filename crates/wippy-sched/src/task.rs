//! The unit of work the scheduler runs.

use std::sync::Arc;

/// A unit of schedulable work.
///
/// The scheduler never deduplicates: the task's owner guarantees that a task
/// is enqueued at most once until it runs (it keeps its own "scheduled"
/// state). A task still queued when its scheduler shuts down is dropped
/// without running, so `Drop` is the place to observe cancellation.
pub trait Task: Send + Sync + 'static {
    /// Runs one slice of the task on the current worker.
    ///
    /// A panic is caught by the worker and logged; the worker goes on.
    fn run(self: Arc<Self>);
}

/// A shared reference to a task.
pub type TaskRef = Arc<dyn Task>;
