//! The `logger` module's lines as a log collector sees them (reference
//! §7.2): level, message, the process's pid and the caller's location, the
//! logger's name, and its fields as one JSON object with their types; error
//! objects as fields, `:error`'s standard error field, `named` and `print`.
//!
//! The tests share one subscriber (there is one global default per test
//! binary); each finds its own lines by their messages.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use crate::common::*;

/// Every byte the subscriber writes, from any thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured output of the binary's subscriber (JSON lines, DEBUG and
/// up), installed on first use.
fn captured() -> &'static Captured {
    static OUT: OnceLock<Captured> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        out
    })
}

/// Runs `body` as the main function of `app:body` (which may use the
/// logger) and returns what it returned.
fn run(body: &str) -> wippy_process::Payload {
    captured();
    let src = format!(
        "local logger = require('logger')\nlocal M = {{}}\nfunction M.main()\n{body}\nend\nreturn M\n"
    );
    let t = TestApp::new(
        vec![Lua {
            modules: &["logger"],
            ..entry("body", &src)
        }],
        1,
    );
    exit_value(t.run("body", vec![], TIMEOUT))
}

/// The record whose message is `msg` (its top level: `level`, `fields`).
fn record(msg: &str) -> serde_json::Value {
    let text = String::from_utf8(captured().0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(&format!("\"message\":\"{msg}\"")))
        .unwrap_or_else(|| panic!("no record of {msg:?} in:\n{text}"));
    serde_json::from_str(line).unwrap()
}

/// A record's Lua fields (the `fields` JSON object).
fn lua_fields(record: &serde_json::Value) -> serde_json::Value {
    serde_json::from_str(record["fields"]["fields"].as_str().unwrap()).unwrap()
}

#[test]
fn a_log_record_carries_pid_location_name_and_typed_fields() {
    // The log call is on line 6 of the entry (the body starts on line 4).
    run(r#"
    local log = logger:named("svc"):with({ k = 1, t = { a = { 1, 2 } } })
    log:warn("hello", { x = 2, f = print, k = "again", ratio = 2.5, on = true })
    "#);
    let record = record("hello");
    assert_eq!(record["level"], "WARN");
    let f = &record["fields"];
    assert_eq!(f["location"], "app:body:6");
    assert_eq!(f["logger"], "svc");
    assert!(
        f["pid"].as_str().unwrap().starts_with("{app:workers|"),
        "{f}"
    );
    let fields = lua_fields(&record);
    assert_eq!(
        fields["k"], "again",
        "a call's field replaces a `with` one: {fields}"
    );
    assert_eq!(fields["t"], serde_json::json!({ "a": [1, 2] }));
    assert_eq!(fields["x"], 2);
    assert_eq!(fields["ratio"], 2.5);
    assert_eq!(fields["on"], true);
    assert!(
        fields["f"].as_str().unwrap().starts_with("function"),
        "{fields}"
    );
}

#[test]
fn error_objects_are_kept_and_the_error_key_of_error_is_the_standard_field() {
    let r = run(r#"
    local boom = errors.new({ message = "boom", kind = errors.NOT_FOUND })
    local t = { error = boom, cause = errors.new("plain"), n = 1 }
    logger:error("failed to load", t)
    local info = { error = "kept" }
    logger:info("with an error key", info)
    return { removed = t.error == nil, kept = info.error }
    "#);
    assert_eq!(r.get("removed"), Some(&wippy_process::Payload::Bool(true)));
    assert_eq!(
        r.get("kept"),
        Some(&wippy_process::Payload::Str("kept".into()))
    );
    let failed = record("failed to load");
    assert_eq!(failed["level"], "ERROR");
    let fields = lua_fields(&failed);
    assert_eq!(fields["error"], "boom");
    assert_eq!(fields["error_kind"], "NotFound");
    assert_eq!(fields["cause"], serde_json::json!({ "message": "plain" }));
    assert_eq!(fields["n"], 1);
    let info = lua_fields(&record("with an error key"));
    assert_eq!(info["error"], "kept");
}

#[test]
fn named_loggers_nest_and_an_empty_name_raises() {
    let r = run(r#"
    logger:named("a"):named("b"):debug("nested name")
    local ok, err = pcall(function() return logger:named("") end)
    return { ok = ok, err = tostring(err) }
    "#);
    assert_eq!(r.get("ok"), Some(&wippy_process::Payload::Bool(false)));
    let nested = record("nested name");
    assert_eq!(nested["level"], "DEBUG");
    assert_eq!(nested["fields"]["logger"], "a.b");
    assert!(
        nested["fields"].get("fields").is_none(),
        "no fields, no `fields`: {nested}"
    );
}

#[test]
fn print_is_an_info_line_of_its_arguments_joined_by_a_space() {
    run(r#"
    print("printed", 1, true, nil, 2.5)
    "#);
    let printed = record("printed 1 true nil 2.5");
    assert_eq!(printed["level"], "INFO");
    assert_eq!(printed["fields"]["location"], "app:body:5");
    assert!(
        printed["fields"]["pid"]
            .as_str()
            .unwrap()
            .starts_with("{app:workers|"),
        "{printed}"
    );
}
