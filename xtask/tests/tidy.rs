//! Tidy: rules of the repository that are cheaper to check than to review
//! (rust-analyzer's `xtask/src/tidy.rs` habit). Each rule is a test; each
//! failure lists every offender with what to fix.
//!
//! # Module docs
//!
//! Every `.rs` file under `crates/*/src` and `xtask/src` starts with a module
//! doc: its first non-blank line begins with `//!`, or with `#![doc` (a crate
//! root that includes its README as its doc).
//!
//! # Citations in ARCHITECTURE.md
//!
//! ARCHITECTURE.md names the code and the tests that guard each invariant.
//! A *citation* is an inline code span (text between single backticks, on
//! one line, outside fenced code blocks) whose whole text contains `.rs::`.
//! It must read exactly
//!
//! ```text
//! citation = file "::" name { "::" name } [ "*" ]
//! file     = 1*( letter | digit | "_" | "-" ) ".rs"      (no folders)
//! name     = ( letter | "_" ) *( letter | digit | "_" )  (a Rust identifier)
//! ```
//!
//! for example `lifecycle.rs::names_are_exclusive_and_freed_when_the_process_ends`,
//! `cell.rs::ProcessCell::accepts` or `preemption.rs::a_busy_*`. It holds
//! when some file of that name under `crates/` declares every name of the
//! path (as a `fn`, `struct`, `enum`, `trait`, `type`, `const`, `static` or
//! `mod`, outside `//` comments); a trailing `*` makes the last name a
//! prefix that at least one declared name starts with. A code span that
//! contains `.rs::` but does not follow the grammar is an error too, so a
//! typo cannot turn a citation into prose.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The repository root (xtask's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lies in the repository root")
        .to_path_buf()
}

/// Every `.rs` file below `dir`, sorted; hidden folders and `target` are
/// skipped.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let items = fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {dir:?}: {e}"));
        for item in items {
            let path = item.expect("a folder entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every path a source file cites resolves in the repository: no
/// `spec/...` page of the shared material (a clone has none of it), and
/// every `docs/<page>.md` exists.
#[test]
fn every_page_the_code_cites_is_in_the_repository() {
    let root = root();
    let mut bad = Vec::new();
    for dir in ["crates", "xtask/src"] {
        for path in rust_files(&root.join(dir)) {
            let text = read(&path);
            for (n, line) in text.lines().enumerate() {
                let at = || format!("{}:{}", path.strip_prefix(&root).unwrap().display(), n + 1);
                if line.contains("`spec/") || line.contains("(spec/") {
                    bad.push(format!(
                        "{}: cites a spec page outside the repository",
                        at()
                    ));
                }
                let mut rest = line;
                while let Some(i) = rest.find("docs/") {
                    let tail = &rest[i..];
                    let end = tail
                        .find(|c: char| !(c.is_ascii_alphanumeric() || "/-_.".contains(c)))
                        .unwrap_or(tail.len());
                    let page = tail[..end].trim_end_matches('.');
                    if page.ends_with(".md") && !root.join(page).is_file() {
                        bad.push(format!("{}: {page} does not exist", at()));
                    }
                    rest = &tail[end.max(5)..];
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_module_file_starts_with_a_module_doc() {
    let root = root();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .expect("crates/ is readable")
        .map(|c| c.expect("a crate folder").path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    dirs.push(root.join("xtask/src"));
    let mut missing = Vec::new();
    let mut checked = 0;
    for file in dirs.iter().flat_map(|d| rust_files(d)) {
        checked += 1;
        let text = read(&file);
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !(first.starts_with("//!") || first.starts_with("#![doc")) {
            let shown = file.strip_prefix(&root).unwrap_or(&file);
            missing.push(shown.display().to_string());
        }
    }
    assert!(
        checked > 0,
        "no source files found under {}",
        root.display()
    );
    assert!(
        missing.is_empty(),
        "{} module file(s) do not start with a `//!` doc saying what the module is for:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

/// One citation of ARCHITECTURE.md: `file::a::b`, maybe with a trailing `*`.
#[derive(Debug, PartialEq, Eq)]
struct Citation {
    file: String,
    names: Vec<String>,
    prefix: bool,
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a code span that contains `.rs::` (see the module docs).
fn citation(span: &str) -> Result<Citation, String> {
    let bad = |why: &str| Err(format!("`{span}`: {why}"));
    let (body, prefix) = match span.strip_suffix('*') {
        Some(body) => (body, true),
        None => (span, false),
    };
    let mut parts = body.split("::");
    let file = parts.next().unwrap_or("");
    let stem = file.strip_suffix(".rs").unwrap_or("");
    if stem.is_empty()
        || !stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return bad("expected a file name ending in .rs (no folders) before the first ::");
    }
    let names: Vec<String> = parts.map(str::to_owned).collect();
    if names.is_empty() || !names.iter().all(|n| is_identifier(n)) {
        return bad("expected Rust identifiers joined by :: after the file name");
    }
    Ok(Citation {
        file: file.to_owned(),
        names,
        prefix,
    })
}

/// Every citation of a Markdown text, with its line number; malformed ones
/// as errors.
fn citations(markdown: &str) -> Vec<(usize, Result<Citation, String>)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (ix, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Odd pieces between backticks are code spans.
        for span in line.split('`').skip(1).step_by(2) {
            if span.contains(".rs::") {
                out.push((ix + 1, citation(span)));
            }
        }
    }
    out
}

/// Names a Rust file declares (see the module docs), comments skipped.
fn declared_names(text: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 8] = [
        "fn", "struct", "enum", "trait", "type", "const", "static", "mod",
    ];
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let words: Vec<&str> = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        for pair in words.windows(2) {
            if KEYWORDS.contains(&pair[0]) && is_identifier(pair[1]) {
                names.insert(pair[1].to_owned());
            }
        }
    }
    names
}

impl Citation {
    /// Whether `names` (declared in one file of the cited name) hold every
    /// name of the citation.
    fn holds_in(&self, names: &BTreeSet<String>) -> bool {
        let (last, path) = self.names.split_last().expect("a citation has a name");
        let last_holds = if self.prefix {
            names.iter().any(|n| n.starts_with(last.as_str()))
        } else {
            names.contains(last)
        };
        last_holds && path.iter().all(|n| names.contains(n))
    }
}

#[test]
fn every_test_and_item_cited_in_architecture_md_exists() {
    let root = root();
    let doc = read(&root.join("ARCHITECTURE.md"));
    let sources: Vec<(PathBuf, BTreeSet<String>)> = rust_files(&root.join("crates"))
        .into_iter()
        .map(|path| {
            let names = declared_names(&read(&path));
            (path, names)
        })
        .collect();
    let found = citations(&doc);
    assert!(
        !found.is_empty(),
        "ARCHITECTURE.md cites no tests (expected `file.rs::name` spans)"
    );
    let mut problems = Vec::new();
    for (line, cited) in found {
        let cited = match cited {
            Ok(c) => c,
            Err(malformed) => {
                problems.push(format!("line {line}: {malformed}"));
                continue;
            }
        };
        let files: Vec<&(PathBuf, BTreeSet<String>)> = sources
            .iter()
            .filter(|(path, _)| path.file_name().and_then(|n| n.to_str()) == Some(&cited.file))
            .collect();
        if files.is_empty() {
            problems.push(format!("line {line}: no file {} under crates/", cited.file));
        } else if !files.iter().any(|(_, names)| cited.holds_in(names)) {
            let what = cited.names.join("::") + if cited.prefix { "*" } else { "" };
            problems.push(format!(
                "line {line}: no {} under crates/ declares {what}",
                cited.file
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} citation(s) in ARCHITECTURE.md do not resolve (syntax: xtask/tests/tidy.rs):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn the_citation_parser_is_strict() {
    let ok = citation("cell.rs::ProcessCell::accepts").unwrap();
    assert_eq!(
        ok,
        Citation {
            file: "cell.rs".into(),
            names: vec!["ProcessCell".into(), "accepts".into()],
            prefix: false,
        }
    );
    assert!(citation("preemption.rs::a_busy_*").unwrap().prefix);
    for bad in [
        "wippy-lua/tests/a.rs::x",
        "a.rs::",
        "a.rs::x y",
        "a.rs::x::*",
        ".rs::x",
        "a.rs::x()",
    ] {
        assert!(citation(bad).is_err(), "{bad} was accepted");
    }
    let markdown =
        "see `a.rs::one` and `b.rs`\n```\n`c.rs::fenced`\n```\n`d.rs::two*`, `e.rs::bad name`\n";
    let found: Vec<_> = citations(markdown)
        .into_iter()
        .map(|(l, c)| (l, c.is_ok()))
        .collect();
    assert_eq!(found, [(1, true), (5, true), (5, false)]);
    let names = declared_names(
        "pub(crate) fn one() {}\n// fn commented() {}\nstruct Two;\nimpl Two { async fn three(&self) {} }\n",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["Two", "one", "three"]
    );
}
