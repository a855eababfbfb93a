//! Actor benchmarks with Lua processes on Luau VM shards, driven by native
//! processes that spawn them and collect their messages.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wippy_host::registry::Registry;
use wippy_host::{App, ProcessHost, SpawnContext, SpawnRequest};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{NativeHost, Payload, Pid, Runtime, SpawnOptions};

use super::{Bench, Better, resident_bytes};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            name: "lua.spawn_exit",
            unit: "per_s",
            better: Better::Higher,
            target: 300e3,
            reference: "aim 1M/s",
            run: spawn_exit,
        },
        Bench {
            name: "lua.idle_memory",
            unit: "bytes",
            better: Better::Lower,
            target: 3072.0,
            reference: "BEAM 2.7 KB, Wippy ~13 KB; aim 2 KB",
            run: idle_memory,
        },
        Bench {
            name: "lua.pingpong",
            unit: "ns",
            better: Better::Lower,
            target: 2000.0,
            reference: "aim 1 µs",
            run: pingpong,
        },
        Bench {
            name: "lua.ring",
            unit: "msgs_per_s",
            better: Better::Higher,
            target: 1.5e6,
            reference: "aim 3M/s",
            run: ring,
        },
        Bench {
            name: "lua.skynet",
            unit: "ms",
            better: Better::Lower,
            target: 1500.0,
            reference: "1M Lua processes; BEAM ~2.1 s native",
            run: skynet,
        },
        Bench {
            name: "lua.upgrade",
            unit: "us",
            better: Better::Lower,
            target: 50.0,
            reference: "per upgrade, cached code",
            run: upgrade,
        },
        Bench {
            name: "lua.idle_memory_dedicated",
            unit: "bytes",
            better: Better::Lower,
            target: 32768.0,
            reference: "a VM per process; aim 32 KB",
            run: idle_memory_dedicated,
        },
        Bench {
            name: "lua.preempt_overhead",
            unit: "percent",
            better: Better::Lower,
            target: 2.0,
            reference: "busy loop, 2 ms slices vs none",
            run: preempt_overhead,
        },
    ]
}

const WAIT: Duration = Duration::from_secs(300);

const INDEX: &str = r#"
version: "1.0"
namespace: bench
entries:
  - { name: child, kind: process.lua, source: file://child.lua, method: main }
  - { name: idle, kind: process.lua, source: file://idle.lua, method: main }
  - { name: ping, kind: process.lua, source: file://ping.lua, method: main }
  - { name: pong, kind: process.lua, source: file://pong.lua, method: main }
  - { name: node, kind: process.lua, source: file://node.lua, method: main }
  - { name: busy, kind: process.lua, source: file://busy.lua, method: main }
  - { name: spawner, kind: process.lua, source: file://spawner.lua, method: main }
  - { name: skynet, kind: process.lua, source: file://skynet.lua, method: main }
  - { name: upgrader, kind: process.lua, source: file://upgrader.lua, method: main }
"#;

const SOURCES: [(&str, &str); 9] = [
    (
        "spawner.lua",
        "return { main = function(n, parent)
            local me = process.pid()
            local inbox = process.inbox()
            local batch = 1000
            local done = 0
            while done < n do
                local k = math.min(batch, n - done)
                for i = 1, k do process.spawn('bench:child', 'bench:lua', me) end
                for i = 1, k do inbox:receive() end
                done = done + k
            end
            process.send(parent, 'done', n)
        end }",
    ),
    (
        "skynet.lua",
        "return { main = function(parent, num, size)
            if size == 1 then process.send(parent, 's', num) return end
            local me = process.pid()
            local step = size // 10
            for i = 0, 9 do
                process.spawn('bench:skynet', 'bench:lua', me, num + i * step, step)
            end
            local inbox = process.inbox()
            local sum = 0
            for i = 1, 10 do sum = sum + inbox:receive():payload():data() end
            process.send(parent, 's', sum)
        end }",
    ),
    (
        "upgrader.lua",
        "return { main = function(n, parent)
            if n > 0 then process.upgrade(nil, n - 1, parent) end
            process.send(parent, 'done', 0)
        end }",
    ),
    (
        "child.lua",
        "return { main = function(parent) process.send(parent, 'done', 1) end }",
    ),
    (
        "idle.lua",
        "return { main = function(parent)
            local inbox = process.inbox()
            process.send(parent, 'ready', 1)
            inbox:receive()
        end }",
    ),
    (
        "ping.lua",
        "return { main = function(pong, rounds, parent)
            local inbox = process.inbox()
            for i = 1, rounds do
                process.send(pong, 'ping', { n = i })
                local d = inbox:receive():payload():data()
                if d.n ~= i then error('out of order') end
            end
            process.send(parent, 'done', rounds)
        end }",
    ),
    (
        "pong.lua",
        "return { main = function()
            local inbox = process.inbox()
            while true do
                local m = inbox:receive()
                process.send(m:from(), 'pong', m:payload():data())
            end
        end }",
    ),
    (
        "node.lua",
        "return { main = function(parent)
            local inbox = process.inbox()
            local nxt = inbox:receive():payload():data()
            while true do
                local k = inbox:receive():payload():data()
                if k == 0 then
                    process.send(parent, 'done', 0)
                else
                    process.send(nxt, 't', k - 1)
                end
            end
        end }",
    ),
    (
        "busy.lua",
        "return { main = function(n)
            local x = 0
            for i = 1, n do x = (x + i * 7) % 1000003 end
            return x
        end }",
    ),
];

struct Setup {
    rt: Runtime,
    app: Arc<App>,
    host: Arc<LuaHost>,
    native: NativeHost,
}

fn setup(workers: usize, slice: Option<Duration>) -> Setup {
    setup_with(workers, slice, false)
}

fn setup_with(workers: usize, slice: Option<Duration>, dedicated: bool) -> Setup {
    let rt = Runtime::new(Default::default()).expect("runtime");
    let files = SOURCES
        .iter()
        .map(|(name, code)| (format!("bench/{name}"), *code));
    let reg = Registry::load_files(
        [("bench/_index.yaml".to_owned(), INDEX)]
            .into_iter()
            .chain(files),
    )
    .expect("bench registry");
    let reg = Arc::new(reg);
    let app = App::new(rt.node().clone(), reg.clone());
    let code = CodeCache::new(reg);
    let mut cfg = LuaHostConfig::new("bench:lua", workers);
    if let Some(s) = slice {
        cfg.time_slice = s;
    }
    if dedicated {
        cfg.isolation = wippy_host::registry::Isolation::Dedicated;
    }
    let host = LuaHost::start(&rt, &app, code, cfg).expect("lua host");
    let native = rt.native_host("bench:driver", 1).expect("native host");
    Setup {
        rt,
        app,
        host,
        native,
    }
}

fn req(entry: &str, args: Vec<Payload>) -> SpawnRequest {
    SpawnRequest {
        entry: entry.parse().expect("entry id"),
        args,
        opts: SpawnOptions::default(),
        context: SpawnContext::default(),
    }
}

fn default_workers() -> usize {
    if let Ok(w) = std::env::var("WIPPY_BENCH_WORKERS") {
        return w.parse().expect("WIPPY_BENCH_WORKERS is a number");
    }
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A native collector that reports (via the channel) when it has received
/// `n` messages.
fn collector(s: &Setup, n: usize) -> (Pid, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let pid = s
        .native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            for _ in 0..n {
                cx.recv().await;
            }
            tx.send(()).ok();
            Ok(Payload::Nil)
        })
        .expect("collector");
    (pid, rx)
}

/// A Lua process spawns N Lua processes (in batches of 1,000) that each
/// send one message back and exit.
fn spawn_exit(quick: bool) -> f64 {
    let n: i64 = if quick { 100_000 } else { 1_000_000 };
    let s = setup(default_workers(), None);
    let (me, done) = collector(&s, 1);
    let start = Instant::now();
    s.host
        .spawn(req(
            "bench:spawner",
            vec![Payload::Int(n), Payload::Pid(me)],
        ))
        .expect("spawner");
    done.recv_timeout(WAIT).expect("spawn_exit finishes");
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(s.app);
    s.rt.shutdown();
    rate
}

/// RSS growth per Lua process blocked on its inbox (100k processes).
fn idle_memory(quick: bool) -> f64 {
    let n: usize = if quick { 20_000 } else { 100_000 };
    idle_memory_of(n, false)
}

/// The same with a VM per process (`isolation: dedicated`), 2k processes.
fn idle_memory_dedicated(quick: bool) -> f64 {
    idle_memory_of(if quick { 500 } else { 2_000 }, true)
}

fn idle_memory_of(n: usize, dedicated: bool) -> f64 {
    let s = setup_with(default_workers(), None, dedicated);
    if !dedicated {
        // A shard makes its VM at its first process: one parked process
        // per shard first (outside spawns go to the least-loaded shard),
        // so that what is measured is processes, not VMs.
        let shards = s.host.snapshot().shards.len();
        let (warm, warmed) = collector(&s, shards);
        for _ in 0..shards {
            s.host
                .spawn(req("bench:idle", vec![Payload::Pid(warm)]))
                .expect("spawn");
        }
        warmed.recv_timeout(WAIT).expect("every shard starts one");
    }
    let (me, ready) = collector(&s, n);
    std::thread::sleep(Duration::from_millis(100));
    let before = resident_bytes();
    for _ in 0..n {
        s.host
            .spawn(req("bench:idle", vec![Payload::Pid(me)]))
            .expect("spawn");
    }
    ready.recv_timeout(WAIT).expect("processes start");
    std::thread::sleep(Duration::from_millis(200));
    let after = resident_bytes();
    let per = after.saturating_sub(before) as f64 / n as f64;
    assert!(s.host.process_count() >= n, "processes must still be alive");
    drop(s.app);
    s.rt.shutdown();
    per
}

/// Round trip between two Lua processes, table payload `{n = i}`.
fn pingpong(quick: bool) -> f64 {
    let rounds: i64 = if quick { 20_000 } else { 200_000 };
    let s = setup(default_workers(), None);
    let (me, done) = collector(&s, 1);
    let pong = s.host.spawn(req("bench:pong", vec![])).expect("pong");
    let start = Instant::now();
    s.host
        .spawn(req(
            "bench:ping",
            vec![Payload::Pid(pong), Payload::Int(rounds), Payload::Pid(me)],
        ))
        .expect("ping");
    done.recv_timeout(WAIT).expect("pingpong finishes");
    let ns = start.elapsed().as_nanos() as f64 / rounds as f64;
    drop(s.app);
    s.rt.shutdown();
    ns
}

/// 10,000 Lua processes in a ring passing one token for 1M hops, timed
/// after a warm-up lap of 500k hops.
///
/// The warm-up is there so the figure is the ring's steady state: during
/// the first 600k hops or so the VM heaps grow to their working size (the
/// collector's goal over 24 MB of processes), and that first touch of fresh
/// memory costs page faults (perf: 5% of a cold 1M-hop run in
/// `clear_page_erms`) that a ring that keeps running never pays again.
fn ring(quick: bool) -> f64 {
    let n = 10_000;
    let hops: i64 = if quick { 100_000 } else { 1_000_000 };
    let warm_up: i64 = if quick { 50_000 } else { 500_000 };
    let s = setup(default_workers(), None);
    // Signals every `done` (one per lap).
    let (tx, laps) = mpsc::channel();
    let me = s
        .native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            loop {
                cx.recv().await;
                if tx.send(()).is_err() {
                    return Ok(Payload::Nil);
                }
            }
        })
        .expect("collector");
    let pids: Vec<Pid> = (0..n)
        .map(|_| {
            s.host
                .spawn(req("bench:node", vec![Payload::Pid(me)]))
                .expect("node")
        })
        .collect();
    let node = s.rt.node();
    for (i, p) in pids.iter().enumerate() {
        node.send(None, *p, "next", Payload::Pid(pids[(i + 1) % n]))
            .expect("send");
    }
    node.send(None, pids[0], "t", Payload::Int(warm_up))
        .expect("send");
    laps.recv_timeout(WAIT).expect("warm-up lap finishes");
    let start = Instant::now();
    node.send(None, pids[0], "t", Payload::Int(hops))
        .expect("send");
    laps.recv_timeout(WAIT).expect("ring finishes");
    let rate = hops as f64 / start.elapsed().as_secs_f64();
    drop(s.app);
    s.rt.shutdown();
    rate
}

/// Cost of preemption on CPU-bound Lua: the same busy loop on a host with
/// 2 ms slices vs one whose slice never expires, in percent.
fn preempt_overhead(quick: bool) -> f64 {
    let iters: i64 = if quick { 20_000_000 } else { 100_000_000 };
    let time = |slice: Duration| {
        let s = setup(1, Some(slice));
        let mut best = f64::MAX;
        for _ in 0..3 {
            let (tx, rx) = mpsc::channel();
            let app = s.app.clone();
            let start = Instant::now();
            s.native
                .spawn_async(SpawnOptions::default(), move |cx| async move {
                    let mut r = req("bench:busy", vec![Payload::Int(iters)]);
                    r.opts = SpawnOptions::default().parent(cx.pid()).monitored();
                    app.spawn("bench:lua", r).expect("busy");
                    cx.next_event().await;
                    tx.send(()).ok();
                    Ok(Payload::Nil)
                })
                .expect("driver");
            rx.recv_timeout(WAIT).expect("busy loop finishes");
            best = best.min(start.elapsed().as_secs_f64());
        }
        drop(s.app);
        s.rt.shutdown();
        best
    };
    let without = time(Duration::from_secs(3600));
    let with = time(Duration::from_millis(2));
    ((with - without) / without * 100.0).max(0.0)
}

/// The skynet tree: 1M Lua processes, each replying its sum.
fn skynet(quick: bool) -> f64 {
    let size: i64 = if quick { 100_000 } else { 1_000_000 };
    let s = setup(default_workers(), None);
    let (tx, rx) = mpsc::channel();
    let host = s.host.clone();
    let start = Instant::now();
    s.native
        .spawn_async(SpawnOptions::default(), move |cx| async move {
            host.spawn(req(
                "bench:skynet",
                vec![Payload::Pid(cx.pid()), Payload::Int(0), Payload::Int(size)],
            ))
            .expect("root");
            let m = cx.recv().await;
            tx.send(m.payload).ok();
            Ok(Payload::Nil)
        })
        .expect("driver");
    let sum = rx.recv_timeout(WAIT).expect("skynet finishes");
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert_eq!(sum, Payload::Int(size * (size - 1) / 2), "skynet sum");
    drop(s.app);
    s.rt.shutdown();
    ms
}

/// Microseconds per `process.upgrade` to already compiled code.
fn upgrade(quick: bool) -> f64 {
    let n: i64 = if quick { 20_000 } else { 200_000 };
    let s = setup(1, None);
    let (me, done) = collector(&s, 1);
    let start = Instant::now();
    s.host
        .spawn(req(
            "bench:upgrader",
            vec![Payload::Int(n), Payload::Pid(me)],
        ))
        .expect("upgrader");
    done.recv_timeout(WAIT).expect("upgrades finish");
    let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    drop(s.app);
    s.rt.shutdown();
    us
}
