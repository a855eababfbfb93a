//! Properties of the translation over generated programs: the line count is kept, every
//! string literal and comment comes out byte for byte on the line it was on, Luau compiles
//! the result, and no input at all makes `translate` panic.

use proptest::prelude::*;

/// Statements in go-lua's dialect (and plain Lua), each valid on its own.
const STATEMENTS: &[&str] = &[
    "local x = a & b | c ~ d",
    "local y = ~x << 2 >> 1",
    "x = (a as number) + f()!",
    "type R = {a: number, b?: string[], c?: fun(x: number): boolean}",
    "local function f(a: number): number, string\n  return a, 'x'\nend",
    "for i = 1, 3 do\n  if i == 2 then goto continue end\n  print(i)\n  ::continue::\nend",
    "while c do\n  if d then goto done end\nend\n::done::",
    "interface Named\n  function name(self): string\nend",
    "local t: {[string]: number}? = nil",
    "local q = 7 // 2 .. 'x'",
    "print(a >> 1 == b & 3)",
    "local v: Map<string, Item[]> = m",
    "x = y",
];

/// A literal's content: text that looks like the dialect, which must stay as it is.
fn content() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a & b",
        " | ",
        "~",
        "<<",
        ">>",
        "goto continue",
        "::continue::",
        "x?: T",
        "T[]",
        "fun()",
        " as ",
        "!",
        "interface",
        "--",
        "//",
        "'",
        "\"",
        "[",
        "=",
        "end",
        " ",
        "\t",
        "é",
    ]);
    prop::collection::vec(pieces, 0..6).prop_map(|v| v.concat())
}

/// A string literal or comment, and whether it must be followed by a line break.
fn literal() -> impl Strategy<Value = (String, bool)> {
    let quoted = content().prop_map(|c| {
        let escaped = c.replace('\\', "\\\\").replace('"', "\\\"");
        (format!("local s = \"{escaped}\""), false)
    });
    // In long brackets, `]` is replaced: `]` followed by the level's `=` and `]` would
    // close them early.
    let long = (content(), content(), 0usize..3).prop_map(|(a, b, level)| {
        let eq = "=".repeat(level);
        let (a, b) = (a.replace(']', ")"), b.replace(']', ")"));
        (format!("local s = [{eq}[{a}\n{b}]{eq}]"), false)
    });
    let line_comment = content().prop_map(|c| (format!("-- {}", c.replace('\n', " ")), true));
    let long_comment = (content(), content()).prop_map(|(a, b)| {
        (
            format!("--[==[{}\n{}]==]", a.replace(']', ")"), b.replace(']', ")")),
            false,
        )
    });
    prop_oneof![quoted, long, line_comment, long_comment]
}

/// A program of statements and literals, and the literals' texts (just the literal part).
fn program() -> impl Strategy<Value = (String, Vec<String>)> {
    let item = prop_oneof![
        prop::sample::select(STATEMENTS).prop_map(|s| (s.to_owned(), None)),
        literal().prop_map(|(text, needs_break)| (text.clone(), Some((text, needs_break)))),
    ];
    (
        prop::collection::vec(item, 1..12),
        prop::collection::vec(prop::bool::ANY, 12),
    )
        .prop_map(|(items, breaks)| {
            let mut source = String::new();
            let mut literals = Vec::new();
            for (i, ((text, literal), newline)) in items.into_iter().zip(breaks).enumerate() {
                if literal.is_none() {
                    // Labels are unique in a block; give each statement's its own name.
                    source.push_str(&text.replace("done", &format!("done{i}")));
                } else {
                    source.push_str(&text);
                }
                let needs_break = literal.as_ref().is_some_and(|l| l.1);
                source.push_str(if newline || needs_break { "\n" } else { " ; " });
                if let Some((text, _)) = literal {
                    // The literal itself: a string after `local s = `, a comment whole.
                    let literal_part = text.strip_prefix("local s = ").unwrap_or(&text).to_owned();
                    literals.push(literal_part);
                }
            }
            (source, literals)
        })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

proptest! {
    #[test]
    fn lines_literals_and_comments_survive((source, literals) in program()) {
        let out = wippy_dialect::translate(&source).unwrap_or_else(|e| panic!("{source}\n{e}"));
        prop_assert_eq!(out.lines().count(), source.lines().count());
        prop_assert_eq!(out.matches('\n').count(), source.matches('\n').count());
        // Each literal appears in order, verbatim, on the line it had.
        let (mut in_at, mut out_at) = (0, 0);
        for literal in &literals {
            let i = in_at + source[in_at..].find(literal.as_str()).expect("in the source");
            let o = out_at + out[out_at..].find(literal.as_str()).unwrap_or_else(|| panic!("{literal:?} lost in:\n{out}"));
            prop_assert_eq!(line_of(&source, i), line_of(&out, o), "{:?}", literal);
            in_at = i + literal.len();
            out_at = o + literal.len();
        }
        let lua = mlua::Lua::new();
        let compiled = lua.load(out.as_ref()).into_function();
        prop_assert!(compiled.is_ok(), "Luau rejects:\n{}\n{:?}", out, compiled.err());
    }

    #[test]
    fn any_input_gives_a_result_and_keeps_lines(source in "(?s).{0,200}") {
        if let Ok(out) = wippy_dialect::translate(&source) {
            prop_assert_eq!(out.matches('\n').count(), source.matches('\n').count());
        }
    }

    #[test]
    fn any_token_soup_gives_a_result_and_keeps_lines(
        tokens in prop::collection::vec(prop::sample::select(vec![
            "x", "1", "'s'", "(", ")", "{", "}", "[", "]", "=", ",", ";", ":", "::", "?", "!", "&", "|",
            "~", "<<", ">>", "<", ">", "..", "...", "->", "@", "local", "function", "end", "do", "for",
            "in", "if", "then", "else", "while", "repeat", "until", "return", "break", "goto",
            "type", "as", "fun", "interface", "not", "and", "--x\n", "\n", "[[\n]]",
        ]), 0..60)
    ) {
        let source = tokens.join(" ");
        if let Ok(out) = wippy_dialect::translate(&source) {
            prop_assert_eq!(out.matches('\n').count(), source.matches('\n').count());
        }
    }
}
