//! The `errors` global and error objects (Wippy's reference §1): the kind
//! constants, `errors.new` / `wrap` / `is` / `call_stack`, the methods of an
//! error object, `tostring` and `..`, and an error object crossing to
//! another process as an error value.

use wippy_process::{ErrorKind, Payload};

use crate::common::*;

fn get<'a>(p: &'a Payload, k: &str) -> &'a Payload {
    p.get(k).unwrap_or_else(|| panic!("{k} missing in {p:?}"))
}

fn s(v: &str) -> Payload {
    Payload::Str(v.into())
}

#[test]
fn the_kind_constants_are_wippys_strings_and_the_table_is_read_only() {
    let r = run(r#"
        local ok = pcall(function() errors.NOT_FOUND = "x" end)
        return { nf = errors.NOT_FOUND, unknown = errors.UNKNOWN, rl = errors.RATE_LIMITED,
                 writable = ok, t = type(errors.new("x")) }
    "#);
    assert_eq!(get(&r, "nf"), &s("NotFound"));
    assert_eq!(get(&r, "unknown"), &s(""));
    assert_eq!(get(&r, "rl"), &s("RateLimited"));
    assert_eq!(get(&r, "writable"), &Payload::Bool(false));
    assert_eq!(get(&r, "t"), &s("userdata"));
}

#[test]
fn an_error_made_from_a_table_keeps_its_parts() {
    let r = run(r#"
        local e = errors.new({ message = "boom", kind = errors.TIMEOUT, retryable = true,
                               details = { n = 1, list = { 1, 2 }, [3] = "dropped" } })
        local plain = errors.new("plain")
        return { kind = e:kind(), retryable = e:retryable(), message = e:message(),
                 text = tostring(e), n = e:details().n, l2 = e:details().list[2],
                 dropped = e:details()[3] == nil,
                 plain_kind = plain:kind(), plain_retryable = plain:retryable() == nil,
                 plain_details = plain:details() == nil,
                 left = "x: " .. e, right = e .. " :y", is = errors.is(e, "Timeout"),
                 is_not = errors.is(e, "NotFound"), is_str = errors.is("boom", "Timeout"),
                 eq = (e == "boom") }
    "#);
    assert_eq!(get(&r, "kind"), &s("Timeout"));
    assert_eq!(get(&r, "retryable"), &Payload::Bool(true));
    assert_eq!(get(&r, "message"), &s("boom"));
    assert_eq!(get(&r, "text"), &s("boom"));
    assert_eq!(get(&r, "n"), &Payload::Int(1));
    assert_eq!(get(&r, "l2"), &Payload::Int(2));
    assert_eq!(get(&r, "dropped"), &Payload::Bool(true));
    assert_eq!(get(&r, "plain_kind"), &s(""));
    assert_eq!(get(&r, "plain_retryable"), &Payload::Bool(true));
    assert_eq!(get(&r, "plain_details"), &Payload::Bool(true));
    assert_eq!(get(&r, "left"), &s("x: boom"));
    assert_eq!(get(&r, "right"), &s("boom :y"));
    assert_eq!(get(&r, "is"), &Payload::Bool(true));
    assert_eq!(get(&r, "is_not"), &Payload::Bool(false));
    assert_eq!(get(&r, "is_str"), &Payload::Bool(false));
    assert_eq!(get(&r, "eq"), &Payload::Bool(false));
}

#[test]
fn wrong_arguments_raise_as_in_wippy() {
    let r = run(r#"
        local function why(f, ...) local ok, e = pcall(f, ...) return ok and "no error" or tostring(e) end
        return { no_message = why(errors.new, {}), bad_message = why(errors.new, { message = 1 }),
                 bad_type = why(errors.new, 5), bad_kind = why(errors.is, errors.new("x"), 1),
                 bad_parent = why(errors.wrap, 1, "ctx") }
    "#);
    for (k, want) in [
        ("no_message", "message field is required"),
        ("bad_message", "message must be a string"),
        ("bad_type", "expected string or table"),
        ("bad_kind", "kind must be a string"),
        ("bad_parent", "parent must be a string or an error"),
    ] {
        let Payload::Str(got) = get(&r, k) else {
            panic!("{k}: {r:?}")
        };
        assert!(got.contains(want), "{k}: {got}");
    }
}

#[test]
fn a_wrap_keeps_the_parents_kind_and_text_and_shows_its_context_in_the_stack() {
    let r = run(r#"
        local base = errors.new({ message = "x", kind = errors.NOT_FOUND, retryable = false })
        local once = errors.wrap(base, "ctx")
        local twice = errors.wrap(once, "outer")
        local stack = errors.call_stack(base)
        return { once = once:message(), twice = twice:message(), kind = twice:kind(),
                 retryable = twice:retryable(), once_stack = once:stack(),
                 frames = #stack.frames, line = stack.frames[1].line,
                 from_string = errors.wrap("plain", errors.new("c")):message(),
                 no_stack = errors.call_stack("x") == nil }
    "#);
    assert_eq!(get(&r, "once"), &s("x"));
    assert_eq!(get(&r, "twice"), &s("ctx: x"));
    assert_eq!(get(&r, "kind"), &s("NotFound"));
    assert_eq!(get(&r, "retryable"), &Payload::Bool(false));
    let Payload::Str(stack) = get(&r, "once_stack") else {
        panic!("{r:?}")
    };
    assert!(stack.starts_with("ctx: x"), "{stack}");
    assert!(as_i64(get(&r, "frames")) >= 1, "{r:?}");
    // `errors.new` ran on the body's third line (after the two the test adds).
    assert_eq!(as_i64(get(&r, "line")), 4, "{r:?}");
    assert_eq!(get(&r, "from_string"), &s("plain"));
    assert_eq!(get(&r, "no_stack"), &Payload::Bool(true));
}

#[test]
fn pcall_returns_a_raised_error_object_unchanged() {
    let r = run(r#"
        local e = errors.new({ message = "raised", kind = errors.CONFLICT })
        local ok, got = pcall(error, e)
        local ok2, got2 = pcall(function() error(e) end)
        return { ok = ok, same = rawequal(got, e), kind = got2:kind(), t = typeof(got2) }
    "#);
    assert_eq!(get(&r, "ok"), &Payload::Bool(false));
    assert_eq!(get(&r, "same"), &Payload::Bool(true));
    assert_eq!(get(&r, "kind"), &s("Conflict"));
    assert_eq!(get(&r, "t"), &s("userdata"));
}

#[test]
fn an_error_object_crosses_to_another_process_as_an_error() {
    let echo = entry(
        "echo",
        r#"
return { main = function()
    local msg = process.inbox():receive()
    local e = msg:payload():data()
    process.send(msg:from(), "back", { t = type(e), kind = e:kind(), message = tostring(e),
                                        retryable = e:retryable(), d = e:details().k, e = e })
end }
"#,
    );
    let main = entry(
        "main",
        r#"
return { main = function()
    local pid = process.spawn("app:echo", "app:workers")
    process.send(pid, "e", errors.new({ message = "far", kind = "Custom", retryable = false,
                                         details = { k = "v" } }))
    local reply = process.inbox():receive():payload():data()
    reply.again_kind = reply.e:kind()
    return reply
end }
"#,
    );
    let t = TestApp::new(vec![echo, main], 1);
    let r = exit_value(t.run("main", vec![], TIMEOUT));
    assert_eq!(get(&r, "t"), &s("userdata"));
    assert_eq!(get(&r, "kind"), &s("Custom"));
    assert_eq!(get(&r, "message"), &s("far"));
    assert_eq!(get(&r, "retryable"), &Payload::Bool(false));
    assert_eq!(get(&r, "d"), &s("v"));
    assert_eq!(get(&r, "again_kind"), &s("Custom"));
    match get(&r, "e") {
        Payload::Error(e) => {
            assert_eq!(e.kind(), &ErrorKind::Other("Custom".into()));
            assert_eq!(e.message(), "far");
        }
        other => panic!("expected an error value, got {other:?}"),
    }
}

#[test]
fn the_string_library_takes_an_error_object_as_its_message() {
    let r = run(r#"
        local e = errors.new("process not found")
        local words = {}
        for w in string.gmatch(e, "%a+") do words[#words + 1] = w end
        local ok, raised = pcall(string.find, {}, "x")
        return {
            find = string.find(e, "not found"), plain = string.find(e, "not found", 1, true),
            match = string.match(e, "(%a+) not"), gsub = (string.gsub(e, "not ", "")),
            lower = string.lower(errors.new("ABC")), upper = string.upper(e),
            len = string.len(e), sub = string.sub(e, 1, 7), rep = string.rep(errors.new("ab"), 2),
            byte = string.byte(e), words = table.concat(words, ","),
            format = string.format("%s!", e),
            -- strings are unchanged, and other values still raise
            str = string.find("a not found", "not"), raised = tostring(raised):find("argument #1 to .find.") ~= nil,
        }
    "#);
    assert_eq!(get(&r, "find"), &Payload::Int(9));
    assert_eq!(get(&r, "plain"), &Payload::Int(9));
    assert_eq!(get(&r, "match"), &s("process"));
    assert_eq!(get(&r, "gsub"), &s("process found"));
    assert_eq!(get(&r, "lower"), &s("abc"));
    assert_eq!(get(&r, "upper"), &s("PROCESS NOT FOUND"));
    assert_eq!(get(&r, "len"), &Payload::Int(17));
    assert_eq!(get(&r, "sub"), &s("process"));
    assert_eq!(get(&r, "rep"), &s("abab"));
    assert_eq!(get(&r, "byte"), &Payload::Int(112));
    assert_eq!(get(&r, "words"), &s("process,not,found"));
    assert_eq!(get(&r, "format"), &s("process not found!"));
    assert_eq!(get(&r, "str"), &Payload::Int(3));
    assert_eq!(get(&r, "raised"), &Payload::Bool(true));
}
