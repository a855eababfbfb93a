//! The `coroutine` global: Luau's coroutine library, with `spawn` (a
//! coroutine the process's scheduler runs) and a `resume`/`wrap` that hand
//! a preemption of the coroutine up to its resumer (see the prelude's
//! `resume_coroutine`), so preemption stays invisible to Lua code.

use mlua::{Table, Value};

use super::Exports;

/// Luau's own coroutine functions, kept as they are.
const KEPT: [&str; 6] = [
    "create",
    "yield",
    "running",
    "status",
    "isyieldable",
    "close",
];

/// Lists `coroutine.*`.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    let luau: Table = m.lua().globals().get("coroutine")?;
    for name in KEPT {
        m.set(name, luau.get::<Value>(name)?)?;
    }
    m.prelude_as("resume", "resume_coroutine");
    m.prelude_as("wrap", "wrap_coroutine");
    m.prelude_as("spawn", "spawn_coroutine");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_function_of_luaus_coroutine_library_is_kept_or_replaced() {
        let lua = mlua::Lua::new();
        let luau: mlua::Table = lua.globals().get("coroutine").unwrap();
        let mut names: Vec<String> = luau
            .pairs::<String, mlua::Value>()
            .map(|kv| kv.unwrap().0)
            .collect();
        names.sort();
        let mut ours: Vec<String> = super::KEPT.iter().map(|s| s.to_string()).collect();
        ours.extend(["resume".to_owned(), "wrap".to_owned()]);
        ours.sort();
        assert_eq!(names, ours, "a Luau upgrade changed the coroutine library");
    }
}
