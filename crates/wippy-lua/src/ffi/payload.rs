//! Lua values on a thread's stack ↔ owned payloads, on the raw API: what
//! `process.send`, a message's `:data()`, spawn arguments and a process's
//! results convert with (the rules are `convert.rs`'s, which does the same
//! through mlua on the cold paths).
//!
//! Invariant: every function here leaves the stack as it found it, except
//! [`push_payload`], which pushes exactly one value.

use std::ffi::c_int;
use std::os::raw::c_char;

use mlua::ffi::{self, lua_State};
use wippy_process::Payload;

use crate::convert::{MAX_DEPTH, number, push_key, table_payload};
use crate::ffi::error_object::{self, ErrorObject};
use crate::ffi::payload_object::PayloadObject;
use crate::ffi::strings::LuaStrings;
use crate::ffi::tagged;
use crate::ffi::{message_object, push_bytes, str_bytes, to_str, utf8};

/// Converts the value at `idx` into an owned payload (rules as in
/// `convert`). Errors name the offending value by its path from `root`
/// (`payload.list[3]: function cannot be sent`).
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread, and `idx` a
/// valid index of its current frame; `l` has `LUA_MINSTACK` free stack
/// slots (as a C function has when it is called), which the first
/// [`UNCHECKED_DEPTH`] levels of tables use without asking for more.
pub(crate) unsafe fn to_payload(
    l: *mut lua_State,
    idx: c_int,
    root: &str,
) -> Result<Payload, String> {
    // SAFETY: forwarded contract.
    unsafe { to_payload_sized(l, idx, root) }.map(|(p, _)| p)
}

/// [`to_payload`], with the payload's [`Payload::byte_size`], counted
/// while converting (a sender sizes what it sends for the receiver's
/// bounded mailbox; walking the payload again cost a message about 60
/// instructions).
///
/// # Safety
/// As for [`to_payload`].
pub(crate) unsafe fn to_payload_sized(
    l: *mut lua_State,
    idx: c_int,
    root: &str,
) -> Result<(Payload, usize), String> {
    let idx = if idx < 0 {
        // SAFETY: `l` is live (the contract).
        unsafe { ffi::lua_gettop(l) + idx + 1 }
    } else {
        idx
    };
    let mut stack = Stack::new();
    let mut heap = 0;
    // SAFETY: an absolute index of a live slot (the contract).
    let p = unsafe { convert(l, idx, &mut stack, &mut heap) }.map_err(|e| e.render(root))?;
    Ok((p, SLOT + heap))
}

/// The size of a payload without what it owns on the heap.
const SLOT: usize = std::mem::size_of::<Payload>();

/// Levels of nested tables [`to_payload`] converts in the `LUA_MINSTACK`
/// (20) free slots its caller leaves: a level holds its key and value while
/// it converts them (2 slots each), and a table's metatable check briefly
/// two more, so 8 levels use at most 2 * 8 + 2 = 18.
const UNCHECKED_DEPTH: usize = 8;

/// Tables being converted, outermost first (cycle detection); inline for
/// the usual shallow payloads.
type Stack = smallvec::SmallVec<[usize; 8]>;

/// A conversion failure: what went wrong and where. The path is collected
/// only on failure, innermost key first, so a successful conversion builds
/// no strings.
struct ConvError {
    keys: Vec<Payload>,
    what: String,
}

impl ConvError {
    fn new(what: impl Into<String>) -> ConvError {
        ConvError {
            keys: Vec::new(),
            what: what.into(),
        }
    }

    fn render(self, root: &str) -> String {
        let mut path = root.to_owned();
        for k in self.keys.iter().rev() {
            push_key(&mut path, k);
        }
        format!("{path}: {}", self.what)
    }
}

/// Adds what the payload owns on the heap to `heap` (its
/// [`Payload::byte_size`] less [`SLOT`]).
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread; `idx` is an
/// absolute index of a live slot of its current frame.
unsafe fn convert(
    l: *mut lua_State,
    idx: c_int,
    stack: &mut Stack,
    heap: &mut usize,
) -> Result<Payload, ConvError> {
    // SAFETY: a live slot (the contract); the arms read it as the type
    // this returns.
    Ok(match unsafe { ffi::lua_type(l, idx) } {
        ffi::LUA_TNIL | ffi::LUA_TNONE => Payload::Nil,
        // SAFETY: as above.
        ffi::LUA_TBOOLEAN => Payload::Bool(unsafe { ffi::lua_toboolean(l, idx) } != 0),
        // SAFETY: as above.
        ffi::LUA_TNUMBER => number(unsafe { ffi::lua_tonumber(l, idx) }),
        ffi::LUA_TSTRING => {
            // SAFETY: a string, on the stack for this conversion.
            let bytes = unsafe { str_bytes(l, idx) };
            match utf8(bytes) {
                Ok(s) => {
                    let s = wippy_process::Topic::from(s);
                    if s.is_heap_allocated() {
                        *heap += s.len();
                    }
                    Payload::Str(s)
                }
                Err(_) => {
                    *heap += bytes.len();
                    Payload::Bytes(bytes.to_vec())
                }
            }
        }
        // SAFETY: a table at an absolute index (the contract).
        ffi::LUA_TTABLE => unsafe { table(l, idx, stack, heap) }?,
        t => {
            let name = match t {
                ffi::LUA_TFUNCTION => "function",
                ffi::LUA_TTHREAD => "thread",
                ffi::LUA_TBUFFER => "buffer",
                ffi::LUA_TVECTOR => "vector",
                ffi::LUA_TUSERDATA => {
                    // SAFETY: a live slot, kept for this conversion.
                    if let Some(p) = unsafe { carried(l, idx) } {
                        *heap += p.byte_size() - SLOT;
                        return Ok(p);
                    }
                    "userdata"
                }
                _ => "userdata",
            };
            return Err(ConvError::new(format!("{name} cannot be sent")));
        }
    })
}

/// What the runtime's userdata at `idx` carries when sent: an error object
/// its error; a payload object, or a message (its own payload object), its
/// value. None for any other value.
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread, and `idx` a
/// valid index of its current frame.
pub(crate) unsafe fn carried(l: *mut lua_State, idx: c_int) -> Option<Payload> {
    // SAFETY: the contract; each reader checks the tag.
    if let Some(e) = unsafe { error_object::get(l, idx) } {
        return Some(Payload::Error(e.error.clone()));
    }
    // SAFETY: as above.
    if let Some(p) = unsafe { tagged::get::<PayloadObject>(l, idx) } {
        return Some(p.value.clone());
    }
    // SAFETY: as above.
    unsafe { message_object::payload_of(l, idx) }
}

/// [`carried`] for an mlua value (the cold paths of `convert.rs`).
pub(crate) fn carried_value(lua: &mlua::Lua, v: &mlua::Value) -> Option<Payload> {
    if !matches!(v, mlua::Value::UserData(_)) {
        return None;
    }
    let mut out = None;
    // SAFETY: exec_raw pushes `v` as the closure's one argument, at the
    // top of the main state's stack, for the length of the closure.
    let read = unsafe { lua.exec_raw::<()>(v, |l| out = carried(l, -1)) };
    read.ok().and(out)
}

/// A table's `__wippy` kind (a runtime object: a channel, a timer, a
/// spawner), if its metatable names one.
///
/// # Safety
/// `l` is a live thread; `idx` an absolute index of a table; two free
/// stack slots.
unsafe fn runtime_kind(l: *mut lua_State, idx: c_int) -> Option<String> {
    // SAFETY: the contract (pushes the metatable, if any).
    if unsafe { ffi::lua_getmetatable(l, idx) } == 0 {
        return None;
    }
    // SAFETY: the metatable is on top (pushes the field's value).
    let kind = unsafe { ffi::lua_rawgetfield(l, -1, c"__wippy".as_ptr()) };
    let name = if kind == ffi::LUA_TSTRING {
        // SAFETY: a string on top, popped only after it is copied.
        Some(unsafe { to_str(l, -1) }.to_owned())
    } else {
        None
    };
    // SAFETY: the metatable and the field's value, pushed above.
    unsafe { ffi::lua_pop(l, 2) };
    name
}

/// Adds what the payload owns on the heap to `heap` (see [`convert`]).
///
/// # Safety
/// `l` is a live thread of a VM running on this OS thread; `idx` is the
/// absolute index of a table.
unsafe fn table(
    l: *mut lua_State,
    idx: c_int,
    stack: &mut Stack,
    heap: &mut usize,
) -> Result<Payload, ConvError> {
    // Room for the metatable and its field, then a key and a value: asked
    // for only past the levels the caller's free slots hold (a call costs
    // about as much as the rest of converting a small table).
    // SAFETY: `l` is live (the contract).
    if stack.len() >= UNCHECKED_DEPTH && unsafe { ffi::lua_checkstack(l, 4) } == 0 {
        return Err(ConvError::new("too deeply nested"));
    }
    // SAFETY: a table at `idx`, with the slots just reserved.
    if let Some(k) = unsafe { runtime_kind(l, idx) } {
        return Err(ConvError::new(format!("{k} cannot be sent")));
    }
    // SAFETY: any index is acceptable.
    let ptr = unsafe { ffi::lua_topointer(l, idx) } as usize;
    if stack.contains(&ptr) {
        return Err(ConvError::new("table contains a cycle and cannot be sent"));
    }
    if stack.len() >= MAX_DEPTH {
        return Err(ConvError::new(format!(
            "nested deeper than {MAX_DEPTH} levels and cannot be sent"
        )));
    }
    stack.push(ptr);
    // SAFETY: a table at `idx`.
    let len = unsafe { ffi::lua_objlen(l, idx) };
    let mut pairs: Vec<(Payload, Payload)> = Vec::new();
    let mut sequence = true;
    let mut result = Ok(());
    // lua_rawiter walks the array part, then the hash part, by slot index
    // (lua_next re-finds the previous key every step). Each step pushes a
    // key and a value (slots reserved above), popped before the next.
    let mut iter = 0;
    loop {
        // SAFETY: a table at `idx`; `iter` is 0 or what the last call
        // returned.
        iter = unsafe { ffi::lua_rawiter(l, idx, iter) };
        if iter < 0 {
            break;
        }
        // SAFETY: `l` is live.
        let top = unsafe { ffi::lua_gettop(l) };
        // SAFETY: the key just pushed, at `top - 1`.
        let key = match unsafe { ffi::lua_type(l, top - 1) } {
            // SAFETY: as above, an absolute index.
            ffi::LUA_TSTRING | ffi::LUA_TNUMBER | ffi::LUA_TBOOLEAN => unsafe {
                convert(l, top - 1, stack, heap)
            },
            t => {
                // The names mlua's `Value::type_name` gives (`convert.rs`
                // says the same of the same key).
                let name = match t {
                    ffi::LUA_TTABLE => "table",
                    ffi::LUA_TFUNCTION => "function",
                    ffi::LUA_TTHREAD => "thread",
                    ffi::LUA_TLIGHTUSERDATA => "lightuserdata",
                    ffi::LUA_TBUFFER => "buffer",
                    ffi::LUA_TVECTOR => "vector",
                    _ => "userdata",
                };
                Err(ConvError::new(format!("a {name} key cannot be sent")))
            }
        };
        let key = match key {
            Ok(k) => k,
            Err(e) => {
                result = Err(e);
                // SAFETY: the key and value this step pushed.
                unsafe { ffi::lua_pop(l, 2) };
                break;
            }
        };
        if sequence && !matches!(key, Payload::Int(i) if i >= 1 && (i as usize) <= len) {
            sequence = false;
        }
        // SAFETY: the value just pushed, at `top` (absolute).
        let val = unsafe { convert(l, top, stack, heap) };
        // SAFETY: the key and value this step pushed.
        unsafe { ffi::lua_pop(l, 2) };
        match val {
            Ok(v) => pairs.push((key, v)),
            Err(mut e) => {
                e.keys.push(key);
                result = Err(e);
                break;
            }
        }
    }
    stack.pop();
    result?;
    let p = table_payload(pairs, sequence, len);
    // The element slots (a sequence's keys are integers: nothing on the
    // heap, and not kept).
    *heap += match &p {
        Payload::Array(items) => items.len() * SLOT,
        Payload::Map(pairs) => pairs.len() * 2 * SLOT,
        _ => 0,
    };
    Ok(p)
}

/// Pushes a fresh Lua value for `p`; pids and string keys come from the
/// VM's string cache.
///
/// # Safety
/// `l` is the running thread (or one suspended on this thread) of the VM
/// `strings` belongs to, with at least one free stack slot; a table level
/// reserves the slots its entries need (the table, a key, a value) itself.
pub(crate) unsafe fn push_payload(l: *mut lua_State, p: &Payload, strings: &LuaStrings) {
    match p {
        // SAFETY: the caller's free slot (each scalar arm pushes one value).
        Payload::Nil => unsafe { ffi::lua_pushnil(l) },
        // SAFETY: as above.
        Payload::Bool(b) => unsafe { ffi::lua_pushboolean(l, *b as c_int) },
        // SAFETY: as above.
        Payload::Int(i) => unsafe { ffi::lua_pushnumber(l, *i as f64) },
        // SAFETY: as above.
        Payload::Float(f) => unsafe { ffi::lua_pushnumber(l, *f) },
        // SAFETY: as above.
        Payload::Str(s) => unsafe { push_bytes(l, s.as_bytes()) },
        // SAFETY: as above.
        Payload::Bytes(b) => unsafe {
            ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len());
        },
        // SAFETY: as above; `strings` is this VM's cache (the contract).
        Payload::Pid(pid) => unsafe { strings.push_pid(l, *pid) },
        // SAFETY: the caller's free slot; error objects are installed in
        // every VM the runtime builds.
        Payload::Error(e) => unsafe { error_object::push(l, ErrorObject::new(e.clone())) },
        Payload::Array(items) => {
            // SAFETY: `l` is live; the table, a value and a spare slot.
            unsafe { ffi::lua_checkstack(l, 3) };
            let n = items.len().min(i32::MAX as usize) as c_int;
            // SAFETY: the caller's free slot.
            unsafe { ffi::lua_createtable(l, n, 0) };
            for (i, v) in items.iter().enumerate() {
                // SAFETY: a slot reserved above; the value is consumed next.
                unsafe { push_payload(l, v, strings) };
                // SAFETY: the table at -2, the value on top.
                unsafe { ffi::lua_rawseti(l, -2, (i + 1) as ffi::lua_Integer) };
            }
        }
        Payload::Map(pairs) => {
            // SAFETY: `l` is live; the table, a key and a value.
            unsafe { ffi::lua_checkstack(l, 3) };
            let n = pairs.len().min(i32::MAX as usize) as c_int;
            // SAFETY: the caller's free slot.
            unsafe { ffi::lua_createtable(l, 0, n) };
            for (k, v) in pairs {
                // Keys no Lua table can hold are dropped, as `to_lua`
                // drops them: setting one would raise, and a raise here is
                // outside any protected call when the payload is a spawn
                // argument (it aborted the runtime).
                if !crate::convert::is_table_key(k) {
                    continue;
                }
                match k {
                    // SAFETY: a slot reserved above; this VM's cache.
                    Payload::Str(k) => unsafe { strings.push_str(l, k) },
                    // SAFETY: as above.
                    k => unsafe { push_payload(l, k, strings) },
                }
                // SAFETY: the other slot reserved above.
                unsafe { push_payload(l, v, strings) };
                // SAFETY: the table at -3, key and value on top.
                unsafe { ffi::lua_rawset(l, -3) };
            }
        }
    }
}

/// Property tests of Lua ↔ payload conversion, on both paths (the raw one
/// here, `convert.rs` through mlua): any payload converts into Lua without
/// raising (a raise outside a protected call aborts the runtime), the two
/// paths build the same tables and read any Lua value the same way, and a
/// payload Lua can hold comes back as itself. Cases: proptest's default
/// (256) in the normal run; set `PROPTEST_CASES` for a long fuzzing run.
#[cfg(test)]
mod tests {
    use mlua::{Lua, Value};
    use proptest::prelude::*;
    use wippy_process::{HostId, Pid};

    use super::*;
    use crate::convert;

    thread_local! {
        static LUA: (Lua, LuaStrings) = (Lua::new(), LuaStrings::new());
    }

    /// Pushes `p` with [`push_payload`] in a protected call; an error means
    /// it raised.
    fn push(lua: &Lua, strings: &LuaStrings, p: &Payload) -> mlua::Result<Value> {
        // SAFETY: exec_raw hands the closure the main state of `lua` (whose
        // cache `strings` is), with a free slot, and keeps exactly the one
        // value pushed.
        unsafe { lua.exec_raw::<Value>((), |state| push_payload(state, p, strings)) }
    }

    /// `v` read by the raw path.
    fn raw_read(lua: &Lua, v: &Value) -> Result<Payload, String> {
        let mut out = None;
        // SAFETY: exec_raw pushes `v` on the main state; it is read at the
        // top and popped, so the state is left as it was.
        let run = unsafe {
            lua.exec_raw::<()>(v.clone(), |state| {
                // The room `to_payload` asks of its caller.
                ffi::lua_checkstack(state, ffi::LUA_MINSTACK);
                out = Some(to_payload_sized(state, -1, "payload").map(|(p, size)| {
                    assert_eq!(size, p.byte_size(), "the size counted while converting");
                    p
                }));
                ffi::lua_pop(state, 1);
            })
        };
        run.expect("reading a value raises nothing");
        out.expect("the closure ran")
    }

    /// Map pairs in a canonical order (the two paths may walk a table's
    /// hash part in different orders), NaN equal to NaN.
    fn canonical(p: Payload) -> Payload {
        match p {
            Payload::Array(items) => Payload::Array(items.into_iter().map(canonical).collect()),
            Payload::Map(pairs) => {
                let mut pairs: Vec<_> = pairs
                    .into_iter()
                    .map(|(k, v)| (canonical(k), canonical(v)))
                    .collect();
                pairs.sort_by_key(|(k, _)| format!("{k:?}"));
                Payload::Map(pairs)
            }
            Payload::Float(f) if f.is_nan() => Payload::Str("<NaN>".into()),
            other => other,
        }
    }

    fn pid(id: u64) -> Payload {
        Payload::Pid(Pid::new(HostId::intern("convert:test"), id))
    }

    /// Any payload, keys of any kind included (a map made in Rust may have
    /// nil, NaN or table keys).
    fn hostile() -> impl Strategy<Value = Payload> {
        let leaf = prop_oneof![
            Just(Payload::Nil),
            any::<bool>().prop_map(Payload::Bool),
            any::<i64>().prop_map(Payload::Int),
            any::<u64>().prop_map(|b| Payload::Float(f64::from_bits(b))),
            Just(Payload::Float(f64::NAN)),
            (-4i64..8).prop_map(|i| Payload::Float(i as f64)),
            (-4i64..8).prop_map(Payload::Int),
            ".{0,12}".prop_map(|s: String| Payload::Str(s.into())),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Payload::Bytes),
            (0u64..100).prop_map(pid),
        ];
        leaf.prop_recursive(5, 128, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Payload::Array),
                proptest::collection::vec((inner.clone(), inner), 0..6).prop_map(Payload::Map),
            ]
        })
    }

    /// A payload Lua holds as it is: integers within 2^53, non-integral
    /// finite floats, no nil in arrays or as values, unique string keys.
    fn faithful() -> impl Strategy<Value = Payload> {
        const EXACT: i64 = (1 << 53) - 1;
        let leaf = prop_oneof![
            any::<bool>().prop_map(Payload::Bool),
            (-EXACT..=EXACT).prop_map(Payload::Int),
            // Finite and non-integral, made so rather than filtered (a
            // filter rejecting many of its draws aborts a long run).
            (prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL)
                .prop_map(|f| Payload::Float(if f.fract() == 0.0 { f / 1e300 + 0.5 } else { f })),
            ".{0,12}".prop_map(|s: String| Payload::Str(s.into())),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Payload::Bytes),
            (0u64..100).prop_map(pid),
        ];
        leaf.prop_recursive(5, 128, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..6).prop_map(Payload::Array),
                proptest::collection::btree_map("[a-z_][a-z0-9_]{0,6}|.{0,5}", inner, 0..6)
                    .prop_map(|m| Payload::Map(
                        m.into_iter()
                            .map(|(k, v)| (Payload::Str(k.into()), v))
                            .collect()
                    )),
            ]
        })
    }

    /// What a faithful payload comes back as: pids as their strings, UTF-8
    /// bytes as strings.
    fn lua_form(p: &Payload) -> Payload {
        match p {
            Payload::Pid(pid) => Payload::Str(pid.to_string().into()),
            Payload::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => Payload::Str(s.into()),
                Err(_) => p.clone(),
            },
            Payload::Array(items) => Payload::Array(items.iter().map(lua_form).collect()),
            Payload::Map(pairs) => Payload::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), lua_form(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A Lua expression that builds a value to read: scalars, strings with
    /// any bytes, tables with any keys, values that cannot be sent
    /// (functions, threads, buffers, runtime objects, messages' kin) and
    /// cycles.
    fn lua_expr() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("nil".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i32>().prop_map(|i| i.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| format!("{f:e}")),
            Just("2^53".to_owned()),
            Just("2^63".to_owned()),
            Just("-0.0".to_owned()),
            Just("1/0".to_owned()),
            Just("0/0".to_owned()),
            proptest::collection::vec(any::<u8>(), 0..10).prop_map(|b| {
                let escaped: String = b.iter().map(|c| format!("\\{c}")).collect();
                format!("\"{escaped}\"")
            }),
            Just("function() end".to_owned()),
            Just("coroutine.create(function() end)".to_owned()),
            Just("buffer.create(4)".to_owned()),
            Just("newproxy()".to_owned()),
            Just("setmetatable({}, { __wippy = 'channel' })".to_owned()),
            Just("setmetatable({ 1 }, { __index = {} })".to_owned()),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6)
                    .prop_map(|items| format!("{{ {} }}", items.join(", "))),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..6).prop_map(|kv| {
                    let fields: Vec<String> =
                        kv.iter().map(|(k, v)| format!("[{k}] = {v}")).collect();
                    format!("{{ {} }}", fields.join(", "))
                }),
                inner.prop_map(|t| format!(
                    "(function() local t = {{ x = {t} }} t.self = t return t end)()"
                )),
            ]
        })
    }

    // What the properties below found, kept as plain tests.

    #[test]
    fn a_nan_or_nil_map_key_is_dropped_not_raised() {
        LUA.with(|(lua, strings)| {
            let p = Payload::Map(vec![
                (Payload::Float(f64::NAN), Payload::Int(1)),
                (Payload::Nil, Payload::Int(2)),
                (Payload::Str("k".into()), Payload::Int(3)),
            ]);
            let want = Ok(Payload::Map(vec![(
                Payload::Str("k".into()),
                Payload::Int(3),
            )]));
            let raw = push(lua, strings, &p).expect("pushing raises nothing");
            assert_eq!(raw_read(lua, &raw), want);
            let via_mlua = convert::to_lua(lua, &p).expect("to_lua succeeds");
            assert_eq!(convert::to_payload(lua, &via_mlua, "payload"), want);
        });
    }

    #[test]
    fn an_integer_past_2_pow_53_reads_as_a_float_on_both_paths() {
        LUA.with(|(lua, _)| {
            let v: Value = lua.load("return 2^53").eval().unwrap();
            let want = Ok(Payload::Float(9007199254740992.0));
            assert_eq!(raw_read(lua, &v), want);
            assert_eq!(convert::to_payload(lua, &v, "payload"), want);
        });
    }

    #[test]
    fn an_unsendable_key_is_named_alike_on_both_paths() {
        LUA.with(|(lua, _)| {
            let v: Value = lua
                .load("return { [coroutine.create(function() end)] = true }")
                .eval()
                .unwrap();
            let want = Err("payload: a thread key cannot be sent".to_owned());
            assert_eq!(raw_read(lua, &v), want);
            assert_eq!(convert::to_payload(lua, &v, "payload"), want);
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_payload_converts_into_lua_without_raising_and_both_paths_agree(p in hostile()) {
            LUA.with(|(lua, strings)| {
                let raw = push(lua, strings, &p);
                prop_assert!(raw.is_ok(), "push_payload raised on {p:?}: {raw:?}");
                let raw = raw.unwrap();
                let via_mlua = convert::to_lua(lua, &p);
                prop_assert!(via_mlua.is_ok(), "to_lua failed on {p:?}: {via_mlua:?}");
                let via_mlua = via_mlua.unwrap();
                // Both paths read the same table alike, errors included.
                let a = raw_read(lua, &raw).map(canonical);
                let c = convert::to_payload(lua, &raw, "payload").map(canonical);
                prop_assert_eq!(&a, &c, "{:?}", p);
                // Both built the same value: the same payload back, or an
                // error for both (which of several unsendable keys is met
                // first depends on each table's layout).
                let b = convert::to_payload(lua, &via_mlua, "payload").map(canonical);
                match (&a, &b) {
                    (Ok(x), Ok(y)) => prop_assert_eq!(x, y, "{:?}", p),
                    (Err(_), Err(_)) => {}
                    _ => prop_assert!(false, "{a:?} against {b:?} for {p:?}"),
                }
                Ok(())
            })?;
        }

        #[test]
        fn a_payload_lua_can_hold_comes_back_as_itself(p in faithful()) {
            LUA.with(|(lua, strings)| {
                let v = push(lua, strings, &p).expect("a faithful payload pushes");
                let back = raw_read(lua, &v).map(canonical);
                prop_assert_eq!(back, Ok(canonical(lua_form(&p))));
                Ok(())
            })?;
        }

        #[test]
        fn both_paths_read_any_lua_value_alike(expr in lua_expr()) {
            LUA.with(|(lua, _)| {
                // Some expressions are not values (a NaN or nil table key
                // raises in Lua itself): nothing to read.
                let Ok(v) = lua.load(format!("return {expr}")).eval::<Value>() else {
                    return Ok(());
                };
                let raw = raw_read(lua, &v).map(canonical);
                let via_mlua = convert::to_payload(lua, &v, "payload").map(canonical);
                prop_assert_eq!(raw, via_mlua, "{}", expr);
                Ok(())
            })?;
        }
    }
}
