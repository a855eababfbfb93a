//! A Lua process: a sandboxed thread of a shard's VM, stepped by the kernel.

use std::rc::Rc;

use mlua::{MultiValue, Table, Thread, Value};
use wippy_process::{Context, ErrorKind, ExitError, ExitResult, Process, Step, Wait};

use crate::engine::memory::held_before_step;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::{Token, Vm};
use crate::ffi::interrupt::mark_main;
use crate::ffi::thread::{self, Resumed};

/// The method's arguments for a thread's first resume.
enum BootArgs {
    /// Spawn arguments, pushed straight onto the thread.
    Spawn(Vec<wippy_process::Payload>),
    /// Values handed to `process.upgrade`.
    Upgrade(MultiValue),
}

/// The state machine of one Lua process.
pub(crate) struct LuaProc {
    pub(crate) vm: Rc<Vm>,
    pub(crate) data: Rc<ProcData>,
    thread: Thread,
    /// The process's state table (inbox, channels, coroutines; see prelude).
    state: Table,
    /// Arguments of the thread's first resume: the method's arguments.
    /// The state table, chunk and method name reach the prelude's boot
    /// through `ProcData::boot` (`rt.boot_parts()`): passed as arguments
    /// they would sit, twice (a vararg frame copies its fixed parameters),
    /// under every frame of the process; see `boot` in the prelude on why
    /// the depth of a parked process's stack matters.
    boot: Option<Box<BootArgs>>,
    /// The thread was interrupted mid-slice; `P` must be set before resuming.
    preempted: bool,
    /// The thread is parked in `rt.recv`: its resume may carry the next
    /// message, which `rt.recv` then returns.
    in_recv: bool,
    /// The last resume handed the thread a message (see `resume`): the step
    /// is message-driven, and its park is worth recording for prefetching.
    fed: bool,
}

// SAFETY: a LuaProc holds handles into its shard's VM (non-atomic refcounts).
// It lives in the shard's state and is only touched by the one worker that
// holds the shard's state lock, together with the VM itself; it never
// crosses threads on its own.
unsafe impl Send for LuaProc {}

fn is_memory_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            is_memory_error(cause)
        }
        mlua::Error::RuntimeError(s) => s.contains("not enough memory"),
        _ => false,
    }
}

/// A process's failure of its own making (an error raised, an upgrade that
/// failed): Internal, as Wippy's.
fn internal(message: impl Into<String>) -> ExitError {
    ExitError::with_kind(ErrorKind::Internal, message)
}

/// Readable text of a Lua error: message plus traceback, bounded
/// ([`bounded`]).
pub(crate) fn error_text(e: &mlua::Error) -> String {
    bounded(full_error_text(e))
}

/// The longest message an error text keeps (the part before its
/// traceback), and the most lines of traceback.
const MAX_MESSAGE: usize = 4096;
const MAX_TRACEBACK_LINES: usize = 24;

/// A raised error with its message [`bounded`] (kind, retryable and
/// details kept).
fn bounded_error(e: ExitError) -> ExitError {
    let message = e.message();
    if message.len() <= MAX_MESSAGE && message.lines().count() <= MAX_TRACEBACK_LINES + 3 {
        return e;
    }
    let text = bounded(message.to_owned());
    e.with_message(text)
}

/// `text` cut to at most [`MAX_MESSAGE`] bytes of message and
/// [`MAX_TRACEBACK_LINES`] lines of traceback (the first and the last
/// half), saying what was cut: an error (a stack overflow, an
/// `error(string.rep(...))`) must not put megabytes into an EXIT and the
/// log.
fn bounded(text: String) -> String {
    const HEADER: &str = "\nstack traceback:";
    let (message, trace) = match text.find(HEADER) {
        Some(at) => text.split_at(at),
        None => (text.as_str(), ""),
    };
    let lines: Vec<&str> = trace.lines().collect();
    if message.len() <= MAX_MESSAGE && lines.len() <= MAX_TRACEBACK_LINES + 2 {
        return text;
    }
    let mut out = String::with_capacity(MAX_MESSAGE + 2048);
    if message.len() <= MAX_MESSAGE {
        out.push_str(message);
    } else {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&message[..end]);
        out.push_str(&format!("... ({} bytes cut)", message.len() - end));
    }
    if lines.len() <= MAX_TRACEBACK_LINES + 2 {
        out.push_str(trace);
    } else {
        // `lines[0]` is empty (the header starts with a newline), then the
        // header line, then the levels.
        let half = MAX_TRACEBACK_LINES / 2;
        let levels = &lines[2..];
        out.push_str(HEADER);
        for l in &levels[..half] {
            out.push('\n');
            out.push_str(l);
        }
        out.push_str(&format!("\n\t...\t({} lines cut)", levels.len() - 2 * half));
        for l in &levels[levels.len() - half..] {
            out.push('\n');
            out.push_str(l);
        }
    }
    out
}

/// [`error_text`] before it is bounded.
fn full_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(s) => s.clone(),
        mlua::Error::MemoryError(_) => "memory limit exceeded".to_owned(),
        mlua::Error::CallbackError { traceback, cause } => {
            format!("{}\n{traceback}", full_error_text(cause))
        }
        mlua::Error::WithContext { context, cause } => {
            format!("{context}: {}", full_error_text(cause))
        }
        other => other.to_string(),
    }
}

impl LuaProc {
    /// Prepares a process running `chunk`'s `method` with `args`.
    pub(crate) fn new(
        vm: Rc<Vm>,
        data: Rc<ProcData>,
        args: Vec<wippy_process::Payload>,
    ) -> mlua::Result<LuaProc> {
        let code = data.entry.borrow().clone();
        let lua = &vm.lua;
        // The entry's bindings are the VM's (shared by its processes), made
        // before the process's own objects.
        let (boot, binds) = vm.boot_of(&code)?;
        // Made in the process's memory category; the thread inherits it.
        let ((chunk, method), state, thread) = vm.made_for(&data.memory, || {
            let chunk = vm.instantiate(&code)?;
            // Room for main, env and inbox without growing (three rehashes).
            let state = lua.create_table_with_capacity(0, 4)?;
            let thread = lua.create_thread(boot.clone())?;
            if let Some(binds) = binds {
                state.raw_set("binds", binds)?;
            }
            Ok::<_, mlua::Error>((chunk, state, thread))
        })?;
        mark_main(&thread);
        data.boot
            .set(Some(Box::new((state.clone(), chunk, method))));
        Ok(LuaProc {
            vm,
            data,
            thread,
            state,
            boot: Some(Box::new(BootArgs::Spawn(args))),
            preempted: false,
            in_recv: false,
            fed: false,
        })
    }

    fn resume(&mut self) -> Resumed {
        self.fed = false;
        let nargs = if let Some(args) = self.boot.take() {
            // First resume: the boot function is on the thread's stack; the
            // arguments go above it.
            match *args {
                // SAFETY: the thread is new (not started), of this process's
                // VM, which runs on this worker for the whole step.
                BootArgs::Spawn(args) => unsafe {
                    thread::push_args(&self.thread, &args, &self.vm.env.strings)
                },
                BootArgs::Upgrade(args) => {
                    // SAFETY: as above.
                    let moved = unsafe { thread::move_args(&self.vm.lua, &self.thread, args) };
                    match moved {
                        Ok(n) => n,
                        Err(e) => return Resumed::Other(Err(e)),
                    }
                }
            }
        } else {
            if self.preempted {
                self.preempted = false;
                let set = || -> mlua::Result<()> {
                    let set: mlua::Function = self.vm.prelude.get("set_current")?;
                    set.call::<()>(self.state.clone())
                };
                if let Err(e) = set() {
                    return Resumed::Other(Err(e));
                }
            }
            // The prelude restores `P` itself after an IDLE yield.
            // Parked in `rt.recv`: hand it the next message, saving it a
            // second call (it restores `P` when it returns one).
            if std::mem::take(&mut self.in_recv)
                && let Some(msg) = self.data.cell.try_recv()
            {
                self.fed = true;
                // SAFETY: the thread is suspended in `rt.recv`'s yield, of
                // this process's VM, which runs on this worker.
                unsafe { thread::feed(&self.thread, msg) }
            } else {
                0
            }
        };
        // SAFETY: the thread belongs to this process's VM, whose main state
        // is `main`, and which runs on this worker for the whole step; it is
        // new (with `nargs` arguments above its function) or suspended in a
        // yield (with `nargs` values for it).
        let r = unsafe {
            thread::resume(&self.vm.lua, self.vm.main, &self.thread, nargs, || {
                self.data.entry.borrow().kind == wippy_host::registry::EntryKind::FunctionLua
            })
        };
        if let Resumed::Idle(token) = r {
            self.in_recv = token == Token::IdleRecv;
        }
        r
    }

    /// What a resume that neither parked nor finished came to: an error, an
    /// interrupt (no values), an upgrade request, or a stray yield.
    fn outcome(&mut self, r: mlua::Result<MultiValue>) -> Step {
        let vals = match r {
            Err(e) => return Step::Complete(Err(internal(error_text(&e)))),
            Ok(vals) => vals,
        };
        match vals.front() {
            None => {
                self.preempted = true;
                Step::Yield(Wait::yield_now())
            }
            Some(v) if Token::of(v) == Some(Token::Upgrade) => {
                let mut it = vals.into_iter().skip(1);
                let entry = it.next().unwrap_or(Value::Nil);
                let args: Vec<Value> = it.collect();
                match self.upgrade(entry, args) {
                    Ok(()) => Step::Yield(Wait::yield_now()),
                    Err(e) => Step::Complete(Err(internal(format!("upgrade failed: {e}")))),
                }
            }
            Some(_) => Step::Complete(Err(internal(
                "coroutine.yield called in the process's main coroutine (use channels, or coroutine.spawn)",
            ))),
        }
    }

    /// Swaps in the code of `entry` (nil: the current entry) in a fresh
    /// thread; the state table (inbox, events, listeners) is kept.
    fn upgrade(&mut self, entry: Value, args: Vec<Value>) -> Result<(), String> {
        let host = &self.vm.env.host;
        let id = match entry {
            Value::Nil => self.data.entry.borrow().id.clone(),
            Value::String(s) => s.to_string_lossy().parse().map_err(|e| format!("{e}"))?,
            other => {
                return Err(format!(
                    "entry must be an id string, got {}",
                    other.type_name()
                ));
            }
        };
        // Running another entry's code is what spawning it would do: the
        // same check (a restricted process must not reach, say, the
        // modules another entry lists by becoming it).
        if id != self.data.entry.borrow().id {
            self.data
                .check(&self.vm.env, "process.spawn", id.as_str())?;
        }
        let code = host.code.get(&id).map_err(|e| e.to_string())?;
        if !matches!(
            code.kind,
            wippy_host::registry::EntryKind::ProcessLua
                | wippy_host::registry::EntryKind::FunctionLua
        ) {
            return Err(format!("{id} is a {}, not a process", code.kind));
        }
        let lua = &self.vm.lua;
        let build = || -> mlua::Result<(Thread, Box<BootArgs>)> {
            let (chunk, method) = self.vm.instantiate(&code)?;
            let (boot, binds) = self.vm.boot_of(&code)?;
            let thread = lua.create_thread(boot.clone())?;
            mark_main(&thread);
            if let Some(binds) = binds {
                self.state.raw_set("binds", binds)?;
            }
            let parts = (self.state.clone(), chunk, method);
            self.data.boot.set(Some(Box::new(parts)));
            Ok((
                thread,
                Box::new(BootArgs::Upgrade(MultiValue::from_vec(args))),
            ))
        };
        let (thread, boot) = self
            .vm
            .made_for(&self.data.memory, build)
            .map_err(|e| error_text(&e))?;
        self.thread = thread;
        self.in_recv = false;
        self.boot = Some(boot);
        *self.data.entry.borrow_mut() = code;
        Ok(())
    }
}

impl Process for LuaProc {
    fn step(&mut self, _cx: &mut Context<'_>) -> Step {
        let env = self.vm.env.clone();
        // SAFETY: `self.data` and `env` live through the step (an upgrade keeps
        // `self.data`), and the guard drops at its end.
        let _current =
            unsafe { crate::engine::current::CurrentGuard::set(Rc::as_ptr(&self.data), &*env) };
        // Memory budget (`docs/execution.md` §7, `engine/memory.rs`): the
        // process is charged what it holds. The VM's limit is set to what
        // is in use plus the process's remaining budget, so going over
        // raises a memory error inside this process only; the limit is
        // lifted afterwards (with a limit set, mlua makes every value in a
        // protected call: a spawn between steps would pay for it).
        let limit = env.host.config.memory_limit.map(|l| l as usize);
        let vm = self.vm.clone();
        let lua = &vm.lua;
        let cat_before = if let Some(limit) = limit {
            let charge = &self.data.memory;
            let collect = || {
                // A collection runs no Lua code (there are no finalisers).
                let _ = lua.gc_collect();
            };
            let bytes = |cat| vm.category_bytes(cat);
            let (held, before) = held_before_step(&vm.categories, bytes, charge, limit, collect);
            let budget = limit.saturating_sub(held).max(1);
            let _ = lua.set_memory_limit(lua.used_memory() + budget);
            env.step_start.set(Some(before));
            before
        } else {
            0
        };
        // A thread resumed after a preemption continues wherever the
        // interrupt hit it (see the invariant below).
        let after_preemption = self.preempted;
        let r = self.resume();
        if limit.is_some() {
            let charge = &self.data.memory;
            charge.add(cat_before, vm.category_bytes(charge.cat()));
            env.step_start.set(None);
            let _ = lua.set_memory_limit(0);
        }
        if crate::engine::preempt::stopped() {
            // Past the hard limit in code that cannot be preempted: the
            // process ends, whatever its code made of the stop error.
            return Step::Complete(Err(ExitError::new(crate::engine::preempt::OVERRUN)));
        }
        match r {
            // Invariant (lost wake-ups): an IDLE yield parks the process
            // only if the prelude has pumped the mailbox since the thread
            // was resumed. The prelude pumps after every IDLE yield returns,
            // but a thread resumed after a preemption may reach its IDLE
            // yield without pumping, so that step requeues instead; the next
            // resume returns from the IDLE yield and pumps.
            Resumed::Idle(_) if after_preemption => Step::Yield(Wait::yield_now()),
            // Only a step that a message drove records where the process's
            // memory is (prefetch.rs): a process that never took a message
            // from its inbox's fast path (an idle one, one that waits on
            // timers or channels) costs no record.
            Resumed::Idle(_) if !self.fed => Step::Idle,
            Resumed::Idle(_) => {
                // Where its memory is, for its next wake-up (prefetch.rs):
                // its Rust state and the cell of the peer it sends to.
                let (last_to, peer, peer_slot) = self.data.with_last_to(|last| {
                    last.as_ref().map_or((0, 0, None), |t| {
                        (
                            &**t as *const crate::engine::proc_data::LastTo as usize,
                            std::sync::Arc::as_ptr(&t.cell) as usize,
                            Some(t.cell.slot()),
                        )
                    })
                });
                let rust = [
                    (self as *const LuaProc as usize, 2),
                    (Rc::as_ptr(&self.data) as usize, 2),
                    (last_to, 1),
                    (peer.saturating_sub(16), 3), // with the Arc's counts
                ];
                // SAFETY: this step runs on the shard's runner; the thread
                // is alive and suspended in its IDLE yield.
                unsafe {
                    self.vm
                        .warm
                        .record(self.data.cell.slot(), self.thread.state(), rust, peer_slot)
                };
                Step::Idle
            }
            Resumed::Finished(r) => Step::Complete(r),
            Resumed::Raised(e) => Step::Complete(Err(bounded_error(e))),
            Resumed::Other(Err(e)) if is_memory_error(&e) => {
                Step::Complete(Err(ExitError::with_kind(
                    ErrorKind::LimitExceeded,
                    format!(
                        "memory limit exceeded ({} bytes per process)",
                        limit.unwrap_or(0)
                    ),
                )))
            }
            Resumed::Other(r) => self.outcome(r),
        }
    }

    fn close(&mut self, _cx: &mut Context<'_>, _result: &ExitResult) {
        self.data.cancel_timers(&self.vm.env);
        // SAFETY: the VM's main state, on the shard's runner, between
        // resumes.
        unsafe { crate::ffi::send::forget_peer(self.vm.main, &self.data) };
    }
}

impl Drop for LuaProc {
    fn drop(&mut self) {
        self.vm
            .categories
            .borrow_mut()
            .release(self.data.memory.cat());
    }
}

/// A process whose code could not be set up: ends at once with the error.
pub(crate) struct Failed(pub(crate) String);

impl Process for Failed {
    fn step(&mut self, _cx: &mut Context<'_>) -> Step {
        Step::Complete(Err(internal(std::mem::take(&mut self.0))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_are_cut_to_a_bounded_message_and_traceback() {
        let short = "boom\nstack traceback:\n\tx:1: in function 'f'".to_owned();
        assert_eq!(bounded(short.clone()), short, "short texts are kept whole");
        let levels: String = (0..100).map(|i| format!("\n\tx:{i}: in ?")).collect();
        let long = format!("{}\nstack traceback:{levels}", "é".repeat(5000));
        let cut = bounded(long);
        let (message, trace) = cut.split_once("\nstack traceback:").unwrap();
        assert!(
            message.ends_with("... (5904 bytes cut)"),
            "{}",
            &message[4000..]
        );
        assert!(message.len() <= MAX_MESSAGE + 30);
        let lines: Vec<&str> = trace.lines().skip(1).collect();
        assert_eq!(lines.len(), MAX_TRACEBACK_LINES + 1);
        assert_eq!(lines[0], "\tx:0: in ?");
        assert_eq!(lines[12], "\t...\t(76 lines cut)");
        assert_eq!(lines[24], "\tx:99: in ?");
    }
}
