//! The mailbox bound of a host (`max_mailbox`) and its memory limit hold
//! against a flood: a send that does not fit returns `nil, err`, the
//! receiver goes on, and what was queued is all there.

use wippy_lua::LuaHostConfig;
use wippy_process::Payload;

use crate::common::*;

/// Reads nothing until it is cancelled, then takes everything queued and
/// returns how many messages it took.
const SLOW: &str = r#"
return { main = function()
    process.events():receive()
    local inbox = process.inbox()
    local got = 0
    while not channel.select({ inbox:case_receive(), default = true }).default do
        got = got + 1
    end
    return got
end }
"#;

/// Sends `n` messages of `size` bytes to `to`; returns how many were
/// taken and the first error.
const FLOOD: &str = r#"
return { main = function(to, n, size)
    local payload = string.rep("x", size)
    local sent, first = 0, nil
    for i = 1, n do
        local ok, err = process.send(to, "m", payload)
        if ok then
            sent = sent + 1
        elseif not first then
            first = tostring(err)
        end
    end
    return { sent = sent, err = first }
end }
"#;

fn app(config: LuaHostConfig) -> TestApp {
    TestApp::with_config(vec![entry("slow", SLOW), entry("flood", FLOOD)], config)
}

/// Floods a parked `slow` process and returns what the flood reported and
/// how many messages `slow` took after it.
fn flood(t: &TestApp, n: i64, size: i64) -> (i64, Option<String>, i64) {
    let (w, events) = t.watcher();
    let slow = t.spawn_opts(
        "slow",
        vec![],
        wippy_process::SpawnOptions::default().parent(w).monitored(),
    );
    let r = t.run(
        "flood",
        vec![Payload::Pid(slow), Payload::Int(n), Payload::Int(size)],
        TIMEOUT,
    );
    let r = exit_value(r);
    let sent = as_i64(r.get("sent").expect("sent"));
    let err = r.get("err").and_then(|e| e.as_str()).map(str::to_owned);
    // The receiver is fine and holds every message that was taken.
    t.rt.node()
        .cancel(None, slow, std::time::Duration::from_secs(10), "")
        .unwrap();
    let took = as_i64(&exit_value(wait_exit(&events, slow, TIMEOUT)));
    (sent, err, took)
}

#[test]
fn a_send_past_max_mailbox_returns_nil_and_an_error() {
    let t = app(LuaHostConfig {
        max_mailbox: 100,
        ..LuaHostConfig::new(HOST, 1)
    });
    let (sent, err, took) = flood(&t, 150, 1);
    assert_eq!(sent, 100, "the mailbox takes exactly max_mailbox messages");
    let err = err.expect("the 101st send failed");
    assert!(
        err.starts_with("mailbox of {app:workers|") && err.contains("is full (100 messages"),
        "{err}"
    );
    assert_eq!(took, 100, "all that was sent arrived");
}

#[test]
fn queued_messages_count_against_the_receivers_memory_limit() {
    let t = app(LuaHostConfig {
        memory_limit: Some(4 << 20),
        ..LuaHostConfig::new(HOST, 1)
    });
    let (sent, err, took) = flood(&t, 100, 100_000);
    // 4 MB holds 41 messages of 100 KB (and their headers).
    assert_eq!(sent, 41, "{err:?}");
    let err = err.expect("a send failed");
    assert!(
        err.contains("does not fit its memory limit") && err.contains("of 4194304 bytes queued"),
        "{err}"
    );
    assert_eq!(took, sent);
}

#[test]
fn a_host_entry_sets_max_mailbox_and_wippys_queue_sizes() {
    use wippy_host::registry::{EntryKind, EntrySpec};
    let index = "version: \"1.0\"\nnamespace: app\nentries:\n\
        \x20 - { name: sized, kind: process.host, host: { max_mailbox: 7, queue_size: 64, local_queue_size: 16 } }\n\
        \x20 - { name: plain, kind: process.host }\n";
    let registry = registry(index.to_owned(), vec![]);
    let policies = wippy_security::Policies::default();
    let config = |name: &str| {
        let e = registry
            .of_kind(EntryKind::ProcessHost)
            .find(|e| e.id.as_str() == name)
            .expect("host entry");
        let EntrySpec::Host(spec) = &e.spec else {
            unreachable!()
        };
        LuaHostConfig::from_spec(name, spec, 1, &policies).unwrap()
    };
    let sized = config("app:sized");
    assert_eq!(
        (sized.max_mailbox, sized.queue_size, sized.local_queue_size),
        (7, 64, 16)
    );
    let plain = config("app:plain");
    assert_eq!(
        (plain.max_mailbox, plain.queue_size, plain.local_queue_size),
        (wippy_lua::DEFAULT_MAX_MAILBOX, 1024, 256),
        "Wippy's queue sizes by default"
    );
}
