//! The fields of each kind of entry, read into its spec (format:
//! `docs/registry.md`). The fields common to all entries, and deciding which
//! unknown fields are typos, are in `load.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wippy_process::Payload;
use wippy_security::Condition;

use super::load::{Cx, is_inside};
use super::yaml::{self, Field, Report, line};
use super::{
    ClusterSpec, EntryId, EntryKind, EnvStorageSpec, EnvVariableSpec, HostSpec, Isolation,
    Lifecycle, LuaSpec, PolicySpec, RestartSpec, SecuritySpec, ServiceSpec, Startup, TerminalSpec,
};
use crate::host::{BUILTIN_MODULES, WIPPY_ONLY_MODULES};
use crate::limits;

/// The fields of entries of `kind`, besides the common ones.
pub(super) fn kind_fields(kind: EntryKind) -> &'static [&'static str] {
    match kind {
        EntryKind::ProcessLua | EntryKind::FunctionLua => {
            &["source", "method", "modules", "imports"]
        }
        EntryKind::LibraryLua => &["source", "modules", "imports"],
        EntryKind::ProcessHost => &["host", "modules", "security", "accept_from", "lifecycle"],
        EntryKind::TerminalHost => &["hide_logs", "accept_from", "lifecycle"],
        // `args` is not Wippy's: it is read only to say so.
        EntryKind::Service => &["process", "host", "input", "args", "lifecycle"],
        EntryKind::Policy => &["policy", "groups"],
        // Every other field of a `registry.entry` is its data (load.rs).
        EntryKind::RegistryEntry => &["data"],
        // `read_only` is read and ignored, as Wippy ignores it.
        EntryKind::EnvVariable => &["variable", "storage", "default", "readonly", "read_only"],
        EntryKind::EnvMemory | EntryKind::EnvOs => &[],
        EntryKind::EnvStatic => &["values"],
        EntryKind::EnvFile => &["file_path", "auto_create", "file_mode", "dir_mode"],
        EntryKind::EnvRouter => &["storages"],
        EntryKind::ClusterNats => &["url", "node", "prefix", "replicas", "credentials", "tls"],
    }
}

// The kinds a reference may point to, by role.
const LIBRARY: &[EntryKind] = &[EntryKind::LibraryLua];
const PROCESS: &[EntryKind] = &[EntryKind::ProcessLua];
const HOSTS: &[EntryKind] = &[EntryKind::ProcessHost, EntryKind::TerminalHost];
const POLICY: &[EntryKind] = &[EntryKind::Policy];
const ENV_STORAGE: &[EntryKind] = &[
    EntryKind::EnvMemory,
    EntryKind::EnvOs,
    EntryKind::EnvStatic,
    EntryKind::EnvFile,
    EntryKind::EnvRouter,
];
const STARTABLE: &[EntryKind] = &[
    EntryKind::ProcessHost,
    EntryKind::TerminalHost,
    EntryKind::Service,
];

impl Cx<'_> {
    /// `process.lua`, `function.lua`, `library.lua`; `None` without a readable source.
    pub(super) fn lua(
        &mut self,
        kind: EntryKind,
        fields: &[&Field],
        entry_line: usize,
        path: &str,
    ) -> Option<LuaSpec> {
        let mut source = None;
        let mut method = None;
        let mut modules_field = None;
        let mut imports = BTreeMap::new();
        for f in fields {
            match f.key {
                "source" => source = self.source(f),
                "method" => method = Some(yaml::string(f.value, &f.path, &mut self.r)),
                "modules" => modules_field = Some(*f),
                "imports" => imports = self.imports(f),
                _ => {}
            }
        }
        // After the imports: a library alias listed under modules gets a
        // hint of its own.
        let modules = modules_field
            .and_then(|f| self.modules(f, &imports))
            .unwrap_or_default();
        if !fields.iter().any(|f| f.key == "source") {
            self.r.missing(entry_line, path, "source");
        }
        if method.is_none() && kind != EntryKind::LibraryLua {
            self.r.missing(entry_line, path, "method");
        }
        let (path, source) = source?;
        Some(LuaSpec {
            path,
            source,
            method: method.flatten(),
            modules,
            imports,
        })
    }

    /// `source: file://relative/path` (from this index file's folder) or
    /// `file:///path` (from the app folder), resolved and read. A path
    /// that leads out of the app folder is an error, as in Wippy.
    fn source(&mut self, f: &Field) -> Option<(PathBuf, Arc<str>)> {
        let text = yaml::string(f.value, &f.path, &mut self.r)?;
        let path = match text.strip_prefix("file://") {
            Some(rooted) if rooted.starts_with('/') => {
                self.root.join(rooted.trim_start_matches('/'))
            }
            Some(relative) if !relative.is_empty() => self.dir.join(relative),
            _ => {
                let message = format!("invalid source {text:?}");
                let hint = "expected file://relative/path, relative to this _index.yaml";
                self.r
                    .error(line(f.value), &f.path, message, Some(hint.into()));
                return None;
            }
        };
        if !is_inside(&path, self.root) {
            let message = format!("source {text} leads out of the app folder");
            let hint =
                "sources must be inside the app folder; file:///path starts from the app folder";
            self.r
                .error(line(f.value), &f.path, message, Some(hint.into()));
            return None;
        }
        match (self.read)(&path) {
            Ok(code) => Some((path, code.into())),
            Err(e) => {
                let message = format!("cannot read source {}: {e}", path.display());
                self.r.error(line(f.value), &f.path, message, None);
                None
            }
        }
    }

    /// `modules: [names]`, each a built-in module ([`BUILTIN_MODULES`]; one
    /// of Wippy's that wippy-rs lacks, [`WIPPY_ONLY_MODULES`], is reported
    /// as such);
    /// `imports` are the entry's library aliases, for the hint when one is
    /// listed here. `None` if anything was reported.
    fn modules(&mut self, f: &Field, imports: &BTreeMap<String, EntryId>) -> Option<Vec<String>> {
        let before = self.r.errors.len();
        let mut out = Vec::new();
        for (item, path) in yaml::list(f.value, &f.path, &mut self.r)? {
            let Some(name) = yaml::string(item, &path, &mut self.r) else {
                continue;
            };
            if WIPPY_ONLY_MODULES.contains(&name.as_str()) {
                let message = format!("module {name} is not available in wippy-rs");
                let hint = format!(
                    "Wippy has it, wippy-rs does not; wippy-rs has: {}",
                    BUILTIN_MODULES.join(", ")
                );
                self.r.error(line(item), &path, message, Some(hint));
            } else if !BUILTIN_MODULES.contains(&name.as_str()) {
                let hint = module_hint(&name, imports);
                let message = format!("unknown module {name:?}");
                self.r.error(line(item), &path, message, Some(hint));
            }
            out.push(name);
        }
        (self.r.errors.len() == before).then_some(out)
    }

    /// `imports: {alias: library id}`.
    fn imports(&mut self, f: &Field) -> BTreeMap<String, EntryId> {
        let mut out = BTreeMap::new();
        for import in yaml::fields(f.value, &f.path, &mut self.r).unwrap_or_default() {
            if let Some(id) = self.reference(import.value, &import.path, LIBRARY) {
                out.insert(import.key.to_string(), id);
            }
        }
        out
    }

    /// `process.host`.
    pub(super) fn host(&mut self, fields: &[&Field]) -> HostSpec {
        let mut spec = HostSpec::default();
        for f in fields {
            match f.key {
                "host" => self.host_settings(f, &mut spec),
                "modules" => spec.modules = self.modules(f, &BTreeMap::new()),
                "security" => spec.security = self.security(f),
                "accept_from" => spec.accept_from = Some(self.accept_from(f)),
                "lifecycle" => spec.lifecycle = self.lifecycle(f),
                _ => {}
            }
        }
        spec
    }

    /// `accept_from: [host ids]`. A host may name itself (harmless: its
    /// own processes may always send to it).
    fn accept_from(&mut self, f: &Field) -> Vec<EntryId> {
        let mut out = Vec::new();
        for (item, path) in yaml::list(f.value, &f.path, &mut self.r).unwrap_or_default() {
            let itself = self
                .r
                .entry
                .as_deref()
                .filter(|me| yaml::as_str(item) == Some(*me));
            match itself {
                Some(me) => out.push(me.parse().expect("an entry's own id parses")),
                None => out.extend(self.reference(item, &path, HOSTS)),
            }
        }
        out
    }

    fn host_settings(&mut self, f: &Field, spec: &mut HostSpec) {
        const KNOWN: &[&str] = &[
            "workers",
            "queue_size",
            "local_queue_size",
            "max_processes",
            "max_mailbox",
            "isolation",
            "memory_limit",
            "time_slice",
            "cancel_deadline",
        ];
        let r = &mut self.r;
        let count = |f: &Field, min, r: &mut Report| {
            yaml::uint(f.value, &f.path, min, r).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        for f in non_null(yaml::fields(f.value, &f.path, r)) {
            match f.key {
                "workers" => spec.workers = workers(&f, r),
                "queue_size" => spec.queue_size = count(&f, 0, r),
                "local_queue_size" => spec.local_queue_size = count(&f, 0, r),
                "max_processes" => spec.max_processes = count(&f, 1, r),
                "max_mailbox" => spec.max_mailbox = count(&f, 1, r),
                "isolation" => {
                    if let Some(text) = yaml::string(f.value, &f.path, r) {
                        match text.as_str() {
                            "shared" => spec.isolation = Isolation::Shared,
                            "dedicated" => spec.isolation = Isolation::Dedicated,
                            _ => {
                                let message = format!("unknown isolation {text:?}");
                                let suggestion = yaml::closest(&text, ["shared", "dedicated"])
                                    .map_or("expected shared or dedicated".into(), |k| {
                                        format!("did you mean {k}?")
                                    });
                                r.error(line(f.value), &f.path, message, Some(suggestion));
                            }
                        }
                    }
                }
                "memory_limit" => spec.memory_limit = memory_limit(&f, r),
                "time_slice" => spec.time_slice = yaml::duration(f.value, &f.path, r),
                "cancel_deadline" => spec.cancel_deadline = yaml::duration(f.value, &f.path, r),
                _ => r.unknown_field(&f, KNOWN),
            }
        }
    }

    /// `terminal.host`.
    pub(super) fn terminal(&mut self, fields: &[&Field]) -> TerminalSpec {
        let mut spec = TerminalSpec::default();
        for f in fields {
            match f.key {
                "hide_logs" => {
                    spec.hide_logs = yaml::boolean(f.value, &f.path, &mut self.r).unwrap_or(false);
                }
                "accept_from" => spec.accept_from = Some(self.accept_from(f)),
                "lifecycle" => spec.lifecycle = self.lifecycle(f),
                _ => {}
            }
        }
        spec
    }

    /// `process.service`; `None` without a process or host.
    pub(super) fn service(
        &mut self,
        fields: &[&Field],
        entry_line: usize,
        path: &str,
    ) -> Option<ServiceSpec> {
        let mut process = None;
        let mut host = None;
        let mut input = Vec::new();
        let mut lifecycle = Lifecycle::default();
        for f in fields {
            match f.key {
                "process" => process = Some(self.reference(f.value, &f.path, PROCESS)),
                "host" => host = Some(self.reference(f.value, &f.path, HOSTS)),
                "input" => {
                    input = yaml::list(f.value, &f.path, &mut self.r)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(item, _)| yaml::payload(item))
                        .collect();
                }
                "args" => self.r.error(
                    f.line,
                    &f.path,
                    "process.service has no args field",
                    Some("the arguments of a service's process are its input list, as in Wippy: rename args to input".into()),
                ),
                "lifecycle" => lifecycle = self.lifecycle(f),
                _ => {}
            }
        }
        if process.is_none() {
            self.r.missing(entry_line, path, "process");
        }
        if host.is_none() {
            self.r.missing(entry_line, path, "host");
        }
        Some(ServiceSpec {
            process: process??,
            host: host??,
            input,
            lifecycle,
        })
    }

    /// `security.policy`; `None` without a `policy:` map.
    pub(super) fn policy(
        &mut self,
        fields: &[&Field],
        entry_line: usize,
        path: &str,
    ) -> Option<PolicySpec> {
        const KNOWN: &[&str] = &["actions", "resources", "effect", "conditions"];
        let mut spec = PolicySpec::default();
        let mut rule = None;
        for f in fields {
            match f.key {
                "policy" => rule = Some(f),
                "groups" => {
                    spec.groups = yaml::strings(f.value, &f.path, &mut self.r).unwrap_or_default();
                }
                _ => {}
            }
        }
        let Some(rule) = rule else {
            self.r.missing(entry_line, path, "policy");
            return None;
        };
        let r = &mut self.r;
        let (mut actions, mut resources, mut effect) = (false, false, false);
        for f in non_null(yaml::fields(rule.value, &rule.path, r)) {
            match f.key {
                "actions" => {
                    actions = true;
                    spec.actions = yaml::string_or_list(f.value, &f.path, r).unwrap_or_default();
                }
                "resources" => {
                    resources = true;
                    spec.resources = yaml::string_or_list(f.value, &f.path, r).unwrap_or_default();
                }
                "effect" => {
                    effect = true;
                    match yaml::string(f.value, &f.path, r).as_deref() {
                        Some("allow") => spec.allow = true,
                        Some("deny") => spec.allow = false,
                        Some(other) => {
                            let message = format!("unknown effect {other:?}");
                            let suggestion = yaml::closest(other, ["allow", "deny"])
                                .map_or("expected allow or deny".into(), |k| {
                                    format!("did you mean {k}?")
                                });
                            r.error(line(f.value), &f.path, message, Some(suggestion));
                        }
                        None => {}
                    }
                }
                "conditions" => spec.conditions = conditions(&f, r),
                _ => r.unknown_field(&f, KNOWN),
            }
        }
        for (given, field) in [
            (actions, "actions"),
            (resources, "resources"),
            (effect, "effect"),
        ] {
            if !given {
                r.missing(line(rule.value), &rule.path, field);
            }
        }
        Some(spec)
    }

    /// `cluster.nats`; `None` without a `url`.
    pub(super) fn cluster(
        &mut self,
        fields: &[&Field],
        entry_line: usize,
        path: &str,
    ) -> Option<ClusterSpec> {
        let mut spec = ClusterSpec::default();
        let mut url = None;
        for f in fields {
            let r = &mut self.r;
            match f.key {
                "url" => {
                    url = yaml::string(f.value, &f.path, r);
                    if let Some(u) = &url
                        && let Some(bad) = bad_nats_urls(u)
                    {
                        r.error(
                            line(f.value),
                            &f.path,
                            bad,
                            Some("expected nats://host:port, several separated by commas".into()),
                        );
                    }
                }
                "node" => {
                    spec.node = yaml::string(f.value, &f.path, r).filter(|n| {
                        let ok = node_name_ok(n);
                        if !ok {
                            let message = format!("invalid node name {n:?}");
                            let hint = "1 to 64 letters, digits, '-' or '_'";
                            r.error(line(f.value), &f.path, message, Some(hint.into()));
                        }
                        ok
                    });
                }
                "prefix" => {
                    spec.prefix = yaml::string(f.value, &f.path, r).filter(|p| {
                        let ok = !p.is_empty()
                            && p.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                        if !ok {
                            let message = format!("invalid prefix {p:?}");
                            let hint = "letters, digits, '-' or '_'";
                            r.error(line(f.value), &f.path, message, Some(hint.into()));
                        }
                        ok
                    });
                }
                "replicas" => {
                    spec.replicas = yaml::uint(f.value, &f.path, 1, r).and_then(|n| {
                        if n > 5 {
                            let message = format!("{n} replicas: JetStream keeps 1 to 5");
                            r.error(line(f.value), &f.path, message, None);
                            return None;
                        }
                        Some(n as usize)
                    });
                }
                "credentials" => spec.credentials = self.file_path(f),
                "tls" => self.tls(f, &mut spec),
                _ => {}
            }
        }
        if url.is_none() {
            self.r.missing(entry_line, path, "url");
        }
        spec.url = url?;
        Some(spec)
    }

    /// `tls: {ca, cert, key, required}` of `cluster.nats`.
    fn tls(&mut self, f: &Field, spec: &mut ClusterSpec) {
        const KNOWN: &[&str] = &["ca", "cert", "key", "required"];
        let (mut cert, mut key) = (None, None);
        let fields: Vec<Field> = non_null(yaml::fields(f.value, &f.path, &mut self.r)).collect();
        for t in &fields {
            match t.key {
                "ca" => spec.tls_ca = self.file_path(t),
                "cert" => cert = self.file_path(t).map(|p| (p, t)),
                "key" => key = self.file_path(t).map(|p| (p, t)),
                "required" => {
                    spec.tls_required =
                        yaml::boolean(t.value, &t.path, &mut self.r).unwrap_or(false);
                }
                _ => self.r.unknown_field(t, KNOWN),
            }
        }
        match (cert, key) {
            (Some((cert, _)), Some((key, _))) => spec.tls_client = Some((cert, key)),
            (Some((_, t)), None) => self.r.missing(line(t.value), &f.path, "key"),
            (None, Some((_, t))) => self.r.missing(line(t.value), &f.path, "cert"),
            (None, None) => {}
        }
    }

    /// A file a setting names: relative to this index file's folder, or
    /// absolute (secrets usually live outside the app). Not read here.
    fn file_path(&mut self, f: &Field) -> Option<PathBuf> {
        let text = yaml::string(f.value, &f.path, &mut self.r)?;
        if text.is_empty() {
            self.r.error(line(f.value), &f.path, "empty path", None);
            return None;
        }
        let path = PathBuf::from(text.strip_prefix("file://").unwrap_or(&text));
        Some(if path.is_absolute() {
            path
        } else {
            self.dir.join(path)
        })
    }

    /// `lifecycle` (Wippy's fields and defaults, `docs/registry.md`).
    fn lifecycle(&mut self, f: &Field) -> Lifecycle {
        const KNOWN: &[&str] = &[
            "auto_start",
            "startup",
            "requires",
            "depends_on",
            "start_timeout",
            "stop_timeout",
            "stable_threshold",
            "restart",
            "security",
        ];
        let mut spec = Lifecycle::default();
        let default = Lifecycle::default();
        for f in non_null(yaml::fields(f.value, &f.path, &mut self.r)) {
            let r = &mut self.r;
            match f.key {
                "auto_start" => {
                    spec.auto_start = yaml::boolean(f.value, &f.path, r).unwrap_or(false)
                }
                "startup" => spec.startup = startup(&f, r),
                // `depends_on` is Wippy's older name of `requires`; both
                // given are merged.
                "requires" | "depends_on" => {
                    for id in self.references(f.value, &f.path, STARTABLE) {
                        if !spec.requires.contains(&id) {
                            spec.requires.push(id);
                        }
                    }
                }
                "start_timeout" => {
                    spec.start_timeout =
                        yaml::duration(f.value, &f.path, r).unwrap_or(default.start_timeout);
                }
                "stop_timeout" => {
                    spec.stop_timeout =
                        yaml::duration(f.value, &f.path, r).unwrap_or(default.stop_timeout);
                }
                "stable_threshold" => {
                    spec.stable_threshold =
                        yaml::duration(f.value, &f.path, r).unwrap_or(default.stable_threshold);
                }
                "restart" => spec.restart = restart(&f, r),
                "security" => spec.security = self.security(&f),
                _ => r.unknown_field(&f, KNOWN),
            }
        }
        spec
    }

    /// `env.variable`; `None` without a storage.
    pub(super) fn env_variable(
        &mut self,
        fields: &[&Field],
        entry_line: usize,
        path: &str,
    ) -> Option<EnvVariableSpec> {
        let mut variable = None;
        let mut storage = None;
        let mut default = None;
        let mut readonly = false;
        for f in fields {
            let r = &mut self.r;
            match f.key {
                "variable" => {
                    variable = yaml::string(f.value, &f.path, r).filter(|name| {
                        let ok = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                        if !ok {
                            let message = format!("invalid variable name {name:?}");
                            let hint = "use letters, digits and _";
                            r.error(line(f.value), &f.path, message, Some(hint.into()));
                        }
                        ok
                    });
                }
                "storage" => storage = Some(self.reference(f.value, &f.path, ENV_STORAGE)),
                "default" => default = scalar_text(f, r),
                "readonly" => readonly = yaml::boolean(f.value, &f.path, r).unwrap_or(false),
                _ => {}
            }
        }
        if storage.is_none() {
            self.r.missing(entry_line, path, "storage");
        }
        Some(EnvVariableSpec {
            variable: variable.filter(|v| !v.is_empty()),
            storage: storage??,
            default: default.filter(|d| !d.is_empty()),
            readonly,
        })
    }

    /// `env.storage.*`; `None` when a required field is missing.
    pub(super) fn env_storage(
        &mut self,
        kind: EntryKind,
        fields: &[&Field],
        entry_line: usize,
        path: &str,
    ) -> Option<EnvStorageSpec> {
        let field = |key: &str| fields.iter().find(|f| f.key == key).copied();
        match kind {
            EntryKind::EnvMemory => Some(EnvStorageSpec::Memory),
            EntryKind::EnvOs => Some(EnvStorageSpec::Os),
            EntryKind::EnvStatic => {
                let mut values = BTreeMap::new();
                if let Some(f) = field("values") {
                    for v in yaml::fields(f.value, &f.path, &mut self.r).unwrap_or_default() {
                        if let Some(text) = scalar_text(&v, &mut self.r) {
                            values.insert(v.key.to_owned(), text);
                        }
                    }
                }
                Some(EnvStorageSpec::Static(values))
            }
            EntryKind::EnvFile => {
                let r = &mut self.r;
                let Some(f) = field("file_path") else {
                    r.missing(entry_line, path, "file_path");
                    return None;
                };
                let file = yaml::string(f.value, &f.path, r)?;
                let mode = |key: &str, default: u32, r: &mut Report| {
                    field(key).and_then(|f| file_mode(f, r)).unwrap_or(default)
                };
                Some(EnvStorageSpec::File {
                    path: PathBuf::from(file),
                    auto_create: field("auto_create")
                        .and_then(|f| yaml::boolean(f.value, &f.path, r))
                        .unwrap_or(false),
                    file_mode: mode("file_mode", 0o644, r),
                    dir_mode: mode("dir_mode", 0o755, r),
                })
            }
            EntryKind::EnvRouter => {
                let Some(f) = field("storages") else {
                    self.r.missing(entry_line, path, "storages");
                    return None;
                };
                let storages = self.references(f.value, &f.path, ENV_STORAGE);
                if storages.is_empty() {
                    let hint = "list at least one env.storage.* entry";
                    self.r
                        .error(line(f.value), &f.path, "no storages", Some(hint.into()));
                    return None;
                }
                Some(EnvStorageSpec::Router(storages))
            }
            _ => None,
        }
    }

    /// The data of a `registry.entry` with every `file://rel` string
    /// replaced by the text of that file, relative to the index file's
    /// folder (as Wippy's loader does). A path that is absolute or climbs
    /// out with `..` is an error: data is readable by every process that
    /// may `registry.get` the entry.
    pub(super) fn data_files(&mut self, data: Payload, entry_line: usize, path: &str) -> Payload {
        match data {
            Payload::Str(s) if s.starts_with("file://") => {
                let rel = Path::new(&s["file://".len()..]);
                let inside = !rel.as_os_str().is_empty()
                    && rel
                        .components()
                        .all(|c| matches!(c, std::path::Component::Normal(_)));
                if !inside {
                    let hint =
                        "data files are relative to the index file and stay below its folder";
                    self.r.error(
                        entry_line,
                        path,
                        format!("invalid data file {s:?}"),
                        Some(hint.into()),
                    );
                    return Payload::Str(s);
                }
                let file = self.dir.join(rel);
                match (self.read)(&file) {
                    Ok(text) => Payload::from(text),
                    Err(e) => {
                        let message = format!("cannot read data file {}: {e}", file.display());
                        self.r.error(entry_line, path, message, None);
                        Payload::Str(s)
                    }
                }
            }
            Payload::Array(items) => Payload::Array(
                items
                    .into_iter()
                    .map(|i| self.data_files(i, entry_line, path))
                    .collect(),
            ),
            Payload::Map(pairs) => Payload::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, self.data_files(v, entry_line, path)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// `security: {actor: {id, meta}, policies, groups}`.
    fn security(&mut self, f: &Field) -> Option<SecuritySpec> {
        const KNOWN: &[&str] = &["actor", "policies", "groups"];
        const ACTOR: &[&str] = &["id", "meta"];
        let mut spec = SecuritySpec::default();
        for f in non_null(yaml::fields(f.value, &f.path, &mut self.r)) {
            let r = &mut self.r;
            match f.key {
                "actor" => {
                    for a in non_null(yaml::fields(f.value, &f.path, r)) {
                        match a.key {
                            "id" => spec.actor_id = yaml::string(a.value, &a.path, r),
                            "meta" => {
                                spec.actor_meta =
                                    yaml::data_map(a.value, &a.path, r).unwrap_or_default();
                            }
                            _ => r.unknown_field(&a, ACTOR),
                        }
                    }
                }
                "policies" => spec.policies = self.references(f.value, &f.path, POLICY),
                "groups" => spec.groups = yaml::strings(f.value, &f.path, r).unwrap_or_default(),
                _ => r.unknown_field(&f, KNOWN),
            }
        }
        Some(spec)
    }
}

/// A scalar as text (env values are strings; a number or boolean is
/// taken as written).
fn scalar_text(f: &Field, r: &mut Report) -> Option<String> {
    match yaml::payload(f.value) {
        Payload::Str(s) => Some(s.to_string()),
        Payload::Int(i) => Some(i.to_string()),
        Payload::Float(x) => Some(x.to_string()),
        Payload::Bool(b) => Some(b.to_string()),
        Payload::Nil => None,
        _ => {
            r.mismatch(f.value, &f.path, "a string");
            None
        }
    }
}

/// A file mode: an octal string (`"0600"`) or an integer, as Unix
/// permission bits.
fn file_mode(f: &Field, r: &mut Report) -> Option<u32> {
    let parsed = match yaml::payload(f.value) {
        Payload::Str(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).ok(),
        Payload::Int(i) => u32::try_from(i).ok(),
        _ => None,
    };
    match parsed {
        Some(m) if m <= 0o7777 => Some(m),
        _ => {
            r.mismatch(f.value, &f.path, "a file mode such as \"0644\"");
            None
        }
    }
}

/// The fix for an unknown module `name`: the library alias it is, the
/// built-in module it is probably a typo of, or the list of them.
fn module_hint(name: &str, imports: &BTreeMap<String, EntryId>) -> String {
    if let Some(lib) = imports.get(name) {
        format!(
            "{name} is the library {lib} under imports; require(\"{name}\") loads it without listing it under modules"
        )
    } else if let Some(known) = yaml::closest(name, BUILTIN_MODULES.iter().copied()) {
        format!("did you mean {known}?")
    } else {
        format!(
            "built-in modules: {}; libraries come from imports",
            BUILTIN_MODULES.join(", ")
        )
    }
}

/// `policy.conditions`: a list of `{field, operator, value}`.
fn conditions(f: &Field, r: &mut Report) -> Vec<Condition> {
    const KNOWN: &[&str] = &["field", "operator", "value"];
    let mut out = Vec::new();
    for (item, path) in yaml::list(f.value, &f.path, r).unwrap_or_default() {
        let (mut field, mut operator, mut value) = (None, None, Payload::Nil);
        for c in yaml::fields(item, &path, r).unwrap_or_default() {
            match c.key {
                "field" => field = yaml::string(c.value, &c.path, r),
                "operator" => operator = yaml::string(c.value, &c.path, r),
                "value" => value = yaml::payload(c.value),
                _ => r.unknown_field(&c, KNOWN),
            }
        }
        let (Some(field), Some(operator)) = (&field, &operator) else {
            for (given, key) in [(field.is_some(), "field"), (operator.is_some(), "operator")] {
                if !given {
                    r.missing(line(item), &path, key);
                }
            }
            continue;
        };
        match Condition::new(field, operator, value) {
            Ok(c) => out.push(c),
            Err(e) => r.error(line(item), &path, e.to_string(), None),
        }
    }
    out
}

/// `lifecycle.startup`: `required` or `optional`.
fn startup(f: &Field, r: &mut Report) -> Startup {
    match yaml::string(f.value, &f.path, r).as_deref() {
        Some("required") | None => Startup::Required,
        Some("optional") => Startup::Optional,
        Some(other) => {
            let hint = yaml::closest(other, ["required", "optional"])
                .map_or("expected required or optional".into(), |k| {
                    format!("did you mean {k}?")
                });
            r.error(
                line(f.value),
                &f.path,
                format!("unknown startup {other:?}"),
                Some(hint),
            );
            Startup::Required
        }
    }
}

/// `lifecycle.restart` (Wippy's keys; `delay` is our older name of
/// `initial_delay`).
fn restart(f: &Field, r: &mut Report) -> RestartSpec {
    const KNOWN: &[&str] = &[
        "max_attempts",
        "initial_delay",
        "delay",
        "backoff_factor",
        "max_delay",
        "jitter",
    ];
    let mut spec = RestartSpec::default();
    let default = RestartSpec::default();
    let mut delay_key: Option<&str> = None;
    for f in non_null(yaml::fields(f.value, &f.path, r)) {
        match f.key {
            "max_attempts" => {
                spec.max_attempts = yaml::uint(f.value, &f.path, 0, r)
                    .map_or(default.max_attempts, |n| {
                        u32::try_from(n).unwrap_or(u32::MAX)
                    });
            }
            "delay" | "initial_delay" => {
                if let Some(first) = delay_key {
                    let message = format!("{first} and {} both given", f.key);
                    let hint = "delay is another name for initial_delay; keep one";
                    r.error(f.line, &f.path, message, Some(hint.into()));
                }
                delay_key = Some(f.key);
                spec.initial_delay =
                    yaml::duration(f.value, &f.path, r).unwrap_or(default.initial_delay);
            }
            "backoff_factor" => {
                // 0 stands for the default, as in Wippy; a factor below 1
                // would shrink the delay.
                spec.backoff_factor = match yaml::number(f.value, &f.path, 0.0..=1000.0, r) {
                    Some(0.0) | None => default.backoff_factor,
                    Some(x) if x < 1.0 => {
                        let message = format!("must be at least 1, found {x}");
                        let hint = "0 stands for the default, 2";
                        r.error(line(f.value), &f.path, message, Some(hint.into()));
                        default.backoff_factor
                    }
                    Some(x) => x,
                };
            }
            "max_delay" => {
                spec.max_delay = yaml::duration(f.value, &f.path, r).unwrap_or(default.max_delay);
            }
            "jitter" => {
                spec.jitter =
                    yaml::number(f.value, &f.path, 0.0..=1.0, r).unwrap_or(default.jitter);
            }
            "stable_threshold" => r.error(
                f.line,
                &f.path,
                "stable_threshold is not a restart field",
                Some("it belongs to lifecycle, as in Wippy: lifecycle.stable_threshold".into()),
            ),
            _ => r.unknown_field(&f, KNOWN),
        }
    }
    spec
}

/// The fields of a map that are given (not null); none if it is no map.
/// A node name as `wippy_process::NodeId` takes it.
fn node_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What is wrong with a `url` of `cluster.nats`, if anything: each of its
/// comma-separated parts must be `scheme://host[:port]` with a NATS scheme
/// (or a bare `host:port`, as the NATS client takes it).
fn bad_nats_urls(urls: &str) -> Option<String> {
    let parts: Vec<&str> = urls.split(',').map(str::trim).collect();
    if parts.iter().all(|p| p.is_empty()) {
        return Some("no server URL".into());
    }
    for part in parts {
        let rest = match part.split_once("://") {
            Some((scheme, rest)) => {
                if !matches!(scheme, "nats" | "tls" | "ws" | "wss") {
                    return Some(format!(
                        "unknown scheme {scheme:?} in {part:?} (nats, tls, ws or wss)"
                    ));
                }
                rest
            }
            None => part,
        };
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        if host.is_empty() || host.starts_with(':') || part.contains(char::is_whitespace) {
            return Some(format!("invalid server URL {part:?}"));
        }
    }
    None
}

fn non_null<'n, 'i>(fields: Option<Vec<Field<'n, 'i>>>) -> impl Iterator<Item = Field<'n, 'i>> {
    fields
        .unwrap_or_default()
        .into_iter()
        .filter(|f| !yaml::is_null(f.value))
}

/// `host.workers`: at least 1 and at most [`limits::max_workers`].
fn workers(f: &Field, r: &mut Report) -> Option<usize> {
    let n = yaml::uint(f.value, &f.path, 1, r)?;
    let max = limits::max_workers();
    if n > max as u64 {
        let message = format!(
            "{n} workers is more than this machine's maximum of {max} ({} per core)",
            limits::WORKERS_PER_CORE
        );
        let hint =
            "workers beyond the core count add memory, not speed; leave it out for one per core";
        r.error(line(f.value), &f.path, message, Some(hint.into()));
        return None;
    }
    Some(n as usize)
}

/// `host.memory_limit`: 0 (no limit) or at least
/// [`limits::MIN_MEMORY_LIMIT`].
fn memory_limit(f: &Field, r: &mut Report) -> Option<u64> {
    let bytes = yaml::size(f.value, &f.path, r)?;
    if bytes != 0 && bytes < limits::MIN_MEMORY_LIMIT {
        let message = format!(
            "a memory limit of {bytes} bytes is below the smallest a process can run under, {}MB",
            limits::MIN_MEMORY_LIMIT >> 20
        );
        let hint = "give a size such as 64MB, or 0 for no limit";
        r.error(line(f.value), &f.path, message, Some(hint.into()));
        return None;
    }
    Some(bytes)
}
