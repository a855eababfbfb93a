//! The answer of a call that crosses the network (a remote spawn, a
//! global registration): something to await from a native async process,
//! to wait for from plain Rust code, or to hand a callback to (what a VM
//! shard does: the callback completes the waiting process's operation).
//! It is completed from the cluster's own threads; the kernel never sees
//! them.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

type Callback<T> = Box<dyn FnOnce(T) + Send>;

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    callback: Option<Callback<T>>,
    done: bool,
}

struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

/// The answer to come of a call.
///
/// ```
/// let (call, done) = wippy_cluster::Call::pending();
/// std::thread::spawn(move || done.complete(42));
/// assert_eq!(call.wait(std::time::Duration::from_secs(5)), Some(42));
/// ```
pub struct Call<T> {
    slot: Arc<Slot<T>>,
}

/// The side that completes a [`Call`]. Dropping it without completing
/// leaves the call pending forever: callers bound their waits.
pub struct Completer<T> {
    slot: Arc<Slot<T>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // No code panics under this lock but a caller's callback, which runs
    // after the lock is released.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Send + 'static> Call<T> {
    /// A pending call and its completer.
    pub fn pending() -> (Call<T>, Completer<T>) {
        let slot = Arc::new(Slot {
            state: Mutex::new(State {
                value: None,
                waker: None,
                callback: None,
                done: false,
            }),
            ready: Condvar::new(),
        });
        (Call { slot: slot.clone() }, Completer { slot })
    }

    /// A call answered already.
    pub fn ready(value: T) -> Call<T> {
        let (call, done) = Call::pending();
        done.complete(value);
        call
    }

    /// Blocks the thread until the answer or `timeout` (`None` then). Not
    /// for a process's step: a process awaits the call or gives it a
    /// callback.
    pub fn wait(self, timeout: Duration) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.slot.state);
        loop {
            if let Some(v) = state.value.take() {
                return Some(v);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self
                .slot
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Calls `f` with the answer, on the thread that completes the call
    /// (or at once if it is answered). `f` must not block.
    pub fn then(self, f: impl FnOnce(T) + Send + 'static) {
        let mut state = lock(&self.slot.state);
        match state.value.take() {
            Some(v) => {
                drop(state);
                f(v);
            }
            None => state.callback = Some(Box::new(f)),
        }
    }
}

impl<T: Send + 'static> Future for Call<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = lock(&self.slot.state);
        match state.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> Completer<T> {
    /// Answers the call (once; a second answer is ignored).
    pub fn complete(self, value: T) {
        let mut state = lock(&self.slot.state);
        if state.done {
            return;
        }
        state.done = true;
        if let Some(f) = state.callback.take() {
            drop(state);
            f(value);
            return;
        }
        state.value = Some(value);
        let waker = state.waker.take();
        drop(state);
        self.slot.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_gets_the_answer_whichever_comes_first() {
        let (call, done) = Call::pending();
        let (tx, rx) = std::sync::mpsc::channel();
        call.then(move |v| tx.send(v).unwrap());
        done.complete(1);
        assert_eq!(rx.recv().unwrap(), 1);
        let (tx, rx) = std::sync::mpsc::channel();
        Call::ready(2).then(move |v| tx.send(v).unwrap());
        assert_eq!(rx.recv().unwrap(), 2);
    }

    #[test]
    fn waiting_times_out_without_an_answer() {
        let (call, _done) = Call::<u8>::pending();
        assert_eq!(call.wait(Duration::from_millis(10)), None);
    }
}
