//! The checks a loaded app passes before it starts: what `wippy check`
//! reports and what `wippy run`, `test` and `top` refuse to start with.
//! Each problem names the file and line to fix.
//!
//! The registry's own load checks come first (fields, references, host
//! limits, `requires` cycles, module and kind names). Then, here:
//! - every Lua entry compiles, as a process spawned from it would compile
//!   it (Wippy's dialect translated to Luau, a UTF-8 byte order mark
//!   dropped), so a syntax error in an entry no service starts is still
//!   found;
//! - the `method` of a `process.lua` / `function.lua` entry is named in its
//!   source (see [`names_method`]);
//! - host and service security settings resolve against the app's
//!   policies, as starting them does.

use std::path::Path;
use std::sync::Arc;

use wippy_host::registry::{Entry, EntryKind, EntrySpec, Registry};
use wippy_lua::{CodeCache, HostSecurity, LuaHostConfig};

/// Runs every check on `registry` (`workers`: the `--workers` default of
/// hosts that set none). On success, the compiled code of every entry,
/// ready for the app to start with; otherwise every problem, one line
/// each, in entry order.
pub fn preflight(registry: Registry, workers: usize) -> Result<Arc<CodeCache>, Vec<String>> {
    let code = CodeCache::new(Arc::new(registry));
    let registry = code.registry().clone();
    let policies = registry.policies();
    let mut problems = Vec::new();
    for e in registry.entries() {
        let at = |message: String| format!("{}:{}: [{}] {message}", e.file.display(), e.line, e.id);
        match &e.spec {
            EntrySpec::Lua(lua) => match code.get(&e.id) {
                Ok(_) => {
                    if let Some(method) = lua.method.as_deref()
                        && e.kind != EntryKind::LibraryLua
                        && !names_method(&lua.source, method)
                    {
                        problems.push(at(format!(
                            "method: method {method:?} not found in module: {} never names it",
                            file_name(&lua.path)
                        )));
                    }
                }
                Err(wippy_lua::Error::Compile { path, message, .. }) => {
                    problems.push(compile_problem(e, &path, &message));
                }
                Err(other) => problems.push(at(other.to_string())),
            },
            EntrySpec::Host(spec) => {
                if let Err(err) = LuaHostConfig::from_spec(e.id.as_str(), spec, workers, &policies)
                {
                    problems.push(at(format!("security: {err}")));
                }
            }
            EntrySpec::Terminal(spec) => {
                if let Err(err) =
                    HostSecurity::from_spec(None, spec.accept_from.as_deref(), &policies)
                {
                    problems.push(at(format!("accept_from: {err}")));
                }
            }
            EntrySpec::Service(spec) => {
                if let Some(security) = &spec.lifecycle.security
                    && let Err(err) = security.principal(&policies)
                {
                    problems.push(at(format!("lifecycle.security: {err}")));
                }
            }
            // Typed and checked whole when the registry loads.
            EntrySpec::Policy(_)
            | EntrySpec::Data
            | EntrySpec::EnvVariable(_)
            | EntrySpec::EnvStorage(_)
            | EntrySpec::Cluster(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(code)
    } else {
        Err(problems)
    }
}

/// A compile error as `source:line: [entry] message` (Luau and the dialect
/// translator both start their message with `LINE: `).
fn compile_problem(e: &Entry, path: &Path, message: &str) -> String {
    let (line, text) = match message.split_once(": ") {
        Some((line, text)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => {
            (format!(":{line}"), text)
        }
        _ => (String::new(), message),
    };
    format!("{}{line}: [{}] {text}", path.display(), e.id)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Whether `source` can export a function under `method`: it names it as a
/// word (an identifier or inside a string, comments included), or the chunk
/// returns a function (`return function`), which Wippy runs whatever the
/// method says.
///
/// This is what can be known without running the chunk, and `check` does
/// not run code (a chunk's top level may do anything a process can). It
/// never refuses an entry that would run: a chunk that returns a table
/// with `main` in it spells `main` somewhere, short of building the key at
/// run time (`t["ma" .. "in"]`). It misses a name that appears but is not
/// exported; the process then fails when it starts, as in Wippy.
pub fn names_method(source: &str, method: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let found = source.match_indices(method).any(|(at, _)| {
        let before = source[..at].chars().next_back();
        let after = source[at + method.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    });
    found || returns_a_function(source)
}

/// Whether a `return` is followed by the keyword `function`.
fn returns_a_function(source: &str) -> bool {
    source.match_indices("return").any(|(at, _)| {
        let before = source[..at].chars().next_back();
        let rest = &source[at + "return".len()..];
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && rest.starts_with(char::is_whitespace)
            && rest
                .trim_start()
                .strip_prefix("function")
                .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_is_found_as_a_word_or_a_returned_function() {
        let table = "local function main() end\nreturn { main = main }";
        assert!(names_method(table, "main"));
        assert!(!names_method(table, "nosuch"));
        assert!(!names_method(
            "local mainly = 1 return { mainly = mainly }",
            "main"
        ));
        assert!(names_method(
            "local M = {}\nfunction M.run() end\nreturn M",
            "run"
        ));
        assert!(names_method("return { [\"run\"] = function() end }", "run"));
        assert!(names_method("return function() end", "main"));
        assert!(names_method("return\n  function() end", "main"));
        assert!(!names_method("return functional()", "main"));
        assert!(!names_method("local x = nreturn function() end", "main"));
    }
}
