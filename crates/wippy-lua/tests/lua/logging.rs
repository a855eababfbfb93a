//! The `logger` module's records as a log collector sees them: level,
//! message, the process's pid and entry id, the logger's name, and its
//! fields as one JSON object (tables stay structured).

use std::io::Write;
use std::sync::{Arc, Mutex};

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

const BODY: &str = r#"
local logger = require("logger")
local M = {}
function M.main()
    local log = logger:named("svc"):with({ k = 1, t = { a = { 1, 2 } } })
    log:warn("hello", { x = 2, f = print, k = "again" })
    return true
end
return M
"#;

#[test]
fn a_log_record_carries_pid_entry_name_and_structured_fields() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let t = TestApp::new(
        vec![Lua {
            modules: &["logger"],
            ..entry("body", BODY)
        }],
        1,
    );
    assert_eq!(
        exit_value(t.run("body", vec![], TIMEOUT)),
        wippy_process::Payload::Bool(true)
    );
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("\"hello\""))
        .unwrap_or_else(|| panic!("no record of the log call in:\n{text}"));
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["level"], "WARN");
    let f = &record["fields"];
    assert_eq!(f["message"], "hello");
    assert_eq!(f["entry"], "app:body");
    assert_eq!(f["logger"], "svc");
    assert!(
        f["pid"].as_str().unwrap().starts_with("{app:workers|"),
        "{f}"
    );
    let fields: serde_json::Value = serde_json::from_str(f["fields"].as_str().unwrap()).unwrap();
    assert_eq!(
        fields["k"], "again",
        "a call's field replaces a `with` one: {fields}"
    );
    assert_eq!(fields["t"], serde_json::json!({ "a": [1, 2] }));
    assert_eq!(fields["x"], 2);
    assert!(
        fields["f"].as_str().unwrap().starts_with("function"),
        "{fields}"
    );
}
