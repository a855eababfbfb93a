//! The Lua API: everything Lua code sees, one file per Lua-visible module,
//! built into each VM by [`install`].
//!
//! Each module file opens with one `register(m: &mut Exports)` that lists
//! every name the module exports, then the functions. A name is a Rust
//! native, a value, or a function of the prelude (`prelude.lua`, the half
//! of the API written in Lua: coroutines, channels, select, every call that
//! blocks). A module also gives the prelude the natives it builds on
//! ([`Exports::for_prelude`], the prelude's `rt` table), since the
//! prelude reads them when it loads.
//!
//! What this layer may touch: the running process through
//! [`Exports::native`] (which calls [`with_current_or`]), the host it runs on,
//! and mlua. It has no `unsafe`: raw Luau code (the hot natives such as
//! `process.send`) lives in [`crate::ffi`], and a module exports it as a
//! value. Errors a caller can act on are returned as `nil, err`; wrong
//! argument types raise (the API's conventions).
//!
//! # Adding a module
//!
//! Write `api/<name>.rs` with
//! `pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()>`, and
//! add one line for it to [`MODULES`] saying how Lua code reaches it (a
//! global table, or `require("<name>")` for an entry that lists it under
//! `modules`; add a required module's name to `wippy_host::BUILTIN_MODULES`
//! too, so manifests may list it). A required module is built at its first
//! `require` in a VM (`Reach::Later`) unless it gives the prelude natives
//! (`Reach::Require`: built with the VM).

use ahash::AHashMap;
use mlua::{FromLuaMulti, Function, IntoLua, IntoLuaMulti, Lua, Table, Value};

use crate::engine::current::with_current_or;
use crate::engine::lua_host::HostCore;
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

mod base;
mod base64;
mod casts;
mod channel;
mod coroutine;
mod ctx;
mod env;
pub(crate) mod errors;
mod events;
mod funcs;
mod hash;
mod io;
pub(crate) mod json;
mod logger;
mod os;
mod payload;
mod process;
mod registry;
pub(crate) mod security;
pub(crate) mod time;
mod uuid;

/// Every Lua module, in the order they are built: adding one is a line here.
const MODULES: &[Module] = &[
    Module(Reach::Globals, base::register),
    Module(Reach::Globals, casts::register),
    Module(Reach::Global("errors"), errors::register),
    Module(Reach::Global("process"), process::register),
    Module(Reach::Global("channel"), channel::register),
    Module(Reach::Global("coroutine"), coroutine::register),
    Module(Reach::Global("payload"), payload::register),
    Module(Reach::GlobalAndRequire("os"), os::register),
    Module(Reach::Require("time"), time::register),
    Module(Reach::Require("funcs"), funcs::register),
    Module(Reach::Later("json"), json::register),
    Module(Reach::Later("ctx"), ctx::register),
    Module(Reach::Later("security"), security::register),
    Module(Reach::Later("logger"), logger::register),
    Module(Reach::Later("io"), io::register),
    Module(Reach::Later("uuid"), uuid::register),
    Module(Reach::Later("base64"), base64::register),
    Module(Reach::Later("hash"), hash::register),
    Module(Reach::Require("events"), events::register),
    Module(Reach::Later("env"), env::register),
    Module(Reach::Later("registry"), registry::register),
];

/// A module: how Lua code reaches it, and the function that lists its names.
struct Module(Reach, fn(&mut Exports<'_>) -> mlua::Result<()>);

/// How Lua code reaches a module.
enum Reach {
    /// Its names are globals themselves (`print`, `require`, ...).
    Globals,
    /// A global table of that name (`process`, `channel`, `coroutine`).
    Global(&'static str),
    /// What `require(name)` returns to an entry that lists it under
    /// `modules`, on a host that grants it.
    Require(&'static str),
    /// As `Require`, built at the first `require` in the VM (see
    /// [`Modules`]): for a module that gives the prelude nothing
    /// ([`Exports::for_prelude`] fails while it is built).
    Later(&'static str),
    /// A global table that an entry may also list under `modules` (Wippy's
    /// `os`): both reach the same table.
    GlobalAndRequire(&'static str),
}

/// The prelude: the half of the API written in Lua.
const PRELUDE: &str = include_str!("prelude.lua");

/// The prelude's bytecode, compiled once per OS process (every shard VM,
/// and every dedicated process's VM, loads it).
fn prelude_bytecode() -> &'static [u8] {
    static CODE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CODE.get_or_init(|| {
        crate::engine::code::compiler()
            .compile(PRELUDE.as_bytes())
            .expect("the prelude compiles")
    })
}

/// What [`install`] built: the prelude's table and the modules `require`
/// returns, by name.
pub(crate) struct Installed {
    /// The prelude's functions (`boot`, `set_current`, ...).
    pub(crate) prelude: Table,
    /// The required modules (`time`, `json`, ...); the host decides which
    /// of them a process may load.
    pub(crate) modules: Modules,
}

/// The modules `require` returns in one VM, by name: built with the VM, or
/// ([`Reach::Later`]) at the first `require` of them, so that a VM does
/// not make and hold (about 40 KB) the functions of modules none of its
/// processes loads. Built modules are frozen, as the VM's globals are.
pub(crate) struct Modules {
    built: std::cell::RefCell<AHashMap<&'static str, Value>>,
    later: AHashMap<&'static str, fn(&mut Exports<'_>) -> mlua::Result<()>>,
    /// The prelude's table and `rt`, which a module's items may name.
    prelude: Table,
    rt: Table,
}

impl Modules {
    /// Whether `name` is a module (built or not).
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.later.contains_key(name) || self.built.borrow().contains_key(name)
    }

    /// Module `name`, built now if it was not (`None`: no such module).
    /// Built for the running process `cat` (its memory category): the
    /// module is the VM's, so it is made in the VM's category and outside
    /// the process's memory limit.
    pub(crate) fn get(
        &self,
        lua: &Lua,
        host: &HostCore,
        cat: u8,
        name: &str,
    ) -> mlua::Result<Option<Value>> {
        if let Some(v) = self.built.borrow().get(name) {
            return Ok(Some(v.clone()));
        }
        let Some((&name, register)) = self.later.get_key_value(name) else {
            return Ok(None);
        };
        let build = || -> mlua::Result<Value> {
            let mut m = Exports::new(lua, host, &self.rt);
            m.later = true;
            register(&mut m)?;
            if m.omitted {
                return Ok(Value::Nil); // this host does not offer it
            }
            let v = m.resolve(&self.prelude)?;
            if let Value::Table(t) = &v {
                t.set_readonly(true);
            }
            Ok(v)
        };
        let v = crate::engine::memory::unlimited(lua, || {
            crate::ffi::memory::in_category_of_running(
                lua,
                crate::engine::memory::VM_CATEGORY,
                cat,
                build,
            )
        })?;
        self.built.borrow_mut().insert(name, v.clone());
        Ok(Some(v))
    }

    /// Freezes the modules built with the VM.
    fn freeze(&self) {
        for m in self.built.borrow().values() {
            if let Value::Table(t) = m {
                t.set_readonly(true);
            }
        }
    }
}

/// Builds the Lua API into a fresh VM: registers every module (the natives
/// the prelude reads go into `rt` at once), loads the prelude with `rt`,
/// then fills in the modules: globals are set in `lua`'s global table,
/// required modules returned. Nothing is frozen here (the VM does that).
pub(crate) fn install(lua: &Lua, host: &HostCore, rt: &Table) -> mlua::Result<Installed> {
    let mut later = AHashMap::new();
    let mut registered = Vec::with_capacity(MODULES.len());
    for Module(reach, register) in MODULES {
        if let Reach::Later(name) = reach {
            later.insert(*name, *register);
            continue;
        }
        let mut m = Exports::new(lua, host, rt);
        register(&mut m)?;
        if !m.omitted {
            registered.push((reach, m));
        }
    }
    let prelude: Table = lua
        .load(prelude_bytecode())
        .set_mode(mlua::chunk::ChunkMode::Binary)
        .set_name("=wippy:prelude")
        .call(rt.clone())?;
    let globals = lua.globals();
    let mut modules = AHashMap::new();
    for (reach, m) in registered {
        match reach {
            Reach::Globals => {
                for (name, item) in m.items {
                    globals.raw_set(name, item.resolve(lua, &prelude)?)?;
                }
            }
            Reach::Global(name) => globals.raw_set(*name, m.resolve(&prelude)?)?,
            Reach::Require(name) => {
                modules.insert(*name, m.resolve(&prelude)?);
            }
            Reach::GlobalAndRequire(name) => {
                let v = m.resolve(&prelude)?;
                globals.raw_set(*name, v.clone())?;
                modules.insert(*name, v);
            }
            Reach::Later(_) => {} // not registered now
        }
    }
    let modules = Modules {
        built: std::cell::RefCell::new(modules),
        later,
        prelude: prelude.clone(),
        rt: rt.clone(),
    };
    modules.freeze();
    Ok(Installed { prelude, modules })
}

/// The names a module exports, as its `register` lists them.
pub(crate) struct Exports<'a> {
    lua: &'a Lua,
    host: &'a HostCore,
    rt: &'a Table,
    items: Vec<(&'static str, Item)>,
    /// The module is this value itself, not a table of `items`.
    whole: Option<Value>,
    /// The host does not offer the module at all.
    omitted: bool,
    /// Built at its first `require` ([`Reach::Later`]): the prelude has
    /// loaded and can take nothing more.
    later: bool,
}

/// One exported name's value, made once the prelude is loaded.
enum Item {
    Value(Value),
    /// The prelude's function of that name.
    Prelude(&'static str),
    /// A table of its own (`process.registry`).
    Table(Vec<(&'static str, Item)>),
    /// Value `index` of the results of a Lua chunk run with the prelude
    /// (see [`Exports::lua_chunk`]).
    Chunk(std::rc::Rc<Chunk>, usize),
    /// A value made from the prelude's table (see [`Exports::with_prelude`]).
    Built(Box<WithPrelude>),
}

/// What makes an [`Item::Built`] value.
type WithPrelude = dyn FnOnce(&Lua, &Table) -> mlua::Result<Value>;

/// A part of a module written in Lua, run once after the prelude loads.
struct Chunk {
    name: &'static str,
    source: &'static str,
    args: Vec<Value>,
    results: std::cell::OnceCell<Vec<Value>>,
}

impl<'a> Exports<'a> {
    fn new(lua: &'a Lua, host: &'a HostCore, rt: &'a Table) -> Exports<'a> {
        Exports {
            lua,
            host,
            rt,
            items: Vec::new(),
            whole: None,
            omitted: false,
            later: false,
        }
    }

    /// The VM being built.
    pub(crate) fn lua(&self) -> &'a Lua {
        self.lua
    }

    /// The host the VM belongs to.
    pub(crate) fn host(&self) -> &'a HostCore {
        self.host
    }

    /// Exports `name` with value `v`.
    pub(crate) fn set(&mut self, name: &'static str, v: impl IntoLua) -> mlua::Result<()> {
        let v = v.into_lua(self.lua)?;
        self.items.push((name, Item::Value(v)));
        Ok(())
    }

    /// Exports `name`: a native that acts for the process calling it (see
    /// [`process_fn`]).
    pub(crate) fn native<A, R>(
        &mut self,
        name: &'static str,
        f: impl Fn(&Lua, &ProcData, &ShardEnv, A) -> mlua::Result<R> + 'static,
    ) -> mlua::Result<()>
    where
        A: FromLuaMulti,
        R: IntoLuaMulti,
    {
        let f = process_fn(self.lua, f)?;
        self.set(name, f)
    }

    /// Exports `name`: a native that needs no process.
    pub(crate) fn function<A, R>(
        &mut self,
        name: &'static str,
        f: impl Fn(&Lua, A) -> mlua::Result<R> + 'static,
    ) -> mlua::Result<()>
    where
        A: FromLuaMulti,
        R: IntoLuaMulti,
    {
        let f = self.lua.create_function(f)?;
        self.set(name, f)
    }

    /// Exports `name`: the prelude's function of the same name.
    pub(crate) fn prelude(&mut self, name: &'static str) {
        self.prelude_as(name, name);
    }

    /// Exports `name`: the prelude's function `from`.
    pub(crate) fn prelude_as(&mut self, name: &'static str, from: &'static str) {
        self.items.push((name, Item::Prelude(from)));
    }

    /// Exports `name`: a table whose names `build` lists.
    pub(crate) fn table(
        &mut self,
        name: &'static str,
        build: impl FnOnce(&mut Exports<'a>) -> mlua::Result<()>,
    ) -> mlua::Result<()> {
        let mut t = Exports::new(self.lua, self.host, self.rt);
        build(&mut t)?;
        self.items.push((name, Item::Table(t.items)));
        Ok(())
    }

    /// Exports `name`: the value `make` makes from the prelude's table once
    /// the prelude has loaded (a native that calls a prelude function).
    pub(crate) fn with_prelude(
        &mut self,
        name: &'static str,
        make: impl FnOnce(&Lua, &Table) -> mlua::Result<Value> + 'static,
    ) {
        self.items.push((name, Item::Built(Box::new(make))));
    }

    /// Exports `names`: the values a Lua chunk returns, in order. The chunk
    /// runs once the prelude has loaded, with the prelude's table and then
    /// `args` as its arguments (`...`).
    pub(crate) fn lua_chunk(
        &mut self,
        chunk_name: &'static str,
        source: &'static str,
        args: Vec<Value>,
        names: &[&'static str],
    ) {
        let chunk = std::rc::Rc::new(Chunk {
            name: chunk_name,
            source,
            args,
            results: std::cell::OnceCell::new(),
        });
        for (i, name) in names.iter().enumerate() {
            self.items.push((name, Item::Chunk(chunk.clone(), i)));
        }
    }

    /// The module is `v` itself (what `require` returns), not a table.
    pub(crate) fn whole(&mut self, v: impl IntoLua) -> mlua::Result<()> {
        self.whole = Some(v.into_lua(self.lua)?);
        Ok(())
    }

    /// This host does not offer the module at all.
    pub(crate) fn omit(&mut self) {
        self.omitted = true;
    }

    /// Gives the prelude `rt.<name>`: a value it builds on (it reads them
    /// when it loads, before any module is filled in).
    pub(crate) fn for_prelude(&mut self, name: &'static str, v: impl IntoLua) -> mlua::Result<()> {
        if self.later {
            return Err(mlua::Error::runtime(format!(
                "rt.{name}: a module built at its first require cannot give the prelude natives (make it Reach::Require)"
            )));
        }
        self.rt.raw_set(name, v)
    }

    /// The module's value, once the prelude is loaded.
    fn resolve(self, prelude: &Table) -> mlua::Result<Value> {
        if let Some(v) = self.whole {
            return Ok(v);
        }
        Item::Table(self.items).resolve(self.lua, prelude)
    }
}

impl Item {
    fn resolve(self, lua: &Lua, prelude: &Table) -> mlua::Result<Value> {
        Ok(match self {
            Item::Value(v) => v,
            Item::Prelude(from) => prelude.get(from)?,
            Item::Built(make) => make(lua, prelude)?,
            Item::Table(items) => {
                let t = lua.create_table_with_capacity(0, items.len())?;
                for (name, item) in items {
                    t.raw_set(name, item.resolve(lua, prelude)?)?;
                }
                Value::Table(t)
            }
            Item::Chunk(chunk, i) => {
                if chunk.results.get().is_none() {
                    let mut args = vec![Value::Table(prelude.clone())];
                    args.extend(chunk.args.iter().cloned());
                    let results: mlua::MultiValue = lua
                        .load(chunk.source)
                        .set_name(chunk.name)
                        .call(mlua::MultiValue::from_vec(args))?;
                    let _ = chunk.results.set(results.into_vec());
                }
                let results = chunk.results.get().expect("set just above");
                results.get(i).cloned().unwrap_or(Value::Nil)
            }
        })
    }
}

/// A Lua function that runs `f` for the process calling it: `f` gets the
/// process's data and its VM's shared state for the length of the call.
/// Called outside a process (never, in practice: Lua code runs only in
/// process steps) it raises an error.
pub(crate) fn process_fn<A, R>(
    lua: &Lua,
    f: impl Fn(&Lua, &ProcData, &ShardEnv, A) -> mlua::Result<R> + 'static,
) -> mlua::Result<Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
{
    lua.create_function(move |lua, args: A| {
        with_current_or(
            |p, env| f(lua, p, env, args),
            || Err(mlua::Error::runtime("called outside a running process")),
        )
    })
}

/// The type of `v` as Lua names it (`number` for integers too), for
/// argument errors.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) | Value::Number(_) => "number",
        other => other.type_name(),
    }
}

/// `true` alone: a success with nothing to return.
pub(crate) fn ok_true() -> mlua::Result<mlua::MultiValue> {
    one(Value::Boolean(true))
}

/// A success result: the value alone (no trailing `nil` for `err`, so
/// `t[#t+1] = f()` and `print(f())` see one value).
pub(crate) fn one(v: Value) -> mlua::Result<mlua::MultiValue> {
    Ok(mlua::MultiValue::from_vec(vec![v]))
}
