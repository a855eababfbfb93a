//! The process table: pid → process cell, generation-checked.
//!
//! A pid's local id is `generation << 32 | index`. The slot at `index`
//! remembers the generation of its current (or last) occupant; a lookup
//! with another generation finds nothing, so a stale pid never reaches the
//! process that reuses the slot.
//!
//! Layout: slots live in chunks of [`CHUNK`] allocated on first use and never
//! freed before the table, so a slot's address is stable. The chunk directory
//! is a fixed array of `AtomicPtr`s sized for `max_processes`.
//!
//! Invariants:
//! * A slot's `Mutex` guards its generation and occupant; every read and write
//!   of either happens under it. Lookups lock only the one slot, so unrelated
//!   processes never contend.
//! * An index is on at most one free list, and only while its slot is empty.
//! * The generation of a slot only grows (wrapping after 2^32 reuses of the
//!   same slot, which is the stale-pid horizon).

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crossbeam_utils::CachePadded;

/// Slots per chunk.
const CHUNK: usize = 4096;
/// Free-list shards (spawn and exit on different workers rarely contend).
const FREE_SHARDS: usize = 8;
/// Indices moved at once from another shard's free list to an empty home
/// shard, so a thread that spawns while others exit takes a lock of theirs
/// once per batch rather than once per spawn.
const REFILL: usize = 64;

/// One free-list shard, alone on its cache line.
#[derive(Default)]
struct FreeShard {
    list: Mutex<Vec<u32>>,
    /// Length of `list`, read without the lock to skip empty shards. Only
    /// a hint (Relaxed): a stale value costs a lock or a fresh index, never
    /// correctness, because `list` itself is only touched under its lock.
    hint: AtomicUsize,
}

impl FreeShard {
    fn push(&self, ix: u32) {
        let mut l = lock(&self.list);
        l.push(ix);
        self.hint.store(l.len(), Ordering::Relaxed);
    }
}

struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    generation: u32,
    value: Option<Arc<T>>,
}

type Chunk<T> = [Slot<T>; CHUNK];

/// A concurrent slab of `Arc<T>` indexed by generation-checked keys.
pub(crate) struct Table<T> {
    chunks: Box<[AtomicPtr<Chunk<T>>]>,
    /// Next never-used index.
    next: AtomicU32,
    free: [CachePadded<FreeShard>; FREE_SHARDS],
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

impl<T> Table<T> {
    /// A table holding at most `max` entries at once.
    pub(crate) fn new(max: usize) -> Table<T> {
        let max = max.clamp(CHUNK, u32::MAX as usize);
        let nchunks = max.div_ceil(CHUNK);
        Table {
            chunks: (0..nchunks)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            next: AtomicU32::new(0),
            free: std::array::from_fn(|_| CachePadded::new(FreeShard::default())),
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

    fn slot(&self, index: u32) -> Option<&Slot<T>> {
        let (c, o) = (index as usize / CHUNK, index as usize % CHUNK);
        // Acquire: pairs with the Release in `chunk_for` that published the chunk.
        let ptr = self.chunks.get(c)?.load(Ordering::Acquire);
        // SAFETY: a non-null chunk pointer came from `Box::into_raw` in
        // `chunk_for` and is freed only in `Drop`, which needs `&mut self`.
        unsafe { ptr.as_ref() }.map(|chunk| &chunk[o])
    }

    fn chunk_for(&self, index: u32) -> &Slot<T> {
        let c = index as usize / CHUNK;
        let cell = &self.chunks[c];
        // Acquire: see `slot`.
        if cell.load(Ordering::Acquire).is_null() {
            let fresh: Box<Chunk<T>> = Box::new(std::array::from_fn(|_| Slot {
                state: Mutex::new(SlotState {
                    generation: 0,
                    value: None,
                }),
            }));
            let fresh = Box::into_raw(fresh);
            // Release on success publishes the initialised chunk; Acquire on
            // failure sees the winner's chunk.
            if cell
                .compare_exchange(
                    std::ptr::null_mut(),
                    fresh,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
            {
                // SAFETY: `fresh` was never shared; another thread installed its chunk.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
        self.slot(index).expect("chunk installed above")
    }

    fn take_index(&self) -> Option<u32> {
        let home = shard();
        {
            let mut l = lock(&self.free[home].list);
            if let Some(ix) = l.pop() {
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
                let batch = l.split_off(keep);
                other.hint.store(l.len(), Ordering::Relaxed);
                batch
            };
            if let Some(ix) = batch.pop() {
                if !batch.is_empty() {
                    let mut l = lock(&self.free[home].list);
                    l.extend(batch);
                    self.free[home].hint.store(l.len(), Ordering::Relaxed);
                }
                return Some(ix);
            }
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
                let ix = l.pop();
                f.hint.store(l.len(), Ordering::Relaxed);
                ix
            })
        }
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
    pub(crate) fn with<R>(&self, key: u64, f: impl FnOnce(&Arc<T>) -> R) -> Option<R> {
        let (generation, index) = split(key);
        let slot = self.slot(index)?;
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
        let slot = self.slot(index)?;
        let mut st = lock(&slot.state);
        if st.generation != generation || st.value.is_none() {
            return None;
        }
        let value = st.value.take();
        st.generation = st.generation.wrapping_add(1);
        drop(st);
        self.free[shard()].push(index);
        self.live.fetch_sub(1, Ordering::Relaxed);
        value
    }

    /// Every entry present at some point during the call.
    pub(crate) fn snapshot(&self) -> Vec<Arc<T>> {
        // Acquire pairs with the Relaxed increments only loosely: indices
        // handed out concurrently may be missed, which a snapshot allows.
        let used = (self.next.load(Ordering::Relaxed) as usize).min(self.capacity);
        let mut out = Vec::with_capacity(self.len());
        for ix in 0..used as u32 {
            if let Some(slot) = self.slot(ix)
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
            let Some(slot) = self.slot(ix) else { continue };
            let mut st = lock(&slot.state);
            if let Some(v) = st.value.take() {
                st.generation = st.generation.wrapping_add(1);
                drop(st);
                self.free[0].push(ix);
                self.live.fetch_sub(1, Ordering::Relaxed);
                out.push(v);
            }
        }
        out
    }
}

impl<T> Drop for Table<T> {
    fn drop(&mut self) {
        for c in self.chunks.iter() {
            let ptr = c.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !ptr.is_null() {
                // SAFETY: installed by `chunk_for` from `Box::into_raw`; we own
                // the table exclusively, so no reference into it remains.
                drop(unsafe { Box::from_raw(ptr) });
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
