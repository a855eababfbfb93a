//! A per-worker parker: a thread blocks in [`Parker::park`] until another
//! thread calls [`Parker::unpark`].

use crate::sync::{Condvar, Mutex, lock};

/// One worker's parker.
///
/// Invariant: `notified` is only read and written under its mutex. An
/// `unpark` that happens before `park` leaves the flag set, so the next
/// `park` returns at once: an unpark is never lost. Several unparks before a
/// park collapse into one wake-up; callers re-check their own condition after
/// `park` returns, so a stale wake-up only costs one loop.
#[derive(Debug, Default)]
pub(crate) struct Parker {
    notified: Mutex<bool>,
    condvar: Condvar,
}

impl Parker {
    /// Blocks until notified, then consumes the notification.
    pub(crate) fn park(&self) {
        let mut notified = lock(&self.notified);
        while !*notified {
            notified = self
                .condvar
                .wait(notified)
                .unwrap_or_else(|e| e.into_inner());
        }
        *notified = false;
    }

    /// Wakes the parked thread, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        *lock(&self.notified) = true;
        self.condvar.notify_one();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn unpark_before_park_is_not_lost() {
        let p = Parker::default();
        p.unpark();
        p.park(); // returns at once
    }

    #[test]
    fn park_returns_after_unpark_from_another_thread() {
        let p = Arc::new(Parker::default());
        let p2 = p.clone();
        let t = std::thread::spawn(move || p2.park());
        p.unpark();
        t.join().expect("parked thread panicked");
    }
}
