//! Channels, select, managed coroutines and timers inside one Lua process.

use wippy_process::{Payload, SpawnOptions};

use crate::common::*;

/// Runs `main(...)` = `body` (with `time` available) and returns its value.
fn run(body: &str, args: Vec<Payload>) -> Payload {
    let src = format!(
        "local time = require('time')\nlocal M = {{}}\nfunction M.main(...)\n{body}\nend\nreturn M\n"
    );
    let t = TestApp::new(vec![entry_time("body", &src)], 2);
    exit_value(t.run("body", args, TIMEOUT))
}

fn field<'a>(p: &'a Payload, k: &str) -> &'a Payload {
    p.get(k).unwrap_or_else(|| panic!("no field {k} in {p:?}"))
}

fn text(p: &Payload, k: &str) -> String {
    field(p, k)
        .as_str()
        .unwrap_or_else(|| panic!("{k} is not a string in {p:?}"))
        .to_owned()
}

fn flag(p: &Payload, k: &str) -> bool {
    match p.get(k) {
        Some(Payload::Bool(b)) => *b,
        None | Some(Payload::Nil) => false,
        other => panic!("{k} is not a boolean: {other:?}"),
    }
}

#[test]
fn select_with_default_does_not_block() {
    let r = run(
        r#"
        local ch = channel.new(1)
        local out = {}
        local s = channel.select({ ch:case_receive(), default = true })
        out.empty_default = s.default == true
        out.empty_channel = s.channel == nil
        ch:send("v")
        s = channel.select({ ch:case_receive(), default = true })
        out.ready_default = s.default == true
        out.ready_value = s.value
        out.ready_ok = s.ok
        out.ready_channel = s.channel == ch
        -- a full buffered channel: a send case is not ready, default wins
        ch:send("fill")
        s = channel.select({ ch:case_send("more"), default = true })
        out.full_default = s.default == true
        -- an empty select with default only
        s = channel.select({ default = true })
        out.only_default = s.default == true
        -- no cases and no default is a programmer error
        local ok, err = pcall(channel.select, {})
        out.no_cases = not ok and tostring(err):find("no cases") ~= nil
        return out
        "#,
        vec![],
    );
    assert!(flag(&r, "empty_default"), "{r:?}");
    assert!(flag(&r, "empty_channel"), "{r:?}");
    assert!(!flag(&r, "ready_default"), "{r:?}");
    assert_eq!(text(&r, "ready_value"), "v");
    assert!(flag(&r, "ready_ok"), "{r:?}");
    assert!(flag(&r, "ready_channel"), "{r:?}");
    assert!(flag(&r, "full_default"), "{r:?}");
    assert!(flag(&r, "only_default"), "{r:?}");
    assert!(flag(&r, "no_cases"), "{r:?}");
}

#[test]
fn select_over_inbox_and_time_after() {
    const WAIT: &str = r#"
    local time = require("time")
    local M = {}
    function M.main(client)
        local inbox = process.inbox()
        local out = {}
        -- nothing arrives: the timer case wins after ~50 ms
        local t0 = time.now()
        local after = time.after("50ms")
        local s = channel.select({ inbox:case_receive(), after:case_receive() })
        out.first = (s.channel == after) and "timer" or "inbox"
        out.waited_ms = time.now():sub(t0):milliseconds()
        out.timer_value_is_time = type(s.value) == "userdata" or type(s.value) == "table"
        -- now ask for a message and wait for it with a long timer
        assert(process.send(client, "waiting", true))
        local long = time.after("5s")
        s = channel.select({ inbox:case_receive(), long:case_receive() })
        out.second = (s.channel == inbox) and "inbox" or "timer"
        out.msg = s.value:payload():data()
        out.topic = s.value:topic()
        return out
    end
    return M
    "#;
    let t = TestApp::new(vec![entry_time("wait", WAIT)], 2);
    let (me, rx) = t.mailbox();
    let (w, events) = t.watcher();
    let pid = t.spawn_opts(
        "wait",
        vec![Payload::Pid(me)],
        SpawnOptions::default().parent(w).monitored(),
    );
    let m = next_msg(&rx, TIMEOUT);
    assert_eq!(m.topic.as_str(), "waiting");
    t.send(Some(me), pid, "hello", Payload::Str("world".into()));
    let r = exit_value(wait_exit(&events, pid, TIMEOUT));
    assert_eq!(text(&r, "first"), "timer", "{r:?}");
    let waited = as_i64(field(&r, "waited_ms"));
    assert!(
        (45..2_000).contains(&waited),
        "time.after(50ms) fired after {waited} ms"
    );
    assert!(flag(&r, "timer_value_is_time"), "{r:?}");
    assert_eq!(text(&r, "second"), "inbox", "{r:?}");
    assert_eq!(text(&r, "msg"), "world");
    assert_eq!(text(&r, "topic"), "hello");
}

#[test]
fn unbuffered_handoff_between_spawned_coroutines() {
    let r = run(
        r#"
        local ch = channel.new() -- unbuffered
        local done = channel.new(1)
        local sent, received, max_ahead = 0, 0, 0
        local got = {}
        coroutine.spawn(function()
            for i = 1, 100 do
                ch:send(i)
                sent = sent + 1
                if sent - received > max_ahead then
                    max_ahead = sent - received
                end
            end
            ch:close()
        end)
        coroutine.spawn(function()
            while true do
                local v, ok = ch:receive()
                if not ok then
                    break
                end
                received = received + 1
                got[#got + 1] = v
            end
            done:send(#got)
        end)
        local n = done:receive()
        for i = 1, n do
            if got[i] ~= i then
                error("item " .. i .. " arrived as " .. tostring(got[i]))
            end
        end
        return { n = n, max_ahead = max_ahead }
        "#,
        vec![],
    );
    assert_eq!(as_i64(field(&r, "n")), 100);
    // Unbuffered: a send completes only when a receiver takes the value, so
    // the sender is never more than one value ahead of the receiver.
    let ahead = as_i64(field(&r, "max_ahead"));
    assert!(
        ahead <= 1,
        "sender ran {ahead} values ahead on an unbuffered channel"
    );
}

#[test]
fn close_semantics() {
    let r = run(
        r#"
        local out = {}
        local ch = channel.new(2)
        ch:send("a")
        ch:send(nil) -- nil is a value too
        ch:close()
        local v, ok = ch:receive()
        out.r1 = tostring(v) .. "," .. tostring(ok)
        v, ok = ch:receive()
        out.r2 = tostring(v) .. "," .. tostring(ok)
        v, ok = ch:receive()
        out.r3 = tostring(v) .. "," .. tostring(ok)
        v, ok = ch:receive()
        out.r4 = tostring(v) .. "," .. tostring(ok)
        local sok, serr = pcall(function() ch:send("late") end)
        out.send_after_close = not sok and tostring(serr):find("closed channel") ~= nil
        -- closing twice does nothing (Wippy's)
        local cok = pcall(function() ch:close() end)
        out.close_twice = cok
        local s = channel.select({ ch:case_receive() })
        out.select_closed = tostring(s.value) .. "," .. tostring(s.ok)

        -- a blocked receiver and a blocked sender are released by close
        local rx = channel.new()
        local tx = channel.new()
        local results = channel.new(2)
        coroutine.spawn(function()
            local v, ok = rx:receive()
            results:send("receiver:" .. tostring(v) .. "," .. tostring(ok))
        end)
        coroutine.spawn(function()
            -- a sender released by close returns nil, err (Wippy's)
            local ok, err = tx:send("x")
            results:send("sender:" .. tostring(ok) .. ":" .. tostring(err))
        end)
        time.sleep("10ms") -- both are now blocked
        rx:close()
        tx:close()
        local a = results:receive()
        local b = results:receive()
        if a:sub(1, 6) == "sender" then
            a, b = b, a
        end
        out.blocked_receiver = a
        out.blocked_sender = b
        return out
        "#,
        vec![],
    );
    assert_eq!(text(&r, "r1"), "a,true");
    assert_eq!(text(&r, "r2"), "nil,true");
    assert_eq!(text(&r, "r3"), "nil,false");
    assert_eq!(text(&r, "r4"), "nil,false");
    assert!(flag(&r, "send_after_close"), "{r:?}");
    assert!(flag(&r, "close_twice"), "{r:?}");
    assert_eq!(text(&r, "select_closed"), "nil,false");
    assert_eq!(text(&r, "blocked_receiver"), "receiver:nil,false");
    let sender = text(&r, "blocked_sender");
    assert!(sender == "sender:nil:send on closed channel", "{sender}");
}

#[test]
fn ticker_delivers_ticks_until_stopped() {
    let r = run(
        r#"
        local tk = time.ticker("20ms")
        local ch = tk:response()
        local t0 = time.now()
        local stamps = {}
        for i = 1, 3 do
            local v, ok = ch:receive()
            assert(ok, "tick channel closed")
            stamps[i] = time.now():sub(t0):milliseconds()
        end
        local first_stop = tk:stop()
        local second_stop = tk:stop()
        -- no tick comes after stop (a tick may have been buffered before it)
        local late = 0
        local quiet = time.after("100ms")
        while true do
            local s = channel.select({ ch:case_receive(), quiet:case_receive() })
            if s.channel == quiet then
                break
            end
            late = late + 1
        end
        return {
            t1 = stamps[1], t2 = stamps[2], t3 = stamps[3],
            first_stop = first_stop, second_stop = second_stop, late = late,
            alias = tk:channel() == ch,
        }
        "#,
        vec![],
    );
    let t1 = as_i64(field(&r, "t1"));
    let t3 = as_i64(field(&r, "t3"));
    assert!(t1 >= 15, "first tick after {t1} ms");
    assert!(t3 >= 55, "three 20 ms ticks took only {t3} ms");
    assert!(t3 < 2_000, "three 20 ms ticks took {t3} ms");
    assert!(flag(&r, "first_stop"), "{r:?}");
    // As Wippy's: stopping a ticker always answers true.
    assert!(flag(&r, "second_stop"), "{r:?}");
    assert!(as_i64(field(&r, "late")) <= 1, "ticks after stop: {r:?}");
    assert!(flag(&r, "alias"), "{r:?}");
}

#[test]
fn spawned_coroutines_sleep_concurrently() {
    let r = run(
        r#"
        local done = channel.new(3)
        local t0 = time.now()
        for i = 1, 3 do
            coroutine.spawn(function()
                time.sleep("100ms")
                done:send(i)
            end)
        end
        local sum = done:receive() + done:receive() + done:receive()
        return { sum = sum, ms = time.now():sub(t0):milliseconds() }
        "#,
        vec![],
    );
    assert_eq!(as_i64(field(&r, "sum")), 6);
    let ms = as_i64(field(&r, "ms"));
    assert!(
        (95..250).contains(&ms),
        "three parallel 100 ms sleeps took {ms} ms"
    );
}

#[test]
fn blocking_in_an_unmanaged_coroutine_is_an_error() {
    let r = run(
        r#"
        local ch = channel.new()
        local co = coroutine.create(function() return ch:receive() end)
        local ok, err = coroutine.resume(co)
        return { ok = ok, err = tostring(err) }
        "#,
        vec![],
    );
    assert!(!flag(&r, "ok"), "{r:?}");
    assert!(text(&r, "err").contains("coroutine.spawn"), "{r:?}");
}

#[test]
fn a_failed_block_in_an_unmanaged_coroutine_leaves_nothing_waiting() {
    // The failed receive, send and sleep must not leave waiters behind: a
    // value sent later reaches the live receiver (not the dead coroutine),
    // nothing resumes the dead one, and the process ends normally.
    let r = run(
        r#"
        local ch = channel.new()
        local out = {}
        for _, what in ipairs({ "receive", "send", "sleep", "select" }) do
            local co = coroutine.create(function()
                if what == "receive" then return ch:receive()
                elseif what == "send" then return ch:send("lost")
                elseif what == "select" then return channel.select({ ch:case_receive() })
                else return time.sleep("10ms") end
            end)
            local ok, err = coroutine.resume(co)
            out[what] = tostring(ok) .. "|" .. tostring(err):match("coroutine the runtime does not manage") 
        end
        local wrapped = coroutine.wrap(function() return ch:receive() end)
        out.wrap = tostring(pcall(wrapped))
        coroutine.spawn(function() ch:send("kept") end)
        out.got = ch:receive()
        time.sleep("30ms") -- the failed sleep's time passes: nothing resumes
        -- nothing else is queued on the channel: a receive with a default
        -- finds it empty (the failed send's value is not there)
        out.empty = channel.select({ ch:case_receive(), default = true }).default == true
        return out
        "#,
        vec![],
    );
    for what in ["receive", "send", "sleep", "select"] {
        assert_eq!(
            text(&r, what),
            "false|coroutine the runtime does not manage",
            "{what}: {r:?}"
        );
    }
    assert_eq!(text(&r, "wrap"), "false");
    assert_eq!(text(&r, "got"), "kept");
    assert!(flag(&r, "empty"), "{r:?}");
}

#[test]
fn a_ticker_buffers_sixteen_ticks_for_a_slow_reader_as_wippy_does() {
    let r = run(
        r#"
        local tk = time.ticker("2ms")
        time.sleep("100ms") -- about 50 ticks go by unread
        tk:stop()
        local ch = tk:response()
        local n = 0
        while channel.select({ ch:case_receive(), default = true }).default ~= true do
            n = n + 1
        end
        return { buffered = n }
        "#,
        vec![],
    );
    // Wippy's ticker channel holds 16 ticks; the rest are dropped.
    assert_eq!(as_i64(field(&r, "buffered")), 16, "{r:?}");
}

#[test]
fn timer_fires_once_and_can_be_reset() {
    let r = run(
        r#"
        local t0 = time.now()
        local tm = time.timer("200ms")
        time.sleep("20ms")
        tm:reset("30ms")
        tm:response():receive()
        local fired = time.now():sub(t0):milliseconds()
        -- one-shot: nothing more arrives, the channel is closed
        local quiet = time.after("80ms")
        local s = channel.select({ tm:response():case_receive(), quiet:case_receive() })
        return { fired = fired, again = s.channel ~= quiet and s.ok, closed = s.ok == false }
        "#,
        vec![],
    );
    let fired = as_i64(field(&r, "fired"));
    assert!(
        (45..180).contains(&fired),
        "reset timer fired after {fired} ms"
    );
    assert!(!flag(&r, "again"), "a one-shot timer fired twice");
    assert!(
        flag(&r, "closed"),
        "a fired timer's channel is closed: {r:?}"
    );
}
