//! The `uuid` module (reference §7.3, addendum §4): generation, the text
//! forms Go's `uuid.Parse` reads, what `parse` tells of a UUID, and its
//! failures (Invalid, not retryable). Wippy's own suite (`uuid`) checks the
//! rest.

use wippy_process::Payload;

use crate::common::*;

fn run(body: &str) -> Payload {
    let src = format!(
        "local uuid = require('uuid')\nlocal M = {{}}\nfunction M.main(...)\n{body}\nend\nreturn M\n"
    );
    let e = Lua {
        modules: &["uuid"],
        ..entry("body", &src)
    };
    let t = TestApp::new(vec![e], 1);
    exit_value(t.run("body", vec![], TIMEOUT))
}

#[test]
fn every_text_form_go_reads_is_valid_and_formats_back() {
    let r = run(r#"
        local id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
        return {
            upper = uuid.format(string.upper(id)),
            simple = uuid.format("6ba7b8109dad11d180b400c04fd430c8"),
            urn = uuid.format("urn:uuid:" .. id, "simple"),
            braced = uuid.format("{" .. id .. "}", "urn"),
            bad = tostring(uuid.validate("6ba7b810-9dad-11d1-80b4-00c04fd430cz")),
        }
    "#);
    let id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
    assert_eq!(text(&r, "upper"), id);
    assert_eq!(text(&r, "simple"), id);
    assert_eq!(text(&r, "urn"), "6ba7b8109dad11d180b400c04fd430c8");
    assert_eq!(text(&r, "braced"), format!("urn:uuid:{id}"));
    assert_eq!(text(&r, "bad"), "false");
}

#[test]
fn parse_tells_version_variant_time_and_node() {
    let r = run(r#"
        local before = os.time()
        local info = uuid.parse(uuid.v1())
        local info7 = uuid.parse(uuid.v7())
        local dns = uuid.v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "example.com")
        return {
            v1 = info.version, variant = info.variant, node = #info.node,
            v1_recent = info.timestamp >= before - 1 and info.timestamp <= before + 60,
            v7_recent = info7.timestamp >= before - 1 and info7.timestamp <= before + 60,
            v7_node = info7.node == nil,
            dns = dns, dns_version = uuid.version(dns),
            microsoft = uuid.variant("6ba7b810-9dad-11d1-c0b4-00c04fd430c8"),
        }
    "#);
    assert_eq!(r.get("v1"), Some(&Payload::Int(1)));
    assert_eq!(text(&r, "variant"), "RFC4122");
    assert_eq!(r.get("node"), Some(&Payload::Int(6)));
    assert_eq!(r.get("v1_recent"), Some(&Payload::Bool(true)), "{r:?}");
    assert_eq!(r.get("v7_recent"), Some(&Payload::Bool(true)), "{r:?}");
    assert_eq!(r.get("v7_node"), Some(&Payload::Bool(true)));
    // RFC 4122's own example: the DNS namespace and "example.com".
    assert_eq!(text(&r, "dns"), "cfbff0d1-9375-5685-968c-48ce8b15ae17");
    assert_eq!(r.get("dns_version"), Some(&Payload::Int(5)));
    assert_eq!(text(&r, "microsoft"), "Microsoft");
}

#[test]
fn failures_are_invalid_and_not_retryable_with_wippys_text() {
    let r = run(r#"
        local function why(f, ...)
            local v, err = f(...)
            return tostring(v) .. "|" .. err:kind() .. "|" .. tostring(err:retryable()) .. "|" .. tostring(err)
        end
        return {
            not_string = why(uuid.parse, 42),
            bad = why(uuid.version, "nope"),
            names = why(uuid.v3, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", 7),
            namespace = why(uuid.v5, "nope", "x"),
            format = why(uuid.format, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "braces"),
        }
    "#);
    assert_eq!(
        text(&r, "not_string"),
        "nil|Invalid|false|input must be a string"
    );
    assert_eq!(text(&r, "bad"), "nil|Invalid|false|invalid UUID format");
    assert_eq!(
        text(&r, "names"),
        "nil|Invalid|false|namespace and name must be strings"
    );
    assert_eq!(
        text(&r, "namespace"),
        "nil|Invalid|false|invalid namespace UUID"
    );
    assert_eq!(text(&r, "format"), "nil|Invalid|false|unsupported format");
}
