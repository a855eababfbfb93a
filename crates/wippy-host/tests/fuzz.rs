//! Property tests of what reads app files: the YAML registry loader, and
//! duration and size parsing. Inputs are random text and random entries
//! built from the format's own keys and values, so the loader is driven
//! past its YAML parser into every kind's fields.
//!
//! The normal test run tries proptest's default 256 cases per property. A
//! long run sets `PROPTEST_CASES`, e.g.
//! `PROPTEST_CASES=200000 cargo test -p wippy-host --release --test fuzz`.
//! A failure found is kept as a regression test at the end of this file.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use wippy_host::registry::{LoadErrors, Registry};
use wippy_host::units::{parse_duration, parse_size};

/// What every load result must satisfy, whatever the input: errors name a
/// given file, a line within it (0 = unknown), and say something; loaded
/// entries name their file and a line within it.
fn check_load(files: &[(&str, String)]) -> Result<(), TestCaseError> {
    let lines = |file: &Path| {
        files
            .iter()
            .find(|(p, _)| Path::new(p) == file)
            .map(|(_, text)| text.lines().count() + 1)
    };
    match Registry::load_files(files.iter().map(|(p, t)| (*p, t.as_str()))) {
        Ok(registry) => {
            for entry in registry.entries() {
                let max = lines(&entry.file);
                prop_assert!(max.is_some(), "entry {} from unknown file", entry.id);
                prop_assert!(entry.line >= 1 && Some(entry.line) <= max, "{}", entry.id);
                prop_assert!(entry.id.as_str().contains(':'));
            }
        }
        Err(LoadErrors(errors)) => {
            prop_assert!(!errors.is_empty(), "a failed load names an error");
            for e in &errors {
                prop_assert!(!e.message.is_empty(), "{e}");
                if e.line > 0 {
                    let max = lines(&e.file);
                    prop_assert!(max.is_some(), "error in a file not given: {e}");
                    prop_assert!(Some(e.line) <= max, "line past the end: {e}");
                }
                // Errors are bounded: no echo of a whole input.
                prop_assert!(e.to_string().len() < 4096, "{} bytes", e.to_string().len());
            }
        }
    }
    Ok(())
}

/// A YAML scalar, list or map, as the format's values look (and some that
/// do not).
fn value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just("~".to_owned()),
        Just("true".to_owned()),
        Just("\"\"".to_owned()),
        (-5i64..100_000).prop_map(|n| n.to_string()),
        (0.0f64..10.0).prop_map(|f| format!("{f:.2}")),
        "[0-9]{1,4}(ns|us|ms|s|m|h|MB|KB|GB|B|x)".prop_map(|s| s),
        "(app|lib|x)(\\.[a-z]{1,3})?:[a-z_]{1,6}",
        "file://[a-z./]{0,12}(\\.lua)?",
        "[a-zA-Z_ -]{0,12}".prop_map(|s| format!("\"{s}\"")),
        prop::sample::select(vec![
            "process.lua",
            "library.lua",
            "process.host",
            "terminal.host",
            "process.service",
            "security.policy",
            "http.service",
            "shared",
            "dedicated",
            "allow",
            "deny",
            "time",
            "json",
            "http",
            "io",
            "required",
            "optional",
            "*",
        ])
        .prop_map(str::to_owned),
    ];
    scalar.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec((key(), inner), 0..4).prop_map(|pairs| {
                let body: Vec<String> = pairs
                    .into_iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

/// A key of the format (any level), or a near miss.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "kind",
            "meta",
            "source",
            "method",
            "modules",
            "imports",
            "host",
            "workers",
            "memory_limit",
            "max_processes",
            "isolation",
            "time_slice",
            "cancel_deadline",
            "queue_size",
            "lifecycle",
            "auto_start",
            "requires",
            "depends_on",
            "startup",
            "stop_timeout",
            "restart",
            "delay",
            "initial_delay",
            "max_attempts",
            "jitter",
            "backoff_factor",
            "security",
            "actor",
            "policies",
            "groups",
            "policy",
            "actions",
            "resources",
            "effect",
            "conditions",
            "process",
            "input",
            "args",
            "accept_from",
            "hide_logs",
            "lifecycel",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,8}",
    ]
}

/// An index file of random entries, some well formed.
fn index() -> impl Strategy<Value = String> {
    let entry = (
        "[a-z_.-]{0,8}",
        value(),
        prop::collection::vec((key(), value()), 0..6),
    )
        .prop_map(|(name, kind, fields)| {
            let mut text = format!("  - name: {name}\n    kind: {kind}\n");
            for (k, v) in fields {
                text.push_str(&format!("    {k}: {v}\n"));
            }
            text
        });
    (
        prop::sample::select(vec!["app", "lib", "x.y", "", "1bad"]),
        prop::collection::vec(entry, 0..6),
    )
        .prop_map(|(ns, entries)| {
            format!(
                "version: \"1.0\"\nnamespace: {ns}\nentries:\n{}",
                entries.concat()
            )
        })
}

proptest! {
    #[test]
    fn the_loader_never_panics_on_any_text(text in "\\PC{0,300}") {
        check_load(&[("app/_index.yaml", text)])?;
    }

    #[test]
    fn the_loader_never_panics_on_yaml_shaped_text(text in "([a-z:{}\\[\\],&*!|>#'\" \\n-]|  ){0,200}") {
        check_load(&[("app/_index.yaml", text)])?;
    }

    #[test]
    fn the_loader_reports_errors_with_lines_on_random_entries(
        a in index(),
        b in index(),
        lua in "\\PC{0,40}",
    ) {
        check_load(&[
            ("app/_index.yaml", a),
            ("app/lib/_index.yaml", b),
            ("app/main.lua", lua.clone()),
            ("app/lib/x.lua", lua),
        ])?;
    }

    #[test]
    fn durations_parse_or_fail_without_panicking(text in "\\PC{0,40}") {
        let _ = parse_duration(&text);
    }

    #[test]
    fn durations_of_go_form_sum_their_parts(parts in prop::collection::vec((0u64..100_000, 0usize..6), 1..5)) {
        const UNITS: [(&str, u64); 6] = [
            ("ns", 1),
            ("us", 1_000),
            ("ms", 1_000_000),
            ("s", 1_000_000_000),
            ("m", 60_000_000_000),
            ("h", 3_600_000_000_000),
        ];
        let text: String = parts.iter().map(|&(n, u)| format!("{n}{}", UNITS[u].0)).collect();
        let want: u64 = parts.iter().map(|&(n, u)| n * UNITS[u].1).sum();
        // Parsed through f64: exact up to 2^53 ns (104 days).
        let got = parse_duration(&text).map(|d| d.as_nanos());
        prop_assert!(got.is_ok(), "{text}: {got:?}");
        let got = got.unwrap_or_default();
        let tolerance = (want as f64 * 1e-15) as u128 + 1;
        prop_assert!(got.abs_diff(u128::from(want)) <= tolerance, "{text}: {got} != {want}");
    }

    #[test]
    fn sizes_parse_or_fail_without_panicking(text in "\\PC{0,40}") {
        let _ = parse_size(&text);
    }

    #[test]
    fn sizes_with_units_are_1024_based(n in 0u64..1_000_000, unit in 0usize..4) {
        let (name, scale) = [("B", 1u64), ("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30)][unit];
        prop_assert_eq!(parse_size(&format!("{n}{name}")), Ok(n * scale));
    }
}

#[test]
fn a_lone_sign_is_not_a_duration() {
    for text in ["+", " + "] {
        assert!(parse_duration(text).is_err(), "{text:?} parsed");
    }
    assert_eq!(parse_duration("+1s"), Ok(Duration::from_secs(1)));
}

#[test]
fn a_size_too_large_for_64_bits_is_an_error_not_the_largest_size() {
    let err = parse_size("99999999999999999999GB").unwrap_err();
    assert_eq!(
        err.to_string(),
        "size `99999999999999999999GB` is too large"
    );
}
