//! Preemption of Lua code that runs past its time slice (`execution.md` §6).
//!
//! No check runs in the interpreter while a process is within its slice:
//! a per-host watchdog (a periodic timer) looks at every running shard each
//! half slice, and when the same step is still running on two looks in a
//! row it installs a Luau interrupt on that VM. The interrupt fires at the
//! next loop back-edge or call, removes itself and yields the running
//! thread, so the process is requeued and the shard moves on. CPU-bound Lua
//! pays nothing until its slice is over.
//!
//! Invariants:
//! * `Preempt::callbacks` points into the shard's VM; it is cleared under
//!   `lock` before the VM is dropped, and the watchdog only writes through
//!   it while holding `lock`, so it never writes into a freed VM.
//! * The interrupt pointer is a plain field the VM thread reads at safe
//!   points; the watchdog writes it from another thread. A write racing a
//!   step boundary at worst preempts the next step early (it yields once
//!   and is requeued), never corrupts anything: the VM only calls the
//!   function, which checks yieldability itself.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use mlua::ffi;

use crate::ffi::interrupt;

/// Per-shard preemption state.
pub(crate) struct Preempt {
    /// Changed at the start of every process step, by the runner only: the
    /// high 32 bits count steps, the low 32 bits are the slot of the process
    /// being stepped (see `step_begins`). The watchdog reads it to see
    /// whether a step has ended; a CPU sampler (`wippy top`) to see whose
    /// step is running. One word, so naming the slot costs no extra store.
    epoch: AtomicU64,
    /// True while a worker runs the shard.
    pub(crate) running: AtomicBool,
    /// True while the shard's watchdog timer is armed.
    pub(crate) armed: AtomicBool,
    /// Set by `fire`, cleared by `clear`: lets the runner skip the lock
    /// between steps when no interrupt can be pending.
    fired: AtomicBool,
    lock: Mutex<Callbacks>,
}

/// The VM's callback table, where `fire` and `clear` install and remove
/// the interrupt; null once the VM is gone.
struct Callbacks(*mut ffi::lua_Callbacks);

// SAFETY: the pointer is only dereferenced under `Preempt::lock` while the
// VM it points into is alive (see module invariants).
unsafe impl Send for Callbacks {}

impl Preempt {
    /// The state of a shard whose VM's callback table is `callbacks` (see
    /// `ffi::interrupt::callbacks`).
    pub(crate) fn new(callbacks: *mut ffi::lua_Callbacks) -> Preempt {
        Preempt {
            epoch: AtomicU64::new(0),
            running: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            fired: AtomicBool::new(false),
            lock: Mutex::new(Callbacks(callbacks)),
        }
    }

    /// Marks the start of a step of the process in `slot` (runner side).
    #[inline]
    pub(crate) fn step_begins(&self, slot: u32) {
        // Relaxed: the runner is the only writer, so no locked increment;
        // readers only compare the word or sample the slot (`overran`,
        // `running_slot`), and order nothing by it.
        // Filling the low half with ones and adding one clears it and
        // counts the step in the high half; the slot then goes in the low
        // half. Two instructions (`or`, `lea`) where a bare counter took
        // one: this is on every step.
        let e = self.epoch.load(Ordering::Relaxed);
        let next = (e | u64::from(u32::MAX)).wrapping_add(1 + u64::from(slot));
        self.epoch.store(next, Ordering::Relaxed);
    }

    /// Steps the shard has begun so far (wrapping; runner side, or a
    /// sample from elsewhere).
    pub(crate) fn steps(&self) -> u32 {
        // Relaxed: the runner's own counter (see `epoch`); the high half.
        (self.epoch.load(Ordering::Relaxed) >> 32) as u32
    }

    /// The slot of the process whose step the shard is running, if it is
    /// running (any thread; a sample: it may be a step old, and between
    /// steps of a run it names the previous step's process).
    pub(crate) fn running_slot(&self) -> Option<u32> {
        // Relaxed: a statistic, ordered with nothing.
        if !self.running.load(Ordering::Relaxed) {
            return None;
        }
        // Truncation keeps the slot half (see `epoch`).
        Some(self.epoch.load(Ordering::Relaxed) as u32)
    }

    /// Installs the interrupt (watchdog side).
    pub(crate) fn fire(&self) {
        let cb = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if !cb.0.is_null() && self.running.load(Ordering::Acquire) {
            // SAFETY: non-null means the VM is alive (cleared under this
            // lock before it is dropped); see the module invariants for the
            // cross-thread write.
            unsafe { interrupt::set_interrupt(cb.0, true) };
            // Release, after the write: a runner that sees `fired` false
            // (Acquire in `clear`) ran no step this `fire` could reach.
            self.fired.store(true, Ordering::Release);
        }
    }

    /// Removes a pending interrupt (runner side, between steps).
    ///
    /// Invariant: `fire` writes the interrupt and then sets `fired`, both
    /// under `lock`. If `fired` reads false here, no `fire` has completed
    /// since the last clear; one still in progress holds `lock` and only
    /// installs the interrupt while `running` is true, which at worst
    /// preempts the next step early (see the module invariants).
    pub(crate) fn clear(&self) {
        // The load spares the common case (nothing fired) a locked swap; a
        // `fire` racing past it is seen by the next `clear`, as it would be
        // after a swap that found `false`.
        if !self.fired.load(Ordering::Acquire) || !self.fired.swap(false, Ordering::AcqRel) {
            return;
        }
        let cb = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if !cb.0.is_null() {
            // SAFETY: as in `fire`.
            unsafe { interrupt::set_interrupt(cb.0, false) };
        }
    }

    /// Forgets the VM (before it is dropped).
    pub(crate) fn detach(&self) {
        self.attach(std::ptr::null_mut());
    }

    /// Watches the VM whose callback table is `callbacks` instead (the
    /// shard's VM was replaced; the old one is dropped after this).
    pub(crate) fn attach(&self, callbacks: *mut ffi::lua_Callbacks) {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner).0 = callbacks;
    }
}

/// How long one step may run in code that cannot be preempted (a Rust or
/// C boundary such as a `table.sort` comparator or a metamethod) before its
/// process is stopped.
///
/// A stop ends the process, as a terminate does: Lua code cannot catch it.
/// Lua has no error `pcall` cannot catch, so a stop is an error raised
/// again at every safe point (every call, return and loop back-edge) until
/// the step ends, and whatever the step then comes to (an error caught and
/// survived, a park, a finish) the process ends with [`OVERRUN`]
/// (`LuaProc::step` asks [`stopped`]). Before, the error was raised once
/// more only where the interrupt could not yield, and a `pcall` retried in
/// a loop held the worker a second per round.
pub(crate) const HARD_LIMIT: Duration = Duration::from_secs(1);

thread_local! {
    /// When the step running on this worker overruns `HARD_LIMIT`.
    static HARD_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The step running on this worker has been stopped (see `HARD_LIMIT`).
    static STOPPED: Cell<bool> = const { Cell::new(false) };
}

/// Marks the start of a process step on this thread. The hard deadline is
/// set by the interrupt when it first finds it cannot yield (at least one
/// slice into the step), so a step that is never interrupted reads no clock.
pub(crate) fn begin_step() {
    HARD_DEADLINE.with(|d| d.set(None));
    STOPPED.with(|s| s.set(false));
}

/// Marks the end of a process step on this thread.
pub(crate) fn end_step() {
    HARD_DEADLINE.with(|d| d.set(None));
    STOPPED.with(|s| s.set(false));
}

/// Whether the step running on this thread has been stopped: its process
/// must end with [`OVERRUN`], however the step ended.
pub(crate) fn stopped() -> bool {
    STOPPED.with(Cell::get)
}

/// The error a step past [`HARD_LIMIT`] in code that cannot be preempted
/// is stopped with.
pub(crate) const OVERRUN: &str = "time slice exceeded by more than 1s in code that cannot be preempted (a metamethod, a sort comparator, or a library callback); the process was stopped";

/// Whether the running step has overrun [`HARD_LIMIT`] where it cannot be
/// preempted: the interrupt asks this each time it finds it cannot yield;
/// the first time starts the clock. Once it has, the step is stopped
/// ([`stopped`]).
pub(crate) fn overdue() -> bool {
    let now = Instant::now();
    let over = HARD_DEADLINE.with(|d| match d.get() {
        Some(t) => now >= t,
        None => {
            d.set(Some(now + HARD_LIMIT));
            false
        }
    });
    if over {
        STOPPED.with(|s| s.set(true));
    }
    over
}

/// One watchdog look at a shard: the epoch seen last time, updated.
/// Returns true when the same step has run since the previous look.
pub(crate) fn overran(p: &Preempt, last: &mut u64) -> bool {
    let now = p.epoch.load(Ordering::Relaxed);
    let same = p.running.load(Ordering::Acquire) && now == *last;
    *last = now;
    same
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_names_the_running_slot_and_changes_at_every_step() {
        let p = Preempt::new(std::ptr::null_mut());
        p.step_begins(7);
        assert_eq!(p.running_slot(), None, "not running");
        p.running.store(true, Ordering::SeqCst);
        assert_eq!(p.running_slot(), Some(7));
        let mut last = u64::MAX;
        assert!(!overran(&p, &mut last));
        assert!(overran(&p, &mut last), "the same step, seen twice");
        // The same process stepped again is another step.
        p.step_begins(7);
        assert!(!overran(&p, &mut last));
        p.step_begins(u32::MAX);
        assert_eq!(p.running_slot(), Some(u32::MAX));
        assert!(!overran(&p, &mut last));
    }
}
