//! `Registry::load_dir` on a real folder tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use wippy_host::registry::{EntryKind, Registry};

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        // Relaxed: only the uniqueness of the number matters.
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wippy-host-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().expect("file has a folder")).expect("create folder");
        fs::write(path, text).expect("write file");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_dir_finds_index_files_in_nested_folders() {
    let tmp = TempDir::new("nested");
    tmp.write(
        "_index.yaml",
        "version: \"1.0\"\nnamespace: app\nentries:\n  - name: main\n    kind: process.lua\n    source: file://src/main.lua\n    method: main\n    imports: { util: app.lib:util }\n",
    );
    tmp.write("src/main.lua", "return { main = function() end }");
    tmp.write(
        "lib/deep/_index.yaml",
        "namespace: app.lib\nentries:\n  - name: util\n    kind: library.lua\n    source: file://util.lua\n",
    );
    tmp.write("lib/deep/util.lua", "return { answer = 42 }");
    tmp.write("lib/notes.yaml", "not: an index\n");

    let reg = Registry::load_dir(&tmp.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reg.len(), 2);
    let main = reg.get(&"app:main".parse().unwrap()).unwrap();
    assert_eq!(main.kind, EntryKind::ProcessLua);
    assert_eq!(main.file, tmp.0.join("_index.yaml"));
    let util = reg.get(&"app.lib:util".parse().unwrap()).unwrap();
    let lua = util.lua().unwrap();
    assert_eq!(lua.path, tmp.0.join("lib/deep/util.lua"));
    assert_eq!(&*lua.source, "return { answer = 42 }");
}

#[test]
fn load_dir_reports_errors_of_every_file_with_real_paths() {
    let tmp = TempDir::new("errors");
    tmp.write(
        "a/_index.yaml",
        "namespace: a\nentries:\n  - name: x\n    kind: process.lua\n    source: file://missing.lua\n    method: main\n",
    );
    tmp.write(
        "b/_index.yaml",
        "namespace: b\nentries:\n  - name: y\n    kind: nope\n",
    );
    let errors = Registry::load_dir(&tmp.0).unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert_eq!(errors.0[0].file, tmp.0.join("a/_index.yaml"));
    assert_eq!(errors.0[0].line, 5);
    assert!(
        errors.0[0]
            .message
            .contains(&tmp.0.join("a/missing.lua").display().to_string()),
        "{errors}"
    );
    assert_eq!(errors.0[1].file, tmp.0.join("b/_index.yaml"));
    assert_eq!(errors.0[1].entry.as_deref(), Some("b:y"));
}

#[test]
fn load_dir_names_a_missing_or_empty_folder() {
    let tmp = TempDir::new("empty");
    let errors = Registry::load_dir(&tmp.0).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].file, tmp.0);
    assert!(
        errors.0[0].to_string().contains("no _index.yaml"),
        "{errors}"
    );

    let gone: &Path = &tmp.0.join("gone");
    let errors = Registry::load_dir(gone).unwrap_err();
    assert_eq!(errors.0[0].file, gone);
    assert!(
        errors.0[0].to_string().contains("does not exist"),
        "{errors}"
    );
}
