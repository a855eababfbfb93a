//! Grace periods: when memory that lookups may still be reading can be
//! freed, without an atomic read-modify-write or a fence per lookup.
//!
//! The process table frees chunks of slots that emptied
//! (`table.rs`). A lookup loads a chunk's pointer and then locks a slot in
//! it; the table unpublishes the pointer and may free the chunk only once
//! every lookup that could have loaded it has ended.
//!
//! The protocol (asymmetric: the rare writer pays, the reader does not):
//! * Each thread that reads has a word in thread-local storage, `state`
//!   (depth of nested reads in the low 16 bits, count of ended outermost
//!   reads above). A read stores `state + 1` (plain store), then a
//!   compiler fence, then loads the pointer; its end stores the new state
//!   with Release. Threads register the address of their word on their
//!   first read and unregister when they exit.
//! * The writer unpublishes the pointer, then runs a process-wide memory
//!   barrier (`membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: every thread
//!   of the process running at that moment executes a full barrier; one
//!   not running has passed one at its context switch), then reads every
//!   registered word (Acquire) and waits for each inside a read to be
//!   seen at depth 0 or with a different count of ended reads.
//! * Why that is enough: take a read that loaded the old pointer. Its
//!   `state + 1` store precedes that load in program order; if the
//!   barrier ran on its thread after the store, the writer sees the store;
//!   if before it, the barrier also made the writer's unpublish (which
//!   precedes the barrier) visible to the read, which would then have
//!   loaded null. So the writer sees the read as in progress, and waits
//!   for its Release end, after which the read touches nothing.
//! * A thread that reads after its registration was undone (a
//!   thread-local destructor that looks up a pid while its thread exits)
//!   counts itself in [`SLOW_READERS`] with a sequentially consistent
//!   read-modify-write instead; the writer waits for that count to be 0.
//!
//! Where the process-wide barrier is not available (not Linux, or the
//! call is refused), [`available`] is false and the table does not free
//! chunks at all (as before it could), so readers never need a fence.
//! The loom model `table::loom_tests` checks the argument with both
//! barriers as sequentially consistent fences (its symmetric form).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Low bits of a state word: nested reads in progress.
const DEPTH: u64 = 0xffff;
/// One ended outermost read, in a state word.
const ENDED: u64 = 1 << 16;
/// A state word not registered yet.
const UNREGISTERED: u64 = u64::MAX;
/// A state word whose registration was undone (thread exiting).
const GONE: u64 = u64::MAX - 1;

/// Reads by threads whose word is not registered (see the module docs).
static SLOW_READERS: AtomicUsize = AtomicUsize::new(0);

/// Addresses of the registered threads' state words.
static REGISTRY: Mutex<Vec<usize>> = Mutex::new(Vec::new());

thread_local! {
    static STATE: AtomicU64 = const { AtomicU64::new(UNREGISTERED) };
    static REGISTRATION: Registration = const { Registration };
}

/// Undoes a thread's registration when the thread exits.
struct Registration;

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = STATE.try_with(|s| {
            let me = std::ptr::from_ref(s) as usize;
            let mut reg = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
            reg.retain(|&a| a != me);
            // Relaxed: only this thread writes its word; after this store
            // it no longer reads through the fast path.
            s.store(GONE, Ordering::Relaxed);
        });
    }
}

/// A read in progress; dropping it ends the read.
pub(crate) struct Reading {
    /// The thread's state word before this read (fast path), or `None`
    /// (counted in [`SLOW_READERS`]).
    before: Option<u64>,
}

/// Starts a read: until the returned guard drops, memory this thread
/// loads a pointer to after this call is not freed by [`synchronize`].
#[inline]
pub(crate) fn read() -> Reading {
    let before = STATE.try_with(|s| {
        // Relaxed: only this thread writes its word.
        let v = s.load(Ordering::Relaxed);
        if v >= GONE {
            return None;
        }
        s.store(v + 1, Ordering::Relaxed);
        Some(v)
    });
    match before {
        Ok(Some(v)) => {
            light_barrier();
            Reading { before: Some(v) }
        }
        _ => read_slow(),
    }
}

#[cold]
fn read_slow() -> Reading {
    if register() {
        return read();
    }
    // SeqCst: a full barrier on this side (see the module docs).
    SLOW_READERS.fetch_add(1, Ordering::SeqCst);
    Reading { before: None }
}

/// Registers this thread's word; false when it cannot be (it was
/// unregistered, or its thread-locals are being destroyed).
fn register() -> bool {
    let registered = STATE.try_with(|s| {
        // Relaxed: only this thread writes its word.
        if s.load(Ordering::Relaxed) != UNREGISTERED {
            return false;
        }
        // The registration's destructor must exist to undo it.
        if REGISTRATION.try_with(|_| ()).is_err() {
            return false;
        }
        let me = std::ptr::from_ref(s) as usize;
        let mut reg = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        reg.push(me);
        s.store(0, Ordering::Relaxed);
        true
    });
    registered.unwrap_or(false)
}

impl Drop for Reading {
    #[inline]
    fn drop(&mut self) {
        match self.before {
            Some(v) => {
                let after = if v & DEPTH == 0 { v + ENDED } else { v };
                // Release: this read's loads from the memory happen
                // before the writer's Acquire load of the word that sees
                // the end, hence before the memory is freed.
                let _ = STATE.try_with(|s| s.store(after, Ordering::Release));
            }
            None => {
                // Release: as above, for the writer's load of the count.
                SLOW_READERS.fetch_sub(1, Ordering::Release);
            }
        }
    }
}

/// Whether [`synchronize`] can work here (the process-wide barrier is
/// available). When false, nothing may be freed that readers could load.
pub(crate) fn available() -> bool {
    heavy_barrier_available()
}

/// Waits (until `deadline`) for every read that may have loaded a pointer
/// unpublished before this call to end. True when they have: the memory
/// behind those pointers can be freed. False on timeout or when
/// [`available`] is false: the memory must be kept (and the call retried).
pub(crate) fn synchronize(deadline: Instant) -> bool {
    if !heavy_barrier() {
        return false;
    }
    // The reads in progress: (word address, state seen).
    let inside: Vec<(usize, u64)> = {
        let reg = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        reg.iter()
            .map(|&a| (a, word(a).load(Ordering::Acquire)))
            .filter(|&(_, v)| v < GONE && v & DEPTH != 0)
            .collect()
    };
    for (a, seen) in inside {
        loop {
            // Under the registry lock: a registered word outlives its
            // thread's registration, which is undone under this lock.
            let ended = {
                let reg = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
                if !reg.contains(&a) {
                    // Its thread exited: it ended its reads first.
                    true
                } else {
                    let now = word(a).load(Ordering::Acquire);
                    now & DEPTH == 0 || now >> 16 != seen >> 16
                }
            };
            if ended {
                break;
            }
            if Instant::now() >= deadline {
                return false;
            }
            pause();
        }
    }
    // Acquire: pairs with the Release decrements of slow reads.
    while SLOW_READERS.load(Ordering::Acquire) != 0 {
        if Instant::now() >= deadline {
            return false;
        }
        pause();
    }
    true
}

/// The state word at a registered address.
fn word(addr: usize) -> &'static AtomicU64 {
    // SAFETY: `addr` is in the registry (checked under its lock by every
    // caller, which still holds it): it is the address of a live thread's
    // `STATE`, which lives until that thread's `Registration` destructor
    // removes it under the same lock. The `'static` does not escape the
    // caller's use under the lock.
    unsafe { &*(addr as *const AtomicU64) }
}

fn pause() {
    std::thread::sleep(Duration::from_micros(50));
}

#[inline]
fn light_barrier() {
    // The reader's half of the asymmetric barrier: the writer's
    // `heavy_barrier` makes it a full barrier (see the module docs).
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

#[cfg(target_os = "linux")]
mod membarrier {
    use std::sync::OnceLock;

    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    /// Registers the process for private expedited barriers, once.
    pub(super) fn available() -> bool {
        static OK: OnceLock<bool> = OnceLock::new();
        *OK.get_or_init(|| {
            // SAFETY: membarrier takes (cmd, flags, cpu_id) by value and
            // touches no memory of ours.
            unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    CMD_REGISTER_PRIVATE_EXPEDITED,
                    0 as libc::c_long,
                    0 as libc::c_long,
                ) == 0
            }
        })
    }

    /// A full barrier on every running thread of the process.
    pub(super) fn barrier() -> bool {
        // SAFETY: as in `available`.
        available()
            && unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    CMD_PRIVATE_EXPEDITED,
                    0 as libc::c_long,
                    0 as libc::c_long,
                ) == 0
            }
    }
}

#[cfg(target_os = "linux")]
fn heavy_barrier_available() -> bool {
    membarrier::available()
}

#[cfg(target_os = "linux")]
fn heavy_barrier() -> bool {
    // SeqCst: the writer's own full barrier, before and after the call.
    std::sync::atomic::fence(Ordering::SeqCst);
    let ok = membarrier::barrier();
    std::sync::atomic::fence(Ordering::SeqCst);
    ok
}

#[cfg(not(target_os = "linux"))]
fn heavy_barrier_available() -> bool {
    false
}

#[cfg(not(target_os = "linux"))]
fn heavy_barrier() -> bool {
    false
}

/// Loom models of the grace protocol in its symmetric form (both barriers
/// sequentially consistent fences; `.ci/run` runs them): a reader that
/// loads the chunk pointer and reads the chunk, a writer that unpublishes
/// it, waits as [`synchronize`] does, and then frees (writes) the memory.
/// Run with `RUSTFLAGS="--cfg loom" cargo test -p wippy-process --lib
/// --release grace::loom`.
///
/// Checked in every interleaving: the free never races with a read of the
/// memory (loom reports a data race on the cell otherwise), with one
/// reader, with two, and with a nested read.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::{DEPTH, ENDED};
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};

    struct Shared {
        /// 1: the chunk is published; 0: unpublished.
        ptr: AtomicUsize,
        /// The chunk's memory.
        chunk: UnsafeCell<u32>,
        /// The readers' state words.
        words: Vec<AtomicU64>,
    }

    /// A read by reader `r`, nested `depth` deep (the outer reads are
    /// only counted, as a nested read's are).
    fn read(s: &Shared, r: usize, depth: u64) {
        let word = &s.words[r];
        let before = word.load(Ordering::Relaxed);
        word.store(before + 1, Ordering::Relaxed);
        fence(Ordering::SeqCst); // `light_barrier` + the writer's membarrier
        if depth > 0 {
            read(s, r, depth - 1);
        } else if s.ptr.load(Ordering::Acquire) == 1 {
            // SAFETY (model): the protocol under test keeps the free away.
            s.chunk.with(|c| unsafe { std::ptr::read(c) });
        }
        let after = if before & DEPTH == 0 {
            before + ENDED
        } else {
            before
        };
        word.store(after, Ordering::Release);
    }

    /// Unpublishes, waits as `synchronize` does, frees.
    fn reclaim(s: &Shared) {
        s.ptr.store(0, Ordering::Relaxed);
        fence(Ordering::SeqCst); // `heavy_barrier`
        for word in &s.words {
            let seen = word.load(Ordering::Acquire);
            if seen & DEPTH == 0 {
                continue;
            }
            loop {
                let now = word.load(Ordering::Acquire);
                if now & DEPTH == 0 || now >> 16 != seen >> 16 {
                    break;
                }
                loom::thread::yield_now();
            }
        }
        // SAFETY (model): the write that stands for the free.
        s.chunk.with_mut(|c| unsafe { *c = 0xdead });
    }

    fn model(readers: usize, depth: u64) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(move || {
            let s = Arc::new(Shared {
                ptr: AtomicUsize::new(1),
                chunk: UnsafeCell::new(7),
                words: (0..readers).map(|_| AtomicU64::new(0)).collect(),
            });
            let threads: Vec<_> = (0..readers)
                .map(|r| {
                    let s = s.clone();
                    loom::thread::spawn(move || read(&s, r, depth))
                })
                .collect();
            reclaim(&s);
            for t in threads {
                t.join().unwrap();
            }
        });
    }

    #[test]
    fn free_waits_for_a_reader() {
        model(1, 0);
    }

    #[test]
    fn free_waits_for_two_readers() {
        model(2, 0);
    }

    #[test]
    fn free_waits_for_a_nested_read() {
        model(1, 1);
    }
}
