//! What a process of a shared VM is charged for its memory, against its
//! host's `memory_limit` (`docs/execution.md` §7).
//!
//! # How
//!
//! Luau counts live bytes by memory category (`ffi/memory.rs`): an object
//! is counted in the category of the thread that created it until it is
//! freed, whichever process's step the collector frees it in. Each process
//! gets a category at spawn; its threads (and the objects made for it at
//! spawn and at upgrade) carry it. So a category's byte count is what its
//! processes hold, plus their garbage not yet collected.
//!
//! A category is a byte, and 0 is the VM's own (globals, prelude, loaded
//! code): a VM has 255 for its processes. While a shard has at most 255
//! processes each has its own, and its charge is exact. Beyond that,
//! categories are shared (each new process takes the next one in turn; one
//! freed by an ended process is reused, oldest first), and a process in a
//! shared category is charged `min(own, category)`:
//! * `category` is the category's count: at least what the process holds;
//! * `own` is the net change of the category's count over the process's own
//!   steps (what it allocated, less what was freed while it ran), kept
//!   from going below zero: the garbage of its category freed during other
//!   steps never comes off it, so it does not drop below what the process
//!   holds either, except by garbage of a process sharing its category that
//!   happened to be freed during one of its steps.
//!
//! For a process alone in its category the two agree (`own` ≥ `category`),
//! so one rule covers both.
//!
//! Garbage the collector has not reached yet is charged too. In a VM whose
//! live heap is large, a cycle ends late, and a process that makes garbage
//! fast could reach its limit with garbage alone; so before a step, a
//! process within a quarter of its limit whose category grew by an eighth
//! of the limit since the last such collection gets a full collection
//! first (at most one per eighth of a limit of growth: a process that
//! really holds that much does not make every step collect).
//!
//! Only hosts with a `memory_limit` measure `own` (two reads per step); the
//! others still give each process a category, for
//! `collectgarbage("count")`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

/// The category of the VM's own objects.
pub(crate) const VM_CATEGORY: u8 = 0;

/// The memory categories of one VM's processes. Touched only by the
/// shard's runner (it lives in the VM).
pub(crate) struct Categories {
    /// Live processes per category (index 0, the VM's own, unused).
    members: [u32; 256],
    /// Categories without a process, the longest free first (an ended
    /// process's garbage has had the most time to be collected).
    free: VecDeque<u8>,
    /// The category the next process shares when none is free.
    next: u8,
    /// Each category's bytes after the latest collection forced by
    /// [`Categories::held`].
    collected: [usize; 256],
}

impl Categories {
    /// Every process category free.
    pub(crate) fn new() -> Categories {
        Categories {
            members: [0; 256],
            free: (1..=u8::MAX).collect(),
            next: 1,
            collected: [0; 256],
        }
    }

    /// A category for a new process: a free one, or else the next in turn.
    pub(crate) fn take(&mut self) -> u8 {
        let cat = self.free.pop_front().unwrap_or_else(|| {
            let cat = self.next;
            self.next = if cat == u8::MAX { 1 } else { cat + 1 };
            cat
        });
        self.members[usize::from(cat)] += 1;
        cat
    }

    /// Gives back the category of an ended process.
    pub(crate) fn release(&mut self, cat: u8) {
        let n = &mut self.members[usize::from(cat)];
        *n = n.saturating_sub(1);
        if *n == 0 && cat != VM_CATEGORY {
            self.free.push_back(cat);
        }
    }
}

/// What the process charged by `charge` holds before its step on a host
/// whose limit is `limit`, and its category's count then: `bytes` reads a
/// category's count in the VM. Within a quarter of its limit, with its
/// category grown by an eighth of the limit since the last such
/// collection, it gets a full collection (`collect`) first (see the module
/// doc); the categories are borrowed only then.
pub(crate) fn held_before_step(
    categories: &RefCell<Categories>,
    bytes: impl Fn(u8) -> usize,
    charge: &Charge,
    limit: usize,
    collect: impl FnOnce(),
) -> (usize, usize) {
    let count = bytes(charge.cat());
    let held = charge.own().min(count);
    if held <= limit - limit / 4 {
        return (held, count);
    }
    let mut cats = categories.borrow_mut();
    if count < cats.collected[usize::from(charge.cat())] + limit / 8 {
        return (held, count);
    }
    collect();
    for (cat, after) in cats.collected.iter_mut().enumerate() {
        *after = bytes(cat as u8);
    }
    let count = bytes(charge.cat());
    (charge.own().min(count), count)
}

/// Runs `f` with `lua`'s memory limit lifted, for a native that makes a
/// few small values of bounded size (a spawn's pid string). While a step's
/// limit is set, mlua makes every value in a protected call (about 1,500
/// instructions each); lifting and restoring the limit costs two reads of
/// the VM's allocator state. What `f` makes is still counted in the running
/// thread's category, and so charged to the process after its step.
pub(crate) fn unlimited<R>(lua: &mlua::Lua, f: impl FnOnce() -> R) -> R {
    let limit = lua.set_memory_limit(0).unwrap_or(0);
    let r = f();
    if limit != 0 {
        let _ = lua.set_memory_limit(limit);
    }
    r
}

/// A process's memory category and its `own` count (see the module doc).
/// Part of its `ProcData`, so natives (`collectgarbage`) read it.
///
/// One word: the category in the low byte, `own` above it (a byte count
/// below 2^56). A separate byte made every process's `ProcData` 8 bytes
/// larger (padding to the word).
pub(crate) struct Charge(Cell<u64>);

impl Charge {
    /// A new process's charge in category `cat`. Everything made for it
    /// before its first step was made in its category, so it starts at
    /// what the category gained then: callers add it with [`Charge::add`].
    pub(crate) fn new(cat: u8) -> Charge {
        Charge(Cell::new(u64::from(cat)))
    }

    /// Its category.
    #[inline]
    pub(crate) fn cat(&self) -> u8 {
        self.0.get() as u8
    }

    /// The net change of its category's count over its own steps, as of
    /// the end of its latest step (on a host with a limit; else unused).
    #[inline]
    pub(crate) fn own(&self) -> usize {
        (self.0.get() >> 8) as usize
    }

    /// Sets `own`, held below 2^56 (no heap comes near).
    #[inline]
    fn set_own(&self, own: usize) {
        let own = (own as u64).min(u64::MAX >> 8);
        self.0.set(own << 8 | u64::from(self.cat()));
    }

    /// Adds the change of its category's count from `before` to `after`
    /// over a step (or over its creation) to `own`, never below zero.
    pub(crate) fn add(&self, before: usize, after: usize) {
        self.set_own((self.own() + after).saturating_sub(before));
    }

    /// What it holds now given its category's count `bytes`. `own` is
    /// kept only on a host with a limit (`kept`); `step_start` is the
    /// count when its running step began, if one is running (natives ask
    /// mid-step, when `own` has not been brought up to date yet).
    pub(crate) fn held(&self, bytes: usize, kept: bool, step_start: Option<usize>) -> usize {
        if !kept {
            return bytes;
        }
        let own = match step_start {
            Some(start) => (self.own() + bytes).saturating_sub(start),
            None => self.own(),
        };
        own.min(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_each_processs_own_until_they_run_out_then_shared_in_turn() {
        let mut c = Categories::new();
        let own: Vec<u8> = (0..255).map(|_| c.take()).collect();
        assert_eq!(own, (1..=255).collect::<Vec<u8>>(), "each its own");
        assert_eq!([c.take(), c.take()], [1, 2], "then shared, in turn");
        c.release(1);
        assert_eq!(c.take(), 3, "1 still has a process");
        c.release(7);
        c.release(9);
        assert_eq!(
            [c.take(), c.take()],
            [7, 9],
            "freed ones first, oldest first"
        );
        assert_eq!(c.take(), 4, "then in turn again");
    }

    #[test]
    fn a_charge_is_its_own_growth_but_never_more_than_its_category() {
        let ch = Charge::new(3);
        ch.add(1000, 5000);
        assert_eq!(ch.held(5000, true, None), 4000, "own growth");
        assert_eq!(
            ch.held(2000, true, None),
            2000,
            "its garbage was collected elsewhere"
        );
        assert_eq!(
            ch.held(2000, false, None),
            2000,
            "a host without a limit keeps no own count"
        );
        // Mid-step: own follows the category from the step's start.
        assert_eq!(ch.held(2500, true, Some(2000)), 2500);
        ch.add(2000, 1000);
        assert_eq!(ch.own(), 3000, "frees during its step come off");
        ch.add(5000, 0);
        assert_eq!(ch.own(), 0, "never below zero");
        assert_eq!(ch.cat(), 3, "the category is kept beside the count");
    }
}
