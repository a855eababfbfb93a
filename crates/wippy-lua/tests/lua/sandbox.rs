//! Hostile Lua: each attack ends (or is refused to) only the offending
//! process, with a clear error, while a bystander process on the same VM
//! shard keeps answering messages.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use wippy_lua::LuaHostConfig;
use wippy_process::{ExitResult, Message, Payload, Pid, SpawnOptions};

use crate::common::*;

/// Answers every message with facts about its own view of the world; any
/// tampering with shared libraries or globals by another process would show.
const BYSTANDER: &str = r#"
local M = {}
function M.main()
    local inbox = process.inbox()
    local n = 0
    while true do
        local m = inbox:receive()
        n = n + 1
        assert(process.send(m:from(), "pong", {
            text = string.upper(m:payload():data()),
            n = n,
            leak = leak,
            print = type(print),
            send = type(process.send),
            sort = type(table.sort),
            len = ("abc"):len(),
        }))
    end
end
return M
"#;

/// How long a hostile process may take to end.
const HOSTILE_TIMEOUT: Duration = Duration::from_secs(5);

/// A Lua entry whose `main(...)` is `body`.
fn hostile(name: &'static str, body: &str) -> Lua {
    entry_time(
        name,
        &format!("local M = {{}}\nfunction M.main(...)\n{body}\nend\nreturn M\n"),
    )
}

/// An app on ONE shard (every process shares a VM) with a bystander.
struct Arena {
    t: ManuallyDrop<TestApp>,
    /// A worker is stuck: the app is leaked instead of dropped.
    hung: Cell<bool>,
    bystander: Pid,
    me: Pid,
    inbox: Receiver<Message>,
    pings: i64,
}

impl Arena {
    fn new(entries: Vec<Lua>) -> Arena {
        Arena::with_config(entries, LuaHostConfig::new(HOST, 2))
    }

    fn with_config(mut entries: Vec<Lua>, mut config: LuaHostConfig) -> Arena {
        config.shards = 1;
        entries.push(entry("bystander", BYSTANDER));
        let t = TestApp::with_config(entries, config);
        let (me, inbox) = t.mailbox();
        let bystander = t.spawn("bystander", vec![]);
        let mut a = Arena {
            t: ManuallyDrop::new(t),
            hung: Cell::new(false),
            bystander,
            me,
            inbox,
            pings: 0,
        };
        a.ping();
        a
    }

    /// The bystander answers, and sees pristine libraries and globals.
    fn ping(&mut self) {
        self.pings += 1;
        self.t.send(
            Some(self.me),
            self.bystander,
            "ping",
            Payload::Str(format!("hi{}", self.pings).into()),
        );
        let m = match self.inbox.recv_timeout(Duration::from_secs(3)) {
            Ok(m) => m,
            Err(_) => self.hang("the bystander did not answer within 3 s"),
        };
        assert_eq!(m.topic.as_str(), "pong");
        let p = &m.payload;
        let want = format!("HI{}", self.pings);
        assert_eq!(p.get("text").and_then(Payload::as_str), Some(want.as_str()));
        assert_eq!(p.get("n").map(as_i64), Some(self.pings));
        assert_eq!(p.get("leak"), None, "a global leaked into the bystander");
        for f in ["print", "send", "sort"] {
            assert_eq!(
                p.get(f).and_then(Payload::as_str),
                Some("function"),
                "{f} was tampered with"
            );
        }
        assert_eq!(p.get("len").map(as_i64), Some(3), "string methods broken");
    }

    /// Runs `name` to its end; a hang leaks the runtime (its worker is
    /// stuck, and dropping the host would wait for it) and fails.
    fn run(&self, name: &str, args: Vec<Payload>) -> ExitResult {
        let (w, events) = self.t.watcher();
        let pid = self
            .t
            .spawn_opts(name, args, SpawnOptions::default().parent(w).monitored());
        match wait_exits_or_none(&events, pid, HOSTILE_TIMEOUT) {
            Some(r) => r,
            None => self.hang(&format!(
                "app:{name} did not end within {HOSTILE_TIMEOUT:?}"
            )),
        }
    }

    /// Runs `name`, expecting an error exit that contains every `want`.
    fn expect_error(&mut self, name: &str, want: &[&str]) -> String {
        let r = self.run(name, vec![]);
        let Err(err) = r else {
            panic!("app:{name} should have failed, it returned {r:?}");
        };
        let err = err.message().to_owned();
        eprintln!("app:{name} ended with: {err}");
        for w in want {
            assert!(
                err.to_lowercase().contains(&w.to_lowercase()),
                "app:{name}: error {err:?} does not mention {w:?}"
            );
        }
        self.ping();
        err
    }

    /// Fails the test, leaking the app: a stuck worker holds the shard
    /// and dropping the host would wait for it forever.
    fn hang(&self, what: &str) -> ! {
        self.hung.set(true);
        panic!("{what}: the runtime is stuck");
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if !self.hung.get() {
            // SAFETY: dropped once, here; never used afterwards.
            unsafe { ManuallyDrop::drop(&mut self.t) };
        }
    }
}

fn wait_exits_or_none(
    events: &Receiver<wippy_process::Event>,
    pid: Pid,
    timeout: Duration,
) -> Option<ExitResult> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match events.recv_timeout(left) {
            Ok(wippy_process::Event::Exit { from, result }) if from == pid => return Some(result),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

#[test]
fn dangerous_functions_are_absent() {
    let probe = hostile(
        "probe",
        r#"
        local present = {}
        local function check(name, v)
            if v ~= nil then
                table.insert(present, name)
            end
        end
        check("os.execute", os.execute)
        check("os.exit", os.exit)
        check("os.getenv", os.getenv)
        check("os.remove", os.remove)
        check("os.rename", os.rename)
        check("os.tmpname", os.tmpname)
        check("io", io)
        check("debug.getregistry", debug.getregistry)
        check("debug.getinfo", debug.getinfo)
        check("debug.sethook", debug.sethook)
        check("debug.info", debug.info)
        check("debug.getlocal", debug.getlocal)
        check("debug.setmetatable", debug.setmetatable)
        check("string.dump", string.dump)
        check("getfenv", getfenv)
        check("setfenv", setfenv)
        check("loadfile", loadfile)
        check("dofile", dofile)
        check("newproxy", newproxy)
        check("gcinfo", gcinfo)
        assert(type(debug.traceback) == "function", "debug.traceback is kept")
        assert(type(os.time()) == "number" and type(os.clock()) == "number", "os.time/clock kept")
        assert(type(collectgarbage("count")) == "number", "collectgarbage count kept")
        local ok, err = pcall(collectgarbage, "collect")
        if ok then
            table.insert(present, "collectgarbage(collect)")
        end
        return table.concat(present, ",")
        "#,
    );
    let mut a = Arena::new(vec![probe]);
    let v = exit_value(a.run("probe", vec![]));
    assert_eq!(v, Payload::Str("".into()), "reachable but forbidden: {v:?}");
    a.ping();
}

#[test]
fn calling_os_execute_ends_only_the_caller() {
    let mut a = Arena::new(vec![hostile("exec", r#"os.execute("echo pwned")"#)]);
    a.expect_error("exec", &["app:exec:", "nil"]);
}

#[test]
fn io_is_not_granted_off_the_terminal() {
    let mut a = Arena::new(vec![
        hostile("io_global", r#"io.write("x")"#),
        // listed under modules, still refused on a process host
        Lua {
            modules: &["io", "time"],
            ..hostile("io_listed", r#"local io = require("io") io.print("x")"#)
        },
        hostile("io_unlisted", r#"local io = require("io")"#),
    ]);
    a.expect_error("io_global", &["app:io_global:", "nil"]);
    a.expect_error("io_listed", &[r#"require("io")"#]);
    a.expect_error("io_unlisted", &[r#"require("io")"#]);
}

#[test]
fn string_dump_and_bytecode_loading_fail() {
    let bytecode = mlua::chunk::Compiler::new()
        .compile("return 'bytecode ran'")
        .unwrap();
    let mut a = Arena::new(vec![
        hostile("dump", r#"return string.dump(function() return 1 end)"#),
        hostile(
            "load_bc",
            r#"
            local bc = ...
            local out = {}
            local function try(name, fn)
                if fn == nil then
                    table.insert(out, name .. "=absent")
                    return
                end
                local ok, f, err = pcall(fn, bc)
                if ok and type(f) == "function" then
                    local ran, v = pcall(f)
                    table.insert(out, name .. "=LOADED:" .. tostring(v))
                else
                    table.insert(out, name .. "=refused")
                end
            end
            try("load", load)
            try("loadstring", loadstring)
            return table.concat(out, ",")
            "#,
        ),
        hostile("load_call", r#"local bc = ... return loadstring(bc)()"#),
    ]);
    a.expect_error("dump", &["app:dump:"]);
    let v = exit_value(a.run("load_bc", vec![Payload::Bytes(bytecode.clone())]));
    let v = v.as_str().unwrap_or_default().to_owned();
    assert!(!v.contains("LOADED"), "bytecode was loaded: {v}");
    a.ping();
    let r = a.run("load_call", vec![Payload::Bytes(bytecode)]);
    let err = exit_error(&r);
    assert!(err.contains("app:load_call:"), "{err}");
    a.ping();
}

#[test]
fn shared_libraries_are_read_only() {
    let cases: Vec<(&'static str, &'static str)> = vec![
        ("w_upper", "string.upper = nil"),
        ("w_newfield", "string.evil = 1"),
        (
            "w_rawset",
            "rawset(string, 'upper', function() return 'x' end)",
        ),
        ("w_strmeta", "getmetatable('').__index = {}"),
        (
            "w_strmeta_len",
            "getmetatable('').__index.len = function() return 0 end",
        ),
        (
            "w_setmt_string",
            "setmetatable(string, { __index = function() return 1 end })",
        ),
        ("w_table", "table.sort = nil"),
        ("w_math", "math.pi = 3"),
        ("w_coroutine", "coroutine.spawn = nil"),
        ("w_channel", "channel.new = nil"),
        ("w_process", "process.send = nil"),
        (
            "w_setmt_G",
            "setmetatable(_G, { __index = function() return 1 end })",
        ),
        ("w_time", "require('time').sleep = nil"),
        ("w_os", "os.time = nil"),
    ];
    let entries = cases.iter().map(|(n, b)| hostile(n, b)).collect();
    let mut a = Arena::new(entries);
    for (name, _) in &cases {
        a.expect_error(name, &[&format!("app:{name}:")]);
    }
}

/// `_G` is the process's own globals: writing through it works, and stays
/// in the process (the bystander on the same VM sees no `leak`).
#[test]
fn writing_through_underscore_g_stays_in_the_process() {
    let mut a = Arena::new(vec![hostile(
        "g_leak",
        "_G.leak = 1 rawset(_G, 'leak', leak + 1) return leak",
    )]);
    let r = a.run("g_leak", vec![]);
    assert_eq!(exit_value(r), Payload::Int(2));
    a.ping();
}

/// Tables of the runtime reachable from objects a process holds (nested
/// API tables, metatables of channels, messages and timers, which `__index`
/// exposes) are shared by every process of the shard: writing them must fail.
#[test]
fn runtime_tables_reachable_from_objects_are_read_only() {
    let cases: Vec<(&'static str, &'static str)> = vec![
        (
            "n_registry",
            "process.registry.lookup = function() return nil end",
        ),
        ("n_event", "process.event.EXIT = 'nope'"),
        ("n_chan_mt", "channel.new().__index.evil = true"),
        (
            "n_msg_mt",
            "process.send(process.pid(), 't', 1) process.inbox():receive().__index.evil = true",
        ),
        (
            "n_timer_mt",
            "local tk = require('time').ticker('1s') tk:stop() tk.__index.evil = true",
        ),
    ];
    let entries = cases.iter().map(|(n, b)| hostile(n, b)).collect();
    let mut a = Arena::new(entries);
    let mut writable = Vec::new();
    for (name, body) in &cases {
        if a.run(name, vec![]).is_ok() {
            writable.push(format!("{name}: `{body}`"));
        }
        a.ping();
    }
    assert!(
        writable.is_empty(),
        "these writes to shared runtime tables succeeded:\n{}",
        writable.join("\n")
    );
}

#[test]
fn globals_do_not_leak_between_processes_on_one_shard() {
    let writer = hostile(
        "writer",
        r#"
        leak = 1
        print = nil
        string = nil
        process_marker = {}
        assert(leak == 1)
        -- stay alive while the reader looks
        local m = process.inbox():receive()
        return leak
        "#,
    );
    let reader = hostile(
        "reader",
        r#"
        return { leak = leak, print = type(print), string = type(string), marker = type(process_marker) }
        "#,
    );
    let counter = entry(
        "counter",
        r#"
        local M = {}
        local count = 0
        shared_count = (shared_count or 0) + 1
        function M.main()
            count = count + 1
            return { count = count, shared = shared_count }
        end
        return M
        "#,
    );
    let mut a = Arena::new(vec![writer, reader, counter]);
    let (w, events) = a.t.watcher();
    let writer = a.t.spawn_opts(
        "writer",
        vec![],
        SpawnOptions::default().parent(w).monitored(),
    );
    // The writer has run its writes once it is parked on its inbox.
    std::thread::sleep(Duration::from_millis(50));
    let seen = exit_value(a.run("reader", vec![]));
    assert_eq!(seen.get("leak"), None, "{seen:?}");
    assert_eq!(seen.get("marker").and_then(Payload::as_str), Some("nil"));
    assert_eq!(
        seen.get("print").and_then(Payload::as_str),
        Some("function")
    );
    assert_eq!(seen.get("string").and_then(Payload::as_str), Some("table"));
    a.ping();
    a.t.send(None, writer, "go", Payload::Nil);
    assert_eq!(as_i64(&exit_value(wait_exit(&events, writer, TIMEOUT))), 1);
    for _ in 0..3 {
        let c = exit_value(a.run("counter", vec![]));
        assert_eq!(
            c.get("count").map(as_i64),
            Some(1),
            "module locals are per process"
        );
        assert_eq!(
            c.get("shared").map(as_i64),
            Some(1),
            "module globals are per process"
        );
    }
}

/// Process environments are marked safe for Luau's import fast path; a
/// chunk that assigns a built-in's name still reads its own value.
#[test]
fn a_process_can_shadow_a_builtin_global_in_its_own_chunk() {
    let shadow = hostile(
        "shadow",
        r#"
        string = { upper = function() return "mine" end }
        local before = math.max(1, 2)
        math = { max = function() return -1 end }
        return { upper = string.upper("x"), max = math.max(1, 2), before = before }
        "#,
    );
    let a = Arena::new(vec![shadow]);
    let r = exit_value(a.run("shadow", vec![]));
    assert_eq!(
        r.get("upper").and_then(Payload::as_str),
        Some("mine"),
        "{r:?}"
    );
    assert_eq!(r.get("max").map(as_i64), Some(-1), "{r:?}");
    assert_eq!(r.get("before").map(as_i64), Some(2), "{r:?}");
}

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let mut a = Arena::new(vec![hostile(
        "recurse",
        "local function f() return 1 + f() end\nreturn f()",
    )]);
    a.expect_error("recurse", &["stack overflow"]);
}

#[test]
fn huge_allocations_hit_the_memory_limit() {
    let config = LuaHostConfig {
        memory_limit: Some(64 << 20),
        ..LuaHostConfig::new(HOST, 2)
    };
    let mut a = Arena::with_config(
        vec![
            hostile("huge", r#"local s = string.rep("x", 1e9) return #s"#),
            hostile(
                "many",
                "local t = {} for i = 1, 1e8 do t[i] = { i } end return #t",
            ),
            hostile("fine", r#"return #string.rep("x", 1e6)"#),
        ],
        config,
    );
    a.expect_error("huge", &["memory"]);
    a.expect_error("many", &["memory"]);
    assert_eq!(as_i64(&exit_value(a.run("fine", vec![]))), 1_000_000);
    a.ping();
}

#[test]
fn too_large_strings_fail_without_a_limit() {
    let mut a = Arena::new(vec![hostile(
        "toolarge",
        r#"local s = string.rep("x", 2e9) return #s"#,
    )]);
    a.expect_error("toolarge", &["app:toolarge:"]);
}

#[test]
fn unsendable_values_are_refused_with_a_path() {
    let mut a = Arena::new(vec![hostile(
        "sender",
        r#"
        local me = process.pid()
        local out = {}
        local deep = {}
        local c = deep
        for i = 1, 200 do
            c.x = {}
            c = c.x
        end
        local ok, err = process.send(me, "t", deep)
        out.deep = tostring(ok) .. "|" .. tostring(err)
        ok, err = process.send(me, "t", { items = { 1, 2, function() end } })
        out.func = tostring(ok) .. "|" .. tostring(err)
        local cyc = {}
        cyc.self = cyc
        ok, err = process.send(me, "t", cyc)
        out.cycle = tostring(ok) .. "|" .. tostring(err)
        ok, err = process.send(me, "t", channel.new())
        out.chan = tostring(ok) .. "|" .. tostring(err)
        ok, err = process.send(me, "t", coroutine.create(function() end))
        out.thread = tostring(ok) .. "|" .. tostring(err)
        local pid, serr = process.spawn("app:sender", "app:workers", function() end)
        out.spawn = tostring(pid) .. "|" .. tostring(serr)
        return out
        "#,
    )]);
    let r = exit_value(a.run("sender", vec![]));
    let get = |k: &str| {
        r.get(k)
            .and_then(Payload::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let deep = get("deep");
    assert!(
        deep.starts_with("nil|") && deep.contains("deeper"),
        "deep: {deep}"
    );
    let func = get("func");
    assert_eq!(func, "nil|payload.items[3]: function cannot be sent");
    let cycle = get("cycle");
    assert!(
        cycle.starts_with("nil|") && cycle.contains("cycle"),
        "cycle: {cycle}"
    );
    let chan = get("chan");
    assert!(
        chan.starts_with("nil|") && chan.contains("channel cannot be sent"),
        "chan: {chan}"
    );
    let thread = get("thread");
    assert!(
        thread.starts_with("nil|") && thread.contains("thread cannot be sent"),
        "thread: {thread}"
    );
    let spawn = get("spawn");
    assert!(
        spawn.starts_with("nil|") && spawn.contains("function cannot be sent"),
        "spawn: {spawn}"
    );
    a.ping();
}

#[test]
fn an_unsendable_result_is_an_exit_error() {
    let mut a = Arena::new(vec![hostile("badresult", "return { f = print }")]);
    a.expect_error("badresult", &["result.f: function cannot be sent"]);
}

#[test]
fn an_endless_loop_is_preempted_and_can_be_terminated() {
    let spin = hostile("spin", "local x = 0 while true do x = x + 1 end");
    // One worker and one shard: the bystander can only answer if the
    // spinning process is preempted.
    let mut a = Arena::with_config(vec![spin], LuaHostConfig::new(HOST, 1));
    let (w, events) = a.t.watcher();
    let pid = a.t.spawn_opts(
        "spin",
        vec![],
        SpawnOptions::default().parent(w).monitored(),
    );
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..5 {
        a.ping();
    }
    a.t.rt.node().terminate(pid).unwrap();
    let err = match wait_exits_or_none(&events, pid, HOSTILE_TIMEOUT) {
        Some(r) => exit_error(&r),
        None => a.hang("the spinning process was not terminated"),
    };
    assert!(err.contains("terminated"), "{err}");
    a.ping();
}

#[test]
fn an_endless_loop_inside_pcall_is_preempted() {
    let spin = hostile(
        "spin_pcall",
        "local x = 0 pcall(function() while true do x = x + 1 end end)",
    );
    let mut a = Arena::with_config(vec![spin], LuaHostConfig::new(HOST, 1));
    let (w, events) = a.t.watcher();
    let pid = a.t.spawn_opts(
        "spin_pcall",
        vec![],
        SpawnOptions::default().parent(w).monitored(),
    );
    std::thread::sleep(Duration::from_millis(20));
    a.ping();
    a.t.rt.node().terminate(pid).unwrap();
    if wait_exits_or_none(&events, pid, HOSTILE_TIMEOUT).is_none() {
        a.hang("the spinning process was not terminated");
    }
    a.ping();
}

/// An endless loop anywhere, also where the preemption interrupt cannot
/// yield the process's main thread at once (a metamethod or a callback of a
/// C function, stopped after 1 s; a managed or manual coroutine, whose
/// preemption is passed up), must not hold the shard: the bystander answers
/// and the spinning process can be terminated.
fn endless_non_yieldable(body: &'static str) {
    let spin = hostile("spin_c", body);
    let mut a = Arena::with_config(vec![spin], LuaHostConfig::new(HOST, 1));
    let (w, events) = a.t.watcher();
    let pid = a.t.spawn_opts(
        "spin_c",
        vec![],
        SpawnOptions::default().parent(w).monitored(),
    );
    std::thread::sleep(Duration::from_millis(20));
    a.ping();
    // The runtime may already have stopped it (past the hard limit of a
    // step that cannot be preempted); then there is nothing to terminate.
    let _ = a.t.rt.node().terminate(pid);
    if wait_exits_or_none(&events, pid, HOSTILE_TIMEOUT).is_none() {
        a.hang("the spinning process was not terminated");
    }
    a.ping();
}

#[test]
fn an_endless_loop_in_a_spawned_coroutine_does_not_starve_the_shard() {
    endless_non_yieldable(
        "coroutine.spawn(function() while true do end end)\n\
         process.inbox():receive()",
    );
}

#[test]
fn an_endless_loop_in_a_manual_coroutine_does_not_starve_the_shard() {
    endless_non_yieldable(
        "local co = coroutine.create(function() while true do end end)\n\
         while true do coroutine.resume(co) end",
    );
}

#[test]
fn an_endless_loop_in_a_sort_comparator_does_not_starve_the_shard() {
    endless_non_yieldable("table.sort({ 3, 2, 1 }, function(a, b) while true do end end)");
}

#[test]
fn an_endless_loop_in_a_gsub_callback_does_not_starve_the_shard() {
    endless_non_yieldable(r#"string.gsub("abc", ".", function() while true do end end)"#);
}

#[test]
fn an_endless_loop_in_an_index_metamethod_does_not_starve_the_shard() {
    endless_non_yieldable(
        "local t = setmetatable({}, { __index = function() while true do end end }) return t.x",
    );
}

#[test]
fn an_error_object_with_a_looping_tostring_does_not_hang_the_runtime() {
    let mut a = Arena::new(vec![hostile(
        "evil_error",
        "error(setmetatable({}, { __tostring = function() while true do end end }))",
    )]);
    let r = a.run("evil_error", vec![]);
    assert!(r.is_err(), "{r:?}");
    a.ping();
}

#[test]
fn an_error_object_with_a_tostring_is_reported_readably() {
    let mut a = Arena::new(vec![hostile(
        "obj_error",
        "error(setmetatable({}, { __tostring = function() return 'custom failure' end }))",
    )]);
    a.expect_error("obj_error", &["custom failure"]);
}
