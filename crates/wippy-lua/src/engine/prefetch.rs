//! Cache warming for a process about to run.
//!
//! A process woken by a message from its own shard usually runs right after
//! the sender parks. In a shard with many processes its memory went cold
//! long ago: a resume walks the thread, its call frames, its stack, its
//! environment and the tables its frames hold (the state table, the inbox),
//! about twenty cache lines, and each is a miss that the CPU only discovers
//! when the one before it has arrived. So when a process parks, while that
//! memory is hot, it records where the memory is ([`Warm::record`]); a wake-up
//! from the same shard then prefetches all of it at once ([`Warm::wake`]),
//! and the misses overlap each other and the end of the sender's step.
//!
//! Measured on `lua.ring` (10,000 processes passing one token): a hop
//! touched about 28 lines beyond L2 (cachegrind, 1 MiB last level), and
//! the VM this was written on serves those from DRAM at about 200 ns each.
//!
//! # Invariants
//! * Recorded addresses are only ever *prefetched*, never read: a stale one
//!   (a table freed since, a stack that moved) costs a wasted prefetch.
//! * The struct fields are read at fixed offsets (`ffi/layout.rs`), which
//!   `layout::check` verifies against the C API when a VM starts; on a
//!   mismatch (a Luau upgrade moved a field) nothing is recorded and
//!   nothing prefetched.
//! * The table is touched only by the thread running its shard (the holder
//!   of the shard's state lock): `record` runs inside a step, `wake` inside
//!   a wake-up that `shard::running()` shows to come from that same shard.

use std::cell::UnsafeCell;

use mlua::ffi::lua_State;

use crate::ffi::layout::{self, Held, TVALUE};

const LINE: usize = 64;
/// Lines of stack prefetched, from the top down (a parked process uses
/// about 45 slots, 12 lines; the frames a resume returns into are on top).
const STACK_LINES: usize = 12;
/// Lines of CallInfo prefetched (a parked process has about five frames of
/// 48 bytes).
const CI_LINES: usize = 5;

/// Words per entry: three lines. Two lines (16 words) left room for about
/// three tables after the fixed spans, and a ring node's stack holds more
/// than that: with three, `lua.ring` ran 1.30M -> 1.63M hops/s (median of
/// 5 interleaved pairs; four lines measured the same as three).
const WORDS: usize = 24;
/// Lines per entry.
const ENTRY_LINES: usize = WORDS * 8 / LINE;
/// Entries per shard at most (1.5 MiB): slot `s` uses entry `s % CAP`, so a
/// shard's table stops growing at `CAP` processes, and beyond that
/// processes share entries (the entry names its slot: no wrong prefetch).
const CAP: usize = 8192;
// Entry layout: the frame shape, the slots (plus one) of the process and
// of its peer (see `record`), then spans: the thread, its CallInfo and its stack, the
// caller's (`RUST` of them, refreshed at every park), and what the stack
// holds, up to the first zero.
const SHAPE: usize = 0;
const PEER: usize = 1;
const SPANS: usize = 2;
const RUST: usize = 4;
const SCANNED: usize = SPANS + 3 + RUST;

/// An address and a count of lines from it, in one word: user-space
/// addresses fit in 56 bits.
fn span(addr: usize, lines: usize) -> usize {
    debug_assert!(addr < 1 << 56);
    addr | lines.min(255) << 56
}

/// Where one parked process's memory is.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Entry([usize; WORDS]);

const _: () = assert!(std::mem::size_of::<Entry>() == ENTRY_LINES * LINE);

/// Per-shard table of what to prefetch for each slot's process.
pub(crate) struct Warm {
    enabled: bool,
    entries: UnsafeCell<Vec<Entry>>,
    /// The slot whose memory the last wake-up prefetched as the woken
    /// process's peer (`u32::MAX`: none).
    predicted: UnsafeCell<u32>,
}

// SAFETY: `entries` and `predicted` are touched only by the thread running
// the shard (see the module's invariants): never from two threads at once,
// and every access is a short borrow that does not outlive the call.
unsafe impl Sync for Warm {}
// SAFETY: as for `Sync`: the runner that touches the table may change from
// one run of the shard to the next, but never two at once (the shard's
// state lock), and the addresses it holds are only prefetched.
unsafe impl Send for Warm {}

#[inline(always)]
fn prefetch(p: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The scanned spans of an entry: added in order, without repeats, up to
/// the end of the entry.
struct Scanned {
    e: Entry,
    n: usize,
}

impl Scanned {
    fn add(&mut self, addr: usize, lines: usize) {
        if addr == 0 || self.n == WORDS {
            return;
        }
        let s = span(addr, lines);
        if !self.e.0[SCANNED..self.n].contains(&s) {
            self.e.0[self.n] = s;
            self.n += 1;
        }
    }
}

impl Warm {
    /// A table for `lua`'s VM; disabled when the struct layout it relies
    /// on does not match that VM.
    pub(crate) fn new(lua: &mlua::Lua) -> Warm {
        Warm::enabled(layout::check(lua))
    }

    /// An empty table for another VM of the same build as `other`'s (the
    /// layout check gives the same answer for every VM of a build).
    pub(crate) fn like(other: &Warm) -> Warm {
        Warm::enabled(other.enabled)
    }

    fn enabled(enabled: bool) -> Warm {
        Warm {
            enabled,
            entries: UnsafeCell::new(Vec::new()),
            predicted: UnsafeCell::new(u32::MAX),
        }
    }

    /// Records where the memory of `slot`'s process, parked in thread `l`,
    /// is: the thread, its frames and stack, the caller's `rust` spans (its
    /// Rust state and the peer it sends to: address and lines; zero
    /// addresses are skipped), the slot of that peer (`peer_slot`; see
    /// [`Warm::wake`]), and what its stack holds: tables (with their node
    /// arrays), strings, userdata, and its own closures with their
    /// environment (the prelude's closures, whose environment is the
    /// thread's globals, are shared and hot). The stack is scanned only
    /// when the frames changed since the last record: a process parks in
    /// the same place over and over.
    ///
    /// Costs three lines (192 bytes) per slot up to the highest recorded one,
    /// at most `CAP` per shard; the caller records only message-driven
    /// steps, so idle processes cost nothing.
    ///
    /// # Safety
    /// Called by the shard's runner; `l` is a live, suspended thread.
    pub(crate) unsafe fn record(
        &self,
        slot: u32,
        l: *mut lua_State,
        rust: [(usize, usize); RUST],
        peer_slot: Option<u32>,
    ) {
        if !self.enabled {
            return;
        }
        // SAFETY: the runner is the only user of `entries` (see the
        // invariants), and no other borrow of it is live in this call.
        let entries = unsafe { &mut *self.entries.get() };
        let ix = slot as usize % CAP;
        if entries.len() <= ix {
            entries.resize(ix + 1, Entry::default());
        }
        let e = &mut entries[ix];
        let thread = span(l as usize, 3);
        if e.0[PEER] >> 32 != slot as usize + 1 {
            // Another process's entry: start afresh.
            *e = Entry::default();
        }
        e.0[PEER] = (slot as usize + 1) << 32 | peer_slot.map_or(0, |p| p as usize + 1);
        for (i, (a, lines)) in rust.into_iter().enumerate() {
            // A missing one repeats the thread's span: no hole to skip.
            e.0[SPANS + 3 + i] = if a == 0 { thread } else { span(a, lines) };
        }
        // SAFETY: `l` is a live thread (the contract) of a VM whose layout
        // was checked (`enabled`).
        let (top, ci) = unsafe { layout::top_and_frame(l) };
        let shape = ci ^ top.rotate_left(32);
        if e.0[SPANS] == thread && e.0[SHAPE] == shape {
            return;
        }
        // SAFETY: as above.
        let extent = unsafe { layout::extent(l) };
        let stack = extent.stack;
        let ci_from = extent
            .base_frame
            .max(ci.saturating_sub((CI_LINES - 1) * LINE));
        let stack_from = stack.max(top.saturating_sub(STACK_LINES * LINE));
        let mut scanned = Scanned { e: *e, n: SCANNED };
        scanned.e.0[SHAPE] = shape;
        scanned.e.0[SPANS] = thread;
        scanned.e.0[SPANS + 1] = span(ci_from, (ci + LINE - ci_from).div_ceil(LINE));
        scanned.e.0[SPANS + 2] = span(stack_from, (top - stack_from).div_ceil(LINE));
        scanned.e.0[SCANNED..].fill(0);
        // Top down: the frames a resume returns into come first.
        let mut s = top;
        while s > stack && scanned.n < WORDS {
            s -= TVALUE;
            // SAFETY: every slot in [stack, top) of a live, suspended thread
            // is initialised, and a collectable one points to a live object
            // while the thread holds it.
            match unsafe { layout::held(s) } {
                Held::Table {
                    table,
                    nodes,
                    node_bytes,
                } => {
                    scanned.add(table, 1);
                    scanned.add(nodes, node_bytes.div_ceil(LINE).min(4));
                }
                Held::Object(p) => scanned.add(p, 1),
                Held::Closure { closure, env } => {
                    // The process's own closures and environment; the
                    // prelude's (environment: the globals) are shared.
                    if env != extent.globals {
                        scanned.add(closure, 1);
                        scanned.add(env, 1);
                    }
                }
                Held::Other => {}
            }
        }
        *e = scanned.e;
    }

    /// A process of this shard woke `slot`'s process, which probably runs
    /// next: prefetches its memory, unless the previous wake-up predicted
    /// it and did so already, and that of the peer it sends to, which
    /// probably runs after it. So in a chain of processes (a ring, a
    /// pipeline) each process's memory is fetched a whole step before it
    /// runs, and the entries read here were themselves prefetched a step
    /// earlier (`issue` fetches the peer's entry).
    pub(crate) fn wake(&self, slot: u32) {
        if !self.enabled {
            return;
        }
        // SAFETY: called by the shard's runner (see the invariants); the
        // borrows end with this call.
        let (entries, predicted) = unsafe { (&*self.entries.get(), &mut *self.predicted.get()) };
        if *predicted != slot {
            issue(entries, slot);
        }
        *predicted = match entry(entries, slot).map(peer_of) {
            Some(Some(peer)) => {
                issue(entries, peer);
                peer
            }
            _ => u32::MAX,
        };
    }

    /// Forgets `slot`'s process (it ended).
    pub(crate) fn clear(&self, slot: u32) {
        // SAFETY: called by the shard's runner (see the invariants).
        let entries = unsafe { &mut *self.entries.get() };
        if entry(entries, slot).is_some() {
            entries[slot as usize % CAP] = Entry::default();
        }
    }
}

/// The entry of `slot`'s process, if it has one.
fn entry(entries: &[Entry], slot: u32) -> Option<&Entry> {
    entries
        .get(slot as usize % CAP)
        .filter(|e| e.0[PEER] >> 32 == slot as usize + 1)
}

/// The slot of the peer `e`'s process sends to, if known.
fn peer_of(e: &Entry) -> Option<u32> {
    match e.0[PEER] & 0xffff_ffff {
        0 => None,
        p => Some((p - 1) as u32),
    }
}

/// Prefetches the memory of `slot`'s process as its entry records it, and
/// the entry of the peer it sends to.
fn issue(entries: &[Entry], slot: u32) {
    let Some(e) = entry(entries, slot) else {
        return;
    };
    if let Some(peer) = peer_of(e) {
        let p = entries.as_ptr() as usize + (peer as usize % CAP) * std::mem::size_of::<Entry>();
        for i in 0..ENTRY_LINES {
            prefetch(p + i * LINE);
        }
    }
    for &s in &e.0[SPANS..] {
        if s == 0 {
            break;
        }
        // Straight-line for the first line (every span has one): most spans
        // are one to three lines, and a counted loop costs more than them.
        let a = (s & ((1 << 56) - 1)) & !(LINE - 1);
        prefetch(a);
        let mut next = a + LINE;
        let end = a + (s >> 56) * LINE;
        while next < end {
            prefetch(next);
            next += LINE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spans of `slot`'s entry, as (address, lines).
    fn spans(w: &Warm, slot: u32) -> Vec<(usize, usize)> {
        // SAFETY: the test is the table's only user.
        let entries = unsafe { &*w.entries.get() };
        entry(entries, slot).expect("an entry").0[SPANS..]
            .iter()
            .take_while(|&&s| s != 0)
            .map(|&s| (s & ((1 << 56) - 1), s >> 56))
            .collect()
    }

    #[test]
    fn a_parked_thread_is_recorded_with_what_its_stack_holds() {
        let lua = mlua::Lua::new();
        let f: mlua::Function = lua
            .load("return function() local t = { a = 1 } local s = string.rep('x', 3) coroutine.yield(t, s) end")
            .eval()
            .unwrap();
        let th = lua.create_thread(f).unwrap();
        let (t, s): (mlua::Table, mlua::LuaString) = th.resume(()).unwrap();
        let (table, string) = (t.to_pointer() as usize, s.to_pointer() as usize);
        let l = th.state();
        let w = Warm::new(&lua);
        assert!(w.enabled);
        let rust = [(0x10_000, 2), (0, 1), (0x20_000, 1), (0x30_000, 3)];
        // SAFETY: a live, suspended thread; the test is the runner.
        unsafe { w.record(9000, l, rust, Some(7)) };
        let sp = spans(&w, 9000);
        let s = &sp;
        assert_eq!(s[0], (l as usize, 3), "the thread comes first");
        for want in [(0x10_000, 2), (l as usize, 3), (0x20_000, 1), (0x30_000, 3)] {
            assert!(s.contains(&want), "{want:x?} missing from {s:x?}");
        }
        assert!(s.contains(&(table, 1)), "the table");
        // (mlua gives the string's characters, which follow its header.)
        assert!(
            s.iter()
                .any(|&(a, n)| n == 1 && a < string && string - a <= 32),
            "the string"
        );
        // SAFETY: as above.
        let e = unsafe { &*w.entries.get() };
        assert_eq!(e.len(), 9000 % CAP + 1, "slots share entries beyond CAP");
        assert_eq!(peer_of(entry(e, 9000).unwrap()), Some(7));
        assert!(
            entry(e, 9000 % CAP as u32).is_none(),
            "an entry names its slot"
        );

        // A wake-up prefetches the peer's memory next and predicts it.
        w.wake(9000);
        // SAFETY: as above.
        assert_eq!(unsafe { *w.predicted.get() }, 7);
        w.clear(9000);
        // SAFETY: as above.
        assert!(entry(unsafe { &*w.entries.get() }, 9000).is_none());
        th.resume::<()>(()).unwrap();
    }
}
