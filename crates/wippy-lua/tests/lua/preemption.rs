//! Preemption of long computations is invisible to Lua code: standard
//! coroutines (`coroutine.create/resume/wrap`) and managed ones
//! (`coroutine.spawn`) compute the same results whether or not their
//! process is interrupted at the end of a time slice (`execution.md` §6,
//! `lua-api.md`: "standard coroutine.create/resume/yield/wrap keep
//! working"). Endless loops inside coroutines are in `sandbox.rs`.

use std::time::{Duration, Instant};
use wippy_lua::LuaHostConfig;

use wippy_process::Payload;

use crate::common::*;

/// Iterations of the inner loop: enough for tens of 2 ms slices.
const N: i64 = 3_000_000;

/// An app on a host with one worker and one shard: every process competes
/// for the same VM and thread, so the watchdog has every reason to preempt.
fn one_worker(entries: Vec<crate::common::Lua>) -> TestApp {
    TestApp::with_config(
        entries,
        LuaHostConfig {
            shards: 1,
            ..LuaHostConfig::new(HOST, 1)
        },
    )
}

fn run(body: &str) -> Payload {
    let src = format!("local M = {{}}\nfunction M.main(n)\n{body}\nend\nreturn M\n");
    // One worker, one shard, and a second busy process, so the watchdog
    // has every reason to interrupt.
    let t = one_worker(vec![entry("body", &src)]);
    exit_value(t.run("body", vec![Payload::Int(N)], TIMEOUT))
}

#[test]
fn a_long_computation_in_the_main_coroutine_is_correct() {
    let r = run("local s = 0 for i = 1, n do s = s + i % 7 end return s");
    let want: i64 = (1..=N).map(|i| i % 7).sum();
    assert_eq!(as_i64(&r), want);
}

#[test]
fn a_long_computation_in_a_spawned_coroutine_is_correct() {
    let r = run(r#"
        local out = channel.new(1)
        coroutine.spawn(function()
            local s = 0
            for i = 1, n do s = s + i % 7 end
            out:send(s)
        end)
        local s = out:receive()
        return s
        "#);
    let want: i64 = (1..=N).map(|i| i % 7).sum();
    assert_eq!(as_i64(&r), want);
}

#[test]
fn preemption_does_not_leak_into_a_manual_coroutine() {
    let r = run(r#"
        local co = coroutine.create(function(n)
            local s = 0
            for i = 1, n do s = s + i % 7 end
            return "done", s
        end)
        local ok, tag, s = coroutine.resume(co, n)
        return { ok = ok, tag = tostring(tag), status = coroutine.status(co) }
        "#);
    assert_eq!(
        r.get("tag").and_then(Payload::as_str),
        Some("done"),
        "coroutine.resume returned early: {r:?}"
    );
    assert_eq!(r.get("status").and_then(Payload::as_str), Some("dead"));
}

#[test]
fn preemption_does_not_cut_a_wrap_generator_short() {
    let r = run(r#"
        local gen = coroutine.wrap(function()
            for k = 1, 3 do
                local s = 0
                for i = 1, n do s = s + i % 7 end
                coroutine.yield(k)
            end
        end)
        local got = {}
        for k in gen do
            got[#got + 1] = k
        end
        return table.concat(got, ",")
        "#);
    assert_eq!(r, Payload::Str("1,2,3".into()));
}

/// A message that arrives while its process is queued after a preemption
/// is received: the process picks up news before it parks (regression: it
/// parked with the message in its mailbox and never woke).
#[test]
fn a_message_sent_during_a_preempted_computation_is_received() {
    let src = r#"
        local M = {}
        function M.main(n, parent)
            local inbox = process.inbox()
            process.send(parent, "busy", 0)
            local s = 0
            for i = 1, n do s = s + i % 7 end
            local m = inbox:receive()
            process.send(parent, "got", m:payload():data())
        end
        return M
    "#;
    for _ in 0..3 {
        let t = one_worker(vec![entry("busy", src)]);
        let (me, rx) = t.mailbox();
        let pid = t.spawn("busy", vec![Payload::Int(N * 3), Payload::Pid(me)]);
        assert_eq!(next_msg(&rx, TIMEOUT).topic.as_str(), "busy");
        t.send(Some(me), pid, "hello", Payload::Int(42));
        let m = next_msg(&rx, TIMEOUT);
        assert_eq!((m.topic.as_str(), m.payload), ("got", Payload::Int(42)));
    }
}

/// A preemption can suspend a process anywhere, including between its last
/// look at the mailbox and its IDLE yield; a message that arrives while it
/// is queued must still wake it. Two processes ping-pong on one worker with
/// a 1 ms slice while threads hog the CPUs, so the OS deschedules the
/// worker mid-step and the watchdog preempts steps at random points. A lost
/// wake-up stalls the exchange (it did about one run in three before the
/// fix).
#[test]
fn ping_pong_under_random_preemption_loses_no_wake_up() {
    let ping = r#"
        local M = {}
        function M.main(pong, rounds)
            local inbox = process.inbox()
            for i = 1, rounds do
                process.send(pong, "ping", i)
                local d = inbox:receive():payload():data()
                if d ~= i then error("out of order") end
            end
            return rounds
        end
        return M
    "#;
    let pong = r#"
        local M = {}
        function M.main()
            local inbox = process.inbox()
            while true do
                local m = inbox:receive()
                process.send(m:from(), "pong", m:payload():data())
            end
        end
        return M
    "#;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            })
        })
        .collect();
    let t = TestApp::with_config(
        vec![entry("ping", ping), entry("pong", pong)],
        LuaHostConfig {
            shards: 1,
            time_slice: std::time::Duration::from_millis(1),
            ..LuaHostConfig::new(HOST, 1)
        },
    );
    let rounds = 100_000;
    let mut result = None;
    for _ in 0..3 {
        let pong = t.spawn("pong", vec![]);
        let r = t.run(
            "ping",
            vec![Payload::Pid(pong), Payload::Int(rounds)],
            TIMEOUT,
        );
        result = Some(exit_value(r));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    assert_eq!(as_i64(&result.unwrap()), rounds);
}

/// Processes preempted while their module-level code runs (during boot)
/// still start their own entry's method: what a starting thread runs is
/// kept per process, not per VM.
#[test]
fn processes_preempted_during_boot_start_their_own_code() {
    let slow = r#"
        local s = 0
        for i = 1, 3000000 do s = s + i % 7 end
        return { main = function() return "slow:" .. s end }
    "#;
    let fast = r#"return { main = function(k) return "fast:" .. k end }"#;
    let t = one_worker(vec![entry("slow", slow), entry("fast", fast)]);
    let (w, events) = t.watcher();
    let opts = || wippy_process::SpawnOptions::default().parent(w).monitored();
    let slow_pids: Vec<_> = (0..2)
        .map(|_| t.spawn_opts("slow", vec![], opts()))
        .collect();
    let fast_pids: Vec<_> = (0..20)
        .map(|k| t.spawn_opts("fast", vec![Payload::Int(k)], opts()))
        .collect();
    let want: i64 = (1..=3_000_000i64).map(|i| i % 7).sum();
    let all: Vec<_> = slow_pids.iter().chain(&fast_pids).copied().collect();
    let results = wait_exits(&events, &all, TIMEOUT);
    for (i, r) in results.into_iter().enumerate() {
        let v = exit_value(r);
        let expected = if i < slow_pids.len() {
            format!("slow:{want}")
        } else {
            format!("fast:{}", i - slow_pids.len())
        };
        assert_eq!(v.as_str(), Some(expected.as_str()));
    }
}

/// Runs `body` (returning a value) on a one-worker, one-shard host while a
/// second process is spawned 100 ms in: that one must finish within 500 ms,
/// long before `body` does, and `body` must not be stopped by the 1 s limit
/// on code that cannot be preempted. Returns `body`'s value.
fn busy_beside_a_bystander(body: &str) -> Payload {
    let src = format!("local M = {{}}\nfunction M.main()\n{body}\nend\nreturn M\n");
    let t = one_worker(vec![
        entry("busy", &src),
        entry("quick", "return { main = function() return 1 end }"),
    ]);
    let (w, events) = t.watcher();
    let opts = || wippy_process::SpawnOptions::default().parent(w).monitored();
    let busy = t.spawn_opts("busy", vec![], opts());
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let quick = t.spawn_opts("quick", vec![], opts());
    let quick_exit = wait_exit(&events, quick, TIMEOUT);
    let bystander = start.elapsed();
    exit_value(quick_exit);
    assert!(
        bystander < Duration::from_millis(500),
        "bystander waited {bystander:?}"
    );
    exit_value(wait_exit(&events, busy, TIMEOUT))
}

/// 1.3 s of spinning (os.clock is wall time), longer than the 1 s a step
/// may run unpreempted.
const SPIN: &str = "local t0 = os.clock() local n = 0 while os.clock() - t0 < 1.3 do n = n + 1 end";

#[test]
fn a_busy_spawned_coroutine_is_preempted_not_stopped() {
    let v = busy_beside_a_bystander(&format!(
        "local out = channel.new(1)
         coroutine.spawn(function() {SPIN} out:send(n) end)
         return out:receive() > 0"
    ));
    assert_eq!(v, Payload::Bool(true));
}

#[test]
fn a_busy_manual_coroutine_is_preempted_and_keeps_its_semantics() {
    let v = busy_beside_a_bystander(&format!(
        "local co = coroutine.create(function(a)
             {SPIN}
             local b = coroutine.yield(a + 1, 'mid')
             return b * 2, n > 0
         end)
         local ok1, x, tag = coroutine.resume(co, 10)
         local ok2, y, spun = coroutine.resume(co, 21)
         local ok3, err = coroutine.resume(co)
         return {{ ok1 = ok1, x = x, tag = tag, ok2 = ok2, y = y, spun = spun,
                   ok3 = ok3, dead = err, status = coroutine.status(co) }}"
    ));
    let get = |k: &str| v.get(k).cloned().unwrap_or(Payload::Nil);
    assert_eq!(get("ok1"), Payload::Bool(true));
    assert_eq!(get("x"), Payload::Int(11));
    assert_eq!(get("tag").as_str(), Some("mid"));
    assert_eq!(get("ok2"), Payload::Bool(true));
    assert_eq!(get("y"), Payload::Int(42));
    assert_eq!(get("spun"), Payload::Bool(true));
    assert_eq!(get("ok3"), Payload::Bool(false));
    assert!(
        get("dead").as_str().is_some_and(|e| e.contains("dead")),
        "{v:?}"
    );
    assert_eq!(get("status").as_str(), Some("dead"));
}

#[test]
fn a_busy_wrapped_coroutine_is_preempted_and_errors_still_propagate() {
    let v = busy_beside_a_bystander(&format!(
        "local gen = coroutine.wrap(function() {SPIN} coroutine.yield(n > 0) error('boom') end)
         local first = gen()
         local ok, err = pcall(gen)
         local nested = coroutine.wrap(function()
             return coroutine.wrap(function() {SPIN} return 'inner' end)()
         end)
         return {{ first = first, ok = ok, err = tostring(err), nested = nested() }}"
    ));
    assert_eq!(v.get("first"), Some(&Payload::Bool(true)));
    assert_eq!(v.get("ok"), Some(&Payload::Bool(false)));
    let err = v.get("err").and_then(Payload::as_str).unwrap_or_default();
    assert!(err.contains("boom"), "{err}");
    assert_eq!(v.get("nested").and_then(Payload::as_str), Some("inner"));
}

/// Answers every message with a `pong` to its sender.
const ECHO: &str = r#"
local M = {}
function M.main()
    local inbox = process.inbox()
    while true do
        local m = inbox:receive()
        process.send(m:from(), "pong", m:payload():data())
    end
end
return M
"#;

/// Code that cannot be preempted (a loop in an `__index` metamethod), run
/// again and again by a caller that catches the stop error each way Lua
/// can: a process stopped past the hard limit must end with it, once, and
/// the worker must be free again at once.
#[test]
fn a_stopped_process_ends_however_it_catches_the_stop() {
    let catchers = [
        ("pcall", "pcall(touch)"),
        ("xpcall", "xpcall(touch, function(e) return e end)"),
        ("resume", "coroutine.resume(coroutine.create(touch))"),
        ("wrap", "pcall(coroutine.wrap(touch))"),
        ("finish", "pcall(touch) do return 'survived' end"),
    ];
    for (how, catch) in catchers {
        let body = format!(
            "local looping = setmetatable({{}}, {{ __index = function() while true do end end }})
             local function touch() return looping.x end
             while true do {catch} end"
        );
        let src = format!("local M = {{}}\nfunction M.main()\n{body}\nend\nreturn M\n");
        let t = one_worker(vec![entry("stopper", &src), entry("echo", ECHO)]);
        let (w, events) = t.watcher();
        let (me, pongs) = t.mailbox();
        let echo = t.spawn("echo", vec![]);
        let stopper = t.spawn_opts(
            "stopper",
            vec![],
            wippy_process::SpawnOptions::default().parent(w).monitored(),
        );
        // Ping the echo beside it until the stopper has ended and twenty
        // pings after that were answered.
        let start = Instant::now();
        let mut ended: Option<(Duration, String)> = None;
        let mut slow = Vec::new();
        let mut after = Vec::new();
        while after.len() < 20 {
            assert!(
                start.elapsed() < Duration::from_secs(8),
                "{how}: the stopper has not ended within {:?}; pings over 900 ms: {slow:?}",
                start.elapsed()
            );
            let sent = Instant::now();
            t.send(Some(me), echo, "ping", Payload::Int(1));
            next_msg(&pongs, TIMEOUT);
            let latency = sent.elapsed();
            if latency > Duration::from_millis(900) {
                slow.push(latency);
            }
            if ended.is_some() {
                after.push(latency);
            }
            if let Ok(wippy_process::Event::Exit { from, result }) = events.try_recv()
                && from == stopper
            {
                ended = Some((start.elapsed(), exit_error(&result)));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let (at, err) = ended.expect("the loop ends after the stop");
        assert!(
            err.contains("cannot be preempted") && err.contains("stopped"),
            "{how}: the stopper ended with: {err}"
        );
        assert!(
            slow.len() <= 1,
            "{how}: the worker was held {} times: {slow:?}",
            slow.len()
        );
        let worst = after.iter().max().copied().unwrap_or_default();
        assert!(
            worst < Duration::from_millis(200),
            "{how}: a ping after the stop took {worst:?}"
        );
        eprintln!(
            "{how}: stopped after {at:?}; pings held over 900 ms: {slow:?}; worst after: {worst:?}"
        );
    }
}
