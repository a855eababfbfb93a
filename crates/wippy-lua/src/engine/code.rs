//! Compiled code: each Lua entry is compiled to Luau bytecode once per
//! runtime and shared by every host and shard (see `execution.md` §5).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use ahash::AHashMap;
use wippy_host::registry::{EntryId, EntryKind, Registry};

use crate::Error;

/// One compiled Lua entry.
#[derive(Debug)]
pub struct Compiled {
    /// The entry.
    pub id: EntryId,
    /// Its kind (`process.lua`, `function.lua`, `library.lua`).
    pub kind: EntryKind,
    /// Luau bytecode of the source.
    pub bytecode: Vec<u8>,
    /// Name the chunk carries in errors and tracebacks (the entry id).
    pub chunk_name: String,
    /// The method to run.
    pub method: Option<String>,
    /// Modules it may require.
    pub modules: Vec<String>,
    /// `alias → library` imports.
    pub imports: BTreeMap<String, EntryId>,
}

/// Compiles entries on first use and keeps the bytecode.
pub struct CodeCache {
    registry: Arc<Registry>,
    compiled: Mutex<AHashMap<EntryId, Arc<Compiled>>>,
    compiles: std::sync::atomic::AtomicUsize,
}

impl CodeCache {
    /// A cache over the entries of `registry`.
    pub fn new(registry: Arc<Registry>) -> Arc<CodeCache> {
        Arc::new(CodeCache {
            registry,
            compiled: Mutex::new(AHashMap::new()),
            compiles: Default::default(),
        })
    }

    /// The registry the code comes from.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// How many compilations ran (an upgrade to cached code adds none).
    pub fn compile_count(&self) -> usize {
        self.compiles.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The compiled code of `id`, compiling it on first use.
    pub fn get(&self, id: &EntryId) -> Result<Arc<Compiled>, Error> {
        if let Some(c) = self
            .compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            return Ok(c.clone());
        }
        let entry = self
            .registry
            .get(id)
            .ok_or_else(|| Error::UnknownEntry(id.clone()))?;
        let lua = entry.lua().ok_or_else(|| Error::NotLua {
            id: id.clone(),
            kind: entry.kind,
        })?;
        let bytecode = compile(&lua.source).map_err(|message| Error::Compile {
            id: id.clone(),
            path: lua.path.clone(),
            message,
        })?;
        self.compiles
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let compiled = Arc::new(Compiled {
            id: id.clone(),
            kind: entry.kind,
            bytecode,
            chunk_name: format!("@{id}"),
            method: lua.method.clone(),
            modules: lua.modules.clone(),
            imports: lua.imports.clone(),
        });
        self.compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), compiled.clone());
        Ok(compiled)
    }
}

/// Compiles an entry's source: a UTF-8 byte order mark is dropped (as
/// Lua's loader does), Wippy's go-lua dialect is translated to Luau line
/// for line (`wippy_dialect`), and the result is compiled to bytecode.
///
/// A source the translator cannot parse is given to Luau as it is, so a
/// syntax error reads as Luau words it (and a form only Luau knows still
/// compiles).
fn compile(source: &str) -> Result<Vec<u8>, String> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let luau = |text: &str| {
        compiler().compile(text.as_bytes()).map_err(|e| {
            e.to_string()
                .trim_start_matches("syntax error: ")
                .to_owned()
        })
    };
    // Both report `LINE: message`, as Luau does.
    let dialect_error = |e: wippy_dialect::DialectError| {
        let text = e.to_string();
        text.strip_prefix("line ")
            .map(str::to_owned)
            .unwrap_or(text)
    };
    match wippy_dialect::translate(source) {
        Ok(text) => luau(&text),
        Err(wippy_dialect::DialectError::Syntax { .. }) => luau(source),
        Err(e) => Err(dialect_error(e)),
    }
}

/// How Lua code is compiled (the prelude, entries, and text a process
/// loads): optimised, with line info for tracebacks.
pub(crate) fn compiler() -> mlua::chunk::Compiler {
    mlua::chunk::Compiler::new()
        .set_optimization_level(1)
        .set_debug_level(1)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wippy_host::registry::{Registry, Source};

    use super::*;

    fn cache(source: &'static str) -> Arc<CodeCache> {
        let index = Source {
            path: "app/_index.yaml".into(),
            text: "version: \"1.0\"\nnamespace: app\nentries:\n  - { name: main, kind: process.lua, source: file://main.lua, method: main }\n  - { name: workers, kind: process.host }\n".into(),
        };
        let registry = Registry::load_sources(&[index], &|_| Ok(source.to_owned()))
            .expect("the test app loads");
        CodeCache::new(Arc::new(registry))
    }

    #[test]
    fn failures_say_which_entry_and_why() {
        let c = cache("return { main = function() end }");
        let id = |s: &str| -> EntryId { s.parse().unwrap() };
        assert!(c.get(&id("app:main")).is_ok());
        assert_eq!(
            c.get(&id("app:nope")).unwrap_err(),
            Error::UnknownEntry(id("app:nope"))
        );
        let err = c.get(&id("app:workers")).unwrap_err();
        assert!(matches!(err, Error::NotLua { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "entry app:workers is a process.host, not Lua code"
        );

        let c = cache("return {\n main = function( end }");
        match c.get(&id("app:main")).unwrap_err() {
            Error::Compile { id: e, message, .. } => {
                assert_eq!(e, id("app:main"));
                assert!(
                    message.starts_with("2: "),
                    "the line comes first: {message}"
                );
            }
            other => panic!("expected a compile error, got {other:?}"),
        }
    }

    #[test]
    fn wippy_dialect_and_a_byte_order_mark_compile() {
        let id: EntryId = "app:main".parse().unwrap();
        let dialect = "\u{feff}local function f(xs: number[]): number, string\n  \
                       local n = 0\n  for _, x in ipairs(xs) do\n    \
                       if x % 2 == 0 then goto continue end\n    n = n + (x & 7)\n    \
                       ::continue::\n  end\n  return n, \"ok\"\nend\n\
                       return { main = f }";
        assert!(cache(dialect).get(&id).is_ok());

        let jump = "return {\n main = function()\n goto out\n local x = 1\n ::out::\n end }";
        match cache(jump).get(&id).unwrap_err() {
            Error::Compile { message, .. } => {
                assert!(message.starts_with("3: goto out"), "{message}")
            }
            other => panic!("expected a compile error, got {other:?}"),
        }
    }
}
