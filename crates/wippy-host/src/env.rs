//! The app's environment variables (`docs/registry.md`): `env.variable` entries name values kept in `env.storage.*`
//! entries, and [`Env`] reads and writes them for the Lua `env` module.
//!
//! Looking up a key `k` (for a caller in namespace `ns`): the variable
//! whose name (`variable:`, else its entry id) is `k`; else, if `k` has no
//! namespace, the variable entry `ns:k`; else the variable entry `k`. Its
//! storage's value is the answer, an empty value counting as none; then its
//! `default`; else [`HostError::EnvNotFound`]. Setting checks the
//! variable's `readonly`, then the storage's (`os` and `static` are
//! read-only). A router answers a read from the first of its storages that
//! has the key, and writes to its first storage.
//!
//! Storages are built once with the app; a memory storage starts empty, a
//! file storage reads its file when first used and writes it on each set.
//! Security is the caller's (the Lua module checks `env.get` / `env.set`).
//!
//! ```
//! use wippy_host::Env;
//! use wippy_host::registry::Registry;
//!
//! let reg = Registry::load_files([(
//!     "app/_index.yaml",
//!     r#"
//! version: "1.0"
//! namespace: app
//! entries:
//!   - { name: mem, kind: env.storage.memory }
//!   - { name: port, kind: env.variable, variable: PORT, storage: app:mem, default: "8080" }
//! "#,
//! )])
//! .unwrap();
//! let env = Env::new(&reg);
//! assert_eq!(env.get("PORT", "app").unwrap(), "8080");
//! env.set("PORT", "9000", "app").unwrap();
//! assert_eq!(env.get("port", "app").unwrap(), "9000"); // by entry name too
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ahash::AHashMap;

use crate::error::HostError;
use crate::registry::{EntryId, EntrySpec, EnvStorageSpec, EnvVariableSpec, Registry};

/// The app's variables and storages.
#[derive(Debug, Default)]
pub struct Env {
    /// Variables by entry id.
    variables: BTreeMap<EntryId, Variable>,
    /// Entry ids of variables by their name (`variable:` or the id).
    names: AHashMap<String, EntryId>,
    /// Storages by entry id (in id order: [`Env::all`] reads them so).
    storages: BTreeMap<EntryId, Storage>,
}

#[derive(Debug)]
struct Variable {
    /// What the storage keeps it under.
    name: String,
    spec: EnvVariableSpec,
}

#[derive(Debug)]
enum Storage {
    Memory(Mutex<BTreeMap<String, String>>),
    Os,
    Static(BTreeMap<String, String>),
    File(FileStore),
    Router(Vec<EntryId>),
}

/// A file of `KEY=VALUE` lines, read when first used.
#[derive(Debug)]
struct FileStore {
    path: PathBuf,
    auto_create: bool,
    file_mode: u32,
    dir_mode: u32,
    /// The lines as read (comments and all), once read.
    lines: Mutex<Option<Vec<String>>>,
}

impl Env {
    /// The variables and storages of `registry`.
    pub fn new(registry: &Registry) -> Env {
        let mut env = Env::default();
        for e in registry.entries() {
            match &e.spec {
                EntrySpec::EnvVariable(spec) => {
                    let name = spec.variable.clone().unwrap_or_else(|| e.id.to_string());
                    env.names.insert(name.clone(), e.id.clone());
                    env.variables.insert(
                        e.id.clone(),
                        Variable {
                            name,
                            spec: spec.clone(),
                        },
                    );
                }
                EntrySpec::EnvStorage(spec) => {
                    env.storages.insert(e.id.clone(), Storage::new(spec));
                }
                _ => {}
            }
        }
        env
    }

    /// The value of `key` for a caller in namespace `ns`.
    pub fn get(&self, key: &str, ns: &str) -> Result<String, HostError> {
        let var = self.variable(key, ns)?;
        let value = self.read(&var.spec.storage, &var.name)?;
        match value.filter(|v| !v.is_empty()) {
            Some(v) => Ok(v),
            None => var
                .spec
                .default
                .clone()
                .ok_or_else(|| HostError::EnvNotFound(key.to_owned())),
        }
    }

    /// Sets `key` (for a caller in namespace `ns`) to `value`.
    pub fn set(&self, key: &str, value: &str, ns: &str) -> Result<(), HostError> {
        let var = self.variable(key, ns)?;
        if var.spec.readonly {
            return Err(HostError::EnvReadOnly(key.to_owned()));
        }
        self.write(&var.spec.storage, &var.name, value)
    }

    /// Every key every storage holds, with its value: of a key several
    /// storages hold, the first storage's by entry id (a router's, its
    /// first storage's) wins; an unreadable file storage adds nothing.
    pub fn all(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for id in self.storages.keys() {
            for (k, v) in self.list(id).unwrap_or_default() {
                out.entry(k).or_insert(v);
            }
        }
        out
    }

    fn variable(&self, key: &str, ns: &str) -> Result<&Variable, HostError> {
        if key.is_empty() {
            return Err(HostError::EnvKeyEmpty);
        }
        let by_id = |id: &str| {
            id.parse::<EntryId>()
                .ok()
                .and_then(|id| self.variables.get(&id))
        };
        self.names
            .get(key)
            .and_then(|id| self.variables.get(id))
            .or_else(|| {
                (!key.contains(':'))
                    .then(|| by_id(&format!("{ns}:{key}")))
                    .flatten()
            })
            .or_else(|| by_id(key))
            .ok_or_else(|| HostError::EnvNotFound(key.to_owned()))
    }

    fn storage(&self, id: &EntryId) -> Result<&Storage, HostError> {
        self.storages
            .get(id)
            .ok_or_else(|| HostError::EnvNotFound(id.to_string()))
    }

    fn read(&self, id: &EntryId, key: &str) -> Result<Option<String>, HostError> {
        Ok(match self.storage(id)? {
            Storage::Memory(m) => lock(m).get(key).cloned(),
            Storage::Os => std::env::var(key).ok(),
            Storage::Static(values) => values.get(key).cloned(),
            Storage::File(f) => f.get(key, id)?,
            Storage::Router(ids) => {
                for id in ids {
                    if let Some(v) = self.read(id, key)?.filter(|v| !v.is_empty()) {
                        return Ok(Some(v));
                    }
                }
                None
            }
        })
    }

    fn write(&self, id: &EntryId, key: &str, value: &str) -> Result<(), HostError> {
        match self.storage(id)? {
            Storage::Memory(m) => {
                lock(m).insert(key.to_owned(), value.to_owned());
                Ok(())
            }
            Storage::Os | Storage::Static(_) => Err(HostError::EnvStorageReadOnly(id.to_string())),
            Storage::File(f) => f.set(key, value, id),
            Storage::Router(ids) => self.write(&ids[0], key, value),
        }
    }

    fn list(&self, id: &EntryId) -> Result<Vec<(String, String)>, HostError> {
        Ok(match self.storage(id)? {
            Storage::Memory(m) => lock(m).clone().into_iter().collect(),
            Storage::Os => std::env::vars().collect(),
            Storage::Static(values) => values.clone().into_iter().collect(),
            Storage::File(f) => f.list(id)?,
            Storage::Router(ids) => {
                let mut out: Vec<(String, String)> = Vec::new();
                for id in ids {
                    for (k, v) in self.list(id)? {
                        if !out.iter().any(|(seen, _)| *seen == k) {
                            out.push((k, v));
                        }
                    }
                }
                out
            }
        })
    }
}

impl Storage {
    fn new(spec: &EnvStorageSpec) -> Storage {
        match spec {
            EnvStorageSpec::Memory => Storage::Memory(Mutex::new(BTreeMap::new())),
            EnvStorageSpec::Os => Storage::Os,
            EnvStorageSpec::Static(values) => Storage::Static(values.clone()),
            EnvStorageSpec::File {
                path,
                auto_create,
                file_mode,
                dir_mode,
            } => Storage::File(FileStore {
                path: path.clone(),
                auto_create: *auto_create,
                file_mode: *file_mode,
                dir_mode: *dir_mode,
                lines: Mutex::new(None),
            }),
            EnvStorageSpec::Router(ids) => Storage::Router(ids.clone()),
        }
    }
}

/// A mutex that a panicking holder left poisoned still guards whole data
/// (every write is one map or vector operation).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FileStore {
    fn get(&self, key: &str, id: &EntryId) -> Result<Option<String>, HostError> {
        self.with_lines(id, |lines| {
            lines
                .iter()
                .find_map(|l| parse_line(l, key))
                .map(str::to_owned)
        })
    }

    fn list(&self, id: &EntryId) -> Result<Vec<(String, String)>, HostError> {
        self.with_lines(id, |lines| {
            lines
                .iter()
                .filter_map(|l| {
                    let (k, v) = split_line(l)?;
                    Some((k.to_owned(), v.to_owned()))
                })
                .collect()
        })
    }

    fn set(&self, key: &str, value: &str, id: &EntryId) -> Result<(), HostError> {
        let mut guard = lock(&self.lines);
        if guard.is_none() {
            *guard = Some(self.load(id)?);
        }
        let lines = guard.as_mut().expect("loaded just above");
        let line = format!("{key}={value}");
        match lines.iter().position(|l| parse_line(l, key).is_some()) {
            Some(i) => lines[i] = line,
            None => lines.push(line),
        }
        let mut text = lines.join("\n");
        text.push('\n');
        self.write(&text)
            .map_err(|e| storage_error(id, &self.path, e))
    }

    /// Runs `f` on the file's lines, reading them first if need be.
    fn with_lines<R>(&self, id: &EntryId, f: impl FnOnce(&[String]) -> R) -> Result<R, HostError> {
        let mut guard = lock(&self.lines);
        if guard.is_none() {
            *guard = Some(self.load(id)?);
        }
        Ok(f(guard.as_deref().expect("loaded just above")))
    }

    fn load(&self, id: &EntryId) -> Result<Vec<String>, HostError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.auto_create => {
                self.write("")
                    .map_err(|e| storage_error(id, &self.path, e))?;
                Ok(Vec::new())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(HostError::EnvNotFound(
                format!("{} (storage {id})", self.path.display()),
            )),
            Err(e) => Err(storage_error(id, &self.path, e)),
        }
    }

    fn write(&self, text: &str) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir(dir, self.dir_mode)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, self.file_mode);
        #[cfg(not(unix))]
        let _ = self.file_mode;
        std::io::Write::write_all(&mut options.open(&self.path)?, text.as_bytes())
    }
}

fn create_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(dir)
}

fn storage_error(id: &EntryId, path: &Path, e: std::io::Error) -> HostError {
    HostError::EnvStorage {
        storage: id.to_string(),
        message: format!("{}: {e}", path.display()),
    }
}

/// `KEY=VALUE` of a line, without what follows a `#` (no quoting: a `#`
/// anywhere starts a comment, as in Wippy).
fn split_line(line: &str) -> Option<(&str, &str)> {
    let line = line.split('#').next().unwrap_or("");
    let (k, v) = line.split_once('=')?;
    let k = k.trim();
    (!k.is_empty()).then(|| (k, v.trim()))
}

/// The value of `key` on `line`, if the line sets it.
fn parse_line<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    split_line(line).filter(|(k, _)| *k == key).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(yaml: &str) -> Env {
        let reg = Registry::load_files([("app/_index.yaml", yaml)]).unwrap();
        Env::new(&reg)
    }

    const APP: &str = r#"
version: "1.0"
namespace: app
entries:
  - { name: mem, kind: env.storage.memory }
  - name: fixed
    kind: env.storage.static
    values: { HOST: example.org, EMPTY: "", COUNT: 3 }
  - { name: both, kind: env.storage.router, storages: [app:mem, app:fixed] }
  - { name: host, kind: env.variable, variable: HOST, storage: app:both }
  - { name: empty, kind: env.variable, variable: EMPTY, storage: app:fixed, default: dflt }
  - { name: count, kind: env.variable, variable: COUNT, storage: app:fixed }
  - { name: locked, kind: env.variable, storage: app:mem, readonly: true }
  - { name: none, kind: env.variable, variable: NONE, storage: app:mem }
  - { name: frozen, kind: env.variable, variable: FROZEN, storage: app:fixed }
"#;

    #[test]
    fn lookup_by_name_caller_namespace_and_id() {
        let env = env(APP);
        assert_eq!(env.get("HOST", "other").unwrap(), "example.org");
        assert_eq!(env.get("host", "app").unwrap(), "example.org");
        assert_eq!(env.get("app:host", "other").unwrap(), "example.org");
        assert!(matches!(
            env.get("host", "other"),
            Err(HostError::EnvNotFound(_))
        ));
        assert!(matches!(env.get("", "app"), Err(HostError::EnvKeyEmpty)));
        assert_eq!(env.get("COUNT", "app").unwrap(), "3");
    }

    #[test]
    fn empty_values_fall_back_to_the_default_or_are_not_found() {
        let env = env(APP);
        assert_eq!(env.get("EMPTY", "app").unwrap(), "dflt");
        assert!(matches!(
            env.get("NONE", "app"),
            Err(HostError::EnvNotFound(_))
        ));
        env.set("NONE", "", "app").unwrap();
        assert!(matches!(
            env.get("NONE", "app"),
            Err(HostError::EnvNotFound(_))
        ));
    }

    #[test]
    fn writes_respect_readonly_and_routers_write_their_first_storage() {
        let env = env(APP);
        assert!(matches!(
            env.set("app:locked", "x", "app"),
            Err(HostError::EnvReadOnly(_))
        ));
        assert!(matches!(
            env.set("FROZEN", "x", "app"),
            Err(HostError::EnvStorageReadOnly(_))
        ));
        env.set("HOST", "mine.example", "app").unwrap();
        assert_eq!(env.get("HOST", "app").unwrap(), "mine.example");
        let all = env.all();
        assert_eq!(all.get("HOST").map(String::as_str), Some("mine.example"));
        assert_eq!(all.get("COUNT").map(String::as_str), Some("3"));
    }

    #[test]
    fn file_storage_reads_and_rewrites_its_lines() {
        let dir = std::env::temp_dir().join(format!("wippy-env-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("sub/app.env");
        let yaml = format!(
            r#"
version: "1.0"
namespace: app
entries:
  - {{ name: file, kind: env.storage.file, file_path: "{}", auto_create: true }}
  - {{ name: token, kind: env.variable, variable: TOKEN, storage: app:file }}
  - {{ name: other, kind: env.variable, variable: OTHER, storage: app:file }}
"#,
            file.display()
        );
        let env = env(&yaml);
        assert!(matches!(
            env.get("TOKEN", "app"),
            Err(HostError::EnvNotFound(_))
        ));
        assert!(file.exists(), "auto_create made the file");
        env.set("TOKEN", "abc", "app").unwrap();
        env.set("OTHER", "1", "app").unwrap();
        env.set("TOKEN", "def", "app").unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "TOKEN=def\nOTHER=1\n"
        );
        std::fs::write(&file, "# comment\nTOKEN = xyz # trailing\n").unwrap();
        let fresh = self::env(&yaml);
        assert_eq!(fresh.get("TOKEN", "app").unwrap(), "xyz");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_without_auto_create_is_not_found() {
        let yaml = r#"
version: "1.0"
namespace: app
entries:
  - { name: file, kind: env.storage.file, file_path: /nonexistent/wippy/app.env }
  - { name: token, kind: env.variable, variable: TOKEN, storage: app:file }
"#;
        let env = env(yaml);
        assert!(matches!(
            env.get("TOKEN", "app"),
            Err(HostError::EnvNotFound(_))
        ));
    }
}
