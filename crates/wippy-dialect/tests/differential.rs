//! Differential tests against the real Lua 5.4 (`lua5.4`, Debian package `lua5.4`):
//! generated programs run there as written and on Luau after translation, and must print
//! the same. Skipped, saying so, where `lua5.4` is not installed.
//!
//! Expressions are compared by structure, not value: the operands are tables whose
//! metamethods (and, on Luau, a stand-in `bit32` table) build the parenthesised tree, so
//! the check is about precedence and associativity alone, free of the 32- versus 64-bit
//! difference that the README documents.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;

fn lua54_available() -> bool {
    Command::new("lua5.4")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `source` on Lua 5.4 and returns what it printed.
fn run_lua54(source: &str) -> String {
    let mut child = Command::new("lua5.4")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lua5.4 starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(source.as_bytes())
        .expect("source written");
    let out = child.wait_with_output().expect("lua5.4 ends");
    assert!(
        out.status.success(),
        "lua5.4 fails on:\n{source}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Translates `source`, runs it on Luau with `print` collecting into a string, and
/// returns what it printed.
fn run_translated_on_luau(prelude: &str, source: &str) -> String {
    let translated = wippy_dialect::translate(source).unwrap_or_else(|e| panic!("{source}\n{e}"));
    let lua = mlua::Lua::new();
    lua.load("__out = {} print = function(...) local t = table.pack(...) for i = 1, t.n do t[i] = tostring(t[i]) end table.insert(__out, table.concat(t, '\\t')) end")
        .exec()
        .expect("print stand-in");
    lua.load(prelude).exec().expect("prelude runs");
    lua.load(translated.as_ref())
        .exec()
        .unwrap_or_else(|e| panic!("{translated}\n{e}"));
    let lines: Vec<String> = lua.load("return __out").eval().expect("output");
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Operands whose operators build the expression tree as a string, on Lua 5.4.
const TREE_LUA54: &str = r#"
local mt = {}
local function V(s) return setmetatable({s = s}, mt) end
local function bin(op) return function(a, b) return V("(" .. a.s .. op .. b.s .. ")") end end
mt.__add, mt.__sub, mt.__mul, mt.__div = bin("+"), bin("-"), bin("*"), bin("/")
mt.__idiv, mt.__mod, mt.__pow, mt.__concat = bin("//"), bin("%"), bin("^"), bin("..")
mt.__band, mt.__bor, mt.__bxor, mt.__shl, mt.__shr = bin("&"), bin("|"), bin("~"), bin("<<"), bin(">>")
mt.__unm = function(a) return V("(-" .. a.s .. ")") end
mt.__bnot = function(a) return V("(~" .. a.s .. ")") end
a, b, c, d = V("a"), V("b"), V("c"), V("d")
"#;

/// The same on Luau, where the bitwise operators arrive as `bit32` calls.
const TREE_LUAU: &str = r#"
local mt = {}
local function V(s) return setmetatable({s = s}, mt) end
local function bin(op) return function(a, b) return V("(" .. a.s .. op .. b.s .. ")") end end
mt.__add, mt.__sub, mt.__mul, mt.__div = bin("+"), bin("-"), bin("*"), bin("/")
mt.__idiv, mt.__mod, mt.__pow, mt.__concat = bin("//"), bin("%"), bin("^"), bin("..")
mt.__unm = function(a) return V("(-" .. a.s .. ")") end
bit32 = {
  band = bin("&"), bor = bin("|"), bxor = bin("~"), lshift = bin("<<"), rshift = bin(">>"),
  bnot = function(a) return V("(~" .. a.s .. ")") end,
}
a, b, c, d = V("a"), V("b"), V("c"), V("d")
"#;

fn expression() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec!["a", "b", "c", "d"]).prop_map(str::to_owned);
    leaf.prop_recursive(5, 24, 2, |inner| {
        let binary = prop::sample::select(vec![
            "&", "|", "~", "<<", ">>", "+", "-", "*", "/", "//", "%", "^", "..",
        ]);
        prop_oneof![
            (inner.clone(), binary, inner.clone()).prop_map(|(l, op, r)| format!("{l} {op} {r}")),
            // (`#` is left out: Luau's `__len` must return a number.)
            (prop::sample::select(vec!["-", "~"]), inner.clone())
                .prop_map(|(op, e)| format!("{op} {e}")),
            inner.prop_map(|e| format!("({e})")),
        ]
    })
}

/// Loops that jump with `goto` the two ways the translator turns into `continue` and
/// `break`, driven by generated conditions; both runs print the trace of what ran.
fn loop_program() -> impl Strategy<Value = String> {
    let condition = (2u32..5, 0u32..4).prop_map(|(m, r)| format!("k % {m} == {}", r % m));
    (
        prop::collection::vec(condition.clone(), 1..4),
        condition.clone(),
        condition,
        1u32..4,
        prop::bool::ANY,
    )
        .prop_map(|(skips, inner_skip, stop, inner_n, use_repeat)| {
            let mut body = String::new();
            for skip in &skips {
                body.push_str(&format!("  k = k + n\n  if {skip} then trace(-k) goto continue end\n  trace(k)\n"));
            }
            body.push_str(&format!(
                "  for j = 1, {inner_n} do\n    k = k + j\n    if {inner_skip} then goto next end\n    \
                 trace(100 + j)\n    ::next::\n  end\n  k = k + n\n  if {stop} then goto done end\n"
            ));
            let looped = if use_repeat {
                format!("repeat\n  n = n + 1\n{body}  ::continue::\nuntil n >= 12\n")
            } else {
                format!("while n < 12 do\n  n = n + 1\n{body}  ::continue::\nend\n")
            };
            format!(
                "local out = {{}}\nlocal function trace(x) out[#out + 1] = x end\nlocal n, k = 0, 0\n\
                 {looped}::done::\nprint(table.concat(out, ','))\n"
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn expressions_group_as_in_lua_5_4(expressions in prop::collection::vec(expression(), 1..20)) {
        if !lua54_available() {
            eprintln!("differential: lua5.4 is not installed (apt-get install lua5.4); skipped");
            return Ok(());
        }
        let source: String = expressions.iter().map(|e| format!("print(({e}).s)\n")).collect();
        let expected = run_lua54(&format!("{TREE_LUA54}\n{source}"));
        let got = run_translated_on_luau(TREE_LUAU, &source);
        prop_assert_eq!(got, expected, "{}", source);
    }

    #[test]
    fn gotos_jump_as_in_lua_5_4(program in loop_program()) {
        if !lua54_available() {
            eprintln!("differential: lua5.4 is not installed (apt-get install lua5.4); skipped");
            return Ok(());
        }
        let expected = run_lua54(&program);
        let got = run_translated_on_luau("", &program);
        prop_assert_eq!(got, expected, "{}", program);
    }
}
