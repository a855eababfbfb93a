//! Loading `_index.yaml` files into entries (format: `docs/registry.md`).
//!
//! Loading goes in two passes. The first reads every file on its own: YAML,
//! namespace, each entry's fields and Lua sources, and it declares every
//! entry id it sees, even of entries with errors, so that one mistake does
//! not make every reference to that entry dangle too. The second checks the
//! references between entries (imports, a service's process and host,
//! `requires`, security policies) against the declared ids and kinds.
//! Errors of both passes are collected, then sorted by file and line.
//!
//! Conventions of the format that the spec leaves open:
//! - `source: file://p` is relative to the index file's folder,
//!   `file:///p` to the app folder (the folder loaded, or the folder every
//!   in-memory file is in); a source must stay inside the app folder, by
//!   path and, on disk, by where its links lead;
//! - a field set to `null` (or left empty, `key:`) counts as absent;
//! - durations are Go strings (`"1.5s"`) or integers of **milliseconds**;
//!   sizes are strings (`"64MB"`) or integers of bytes;
//! - an unknown top-level entry field goes to the entry's `meta` unless it
//!   is probably a typo of a field of the entry's kind (then it is an
//!   error); an explicit `meta:` key wins over a top-level field of the
//!   same name;
//! - unknown fields in nested maps (`host`, `lifecycle`, `restart`, ...) and
//!   at the top of a file are always errors.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::{fs, io};

use saphyr::LoadableYamlNode;
use wippy_process::Payload;

use super::kinds::kind_fields;
use super::requires;
use super::yaml::{self, Field, Node, Report, line};
use super::{Entry, EntryId, EntryKind, EntrySpec, LoadError, LoadErrors, Registry};

/// An index file given as text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its path (sources are resolved relative to its folder).
    pub path: PathBuf,
    /// Its YAML text.
    pub text: String,
}

/// Name of the index files an app folder holds.
const INDEX_FILE: &str = "_index.yaml";

/// See [`Registry::load_dir`].
pub(crate) fn load_dir(dir: &Path) -> Result<Registry, LoadErrors> {
    let dir_error = |file: &Path, message: String| LoadError {
        file: file.to_path_buf(),
        line: 0,
        entry: None,
        path: None,
        message,
        suggestion: None,
    };
    if !dir.is_dir() {
        let message = if dir.exists() {
            "app path is not a folder"
        } else {
            "app folder does not exist"
        };
        return Err(LoadErrors(vec![dir_error(dir, message.into())]));
    }
    let mut errors = Vec::new();
    let mut paths = Vec::new();
    find_indexes(dir, &mut paths, &mut errors);
    paths.sort();
    if paths.is_empty() && errors.is_empty() {
        let message = format!("no {INDEX_FILE} in this folder or below");
        return Err(LoadErrors(vec![dir_error(dir, message)]));
    }
    // Links are followed only to files inside the app folder.
    let read = |path: &Path| read_inside(dir, path);
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        match read(&path) {
            Ok(text) => sources.push(Source { path, text }),
            Err(e) => errors.push(dir_error(&path, format!("cannot read: {e}"))),
        }
    }
    match load_in(&sources, &read, dir) {
        Ok(registry) if errors.is_empty() => Ok(registry),
        Ok(_) => Err(LoadErrors(errors)),
        Err(LoadErrors(more)) => {
            errors.extend(more);
            Err(LoadErrors(errors))
        }
    }
}

/// Reads `path`, a file of the app folder `root`, refusing a file that is
/// a link to somewhere outside it (the path itself was checked to stay
/// inside without following links, in `Cx::source`).
fn read_inside(root: &Path, path: &Path) -> io::Result<String> {
    let real = fs::canonicalize(path)?;
    let real_root = fs::canonicalize(root)?;
    if !real.starts_with(&real_root) {
        let message = format!(
            "it links to {}, outside the app folder {}",
            real.display(),
            real_root.display()
        );
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, message));
    }
    fs::read_to_string(real)
}

/// Collects every `_index.yaml` below `dir`. Symbolic links to folders are
/// not followed (a link cycle would never end).
fn find_indexes(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<LoadError>) {
    let read_error = |e: io::Error| LoadError {
        file: dir.to_path_buf(),
        line: 0,
        entry: None,
        path: None,
        message: format!("cannot list folder: {e}"),
        suggestion: None,
    };
    let items = match fs::read_dir(dir) {
        Ok(items) => items,
        Err(e) => return errors.push(read_error(e)),
    };
    for item in items {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                errors.push(read_error(e));
                continue;
            }
        };
        let path = item.path();
        match item.file_type() {
            Ok(t) if t.is_dir() => find_indexes(&path, out, errors),
            Ok(_) if item.file_name() == INDEX_FILE => out.push(path),
            Ok(_) => {}
            Err(e) => errors.push(read_error(e)),
        }
    }
}

/// See [`Registry::load_files`].
pub(crate) fn load_files(files: Vec<(PathBuf, String)>) -> Result<Registry, LoadErrors> {
    let file_error = |file: &Path, message: String| LoadError {
        file: file.to_path_buf(),
        line: 0,
        entry: None,
        path: None,
        message,
        suggestion: None,
    };
    let mut errors = Vec::new();
    let mut indexes = Vec::new();
    let mut sources = HashMap::new();
    let mut seen = HashSet::new();
    let count = files.len();
    for (path, text) in files {
        if !seen.insert(lexical(&path)) {
            errors.push(file_error(&path, "file given twice".into()));
        } else if path.file_name().is_some_and(|name| name == INDEX_FILE) {
            indexes.push(Source { path, text });
        } else {
            sources.insert(lexical(&path), text);
        }
    }
    if indexes.is_empty() && errors.is_empty() {
        let message = format!("no {INDEX_FILE} among the {count} files of the app");
        return Err(LoadErrors(vec![file_error(Path::new(INDEX_FILE), message)]));
    }
    let read = |path: &Path| {
        sources
            .get(&lexical(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not among the app's files"))
    };
    // The app folder of files in memory: the folder every file is in.
    let root = common_folder(seen.iter().map(PathBuf::as_path));
    match load_in(&indexes, &read, &root) {
        Ok(registry) if errors.is_empty() => Ok(registry),
        Ok(_) => Err(LoadErrors(errors)),
        Err(LoadErrors(more)) => {
            errors.extend(more);
            Err(LoadErrors(errors))
        }
    }
}

/// Whether `path` is inside `folder` (a lexical path, as [`lexical`]
/// gives), judged lexically: links are not followed.
pub(super) fn is_inside(path: &Path, folder: &Path) -> bool {
    lexical(path)
        .strip_prefix(folder)
        .is_ok_and(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))))
}

/// `path` with `.` dropped and each `..` taking back the folder before it,
/// as a file system would resolve it (without following links): so
/// `app/./lib/../main.lua` names the same in-memory file as `app/main.lua`.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The deepest folder that holds every one of `paths` (lexically: `.` and
/// `..` resolved, links not followed).
fn common_folder<'p>(paths: impl IntoIterator<Item = &'p Path>) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for path in paths {
        let folder = lexical(path.parent().unwrap_or(Path::new("")));
        common = Some(match common {
            None => folder,
            Some(so_far) => so_far
                .components()
                .zip(folder.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.unwrap_or_default()
}

/// See [`Registry::load_sources`]: the app folder is the folder every
/// index file is in.
pub(crate) fn load_sources(
    sources: &[Source],
    read: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<Registry, LoadErrors> {
    let root = common_folder(sources.iter().map(|s| s.path.as_path()));
    load_in(sources, read, &root)
}

/// Loads the index files `sources` of the app in folder `root`: every
/// `source: file://...` must name a file inside it.
fn load_in(
    sources: &[Source],
    read: &dyn Fn(&Path) -> io::Result<String>,
    root: &Path,
) -> Result<Registry, LoadErrors> {
    let root = lexical(root);
    let mut state = State::default();
    for source in sources {
        state.file(source, read, &root);
    }
    state.check_references();
    let State {
        mut errors,
        registry,
        ..
    } = state;
    if errors.is_empty() {
        return Ok(registry);
    }
    let order = |file: &Path| sources.iter().position(|s| s.path == file);
    errors.sort_by_key(|e| (order(&e.file), e.line));
    Err(LoadErrors(errors))
}

/// An entry id seen in some file.
struct Declared {
    /// `None` when the kind was missing or unknown.
    kind: Option<EntryKind>,
    file: PathBuf,
    line: usize,
}

/// A reference to another entry, checked once every file is read.
struct Reference {
    target: EntryId,
    /// Kinds the target may have.
    accept: &'static [EntryKind],
    file: PathBuf,
    line: usize,
    entry: Option<String>,
    path: String,
}

#[derive(Default)]
struct State {
    errors: Vec<LoadError>,
    declared: BTreeMap<EntryId, Declared>,
    references: Vec<Reference>,
    registry: Registry,
}

/// Fields every entry has.
const COMMON_FIELDS: &[&str] = &["name", "kind", "meta"];
/// Fields of a file.
const FILE_FIELDS: &[&str] = &["version", "namespace", "entries"];
/// Hint for a file that is not a map.
const EXPECTED_FILE: &str = "expected a map with namespace and entries";

impl State {
    /// Reads one index file of the app in `app_folder`.
    fn file(
        &mut self,
        source: &Source,
        read: &dyn Fn(&Path) -> io::Result<String>,
        app_folder: &Path,
    ) {
        let mut r = Report {
            file: &source.path,
            entry: None,
            errors: &mut self.errors,
        };
        let docs = match Node::load_from_str(&source.text) {
            Ok(docs) => docs,
            Err(e) => {
                let message = format!("invalid YAML: {}", e.info());
                return r.error(e.marker().line(), "", message, None);
            }
        };
        let root = match docs.as_slice() {
            [root] if !yaml::is_null(root) && !root.data.is_badvalue() => root,
            [_, second, ..] => {
                let message = "more than one YAML document in an index file";
                return r.error(line(second), "", message, None);
            }
            _ => return r.error(1, "", "empty index file", Some(EXPECTED_FILE.into())),
        };
        let Some(fields) = yaml::fields(root, "", &mut r) else {
            return;
        };
        let mut namespace = None;
        let mut has_namespace = false;
        let mut entries = None;
        for f in fields.iter().filter(|f| !yaml::is_null(f.value)) {
            match f.key {
                "version" => {
                    if yaml::as_str(f.value).is_none() {
                        r.mismatch(f.value, &f.path, "a string, e.g. \"1.0\"");
                    }
                }
                "namespace" => {
                    has_namespace = true;
                    namespace = yaml::string(f.value, &f.path, &mut r)
                        .filter(|ns| check_namespace(ns, f, &mut r));
                }
                "entries" => entries = yaml::list(f.value, &f.path, &mut r),
                _ => r.unknown_field(f, FILE_FIELDS),
            }
        }
        if !has_namespace {
            r.missing(line(root), "", "namespace");
        }
        let dir = source.path.parent().unwrap_or(Path::new(""));
        for (node, path) in entries.unwrap_or_default() {
            let mut cx = Cx {
                r: Report {
                    file: &source.path,
                    entry: None,
                    errors: &mut self.errors,
                },
                namespace: namespace.as_deref(),
                dir,
                root: app_folder,
                read,
                references: &mut self.references,
            };
            if let Some(entry) = cx.entry(node, &path, &mut self.declared) {
                self.registry.insert(entry);
            }
        }
    }

    /// Checks every reference against the declared entries.
    fn check_references(&mut self) {
        for reference in &self.references {
            let mut r = Report {
                file: &reference.file,
                entry: reference.entry.clone(),
                errors: &mut self.errors,
            };
            let target = &reference.target;
            let (line, path) = (reference.line, reference.path.as_str());
            match self.declared.get(target) {
                None => {
                    let ids = self.declared.keys().map(EntryId::as_str);
                    let suggestion =
                        yaml::closest(target.as_str(), ids).map(|id| format!("did you mean {id}?"));
                    r.error(line, path, format!("unknown entry {target}"), suggestion);
                }
                Some(Declared {
                    kind: Some(kind), ..
                }) if !reference.accept.contains(kind) => {
                    let expected: Vec<_> = reference.accept.iter().map(|k| k.as_str()).collect();
                    let message =
                        format!("{target} is a {kind}, expected a {}", expected.join(" or "));
                    r.error(line, path, message, None);
                }
                Some(_) if reference.entry.as_deref() == Some(target.as_str()) => {
                    r.error(line, path, "an entry cannot refer to itself", None);
                }
                Some(_) => {}
            }
        }
        self.check_requires_cycles();
    }

    /// Reports every cycle of `lifecycle.requires` / `depends_on`, at the
    /// reference that closes it.
    fn check_requires_cycles(&mut self) {
        let is_requires = |path: &str| {
            path.contains(".lifecycle.requires[") || path.contains(".lifecycle.depends_on[")
        };
        let refs: Vec<&Reference> = self
            .references
            .iter()
            .filter(|r| r.entry.is_some() && is_requires(&r.path))
            .collect();
        let edges: Vec<requires::Edge> = refs
            .iter()
            .map(|r| requires::Edge {
                from: r.entry.as_deref().unwrap_or_default(),
                to: r.target.as_str(),
            })
            .collect();
        for cycle in requires::cycles(&edges) {
            let closing = refs[cycle.closing];
            let mut r = Report {
                file: &closing.file,
                entry: closing.entry.clone(),
                errors: &mut self.errors,
            };
            let message = format!("requires cycle: {}", cycle.path.join(" -> "));
            let hint =
                "entries that require each other can never start; remove one of the requirements";
            r.error(closing.line, &closing.path, message, Some(hint.into()));
        }
    }
}

fn check_namespace(ns: &str, f: &Field, r: &mut Report) -> bool {
    let segment_ok = |seg: &str| {
        let mut chars = seg.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let ok = ns.split('.').all(segment_ok);
    if !ok {
        let message = format!("invalid namespace {ns:?}");
        let hint = "use dotted identifiers, e.g. app.workers";
        r.error(line(f.value), &f.path, message, Some(hint.into()));
    }
    ok
}

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Context for reading one entry.
pub(super) struct Cx<'a> {
    pub(super) r: Report<'a>,
    /// `None` when the file's namespace is missing or invalid.
    namespace: Option<&'a str>,
    /// Folder of the index file.
    pub(super) dir: &'a Path,
    /// The app folder (lexical: `.` and `..` resolved): sources must be
    /// inside it, and `file:///x` names `x` in it.
    pub(super) root: &'a Path,
    /// Reads a Lua source.
    pub(super) read: &'a dyn Fn(&Path) -> io::Result<String>,
    references: &'a mut Vec<Reference>,
}

impl Cx<'_> {
    /// Reads one entry; `None` if it has errors (all reported).
    fn entry(
        &mut self,
        node: &Node,
        path: &str,
        declared: &mut BTreeMap<EntryId, Declared>,
    ) -> Option<Entry> {
        let entry_line = line(node);
        let fields = yaml::fields(node, path, &mut self.r)?;
        let given = |key: &str| {
            fields
                .iter()
                .find(|f| f.key == key && !yaml::is_null(f.value))
        };

        let name = match given("name") {
            None => {
                self.r.missing(entry_line, path, "name");
                None
            }
            Some(f) => yaml::string(f.value, &f.path, &mut self.r).filter(|name| {
                let ok = name_ok(name);
                if !ok {
                    let message = format!("invalid entry name {name:?}");
                    let hint = "use letters, digits, _, - and .";
                    self.r
                        .error(line(f.value), &f.path, message, Some(hint.into()));
                }
                ok
            }),
        };
        let id = self
            .namespace
            .zip(name.as_deref())
            .map(|(ns, name)| EntryId::new(ns, name));
        self.r.entry = id.as_ref().map(EntryId::to_string);

        let kind = match given("kind") {
            None => {
                self.r.missing(entry_line, path, "kind");
                None
            }
            Some(f) => self.kind(f),
        };

        let before = self.r.errors.len();
        if kind == Some(EntryKind::ClusterNats)
            && let Some((other, first)) = declared.iter().find(|(other, d)| {
                d.kind == Some(EntryKind::ClusterNats) && Some(*other) != id.as_ref()
            })
        {
            let message = format!(
                "a second cluster.nats entry: the app has {other} already, at {}:{}",
                first.file.display(),
                first.line
            );
            self.r.error(entry_line, path, message, None);
        }
        if let Some(id) = &id {
            if let Some(first) = declared.get(id) {
                let message = format!(
                    "duplicate entry id {id}, first declared at {}:{}",
                    first.file.display(),
                    first.line
                );
                self.r.error(entry_line, path, message, None);
            } else {
                let file = self.r.file.to_path_buf();
                let line = entry_line;
                declared.insert(id.clone(), Declared { kind, file, line });
            }
        }
        // Without a kind, no other field can be judged.
        let kind = kind?;

        let known = kind_fields(kind);
        let mut meta = BTreeMap::new();
        let mut extra = Vec::new();
        // The entry's fields as data (`Entry::data`); every field of a
        // `registry.entry` but the common ones is its data.
        let mut data = Vec::new();
        for f in &fields {
            if !COMMON_FIELDS.contains(&f.key)
                && (known.contains(&f.key) || kind == EntryKind::RegistryEntry)
            {
                data.push((Payload::from(f.key), yaml::payload(f.value)));
            }
            if COMMON_FIELDS.contains(&f.key) || known.contains(&f.key) {
                if f.key == "meta" && !yaml::is_null(f.value) {
                    meta = yaml::data_map(f.value, &f.path, &mut self.r).unwrap_or_default();
                }
            } else if kind == EntryKind::RegistryEntry {
                // Its data (taken above): no field is unknown.
            } else if let Some(k) = yaml::closest(f.key, COMMON_FIELDS.iter().chain(known).copied())
            {
                let suggestion = format!("did you mean {k}?");
                self.r
                    .error(f.line, &f.path, "unknown field", Some(suggestion));
            } else {
                extra.push((f.key.to_string(), yaml::payload(f.value)));
            }
        }
        for (key, value) in extra {
            meta.entry(key).or_insert(value);
        }

        let fields: Vec<&Field> = fields
            .iter()
            .filter(|f| known.contains(&f.key) && !yaml::is_null(f.value))
            .collect();
        let spec = match kind {
            EntryKind::ProcessLua | EntryKind::FunctionLua | EntryKind::LibraryLua => self
                .lua(kind, &fields, entry_line, path)
                .map(EntrySpec::Lua),
            EntryKind::ProcessHost => Some(EntrySpec::Host(self.host(&fields))),
            EntryKind::TerminalHost => Some(EntrySpec::Terminal(self.terminal(&fields))),
            EntryKind::Service => self
                .service(&fields, entry_line, path)
                .map(EntrySpec::Service),
            EntryKind::Policy => self
                .policy(&fields, entry_line, path)
                .map(EntrySpec::Policy),
            EntryKind::RegistryEntry => Some(EntrySpec::Data),
            EntryKind::EnvVariable => self
                .env_variable(&fields, entry_line, path)
                .map(EntrySpec::EnvVariable),
            EntryKind::ClusterNats => self
                .cluster(&fields, entry_line, path)
                .map(EntrySpec::Cluster),
            kind => self
                .env_storage(kind, &fields, entry_line, path)
                .map(EntrySpec::EnvStorage),
        };
        let data = match data.iter().position(|(k, _)| k.as_str() == Some("data")) {
            Some(i) if kind == EntryKind::RegistryEntry => data.swap_remove(i).1,
            _ => Payload::Map(data),
        };
        let data = if kind == EntryKind::RegistryEntry {
            self.data_files(data, entry_line, path)
        } else {
            data
        };
        if self.r.errors.len() > before {
            return None;
        }
        Some(Entry {
            id: id?,
            kind,
            meta,
            file: self.r.file.to_path_buf(),
            line: entry_line,
            spec: spec?,
            data,
        })
    }

    fn kind(&mut self, f: &Field) -> Option<EntryKind> {
        let text = yaml::string(f.value, &f.path, &mut self.r)?;
        if let Some((_, kind)) = EntryKind::ALL.iter().find(|(name, _)| *name == text) {
            return Some(*kind);
        }
        let names: Vec<&str> = EntryKind::ALL.iter().map(|(name, _)| *name).collect();
        let (message, suggestion) = if EntryKind::WIPPY_ONLY.contains(&text.as_str()) {
            let message = format!("kind {text} is not available in wippy-rs");
            let hint = format!(
                "Wippy has it, wippy-rs does not; wippy-rs has: {}",
                names.join(", ")
            );
            (message, Some(hint))
        } else {
            let message = format!("unknown kind {text:?}; known kinds: {}", names.join(", "));
            let typo = yaml::closest(&text, names.iter().copied())
                .or_else(|| yaml::closest(&text, EntryKind::WIPPY_ONLY.iter().copied()));
            (message, typo.map(|k| format!("did you mean {k}?")))
        };
        self.r.error(line(f.value), &f.path, message, suggestion);
        None
    }

    /// An entry id that must name an entry of one of the `accept` kinds;
    /// recorded to be checked once every file is read.
    pub(super) fn reference(
        &mut self,
        node: &Node,
        path: &str,
        accept: &'static [EntryKind],
    ) -> Option<EntryId> {
        let text = yaml::string(node, path, &mut self.r)?;
        match text.parse::<EntryId>() {
            Ok(target) => {
                self.references.push(Reference {
                    target: target.clone(),
                    accept,
                    file: self.r.file.to_path_buf(),
                    line: line(node),
                    entry: self.r.entry.clone(),
                    path: path.to_string(),
                });
                Some(target)
            }
            Err(error) => {
                let suggestion = match self.namespace {
                    Some(ns) if !text.contains(':') => Some(format!("did you mean {ns}:{text}?")),
                    _ => None,
                };
                self.r
                    .error(line(node), path, error.to_string(), suggestion);
                None
            }
        }
    }

    /// A list of references.
    pub(super) fn references(
        &mut self,
        node: &Node,
        path: &str,
        accept: &'static [EntryKind],
    ) -> Vec<EntryId> {
        yaml::list(node, path, &mut self.r)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(item, p)| self.reference(item, &p, accept))
            .collect()
    }
}
