//! The process running on this worker thread, for the natives it calls.
//!
//! A process's step sets it ([`CurrentGuard`]) for exactly the duration of
//! the resume; the natives the process calls reach it only through
//! [`with_current`], whose closure gets references that cannot outlive the
//! call (tokio's `with_current` habit: no reference escapes).
//!
//! Invariants:
//! * `CURRENT` is non-null only while a [`CurrentGuard`] lives on this
//!   thread, and the guard's contract keeps both pointees alive until it
//!   drops: the step holds the `Rc`s they come from.
//! * Natives called outside a step see nothing ([`with_current`] returns
//!   `None`) and return an error value instead of touching anything.

use std::cell::Cell;
use std::marker::PhantomData;

use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

thread_local! {
    static CURRENT: Cell<(*const ProcData, *const ShardEnv)> =
        const { Cell::new((std::ptr::null(), std::ptr::null())) };
}

/// Makes a process the one the natives act for, until dropped.
pub(crate) struct CurrentGuard {
    /// Dropped on the thread that set it.
    _not_send: PhantomData<*const ()>,
}

impl CurrentGuard {
    /// Makes `data` and `env` current on this thread until the guard drops.
    ///
    /// # Safety
    /// `data` and `env` stay valid (their owners hold them, unmoved) until
    /// the guard drops; the guard is dropped on this thread before any other
    /// is set.
    #[inline]
    pub(crate) unsafe fn set(data: *const ProcData, env: *const ShardEnv) -> CurrentGuard {
        CURRENT.with(|c| c.set((data, env)));
        CurrentGuard {
            _not_send: PhantomData,
        }
    }
}

impl Drop for CurrentGuard {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set((std::ptr::null(), std::ptr::null())));
    }
}

/// Runs `f` on the running process's data and its VM's shared state; `None`
/// outside a step.
#[inline(always)]
pub(crate) fn with_current<R>(f: impl FnOnce(&ProcData, &ShardEnv) -> R) -> Option<R> {
    with_current_or(|p, e| Some(f(p, e)), || None)
}

/// Runs `f` on the running process's data and its VM's shared state, or
/// `outside` outside a step. (What the hot natives use: the result is not
/// wrapped in an `Option` to be unwrapped again.)
#[inline(always)]
pub(crate) fn with_current_or<R>(
    f: impl FnOnce(&ProcData, &ShardEnv) -> R,
    outside: impl FnOnce() -> R,
) -> R {
    let (p, e) = CURRENT.with(Cell::get);
    if p.is_null() || e.is_null() {
        return outside();
    }
    // SAFETY: non-null only while a `CurrentGuard` lives on this thread,
    // which keeps both alive (its contract); that guard belongs to the step
    // this native runs inside, so it outlives this call, and `f` cannot keep
    // the references beyond it.
    let (p, e) = unsafe { (&*p, &*e) };
    f(p, e)
}
