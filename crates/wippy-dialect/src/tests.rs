//! One test per translated form: the expected Luau text, the line count kept, and the
//! output compiled (and, where it computes something, run) by Luau itself.

use std::borrow::Cow;

use crate::{DialectError, translate};

/// Translates `source`, checks that the line count is kept and that Luau compiles the
/// result, and returns it.
fn luau(source: &str) -> String {
    let out = translate(source).unwrap_or_else(|e| panic!("{source:?}: {e}"));
    assert_eq!(
        out.lines().count(),
        source.lines().count(),
        "line count of {out:?}"
    );
    let lua = mlua::Lua::new();
    if let Err(e) = lua.load(out.as_ref()).into_function() {
        panic!("Luau rejects the translation of {source:?}:\n{out}\n{e}");
    }
    out.into_owned()
}

/// Runs the translation of `source` on Luau and returns its results as numbers.
fn run(source: &str) -> Vec<f64> {
    let out = luau(source);
    let lua = mlua::Lua::new();
    let values: mlua::MultiValue = lua.load(out.as_str()).eval().expect("runs");
    values
        .iter()
        .map(|v| match v {
            mlua::Value::Integer(i) => *i as f64,
            mlua::Value::Number(n) => *n,
            other => panic!("not a number: {other:?}"),
        })
        .collect()
}

fn error(source: &str) -> DialectError {
    translate(source).expect_err(source)
}

#[test]
fn sources_that_need_nothing_are_borrowed() {
    let source = "local s = 'a & b | c' -- x << 2 ~ y\nlocal n: number = 7 // 2\nreturn s, n\n";
    assert!(matches!(translate(source).unwrap(), Cow::Borrowed(s) if s == source));
}

// ---- goto ------------------------------------------------------------------------------

#[test]
fn goto_to_a_label_ending_the_loop_body_is_continue() {
    let source = "\
for i = 1, 3 do
  if i == 2 then goto continue end
  print(i)
  ::continue::
end
while x do
  goto next
  ::next:: ;
end
repeat
  if y then goto continue end
  ::continue::
until z
";
    assert_eq!(
        luau(source),
        "\
for i = 1, 3 do
  if i == 2 then continue end
  print(i)
   
end
while x do
  continue
     
end
repeat
  if y then continue end
   
until z
"
    );
}

#[test]
fn continue_runs_as_goto_continue_did() {
    let source = "\
local sum = 0
for i = 1, 10 do
  if i % 2 == 0 then goto continue end
  for j = 1, 2 do
    if j == 2 then goto skip end
    sum = sum + 100
    ::skip::
  end
  sum = sum + i
  ::continue::
end
return sum";
    // Odd i: 1+3+5+7+9 = 25, plus 100 for each of the five.
    assert_eq!(run(source), [525.0]);
}

#[test]
fn goto_to_a_label_after_the_loop_is_break() {
    let source = "\
local n = 0
for i = 1, 10 do
  n = i
  if i == 4 then goto done end
end
::done::
return n";
    assert_eq!(run(source), [4.0]);
    assert!(luau(source).contains("if i == 4 then break end"));
}

#[test]
fn goto_from_an_inner_loop_to_a_label_right_after_it_is_its_break() {
    // The label follows the inner loop and ends the outer body: leaving the inner loop
    // and reaching the label are the same.
    let source =
        "for i = 1, 2 do\n  for j = 1, 2 do\n    goto continue\n  end\n  ::continue::\nend";
    assert_eq!(
        luau(source),
        "for i = 1, 2 do\n  for j = 1, 2 do\n    break\n  end\n   \nend"
    );
}

#[test]
fn labels_are_told_from_double_casts() {
    assert_eq!(luau("local x = y\n::skip::\nf()"), "local x = y\n \nf()");
    assert_eq!(
        luau("local x = y :: A\n::skip::\nf()"),
        "local x = y :: A\n \nf()"
    );
    assert_eq!(
        luau("while x do\n  local y = 1 ::next:: end"),
        "while x do\n  local y = 1   end"
    );
}

#[test]
fn a_jump_not_last_in_its_block_is_wrapped_in_do_end() {
    assert_eq!(
        luau("for i = 1, 2 do\n  goto continue\n  print(i)\n  ::continue::\nend\n"),
        "for i = 1, 2 do\n  do continue end\n  print(i)\n   \nend\n"
    );
    assert_eq!(
        luau("while true do break; print(1) end"),
        "while true do do break end; print(1) end"
    );
}

#[test]
fn goto_across_lines_keeps_them() {
    assert_eq!(
        luau("for i = 1, 2 do\n  goto\n  continue\n  ::continue::\nend"),
        "for i = 1, 2 do\n  continue\n\n   \nend"
    );
}

#[test]
fn unused_labels_are_erased() {
    assert_eq!(luau("::top::\nlocal x = 1\n"), " \nlocal x = 1\n");
}

#[test]
fn other_gotos_are_errors_with_their_line() {
    // Backwards, to the start of the body.
    let backwards = "for i = 1, 2 do\n  ::again::\n  if x then\n    goto again\n  end\n  y()\nend";
    assert_eq!(
        error(backwards),
        DialectError::UntranslatableGoto {
            line: 4,
            label: "again".into(),
            label_line: 2
        }
    );
    // From an inner loop to the outer loop's continue label, past a statement: neither
    // the inner loop's continue nor its break.
    let outer =
        "for i = 1, 2 do\n  for j = 1, 2 do\n    goto continue\n  end\n  f()\n  ::continue::\nend";
    assert_eq!(error(outer).line(), 3);
    assert!(matches!(
        error(outer),
        DialectError::UntranslatableGoto { .. }
    ));
    // Outside any loop.
    let flat = "goto finish\nprint(1)\n::finish::\n";
    assert_eq!(
        error(flat),
        DialectError::UntranslatableGoto {
            line: 1,
            label: "finish".into(),
            label_line: 3
        }
    );
    // A label in the middle of the body.
    let middle = "while x do\n  goto mid\n  a()\n  ::mid::\n  b()\nend";
    assert_eq!(error(middle).line(), 2);
}

#[test]
fn goto_without_a_visible_label_is_an_error() {
    assert_eq!(
        error("\n\ngoto nowhere\n"),
        DialectError::UnknownLabel {
            line: 3,
            label: "nowhere".into()
        }
    );
    // A label outside the function is not visible inside it.
    let across = "for i = 1, 2 do\n  local f = function() goto continue end\n  ::continue::\nend";
    assert_eq!(
        error(across),
        DialectError::UnknownLabel {
            line: 2,
            label: "continue".into()
        }
    );
    // A label inside a nested block is not visible from outside it.
    let nested = "for i = 1, 2 do\n  goto continue\n  do ::continue:: end\nend";
    assert!(matches!(
        error(nested),
        DialectError::UnknownLabel { line: 2, .. }
    ));
}

#[test]
fn a_label_already_visible_is_an_error() {
    let e = error("::a::\nwhile x do\n  ::a::\nend");
    assert_eq!(
        e,
        DialectError::Syntax {
            line: 3,
            message: "label 'a' already defined on line 1".into()
        }
    );
    // Sibling blocks may reuse a name: that is every loop's `::continue::`.
    luau("for i = 1, 2 do ::continue:: end\nfor i = 1, 2 do ::continue:: end");
}

#[test]
fn error_messages_name_the_line_and_the_rule() {
    let message = error("goto finish\n::finish::").to_string();
    assert!(
        message.starts_with("line 1: goto finish cannot run on Luau"),
        "{message}"
    );
    assert!(message.contains("label finish is at line 2"), "{message}");
}

#[test]
fn semicolons_luau_rejects_are_erased() {
    assert_eq!(luau(";\nx = 1;;\n; y = 2;"), " \nx = 1; \n  y = 2;");
    assert!(matches!(
        translate("x = 1; y = 2;").unwrap(),
        Cow::Borrowed(_)
    ));
}

#[test]
fn goto_as_a_name_in_luau_code_is_not_a_goto() {
    assert!(matches!(
        translate("goto = 1\ngoto(2)\n").unwrap(),
        Cow::Borrowed(_)
    ));
}

// ---- bitwise operators -------------------------------------------------------------------

#[test]
fn each_bitwise_operator_becomes_its_bit32_call() {
    assert_eq!(luau("x = a & b"), "x = bit32.band(a , b)");
    assert_eq!(luau("x = a | b"), "x = bit32.bor(a , b)");
    assert_eq!(luau("x = a ~ b"), "x = bit32.bxor(a , b)");
    assert_eq!(luau("x = a << b"), "x = bit32.lshift(a , b)");
    assert_eq!(luau("x = a >> b"), "x = bit32.rshift(a , b)");
    assert_eq!(luau("x = ~a"), "x = bit32.bnot(a)");
    assert_eq!(luau("x = a ~= b"), "x = a ~= b");
}

#[test]
fn bitwise_operators_follow_lua_precedence() {
    // | < ~ < & < shifts < .. < + - < * / // % < unary < ^
    assert_eq!(
        luau("x = a | b & c"),
        "x = bit32.bor(a , bit32.band(b , c))"
    );
    assert_eq!(
        luau("x = a & b | c"),
        "x = bit32.bor(bit32.band(a , b) , c)"
    );
    assert_eq!(
        luau("x = a ~ b & c | d"),
        "x = bit32.bor(bit32.bxor(a , bit32.band(b , c)) , d)"
    );
    assert_eq!(luau("x = a << 1 + 2"), "x = bit32.lshift(a , 1 + 2)");
    assert_eq!(
        luau("x = a & b & c"),
        "x = bit32.band(bit32.band(a , b) , c)"
    );
    assert_eq!(luau("x = a == b & c"), "x = a == bit32.band(b , c)");
    assert_eq!(luau("x = a .. b & c"), "x = bit32.band(a .. b , c)");
    assert_eq!(luau("x = ~a + 1"), "x = bit32.bnot(a) + 1");
    assert_eq!(luau("x = ~a ^ 2"), "x = bit32.bnot(a ^ 2)");
    assert_eq!(luau("x = ~~a"), "x = bit32.bnot(bit32.bnot(a))");
    assert_eq!(luau("x = ~a & b"), "x = bit32.band(bit32.bnot(a) , b)");
    assert_eq!(luau("x = a&b|c"), "x = bit32.bor(bit32.band(a,b),c)");
    assert_eq!(
        luau("x = f(a & b, (c | d) >> 1)[a ~ b]"),
        "x = f(bit32.band(a , b), bit32.rshift((bit32.bor(c , d)) , 1))[bit32.bxor(a , b)]"
    );
}

#[test]
fn bitwise_results_match_lua_for_32_bit_operands() {
    assert_eq!(
        run("return 5 & 3 | 8, 1 << 4 >> 2, 6 ~ 3, ~0 & 0xFF, 0xF0 | 0x0F ~ 0xFF, 1 << 2 + 1"),
        [9.0, 4.0, 5.0, 255.0, 240.0, 8.0]
    );
    // Documented difference: bit32 is 32-bit and unsigned.
    assert_eq!(run("return ~0, 1 << 32"), [4294967295.0, 0.0]);
}

#[test]
fn a_multi_valued_last_operand_is_cut_to_one_value() {
    assert_eq!(luau("x = 1 & f()"), "x = bit32.band(1 , (f()))");
    assert_eq!(luau("x = ~..."), "x = bit32.bnot((...))");
    assert_eq!(
        run("local function two() return 3, 1 end return 7 & two()"),
        [3.0]
    );
}

#[test]
fn bitwise_expressions_across_lines_keep_them() {
    assert_eq!(
        luau("x = a &\n  b |\n  c\nprint(x)"),
        "x = bit32.bor(bit32.band(a ,\n  b) ,\n  c)\nprint(x)"
    );
}

#[test]
fn floor_division_is_left_to_luau() {
    assert!(matches!(
        translate("local a = 7 // 2\na //= 2\nreturn a").unwrap(),
        Cow::Borrowed(_)
    ));
    assert_eq!(run("return 7 // 2, -7 // 2, 7.5 // 2"), [3.0, -4.0, 3.0]);
}

// ---- casts, postfix !, interface --------------------------------------------------------

#[test]
fn as_casts_become_luau_casts() {
    assert_eq!(
        luau("local x = (y as number) + 1"),
        "local x = (y :: number) + 1"
    );
    assert_eq!(
        luau("local t = f() as {string}"),
        "local t = f() :: {string}"
    );
    assert_eq!(luau("local t = v as Item[]"), "local t = v :: {Item}");
    assert_eq!(
        luau("local p = msg:payload():data() :: string"),
        "local p = msg:payload():data() :: string"
    );
    // `as` as a name in Luau code.
    assert!(matches!(
        translate("local as = 1\nas = as + 1\nx = y\nas.z = 1").unwrap(),
        Cow::Borrowed(_)
    ));
}

#[test]
fn postfix_non_nil_assertions_are_erased() {
    assert_eq!(
        luau("local n = t.x!.y + f()!\nlocal m = t[k]!:m()"),
        "local n = t.x .y + f() \nlocal m = t[k] :m()"
    );
}

#[test]
fn interfaces_are_erased_line_for_line() {
    let source = "\
interface Shape : Named, Base
  function area(self): number
  function scale(self, k: number): Shape
end
local x = 1
";
    assert_eq!(luau(source), "     \n    \n      \n\nlocal x = 1\n");
    assert!(matches!(
        translate("interface = 1").unwrap(),
        Cow::Borrowed(_)
    ));
    // Comments inside erased constructs stay.
    assert_eq!(
        luau("interface A -- the A\nend while c do goto --[[ c ]] x ::x:: end"),
        "   -- the A\n while c do continue --[[ c ]]    end"
    );
}

// ---- types ---------------------------------------------------------------------------------

#[test]
fn optional_record_fields_become_optional_types() {
    assert_eq!(
        luau("type R = {a: number, b?: string}"),
        "type R = {a: number, b: string?}"
    );
    assert_eq!(
        luau("type R = {b?: A | B, c?: Item[]}"),
        "type R = {b: (A | B)?, c: ({Item})?}"
    );
    assert_eq!(
        luau("type R = {cb?: fun(x: number)}"),
        "type R = {cb: ((x: number) -> ())?}"
    );
    assert_eq!(
        luau("type R = {\n  b?:\n    number,\n}"),
        "type R = {\n  b:\n    number?,\n}"
    );
}

#[test]
fn several_return_types_become_a_pack() {
    assert_eq!(
        luau("local function f(): number, string\n  return 1, 'a'\nend"),
        "local function f(): (number, string)\n  return 1, 'a'\nend"
    );
    assert_eq!(
        luau("function M.f(): Item[], Error?\nend"),
        "function M.f(): ({Item}, Error?)\nend"
    );
    assert_eq!(
        luau("function f(): (number, string) end"),
        "function f(): (number, string) end"
    );
}

#[test]
fn array_types_become_table_types() {
    assert_eq!(luau("local a: number[] = {}"), "local a: {number} = {}");
    assert_eq!(luau("local a: number[][] = {}"), "local a: {{number}} = {}");
    assert_eq!(luau("local a: (A | B)[] = {}"), "local a: {(A | B)} = {}");
    assert_eq!(luau("local a: A | B[] = {}"), "local a: A | {B} = {}");
    assert_eq!(
        luau("local a: {x: string}[]? = nil"),
        "local a: {{x: string}}? = nil"
    );
    assert_eq!(
        luau("local m: Map<string, Item[]> = {}"),
        "local m: Map<string, {Item}> = {}"
    );
}

#[test]
fn fun_types_become_arrow_types() {
    assert_eq!(
        luau("local f: fun(a: number): string"),
        "local f: (a: number) -> string"
    );
    assert_eq!(luau("local f: fun()"), "local f: () -> ()");
    assert_eq!(
        luau("local f: fun(...: any): (boolean, string?)"),
        "local f: (... any) -> (boolean, string?)"
    );
    assert_eq!(
        luau("local f: fun(cb: fun(x: number): boolean): fun()"),
        "local f: (cb: (x: number) -> boolean) -> () -> ()"
    );
    assert_eq!(
        luau("local f: (a: number) -> string = g"),
        "local f: (a: number) -> string = g"
    );
    assert_eq!(luau("local f: fun(...: any)"), "local f: (... any) -> ()");
}

#[test]
fn generic_bounds_are_erased() {
    assert_eq!(
        luau("local function f<T: Named, U>(x: T, y: U): T return x end"),
        "local function f<T , U>(x: T, y: U): T return x end"
    );
    assert_eq!(
        luau("type Box<T = number> = {value: T}"),
        "type Box<T = number> = {value: T}"
    );
    assert_eq!(
        luau("type Pair<K: string, V> = {[K]: V}"),
        "type Pair<K , V> = {[K]: V}"
    );
    assert_eq!(
        luau("local m: Map<string, Array<number>> = {}"),
        "local m: Map<string, Array<number>> = {}"
    );
}

#[test]
fn types_luau_lacks_become_what_luau_has() {
    assert_eq!(
        luau("type P = readonly {x: number}"),
        "type P =   {x: number}"
    );
    assert_eq!(luau("type K = keyof(P)"), "type K = any");
    assert_eq!(luau("type V = P[\"x\"]"), "type V = any");
    assert_eq!(
        luau("type C<T> = T extends string ? A : B"),
        "type C<T> = any      "
    );
    assert_eq!(
        luau("type N = 1 | 2 | -3"),
        "type N = number | number | number"
    );
    assert_eq!(
        luau("local function is_s(x): x is string return true end"),
        "local function is_s(x): boolean   return true end"
    );
    assert_eq!(
        luau("local function chk(x): asserts x is string end"),
        "local function chk(x): ()    end"
    );
    assert_eq!(luau("type T = typeof(x)"), "type T = typeof(x)");
}

#[test]
fn field_annotations_are_erased() {
    assert_eq!(
        luau("type Age = {n: number @min(0) @max(150), s: string @pattern(\"^a\") @min_len(1)}"),
        "type Age = {n: number    , s: string    }"
    );
}

#[test]
fn luau_syntax_passes_unchanged() {
    let source = "\
export type Point = {x: number, y: number}
local function id<T>(x: T): T return x end
local n = 0
n += 1
for i = 1, 3 do if i == 2 then continue end end
local s = `n = {n}`
local v = if n > 0 then 'pos' else 'neg'
local c = (n :: any) :: number
local g: <T>(T) -> T = id
@native function fast() end
type Fn = (number, ...string) -> ...boolean
type R = {read x: number}
";
    assert!(matches!(translate(source).unwrap(), Cow::Borrowed(_)));
    luau(source);
}

// ---- strings, comments, errors -------------------------------------------------------------

#[test]
fn strings_and_comments_are_never_rewritten() {
    let source = "x = a & b -- c & d\ny = [==[ e | f ]] ]==] .. 'g ~ h' --[[ i << j\n k ]] z = \"goto continue\"";
    assert_eq!(
        luau(source),
        "x = bit32.band(a , b) -- c & d\ny = [==[ e | f ]] ]==] .. 'g ~ h' --[[ i << j\n k ]] z = \"goto continue\""
    );
}

#[test]
fn syntax_errors_name_their_line() {
    let e = error("local x = 1\nif x then\n  print(x)\n");
    assert_eq!(e.line(), 4);
    assert!(
        e.to_string()
            .contains("'end' expected (to close 'if' at line 2)"),
        "{e}"
    );
    assert_eq!(error("x = 1\ny = = 2").line(), 2);
    assert_eq!(error("local s = 'abc\n").line(), 1);
    assert_eq!(error("local t: {a: } = 1").line(), 1);
    assert!(matches!(
        error("x = 1 $"),
        DialectError::Syntax { line: 1, .. }
    ));
}

#[test]
fn nesting_up_to_200_levels_passes_and_deeper_is_an_error() {
    // The test thread has the default 2 MB stack, enough for the limit in a debug build.
    let depth = 195;
    let deep = format!(
        "x = {}1{}\ny = {}z",
        "(".repeat(depth),
        ")".repeat(depth),
        "~".repeat(depth)
    );
    luau(&format!("x = {}1{}", "(".repeat(150), ")".repeat(150)));
    assert!(translate(&deep).is_ok());
    let blocks = format!("{}x = 1{}", "do ".repeat(depth), " end".repeat(depth));
    assert!(translate(&blocks).is_ok());
    let types = format!("local t: {}number{}", "{".repeat(depth), "}".repeat(depth));
    assert!(translate(&types).is_ok());
    // Long chains of one operator are loops, not nesting.
    let concat = format!("x = a{}", " .. a".repeat(5000));
    assert!(translate(&concat).is_ok());
    let bits = format!("x = a{}", " | a & b".repeat(5000));
    assert!(translate(&bits).is_ok());
    for hostile in [
        format!("x = {}", "(".repeat(100_000)),
        format!("x = {}", "- ".repeat(100_000)),
        "do ".repeat(100_000),
        format!("local t: {}", "{".repeat(100_000)),
        format!("x = {}", "{".repeat(100_000)),
        format!("x = {}", "function() return ".repeat(100_000)),
    ] {
        let e = translate(&hostile).expect_err("too deep");
        assert!(e.to_string().contains("too many nested levels"), "{e}");
    }
}
