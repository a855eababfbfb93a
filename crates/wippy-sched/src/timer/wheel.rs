//! A hierarchical timer wheel: a pure, single-threaded data structure.
//!
//! Time is an integer tick count (the service uses milliseconds). Six levels
//! of 64 slots: a slot of level `L` spans `64^L` ticks and a level spans
//! `64^(L+1)`, so the wheel covers `64^6` ticks (about 795 days at 1 ms);
//! timers further out are parked in the top level and re-placed as time
//! reaches them.
//!
//! Entries live in a slab (a `Vec` with a free list) and each slot is an
//! intrusive doubly linked list through the slab, so insert and cancel are
//! O(1) and a cancelled timer leaves no garbage behind. A [`Key`] carries the
//! slab index and a generation, so a stale key never reaches a later entry
//! in the same slab slot.
//!
//! # Invariants
//!
//! * `elapsed` is the first tick not yet processed: every entry whose
//!   due tick is `< elapsed` has fired.
//! * An entry due at `when` is placed for tick
//!   `p = min(max(when, elapsed), elapsed | SPAN)` at the level of the
//!   highest bit where `p` and `elapsed` differ, in slot `(p >> 6L) & 63`.
//!   Hence every occupied slot starts at or after `elapsed`, inside
//!   `elapsed`'s window of that level.
//! * `poll` processes slots in order of their start tick (on ties, higher
//!   levels first, so cascaded entries join the lower slot before it fires)
//!   and never moves `elapsed` past the start of an unprocessed slot.
//!
//! An entry therefore fires at exactly tick `max(when, elapsed at insert)`
//! when the wheel is polled through that tick: never early, never late.

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// Distance covered by the wheel, minus one.
const SPAN: u64 = (1 << (SLOT_BITS * LEVELS as u32)) - 1;
const NIL: u32 = u32::MAX;

/// Identifies one entry of a [`Wheel`]; stale after the entry is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// A key that never names an entry.
    pub(crate) const NONE: Key = Key {
        index: NIL,
        generation: u32::MAX,
    };

    pub(crate) fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    pub(crate) fn from_bits(bits: u64) -> Key {
        Key {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

struct Linked<T> {
    when: u64,
    value: T,
    prev: u32,
    next: u32,
    level: u8,
    slot: u8,
}

enum State<T> {
    Vacant {
        next_free: u32,
    },
    Pending(Linked<T>),
    /// Fired; its value is out with the caller, which either releases the
    /// entry or reschedules it (periodic timers keep their key).
    Held {
        cancelled: bool,
    },
}

struct Node<T> {
    generation: u32,
    state: State<T>,
}

/// A fired entry, returned by [`Wheel::poll`]. The entry stays held under
/// `key` until [`Wheel::release`] or [`Wheel::reschedule`].
pub(crate) struct Fired<T> {
    pub(crate) key: Key,
    pub(crate) when: u64,
    pub(crate) value: T,
}

/// Result of [`Wheel::cancel`].
pub(crate) enum Cancelled<T> {
    /// It was pending; here is its value, it will never fire.
    Pending(T),
    /// It had fired and was held; it will not be rescheduled.
    Held,
    /// The key names no live entry (fired and released, or cancelled).
    NotFound,
}

/// A hierarchical timer wheel holding values of type `T`.
pub(crate) struct Wheel<T> {
    elapsed: u64,
    heads: [[u32; SLOTS]; LEVELS],
    /// Bit `s` of `occupied[l]` is set iff `heads[l][s] != NIL`.
    occupied: [u64; LEVELS],
    nodes: Vec<Node<T>>,
    free_head: u32,
    pending: usize,
    held_live: usize,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Wheel::new()
    }
}

impl<T> Wheel<T> {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            elapsed: 0,
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            nodes: Vec::new(),
            free_head: NIL,
            pending: 0,
            held_live: 0,
        }
    }

    /// First tick not yet processed.
    #[cfg(test)]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Entries that may still fire: pending ones plus held, uncancelled ones.
    pub(crate) fn len(&self) -> usize {
        self.pending + self.held_live
    }

    /// Adds `value`, due at tick `when` (a past tick fires at the next poll).
    pub(crate) fn insert(&mut self, when: u64, value: T) -> Key {
        let linked = Linked {
            when,
            value,
            prev: NIL,
            next: NIL,
            level: 0,
            slot: 0,
        };
        let index = if self.free_head == NIL {
            let index = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("fewer than 2^32-1 timers are live at once");
            self.nodes.push(Node {
                generation: 0,
                state: State::Pending(linked),
            });
            index
        } else {
            let index = self.free_head;
            let node = &mut self.nodes[index as usize];
            let State::Vacant { next_free } = node.state else {
                unreachable!("free list holds only vacant nodes");
            };
            self.free_head = next_free;
            node.state = State::Pending(linked);
            index
        };
        self.pending += 1;
        self.place(index);
        Key {
            index,
            generation: self.nodes[index as usize].generation,
        }
    }

    /// Cancels the entry `key`.
    pub(crate) fn cancel(&mut self, key: Key) -> Cancelled<T> {
        let Some(node) = self.node(key) else {
            return Cancelled::NotFound;
        };
        match node.state {
            State::Vacant { .. } => Cancelled::NotFound,
            State::Held { cancelled: true } => Cancelled::NotFound,
            State::Held { cancelled: false } => {
                self.nodes[key.index as usize].state = State::Held { cancelled: true };
                self.held_live -= 1;
                Cancelled::Held
            }
            State::Pending(_) => {
                self.unlink(key.index);
                self.pending -= 1;
                match self.free(key.index) {
                    State::Pending(linked) => Cancelled::Pending(linked.value),
                    _ => unreachable!("state checked above"),
                }
            }
        }
    }

    /// Frees a held entry (a one-shot timer that fired, or a periodic one
    /// that stopped). Does nothing for other keys.
    pub(crate) fn release(&mut self, key: Key) {
        if let Some(Node {
            state: State::Held { cancelled },
            ..
        }) = self.node(key)
        {
            if !*cancelled {
                self.held_live -= 1;
            }
            self.free(key.index);
        }
    }

    /// Puts a held entry back, due at `when`, under the same key. If it was
    /// cancelled while held, frees it and gives `value` back.
    pub(crate) fn reschedule(&mut self, key: Key, when: u64, value: T) -> Result<(), T> {
        match self.node(key) {
            Some(Node {
                state: State::Held { cancelled: false },
                ..
            }) => {}
            _ => {
                self.release(key);
                return Err(value);
            }
        }
        self.held_live -= 1;
        self.pending += 1;
        self.nodes[key.index as usize].state = State::Pending(Linked {
            when,
            value,
            prev: NIL,
            next: NIL,
            level: 0,
            slot: 0,
        });
        self.place(key.index);
        Ok(())
    }

    /// The earliest tick at which [`Wheel::poll`] may have work (fire or
    /// cascade); `None` when nothing is pending. Never later than the
    /// earliest due entry.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, deadline)| deadline)
    }

    /// Advances to tick `now`, appending every entry due at or before `now`
    /// to `out`, in due order. Fired entries are held until released or
    /// rescheduled.
    pub(crate) fn poll(&mut self, now: u64, out: &mut Vec<Fired<T>>) {
        while let Some((level, slot, deadline)) = self.next_slot() {
            if deadline > now {
                break;
            }
            let mut cursor = std::mem::replace(&mut self.heads[level][slot], NIL);
            self.occupied[level] &= !(1 << slot);
            // Level 0: this slot is the tick `deadline` itself, done after
            // this. Higher levels: entries cascade to slots at or after it.
            self.elapsed = if level == 0 { deadline + 1 } else { deadline };
            while cursor != NIL {
                let index = cursor;
                let (next, when) = match &self.nodes[index as usize].state {
                    State::Pending(linked) => (linked.next, linked.when),
                    _ => unreachable!("slot lists hold only pending nodes"),
                };
                cursor = next;
                if level == 0 && when <= deadline {
                    let node = &mut self.nodes[index as usize];
                    let State::Pending(linked) =
                        std::mem::replace(&mut node.state, State::Held { cancelled: false })
                    else {
                        unreachable!("matched above");
                    };
                    self.pending -= 1;
                    self.held_live += 1;
                    out.push(Fired {
                        key: Key {
                            index,
                            generation: node.generation,
                        },
                        when: linked.when,
                        value: linked.value,
                    });
                } else {
                    self.place(index);
                }
            }
        }
        self.elapsed = self.elapsed.max(now.saturating_add(1));
    }

    fn node(&self, key: Key) -> Option<&Node<T>> {
        self.nodes
            .get(key.index as usize)
            .filter(|node| node.generation == key.generation)
    }

    /// Marks a node vacant, bumping its generation; returns its old state.
    fn free(&mut self, index: u32) -> State<T> {
        let node = &mut self.nodes[index as usize];
        node.generation = node.generation.wrapping_add(1);
        let old = std::mem::replace(
            &mut node.state,
            State::Vacant {
                next_free: self.free_head,
            },
        );
        self.free_head = index;
        old
    }

    fn linked(&mut self, index: u32) -> &mut Linked<T> {
        match &mut self.nodes[index as usize].state {
            State::Pending(linked) => linked,
            _ => unreachable!("only pending nodes are linked"),
        }
    }

    /// Links pending node `index` into the slot for its due tick.
    fn place(&mut self, index: u32) {
        let elapsed = self.elapsed;
        let target = self.linked(index).when.max(elapsed).min(elapsed | SPAN);
        // `target` and `elapsed` agree above bit 35, so level <= 5.
        let significant = 63 - ((elapsed ^ target) | SLOT_MASK).leading_zeros();
        let level = (significant / SLOT_BITS) as usize;
        let slot = ((target >> (SLOT_BITS * level as u32)) & SLOT_MASK) as usize;
        let head = self.heads[level][slot];
        let linked = self.linked(index);
        linked.prev = NIL;
        linked.next = head;
        linked.level = level as u8;
        linked.slot = slot as u8;
        if head != NIL {
            self.linked(head).prev = index;
        }
        self.heads[level][slot] = index;
        self.occupied[level] |= 1 << slot;
    }

    fn unlink(&mut self, index: u32) {
        let linked = self.linked(index);
        let (prev, next) = (linked.prev, linked.next);
        let (level, slot) = (linked.level as usize, linked.slot as usize);
        if prev == NIL {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1 << slot);
            }
        } else {
            self.linked(prev).next = next;
        }
        if next != NIL {
            self.linked(next).prev = prev;
        }
    }

    /// The occupied slot with the earliest start: (level, slot, start tick).
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let mut best: Option<(usize, usize, u64)> = None;
        for level in (0..LEVELS).rev() {
            let occupied = self.occupied[level];
            if occupied == 0 {
                continue;
            }
            let shift = SLOT_BITS * level as u32;
            let now_slot = ((self.elapsed >> shift) & SLOT_MASK) as u32;
            let slot =
                (now_slot + occupied.rotate_right(now_slot).trailing_zeros()) as usize % SLOTS;
            let level_range = 1u64 << (shift + SLOT_BITS);
            let level_start = self.elapsed & !(level_range - 1);
            let deadline = level_start + ((slot as u64) << shift);
            debug_assert!(deadline >= self.elapsed, "occupied slot behind elapsed");
            // Strictly earlier only: on ties the higher level wins.
            if best.is_none_or(|(_, _, d)| deadline < d) {
                best = Some((level, slot, deadline));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn fire_all(wheel: &mut Wheel<u32>, now: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        wheel.poll(now, &mut out);
        out.into_iter()
            .map(|f| {
                wheel.release(f.key);
                (f.when, f.value)
            })
            .collect()
    }

    #[test]
    fn entry_fires_at_its_tick_not_before() {
        let mut wheel = Wheel::new();
        wheel.insert(100, 1);
        assert!(fire_all(&mut wheel, 99).is_empty());
        assert_eq!(fire_all(&mut wheel, 100), vec![(100, 1)]);
        assert_eq!(wheel.len(), 0);
    }

    #[test]
    fn past_entry_fires_at_next_poll() {
        let mut wheel = Wheel::new();
        fire_all(&mut wheel, 1000);
        wheel.insert(5, 7);
        assert_eq!(wheel.next_expiration(), Some(1001));
        assert_eq!(fire_all(&mut wheel, 1001), vec![(5, 7)]);
    }

    #[test]
    fn entries_cascade_from_every_level_in_order() {
        let mut wheel = Wheel::new();
        let whens = [
            1u64,
            63,
            64,
            4095,
            4096,
            262_144,
            16_777_216,
            1 << 30,
            (1 << 36) + 5,
        ];
        for (i, &w) in whens.iter().enumerate().rev() {
            wheel.insert(w, i as u32);
        }
        let fired = fire_all(&mut wheel, u64::MAX / 2);
        assert_eq!(
            fired.iter().map(|f| f.0).collect::<Vec<_>>(),
            whens.to_vec()
        );
    }

    #[test]
    fn cancelled_entry_never_fires_and_key_goes_stale() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(10, 1);
        let b = wheel.insert(10, 2);
        assert!(matches!(wheel.cancel(a), Cancelled::Pending(1)));
        assert!(matches!(wheel.cancel(a), Cancelled::NotFound));
        let c = wheel.insert(10, 3); // reuses a's slab slot
        assert_ne!(a, c);
        assert!(matches!(wheel.cancel(a), Cancelled::NotFound));
        let mut fired: Vec<u32> = fire_all(&mut wheel, 10).into_iter().map(|f| f.1).collect();
        fired.sort();
        assert_eq!(fired, vec![2, 3]);
        assert!(matches!(wheel.cancel(b), Cancelled::NotFound));
    }

    #[test]
    fn held_entry_can_be_rescheduled_under_its_key_or_cancelled() {
        let mut wheel = Wheel::new();
        let key = wheel.insert(5, 1);
        let mut out = Vec::new();
        wheel.poll(5, &mut out);
        let fired = out.pop().expect("due");
        assert_eq!(fired.key, key);
        assert_eq!(wheel.len(), 1);
        assert!(wheel.reschedule(key, 10, fired.value).is_ok());
        wheel.poll(10, &mut out);
        let fired = out.pop().expect("due again");
        assert!(matches!(wheel.cancel(key), Cancelled::Held));
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.reschedule(key, 20, fired.value), Err(1));
        assert!(matches!(wheel.cancel(key), Cancelled::NotFound));
    }

    #[test]
    fn many_entries_insert_and_fire() {
        let mut wheel = Wheel::new();
        for i in 0..200_000u32 {
            wheel.insert(u64::from(i % 10_000) * 7, i);
        }
        assert_eq!(wheel.len(), 200_000);
        let fired = fire_all(&mut wheel, 70_000);
        assert_eq!(fired.len(), 200_000);
        assert!(fired.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        InsertPast(u64),
        Cancel(usize),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..200).prop_map(Op::Insert),
            3 => (0u64..300_000).prop_map(Op::Insert),
            1 => (0u64..(1 << 40)).prop_map(Op::Insert),
            1 => (0u64..500).prop_map(Op::InsertPast),
            2 => any::<usize>().prop_map(Op::Cancel),
            3 => (1u64..4).prop_map(Op::Advance),
            2 => (1u64..100_000).prop_map(Op::Advance),
            1 => (1u64..(1 << 41)).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Against a model (BTreeMap of key -> due tick): every entry fires
        /// exactly at max(when, elapsed at insert), in due order, cancelled
        /// ones never, and `next_expiration` never overshoots.
        #[test]
        fn wheel_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut wheel = Wheel::new();
            let mut model: BTreeMap<Key, (u64, u64)> = BTreeMap::new(); // key -> (when, fire tick)
            let mut keys: Vec<Key> = Vec::new();
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Insert(d) | Op::InsertPast(d) => {
                        let when = if matches!(op, Op::Insert(_)) {
                            now + d
                        } else {
                            now.saturating_sub(d)
                        };
                        let key = wheel.insert(when, 0u32);
                        model.insert(key, (when, when.max(wheel.elapsed())));
                        keys.push(key);
                    }
                    Op::Cancel(i) => {
                        if keys.is_empty() { continue; }
                        let key = keys[i % keys.len()];
                        let was = model.remove(&key).is_some();
                        let got = matches!(wheel.cancel(key), Cancelled::Pending(_));
                        prop_assert_eq!(was, got);
                    }
                    Op::Advance(d) => {
                        now += d;
                        let mut out = Vec::new();
                        wheel.poll(now, &mut out);
                        let mut prev_tick = 0;
                        let mut fired = Vec::new();
                        for f in out {
                            let (when, tick) = model.remove(&f.key).expect("fired key is in model");
                            prop_assert_eq!(when, f.when);
                            prop_assert!(tick <= now, "fired early: due {} at {}", tick, now);
                            prop_assert!(tick >= prev_tick, "out of order");
                            prev_tick = tick;
                            fired.push(f.key);
                        }
                        for key in fired {
                            wheel.release(key);
                        }
                        let late: Vec<_> = model.values().filter(|(_, t)| *t <= now).collect();
                        prop_assert!(late.is_empty(), "not fired: {:?} at {}", late, now);
                    }
                }
                prop_assert_eq!(wheel.len(), model.len());
                let earliest = model.values().map(|&(_, t)| t).min();
                match (wheel.next_expiration(), earliest) {
                    (None, None) => {}
                    (Some(next), Some(t)) => prop_assert!(next <= t && next >= wheel.elapsed()),
                    (next, t) => prop_assert!(false, "next_expiration {:?} vs model {:?}", next, t),
                }
            }
        }
    }
}
