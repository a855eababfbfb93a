//! The process table: pid → process cell, generation-checked.
//!
//! A pid's local id is `generation << 32 | index`. The slot at `index`
//! remembers the generation of its current (or last) occupant; a lookup
//! with another generation finds nothing, so a stale pid never reaches the
//! process that reuses the slot.
//!
//! Layout: slots live in chunks of [`CHUNK`], allocated on first use. The
//! chunk directory is a fixed array sized for `max_processes`: per chunk,
//! its pointer (null while it has no memory), how many of its indices are
//! on free lists, and the generation its slots start at when it is made.
//!
//! Chunks are freed when all of their indices are free again
//! ([`Table::compact`], which the node runs some time after processes
//! ended): a million processes that ended leave no table behind. A freed
//! chunk's number goes to the spares and is made again (new memory) before
//! a never-used chunk is; its slots then start at the chunk's generation
//! floor, above every generation a key of the chunk was ever given, so a
//! stale pid still finds nothing. Lookups may be loading a chunk's pointer
//! as it is unpublished: the memory is freed only after a grace period
//! (`grace.rs`), which costs a lookup two plain stores to a thread-local,
//! no atomic read-modify-write and no fence.
//!
//! Invariants:
//! * A slot's `Mutex` guards its generation and occupant; every read and write
//!   of either happens under it. Lookups lock only the one slot, so unrelated
//!   processes never contend.
//! * An index is on at most one free list, and only while its slot is empty.
//! * An index is handed out (to `insert_with`) from a free list, from
//!   `next`, or from a spare chunk, and it is not on a free list while it
//!   is out. A chunk's `free` counts its indices on free lists; it changes
//!   only under the lock of the list the index enters or leaves, so a
//!   holder of every list's lock sees it exact: at [`CHUNK`], no index of
//!   the chunk is out or on its way between lists, and none can be handed
//!   out but through those locks.
//! * Only [`Table::compact`] unpublishes a chunk (under every list's lock,
//!   when its `free` is [`CHUNK`], after taking its indices off the lists)
//!   and frees chunk memory (after [`grace::synchronize`]); a chunk is made
//!   again only through the spares, so its slots start at its `floor`.
//! * The generation of a slot only grows, across its chunk being freed and
//!   made again (wrapping after 2^32 reuses of the same slot, which is the
//!   stale-pid horizon).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::grace;

/// Slots per chunk.
const CHUNK: usize = 4096;
/// Free-list shards (spawn and exit on different workers rarely contend).
const FREE_SHARDS: usize = 8;
/// Indices moved at once from another shard's free list to an empty home
/// shard, so a thread that spawns while others exit takes a lock of theirs
/// once per batch rather than once per spawn.
const REFILL: usize = 64;
/// How long a compaction waits for lookups to leave the chunks it
/// unpublished before it keeps them for the next one.
const GRACE_WAIT: Duration = Duration::from_secs(1);

/// One free-list shard, alone on its cache line.
#[derive(Default)]
struct FreeShard {
    list: Mutex<Vec<u32>>,
    /// Length of `list`, read without the lock to skip empty shards. Only
    /// a hint (Relaxed): a stale value costs a lock or a fresh index, never
    /// correctness, because `list` itself is only touched under its lock.
    hint: AtomicUsize,
}

struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    generation: u32,
    value: Option<Arc<T>>,
}

type Chunk<T> = [Slot<T>; CHUNK];

/// A chunk's entry in the directory (never freed before the table).
struct Meta<T> {
    /// The chunk's slots; null before first use and while freed.
    chunk: AtomicPtr<Chunk<T>>,
    /// The chunk's indices on free lists (see the module's invariants).
    free: AtomicU32,
    /// The generation the chunk's slots start at when it is made: above
    /// every generation its slots had when it was last freed. Written by
    /// `compact` before the chunk enters the spares (under their lock).
    floor: AtomicU32,
}

/// A concurrent slab of `Arc<T>` indexed by generation-checked keys.
pub(crate) struct Table<T> {
    chunks: Box<[Meta<T>]>,
    /// Next never-used index.
    next: AtomicU32,
    free: [CachePadded<FreeShard>; FREE_SHARDS],
    /// Numbers of freed chunks, made again before `next` moves on.
    spare: Mutex<Vec<u32>>,
    /// Chunks unpublished whose memory waits for a grace period.
    limbo: Mutex<Vec<AtomicPtr<Chunk<T>>>>,
    /// Held by a compaction (one at a time).
    compacting: Mutex<()>,
    /// Chunks with memory now.
    published: AtomicUsize,
    /// A compaction is worth running (see [`Table::take_compaction_due`]).
    due: AtomicBool,
    /// A compaction was asked for and has not started yet.
    asked: AtomicBool,
    live: AtomicUsize,
    capacity: usize,
}

fn lock<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    // A panic never happens while a table lock is held; recover regardless.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn shard() -> usize {
    thread_local! {
        static SHARD: usize = {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            // Relaxed: only spreads threads over shards, orders nothing.
            NEXT.fetch_add(1, Ordering::Relaxed) % FREE_SHARDS
        };
    }
    SHARD.with(|s| *s)
}

/// Splits a key into (generation, index).
fn split(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// Splits an index into (chunk, offset).
fn place(index: u32) -> (usize, usize) {
    (index as usize / CHUNK, index as usize % CHUNK)
}

impl<T> Table<T> {
    /// A table holding at most `max` entries at once.
    pub(crate) fn new(max: usize) -> Table<T> {
        let max = max.clamp(CHUNK, u32::MAX as usize);
        let nchunks = max.div_ceil(CHUNK);
        Table {
            chunks: (0..nchunks)
                .map(|_| Meta {
                    chunk: AtomicPtr::new(std::ptr::null_mut()),
                    free: AtomicU32::new(0),
                    floor: AtomicU32::new(0),
                })
                .collect(),
            next: AtomicU32::new(0),
            free: std::array::from_fn(|_| CachePadded::new(FreeShard::default())),
            spare: Mutex::new(Vec::new()),
            limbo: Mutex::new(Vec::new()),
            compacting: Mutex::new(()),
            published: AtomicUsize::new(0),
            due: AtomicBool::new(false),
            asked: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            capacity: nchunks * CHUNK,
        }
    }

    /// Most entries the table can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries currently in the table.
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a statistic.
        self.live.load(Ordering::Relaxed)
    }

    /// Chunks with memory now.
    #[cfg(test)]
    pub(crate) fn chunks_in_memory(&self) -> usize {
        // Relaxed: a statistic.
        self.published.load(Ordering::Relaxed)
    }

    /// The slot at `index`, if its chunk has memory. The caller is inside
    /// `_reading`, a read of the grace protocol, and uses the slot only
    /// within it.
    fn slot<'r>(&'r self, index: u32, _reading: &'r grace::Reading) -> Option<&'r Slot<T>> {
        let (c, o) = place(index);
        // Acquire: pairs with the Release in `chunk_for` that published the chunk.
        let ptr = self.chunks.get(c)?.chunk.load(Ordering::Acquire);
        // SAFETY: a non-null chunk pointer came from `memory::alloc_chunk`
        // in `chunk_for`; it is freed only by `compact` after unpublishing it
        // and after a grace period (`grace::synchronize`) that waits for
        // `_reading`, which began before this load and outlives `'r`, or by
        // `Drop`, which needs `&mut self`.
        unsafe { ptr.as_ref() }.map(|chunk| &chunk[o])
    }

    /// The slot at `index`, which the caller holds (it is out, not on a
    /// free list), its chunk made if it has no memory.
    fn chunk_for(&self, index: u32) -> &Slot<T> {
        let (c, o) = place(index);
        let meta = &self.chunks[c];
        // Acquire: see `slot`.
        let mut ptr = meta.chunk.load(Ordering::Acquire);
        if ptr.is_null() {
            // Relaxed: `floor` was written before the chunk's number
            // entered the spares, under their lock, which the caller's
            // `take_index` took after it (or it is 0 for a new chunk).
            let floor = meta.floor.load(Ordering::Relaxed);
            let fresh = memory::alloc_chunk::<T>(floor);
            // Release on success publishes the initialised chunk; Acquire on
            // failure sees the winner's chunk.
            match meta.chunk.compare_exchange(
                std::ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    ptr = fresh;
                    self.published.fetch_add(1, Ordering::Relaxed);
                }
                Err(winner) => {
                    // SAFETY: `fresh` was never shared; another thread installed its chunk.
                    unsafe { memory::free_chunk(fresh) };
                    ptr = winner;
                }
            }
        }
        // SAFETY: `ptr` is the chunk's published memory; the caller holds
        // `index`, so the chunk's `free` is below `CHUNK` and `compact`
        // neither unpublishes nor frees it while the caller uses the slot.
        let chunk = unsafe { &*ptr };
        &chunk[o]
    }

    /// Pops an index off `list` (locked), keeping its chunk's count.
    fn pop(&self, list: &mut Vec<u32>) -> Option<u32> {
        let ix = list.pop()?;
        // Relaxed: changed under the list's lock (module invariants).
        self.chunks[place(ix).0]
            .free
            .fetch_sub(1, Ordering::Relaxed);
        Some(ix)
    }

    /// Pushes indices onto shard `s`'s free list, counting them.
    fn push(&self, s: usize, ixs: impl IntoIterator<Item = u32>) {
        let shard = &self.free[s];
        let mut l = lock(&shard.list);
        for ix in ixs {
            l.push(ix);
            // Relaxed: changed under the list's lock (module invariants).
            self.chunks[place(ix).0]
                .free
                .fetch_add(1, Ordering::Relaxed);
        }
        shard.hint.store(l.len(), Ordering::Relaxed);
    }

    /// Pushes one index onto shard `s`'s free list, counting it (the
    /// path of every end).
    #[inline]
    fn push_one(&self, s: usize, ix: u32) {
        let shard = &self.free[s];
        let mut l = lock(&shard.list);
        l.push(ix);
        // Relaxed: changed under the list's lock (module invariants).
        self.chunks[place(ix).0]
            .free
            .fetch_add(1, Ordering::Relaxed);
        shard.hint.store(l.len(), Ordering::Relaxed);
    }

    fn take_index(&self) -> Option<u32> {
        let home = shard();
        {
            let mut l = lock(&self.free[home].list);
            if let Some(ix) = self.pop(&mut l) {
                self.free[home].hint.store(l.len(), Ordering::Relaxed);
                return Some(ix);
            }
        }
        for i in 1..FREE_SHARDS {
            let other = &self.free[(home + i) % FREE_SHARDS];
            if other.hint.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut batch = {
                let mut l = lock(&other.list);
                let keep = l.len().saturating_sub(REFILL);
                let mut batch = Vec::with_capacity(l.len() - keep);
                // Out of the counts while between lists (module invariants).
                while l.len() > keep {
                    batch.extend(self.pop(&mut l));
                }
                other.hint.store(l.len(), Ordering::Relaxed);
                batch
            };
            if let Some(ix) = batch.pop() {
                if !batch.is_empty() {
                    self.push(home, batch);
                }
                return Some(ix);
            }
        }
        if let Some(ix) = self.take_spare(home) {
            return Some(ix);
        }
        // Relaxed: the counter only hands out distinct numbers.
        let ix = self.next.fetch_add(1, Ordering::Relaxed);
        if (ix as usize) < self.capacity {
            Some(ix)
        } else {
            self.next.fetch_sub(1, Ordering::Relaxed);
            // Full, unless a hint was stale: a last look under every lock.
            self.free.iter().find_map(|f| {
                let mut l = lock(&f.list);
                let ix = self.pop(&mut l);
                f.hint.store(l.len(), Ordering::Relaxed);
                ix
            })
        }
    }

    /// The first index of a freed chunk, the others pushed onto shard
    /// `home`'s list; `None` without spares. The chunk gets memory in
    /// `chunk_for`, at the first insert.
    fn take_spare(&self, home: usize) -> Option<u32> {
        let c = lock(&self.spare).pop()? as usize;
        let base = (c * CHUNK) as u32;
        self.push(home, (base + 1..base + CHUNK as u32).rev());
        Some(base)
    }

    /// Inserts the value built from its key; `None` when the table is full.
    pub(crate) fn insert_with(&self, make: impl FnOnce(u64) -> Arc<T>) -> Option<(u64, Arc<T>)> {
        let index = self.take_index()?;
        let slot = self.chunk_for(index);
        let mut st = lock(&slot.state);
        debug_assert!(st.value.is_none(), "free index had an occupant");
        let key = (u64::from(st.generation) << 32) | u64::from(index);
        let value = make(key);
        st.value = Some(value.clone());
        drop(st);
        self.live.fetch_add(1, Ordering::Relaxed);
        Some((key, value))
    }

    /// Runs `f` on the entry under `key` while its slot is locked (no
    /// reference-count traffic). `f` must not touch the table.
    #[inline]
    pub(crate) fn with<R>(&self, key: u64, f: impl FnOnce(&Arc<T>) -> R) -> Option<R> {
        let (generation, index) = split(key);
        let reading = grace::read();
        let slot = self.slot(index, &reading)?;
        let st = lock(&slot.state);
        match &st.value {
            Some(v) if st.generation == generation => Some(f(v)),
            _ => None,
        }
    }

    /// The entry under `key`, if it is still there.
    pub(crate) fn get(&self, key: u64) -> Option<Arc<T>> {
        self.with(key, Arc::clone)
    }

    /// Removes the entry under `key`; the slot's generation moves on.
    pub(crate) fn remove(&self, key: u64) -> Option<Arc<T>> {
        let (generation, index) = split(key);
        let value = {
            let reading = grace::read();
            let slot = self.slot(index, &reading)?;
            let mut st = lock(&slot.state);
            if st.generation != generation || st.value.is_none() {
                return None;
            }
            st.generation = st.generation.wrapping_add(1);
            st.value.take()
        };
        self.push_one(shard(), index);
        // Relaxed: a count; `due` is a hint for the node.
        let live = self.live.fetch_sub(1, Ordering::Relaxed) - 1;
        // At most half of the slots of two or more chunks hold something:
        // a compaction may free chunks (one chunk is kept as it is, so
        // processes that come and go one by one cost no compactions).
        let published = self.published.load(Ordering::Relaxed);
        if published > 1 && live * 2 <= published * CHUNK && !self.due.load(Ordering::Relaxed) {
            self.due.store(true, Ordering::Relaxed);
        }
        value
    }

    /// Whether the caller should have [`Table::compact`] run: one is worth
    /// running and none was asked for that has not started (so processes
    /// that end one by one ask for one at a time).
    #[inline]
    pub(crate) fn take_compaction_due(&self) -> bool {
        // Relaxed: hints; the compaction itself takes the locks it needs.
        // `asked` is set only by a caller that gets true, which has the
        // compaction run (and it clears `asked` as it starts).
        self.due.load(Ordering::Relaxed)
            && !self.asked.load(Ordering::Relaxed)
            && self.due.swap(false, Ordering::Relaxed)
            && !self.asked.swap(true, Ordering::Relaxed)
    }

    /// Frees the memory of every chunk whose indices are all free, and
    /// the free lists' spare capacity. Waits (up to a second) for lookups
    /// that may be reading a freed chunk; chunks it could not wait for are
    /// freed by a later compaction (or the table's drop).
    pub(crate) fn compact(&self) {
        let _one = lock(&self.compacting);
        // Relaxed: a hint (see `take_compaction_due`).
        self.asked.store(false, Ordering::Relaxed);
        let mut unpublished = Vec::new();
        {
            let mut lists: Vec<MutexGuard<'_, Vec<u32>>> =
                self.free.iter().map(|f| lock(&f.list)).collect();
            let reclaim = grace::available();
            if reclaim {
                self.close_frontier();
            }
            let used = (self.next.load(Ordering::Relaxed) as usize)
                .div_ceil(CHUNK)
                .min(self.chunks.len());
            // Every list locked: the counts are exact (module invariants).
            let empty: Vec<bool> = self.chunks[..used]
                .iter()
                .map(|m| {
                    m.free.load(Ordering::Relaxed) as usize == CHUNK
                        && !m.chunk.load(Ordering::Relaxed).is_null()
                })
                .collect();
            if reclaim && empty.contains(&true) {
                for l in lists.iter_mut() {
                    l.retain(|&ix| !empty[place(ix).0]);
                }
                for (c, _) in empty.iter().enumerate().filter(|(_, e)| **e) {
                    let meta = &self.chunks[c];
                    meta.free.store(0, Ordering::Relaxed);
                    // AcqRel: the Acquire half sees the chunk's initialised
                    // memory (published with Release); Release orders the
                    // generation reads below after the unpublish.
                    let ptr = meta.chunk.swap(std::ptr::null_mut(), Ordering::AcqRel);
                    // SAFETY: the chunk was published, so `ptr` is valid; only
                    // this function frees chunks, and not before the grace
                    // period below.
                    let chunk = unsafe { &*ptr };
                    let floor = chunk
                        .iter()
                        .map(|s| lock(&s.state).generation)
                        .max()
                        .unwrap_or(0);
                    meta.floor.store(floor, Ordering::Relaxed);
                    self.published.fetch_sub(1, Ordering::Relaxed);
                    unpublished.push((c as u32, ptr));
                }
            }
            for (f, l) in self.free.iter().zip(lists.iter_mut()) {
                if l.capacity() > 4 * l.len().max(REFILL) {
                    l.shrink_to_fit();
                }
                f.hint.store(l.len(), Ordering::Relaxed);
            }
        }
        // The floors are written: the chunks may be made again (with new
        // memory; the old one waits for its grace period).
        lock(&self.spare).extend(unpublished.iter().map(|&(c, _)| c));
        let mut limbo = lock(&self.limbo);
        limbo.extend(unpublished.into_iter().map(|(_, p)| AtomicPtr::new(p)));
        if !limbo.is_empty() && grace::synchronize(Instant::now() + GRACE_WAIT) {
            for p in limbo.drain(..) {
                // SAFETY: unpublished above (or by an earlier compaction)
                // and every lookup that could have loaded it has ended
                // (`grace::synchronize`); `compacting` makes this the only
                // owner.
                unsafe { memory::free_chunk(p.into_inner()) };
            }
        }
        let mut spare = lock(&self.spare);
        // Lowest last: `take_spare` pops the lowest chunk first.
        spare.sort_unstable_by(|a, b| b.cmp(a));
        if spare.capacity() > 4 * spare.len().max(8) {
            spare.shrink_to_fit();
        }
    }

    /// When every index `next` handed out of the chunk it is partway
    /// through is on a free list, moves `next` past the chunk and counts
    /// the indices it never handed out as free: the chunk can then be
    /// freed like any other (it is made again, whole, from the spares).
    /// The caller holds every free list's lock.
    fn close_frontier(&self) {
        // Relaxed: the compare-exchange below decides.
        let next = self.next.load(Ordering::Relaxed) as usize;
        let (c, issued) = (next / CHUNK, next % CHUNK);
        if issued == 0 || next >= self.capacity {
            return;
        }
        let meta = &self.chunks[c];
        if meta.free.load(Ordering::Relaxed) as usize != issued {
            return;
        }
        // Relaxed: `next` only hands out distinct numbers; on success no
        // index past `next` in the chunk was handed out, and none will be.
        if self
            .next
            .compare_exchange(
                next as u32,
                ((c + 1) * CHUNK) as u32,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            // Relaxed: changed under every list's lock. The never-handed-
            // out indices are on no list; `compact` takes the chunk's
            // indices off the lists and zeroes the count next.
            meta.free
                .fetch_add((CHUNK - issued) as u32, Ordering::Relaxed);
        }
    }

    /// Every entry present at some point during the call.
    pub(crate) fn snapshot(&self) -> Vec<Arc<T>> {
        // Relaxed: indices handed out concurrently may be missed, which a
        // snapshot allows.
        let used = (self.next.load(Ordering::Relaxed) as usize).min(self.capacity);
        let mut out = Vec::with_capacity(self.len());
        let reading = grace::read();
        for ix in 0..used as u32 {
            if let Some(slot) = self.slot(ix, &reading)
                && let Some(v) = &lock(&slot.state).value
            {
                out.push(v.clone());
            }
        }
        out
    }

    /// Removes every entry (runtime shutdown).
    pub(crate) fn drain(&self) -> Vec<Arc<T>> {
        let used = (self.next.load(Ordering::Relaxed) as usize).min(self.capacity);
        let mut out = Vec::new();
        for ix in 0..used as u32 {
            let taken = {
                let reading = grace::read();
                let Some(slot) = self.slot(ix, &reading) else {
                    continue;
                };
                let mut st = lock(&slot.state);
                let v = st.value.take();
                if v.is_some() {
                    st.generation = st.generation.wrapping_add(1);
                }
                v
            };
            if let Some(v) = taken {
                self.push_one(0, ix);
                self.live.fetch_sub(1, Ordering::Relaxed);
                out.push(v);
            }
        }
        out
    }
}

/// Chunk memory. On Linux a chunk is its own mapping of whole pages, so
/// its memory goes back to the OS when it is freed, whatever the global
/// allocator does with blocks of its size (mimalloc places ~100 KiB blocks
/// in 4 MiB pages that stay while any block in them lives: measured, the
/// two chunks left after a million processes ended kept 7 MiB resident).
mod memory {
    use super::{CHUNK, Chunk, Slot, SlotState};
    use std::sync::Mutex;

    /// A chunk whose slots are empty and at generation `floor`.
    #[cfg(target_os = "linux")]
    pub(super) fn alloc_chunk<T>(floor: u32) -> *mut Chunk<T> {
        let layout = std::alloc::Layout::new::<Chunk<T>>();
        // SAFETY: an anonymous private mapping: no file, no fixed address;
        // its pages are aligned beyond any slot's alignment.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(layout);
        }
        let slots = p.cast::<Slot<T>>();
        for i in 0..CHUNK {
            // SAFETY: `i < CHUNK` is within the mapping, which is writable
            // and not yet shared.
            unsafe {
                slots.add(i).write(Slot {
                    state: Mutex::new(SlotState {
                        generation: floor,
                        value: None,
                    }),
                });
            }
        }
        p.cast()
    }

    /// Frees a chunk from [`alloc_chunk`].
    ///
    /// # Safety
    /// `chunk` came from [`alloc_chunk`], is freed once, and nothing refers
    /// into it any more.
    #[cfg(target_os = "linux")]
    pub(super) unsafe fn free_chunk<T>(chunk: *mut Chunk<T>) {
        // SAFETY: the caller's contract: the slots are initialised and
        // unreferenced, the mapping is ours and of this size.
        unsafe {
            std::ptr::drop_in_place(chunk);
            libc::munmap(chunk.cast(), std::mem::size_of::<Chunk<T>>());
        }
    }

    /// A chunk whose slots are empty and at generation `floor`.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn alloc_chunk<T>(floor: u32) -> *mut Chunk<T> {
        Box::into_raw(Box::new(std::array::from_fn(|_| Slot {
            state: Mutex::new(SlotState {
                generation: floor,
                value: None,
            }),
        })))
    }

    /// Frees a chunk from [`alloc_chunk`].
    ///
    /// # Safety
    /// `chunk` came from [`alloc_chunk`], is freed once, and nothing refers
    /// into it any more.
    #[cfg(not(target_os = "linux"))]
    pub(super) unsafe fn free_chunk<T>(chunk: *mut Chunk<T>) {
        // SAFETY: the caller's contract; made by `Box::into_raw`.
        drop(unsafe { Box::from_raw(chunk) });
    }
}

impl<T> Drop for Table<T> {
    fn drop(&mut self) {
        let limbo = std::mem::take(self.limbo.get_mut().unwrap_or_else(PoisonError::into_inner));
        let published = self.chunks.iter().map(|m| &m.chunk);
        for c in published.chain(limbo.iter()) {
            let ptr = c.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !ptr.is_null() {
                // SAFETY: made by `memory::alloc_chunk`, freed nowhere
                // else (a chunk in limbo is no longer published); we own
                // the table exclusively, so no reference into it remains.
                unsafe { memory::free_chunk(ptr) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stale_key_finds_nothing_after_slot_reuse() {
        let t: Table<u32> = Table::new(16);
        let (k1, _) = t.insert_with(|_| Arc::new(1)).unwrap();
        assert!(t.remove(k1).is_some());
        let (k2, _) = t.insert_with(|_| Arc::new(2)).unwrap();
        assert_eq!(k1 as u32, k2 as u32, "slot reused");
        assert_ne!(k1, k2);
        assert!(t.get(k1).is_none());
        assert_eq!(*t.get(k2).unwrap(), 2);
    }

    #[test]
    fn concurrent_insert_remove_keeps_count() {
        let t: Arc<Table<u64>> = Arc::new(Table::new(1 << 16));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        let (k, _) = t.insert_with(|_| Arc::new(i)).unwrap();
                        assert_eq!(*t.get(k).unwrap(), i);
                        assert!(t.remove(k).is_some());
                        assert!(t.get(k).is_none());
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(t.len(), 0);
    }

    /// Fills `n` entries, returning their keys.
    fn fill(t: &Table<u64>, n: usize) -> Vec<u64> {
        (0..n as u64)
            .map(|i| t.insert_with(|_| Arc::new(i)).unwrap().0)
            .collect()
    }

    #[test]
    fn compaction_frees_emptied_chunks_and_stale_keys_stay_stale() {
        let t: Table<u64> = Table::new(1 << 20);
        let keys = fill(&t, 5 * CHUNK);
        assert_eq!(t.chunks_in_memory(), 5);
        // Keep one entry of chunk 1; end the rest.
        let kept = keys[CHUNK + 7];
        for &k in &keys {
            if k != kept {
                assert!(t.remove(k).is_some());
            }
        }
        assert!(t.take_compaction_due(), "a compaction is asked for");
        t.compact();
        if !grace::available() {
            eprintln!("skip: no process-wide barrier here; chunks are kept");
            return;
        }
        assert_eq!(t.chunks_in_memory(), 1, "only the kept entry's chunk stays");
        assert!(t.free.iter().all(|f| lock(&f.list).len() < CHUNK));
        assert_eq!(*t.get(kept).unwrap(), (CHUNK + 7) as u64);
        for &k in &keys {
            if k != kept {
                assert!(t.get(k).is_none(), "stale key {k:#x} found something");
                assert!(t.remove(k).is_none());
            }
        }
        // Made again: every slot of a remade chunk starts above all the
        // generations its keys had, so old keys still find nothing.
        let again = fill(&t, 5 * CHUNK);
        let old: std::collections::HashMap<u32, u32> =
            keys.iter().map(|&k| (k as u32, (k >> 32) as u32)).collect();
        for &k in &again {
            let (g, ix) = split(k);
            if let Some(&was) = old.get(&ix) {
                assert!(g > was, "index {ix}: generation {g} after {was}");
            }
        }
        for &k in &keys {
            if k != kept {
                assert!(t.get(k).is_none());
            }
        }
        // Chunks are remade lowest first, before never-used ones.
        assert!(again.iter().all(|&k| (k as u32 as usize) < 6 * CHUNK));
        assert_eq!(t.len(), 5 * CHUNK + 1);
    }

    #[test]
    fn the_chunk_next_is_partway_through_is_freed_too() {
        let t: Table<u64> = Table::new(1 << 20);
        let keys = fill(&t, 100);
        for &k in &keys {
            t.remove(k);
        }
        t.compact();
        if !grace::available() {
            eprintln!("skip: no process-wide barrier here; chunks are kept");
            return;
        }
        assert_eq!(t.chunks_in_memory(), 0);
        // Made again from the spares, whole: all of its indices are free.
        let again = fill(&t, CHUNK);
        assert!(again.iter().all(|&k| (k as u32 as usize) < CHUNK));
        assert_eq!(t.chunks_in_memory(), 1);
        for &k in &keys {
            assert!(t.get(k).is_none());
        }
    }

    #[test]
    fn generation_grows_across_many_frees() {
        let t: Table<u64> = Table::new(1 << 20);
        let mut last: Option<u64> = None;
        for round in 0..5 {
            let keys = fill(&t, CHUNK);
            let k = keys[3];
            if let Some(prev) = last {
                assert_eq!(prev as u32, k as u32, "round {round}: same index");
                assert!(k >> 32 > prev >> 32, "round {round}: generation grew");
                assert!(t.get(prev).is_none());
            }
            last = Some(k);
            for k in keys {
                t.remove(k);
            }
            t.compact();
        }
    }

    #[test]
    fn concurrent_insert_lookup_remove_with_compactions() {
        let t: Arc<Table<u64>> = Arc::new(Table::new(1 << 20));
        let stop = Arc::new(AtomicBool::new(false));
        let stale: Arc<Mutex<Vec<u64>>> = Arc::default();
        let compactor = {
            let (t, stop) = (t.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    t.compact();
                    std::thread::yield_now();
                }
            })
        };
        let looker = {
            let (t, stop, stale) = (t.clone(), stop.clone(), stale.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let keys = lock(&stale).clone();
                    for k in keys {
                        assert!(t.get(k).is_none(), "stale key {k:#x} found something");
                    }
                }
            })
        };
        let workers: Vec<_> = (0..3u64)
            .map(|w| {
                let (t, stale) = (t.clone(), stale.clone());
                std::thread::spawn(move || {
                    for round in 0..6u64 {
                        let base = (w << 40) | (round << 24);
                        let keys: Vec<u64> = (0..3 * CHUNK as u64)
                            .map(|i| t.insert_with(|_| Arc::new(base | i)).unwrap().0)
                            .collect();
                        for (i, &k) in keys.iter().enumerate() {
                            assert_eq!(*t.get(k).unwrap(), base | i as u64);
                        }
                        for &k in &keys {
                            assert!(t.remove(k).is_some());
                            assert!(t.get(k).is_none());
                        }
                        let mut s = lock(&stale);
                        s.extend(keys.iter().step_by(97));
                        let len = s.len();
                        s.drain(..len.saturating_sub(2000));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        compactor.join().unwrap();
        looker.join().unwrap();
        assert_eq!(t.len(), 0);
        t.compact();
        if grace::available() {
            assert_eq!(t.chunks_in_memory(), 0);
        }
    }

    proptest! {
        /// The table behaves like a map from live keys to values.
        #[test]
        fn table_matches_model(ops in proptest::collection::vec((any::<bool>(), 0usize..64), 1..400)) {
            let t: Table<usize> = Table::new(64);
            let mut model: Vec<(u64, usize)> = Vec::new();
            let mut dead: Vec<u64> = Vec::new();
            for (insert, n) in ops {
                if insert || model.is_empty() {
                    if let Some((k, _)) = t.insert_with(|_| Arc::new(n)) {
                        prop_assert!(!model.iter().any(|(mk, _)| *mk == k));
                        model.push((k, n));
                    } else {
                        prop_assert!(model.len() >= 64);
                    }
                } else {
                    let (k, _) = model.remove(n % model.len());
                    prop_assert!(t.remove(k).is_some());
                    dead.push(k);
                }
                prop_assert_eq!(t.len(), model.len());
                for (k, v) in &model { prop_assert_eq!(*t.get(*k).unwrap(), *v); }
                for k in &dead { prop_assert!(t.get(*k).is_none()); }
            }
        }
    }
}
