//! 5M spawn/exit churn (issue 12): a Lua process spawns five million
//! children in batches of 1,000, each sending one message back and
//! ending. Nothing may leak: after the last round the node has the
//! processes it had before, the host's Lua heap is back to where it was
//! after the first round, and resident memory has not grown since then
//! (by more than 10 % or 8 MiB: allocator pages come and go).

use std::time::{Duration, Instant};

use wippy_lua::LuaHostConfig;
use wippy_process::{Payload, SpawnOptions};

use super::lua_app::{Entry, LuaApp, cores, release_memory, rss};
use super::{Check, Scenario};

pub(super) fn scenario() -> Scenario {
    Scenario {
        name: "spawn_churn",
        about: "5M Lua spawn+exit in 5 rounds: live count, Lua heap and RSS back after each",
        run,
    }
}

/// Spawns `n` children in batches of 1,000, taking each one's message
/// before the next batch, then tells `parent`.
const SPAWNER: &str = r#"
return { main = function(n, parent)
    local me = process.pid()
    local inbox = process.inbox()
    local done = 0
    while done < n do
        local k = math.min(1000, n - done)
        for i = 1, k do assert(process.spawn("stress:child", "stress:lua", me)) end
        for i = 1, k do inbox:receive() end
        done = done + k
    end
    process.send(parent, "done", n)
end }
"#;

const CHILD: &str = r#"
return { main = function(parent) process.send(parent, "hi") end }
"#;

const ROUNDS: usize = 5;
const SETTLE: Duration = Duration::from_secs(3);

fn run(quick: bool) -> Vec<Check> {
    let per_round: i64 = if quick { 20_000 } else { 1_000_000 };
    let a = LuaApp::start(
        &[
            Entry {
                name: "spawner",
                source: SPAWNER,
            },
            Entry {
                name: "child",
                source: CHILD,
            },
        ],
        vec![LuaHostConfig {
            release_memory: Some(release_memory),
            ..LuaHostConfig::new("stress:lua", cores())
        }],
    );
    let host = &a.hosts[0];
    let (mailbox, done) = a.mailbox();
    let baseline = a.rt.node().stats().live;
    let mut after_round = Vec::new();
    let mut churning = Duration::ZERO;
    for round in 1..=ROUNDS {
        let began = Instant::now();
        a.spawn(
            "stress:lua",
            "spawner",
            vec![Payload::Int(per_round), Payload::Pid(mailbox)],
            SpawnOptions::default(),
        );
        done.recv_timeout(Duration::from_secs(900))
            .unwrap_or_else(|_| panic!("round {round} did not finish"));
        let took = began.elapsed();
        churning += took;
        // The spawner's own end, then the shards' reclaims.
        let until = Instant::now() + Duration::from_secs(60);
        while a.rt.node().stats().live > baseline && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(SETTLE);
        release_memory();
        let (live, heap, resident) = (
            a.rt.node().stats().live - baseline,
            host.heap_bytes(false),
            rss(),
        );
        eprintln!(
            "spawn_churn: round {round}: {per_round} in {took:?} ({:.0}/s); then {live} live, Lua heap {} KB, RSS {} MB",
            per_round as f64 / took.as_secs_f64(),
            heap >> 10,
            resident >> 20
        );
        after_round.push((live, heap, resident));
    }
    a.stop();
    let (_, heap_first, rss_first) = after_round[0];
    let (live_last, heap_last, rss_last) = after_round[ROUNDS - 1];
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    vec![
        Check::info(
            "spawn_churn.rate",
            (per_round as usize * ROUNDS) as f64 / churning.as_secs_f64(),
            "/s",
        ),
        Check::equal("spawn_churn.live_after", live_last as f64, "count", 0.0),
        Check::info("spawn_churn.rss_round1", mib(rss_first), "MiB"),
        Check::info("spawn_churn.rss_last", mib(rss_last), "MiB"),
        // A leak of even a few bytes per process shows at this scale (16
        // B × 4M is 64 MB); allocator pages coming and going do not exceed
        // 10 % or 8 MiB.
        Check::at_most(
            "spawn_churn.rss_growth",
            mib(rss_last.saturating_sub(rss_first)),
            "MiB",
            (mib(rss_first) / 10.0).max(8.0).round(),
        ),
        Check::at_most(
            "spawn_churn.heap_last/round1",
            heap_last as f64 / heap_first as f64,
            "ratio",
            1.1,
        ),
    ]
}
