//! One Luau VM of a shard: the sandboxed base globals every process reads
//! through its own environment, the natives of the Lua API, the prelude,
//! and the loaded code of each entry.
//!
//! Isolation (see `execution.md` §4): the base globals and every library
//! table are frozen (Luau's sandbox); each process gets its own environment
//! table whose metatable `__index`es the base; `debug` and `io` are cut
//! down to harmless functions, `os` is Wippy's (`api/os.rs`); there is no
//! way to load bytecode or reach another process's thread, environment or
//! state.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use ahash::AHashMap;
use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value};
use wippy_host::registry::EntryId;

use crate::engine::code::Compiled;
use crate::engine::lua_host::HostCore;
use crate::engine::memory::{Categories, Charge, VM_CATEGORY};
use crate::ffi::memory::{category_bytes, set_category};

/// What the natives of one VM share (they reach it, with the running
/// process, through `engine::current::with_current`).
pub(crate) struct ShardEnv {
    pub(crate) host: Arc<HostCore>,
    /// The modules `require` returns (`time`, `io`, ...), built once per
    /// VM (some at their first `require`), frozen.
    pub(crate) modules: crate::api::Modules,
    /// Interned topics, keys and pid strings of the message path.
    pub(crate) strings: crate::ffi::strings::LuaStrings,
    /// The count of the running process's memory category when its step
    /// began, on a host with a memory limit (`engine/memory.rs`); `None`
    /// between steps.
    pub(crate) step_start: std::cell::Cell<Option<usize>>,
}

/// Sentinels yielded by a process's threads: IDLE (park until news
/// arrives) and UPGRADE (swap the code), which the prelude yields to Rust,
/// and PREEMPT, which the interrupt makes a coroutine yield to its resumer.
/// Light userdata: comparing them costs no reference slot, and Lua code
/// cannot make one, so no process can forge them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    Idle,
    /// IDLE from `rt.recv` (the inbox's fast path): the next resume may
    /// hand it the next message directly (see `LuaProc::resume`).
    IdleRecv,
    Upgrade,
    /// What a preempted coroutine (not a main thread) yields to its resumer.
    Preempt,
}

static TOKENS: [u8; 4] = [0; 4];

impl Token {
    pub(crate) fn ptr(self) -> *mut std::ffi::c_void {
        let ix = match self {
            Token::Idle => 0,
            Token::Upgrade => 1,
            Token::Preempt => 2,
            Token::IdleRecv => 3,
        };
        &TOKENS[ix] as *const u8 as *mut std::ffi::c_void
    }

    pub(crate) fn value(self) -> Value {
        Value::LightUserData(mlua::LightUserData(self.ptr()))
    }

    /// The token a light userdata pointer is, if it is one.
    pub(crate) fn from_ptr(p: *mut std::ffi::c_void) -> Option<Token> {
        if p == Token::Idle.ptr() {
            Some(Token::Idle)
        } else if p == Token::Upgrade.ptr() {
            Some(Token::Upgrade)
        } else if p == Token::Preempt.ptr() {
            Some(Token::Preempt)
        } else if p == Token::IdleRecv.ptr() {
            Some(Token::IdleRecv)
        } else {
            None
        }
    }

    /// The token `v` is, if it is one.
    pub(crate) fn of(v: &Value) -> Option<Token> {
        match v {
            Value::LightUserData(p) => Token::from_ptr(p.0),
            _ => None,
        }
    }
}

/// A shard's VM.
pub(crate) struct Vm {
    pub(crate) lua: Lua,
    pub(crate) env: Rc<ShardEnv>,
    /// The prelude's functions (boot, set_current, ...).
    pub(crate) prelude: Table,
    pub(crate) boot: Function,
    /// The boot of an entry with names to bind (see [`Vm::boot_of`]).
    pub(crate) boot_bound: Function,
    /// The VM's main state: what process threads are resumed from.
    pub(crate) main: *mut mlua::ffi::lua_State,
    /// Where each parked process's memory is, for its next wake-up.
    pub(crate) warm: Arc<crate::engine::prefetch::Warm>,
    /// The memory categories of its processes.
    pub(crate) categories: RefCell<Categories>,
    /// Each entry's loaded (never run) top-level chunk, which processes
    /// run clones of, and its method name.
    templates: RefCell<AHashMap<EntryId, Template>>,
    /// What each entry binds as globals (see [`Vm::boot_of`]).
    bindings: RefCell<AHashMap<EntryId, Table>>,
}

/// An entry as a VM keeps it (see [`Vm::instantiate`]).
struct Template {
    chunk: Function,
    method: Value,
}

impl Vm {
    /// A new VM for a shard of `host`; `warm` is the shard's prefetch
    /// table when it replaces the shard's VM (the table does not depend on
    /// the VM: all VMs share Luau's struct layout), `None` for a new shard.
    pub(crate) fn new(
        host: Arc<HostCore>,
        warm: Option<Arc<crate::engine::prefetch::Warm>>,
    ) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::COROUTINE
                | StdLib::TABLE
                | StdLib::STRING
                | StdLib::UTF8
                | StdLib::BIT
                | StdLib::MATH
                | StdLib::BUFFER
                | StdLib::DEBUG,
            LuaOptions::new(),
        )?;
        // `loadstring`/`load` of text compile as entries do.
        lua.set_compiler(crate::engine::code::compiler());
        crate::ffi::message_object::install(&lua)?;
        let globals = lua.globals();
        trim_globals(&lua, &globals)?;
        // The prelude's natives (`rt`): the API adds its own; these are the
        // engine's. Process environments: reads fall through to the frozen
        // globals (the prelude sets `__index`, which also answers `_G`).
        // The prelude's boot makes one per process with this metatable.
        let rt = lua.create_table()?;
        let env_mt = lua.create_table()?;
        env_mt.raw_set("__metatable", "environment")?;
        rt.set("globals", globals.clone())?;
        rt.set("env_mt", env_mt.clone())?;
        rt.set("idle_token", Token::Idle.value())?;
        rt.set("upgrade_token", Token::Upgrade.value())?;
        rt.set("preempt_token", Token::Preempt.value())?;
        let api = crate::api::install(&lua, &host, &rt)?;
        let prelude = api.prelude;
        let env = Rc::new(ShardEnv {
            host,
            modules: api.modules,
            strings: crate::ffi::strings::LuaStrings::new(),
            step_start: std::cell::Cell::new(None),
        });
        let boot: Function = prelude.get("boot")?;
        let boot_bound: Function = prelude.get("boot_bound")?;
        // Freeze every library table, the string metatable and the globals.
        lua.sandbox(true)?;
        freeze_all(&globals)?;
        prelude.set_readonly(true);
        env_mt.set_readonly(true);
        globals.set_readonly(true);
        let main = lua.state();
        let warm = warm.unwrap_or_else(|| Arc::new(crate::engine::prefetch::Warm::new(&lua)));
        Ok(Vm {
            lua,
            env,
            prelude,
            boot,
            boot_bound,
            main,
            warm,
            categories: RefCell::new(Categories::new()),
            templates: RefCell::new(AHashMap::new()),
            bindings: RefCell::new(AHashMap::new()),
        })
    }

    /// A fresh clone of the entry's chunk, which the prelude's boot binds
    /// to the process's own environment before running it, and the entry's
    /// method name as a Lua string (nil: the chunk itself). The chunk is
    /// loaded, and the name made, once per VM (both at the first spawn);
    /// one lookup serves both.
    pub(crate) fn instantiate(&self, code: &Compiled) -> mlua::Result<(Function, Value)> {
        if let Some(t) = self.templates.borrow().get(&code.id) {
            return Ok((t.chunk.deep_clone()?, t.method.clone()));
        }
        let chunk = self
            .lua
            .load(&code.bytecode[..])
            .set_name(&code.chunk_name)
            .set_mode(mlua::chunk::ChunkMode::Binary)
            .into_function()?;
        let method = match &code.method {
            Some(m) => Value::String(self.lua.create_string(m)?),
            None => Value::Nil,
        };
        let fresh = (chunk.deep_clone()?, method.clone());
        self.templates
            .borrow_mut()
            .insert(code.id.clone(), Template { chunk, method });
        Ok(fresh)
    }

    /// Runs `f`, which makes objects for the process charged by `charge`
    /// through the main state (its thread, its chunk, its state table), with
    /// the main state making them in the process's memory category; adds
    /// what the category gained to the charge on a host with a memory
    /// limit (`engine/memory.rs`).
    pub(crate) fn made_for<R>(&self, charge: &Charge, f: impl FnOnce() -> R) -> R {
        let limited = self.env.host.config.memory_limit.is_some();
        let before = limited.then(|| self.category_bytes(charge.cat()));
        self.set_main_category(charge.cat());
        let r = f();
        self.set_main_category(VM_CATEGORY);
        if let Some(before) = before {
            charge.add(before, self.category_bytes(charge.cat()));
        }
        r
    }

    /// Bytes of the live objects of memory category `cat` in this VM.
    #[inline]
    pub(crate) fn category_bytes(&self, cat: u8) -> usize {
        // SAFETY: the VM's main state, on the shard's runner (a `Vm` is
        // touched only there).
        unsafe { category_bytes(self.main, cat) }
    }

    /// Makes the main state create its objects in category `cat`.
    fn set_main_category(&self, cat: u8) {
        // SAFETY: as in `category_bytes`.
        unsafe { set_category(self.main, cat) }
    }

    /// The VM's callback table (for the preemption interrupt).
    pub(crate) fn callbacks(&self) -> *mut mlua::ffi::lua_Callbacks {
        crate::ffi::interrupt::callbacks(&self.lua)
    }
}

impl Vm {
    /// The function a process of `code` boots with, and what it binds as
    /// globals before its chunk runs (`docs/lua-api.md`):
    /// `{modules = {names}, imports = {aliases}}`, the modules it lists that
    /// its host grants and its import aliases, which the caller puts in the
    /// process state as `binds`; the prelude's `boot_bound` binds each name
    /// to what `require` returns for it. An entry without modules or
    /// imports boots with the plain `boot` and costs nothing more.
    #[inline(always)]
    pub(crate) fn boot_of(&self, code: &Compiled) -> mlua::Result<(&Function, Option<Table>)> {
        if code.modules.is_empty() && code.imports.is_empty() {
            return Ok((&self.boot, None));
        }
        Ok((&self.boot_bound, Some(self.bindings(code)?)))
    }

    /// The names of [`Vm::boot_of`], made once per entry per VM, frozen.
    #[cold]
    #[inline(never)]
    fn bindings(&self, code: &Compiled) -> mlua::Result<Table> {
        if let Some(b) = self.bindings.borrow().get(&code.id) {
            return Ok(b.clone());
        }
        let config = &self.env.host.config;
        let modules = self.lua.create_sequence_from(
            code.modules
                .iter()
                .filter(|m| {
                    self.env.modules.contains(m.as_str())
                        && config.modules.allows(m)
                        && (m.as_str() != "io" || config.terminal.is_some())
                })
                .map(String::as_str),
        )?;
        let imports = self
            .lua
            .create_sequence_from(code.imports.keys().map(String::as_str))?;
        let t = self.lua.create_table_with_capacity(0, 2)?;
        t.raw_set("modules", &modules)?;
        t.raw_set("imports", &imports)?;
        for x in [&modules, &imports, &t] {
            x.set_readonly(true);
        }
        self.bindings
            .borrow_mut()
            .insert(code.id.clone(), t.clone());
        Ok(t)
    }
}

/// Makes `t` and every table reachable from it (values and metatables)
/// read-only: all of it is shared by the processes of the shard.
fn freeze_all(t: &Table) -> mlua::Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![t.clone()];
    while let Some(t) = todo.pop() {
        if !seen.insert(t.to_pointer() as usize) {
            continue;
        }
        if let Some(mt) = t.metatable() {
            todo.push(mt);
        }
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            for x in [k, v] {
                if let Value::Table(inner) = x {
                    todo.push(inner);
                }
            }
        }
        t.set_readonly(true);
    }
    Ok(())
}

/// Removes what sandboxed code must not reach and keeps the harmless part
/// of `debug` (the API puts back safe versions of `require`, `load`,
/// `collectgarbage` and others, and Wippy's `os`, `api/os.rs`).
fn trim_globals(lua: &Lua, g: &Table) -> mlua::Result<()> {
    if let Ok(debug) = g.get::<Table>("debug") {
        let safe = lua.create_table()?;
        safe.set("traceback", debug.get::<Value>("traceback")?)?;
        g.set("debug", safe)?;
    }
    // `_G` is each process's own environment: with no `_G` among the
    // shared globals, code's `_G` import resolves to nothing at load time,
    // and Luau then reads it from the running closure's environment
    // (`luaV_getimport`), whose metatable answers it (prelude, `ENV_MT`).
    for name in [
        "_G",
        "getfenv",
        "setfenv",
        "load",
        "loadfile",
        "dofile",
        "loadstring",
        "require",
        "collectgarbage",
        "newproxy",
        "gcinfo",
    ] {
        g.raw_set(name, Value::Nil)?;
    }
    Ok(())
}
