//! `process.cancel` gives its target the `cancel_deadline` of the target's
//! own host, not the caller's (`docs/registry.md`, "Host settings").

use std::time::{Duration, Instant};

use wippy_host::{ProcessHost, SpawnRequest};
use wippy_lua::{CodeCache, LuaHost, LuaHostConfig};
use wippy_process::{Event, Payload, SpawnOptions};

use crate::common::*;

/// Cancels `target`, then waits for any message.
const CANCELLER: &str = r#"
local M = {}
function M.main(target)
    assert(process.cancel(target, "stop"))
    process.inbox():receive()
end
return M
"#;

/// Takes its events and never ends, CANCEL or not.
const STUBBORN: &str = r#"
local M = {}
function M.main()
    local events = process.events()
    while true do events:receive() end
end
return M
"#;

/// A host of `name` on the test app whose cancelled processes get `within`.
fn host(t: &TestApp, name: &str, within: Duration) -> std::sync::Arc<LuaHost> {
    let code = CodeCache::new(t.app.registry().clone());
    let config = LuaHostConfig {
        cancel_deadline: within,
        ..LuaHostConfig::new(name, 1)
    };
    LuaHost::start(&t.rt, &t.app, code, config).unwrap()
}

#[test]
fn a_cancel_gives_the_target_its_own_hosts_deadline_not_the_callers() {
    // The caller's host (the test app's) waits a minute; the target's, 200 ms.
    let t = TestApp::with_config(
        vec![entry("canceller", CANCELLER), entry("stubborn", STUBBORN)],
        LuaHostConfig {
            cancel_deadline: Duration::from_secs(60),
            ..LuaHostConfig::new(HOST, 1)
        },
    );
    let quick = host(&t, "app:quick", Duration::from_millis(200));
    let (w, events) = t.watcher();
    let target = quick
        .spawn(SpawnRequest {
            opts: SpawnOptions::default().parent(w).monitored(),
            ..SpawnRequest::new("app:stubborn".parse().unwrap())
        })
        .unwrap();
    let asked = Instant::now();
    t.spawn("canceller", vec![Payload::Pid(target)]);
    let err = exit_error(&wait_exit(&events, target, Duration::from_secs(20)));
    assert!(
        err.contains("deadline exceeded"),
        "the target ended with: {err}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "the target was terminated {:?} after the cancel: not its host's 200 ms",
        asked.elapsed()
    );

    // And the other way round: a caller whose host's deadline is short
    // does not shorten the target's.
    let short = host(&t, "app:short", Duration::from_millis(100));
    let target = t.spawn_opts(
        "stubborn",
        vec![],
        SpawnOptions::default().parent(w).monitored(),
    );
    short
        .spawn(SpawnRequest {
            args: vec![Payload::Pid(target)],
            ..SpawnRequest::new("app:canceller".parse().unwrap())
        })
        .unwrap();
    match events.recv_timeout(Duration::from_secs(2)) {
        Err(_) => {}
        Ok(Event::Exit { from, result }) if from == target => {
            panic!("the target ended with the caller's deadline: {result:?}")
        }
        Ok(other) => panic!("unexpected event {other:?}"),
    }
    t.rt.node().terminate(target).unwrap();
}
