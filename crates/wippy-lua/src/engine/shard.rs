//! A VM shard: one Luau VM and the processes living in it, run by the
//! scheduler as one task (see `execution.md` §2).
//!
//! # Protocol
//!
//! * `queue` holds work (new processes, wake-ups) pushed from any thread.
//! * `scheduled` is true while the shard is queued in the scheduler or
//!   running. Whoever flips it false→true schedules the shard, so it is
//!   queued at most once. The runner clears it *before* its final look at
//!   `queue` (both SeqCst), so a push racing with the end of a run is seen
//!   either by the runner (which requeues) or by the pusher (which
//!   schedules) — never lost.
//! * `state` (VM + processes) is touched only by the runner; the mutex is
//!   never contended except by host shutdown.
//! * A reclaim (`Shard::reclaim`) is work too: its timer sets
//!   `reclaim_ready` before it looks at `scheduled`, and the runner looks
//!   at `reclaim_ready` after clearing `scheduled`, as for `queue`.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use wippy_host::SpawnContext;
use wippy_host::registry::EntryId;
use wippy_process::wippy_sched::Task;
use wippy_process::{Home, Outcome, Payload, Pid, Process, ProcessCell, drive};

use crate::Error;
use crate::engine::code::Compiled;
use crate::engine::lua_host::HostCore;
use crate::engine::memory::Charge;
use crate::engine::preempt::Preempt;
use crate::engine::proc_data::ProcData;
use crate::engine::process::{Failed, LuaProc, error_text};
use crate::engine::vm::Vm;

/// Longest a shard keeps a worker before it requeues itself.
const SHARD_SLICE: Duration = Duration::from_millis(2);

pub(crate) enum Work {
    Spawn(Pending),
    Wake(u32, Pid),
}

/// How long after a process ends its shard looks at whether to collect
/// what ended processes left (`Shard::reclaim`): processes that end
/// together are collected together, at most once a period per shard.
const RECLAIM_AFTER: Duration = Duration::from_secs(1);

/// The fewest ended processes worth a full collection.
const RECLAIM_MIN: usize = 32;

/// Most steps a shard may run in a [`RECLAIM_AFTER`] and still count as
/// quiet (see `Shard::reclaim`).
const QUIET_STEPS: u32 = 256;

/// How much larger than a new VM an empty shard's VM may stay after a
/// reclaim before it is replaced by a new one (`Shard::trim`)...
const RENEW_OVER: usize = 256 << 10;

/// ... once it has held this many processes at once: what a crowd grows
/// (not, say, the code of many entries, which a new VM would load again).
const RENEW_CROWD: usize = 4096;

pub(crate) struct Pending {
    pub(crate) cell: Arc<ProcessCell>,
    pub(crate) code: Arc<Compiled>,
    pub(crate) args: Vec<Payload>,
    pub(crate) context: SpawnContext,
}

struct Slot {
    cell: Arc<ProcessCell>,
    process: Box<dyn Process>,
    /// The process's Rust state, also held by `process`: kept here so the
    /// shard can say which entry runs in the slot (`processes`).
    data: Rc<ProcData>,
}

/// A process of a shard, as [`Shard::processes`] lists it.
pub(crate) struct SlotInfo {
    pub(crate) cell: Arc<ProcessCell>,
    pub(crate) entry: EntryId,
    pub(crate) slot: u32,
}

struct State {
    /// The VM, made when the shard starts its first process (see
    /// [`Shard::new_lazy`]), or at once.
    vm: Option<Rc<Vm>>,
    slots: Vec<Option<Slot>>,
    /// Work taken from `queue` for the running slice; swapped with the
    /// queue so neither buffer is reallocated run after run.
    batch: VecDeque<Work>,
    /// Processes that ended since the last reclaim: what they held is
    /// garbage, unless the collector has run since.
    ended: usize,
    /// Bytes of heap of the VM when it was new (see `trim`).
    fresh_heap: usize,
    /// The shard's step count when the due reclaim was armed (see
    /// `reclaim`).
    reclaim_steps: u32,
    /// The most processes the VM has held at once (see `trim`).
    peak: usize,
}

// SAFETY: `State` holds the VM and handles into it (non-atomic refcounts,
// `Rc`s captured by natives). It is only reachable through `Shard::state`,
// whose mutex admits one thread at a time, and nothing inside it is handed
// to other threads (timer and blocking callbacks capture only `Arc<ProcessCell>`s
// and plain data). So the VM moves between workers as a whole, never shared.
unsafe impl Send for State {}

/// One VM and its processes.
pub(crate) struct Shard {
    me: Weak<Shard>,
    core: Arc<HostCore>,
    queue: Mutex<VecDeque<Work>>,
    scheduled: AtomicBool,
    /// Live processes (placement picks the least loaded shard).
    load: AtomicUsize,
    /// A reclaim is due: its timer is armed, or it has fired and the
    /// shard's next run looks (`ready`). See `Shard::reclaim`.
    reclaim_due: AtomicBool,
    reclaim_ready: AtomicBool,
    free: Mutex<FreeSlots>,
    state: Mutex<Option<State>>,
    pub(crate) preempt: Preempt,
    /// What to prefetch for a process woken from this shard (the VM's).
    warm: Arc<crate::engine::prefetch::Warm>,
    /// One process only (`isolation: dedicated`): the VM is dropped when it
    /// ends.
    dedicated: bool,
    /// A number no other shard of the runtime has (a dedicated VM's id in
    /// `LuaHost::snapshot`).
    serial: u64,
}

/// The next `Shard::serial`.
static SERIALS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The shard this worker thread is running (null between runs): tells
    /// placement whether a spawn comes from a process of the host.
    static RUNNING: std::cell::Cell<*const Shard> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// The shard being run on this thread, if any (compared by address only).
pub(crate) fn running() -> *const Shard {
    RUNNING.with(std::cell::Cell::get)
}

#[derive(Default)]
struct FreeSlots {
    free: Vec<u32>,
    next: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shard {
    pub(crate) fn new(core: Arc<HostCore>) -> Result<Arc<Shard>, Error> {
        Shard::build(core, false)
    }

    /// A shard whose VM is made when it starts its first process: a host
    /// with few processes does not build (about 2 M instructions each) and
    /// hold VMs it never uses. `like` is a shard of the same host whose VM
    /// was made (building it checked that a VM can be made).
    pub(crate) fn new_lazy(core: Arc<HostCore>, like: &Shard) -> Arc<Shard> {
        Shard::with_state(
            core,
            None,
            // Watches no VM until there is one (as after `detach`).
            Preempt::new(std::ptr::null_mut()),
            Arc::new(crate::engine::prefetch::Warm::like(&like.warm)),
            false,
        )
    }

    /// A shard for one process of a dedicated host.
    pub(crate) fn new_dedicated(core: Arc<HostCore>) -> Result<Arc<Shard>, Error> {
        Shard::build(core, true)
    }

    fn build(core: Arc<HostCore>, dedicated: bool) -> Result<Arc<Shard>, Error> {
        let vm = Vm::new(core.clone(), None).map_err(|e| Error::VmStart(e.to_string()))?;
        let preempt = Preempt::new(vm.callbacks());
        let warm = vm.warm.clone();
        Ok(Shard::with_state(core, Some(vm), preempt, warm, dedicated))
    }

    fn with_state(
        core: Arc<HostCore>,
        vm: Option<Vm>,
        preempt: Preempt,
        warm: Arc<crate::engine::prefetch::Warm>,
        dedicated: bool,
    ) -> Arc<Shard> {
        let fresh_heap = vm.as_ref().map_or(0, |vm| vm.lua.used_memory());
        Arc::new_cyclic(|me| Shard {
            me: me.clone(),
            core,
            queue: Mutex::new(VecDeque::new()),
            scheduled: AtomicBool::new(false),
            load: AtomicUsize::new(0),
            reclaim_due: AtomicBool::new(false),
            reclaim_ready: AtomicBool::new(false),
            free: Mutex::new(FreeSlots::default()),
            state: Mutex::new(Some(State {
                vm: vm.map(Rc::new),
                slots: Vec::new(),
                batch: VecDeque::new(),
                ended: 0,
                fresh_heap,
                reclaim_steps: 0,
                peak: 0,
            })),
            preempt,
            warm,
            dedicated,
            // Relaxed: only uniqueness matters.
            serial: SERIALS.fetch_add(1, Ordering::Relaxed),
        })
    }

    pub(crate) fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    /// Reserves a slot for a new process.
    pub(crate) fn alloc_slot(&self) -> u32 {
        self.load.fetch_add(1, Ordering::Relaxed);
        let mut f = lock(&self.free);
        f.free.pop().unwrap_or_else(|| {
            f.next += 1;
            f.next - 1
        })
    }

    /// Gives back a slot reserved by `alloc_slot` (its spawn failed, or
    /// its process ended).
    ///
    /// The load drops under the free list's lock, after the slot is back
    /// in it: so whoever sees a load of 0 under that lock knows every slot
    /// ever handed out is back in the list (`trim_slots` relies on it).
    pub(crate) fn release_slot(&self, slot: u32) {
        let mut f = lock(&self.free);
        f.free.push(slot);
        self.load.fetch_sub(1, Ordering::Relaxed);
    }

    /// Forgets the slot numbers of an empty shard, so its slot table can
    /// shrink. An `alloc_slot` racing with this either raised the load
    /// before the check (nothing is forgotten) or takes the lock after it
    /// (and gets slot 0 of the fresh list).
    fn trim_slots(&self) -> bool {
        let mut f = lock(&self.free);
        if self.load.load(Ordering::Relaxed) != 0 {
            return false;
        }
        *f = FreeSlots::default();
        true
    }

    pub(crate) fn push(self: &Arc<Self>, work: Work) {
        lock(&self.queue).push_back(work);
        if !self.scheduled.swap(true, Ordering::SeqCst) {
            self.core.sched.schedule(self.clone());
        }
    }

    /// Bytes of Lua heap the VM uses, after a full collection when
    /// `collect` (waits for a running slice to end; none after close).
    pub(crate) fn heap_bytes(&self, collect: bool) -> usize {
        let guard = lock(&self.state);
        let Some(vm) = guard.as_ref().and_then(|s| s.vm.as_ref()) else {
            return 0;
        };
        if collect {
            // A collection runs no Lua code (there are no finalisers).
            let _ = vm.lua.gc_collect();
        }
        vm.lua.used_memory()
    }

    /// The shard's processes and the bytes of Lua heap its VM uses (none
    /// after close). Holds the VM while it lists them, so this waits for a
    /// running slice to end; the caller reads the cells afterwards.
    pub(crate) fn processes(&self, out: &mut Vec<SlotInfo>) -> usize {
        let guard = lock(&self.state);
        let Some(state) = guard.as_ref() else {
            return 0;
        };
        for (ix, s) in state.slots.iter().enumerate() {
            if let Some(s) = s {
                out.push(SlotInfo {
                    cell: s.cell.clone(),
                    // The current entry: an upgrade replaces it in place.
                    entry: s.data.entry.borrow().id.clone(),
                    slot: ix as u32,
                });
            }
        }
        state.vm.as_ref().map_or(0, |vm| vm.lua.used_memory())
    }

    /// The slot whose process the shard is stepping now, if it is running
    /// (a sample; see `Preempt::running_slot`).
    pub(crate) fn running_slot(&self) -> Option<u32> {
        self.preempt.running_slot()
    }

    /// See the field.
    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    /// Whether this shard holds the one process of a dedicated host.
    pub(crate) fn is_dedicated(&self) -> bool {
        self.dedicated
    }

    /// Drops the VM and every process state (host shutdown). Waits for a
    /// running slice to end.
    pub(crate) fn close(&self) {
        let mut guard = lock(&self.state);
        self.preempt.detach();
        let state = guard.take();
        drop(guard);
        drop(state);
        lock(&self.queue).clear();
    }
}

impl Home for Shard {
    fn wake(&self, cell: &Arc<ProcessCell>) {
        // A wake-up from a process of this shard: the woken process
        // probably runs next, so start fetching its memory now (see
        // prefetch.rs; `running()` makes this thread the table's user).
        if std::ptr::eq(running(), self) {
            self.warm.wake(cell.slot());
        }
        lock(&self.queue).push_back(Work::Wake(cell.slot(), cell.pid()));
        if !self.scheduled.swap(true, Ordering::SeqCst)
            && let Some(me) = self.me.upgrade()
        {
            self.core.sched.schedule(me);
        }
    }

    fn accepts(&self, from: wippy_process::HostId) -> bool {
        self.core.config.security.accepts(from)
    }

    /// The process's principal (`HostCore::principals`; the system when it
    /// has none there), for the checks another node makes.
    fn credentials(&self, cell: &Arc<ProcessCell>) -> Option<wippy_process::Credential> {
        let principals = lock(&self.core.principals);
        let principal = principals.get(&cell.pid()).cloned().unwrap_or_default();
        Some(Arc::new(principal))
    }

    fn mailbox_limit(&self) -> wippy_process::MailboxLimit {
        let config = &self.core.config;
        wippy_process::MailboxLimit {
            messages: config.max_mailbox,
            bytes: config
                .memory_limit
                .map_or(usize::MAX, |b| usize::try_from(b).unwrap_or(usize::MAX)),
        }
    }
}

impl Task for Shard {
    fn run(self: Arc<Self>) {
        let mut unfinished = false;
        {
            let mut guard = lock(&self.state);
            if let Some(state) = guard.as_mut() {
                // Relaxed: a hint; the swap in `reclaim` decides.
                if self.reclaim_ready.load(Ordering::Relaxed) {
                    self.reclaim(state);
                }
                // SeqCst, with `armed` read after it: see `arm_watchdog`.
                self.preempt.running.store(true, Ordering::SeqCst);
                self.arm_watchdog();
                RUNNING.with(|r| r.set(Arc::as_ptr(&self)));
                unfinished = self.run_slice(state);
                RUNNING.with(|r| r.set(std::ptr::null()));
                self.preempt.running.store(false, Ordering::Release);
                self.preempt.clear();
                if self.dedicated && state.slots.iter().all(Option::is_none) {
                    // Its one process has ended: free the VM now.
                    self.preempt.detach();
                    *guard = None;
                }
            } else {
                lock(&self.queue).clear();
            }
        }
        if unfinished {
            // Work of this slice is left in `state.batch`: still scheduled,
            // so requeue without giving up `scheduled`.
            self.core.sched.yield_now(self.clone());
            return;
        }
        self.scheduled.store(false, Ordering::SeqCst);
        // A reclaim that became ready during the run counts as work: its
        // timer saw `scheduled` set and left the run to it (SeqCst on both
        // sides, as for the queue).
        let more = !lock(&self.queue).is_empty() || self.reclaim_ready.load(Ordering::SeqCst);
        if more && !self.scheduled.swap(true, Ordering::SeqCst) {
            self.core.sched.yield_now(self.clone());
        }
    }
}

impl Shard {
    /// Arms the preemption watchdog (see `engine/preempt.rs`) unless it is armed:
    /// a periodic timer that looks at the shard every half slice while it
    /// runs, and disarms itself when it finds the shard idle. Idle shards
    /// cost nothing.
    ///
    /// The runner writes `running` then reads `armed`; the watchdog, when it
    /// disarms, writes `armed` then reads `running`. All four are SeqCst, so
    /// at least one side sees the other's write (the store-buffer litmus
    /// test): a run never goes unwatched because the watchdog disarmed while
    /// the run saw it still armed. (Before, the run's write was a plain
    /// release store and the watchdog's a release store too, which allowed
    /// exactly that.) A plain load first: while armed, the usual case, the
    /// run's one locked instruction is its store of `running`.
    fn arm_watchdog(self: &Arc<Self>) {
        let armed = &self.preempt.armed;
        if armed.load(Ordering::SeqCst) || armed.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak = Arc::downgrade(self);
        let period = (self.core.config.time_slice / 2).max(Duration::from_millis(1));
        let mut last = u64::MAX;
        self.core.node.timers().every(period, move || {
            let Some(shard) = weak.upgrade() else {
                return false;
            };
            let p = &shard.preempt;
            if !p.running.load(Ordering::SeqCst) {
                p.armed.store(false, Ordering::SeqCst);
                // A run that started after the check above saw `armed` and
                // did not arm: keep watching for it.
                return p.running.load(Ordering::SeqCst) && !p.armed.swap(true, Ordering::SeqCst);
            }
            if crate::engine::preempt::overran(p, &mut last) {
                p.fire();
            }
            true
        });
    }

    /// Runs work until the queue is empty or the slice is over. Returns true
    /// when the slice ended with work left in `state.batch` (it runs first
    /// next time, ahead of anything queued since: per-process order holds
    /// because a process has at most one wake-up pending).
    fn run_slice(self: &Arc<Self>, state: &mut State) -> bool {
        // The slice is timed from the 16th piece of work on: most runs
        // (a message or two) end long before and never read the clock.
        let mut start: Option<Instant> = None;
        let mut done = 0u32;
        let mut batch = std::mem::take(&mut state.batch);
        loop {
            if batch.is_empty() {
                // Back to the buffer's start (`clear` of an empty deque
                // only resets its head): otherwise a queue that once grew
                // (10k wake-ups at start) is walked round its whole buffer,
                // and every push writes a line the cache no longer holds.
                batch.clear();
                std::mem::swap(&mut *lock(&self.queue), &mut batch);
                if batch.is_empty() {
                    break;
                }
            }
            while let Some(work) = batch.pop_front() {
                let preempted = self.handle(state, work);
                done += 1;
                // A preempted process used a whole time slice: so did the
                // shard.
                if preempted
                    || (done.is_multiple_of(16)
                        && start.get_or_insert_with(Instant::now).elapsed() >= SHARD_SLICE)
                {
                    let unfinished = !batch.is_empty();
                    state.batch = batch;
                    return unfinished;
                }
            }
        }
        state.batch = batch;
        false
    }

    /// Runs one piece of work; true if a process used its whole slice.
    fn handle(self: &Arc<Self>, state: &mut State, work: Work) -> bool {
        let slot = match work {
            Work::Spawn(p) => {
                state.peak = state.peak.max(self.load());
                let slot = p.cell.slot();
                let (process, data) = self.start(state, &p.cell, p.code, p.args, p.context);
                let ix = slot as usize;
                if state.slots.len() <= ix {
                    state.slots.resize_with(ix + 1, || None);
                }
                state.slots[ix] = Some(Slot {
                    cell: p.cell,
                    process,
                    data,
                });
                slot
            }
            Work::Wake(slot, pid) => {
                match state.slots.get(slot as usize) {
                    Some(Some(s)) if s.cell.pid() == pid => {}
                    _ => return false, // stale wake for a process that has ended
                }
                slot
            }
        };
        let entry = &mut state.slots[slot as usize];
        let Some(s) = entry.as_mut() else {
            return false;
        };
        self.preempt.step_begins(slot);
        crate::engine::preempt::begin_step();
        let outcome = drive(&self.core.node, &s.cell, &mut s.process);
        crate::engine::preempt::end_step();
        self.preempt.clear();
        match outcome {
            Outcome::Parked => false,
            Outcome::Requeue => {
                lock(&self.queue).push_back(Work::Wake(slot, s.cell.pid()));
                true
            }
            Outcome::Exited => {
                // What it held becomes garbage (see `reclaim`).
                state.ended += 1;
                if !s.data.context.principal().is_unrestricted() {
                    lock(&self.core.principals).remove(&s.cell.pid());
                }
                *entry = None;
                self.warm.clear(slot);
                self.core.live.fetch_sub(1, Ordering::Relaxed);
                self.release_slot(slot);
                if !self.dedicated {
                    self.reclaim_soon(state);
                }
                false
            }
        }
    }

    /// Arms a reclaim in [`RECLAIM_AFTER`], unless one is due: the timer
    /// marks it ready and makes the shard run (with nothing queued, if so
    /// be it), and the run begins with it.
    fn reclaim_soon(self: &Arc<Self>, state: &mut State) {
        let due = &self.reclaim_due;
        // A plain load first: while one is due (the common case when
        // processes end in numbers) that is all it costs.
        if due.load(Ordering::Relaxed) || due.swap(true, Ordering::AcqRel) {
            return;
        }
        state.reclaim_steps = self.preempt.steps();
        let weak = Arc::downgrade(self);
        self.core.node.timers().after(RECLAIM_AFTER, move || {
            if let Some(shard) = weak.upgrade() {
                shard.reclaim_ready.store(true, Ordering::SeqCst);
                // As `push` does, with nothing to push: a run that is
                // under way sees `ready` at its next start.
                if !shard.scheduled.swap(true, Ordering::SeqCst) {
                    shard.core.sched.schedule(shard.clone());
                }
            }
        });
    }

    /// Gives back the memory of ended processes (issue 12, defect 6).
    ///
    /// The collector of a VM runs as its processes allocate; when they end
    /// and the rest stay quiet (a million processes cancelled), it never
    /// runs again and their memory is kept for good. So a shard whose
    /// processes ended looks, [`RECLAIM_AFTER`] later, at whether it has
    /// been quiet since (at most [`QUIET_STEPS`] steps: a busy shard's
    /// collector runs as it allocates, and it looks again a period later)
    /// and at how many ended: when they are at least [`RECLAIM_MIN`] and an
    /// eighth of the processes the VM held (a VM whose heap is mostly live
    /// is left alone), it runs a full collection, and its slot table and
    /// buffers shrink (`trim`). The allocator is then told to
    /// return what it freed, on every worker (`HostCore::release_soon`).
    fn reclaim(self: &Arc<Self>, state: &mut State) {
        if !self.reclaim_ready.swap(false, Ordering::AcqRel) {
            return;
        }
        // Cleared before looking: a process that ends after this arms the
        // next one.
        self.reclaim_due.store(false, Ordering::Release);
        let held = state.ended + self.load();
        if state.ended < RECLAIM_MIN || state.ended < held / 8 {
            return;
        }
        let steps = self.preempt.steps().wrapping_sub(state.reclaim_steps);
        if steps > QUIET_STEPS {
            self.reclaim_soon(state);
            return;
        }
        state.ended = 0;
        if let Some(vm) = &state.vm {
            // A collection runs no Lua code (there are no finalisers).
            let _ = vm.lua.gc_collect();
        }
        self.trim(state);
    }

    /// Shrinks what a crowd of processes grew and left empty: the slot
    /// table past the last live process (all of it, and the slot numbers,
    /// when the shard is empty) and the work buffers; an empty shard that
    /// held [`RENEW_CROWD`] processes at once and whose VM stayed larger
    /// than a new one by [`RENEW_OVER`] gets a new VM. At the start of a
    /// run, after a reclaim collected.
    ///
    /// Why a new VM: a collection leaves what the crowd grew for good in
    /// the VM: mlua's reference stack (two slots per process, never
    /// shrunk), Luau's pages that still hold a live object or two, and the
    /// allocator's pages under them (measured with 100k processes ended:
    /// 0.9 MB of heap per shard over a new VM's, and twice that in
    /// resident memory).
    fn trim(self: &Arc<Self>, state: &mut State) {
        let live = state
            .slots
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        if live == 0 && self.trim_slots() {
            state.slots = Vec::new();
            if state.peak >= RENEW_CROWD
                && state
                    .vm
                    .as_ref()
                    .is_some_and(|vm| vm.lua.used_memory() > state.fresh_heap + RENEW_OVER)
            {
                self.renew_vm(state);
            }
        } else {
            state.slots.truncate(live);
            state.slots.shrink_to(live * 2);
        }
        state.batch.shrink_to(64);
        lock(&self.queue).shrink_to(64);
        self.core.release_soon();
    }

    /// Replaces the VM of an empty shard by a new one (see `trim`).
    fn renew_vm(&self, state: &mut State) {
        let Ok(vm) = Vm::new(self.core.clone(), Some(self.warm.clone())) else {
            return; // keep the old one: it works
        };
        // The watchdog is pointed at the new VM before the old one is
        // dropped (its invariant: it never writes into a freed VM).
        self.preempt.attach(vm.callbacks());
        state.fresh_heap = vm.lua.used_memory();
        state.peak = 0;
        state.vm = Some(Rc::new(vm));
    }

    /// The shard's VM, made now if it has none yet (see
    /// [`Shard::new_lazy`]).
    fn vm(&self, state: &mut State) -> mlua::Result<Rc<Vm>> {
        if let Some(vm) = &state.vm {
            return Ok(vm.clone());
        }
        let vm = Vm::new(self.core.clone(), Some(self.warm.clone()))?;
        self.preempt.attach(vm.callbacks());
        state.fresh_heap = vm.lua.used_memory();
        let vm = Rc::new(vm);
        state.vm = Some(vm.clone());
        Ok(vm)
    }

    fn start(
        &self,
        state: &mut State,
        cell: &Arc<ProcessCell>,
        code: Arc<Compiled>,
        args: Vec<Payload>,
        context: SpawnContext,
    ) -> (Box<dyn Process>, Rc<ProcData>) {
        let vm = self.vm(state);
        let cat = match &vm {
            Ok(vm) => vm.categories.borrow_mut().take(),
            Err(_) => crate::engine::memory::VM_CATEGORY,
        };
        let data = Rc::new(ProcData {
            cell: cell.clone(),
            entry: std::cell::RefCell::new(code.clone()),
            timers: Default::default(),
            boot: Default::default(),
            context,
            last_to: Default::default(),
            last_string: std::cell::Cell::new(std::ptr::null()),
            memory: Charge::new(cat),
        });
        let started = vm.and_then(|vm| match LuaProc::new(vm.clone(), data.clone(), args) {
            Ok(p) => Ok(p),
            Err(e) => {
                vm.categories.borrow_mut().release(cat);
                Err(e)
            }
        });
        let process: Box<dyn Process> = match started {
            Ok(p) => Box::new(p),
            Err(e) => Box::new(Failed(format!(
                "cannot start {}: {}",
                code.id,
                error_text(&e)
            ))),
        };
        (process, data)
    }
}
