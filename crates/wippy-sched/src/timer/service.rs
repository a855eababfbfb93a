//! The timer service: one thread per [`TimerService`], shared by every
//! scheduler that holds a [`TimerHandle`], driving a millisecond
//! [`Wheel`](super::wheel::Wheel).
//!
//! The thread sleeps on a condvar until the next due tick (with no timers,
//! until woken), and is woken early only when a timer due before its wake-up
//! time is inserted.
//!
//! **Actions run on the timer thread** and must be short: they should only
//! enqueue or schedule something, never block. A panicking action is caught
//! and logged; the thread goes on (a panicking periodic action stops).

use super::wheel::{Cancelled, Fired, Key, Wheel};
use crate::error::SchedError;
use crate::sync::lock_std as lock;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Identifies a timer, for [`TimerHandle::cancel`]. A periodic timer keeps
/// its id across firings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

enum Action {
    Once(Box<dyn FnOnce() + Send>),
    Every {
        period: u64,
        action: Box<dyn FnMut() -> bool + Send>,
    },
}

/// Ticks further than this are treated as "never" (still cancellable).
const FAR_TICK: u64 = u64::MAX >> 4;

struct State {
    wheel: Wheel<Action>,
    shutdown: bool,
    /// Tick the timer thread sleeps until: `u64::MAX` when it sleeps with no
    /// timers, `0` while it is awake (it re-reads the wheel before sleeping,
    /// under this lock, so an insert needs no wake-up then).
    wake_at: u64,
}

struct Inner {
    /// Invariant: every field of `State` is read and written only under
    /// this lock; actions are never run or dropped while it is held (they
    /// may call back into the handle).
    state: Mutex<State>,
    condvar: Condvar,
    /// Tick 0. Tick `t` is the instant `origin + t ms`.
    origin: Instant,
}

impl Inner {
    /// The tick at or after `deadline` (rounded up: never fires early).
    fn deadline_tick(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.origin).as_nanos();
        let ticks = nanos.div_ceil(1_000_000);
        u64::try_from(ticks).unwrap_or(FAR_TICK).min(FAR_TICK)
    }

    /// The last tick that has fully begun (rounded down).
    fn now_tick(&self) -> u64 {
        let millis = self.origin.elapsed().as_millis();
        u64::try_from(millis).unwrap_or(FAR_TICK).min(FAR_TICK)
    }

    fn time_until(&self, tick: u64) -> Duration {
        match self.origin.checked_add(Duration::from_millis(tick)) {
            Some(at) => at.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        }
    }
}

/// Owns the timer thread. Dropping it shuts it down like
/// [`TimerService::shutdown`].
pub struct TimerService {
    handle: TimerHandle,
    thread: Option<JoinHandle<()>>,
}

impl TimerService {
    /// Starts the timer thread (named `wippy-timer`).
    pub fn start() -> Result<TimerService, SchedError> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                wheel: Wheel::new(),
                shutdown: false,
                wake_at: 0,
            }),
            condvar: Condvar::new(),
            origin: Instant::now(),
        });
        let thread_inner = inner.clone();
        let thread = std::thread::Builder::new()
            .name("wippy-timer".into())
            .spawn(move || run(&thread_inner))?;
        Ok(TimerService {
            handle: TimerHandle { inner },
            thread: Some(thread),
        })
    }

    /// A handle to set and cancel timers.
    pub fn handle(&self) -> TimerHandle {
        self.handle.clone()
    }

    /// Stops and joins the timer thread. Pending timers are dropped without
    /// firing; timers set afterwards are dropped at once (their id cancels
    /// nothing).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        lock(&self.handle.inner.state).shutdown = true;
        self.handle.inner.condvar.notify_all();
        if thread.thread().id() == std::thread::current().id() {
            tracing::warn!("timer service stopped from one of its own actions");
            return;
        }
        if thread.join().is_err() {
            tracing::error!("timer thread panicked");
        }
    }
}

impl Drop for TimerService {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for TimerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerService")
            .field("pending", &self.handle.pending())
            .finish()
    }
}

/// A cheap, cloneable handle to the timer service.
///
/// Insert and cancel are O(1) (plus one short mutex hold).
#[derive(Clone)]
pub struct TimerHandle {
    inner: Arc<Inner>,
}

impl TimerHandle {
    /// Runs `action` on the timer thread at `deadline` (never before; within
    /// about a millisecond after, load permitting). A past deadline fires
    /// at once.
    pub fn at(&self, deadline: Instant, action: impl FnOnce() + Send + 'static) -> TimerId {
        let tick = self.inner.deadline_tick(deadline);
        self.insert(tick, Action::Once(Box::new(action)))
    }

    /// Runs `action` on the timer thread after `delay`.
    pub fn after(&self, delay: Duration, action: impl FnOnce() + Send + 'static) -> TimerId {
        match Instant::now().checked_add(delay) {
            Some(deadline) => self.at(deadline, action),
            None => self.insert(FAR_TICK, Action::Once(Box::new(action))),
        }
    }

    /// Runs `action` every `period` (at least 1 ms), first after one period,
    /// for as long as it returns `true`.
    ///
    /// Each firing is scheduled relative to the previous *due* time, so the
    /// timer does not drift; if the thread fell behind, missed firings are
    /// skipped (the phase is kept).
    pub fn every(
        &self,
        period: Duration,
        action: impl FnMut() -> bool + Send + 'static,
    ) -> TimerId {
        let period_ms = u64::try_from(period.as_nanos().div_ceil(1_000_000))
            .unwrap_or(FAR_TICK)
            .clamp(1, FAR_TICK);
        let first = match Instant::now().checked_add(period) {
            Some(deadline) => self.inner.deadline_tick(deadline),
            None => FAR_TICK,
        };
        self.insert(
            first,
            Action::Every {
                period: period_ms,
                action: Box::new(action),
            },
        )
    }

    /// Cancels a timer. Returns `true` if it was pending and now will never
    /// fire (for a periodic timer: never again); `false` if it already
    /// fired (or is firing), was cancelled, or the service is shut down.
    pub fn cancel(&self, id: TimerId) -> bool {
        let mut state = lock(&self.inner.state);
        match state.wheel.cancel(Key::from_bits(id.0)) {
            Cancelled::Pending(action) => {
                drop(state);
                drop(action);
                true
            }
            Cancelled::Held => true,
            Cancelled::NotFound => false,
        }
    }

    /// Number of timers that may still fire.
    pub fn pending(&self) -> usize {
        lock(&self.inner.state).wheel.len()
    }

    fn insert(&self, tick: u64, action: Action) -> TimerId {
        let mut state = lock(&self.inner.state);
        if state.shutdown {
            drop(state);
            drop(action);
            return TimerId(Key::NONE.to_bits());
        }
        let key = state.wheel.insert(tick, action);
        let wake = tick < state.wake_at;
        drop(state);
        if wake {
            self.inner.condvar.notify_one();
        }
        TimerId(key.to_bits())
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle").finish_non_exhaustive()
    }
}

/// Runs `f`, catching and logging a panic.
fn guarded<R>(f: impl FnOnce() -> R) -> Option<R> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| tracing::error!("timer action panicked"))
        .ok()
}

type Periodic = Box<dyn FnMut() -> bool + Send>;

/// The timer thread.
fn run(inner: &Inner) {
    let mut fired: Vec<Fired<Action>> = Vec::new();
    let mut again: Vec<(Key, u64, u64, Periodic)> = Vec::new();
    let mut stopped: Vec<Key> = Vec::new();
    let mut state = lock(&inner.state);
    while !state.shutdown {
        state.wheel.poll(inner.now_tick(), &mut fired);
        if fired.is_empty() {
            let next = state.wheel.next_expiration();
            state.wake_at = next.unwrap_or(u64::MAX);
            state = match next {
                None => inner.condvar.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(tick) => {
                    inner
                        .condvar
                        .wait_timeout(state, inner.time_until(tick))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            state.wake_at = 0;
            continue;
        }
        // One-shot timers are done: from now on `cancel` reports false.
        for f in &fired {
            if let Action::Once(_) = f.value {
                state.wheel.release(f.key);
            }
        }
        drop(state);
        for Fired { key, when, value } in fired.drain(..) {
            match value {
                Action::Once(action) => {
                    guarded(action);
                }
                Action::Every { period, mut action } => {
                    if guarded(&mut action) == Some(true) {
                        again.push((key, when, period, action));
                    } else {
                        stopped.push(key);
                    }
                }
            }
        }
        state = lock(&inner.state);
        for key in stopped.drain(..) {
            state.wheel.release(key);
        }
        let now = inner.now_tick();
        let mut cancelled = Vec::new();
        for (key, when, period, action) in again.drain(..) {
            // Relative to the previous due time: no drift. Fell behind:
            // skip the missed firings, keep the phase.
            let mut next = when.saturating_add(period);
            if next < now {
                next = when.saturating_add((now - when).div_ceil(period).saturating_mul(period));
            }
            if let Err(action) = state
                .wheel
                .reschedule(key, next, Action::Every { period, action })
            {
                cancelled.push(action);
            }
        }
        if !cancelled.is_empty() {
            drop(state);
            drop(cancelled);
            state = lock(&inner.state);
        }
    }
    // Shutdown: pending actions are dropped, outside the lock.
    let wheel = std::mem::take(&mut state.wheel);
    drop(state);
    drop(wheel);
    tracing::trace!("timer thread exited");
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const PATIENCE: Duration = Duration::from_secs(10);

    #[test]
    fn one_shot_fires_after_its_deadline() {
        let service = TimerService::start().expect("timer thread starts");
        let (tx, rx) = mpsc::channel();
        let deadline = Instant::now() + Duration::from_millis(20);
        service.handle().at(deadline, move || {
            tx.send(Instant::now()).expect("receiver alive")
        });
        let fired_at = rx.recv_timeout(PATIENCE).expect("timer fires");
        assert!(fired_at >= deadline);
        assert_eq!(service.handle().pending(), 0);
    }

    #[test]
    fn earlier_timer_wakes_a_thread_sleeping_for_a_later_one() {
        let service = TimerService::start().expect("timer thread starts");
        let handle = service.handle();
        handle.after(Duration::from_secs(3600), || {});
        let (tx, rx) = mpsc::channel();
        handle.after(Duration::from_millis(1), move || {
            tx.send(()).expect("receiver alive")
        });
        rx.recv_timeout(PATIENCE).expect("earlier timer fires");
        assert_eq!(handle.pending(), 1);
    }

    #[test]
    fn panicking_action_does_not_kill_the_thread() {
        let service = TimerService::start().expect("timer thread starts");
        let handle = service.handle();
        handle.after(Duration::ZERO, || panic!("boom"));
        let (tx, rx) = mpsc::channel();
        handle.after(Duration::from_millis(2), move || {
            tx.send(()).expect("receiver alive")
        });
        rx.recv_timeout(PATIENCE).expect("later timer still fires");
    }

    #[test]
    fn cancel_of_a_fired_timer_returns_false() {
        let service = TimerService::start().expect("timer thread starts");
        let handle = service.handle();
        let (tx, rx) = mpsc::channel();
        let id = handle.after(Duration::ZERO, move || tx.send(()).expect("receiver alive"));
        rx.recv_timeout(PATIENCE).expect("fires");
        // The release happens before the action runs, under the lock.
        assert!(!handle.cancel(id));
    }

    #[test]
    fn timers_set_after_shutdown_are_dropped() {
        let service = TimerService::start().expect("timer thread starts");
        let handle = service.handle();
        service.shutdown();
        let id = handle.after(Duration::ZERO, || unreachable!("never fires"));
        assert!(!handle.cancel(id));
        assert_eq!(handle.pending(), 0);
    }

    #[test]
    fn deadline_ticks_round_up_and_now_rounds_down() {
        let service = TimerService::start().expect("timer thread starts");
        let inner = &service.handle.inner;
        let t = inner.origin + Duration::from_micros(1500);
        assert_eq!(inner.deadline_tick(t), 2);
        assert_eq!(inner.deadline_tick(inner.origin), 0);
    }
}
