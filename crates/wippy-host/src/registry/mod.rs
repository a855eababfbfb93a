//! The app registry: typed entries loaded from every `_index.yaml` of an app
//! folder (format: `docs/registry.md`).
//!
//! The registry is plain data, shared read-only (`Arc<Registry>`) by the Lua
//! hosts, supervision and the CLI. Loading reports *every* error it finds,
//! each naming file, line, entry id and field, with a suggestion for a
//! misspelt field.

mod entry;
mod error;
mod kinds;
mod load;
mod requires;
mod yaml;

#[cfg(test)]
mod tests;

pub use entry::{
    ClusterSpec, Entry, EntryId, EntryKind, EntrySpec, EnvStorageSpec, EnvVariableSpec, HostSpec,
    Isolation, Lifecycle, LuaSpec, PolicySpec, RestartSpec, SecuritySpec, ServiceSpec, Startup,
    TerminalSpec,
};
pub use error::{LoadError, LoadErrors};
pub use load::Source;

use std::collections::BTreeMap;
use std::path::Path;

use wippy_security::Policies;

/// Every entry of an app, by id.
///
/// ```
/// use wippy_host::registry::{EntryKind, Registry};
/// let reg = Registry::load_files([
///     (
///         "app/_index.yaml",
///         "version: \"1.0\"\nnamespace: app\nentries:\n  - name: main\n    kind: process.lua\n    source: file://main.lua\n    method: main\n",
///     ),
///     ("app/main.lua", "return { main = function() end }"),
/// ])
/// .unwrap();
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

    /// Loads an app held in memory (an app embedded in a binary, tests,
    /// benchmarks): its files as `(path, contents)` pairs, laid out as in
    /// an app folder. Every file named `_index.yaml` is an index file,
    /// loaded in the order given; the others are what the indexes'
    /// `source: file://...` fields name, resolved from the index file's
    /// folder as [`Registry::load_dir`] does (`.` and `..` included).
    ///
    /// Errors are those of [`Registry::load_dir`], each naming the file: a
    /// source that is not among the files (`cannot read source app/x.lua:
    /// not among the app's files`), a path given twice, no index file.
    ///
    /// ```
    /// use wippy_host::registry::{EntryKind, Registry};
    ///
    /// let reg = Registry::load_files([
    ///     (
    ///         "app/_index.yaml",
    ///         "namespace: app\nentries:\n  - { name: main, kind: process.lua, source: file://src/main.lua, method: main }\n",
    ///     ),
    ///     ("app/src/main.lua", "return { main = function() end }"),
    /// ])?;
    /// assert_eq!(reg.get(&"app:main".parse()?).unwrap().kind, EntryKind::ProcessLua);
    ///
    /// let missing = Registry::load_files([("app/_index.yaml", "namespace: app\nentries:\n  - { name: main, kind: process.lua, source: file://gone.lua, method: main }\n")]);
    /// assert!(missing.unwrap_err().to_string().contains("app/gone.lua"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_files<P: AsRef<Path>, T: AsRef<str>>(
        files: impl IntoIterator<Item = (P, T)>,
    ) -> Result<Registry, LoadErrors> {
        let files = files
            .into_iter()
            .map(|(path, text)| (path.as_ref().to_path_buf(), text.as_ref().to_owned()))
            .collect();
        load::load_files(files)
    }

    /// Loads index files given as text, reading the sources they name with
    /// `read` (for an embedder that keeps its files elsewhere; most want
    /// [`Registry::load_files`]). `read` resolves a source path (joined to
    /// its index file's folder) to text.
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
