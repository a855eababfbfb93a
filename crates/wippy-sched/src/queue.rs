//! A worker's local run queue: a FIFO crossbeam-deque `Worker` with a soft
//! capacity that overflows half its tasks into the global injector while
//! the injector holds fewer than its own soft capacity.

use crate::task::TaskRef;
use crossbeam_deque::{Injector, Steal, Stealer, Worker};

/// Outcome of one attempt to take work from another queue.
pub(crate) enum Taken {
    /// A task to run now (more may have been moved into the local queue).
    Task(TaskRef),
    /// The other queue was empty.
    Empty,
    /// Lost a race with another thief; the other queue may still hold work.
    Retry,
}

fn taken(steal: Steal<TaskRef>) -> Taken {
    match steal {
        Steal::Success(t) => Taken::Task(t),
        Steal::Empty => Taken::Empty,
        Steal::Retry => Taken::Retry,
    }
}

/// The local queue of one worker. Only the owning worker thread pushes and
/// pops (crossbeam's `Worker` is `!Sync`); other workers steal through the
/// matching [`Stealer`].
pub(crate) struct LocalQueue {
    inner: Worker<TaskRef>,
    capacity: usize,
    /// The global queue's soft capacity: overflow goes there only while it
    /// holds fewer tasks.
    global_capacity: usize,
}

impl LocalQueue {
    /// A queue holding about `capacity` tasks before it overflows into a
    /// global queue of soft capacity `global_capacity`, and the stealer
    /// other workers use on it.
    pub(crate) fn new(capacity: usize, global_capacity: usize) -> (LocalQueue, Stealer<TaskRef>) {
        let inner = Worker::new_fifo();
        let stealer = inner.stealer();
        let queue = LocalQueue {
            inner,
            capacity: capacity.max(2),
            global_capacity,
        };
        (queue, stealer)
    }

    /// Pushes to the back. If the queue already holds `capacity` tasks, the
    /// older half moves to `injector` first, so a burst on one worker
    /// becomes visible to every worker and the local queue stays bounded;
    /// unless `injector` already holds `global_capacity` tasks, and then
    /// the burst stays here, where other workers steal it.
    ///
    /// Both bounds are soft: a batch stolen into this queue may pass
    /// `capacity`, wake-ups from other threads always enter the injector,
    /// and a spill may take it past `global_capacity`. Nothing is ever
    /// refused or delayed.
    pub(crate) fn push(&self, task: TaskRef, injector: &Injector<TaskRef>) {
        if self.inner.len() >= self.capacity && injector.len() < self.global_capacity {
            for _ in 0..self.capacity / 2 {
                match self.inner.pop() {
                    Some(t) => injector.push(t),
                    None => break,
                }
            }
        }
        self.inner.push(task);
    }

    /// Pops the oldest task.
    pub(crate) fn pop(&self) -> Option<TaskRef> {
        self.inner.pop()
    }

    /// Takes a batch from `injector` into this queue and pops one of it.
    pub(crate) fn refill_from(&self, injector: &Injector<TaskRef>) -> Taken {
        taken(injector.steal_batch_and_pop(&self.inner))
    }

    /// Steals a batch (up to half) of another worker's queue into this one
    /// and pops one of it.
    pub(crate) fn steal_from(&self, victim: &Stealer<TaskRef>) -> Taken {
        taken(victim.steal_batch_and_pop(&self.inner))
    }

    /// Number of queued tasks.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Drops every queued task (cancelling them).
    pub(crate) fn clear(&self) {
        while let Some(task) = self.inner.pop() {
            drop(task);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::Task;
    use std::sync::Arc;

    struct Numbered;
    impl Task for Numbered {
        fn run(self: Arc<Self>) {}
    }

    fn id(t: &TaskRef) -> usize {
        // Tasks in these tests are all `Numbered`; compare by address.
        Arc::as_ptr(t) as *const () as usize
    }

    #[test]
    fn pops_in_fifo_order() {
        let (q, _s) = LocalQueue::new(8, usize::MAX);
        let inj = Injector::new();
        let tasks: Vec<TaskRef> = (0..3).map(|_| Arc::new(Numbered) as TaskRef).collect();
        for t in &tasks {
            q.push(t.clone(), &inj);
        }
        for t in &tasks {
            assert_eq!(id(&q.pop().expect("queued task")), id(t));
        }
        assert!(q.pop().is_none());
    }

    #[test]
    fn overflow_moves_the_older_half_to_the_injector() {
        let (q, _s) = LocalQueue::new(4, usize::MAX);
        let inj = Injector::new();
        let tasks: Vec<TaskRef> = (0..5).map(|_| Arc::new(Numbered) as TaskRef).collect();
        for t in &tasks {
            q.push(t.clone(), &inj);
        }
        assert_eq!(q.len(), 3);
        assert_eq!(inj.len(), 2);
        match inj.steal() {
            Steal::Success(t) => assert_eq!(id(&t), id(&tasks[0])),
            _ => panic!("injector should hold the oldest task"),
        }
        assert_eq!(id(&q.pop().expect("queued")), id(&tasks[2]));
    }

    #[test]
    fn overflow_stays_local_while_the_global_queue_is_at_its_capacity() {
        let (q, _s) = LocalQueue::new(4, 2);
        let inj = Injector::new();
        for _ in 0..5 {
            q.push(Arc::new(Numbered), &inj);
        }
        assert_eq!((q.len(), inj.len()), (3, 2), "the first overflow spills");
        for _ in 0..3 {
            q.push(Arc::new(Numbered), &inj);
        }
        assert_eq!((q.len(), inj.len()), (6, 2), "the global queue is full");
    }

    #[test]
    fn stealer_takes_a_batch() {
        let (victim, stealer) = LocalQueue::new(64, usize::MAX);
        let (thief, _) = LocalQueue::new(64, usize::MAX);
        let inj = Injector::new();
        for _ in 0..10 {
            victim.push(Arc::new(Numbered), &inj);
        }
        assert!(matches!(thief.steal_from(&stealer), Taken::Task(_)));
        assert!(victim.len() < 10);
        assert_eq!(victim.len() + thief.len() + 1, 10);
    }

    #[test]
    fn clear_drops_every_task() {
        let (q, _s) = LocalQueue::new(8, usize::MAX);
        let inj = Injector::new();
        let t: TaskRef = Arc::new(Numbered);
        q.push(t.clone(), &inj);
        q.push(t.clone(), &inj);
        q.clear();
        assert_eq!(Arc::strong_count(&t), 1);
    }
}
