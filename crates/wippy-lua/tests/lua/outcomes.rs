//! How a process's end becomes its result (reference §3's outcome table),
//! and the event tables its monitors and links get: `kind`, `from`, `at`,
//! `result = {value = ..., error = err}`, and CANCEL's `reason`.

use wippy_process::{ErrorKind, ExitResult, Payload};

use crate::common::*;

/// Runs a process whose `main` is `body`.
fn outcome(body: &str) -> ExitResult {
    let src = format!("return {{ main = function(...)\n{body}\nend }}\n");
    let t = TestApp::new(vec![entry("body", &src)], 1);
    t.run("body", vec![], TIMEOUT)
}

fn failure(body: &str) -> wippy_process::ExitError {
    match outcome(body) {
        Err(e) => e,
        Ok(v) => panic!("expected a failure, got {v:?}"),
    }
}

#[test]
fn a_value_and_nil_or_a_non_error_second_value_is_a_success_with_the_first() {
    assert_eq!(outcome("return 7").unwrap(), Payload::Int(7));
    assert_eq!(outcome("return 7, nil").unwrap(), Payload::Int(7));
    assert_eq!(outcome("return 7, true, 'third'").unwrap(), Payload::Int(7));
    assert_eq!(outcome("return 7, { x = 1 }").unwrap(), Payload::Int(7));
    assert_eq!(outcome("return").unwrap(), Payload::Nil);
}

#[test]
fn a_text_second_value_fails_with_a_non_retryable_internal_error() {
    let e = failure("return nil, 'config missing'");
    assert_eq!(e.message(), "config missing");
    assert_eq!(e.kind(), &ErrorKind::Internal);
    assert_eq!(e.is_retryable(), Some(false));
    // The value is dropped.
    assert_eq!(failure("return 1, 'no'").message(), "no");
}

#[test]
fn an_error_object_second_value_fails_with_that_error_and_no_kind_is_internal() {
    let e = failure(
        "return nil, errors.new({ message = 'late', kind = errors.TIMEOUT, retryable = true, details = { n = 1 } })",
    );
    assert_eq!(e.message(), "late");
    assert_eq!(e.kind(), &ErrorKind::Timeout);
    assert_eq!(e.is_retryable(), Some(true));
    assert_eq!(
        e.details_payload().and_then(|d| d.get("n")),
        Some(&Payload::Int(1))
    );
    let e = failure("return nil, errors.new('plain')");
    assert_eq!((e.message(), e.kind()), ("plain", &ErrorKind::Internal));
    assert_eq!(e.is_retryable(), None);
}

#[test]
fn raised_errors_are_internal_and_an_error_object_or_a_table_keeps_its_content() {
    let e = failure("error('boom')");
    assert_eq!(e.kind(), &ErrorKind::Internal);
    assert!(e.message().starts_with("app:body:2: boom"), "{e:?}");
    assert_eq!(e.is_retryable(), None);
    let e = failure("error(errors.new({ message = 'kept', kind = errors.CONFLICT }))");
    assert_eq!((e.message(), e.kind()), ("kept", &ErrorKind::Conflict));
    let e = failure("error({ code = 1 })");
    assert_eq!(e.kind(), &ErrorKind::Internal);
    assert!(e.message().starts_with(r#"{"code":1}"#), "{e:?}");
    assert_eq!(
        e.details_payload().and_then(|d| d.get("code")),
        Some(&Payload::Int(1))
    );
}

#[test]
fn events_carry_at_result_and_reason_as_wippys() {
    let src = r#"
    local M = {}
    function M.child(how)
        if how == "fail" then return nil, errors.new({ message = "bad", kind = errors.INVALID }) end
        if how == "wait" then
            local ev = process.events():receive()
            return { kind = ev.kind, from = ev.from, reason = ev.reason, result = ev.result }
        end
        if how == "value" then return { v = 1 } end
    end
    function M.main()
        local events = process.events()
        local out = {}
        local function exit_of(how)
            local pid = process.spawn_monitored("app:child", "app:workers", how)
            local ev = events:receive()
            assert(ev.from == pid)
            return ev
        end
        local ev = exit_of("fail")
        out.kind = ev.kind
        out.at_whole = ev.at == math.floor(ev.at) and math.abs(ev.at - os.time()) <= 2
        out.err_kind = ev.result.error:kind()
        out.err_text = tostring(ev.result.error)
        out.no_value = ev.result.value == nil
        out.clean = next(exit_of("nothing").result) == nil
        out.value = exit_of("value").result.value.v
        -- CANCEL: the reason, and the canceller as `from`
        local waiter = process.spawn_monitored("app:child", "app:workers", "wait")
        assert(process.cancel(waiter, "shutting down"))
        ev = events:receive()
        out.cancel = ev.result.value
        out.me = process.pid()
        return out
    end
    return M
    "#;
    let t = TestApp::new(
        vec![
            entry("main", src),
            Lua {
                method: "child",
                ..entry("child", src)
            },
        ],
        2,
    );
    let r = exit_value(t.run("main", vec![], TIMEOUT));
    let s = |k: &str| {
        r.get(k)
            .and_then(Payload::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(s("kind"), "pid.exit");
    assert_eq!(r.get("at_whole"), Some(&Payload::Bool(true)), "{r:?}");
    assert_eq!(s("err_kind"), "Invalid");
    assert_eq!(s("err_text"), "bad");
    assert_eq!(r.get("no_value"), Some(&Payload::Bool(true)));
    assert_eq!(r.get("clean"), Some(&Payload::Bool(true)));
    assert_eq!(r.get("value"), Some(&Payload::Int(1)));
    let cancel = r.get("cancel").expect("the waiter's view of its CANCEL");
    assert_eq!(
        cancel.get("kind").and_then(Payload::as_str),
        Some("pid.cancel")
    );
    assert_eq!(
        cancel.get("reason").and_then(Payload::as_str),
        Some("shutting down")
    );
    assert_eq!(
        cancel.get("from").and_then(Payload::as_str),
        Some(s("me").as_str())
    );
    assert_eq!(cancel.get("result"), None, "CANCEL has no result");
}

#[test]
fn terminated_and_link_failures_end_as_wippy_says() {
    let src = r#"
    local M = {}
    function M.idle() process.inbox():receive() end
    function M.crash() error("crashed") end
    function M.partner()
        process.spawn_linked("app:crash", "app:workers")
        process.inbox():receive()
    end
    function M.trapper()
        process.set_options({ trap_links = true })
        local events = process.events()
        process.spawn_linked("app:crash", "app:workers")
        local ev = events:receive()
        return { kind = ev.kind, err = tostring(ev.result.error), err_kind = ev.result.error:kind() }
    end
    function M.main()
        local events = process.events()
        local idle = process.spawn_monitored("app:idle", "app:workers")
        assert(process.terminate(idle))
        local out = {}
        local ev = events:receive()
        out.terminated = tostring(ev.result.error) .. "|" .. ev.result.error:kind()
        local partner = process.spawn_monitored("app:partner", "app:workers")
        ev = events:receive()
        out.linked = tostring(ev.result.error) .. "|" .. ev.result.error:kind()
        local trapper = process.spawn_monitored("app:trapper", "app:workers")
        ev = events:receive()
        out.trapped = ev.result.value
        return out
    end
    return M
    "#;
    let entries = ["main", "idle", "crash", "partner", "trapper"]
        .into_iter()
        .map(|m| Lua {
            method: m,
            ..entry(m, src)
        })
        .collect();
    let t = TestApp::new(entries, 2);
    let r = exit_value(t.run("main", vec![], TIMEOUT));
    let s = |k: &str| {
        r.get(k)
            .and_then(Payload::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(s("terminated"), "process terminated|Internal");
    assert_eq!(s("linked"), "linked process failed|");
    let trapped = r.get("trapped").expect("the trapper's LINK_DOWN");
    assert_eq!(
        trapped.get("kind").and_then(Payload::as_str),
        Some("pid.link.down")
    );
    let err = trapped
        .get("err")
        .and_then(Payload::as_str)
        .unwrap_or_default();
    assert!(err.contains("crashed"), "{err}");
    assert_eq!(
        trapped.get("err_kind").and_then(Payload::as_str),
        Some("Internal")
    );
}
