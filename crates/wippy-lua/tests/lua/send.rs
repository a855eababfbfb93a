//! `process.send` by pid string remembers the peer a process sends to twice
//! in a row (ffi/send.rs, `LastTo`): these tests hold it to the plain rules of
//! `send` when the peer ends, when names move, when peers alternate, and
//! when pid strings die and their memory is reused.

use wippy_process::Payload;

use crate::common::*;

/// Counts what arrives until a `stop` message, then returns, as its EXIT
/// value, the values of every `x` message in arrival order.
const SINK: &str = r#"
local M = {}
function M.main()
    local inbox = process.inbox()
    local got = {}
    while true do
        local m = inbox:receive()
        local topic = m:topic()
        if topic == "stop" then return got end
        if topic == "x" then table.insert(got, m:payload():data()) end
    end
end
return M
"#;

/// `wait_exit(events, pid)`: waits for the EXIT of `pid` and returns its
/// value; EXITs of other processes seen meanwhile are kept for later calls.
const WAIT_EXIT: &str = r#"
local exits = {}
local function wait_exit(events, pid)
    while exits[pid] == nil do
        local ev = events:receive()
        if ev.kind == process.event.EXIT then
            if ev.result.error then error("child failed: " .. tostring(ev.result.error)) end
            exits[ev.from] = ev.result.value
        end
    end
    return exits[pid]
end
"#;

fn run(body: &str) -> Payload {
    let src = format!("{WAIT_EXIT}\nlocal M = {{}}\nfunction M.main(...)\n{body}\nend\nreturn M\n");
    let t = TestApp::new(vec![entry("body", &src), entry("sink", SINK)], 1);
    exit_value(t.run("body", vec![], TIMEOUT))
}

fn ints(p: Option<&Payload>) -> Vec<i64> {
    match p {
        Some(Payload::Array(a)) => a.iter().map(|v| v.as_int().expect("an int")).collect(),
        other => panic!("expected a list, got {other:?}"),
    }
}

#[test]
fn a_remembered_peer_gets_every_message_in_order() {
    let r = run(r#"
        local events = process.events()
        local sink = process.spawn_monitored("app:sink", "app:workers")
        for i = 1, 200 do assert(process.send(sink, "x", i)) end
        process.send(sink, "stop")
        return { got = wait_exit(events, sink) }
    "#);
    assert_eq!(ints(r.get("got")), (1..=200).collect::<Vec<_>>());
}

#[test]
fn alternating_peers_each_get_their_own_messages() {
    let r = run(r#"
        local events = process.events()
        local a = process.spawn_monitored("app:sink", "app:workers")
        local b = process.spawn_monitored("app:sink", "app:workers")
        -- twice to a (remembered), then alternating, then runs of each
        process.send(a, "x", 1)
        process.send(a, "x", 2)
        for i = 3, 20 do process.send(i % 2 == 0 and b or a, "x", i) end
        for i = 21, 25 do process.send(b, "x", i) end
        for i = 26, 30 do process.send(a, "x", i) end
        process.send(a, "stop")
        process.send(b, "stop")
        return { a = wait_exit(events, a), b = wait_exit(events, b) }
    "#);
    let mut a = vec![1, 2];
    a.extend((3..=20).filter(|i| i % 2 == 1));
    a.extend(26..=30);
    let mut b: Vec<i64> = (3..=20).filter(|i| i % 2 == 0).collect();
    b.extend(21..=25);
    assert_eq!(ints(r.get("a")), a);
    assert_eq!(ints(r.get("b")), b);
}

#[test]
fn a_remembered_peer_that_ended_takes_nothing_and_nothing_goes_astray() {
    let r = run(r#"
        local events = process.events()
        local old = process.spawn_monitored("app:sink", "app:workers")
        process.send(old, "x", 1)
        process.send(old, "x", 2) -- remembered now
        process.send(old, "stop")
        local first = wait_exit(events, old)
        -- `old` has ended: sends fail with NotFound (Wippy's) and reach
        -- no one, not even a process spawned since.
        local new = process.spawn_monitored("app:sink", "app:workers")
        local not_found = 0
        for i = 3, 5 do
            local ok, err = process.send(old, "x", i)
            if ok == nil and err:kind() == errors.NOT_FOUND and tostring(err) == "process not found" then
                not_found = not_found + 1
            end
        end
        process.send(new, "x", 10)
        process.send(new, "x", 11)
        process.send(new, "stop")
        return { first = first, new = wait_exit(events, new), not_found = not_found }
    "#);
    assert_eq!(ints(r.get("first")), vec![1, 2]);
    assert_eq!(ints(r.get("new")), vec![10, 11]);
    assert_eq!(r.get("not_found"), Some(&Payload::Int(3)));
}

#[test]
fn sends_by_name_follow_the_name_to_its_new_owner() {
    let r = run(r#"
        local events = process.events()
        local a = process.spawn_monitored("app:sink", "app:workers")
        local b = process.spawn_monitored("app:sink", "app:workers")
        assert(process.registry.register("svc", a))
        process.send("svc", "x", 1)
        process.send("svc", "x", 2)
        assert(process.registry.unregister("svc"))
        assert(process.registry.register("svc", b))
        process.send("svc", "x", 3)
        process.send("svc", "x", 4)
        process.send(a, "stop")
        process.send(b, "stop")
        return { a = wait_exit(events, a), b = wait_exit(events, b) }
    "#);
    assert_eq!(ints(r.get("a")), vec![1, 2]);
    assert_eq!(ints(r.get("b")), vec![3, 4]);
}

#[test]
fn pid_strings_that_die_never_stand_for_another_process() {
    // Each round remembers a fresh child's pid string, drops it, churns
    // the heap so the collector frees and reuses string memory, and sends
    // to the next child by its own string: every child must get exactly
    // its own two values. More rounds than the VM's pid string cache
    // keeps alive (256), so old strings really die.
    let r = run(r#"
        local events = process.events()
        local wrong = 0
        for round = 1, 400 do
            local child = process.spawn_monitored("app:sink", "app:workers")
            process.send(child, "x", round)
            process.send(child, "x", round)
            process.send(child, "stop")
            local got = wait_exit(events, child)
            if #got ~= 2 or got[1] ~= round or got[2] ~= round then wrong = wrong + 1 end
            child = nil
            local junk = {}
            for i = 1, 200 do junk[i] = "{junk|0x" .. round .. "_" .. i .. "}" end
        end
        return { wrong = wrong }
    "#);
    assert_eq!(r.get("wrong"), Some(&Payload::Int(0)));
}

#[test]
fn a_remembered_peer_gets_each_send_under_its_own_topic() {
    // The peer's entry remembers the topic of the latest send: topics that
    // change, built strings equal to a remembered one, and a reserved
    // topic after a remembered one must all be taken as they are.
    let r = run(r#"
        local events = process.events()
        local sink = process.spawn_monitored("app:sink", "app:workers")
        local n = 0
        local function send(topic)
            n = n + 1
            return process.send(sink, topic, n)
        end
        send("x"); send("x"); send("y"); send("x"); send("y"); send("y")
        send("x" .. ""); send(("xy"):sub(1, 1))
        local ok, err = process.send(sink, "@exit", 0)
        process.send(sink, "stop")
        return { got = wait_exit(events, sink), ok = ok == nil, err = tostring(err), kind = err:kind() }
    "#);
    // The sink keeps the values of `x` messages only.
    assert_eq!(ints(r.get("got")), vec![1, 2, 4, 7, 8]);
    assert_eq!(r.get("ok"), Some(&Payload::Bool(true)));
    let err = r.get("err").and_then(Payload::as_str).expect("an error");
    assert_eq!(err, "cannot send to @ topics");
    assert_eq!(r.get("kind").and_then(Payload::as_str), Some("Invalid"));
}
