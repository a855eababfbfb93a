//! Measures the translation on real Wippy code: every `.lua` file of Wippy's conformance
//! suites and of the acceptance apps (in `shared/`, beside the checkout) is compiled by
//! Luau as it is and after translation. Prints how many parse each way, what still fails
//! and why, and the translation's cost per KB; fails if translation breaks a file that
//! parsed before.

use std::path::{Path, PathBuf};
use std::time::Instant;

fn lua_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            lua_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "lua") {
            out.push(path);
        }
    }
}

fn luau_compiles(lua: &mlua::Lua, name: &str, source: &str) -> Result<(), String> {
    lua.load(source)
        .set_name(format!("@{name}"))
        .into_function()
        .map(drop)
        .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_owned())
}

#[test]
fn wippy_suites_and_apps_parse_on_luau_after_translation() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let roots = [shared.join("conformance/wippy"), shared.join("acceptance")];
    if !roots.iter().any(|r| r.is_dir()) {
        eprintln!(
            "suites: skipped, {} has no conformance/wippy or acceptance (a checkout without \
             the shared suites beside it)",
            shared.display()
        );
        return;
    }
    let mut files = Vec::new();
    for root in &roots {
        lua_files(root, &mut files);
    }
    files.sort();
    assert!(!files.is_empty(), "no .lua file under {}", shared.display());

    let lua = mlua::Lua::new();
    let (mut before, mut after, mut rewritten) = (0, 0, 0);
    let mut sources = Vec::new();
    let mut still_failing = Vec::new();
    let mut regressions = Vec::new();
    for path in &files {
        let name = path
            .strip_prefix(&shared)
            .unwrap_or(path)
            .display()
            .to_string();
        let source = std::fs::read_to_string(path).expect("readable source");
        let parsed_before = luau_compiles(&lua, &name, &source);
        before += usize::from(parsed_before.is_ok());

        let translated = wippy_dialect::translate(&source);

        let parsed_after = match &translated {
            Ok(out) => {
                if matches!(out, std::borrow::Cow::Owned(_)) {
                    rewritten += 1;
                }
                assert_eq!(
                    out.lines().count(),
                    source.lines().count(),
                    "{name}: line count changed"
                );
                luau_compiles(&lua, &name, out)
            }
            Err(e) => Err(format!("{name}: translation: {e}")),
        };
        match parsed_after {
            Ok(()) => after += 1,
            Err(e) => {
                if parsed_before.is_ok() {
                    regressions.push(e.clone());
                }
                still_failing.push(e);
            }
        }
        sources.push(source);
    }

    // Costs: the best of a few rounds over all files, so that other work on the machine
    // inflates them less. Printed for the record, never asserted.
    let bytes: usize = sources.iter().map(String::len).sum();
    let best_of = |f: &dyn Fn(&str)| {
        (0..5)
            .map(|_| {
                let started = Instant::now();
                sources.iter().for_each(|s| f(s));
                started.elapsed()
            })
            .min()
            .expect("five rounds")
    };
    let spent = best_of(&|s| drop(wippy_dialect::translate(s)));
    let compiling = best_of(&|s| drop(lua.load(s).into_function()));

    let kb = bytes as f64 / 1024.0;
    eprintln!(
        "suites: {} files ({kb:.0} KB): {before} parse on Luau as they are, {after} after \
         translation ({rewritten} rewritten); translation {:.1} µs/KB, Luau's compile {:.1} µs/KB",
        files.len(),
        spent.as_secs_f64() * 1e6 / kb,
        compiling.as_secs_f64() * 1e6 / kb,
    );
    for failure in &still_failing {
        eprintln!("suites: still fails: {failure}");
    }
    assert!(
        regressions.is_empty(),
        "translation broke files that parsed before:\n{}",
        regressions.join("\n")
    );
}

/// The cost of translating a source that is dialect throughout, beside the suites' figure
/// for sources that need nothing (printed, never asserted).
#[test]
fn translation_cost_of_dialect_heavy_code_is_printed() {
    let unit = "\
type Item = {id: string, tags?: string[], score: number @min(0)}
local function pick(items: Item[], mask: integer): Item?, string
  for _, item in ipairs(items) do
    if item.score & mask == 0 then goto continue end
    local flags = (item.score << 2 | 1) ~ ~mask
    if flags >> 1 > 4 then return item as Item, \"ok\" end
    ::continue::
  end
  return nil, \"none\"
end
";
    let source = unit.repeat(200);
    let best = (0..20)
        .map(|_| {
            let started = Instant::now();
            let out = wippy_dialect::translate(&source).expect("translates");
            let spent = started.elapsed();
            assert_eq!(out.lines().count(), source.lines().count());
            spent
        })
        .min()
        .expect("twenty rounds");
    let per_kb = best.as_secs_f64() * 1e6 / (source.len() as f64 / 1024.0);
    eprintln!(
        "suites: dialect-heavy source of {} KB: translation {per_kb:.1} µs/KB",
        source.len() / 1024
    );
    let lua = mlua::Lua::new();
    let out = wippy_dialect::translate(unit).expect("translates");
    luau_compiles(&lua, "unit", &out).unwrap_or_else(|e| panic!("{out}\n{e}"));
}

/// The workspace's own Lua files (the CLI's test apps) are plain Lua and Luau: translation
/// leaves every one of them as it is.
#[test]
fn the_workspaces_own_lua_files_come_back_unchanged() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    lua_files(&workspace.join("crates"), &mut files);
    assert!(
        !files.is_empty(),
        "no .lua file under {}",
        workspace.display()
    );
    for path in &files {
        let source = std::fs::read_to_string(path).expect("readable source");
        let out =
            wippy_dialect::translate(&source).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            matches!(out, std::borrow::Cow::Borrowed(_)),
            "{} was rewritten:\n{out}",
            path.display()
        );
    }
}
