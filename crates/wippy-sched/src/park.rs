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
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    /// Longer than any park that is not lost can take, even on a loaded
    /// machine; a lost wake-up fails the test after it instead of hanging.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// Parks on `parker` in a thread of its own and fails if that park has
    /// not returned within [`PATIENCE`] (the thread is then left parked).
    fn park_returns(parker: &Arc<Parker>, what: &str) {
        let (done, returned) = mpsc::channel();
        let p = parker.clone();
        std::thread::spawn(move || {
            p.park();
            let _ = done.send(());
        });
        returned
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("{what}: park did not return within {PATIENCE:?}"));
    }

    #[test]
    fn unpark_before_park_is_not_lost() {
        let p = Arc::new(Parker::default());
        p.unpark();
        p.unpark(); // several unparks collapse into one wake-up
        park_returns(&p, "unparked before parking");
        assert!(!*lock(&p.notified), "park did not consume the notification");
    }

    #[test]
    fn park_returns_after_unpark_from_another_thread() {
        let p = Arc::new(Parker::default());
        let unparker = p.clone();
        let t = std::thread::spawn(move || unparker.unpark());
        park_returns(&p, "unparked from another thread");
        t.join().expect("unparking thread panicked");
    }
}
