//! The app registry: typed entries loaded from every `_index.yaml` of an app
//! folder (format: `spec/registry.md`).
//!
//! The registry is plain data, shared read-only (`Arc<Registry>`) by the Lua
//! hosts, supervision and the CLI. Loading reports *every* error it finds,
//! each naming file, line, entry id and field, with a suggestion for a
//! misspelt field.

mod entry;
mod error;
mod kinds;
mod load;
mod yaml;

#[cfg(test)]
mod tests;

pub use entry::{
    Entry, EntryId, EntryKind, EntrySpec, HostSpec, Isolation, Lifecycle, LuaSpec, PolicySpec,
    RestartSpec, SecuritySpec, ServiceSpec, Startup, TerminalSpec,
};
pub use error::{LoadError, LoadErrors};
pub use load::Source;

use std::collections::BTreeMap;
use std::path::Path;

use wippy_security::Policies;

/// Every entry of an app, by id.
///
/// ```
/// use wippy_host::registry::{Registry, Source, EntryKind};
/// let reg = Registry::load_sources(&[Source {
///     path: "app/_index.yaml".into(),
///     text: "version: \"1.0\"\nnamespace: app\nentries:\n  - name: main\n    kind: process.lua\n    source: file://main.lua\n    method: main\n".into(),
/// }], &|_| Ok("return { main = function() end }".to_string())).unwrap();
/// let main = reg.get(&"app:main".parse().unwrap()).unwrap();
/// assert_eq!(main.kind, EntryKind::ProcessLua);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Registry {
    entries: BTreeMap<EntryId, Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Loads every `_index.yaml` below `dir` (sorted, so errors come out in a
    /// stable order). Lua sources are read and kept in the entries.
    pub fn load_dir(dir: &Path) -> Result<Registry, LoadErrors> {
        load::load_dir(dir)
    }

    /// Loads index files given as text (an embedded app, tests). `read`
    /// resolves a source path (joined to its index file's folder) to text.
    pub fn load_sources(
        sources: &[Source],
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Registry, LoadErrors> {
        load::load_sources(sources, read)
    }

    /// The entry with `id`.
    pub fn get(&self, id: &EntryId) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// Every entry, ordered by id.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Entries of one kind, ordered by id.
    pub fn of_kind(&self, kind: EntryKind) -> impl Iterator<Item = &Entry> {
        self.entries.values().filter(move |e| e.kind == kind)
    }

    /// Adds or replaces an entry (hosts the CLI adds, tests).
    pub fn insert(&mut self, entry: Entry) {
        self.entries.insert(entry.id.clone(), entry);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every `security.policy` entry as a policy, by id and group.
    pub fn policies(&self) -> Policies {
        let mut all = Policies::default();
        for e in self.of_kind(EntryKind::Policy) {
            if let EntrySpec::Policy(spec) = &e.spec {
                all.insert(spec.policy(&e.id), &spec.groups);
            }
        }
        all
    }
}
