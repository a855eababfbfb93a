//! A Lua process: a sandboxed thread of a shard's VM, stepped by the kernel.

use std::rc::Rc;

use mlua::{MultiValue, Table, Thread, Value, ffi};
use wippy_process::{Context, ExitError, ExitResult, Process, Step, Wait};

use crate::natives::ProcData;
use crate::raw;
use crate::vm::{Token, Vm};

/// The method's arguments for a thread's first resume.
enum BootArgs {
    /// Spawn arguments, pushed straight onto the thread.
    Spawn(Vec<wippy_process::Payload>),
    /// Values handed to `process.upgrade`.
    Upgrade(MultiValue),
}

/// How a resume ended.
enum Resumed {
    /// The process yielded IDLE (the hot path: nothing converted).
    Idle,
    /// The method returned: its EXIT value.
    Finished(Result<wippy_process::Payload, String>),
    /// A yield with values or an interrupt, or an error, as mlua's
    /// `Thread::resume` reports it.
    Other(mlua::Result<MultiValue>),
}

/// The error a thread died of (its error object is on top of `t`), as
/// mlua reports a failed resume: a Rust error raised through a callback
/// as itself; any other value as its `tostring` followed by the thread's
/// traceback.
///
/// # Safety
/// `t` is a thread of `lua`'s VM whose resume just failed.
unsafe fn thread_error(lua: &mlua::Lua, t: *mut ffi::lua_State) -> mlua::Error {
    // SAFETY: forwarded from the caller; each closure leaves exactly the
    // values exec_raw returns on the main state's stack.
    unsafe {
        let obj = match lua.exec_raw::<Value>((), |state| {
            ffi::lua_checkstack(state, 1);
            ffi::lua_xmove(t, state, 1);
        }) {
            Ok(Value::Error(e)) => return *e,
            Ok(v) => v,
            Err(e) => return e,
        };
        // `tostring` may run a __tostring metamethod: exec_raw runs this
        // protected, and the preemption watchdog stops one that never
        // returns.
        match lua.exec_raw::<mlua::LuaString>(obj, |state| {
            let s = ffi::luaL_tolstring(state, -1, std::ptr::null_mut());
            if ffi::lua_checkstack(state, ffi::LUA_TRACEBACK_STACK) != 0 {
                ffi::luaL_traceback(state, t, s, 0);
                ffi::lua_remove(state, -2);
            }
            ffi::lua_remove(state, -2);
        }) {
            Ok(text) => mlua::Error::RuntimeError(text.to_string_lossy()),
            Err(e) => e,
        }
    }
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
    /// Bytes of VM memory charged to this process (see `step`).
    charged: usize,
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

/// Readable text of a Lua error: message plus traceback.
pub(crate) fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(s) => s.clone(),
        mlua::Error::MemoryError(_) => "memory limit exceeded".to_owned(),
        mlua::Error::CallbackError { traceback, cause } => {
            format!("{}\n{traceback}", error_text(cause))
        }
        mlua::Error::WithContext { context, cause } => format!("{context}: {}", error_text(cause)),
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
        let chunk = vm.instantiate(&code)?;
        // Room for main, env and inbox without growing (three rehashes).
        let state = lua.create_table_with_capacity(0, 4)?;
        let thread = lua.create_thread(vm.boot.clone())?;
        crate::preempt::mark_main(&thread);
        let method = vm.method_name(&code)?;
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
            charged: 0,
        })
    }

    fn resume(&mut self) -> Resumed {
        let t = self.thread.state();
        self.fed = false;
        let nargs = if let Some(args) = self.boot.take() {
            // First resume: the boot function is on the thread's stack; the
            // arguments go above it.
            match *args {
                BootArgs::Spawn(args) => {
                    let n = args.len() as std::ffi::c_int;
                    // SAFETY: the thread is new (not running) and has room
                    // after lua_checkstack; push_payload pushes one value
                    // per payload.
                    unsafe {
                        ffi::lua_checkstack(t, n);
                        for a in &args {
                            raw::push_payload(t, a, &self.vm.env.strings);
                        }
                    }
                    n
                }
                BootArgs::Upgrade(args) => {
                    let n = args.len() as std::ffi::c_int;
                    // SAFETY: exec_raw leaves the arguments on the main
                    // state's stack; they are moved to the (not yet started)
                    // thread, which has room for them after lua_checkstack.
                    let moved = unsafe {
                        self.vm.lua.exec_raw::<()>(args, |state| {
                            ffi::lua_checkstack(t, n);
                            ffi::lua_xmove(state, t, n);
                        })
                    };
                    if let Err(e) = moved {
                        return Resumed::Other(Err(e));
                    }
                    n
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
                // SAFETY: the thread is suspended in a yield (a resume's
                // values become the yield's results) and has room for one
                // value after lua_checkstack.
                unsafe {
                    ffi::lua_checkstack(t, 1);
                    crate::message::push(t, msg);
                }
                self.fed = true;
                1
            } else {
                0
            }
        };
        // SAFETY: the thread belongs to this process's VM, which runs on
        // this worker for the whole step; it is new (with `nargs` arguments
        // above its function) or suspended in a yield.
        unsafe { self.resume_raw(nargs) }
    }

    /// Resumes the thread on the raw Luau API: an IDLE yield, the common
    /// case, costs no mlua values, and a finished thread's results are
    /// converted straight off its stack. Other yields are handed over as
    /// mlua values; errors get the text mlua's `Thread::resume` would give
    /// them (message and traceback).
    ///
    /// # Safety
    /// `self.thread` is new with `nargs` arguments pushed, or suspended in
    /// a yield; the VM runs on this thread.
    unsafe fn resume_raw(&mut self, nargs: std::ffi::c_int) -> Resumed {
        let lua = &self.vm.lua;
        let t = self.thread.state();
        // SAFETY: see the function's contract; `main` is the VM's main state
        // (a resume from Rust, not from inside a callback).
        unsafe {
            let status = ffi::lua_resume_(t, self.vm.main, nargs);
            match status {
                ffi::LUA_OK => {
                    let function = self.data.entry.borrow().kind
                        == wippy_host::registry::EntryKind::FunctionLua;
                    let r = results(t, function);
                    ffi::lua_settop(t, 0);
                    Resumed::Finished(r)
                }
                ffi::LUA_YIELD => {
                    let n = ffi::lua_gettop(t);
                    if n == 1 && ffi::lua_type(t, 1) == ffi::LUA_TLIGHTUSERDATA {
                        let token = Token::from_ptr(ffi::lua_touserdata(t, 1));
                        if matches!(token, Some(Token::Idle | Token::IdleRecv)) {
                            self.in_recv = token == Some(Token::IdleRecv);
                            ffi::lua_settop(t, 0);
                            return Resumed::Idle;
                        }
                    }
                    // An upgrade request, a stray yield, or nothing (an
                    // interrupt): hand them over as mlua values.
                    Resumed::Other(lua.exec_raw::<MultiValue>((), |state| {
                        ffi::lua_checkstack(state, n);
                        ffi::lua_xmove(t, state, n);
                    }))
                }
                ffi::LUA_ERRMEM => Resumed::Other(Err(mlua::Error::MemoryError(
                    "not enough memory".to_owned(),
                ))),
                _ => Resumed::Other(Err(thread_error(lua, t))),
            }
        }
    }

    /// What a resume that neither parked nor finished came to: an error, an
    /// interrupt (no values), an upgrade request, or a stray yield.
    fn outcome(&mut self, r: mlua::Result<MultiValue>) -> Step {
        let vals = match r {
            Err(e) => return Step::Complete(Err(ExitError::new(error_text(&e)))),
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
                    Err(e) => Step::Complete(Err(ExitError::new(format!("upgrade failed: {e}")))),
                }
            }
            Some(_) => Step::Complete(Err(ExitError::new(
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
        let code = host.code.get(&id)?;
        if !matches!(
            code.kind,
            wippy_host::registry::EntryKind::ProcessLua
                | wippy_host::registry::EntryKind::FunctionLua
        ) {
            return Err(format!("{id} is a {}, not a process", code.kind));
        }
        let lua = &self.vm.lua;
        let build = || -> mlua::Result<(Thread, Box<BootArgs>)> {
            let chunk = self.vm.instantiate(&code)?;
            let thread = lua.create_thread(self.vm.boot.clone())?;
            crate::preempt::mark_main(&thread);
            let parts = (self.state.clone(), chunk, self.vm.method_name(&code)?);
            self.data.boot.set(Some(Box::new(parts)));
            Ok((
                thread,
                Box::new(BootArgs::Upgrade(MultiValue::from_vec(args))),
            ))
        };
        let (thread, boot) = build().map_err(|e| error_text(&e))?;
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
        // `self.data` lives through the step (an upgrade keeps it).
        let _current = crate::raw::CurrentGuard::set(Rc::as_ptr(&self.data), &env);
        // Memory budget (execution.md §7): allocation during the step is
        // charged to this process. The VM's limit is set to what is in use
        // plus the process's remaining budget, so going over raises a memory
        // error inside this process only; the limit is lifted afterwards.
        let limit = env.host.config.memory_limit.map(|l| l as usize);
        let vm = self.vm.clone();
        let lua = &vm.lua;
        let used_before = if let Some(limit) = limit {
            let used = lua.used_memory();
            let budget = limit.saturating_sub(self.charged).max(1);
            let _ = lua.set_memory_limit(used + budget);
            used
        } else {
            0
        };
        // A thread resumed after a preemption continues wherever the
        // interrupt hit it (see the invariant below).
        let after_preemption = self.preempted;
        let r = self.resume();
        if limit.is_some() {
            let used_after = lua.used_memory();
            self.charged = (self.charged + used_after).saturating_sub(used_before);
            let _ = lua.set_memory_limit(0);
        }
        match r {
            // Invariant (lost wake-ups): an IDLE yield parks the process
            // only if the prelude has pumped the mailbox since the thread
            // was resumed. The prelude pumps after every IDLE yield returns,
            // but a thread resumed after a preemption may reach its IDLE
            // yield without pumping, so that step requeues instead; the next
            // resume returns from the IDLE yield and pumps.
            Resumed::Idle if after_preemption => Step::Yield(Wait::yield_now()),
            // Only a step that a message drove records where the process's
            // memory is (prefetch.rs): a process that never took a message
            // from its inbox's fast path (an idle one, one that waits on
            // timers or channels) costs no record.
            Resumed::Idle if !self.fed => Step::Idle,
            Resumed::Idle => {
                // Where its memory is, for its next wake-up (prefetch.rs):
                // its Rust state and the cell of the peer it sends to.
                let (last_to, peer, peer_slot) = self.data.with_last_to(|last| {
                    last.as_ref().map_or((0, 0, None), |t| {
                        (
                            &**t as *const crate::natives::LastTo as usize,
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
            Resumed::Finished(r) => Step::Complete(r.map_err(ExitError::new)),
            Resumed::Other(Err(e)) if is_memory_error(&e) => {
                Step::Complete(Err(ExitError::new(format!(
                    "memory limit exceeded ({} bytes per process)",
                    limit.unwrap_or(0)
                ))))
            }
            Resumed::Other(r) => self.outcome(r),
        }
    }

    fn close(&mut self, _cx: &mut Context<'_>, _result: &ExitResult) {
        self.data.cancel_timers(&self.vm.env);
        // SAFETY: the VM's main state, on the shard's runner, between
        // resumes.
        unsafe { self.data.forget_peer(self.vm.main) };
    }
}

/// The EXIT value of a finished thread, from its results on its stack:
/// its method's return value, or, when it returned several (`return false,
/// "why"`), an array of them. A `function.lua` entry's value is always the
/// array of its results (what `funcs.call` returns).
///
/// # Safety
/// `t` is a thread of a VM running on this thread, finished with only its
/// results on its stack.
unsafe fn results(
    t: *mut ffi::lua_State,
    function: bool,
) -> Result<wippy_process::Payload, String> {
    // SAFETY: indices 1..=n are the thread's results.
    unsafe {
        let n = ffi::lua_gettop(t);
        match n {
            0 if !function => Ok(wippy_process::Payload::Nil),
            1 if !function => raw::to_payload(t, 1, "result"),
            _ => (1..=n)
                .map(|i| raw::to_payload(t, i, &format!("result[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(wippy_process::Payload::Array),
        }
    }
}

/// A process whose code could not be set up: ends at once with the error.
pub(crate) struct Failed(pub(crate) String);

impl Process for Failed {
    fn step(&mut self, _cx: &mut Context<'_>) -> Step {
        Step::Complete(Err(ExitError::new(std::mem::take(&mut self.0))))
    }
}
