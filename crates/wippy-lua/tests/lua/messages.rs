//! Message objects (`inbox:receive()`, `listen(topic, {message = true})`):
//! their methods, what they refuse, and that each `:data()` is a fresh copy
//! owned by the receiver (`lua-api.md`, "Message objects").

use wippy_process::Payload;

use crate::common::*;

fn text(p: &Payload, k: &str) -> String {
    p.get(k)
        .and_then(Payload::as_str)
        .unwrap_or_else(|| panic!("no string {k} in {p:?}"))
        .to_owned()
}

#[test]
fn a_message_answers_topic_from_and_data() {
    let r = run(r#"
        local me = process.pid()
        process.send(me, "greet", { n = 1, list = { "a", "b" } })
        local m = process.inbox():receive()
        local d = m:payload():data()
        return {
            topic = m:topic(),
            from_me = m:from() == me,
            n = d.n,
            second = d.list[2],
            kind = typeof(m),
            mt = getmetatable(m),
        }
    "#);
    assert_eq!(text(&r, "topic"), "greet");
    assert_eq!(r.get("from_me"), Some(&Payload::Bool(true)));
    assert_eq!(r.get("n"), Some(&Payload::Int(1)));
    assert_eq!(text(&r, "second"), "b");
    assert_eq!(text(&r, "kind"), "message");
    assert_eq!(text(&r, "mt"), "message");
}

#[test]
fn every_data_call_is_a_fresh_copy() {
    let r = run(r#"
        process.send(process.pid(), "t", { n = 1 })
        local m = process.inbox():receive()
        local a = m:data()
        a.n = 99
        local b = m:payload():data()
        return { first = a.n, second = b.n, distinct = a ~= b }
    "#);
    assert_eq!(r.get("first"), Some(&Payload::Int(99)));
    assert_eq!(r.get("second"), Some(&Payload::Int(1)));
    assert_eq!(r.get("distinct"), Some(&Payload::Bool(true)));
}

#[test]
fn a_message_from_outside_a_process_has_no_sender() {
    let src = r#"
        local M = {}
        function M.main()
            local m = process.inbox():receive()
            -- Wippy's `from()` is a string either way: "" for no sender
            return { none = m:from() == "", topic = m:topic(), v = m:payload():data() }
        end
        return M
    "#;
    let t = TestApp::new(vec![entry("body", src)], 1);
    let (w, events) = t.watcher();
    let pid = t.spawn_opts(
        "body",
        vec![],
        wippy_process::SpawnOptions::default().parent(w).monitored(),
    );
    t.send(None, pid, "hello", Payload::Str("x".into()));
    let r = exit_value(wait_exit(&events, pid, TIMEOUT));
    assert_eq!(r.get("none"), Some(&Payload::Bool(true)));
    assert_eq!(text(&r, "topic"), "hello");
    assert_eq!(text(&r, "v"), "x");
}

#[test]
fn a_message_object_is_sent_as_its_value_and_cannot_be_misused() {
    let r = run(r#"
        local me = process.pid()
        process.send(me, "t", 1)
        local m = process.inbox():receive()
        local out = {}
        -- a message is its own payload object: it crosses as its value
        local ok, err = process.send(me, "t", { inner = m })
        out.send = tostring(ok) .. "|" .. tostring(err)
        out.inner = process.inbox():receive():data().inner
        local ok2, err2 = pcall(m.data, 5)
        out.misuse = tostring(ok2) .. "|" .. tostring(err2)
        local ok3, err3 = pcall(function() m.extra = 1 end)
        out.write = tostring(ok3)
        out.json = select(2, pcall(function() return require ~= nil end))
        return out
    "#);
    assert_eq!(text(&r, "send"), "true|nil");
    assert_eq!(r.get("inner"), Some(&Payload::Int(1)));
    let misuse = text(&r, "misuse");
    assert!(
        misuse.starts_with("false|") && misuse.contains("message:data: expected a message"),
        "{misuse}"
    );
    assert_eq!(text(&r, "write"), "false");
}

#[test]
fn a_message_as_a_result_is_its_value() {
    let src = r#"
        local M = {}
        function M.main()
            process.send(process.pid(), "t", 1)
            return { m = process.inbox():receive() }
        end
        return M
    "#;
    let t = TestApp::new(vec![entry("body", src)], 1);
    let r = exit_value(t.run("body", vec![], TIMEOUT));
    assert_eq!(r.get("m"), Some(&Payload::Int(1)));
}

#[test]
fn strings_cross_as_text_unless_they_are_not_utf8() {
    let src = r#"
        return { main = function(to)
            process.send(to, "tópico", { s = "café", a = "plain", b = "\255\254" })
        end }
    "#;
    let t = TestApp::new(vec![entry("sender", src)], 1);
    let (me, rx) = t.mailbox();
    t.spawn("sender", vec![Payload::Pid(me)]);
    let m = next_msg(&rx, TIMEOUT);
    assert_eq!(m.topic.as_str(), "tópico");
    assert_eq!(m.payload.get("s").and_then(Payload::as_str), Some("café"));
    assert_eq!(m.payload.get("a").and_then(Payload::as_str), Some("plain"));
    assert_eq!(m.payload.get("b"), Some(&Payload::Bytes(vec![255, 254])));
}
