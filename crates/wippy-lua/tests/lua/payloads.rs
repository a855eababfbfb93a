//! Payload conversion on `process.send` (the hot, raw-API path): the value
//! tree a receiver gets, integral numbers staying integers, and the values
//! that cannot be sent, named by their path (`lua-api.md`, "Payloads").

use wippy_process::Payload;

use crate::common::*;

const SENDER: &str = r#"
local M = {}
function M.main(to)
    local ok, err = process.send(to, "value", {
        i = 3, f = 3.5, big = 2^53 - 1, neg = -7, huge = 2^60, yes = true, no = false,
        s = "héllo", list = { 1, 2.5, "x", { a = 1 } }, empty = {},
        nested = { deep = { deeper = { 42 } } },
    })
    assert(ok, err)
    return "sent"
end
return M
"#;

#[test]
fn a_sent_table_arrives_as_the_same_value_tree_with_integers_integral() {
    let t = TestApp::new(vec![entry("sender", SENDER)], 1);
    let (me, inbox) = t.mailbox();
    assert_eq!(
        exit_value(t.run("sender", vec![Payload::Pid(me)], TIMEOUT)),
        Payload::Str("sent".into())
    );
    let v = next_msg(&inbox, TIMEOUT).payload;
    let get = |k: &str| v.get(k).unwrap_or_else(|| panic!("no {k} in {v:?}"));
    assert_eq!(get("i"), &Payload::Int(3));
    assert_eq!(get("f"), &Payload::Float(3.5));
    assert_eq!(get("big"), &Payload::Int((1 << 53) - 1));
    assert_eq!(get("neg"), &Payload::Int(-7));
    // Beyond 2^53 a double no longer holds every integer: it stays a float.
    assert_eq!(get("huge"), &Payload::Float(2f64.powi(60)));
    assert_eq!(get("yes"), &Payload::Bool(true));
    assert_eq!(get("no"), &Payload::Bool(false));
    assert_eq!(get("s"), &Payload::Str("héllo".into()));
    assert_eq!(
        get("list"),
        &Payload::Array(vec![
            Payload::Int(1),
            Payload::Float(2.5),
            Payload::Str("x".into()),
            Payload::map([("a", Payload::Int(1))]),
        ])
    );
    let deeper = get("nested").get("deep").and_then(|d| d.get("deeper"));
    assert_eq!(deeper, Some(&Payload::Array(vec![Payload::Int(42)])));
    assert!(
        matches!(get("empty"), Payload::Array(a) if a.is_empty())
            || matches!(get("empty"), Payload::Map(m) if m.is_empty()),
        "empty: {:?}",
        get("empty")
    );
}

#[test]
fn a_value_sent_to_oneself_comes_back_equal() {
    const ROUND: &str = r#"
    local M = {}
    local function same(a, b)
        if type(a) ~= type(b) then return false end
        if type(a) ~= "table" then return a == b end
        for k, v in pairs(a) do if not same(v, b[k]) then return false end end
        for k in pairs(b) do if a[k] == nil then return false end end
        return true
    end
    function M.main()
        local v = { n = 1, x = -0.25, s = "\0bytes\255", list = { 1, { 2, { 3 } } },
                    map = { [1] = "one", [3] = "three" }, t = true }
        process.send(process.pid(), "t", v)
        local got = process.inbox():receive():payload():data()
        return same(v, got) and got ~= v
    end
    return M
    "#;
    let t = TestApp::new(vec![entry("round", ROUND)], 1);
    assert_eq!(
        exit_value(t.run("round", vec![], TIMEOUT)),
        Payload::Bool(true)
    );
}

#[test]
fn unsendable_values_are_refused_with_their_path_and_nothing_is_delivered() {
    const REFUSE: &str = r#"
    local M = {}
    local function nest(n)
        local t = {}
        local top = t
        for _ = 2, n do local c = {} t.c = c t = c end
        return top
    end
    function M.main(to)
        local out = {}
        local cyc = { a = {} }
        cyc.a.back = cyc
        for name, v in pairs({
            func = { items = { 1, 2, print } },
            cycle = cyc,
            thread = { co = coroutine.create(function() end) },
            channel = { ch = channel.new() },
            deep = nest(65),
        }) do
            local ok, err = process.send(to, "bad", v)
            out[name] = tostring(ok) .. "|" .. tostring(err)
        end
        -- 64 levels is the limit, and fits
        out.deep64 = tostring(process.send(to, "ok", nest(64)))
        return out
    end
    return M
    "#;
    let t = TestApp::new(vec![entry("refuse", REFUSE)], 1);
    let (me, inbox) = t.mailbox();
    let r = exit_value(t.run("refuse", vec![Payload::Pid(me)], TIMEOUT));
    let text = |k: &str| {
        r.get(k)
            .and_then(Payload::as_str)
            .unwrap_or_else(|| panic!("no {k} in {r:?}"))
            .to_owned()
    };
    assert_eq!(
        text("func"),
        "nil|payload.items[3]: function cannot be sent"
    );
    assert_eq!(
        text("cycle"),
        "nil|payload.a.back: table contains a cycle and cannot be sent"
    );
    assert_eq!(text("thread"), "nil|payload.co: thread cannot be sent");
    assert_eq!(text("channel"), "nil|payload.ch: channel cannot be sent");
    let deep = text("deep");
    assert!(
        deep.starts_with("nil|payload.c.c.")
            && deep.ends_with("nested deeper than 64 levels and cannot be sent"),
        "{deep}"
    );
    assert_eq!(text("deep64"), "true");
    // Only the one good send arrived.
    let m = next_msg(&inbox, TIMEOUT);
    assert_eq!(m.topic.as_str(), "ok");
    assert!(inbox.try_recv().is_err(), "a refused send was delivered");
}

/// Returns the keys of its argument, sorted, joined by commas.
const KEYS: &str = r#"
return { main = function(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    return table.concat(keys, ",")
end }
"#;

#[test]
fn keys_no_lua_table_can_hold_are_dropped_not_fatal() {
    // A map made in Rust may have a NaN or nil key. Setting one in a Lua
    // table raises, and for a spawn argument that raise happened outside
    // any protected call: it aborted the whole runtime (found by the
    // conversion proptest, ffi/payload.rs).
    let of_message = KEYS.replace(
        "main = function(t)",
        "main = function()\n    local t = process.inbox():receive():payload():data()",
    );
    let t = TestApp::new(
        vec![entry("keys", KEYS), entry("keys_of_message", &of_message)],
        1,
    );
    let odd = || {
        Payload::Map(vec![
            (Payload::Float(f64::NAN), Payload::Int(1)),
            (Payload::Nil, Payload::Int(2)),
            (Payload::Str("k".into()), Payload::Int(3)),
        ])
    };
    assert_eq!(
        exit_value(t.run("keys", vec![odd()], TIMEOUT)),
        Payload::Str("k".into())
    );
    // The same as a message's data.
    let (w, events) = t.watcher();
    let reader = t.spawn_opts(
        "keys_of_message",
        vec![],
        wippy_process::SpawnOptions::default().parent(w).monitored(),
    );
    t.send(None, reader, "m", odd());
    assert_eq!(
        exit_value(wait_exit(&events, reader, TIMEOUT)),
        Payload::Str("k".into())
    );
}
