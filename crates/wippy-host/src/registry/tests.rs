//! Loader tests: a valid app of every kind, and files full of mistakes.

use std::path::Path;
use std::time::Duration;

use wippy_process::Payload;

use super::*;

/// Loads an app of index files (`(path, yaml)` pairs) and the Lua sources
/// they name (`(path, code)`), through [`Registry::load_files`].
fn load(indexes: &[(&str, &str)], files: &[(&str, &str)]) -> Result<Registry, LoadErrors> {
    Registry::load_files(indexes.iter().chain(files).copied())
}

fn id(s: &str) -> EntryId {
    s.parse().unwrap()
}

const APP: &str = r#"
version: "1.0"
namespace: app
entries:
  - name: main
    kind: process.lua
    meta: { comment: "the entry point" }
    source: file://main.lua
    method: run
    modules: [time, logger]
    imports: { util: app.lib:util }
    owner: team-a          # unknown, far from every field: kept in meta

  - name: check
    kind: function.lua
    meta: { type: test }
    source: file://check.lua
    method: check

  - name: workers
    kind: process.host
    host:
      workers: 4
      queue_size: 1024
      local_queue_size: 256
      max_processes: 10000
      isolation: dedicated
      memory_limit: 64MB
      time_slice: 2ms
      cancel_deadline: 250       # integer: milliseconds
    modules: [time]
    security:
      policies: [app:allow_all]
    accept_from: [app:terminal]
    lifecycle:
      auto_start: true

  - name: terminal
    kind: terminal.host
    hide_logs: true

  - name: svc
    kind: process.service
    process: app:main
    host: app:workers
    input: [1, 2.5, "x", true, null, [1], { k: v }]
    lifecycle:
      auto_start: true
      startup: optional
      requires: [app:workers]
      depends_on: [app:terminal, app:workers]
      start_timeout: 20s
      stop_timeout: 1500
      stable_threshold: 2m
      restart:
        max_attempts: 3
        initial_delay: 500ms
        backoff_factor: 1.5
        max_delay: 1m
        jitter: 0
      security:
        actor: { id: svc, meta: { role: worker } }
        policies: [app:allow_all]
        groups: [workers]

  - name: allow_all
    kind: security.policy
    policy:
      actions: "*"
      resources: [app:*, "fs:/tmp/*"]
      effect: allow
      conditions:
        - { field: actor.meta.role, operator: in, value: [admin, worker] }
    groups: [admins]
"#;

const LIB: &str = r#"
namespace: app.lib
entries:
  - name: util
    kind: library.lua
    source: file://util/util.lua
"#;

#[test]
fn valid_app_with_every_kind_loads() {
    let reg = load(
        &[("app/_index.yaml", APP), ("app/lib/_index.yaml", LIB)],
        &[
            ("app/main.lua", "return { run = function() end }"),
            ("app/check.lua", "return { check = function() end }"),
            ("app/lib/util/util.lua", "return {}"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reg.len(), 7);

    let main = reg.get(&id("app:main")).unwrap();
    assert_eq!(main.kind, EntryKind::ProcessLua);
    assert_eq!(main.file, Path::new("app/_index.yaml"));
    assert_eq!(main.line, 5);
    assert_eq!(main.meta_str("comment"), Some("the entry point"));
    assert_eq!(main.meta_str("owner"), Some("team-a"));
    let lua = main.lua().unwrap();
    assert_eq!(lua.path, Path::new("app/main.lua"));
    assert_eq!(&*lua.source, "return { run = function() end }");
    assert_eq!(lua.method.as_deref(), Some("run"));
    assert_eq!(lua.modules, ["time", "logger"]);
    assert_eq!(lua.imports.get("util"), Some(&id("app.lib:util")));

    let check = reg.get(&id("app:check")).unwrap();
    assert_eq!(check.kind, EntryKind::FunctionLua);
    assert_eq!(check.meta_str("type"), Some("test"));

    let util = reg.get(&id("app.lib:util")).unwrap();
    assert_eq!(util.lua().unwrap().method, None);
    assert_eq!(util.lua().unwrap().path, Path::new("app/lib/util/util.lua"));

    let EntrySpec::Host(host) = &reg.get(&id("app:workers")).unwrap().spec else {
        panic!("not a host");
    };
    assert_eq!(host.workers, Some(4));
    assert_eq!(host.queue_size, Some(1024));
    assert_eq!(host.local_queue_size, Some(256));
    assert_eq!(host.max_processes, Some(10000));
    assert_eq!(host.isolation, Isolation::Dedicated);
    assert_eq!(host.memory_limit, Some(64 << 20));
    assert_eq!(host.time_slice, Some(Duration::from_millis(2)));
    assert_eq!(host.cancel_deadline, Some(Duration::from_millis(250)));
    assert_eq!(host.modules.as_deref(), Some(&["time".to_string()][..]));
    assert_eq!(
        host.security.as_ref().unwrap().policies,
        [id("app:allow_all")]
    );
    assert_eq!(host.accept_from.as_deref(), Some(&[id("app:terminal")][..]));
    assert!(host.lifecycle.auto_start);

    let EntrySpec::Terminal(term) = &reg.get(&id("app:terminal")).unwrap().spec else {
        panic!("not a terminal");
    };
    assert!(term.hide_logs);
    assert!(!term.lifecycle.auto_start);

    let EntrySpec::Service(svc) = &reg.get(&id("app:svc")).unwrap().spec else {
        panic!("not a service");
    };
    assert_eq!(svc.process, id("app:main"));
    assert_eq!(svc.host, id("app:workers"));
    assert_eq!(
        svc.input,
        [
            Payload::Int(1),
            Payload::Float(2.5),
            Payload::from("x"),
            Payload::Bool(true),
            Payload::Nil,
            Payload::Array(vec![Payload::Int(1)]),
            Payload::map([("k", Payload::from("v"))]),
        ]
    );
    let lc = &svc.lifecycle;
    assert!(lc.auto_start);
    assert_eq!(lc.startup, Startup::Optional);
    // `depends_on` is merged into `requires`, without repeats.
    assert_eq!(lc.requires, [id("app:workers"), id("app:terminal")]);
    assert_eq!(lc.start_timeout, Duration::from_secs(20));
    assert_eq!(lc.stop_timeout, Duration::from_millis(1500));
    assert_eq!(lc.stable_threshold, Duration::from_secs(120));
    assert_eq!(
        lc.restart,
        RestartSpec {
            max_attempts: 3,
            initial_delay: Duration::from_millis(500),
            backoff_factor: 1.5,
            max_delay: Duration::from_secs(60),
            jitter: 0.0,
        }
    );
    let sec = lc.security.as_ref().unwrap();
    assert_eq!(sec.actor_id.as_deref(), Some("svc"));
    assert_eq!(sec.actor_meta.get("role"), Some(&Payload::from("worker")));
    assert_eq!(sec.policies, [id("app:allow_all")]);
    assert_eq!(sec.groups, ["workers"]);

    let EntrySpec::Policy(policy) = &reg.get(&id("app:allow_all")).unwrap().spec else {
        panic!("not a policy");
    };
    assert_eq!(policy.actions, ["*"]);
    assert_eq!(policy.resources, ["app:*", "fs:/tmp/*"]);
    assert!(policy.allow);
    assert_eq!(policy.conditions.len(), 1);
    assert_eq!(policy.groups, ["admins"]);

    // The policy as the security layer sees it, reached by id and group.
    let policies = reg.policies();
    let worker = wippy_security::Actor::new("w").with_meta([("role", Payload::from("worker"))]);
    let p = policies.get("app:allow_all").expect("the policy by id");
    assert!(p.applies(&wippy_security::Request::new(
        &worker,
        "process.spawn",
        "app:x"
    )));
    let guest = wippy_security::Actor::new("g");
    assert!(!p.applies(&wippy_security::Request::new(
        &guest,
        "process.spawn",
        "app:x"
    )));
    assert_eq!(policies.group("admins").len(), 1);
    let principal = sec.principal(&policies).unwrap();
    assert_eq!(principal.actor().id(), "svc");
    assert!(principal.decide(None, "process.send", "app:workers", None));
    assert!(!principal.decide(None, "process.send", "sys:workers", None));
}

#[test]
fn defaults_apply_when_optional_fields_are_absent_or_null() {
    let reg = load(
        &[(
            "_index.yaml",
            "namespace: app\nentries:\n  - name: svc\n    kind: process.service\n    process: app:p\n    host: app:h\n    lifecycle:\n      restart:\n  - name: p\n    kind: process.lua\n    source: file://p.lua\n    method: main\n    modules:\n  - name: h\n    kind: process.host\n",
        )],
        &[("p.lua", "")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let EntrySpec::Service(svc) = &reg.get(&id("app:svc")).unwrap().spec else {
        panic!("not a service");
    };
    // Wippy's defaults (docs/registry.md).
    let lc = &svc.lifecycle;
    assert_eq!(
        lc.restart,
        RestartSpec {
            max_attempts: 0,
            initial_delay: Duration::from_secs(1),
            backoff_factor: 2.0,
            max_delay: Duration::from_secs(90),
            jitter: 0.1,
        }
    );
    assert!(!lc.auto_start);
    assert_eq!(lc.startup, Startup::Required);
    assert!(lc.requires.is_empty());
    assert_eq!(lc.start_timeout, Duration::from_secs(10));
    assert_eq!(lc.stop_timeout, Duration::from_secs(10));
    assert_eq!(lc.stable_threshold, Duration::from_secs(5));
    assert!(svc.input.is_empty());
    let EntrySpec::Host(host) = &reg.get(&id("app:h")).unwrap().spec else {
        panic!("not a host");
    };
    assert_eq!(host.workers, None);
    assert_eq!(host.isolation, Isolation::Shared);
    assert_eq!(host.modules, None);
}

/// Finds the one error at `path` in `file`.
fn error_at<'a>(errors: &'a LoadErrors, file: &str, path: &str) -> &'a LoadError {
    let found: Vec<_> = errors
        .0
        .iter()
        .filter(|e| e.file == Path::new(file) && e.path.as_deref() == Some(path))
        .collect();
    assert_eq!(found.len(), 1, "errors at {file} {path} in:\n{errors}");
    found[0]
}

const BROKEN: &str = r#"namespace: app
entries:
  - name: main
    kind: process.lua
    source: file://main.lua
    metod: main
  - name: gone
    kind: process.lua
    source: file://gone.lua
    method: main
  - name: nomethod
    kind: function.lua
    source: file://main.lua
  - name: weird
    kind: process.lau
  - name: workers
    kind: process.host
    host:
      workers: "two"
      isolation: dedicate
    lifecycle:
      restart:
        delya: 1s
  - name: main
    kind: library.lua
    source: file://main.lua
  - name: svc
    kind: process.service
    process: app:workers
    host: app:nowhere
  - name: user
    kind: function.lua
    source: file://main.lua
    method: main
    imports: { util: app:main, other: app.lib:nothing }
"#;

const BAD_SYNTAX: &str = "namespace: bad\nentries:\n  - name: x\n    kind: [process.lua\n";

const NO_NAMESPACE: &str =
    "entries:\n  - kind: process.lua\n    source: file://main.lua\n    method: main\n";

#[test]
fn every_error_of_every_file_is_reported_with_file_line_and_entry() {
    let errors = load(
        &[
            ("a/_index.yaml", BROKEN),
            ("b/_index.yaml", BAD_SYNTAX),
            ("c/_index.yaml", NO_NAMESPACE),
        ],
        &[("a/main.lua", "return {}"), ("c/main.lua", "return {}")],
    )
    .unwrap_err();
    let a = "a/_index.yaml";

    let e = error_at(&errors, a, "entries[0].metod");
    assert_eq!((e.line, e.entry.as_deref()), (6, Some("app:main")));
    assert_eq!(e.message, "unknown field");
    assert_eq!(e.suggestion.as_deref(), Some("did you mean method?"));
    assert_eq!(
        e.to_string(),
        "a/_index.yaml:6: [app:main] entries[0].metod: unknown field; did you mean method?"
    );
    let e = error_at(&errors, a, "entries[0].method");
    assert_eq!((e.line, e.message.as_str()), (3, "missing required field"));

    let e = error_at(&errors, a, "entries[1].source");
    assert_eq!((e.line, e.entry.as_deref()), (9, Some("app:gone")));
    assert!(
        e.message.starts_with("cannot read source a/gone.lua"),
        "{e}"
    );

    let e = error_at(&errors, a, "entries[2].method");
    assert_eq!((e.line, e.entry.as_deref()), (11, Some("app:nomethod")));

    let e = error_at(&errors, a, "entries[3].kind");
    assert_eq!((e.line, e.entry.as_deref()), (15, Some("app:weird")));
    assert!(
        e.message
            .starts_with("unknown kind \"process.lau\"; known kinds: process.lua,")
    );
    assert_eq!(e.suggestion.as_deref(), Some("did you mean process.lua?"));

    let e = error_at(&errors, a, "entries[4].host.workers");
    assert_eq!((e.line, e.entry.as_deref()), (19, Some("app:workers")));
    assert_eq!(
        e.message,
        "expected an integer of at least 1, found string \"two\""
    );
    let e = error_at(&errors, a, "entries[4].host.isolation");
    assert_eq!(e.line, 20);
    assert_eq!(e.suggestion.as_deref(), Some("did you mean dedicated?"));
    let e = error_at(&errors, a, "entries[4].lifecycle.restart.delya");
    assert_eq!((e.line, e.message.as_str()), (23, "unknown field"));
    assert_eq!(e.suggestion.as_deref(), Some("did you mean delay?"));

    let e = error_at(&errors, a, "entries[5]");
    assert_eq!((e.line, e.entry.as_deref()), (24, Some("app:main")));
    assert_eq!(
        e.message,
        "duplicate entry id app:main, first declared at a/_index.yaml:3"
    );

    // References are checked against every file; kinds must fit.
    let e = error_at(&errors, a, "entries[6].process");
    assert_eq!((e.line, e.entry.as_deref()), (29, Some("app:svc")));
    assert_eq!(
        e.message,
        "app:workers is a process.host, expected a process.lua"
    );
    let e = error_at(&errors, a, "entries[6].host");
    assert_eq!(e.line, 30);
    assert_eq!(e.message, "unknown entry app:nowhere");
    let e = error_at(&errors, a, "entries[7].imports.util");
    assert_eq!((e.line, e.entry.as_deref()), (35, Some("app:user")));
    assert_eq!(
        e.message,
        "app:main is a process.lua, expected a library.lua"
    );
    let e = error_at(&errors, a, "entries[7].imports.other");
    assert_eq!(e.message, "unknown entry app.lib:nothing");

    let bad: Vec<_> = errors
        .0
        .iter()
        .filter(|e| e.file == Path::new("b/_index.yaml"))
        .collect();
    assert_eq!(bad.len(), 1, "{errors}");
    assert!(bad[0].message.starts_with("invalid YAML"), "{}", bad[0]);
    assert_eq!((bad[0].line, bad[0].entry.as_deref()), (5, None));

    let e = error_at(&errors, "c/_index.yaml", "namespace");
    assert_eq!((e.line, e.message.as_str()), (1, "missing required field"));
    let e = error_at(&errors, "c/_index.yaml", "entries[0].name");
    assert_eq!((e.line, e.entry.as_deref()), (2, None));

    // Sorted by file (in the order given), then line.
    let order: Vec<_> = errors.0.iter().map(|e| (e.file.clone(), e.line)).collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|(f, l)| (f.clone(), *l));
    assert_eq!(order, sorted);
    assert_eq!(errors.0.len(), 16, "{errors}");
}

#[test]
fn bad_policy_conditions_and_accept_from_are_errors_at_their_line() {
    let text = r#"namespace: app
entries:
  - name: p
    kind: security.policy
    policy:
      actions: "*"
      resources: "*"
      effect: allow
      conditions:
        - { field: actor.role, operator: eq, value: x }
        - { field: action, operatr: eq, value: x }
        - { field: action, operator: matches, value: "(" }
        - { field: resource, operator: in, value: x }
  - name: h
    kind: process.host
    accept_from: [app:p, app:nowhere]
"#;
    let errors = load(&[("_index.yaml", text)], &[]).unwrap_err();
    let e = error_at(&errors, "_index.yaml", "entries[0].policy.conditions[0]");
    assert_eq!((e.line, e.entry.as_deref()), (10, Some("app:p")));
    assert!(
        e.message.contains("unknown condition field \"actor.role\""),
        "{e}"
    );
    let e = error_at(
        &errors,
        "_index.yaml",
        "entries[0].policy.conditions[1].operatr",
    );
    assert_eq!(e.suggestion.as_deref(), Some("did you mean operator?"));
    let e = error_at(
        &errors,
        "_index.yaml",
        "entries[0].policy.conditions[1].operator",
    );
    assert_eq!((e.line, e.message.as_str()), (11, "missing required field"));
    let e = error_at(&errors, "_index.yaml", "entries[0].policy.conditions[2]");
    assert!(e.message.contains("invalid regular expression"), "{e}");
    let e = error_at(&errors, "_index.yaml", "entries[0].policy.conditions[3]");
    assert!(e.message.contains("in needs a list"), "{e}");
    let e = error_at(&errors, "_index.yaml", "entries[1].accept_from[0]");
    assert_eq!(
        e.message,
        "app:p is a security.policy, expected a process.host or terminal.host"
    );
    let e = error_at(&errors, "_index.yaml", "entries[1].accept_from[1]");
    assert_eq!(
        (e.line, e.message.as_str()),
        (16, "unknown entry app:nowhere")
    );
    assert_eq!(errors.0.len(), 7, "{errors}");
}

#[test]
fn far_unknown_fields_go_to_meta_and_near_ones_are_errors() {
    let text = "namespace: app\nentries:\n  - name: t\n    kind: terminal.host\n    data: 1\n    meta: { owner: a }\n    owner: b\n";
    let reg = load(&[("_index.yaml", text)], &[]).unwrap_or_else(|e| panic!("{e}"));
    let t = reg.get(&id("app:t")).unwrap();
    assert_eq!(t.meta.get("data"), Some(&Payload::Int(1)));
    assert_eq!(t.meta_str("owner"), Some("a"), "explicit meta wins");

    let text = "namespace: app\nentries:\n  - name: t\n    kind: terminal.host\n    lifecycel: {}\n    hide_log: true\n";
    let errors = load(&[("_index.yaml", text)], &[]).unwrap_err();
    let e = error_at(&errors, "_index.yaml", "entries[0].lifecycel");
    assert_eq!(e.suggestion.as_deref(), Some("did you mean lifecycle?"));
    let e = error_at(&errors, "_index.yaml", "entries[0].hide_log");
    assert_eq!(e.suggestion.as_deref(), Some("did you mean hide_logs?"));
}

#[test]
fn wrong_values_name_the_field_and_the_expected_type() {
    let text = r#"namespace: app
entries:
  - name: h
    kind: process.host
    host: { memory_limit: lots, time_slice: 2 parsecs, max_processes: 0 }
    lifecycle:
      auto_start: "yes"
      depends_on: [h]
      start_timeout: 1.5
      restart: { delay: 1s, initial_delay: 2s, jitter: 2 }
  - name: p
    kind: security.policy
    policy: { actions: [1], effect: alow }
"#;
    let errors = load(&[("_index.yaml", text)], &[]).unwrap_err();
    let f = "_index.yaml";
    let message = |path| error_at(&errors, f, path).message.clone();
    assert!(message("entries[0].host.memory_limit").starts_with("invalid size `lots`"));
    assert!(message("entries[0].host.time_slice").starts_with("invalid duration"));
    assert_eq!(
        message("entries[0].host.max_processes"),
        "must be at least 1, found 0"
    );
    assert_eq!(
        message("entries[0].lifecycle.auto_start"),
        "expected true or false, found string \"yes\""
    );
    let e = error_at(&errors, f, "entries[0].lifecycle.depends_on[0]");
    assert_eq!(e.suggestion.as_deref(), Some("did you mean app:h?"));
    assert!(message("entries[0].lifecycle.start_timeout").contains("integer milliseconds"));
    assert_eq!(
        message("entries[0].lifecycle.restart.initial_delay"),
        "delay and initial_delay both given"
    );
    assert_eq!(
        message("entries[0].lifecycle.restart.jitter"),
        "must be between 0 and 1, found 2"
    );
    assert_eq!(
        message("entries[1].policy.actions[0]"),
        "expected a string, found integer 1"
    );
    let e = error_at(&errors, f, "entries[1].policy.effect");
    assert_eq!(e.suggestion.as_deref(), Some("did you mean allow?"));
    assert_eq!(
        message("entries[1].policy.resources"),
        "missing required field"
    );
    assert_eq!(errors.0.len(), 11, "{errors}");
}

#[test]
fn service_fields_that_are_not_wippys_say_where_wippy_has_them() {
    let text = r#"namespace: app
entries:
  - name: s
    kind: process.service
    process: app:p
    host: app:h
    args: [1]
    lifecycle:
      startup: optinal
      restart: { stable_threshold: 5s, backoff_factor: 0.5 }
  - name: t
    kind: process.service
    process: app:p
    host: app:h
    lifecycle: { restart: { backoff_factor: 0 } }
  - { name: p, kind: process.lua, source: "file://p.lua", method: main }
  - { name: h, kind: process.host }
"#;
    let errors = load(&[("_index.yaml", text)], &[("p.lua", "return {}")]).unwrap_err();
    let f = "_index.yaml";
    let e = error_at(&errors, f, "entries[0].args");
    assert_eq!(e.message, "process.service has no args field");
    assert!(
        e.suggestion
            .as_deref()
            .unwrap()
            .contains("rename args to input")
    );
    let e = error_at(&errors, f, "entries[0].lifecycle.startup");
    assert_eq!(e.suggestion.as_deref(), Some("did you mean optional?"));
    let e = error_at(&errors, f, "entries[0].lifecycle.restart.stable_threshold");
    assert!(
        e.suggestion
            .as_deref()
            .unwrap()
            .contains("lifecycle.stable_threshold")
    );
    let e = error_at(&errors, f, "entries[0].lifecycle.restart.backoff_factor");
    assert_eq!(e.message, "must be at least 1, found 0.5");
    // 0 stands for the default factor, as in Wippy: no error for t.
    assert_eq!(errors.0.len(), 4, "{errors}");
}

#[test]
fn an_entry_cannot_depend_on_itself() {
    let text = "namespace: app\nentries:\n  - name: h\n    kind: process.host\n    lifecycle: { depends_on: [app:h] }\n";
    let errors = load(&[("_index.yaml", text)], &[]).unwrap_err();
    let e = error_at(&errors, "_index.yaml", "entries[0].lifecycle.depends_on[0]");
    assert_eq!(e.message, "an entry cannot refer to itself");
}

#[test]
fn empty_and_non_map_files_are_errors() {
    let errors = load(
        &[("a/_index.yaml", "# nothing\n"), ("b/_index.yaml", "- 1\n")],
        &[],
    )
    .unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert_eq!(errors.0[0].message, "empty index file");
    assert_eq!(errors.0[1].message, "expected a map, found a list");
}

#[test]
fn a_key_given_twice_is_a_yaml_error_at_its_line() {
    let text = "namespace: app\nentries:\n  - name: a\n    kind: process.lua\n    method: x\n    method: y\n";
    let errors = load(&[("_index.yaml", text)], &[]).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].line, 6, "{errors}");
    assert!(errors.0[0].message.starts_with("invalid YAML"), "{errors}");
}

#[test]
fn unknown_modules_of_lua_entries_and_hosts_are_errors_with_a_fix() {
    let text = r#"namespace: app
entries:
  - name: main
    kind: process.lua
    source: file://main.lua
    method: main
    modules: [time, tiem, util, network]
    imports: { util: app:util }
  - name: util
    kind: library.lua
    source: file://main.lua
    modules: [jsno]
  - name: workers
    kind: process.host
    modules:
      - logger
      - securty
"#;
    let errors = load(&[("_index.yaml", text)], &[("main.lua", "return {}")]).unwrap_err();
    let f = "_index.yaml";
    let e = error_at(&errors, f, "entries[0].modules[1]");
    assert_eq!(
        e.to_string(),
        "_index.yaml:7: [app:main] entries[0].modules[1]: unknown module \"tiem\"; did you mean time?"
    );
    // A library is imported, not listed under modules.
    let e = error_at(&errors, f, "entries[0].modules[2]");
    assert_eq!(e.message, "unknown module \"util\"");
    assert_eq!(
        e.suggestion.as_deref(),
        Some(
            "util is the library app:util under imports; require(\"util\") loads it without listing it under modules"
        )
    );
    let e = error_at(&errors, f, "entries[0].modules[3]");
    let hint = format!(
        "built-in modules: {}; libraries come from imports",
        crate::BUILTIN_MODULES.join(", ")
    );
    assert_eq!(e.suggestion.as_deref(), Some(hint.as_str()));
    let e = error_at(&errors, f, "entries[1].modules[0]");
    assert_eq!((e.line, e.entry.as_deref()), (12, Some("app:util")));
    assert_eq!(e.suggestion.as_deref(), Some("did you mean json?"));
    let e = error_at(&errors, f, "entries[2].modules[1]");
    assert_eq!((e.line, e.entry.as_deref()), (17, Some("app:workers")));
    assert_eq!(e.suggestion.as_deref(), Some("did you mean security?"));
    assert_eq!(errors.0.len(), 5, "{errors}");
}

#[test]
fn every_built_in_module_may_be_listed() {
    let list = crate::BUILTIN_MODULES.join(", ");
    let text = format!(
        "namespace: app\nentries:\n  - name: main\n    kind: process.lua\n    source: file://main.lua\n    method: main\n    modules: [{list}]\n  - name: h\n    kind: process.host\n    modules: [{list}]\n"
    );
    let reg = load(&[("_index.yaml", &text)], &[("main.lua", "return {}")])
        .unwrap_or_else(|e| panic!("{e}"));
    let main = reg.get(&id("app:main")).unwrap().lua().unwrap();
    assert_eq!(main.modules, crate::BUILTIN_MODULES);
}

#[test]
fn in_memory_files_resolve_sources_from_their_index_folder_with_dot_dot() {
    let index = "namespace: app\nentries:\n  - { name: main, kind: process.lua, source: file://../shared/./main.lua, method: main }\n";
    let reg = load(
        &[("app/_index.yaml", index)],
        &[("shared/main.lua", "return { main = function() end }")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let lua = reg.get(&id("app:main")).unwrap().lua().unwrap();
    assert_eq!(&*lua.source, "return { main = function() end }");
    assert_eq!(lua.path, Path::new("app/../shared/./main.lua"));
}

#[test]
fn in_memory_files_name_a_missing_source_a_duplicate_and_a_missing_index() {
    let index = "namespace: app\nentries:\n  - { name: main, kind: process.lua, source: file://main.lua, method: main }\n";
    let errors = load(&[("app/_index.yaml", index)], &[("main.lua", "return {}")]).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(
        errors.0[0].message,
        "cannot read source app/main.lua: not among the app's files"
    );

    let errors = load(
        &[("app/_index.yaml", index)],
        &[
            ("app/main.lua", "return {}"),
            ("app/./main.lua", "return {}"),
        ],
    )
    .unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].file, Path::new("app/./main.lua"));
    assert_eq!(errors.0[0].message, "file given twice");

    let errors = load(&[], &[("app/main.lua", "return {}")]).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "_index.yaml: no _index.yaml among the 1 files of the app"
    );
}

#[test]
fn host_workers_above_the_machine_bound_and_tiny_memory_limits_are_load_errors() {
    let max = crate::limits::max_workers();
    let text = format!(
        "namespace: app\nentries:\n  - name: big\n    kind: process.host\n    host: {{ workers: 100000 }}\n  - name: edge\n    kind: process.host\n    host: {{ workers: {max} }}\n  - name: tiny\n    kind: process.host\n    host: {{ memory_limit: 1 }}\n  - name: unlimited\n    kind: process.host\n    host: {{ memory_limit: 0 }}\n"
    );
    let errors = load(&[("_index.yaml", &text)], &[]).unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors}");
    let e = error_at(&errors, "_index.yaml", "entries[0].host.workers");
    assert_eq!(e.line, 5);
    assert_eq!(
        e.message,
        format!("100000 workers is more than this machine's maximum of {max} (64 per core)")
    );
    let e = error_at(&errors, "_index.yaml", "entries[2].host.memory_limit");
    assert_eq!(e.line, 11);
    assert_eq!(
        e.message,
        "a memory limit of 1 bytes is below the smallest a process can run under, 1MB"
    );
    assert_eq!(
        e.suggestion.as_deref(),
        Some("give a size such as 64MB, or 0 for no limit")
    );

    // Without the two mistakes, the edge of the bound and 0 load.
    let fixed = text
        .replace("workers: 100000", "workers: 1")
        .replace("memory_limit: 1 }", "memory_limit: 1MB }");
    let reg = load(&[("_index.yaml", &fixed)], &[]).unwrap();
    let host = |name: &str| match &reg.get(&id(name)).unwrap().spec {
        EntrySpec::Host(h) => h.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(host("app:edge").workers, Some(max));
    assert_eq!(host("app:unlimited").memory_limit, Some(0));
    assert_eq!(
        crate::limits::memory_limit(host("app:unlimited").memory_limit),
        None
    );
    assert_eq!(
        crate::limits::memory_limit(host("app:big").memory_limit),
        Some(crate::limits::DEFAULT_MEMORY_LIMIT)
    );
}

#[test]
fn a_kind_or_module_wippy_has_and_wippy_rs_lacks_is_a_load_error_that_says_so() {
    let text = r#"namespace: app
entries:
  - name: web
    kind: http.service
    addr: ":8080"
  - name: db
    kind: db.sql.postgres
  - name: main
    kind: process.lua
    source: file://main.lua
    method: main
    modules: [http, json, sql, nosuchmod]
"#;
    let errors = load(&[("_index.yaml", text)], &[("main.lua", "return {}")]).unwrap_err();
    let f = "_index.yaml";
    let e = error_at(&errors, f, "entries[0].kind");
    assert_eq!((e.line, e.entry.as_deref()), (4, Some("app:web")));
    assert_eq!(e.message, "kind http.service is not available in wippy-rs");
    assert!(
        e.suggestion.as_deref().is_some_and(
            |s| s.starts_with("Wippy has it, wippy-rs does not; wippy-rs has: process.lua,")
        ),
        "{e}"
    );
    assert_eq!(
        error_at(&errors, f, "entries[1].kind").message,
        "kind db.sql.postgres is not available in wippy-rs"
    );
    let e = error_at(&errors, f, "entries[2].modules[0]");
    assert_eq!(
        (e.line, e.message.as_str()),
        (12, "module http is not available in wippy-rs")
    );
    assert_eq!(
        error_at(&errors, f, "entries[2].modules[2]").message,
        "module sql is not available in wippy-rs"
    );
    assert_eq!(
        error_at(&errors, f, "entries[2].modules[3]").message,
        "unknown module \"nosuchmod\""
    );
    assert_eq!(errors.0.len(), 5, "{errors}");
    assert!(
        errors.to_string().contains(
            "_index.yaml:4: [app:web] entries[0].kind: kind http.service is not available in wippy-rs; Wippy has it"
        ),
        "{errors}"
    );
}

#[test]
fn wippy_only_lists_never_name_what_wippy_rs_has() {
    for (name, _) in EntryKind::ALL {
        assert!(
            !EntryKind::WIPPY_ONLY.contains(&name),
            "kind {name} is in both lists"
        );
    }
    for name in crate::BUILTIN_MODULES {
        assert!(
            !crate::WIPPY_ONLY_MODULES.contains(name),
            "module {name} is in both lists"
        );
    }
}

#[test]
fn sources_must_stay_inside_the_app_folder_and_file_slash_slash_slash_starts_there() {
    let index = r#"namespace: app
entries:
  - { name: up, kind: library.lua, source: "file://../outside.lua" }
  - { name: deep, kind: library.lua, source: "file://lib/../../outside.lua" }
  - { name: rooted, kind: library.lua, source: "file:///lib/util.lua" }
  - { name: rooted_up, kind: library.lua, source: "file:///../outside.lua" }
  - { name: down_up, kind: library.lua, source: "file://lib/../lib/util.lua" }
"#;
    // The app is the folder of its index files, `app/`; every path reads,
    // so only the rule can refuse one.
    let errors = Registry::load_sources(
        &[Source {
            path: "app/_index.yaml".into(),
            text: index.into(),
        }],
        &|_| Ok("return {}".into()),
    )
    .unwrap_err();
    let f = "app/_index.yaml";
    for (path, source, line) in [
        ("entries[0].source", "file://../outside.lua", 3),
        ("entries[1].source", "file://lib/../../outside.lua", 4),
        ("entries[3].source", "file:///../outside.lua", 6),
    ] {
        let e = error_at(&errors, f, path);
        assert_eq!(
            (e.line, e.message.as_str()),
            (
                line,
                format!("source {source} leads out of the app folder").as_str()
            )
        );
    }
    assert_eq!(errors.0.len(), 3, "{errors}");

    let fine: String = index
        .lines()
        .filter(|l| !l.contains("outside"))
        .collect::<Vec<_>>()
        .join("\n");
    let reg = Registry::load_sources(
        &[Source {
            path: "app/_index.yaml".into(),
            text: fine,
        }],
        &|_| Ok("return {}".into()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let path = |name: &str| reg.get(&id(name)).unwrap().lua().unwrap().path.clone();
    assert_eq!(path("app:rooted"), Path::new("app/lib/util.lua"));
    assert_eq!(path("app:down_up"), Path::new("app/lib/../lib/util.lua"));
}

#[test]
fn a_requires_cycle_is_a_load_error_at_the_reference_that_closes_it() {
    let text = r#"namespace: app
entries:
  - name: h
    kind: process.host
  - name: p
    kind: process.lua
    source: file://p.lua
    method: main
  - name: a
    kind: process.service
    process: app:p
    host: app:h
    lifecycle:
      requires: [app:h, app:b]
  - name: b
    kind: process.service
    process: app:p
    host: app:h
    lifecycle:
      depends_on: [app:a]
"#;
    let errors = load(
        &[("_index.yaml", text)],
        &[("p.lua", "return { main = function() end }")],
    )
    .unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    let e = error_at(&errors, "_index.yaml", "entries[3].lifecycle.depends_on[0]");
    assert_eq!((e.line, e.entry.as_deref()), (20, Some("app:b")));
    assert_eq!(e.message, "requires cycle: app:a -> app:b -> app:a");
}

#[test]
fn max_mailbox_is_a_host_setting_of_at_least_one() {
    let text = r#"namespace: app
entries:
  - { name: a, kind: process.host, host: { max_mailbox: 5000 } }
  - { name: b, kind: process.host, host: { max_mailbox: 0 } }
"#;
    let errors = load(&[("_index.yaml", text)], &[]).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(
        error_at(&errors, "_index.yaml", "entries[1].host.max_mailbox").message,
        "must be at least 1, found 0"
    );
    let text = "namespace: app\nentries:\n  - { name: a, kind: process.host, host: { max_mailbox: 5000 } }\n";
    let reg = load(&[("_index.yaml", text)], &[]).unwrap();
    let EntrySpec::Host(host) = &reg.get(&id("app:a")).unwrap().spec else {
        panic!("not a host");
    };
    assert_eq!(host.max_mailbox, Some(5000));
}

const DATA_AND_ENV: &str = r#"
version: "1.0"
namespace: app
entries:
  - name: plugin
    kind: registry.entry
    meta: { type: plugin }
    title: Plugin one
    options: { level: 3 }
  - name: explicit
    kind: registry.entry
    data: [1, two, { prompt: file://prompts/hello.txt }]
  - name: main
    kind: process.lua
    source: file://main.lua
    method: main
    owner: team-a
  - { name: mem, kind: env.storage.memory }
  - { name: os, kind: env.storage.os }
  - { name: fixed, kind: env.storage.static, values: { A: x, N: 3 } }
  - { name: file, kind: env.storage.file, file_path: .env, auto_create: true, file_mode: "0600" }
  - { name: chain, kind: env.storage.router, storages: [app:mem, app:os] }
  - { name: port, kind: env.variable, variable: PORT, storage: app:chain, default: 8080, readonly: true }
  - { name: plain, kind: env.variable, storage: app:mem, default: "", read_only: true }
"#;

#[test]
fn registry_entries_keep_their_fields_as_data() {
    let reg = load(
        &[("_index.yaml", DATA_AND_ENV)],
        &[("main.lua", "return {}"), ("prompts/hello.txt", "Hello!\n")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let plugin = reg.get(&id("app:plugin")).unwrap();
    assert_eq!(plugin.kind, EntryKind::RegistryEntry);
    assert_eq!(plugin.meta_str("type"), Some("plugin"));
    assert_eq!(plugin.data.get("title"), Some(&Payload::from("Plugin one")));
    assert_eq!(
        plugin.data.get("options").and_then(|o| o.get("level")),
        Some(&Payload::Int(3))
    );
    assert!(!plugin.meta.contains_key("title"), "data is not meta");
    let explicit = reg.get(&id("app:explicit")).unwrap();
    // A `file://` string is the file's text.
    assert_eq!(
        explicit.data,
        Payload::Array(vec![
            Payload::Int(1),
            Payload::from("two"),
            Payload::Map(vec![(Payload::from("prompt"), Payload::from("Hello!\n"))]),
        ])
    );
    // Other kinds: their own fields are the data; unknown ones stay meta.
    let main = reg.get(&id("app:main")).unwrap();
    assert_eq!(main.data.get("method"), Some(&Payload::from("main")));
    assert_eq!(main.meta_str("owner"), Some("team-a"));
}

#[test]
fn env_entries_are_typed() {
    let reg = load(
        &[("_index.yaml", DATA_AND_ENV)],
        &[("main.lua", "return {}"), ("prompts/hello.txt", "Hello!\n")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let spec = |name: &str| reg.get(&id(&format!("app:{name}"))).unwrap().spec.clone();
    let EntrySpec::EnvVariable(port) = spec("port") else {
        panic!("port is a variable")
    };
    assert_eq!(port.variable.as_deref(), Some("PORT"));
    assert_eq!(port.storage, id("app:chain"));
    assert_eq!(port.default.as_deref(), Some("8080"));
    assert!(port.readonly);
    let EntrySpec::EnvVariable(plain) = spec("plain") else {
        panic!("plain is a variable")
    };
    assert_eq!(
        (plain.variable, plain.default, plain.readonly),
        (None, None, false)
    );
    assert!(matches!(
        spec("mem"),
        EntrySpec::EnvStorage(EnvStorageSpec::Memory)
    ));
    assert!(matches!(
        spec("os"),
        EntrySpec::EnvStorage(EnvStorageSpec::Os)
    ));
    let EntrySpec::EnvStorage(EnvStorageSpec::Static(values)) = spec("fixed") else {
        panic!("fixed is static")
    };
    assert_eq!(values.get("N").map(String::as_str), Some("3"));
    let EntrySpec::EnvStorage(EnvStorageSpec::File {
        path,
        auto_create,
        file_mode,
        dir_mode,
    }) = spec("file")
    else {
        panic!("file is a file storage")
    };
    assert_eq!(
        (path.to_str(), auto_create, file_mode, dir_mode),
        (Some(".env"), true, 0o600, 0o755)
    );
    let EntrySpec::EnvStorage(EnvStorageSpec::Router(list)) = spec("chain") else {
        panic!("chain is a router")
    };
    assert_eq!(list, [id("app:mem"), id("app:os")]);
}

#[test]
fn env_mistakes_are_errors_at_their_line() {
    let text = r#"namespace: app
entries:
  - { name: v1, kind: env.variable, variable: "BAD-NAME", storage: app:mem }
  - { name: v2, kind: env.variable, storage: app:v1 }
  - { name: v3, kind: env.variable }
  - { name: f, kind: env.storage.file }
  - { name: r, kind: env.storage.router, storages: [] }
  - { name: m, kind: env.storage.file, file_path: x, file_mode: rw }
  - { name: mem, kind: env.storage.memory }
"#;
    let errors = load(&[("_index.yaml", text)], &[]).unwrap_err();
    let f = "_index.yaml";
    let e = error_at(&errors, f, "entries[0].variable");
    assert_eq!(
        (e.line, e.message.as_str()),
        (3, "invalid variable name \"BAD-NAME\"")
    );
    let e = error_at(&errors, f, "entries[1].storage");
    assert_eq!(
        (e.line, e.message.as_str()),
        (
            4,
            "app:v1 is a env.variable, expected a env.storage.memory or env.storage.os or env.storage.static or env.storage.file or env.storage.router"
        )
    );
    assert_eq!(error_at(&errors, f, "entries[2].storage").line, 5);
    assert_eq!(error_at(&errors, f, "entries[3].file_path").line, 6);
    assert_eq!(
        error_at(&errors, f, "entries[4].storages").message,
        "no storages"
    );
    assert_eq!(error_at(&errors, f, "entries[5].file_mode").line, 8);
    assert_eq!(errors.0.len(), 6, "{errors}");
}

#[test]
fn data_files_stay_below_the_index_folder() {
    let text = r#"namespace: app
entries:
  - { name: up, kind: registry.entry, data: { text: "file://../secret.txt" } }
  - { name: rooted, kind: registry.entry, body: "file:///etc/passwd" }
  - { name: gone, kind: registry.entry, body: "file://missing.txt" }
"#;
    let errors = load(&[("app/_index.yaml", text)], &[("secret.txt", "s")]).unwrap_err();
    let messages: Vec<_> = errors
        .0
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (3, "invalid data file \"file://../secret.txt\""),
            (4, "invalid data file \"file:///etc/passwd\""),
            (
                5,
                "cannot read data file app/missing.txt: not among the app's files"
            ),
        ]
    );
}

#[test]
fn a_cluster_entry_gives_the_servers_and_files_resolved_from_its_folder() {
    let text = r#"
version: "1.0"
namespace: app
entries:
  - name: cluster
    kind: cluster.nats
    url: nats://n1:4222, nats://user:pw@n2:4222
    node: a-1
    prefix: shop
    replicas: 3
    credentials: secrets/app.creds
    tls:
      ca: /etc/nats/ca.pem
      cert: certs/client.pem
      key: certs/client-key.pem
      required: true
"#;
    let reg = load(&[("srv/_index.yaml", text)], &[]).unwrap();
    let EntrySpec::Cluster(c) = &reg.get(&id("app:cluster")).unwrap().spec else {
        panic!("not a cluster entry");
    };
    assert_eq!(c.url, "nats://n1:4222, nats://user:pw@n2:4222");
    assert_eq!(c.node.as_deref(), Some("a-1"));
    assert_eq!(c.prefix.as_deref(), Some("shop"));
    assert_eq!(c.replicas, Some(3));
    assert_eq!(
        c.credentials.as_deref(),
        Some(Path::new("srv/secrets/app.creds"))
    );
    assert_eq!(c.tls_ca.as_deref(), Some(Path::new("/etc/nats/ca.pem")));
    let (cert, key) = c.tls_client.clone().unwrap();
    assert_eq!(cert, Path::new("srv/certs/client.pem"));
    assert_eq!(key, Path::new("srv/certs/client-key.pem"));
    assert!(c.tls_required);
}

#[test]
fn bad_cluster_settings_and_a_second_cluster_entry_are_load_errors_naming_the_field() {
    let text = r#"
version: "1.0"
namespace: app
entries:
  - name: cluster
    kind: cluster.nats
    url: http://n1:4222
    node: "a b"
    replicas: 7
    tls:
      cert: client.pem
      verify: true
  - name: other
    kind: cluster.nats
    url: nats://n1:4222
  - name: none
    kind: cluster.nats
    node: b
"#;
    let errors = load(&[("_index.yaml", text)], &[]).unwrap_err();
    let f = "_index.yaml";
    let url = error_at(&errors, f, "entries[0].url");
    assert!(url.message.contains("unknown scheme \"http\""), "{url}");
    assert_eq!(url.entry.as_deref(), Some("app:cluster"));
    assert!(
        error_at(&errors, f, "entries[0].node")
            .message
            .contains("invalid node name")
    );
    assert!(
        error_at(&errors, f, "entries[0].replicas")
            .message
            .contains("1 to 5")
    );
    assert_eq!(
        error_at(&errors, f, "entries[0].tls.key").message,
        "missing required field",
        "a client certificate needs its key"
    );
    assert_eq!(
        error_at(&errors, f, "entries[0].tls.verify").message,
        "unknown field"
    );
    let second = error_at(&errors, f, "entries[1]");
    assert!(
        second.message.contains("a second cluster.nats entry")
            && second.message.contains("app:cluster"),
        "{second}"
    );
    assert_eq!(
        error_at(&errors, f, "entries[2].url").message,
        "missing required field"
    );
}
