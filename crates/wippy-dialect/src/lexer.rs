//! The tokenizer: Lua 5.4's and Luau's lexical grammar, plus go-lua's `!`, `?` and `@`.
//!
//! Comments and whitespace are not tokens: the translator copies every byte between the
//! tokens it edits, so they reach Luau untouched. String literals (short, long bracket and
//! Luau's interpolated strings) are single opaque tokens for the same reason.

use crate::error::DialectError;

/// What a token is. Keywords and contextual words (`type`, `as`, `fun`, ...) are `Name`s;
/// the parser compares their text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An identifier or keyword.
    Name,
    /// A numeric literal (decimal, hex, binary, with exponent or `_` separators).
    Number,
    /// A string literal of any form, interpolated strings included.
    Str,
    /// An operator or punctuation; its text says which.
    Symbol,
    /// The end of the source.
    Eof,
}

/// One token: its kind, byte span in the source, and the 1-based line it starts on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) line: u32,
}

/// The length of the operator or punctuation at the start of `rest` (the longest that
/// matches), or `None` when no symbol of either dialect starts there. `--` never reaches
/// here: it starts a comment.
fn symbol_len(rest: &[u8]) -> Option<usize> {
    let at = |i: usize| rest.get(i).copied().unwrap_or(0);
    let (second, third) = (at(1), at(2));
    let two_if = |yes: bool| if yes { 2 } else { 1 };
    Some(match at(0) {
        b'.' if second == b'.' => {
            if matches!(third, b'.' | b'=') {
                3
            } else {
                2
            }
        }
        b'/' if second == b'/' => {
            if third == b'=' {
                3
            } else {
                2
            }
        }
        b'.' | b'#' | b'&' | b'|' | b'(' | b')' | b'{' | b'}' | b'[' | b']' | b';' | b','
        | b'?' | b'!' | b'@' => 1,
        b':' => two_if(second == b':'),
        b'<' => two_if(matches!(second, b'<' | b'=')),
        b'>' => two_if(matches!(second, b'>' | b'=')),
        b'-' => two_if(matches!(second, b'>' | b'=')),
        b'=' | b'~' | b'+' | b'*' | b'/' | b'%' | b'^' => two_if(second == b'='),
        _ => return None,
    })
}

/// Splits `source` into tokens, ending with one `Eof` token.
///
/// Errors are unfinished strings and long brackets, and characters that are no token of
/// any dialect.
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, DialectError> {
    let mut lexer = Lexer {
        src: source.as_bytes(),
        pos: 0,
        line: 1,
        tokens: Vec::new(),
    };
    // A token averages about five bytes of source in the suites; reserving once avoids
    // most regrowth.
    lexer.tokens.reserve(source.len() / 5 + 1);
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'s> {
    src: &'s [u8],
    pos: usize,
    line: u32,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> u8 {
        self.src.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn push(&mut self, kind: Kind, start: usize, line: u32) {
        // Sources over 4 GiB are rejected by `translate` before tokenizing, so the
        // offsets fit in u32.
        self.tokens.push(Token {
            kind,
            start: start as u32,
            end: self.pos as u32,
            line,
        });
    }

    fn run(&mut self) -> Result<(), DialectError> {
        // A first line starting with `#` (a shebang) is skipped, as Lua does.
        if self.src.first() == Some(&b'#') {
            while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                self.pos += 1;
            }
        }
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            let start = self.pos;
            let line = self.line;
            match c {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c' => self.pos += 1,
                b'-' if self.peek(1) == b'-' => self.comment()?,
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                    while self.pos < self.src.len() && is_name_byte(self.src[self.pos]) {
                        self.pos += 1;
                    }
                    self.push(Kind::Name, start, line);
                }
                b'0'..=b'9' => {
                    self.number();
                    self.push(Kind::Number, start, line);
                }
                b'.' if self.peek(1).is_ascii_digit() => {
                    self.number();
                    self.push(Kind::Number, start, line);
                }
                b'"' | b'\'' => {
                    self.short_string(c)?;
                    self.push(Kind::Str, start, line);
                }
                b'`' => {
                    self.interpolated_string()?;
                    self.push(Kind::Str, start, line);
                }
                b'[' if matches!(self.peek(1), b'[' | b'=')
                    && self.long_bracket_level().is_some() =>
                {
                    self.long_bracket("string")?;
                    self.push(Kind::Str, start, line);
                }
                _ if c >= 0x80 => {
                    // Lua accepts no non-ASCII outside strings and comments; neither do we,
                    // but name it so the user finds it.
                    return Err(DialectError::Syntax {
                        line: line as usize,
                        message: "unexpected non-ASCII character".into(),
                    });
                }
                _ => {
                    let Some(len) = symbol_len(&self.src[self.pos..]) else {
                        return Err(DialectError::Syntax {
                            line: line as usize,
                            message: format!("unexpected character '{}'", c as char),
                        });
                    };
                    self.pos += len;
                    self.push(Kind::Symbol, start, line);
                }
            }
        }
        let end = self.pos;
        self.push(Kind::Eof, end, self.line);
        Ok(())
    }

    /// Skips a comment starting at `--`: a long comment when a long bracket follows,
    /// otherwise to the end of the line.
    fn comment(&mut self) -> Result<(), DialectError> {
        self.pos += 2;
        if self.peek(0) == b'[' && self.long_bracket_level().is_some() {
            return self.long_bracket("comment");
        }
        while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
            self.pos += 1;
        }
        Ok(())
    }

    /// At `[`, the level of the long bracket that opens here (`[[` is 0, `[==[` is 2),
    /// or `None` when this `[` opens none.
    fn long_bracket_level(&self) -> Option<usize> {
        let mut level = 0;
        while self.peek(1 + level) == b'=' {
            level += 1;
        }
        (self.peek(1 + level) == b'[').then_some(level)
    }

    /// Skips a long bracket `[==[ ... ]==]` starting at its first `[`.
    fn long_bracket(&mut self, what: &str) -> Result<(), DialectError> {
        let line = self.line;
        let level = self
            .long_bracket_level()
            .expect("called only where a long bracket opens");
        self.pos += level + 2;
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b']' => {
                    let mut closing = 0;
                    while self.peek(1 + closing) == b'=' {
                        closing += 1;
                    }
                    if closing == level && self.peek(1 + closing) == b']' {
                        self.pos += level + 2;
                        return Ok(());
                    }
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
        Err(DialectError::Syntax {
            line: line as usize,
            message: format!("unfinished long {what} (starting at line {line})"),
        })
    }

    /// Skips a quoted string starting at its quote. An escaped line break continues the
    /// string; an unescaped one is an error, as in Lua.
    fn short_string(&mut self, quote: u8) -> Result<(), DialectError> {
        let line = self.line;
        self.pos += 1;
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                c if c == quote => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.pos += 1;
                    self.skip_escaped_byte();
                }
                b'\n' | b'\r' => break,
                _ => self.pos += 1,
            }
        }
        Err(DialectError::Syntax {
            line: line as usize,
            message: "unfinished string".into(),
        })
    }

    /// After a backslash: skips the escaped byte, counting a line break (`\r\n` and
    /// `\n\r` are one break). `\z` needs nothing special: the whitespace it skips is
    /// ordinary string content to a scanner that only looks for the closing quote.
    fn skip_escaped_byte(&mut self) {
        match self.peek(0) {
            b'\n' | b'\r' => {
                let first = self.peek(0);
                self.pos += 1;
                if matches!(self.peek(0), b'\n' | b'\r') && self.peek(0) != first {
                    self.pos += 1;
                }
                self.line += 1;
            }
            0 if self.pos >= self.src.len() => {}
            _ => self.pos += 1,
        }
    }

    /// Skips a Luau interpolated string `` `a {expr} b` `` as one token. Expressions in
    /// braces are skipped by nesting depth, with the strings and comments inside them, so a
    /// `}` or backtick in a nested string does not end them. They are not translated:
    /// interpolated strings are Luau syntax, which go-lua code does not contain.
    fn interpolated_string(&mut self) -> Result<(), DialectError> {
        let line = self.line;
        self.pos += 1;
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b'`' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.pos += 1;
                    self.skip_escaped_byte();
                }
                b'\n' | b'\r' => break,
                b'{' => {
                    self.pos += 1;
                    self.skip_braced_expression()?;
                }
                _ => self.pos += 1,
            }
        }
        Err(DialectError::Syntax {
            line: line as usize,
            message: "unfinished interpolated string".into(),
        })
    }

    fn skip_braced_expression(&mut self) -> Result<(), DialectError> {
        let mut depth = 1usize;
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            match c {
                b'{' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' => {
                    self.pos += 1;
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b'"' | b'\'' => self.short_string(c)?,
                b'`' => self.interpolated_string()?,
                b'-' if self.peek(1) == b'-' => self.comment()?,
                b'[' if matches!(self.peek(1), b'[' | b'=')
                    && self.long_bracket_level().is_some() =>
                {
                    self.long_bracket("string")?;
                }
                _ => self.pos += 1,
            }
        }
        Ok(())
    }

    /// Skips a numeral as Lua's lexer does: digits, letters, `_` and `.`, with a sign
    /// allowed right after an exponent letter (`e` for decimal, `p` for hex).
    fn number(&mut self) {
        let hex = self.peek(0) == b'0' && matches!(self.peek(1), b'x' | b'X');
        if hex {
            self.pos += 2;
        }
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            let exponent = if hex {
                matches!(c, b'p' | b'P')
            } else {
                matches!(c, b'e' | b'E')
            };
            if exponent && matches!(self.peek(1), b'+' | b'-') {
                self.pos += 2;
            } else if is_name_byte(c) || c == b'.' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<(Kind, &str, u32)> {
        tokenize(source)
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, &source[t.start as usize..t.end as usize], t.line))
            .collect()
    }

    #[test]
    fn operators_take_the_longest_match() {
        let source = "a//=b ... .. ..= . ~= ~ << >>= :: : -> ! // / /= += - -= == = <= < ^= %";
        let got: Vec<_> = texts(source).into_iter().map(|t| t.1).collect();
        let expected = [
            "a", "//=", "b", "...", "..", "..=", ".", "~=", "~", "<<", ">>", "=", "::", ":", "->",
            "!", "//", "/", "/=", "+=", "-", "-=", "==", "=", "<=", "<", "^=", "%", "",
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn numbers_cover_hex_exponents_and_separators() {
        let got: Vec<_> = texts("0xFF 1e-10 3.5E+2 .5 0x1p4 1_000 0b101 5..x")
            .into_iter()
            .map(|t| t.1)
            .collect();
        // `5..x` lexes as the malformed numeral `5..x`, as in Lua; Luau reports it.
        assert_eq!(
            got,
            [
                "0xFF", "1e-10", "3.5E+2", ".5", "0x1p4", "1_000", "0b101", "5..x", ""
            ]
        );
    }

    #[test]
    fn strings_and_comments_are_opaque_and_lines_are_counted() {
        let source =
            "a = 'x -- y' -- c & d\n--[==[ long\n]] still ]==] b = [[\n& ]] c = \"q\\\nr\"\nd";
        let got = texts(source);
        let names: Vec<_> = got.iter().map(|t| (t.1, t.2)).collect();
        assert_eq!(
            names,
            [
                ("a", 1),
                ("=", 1),
                ("'x -- y'", 1),
                ("b", 3),
                ("=", 3),
                ("[[\n& ]]", 3),
                ("c", 4),
                ("=", 4),
                ("\"q\\\nr\"", 4),
                ("d", 6),
                ("", 6)
            ]
        );
    }

    #[test]
    fn interpolated_strings_are_one_token() {
        let got: Vec<_> = texts("x = `a {f({1}, \"}`\")} b` .. y")
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(got, ["x", "=", "`a {f({1}, \"}`\")} b`", "..", "y", ""]);
    }

    #[test]
    fn unfinished_strings_and_brackets_are_errors_with_their_line() {
        for (source, line) in [
            ("\n'abc\n'", 2),
            ("x\n\n[==[ abc ]=]", 3),
            ("--[[ x", 1),
            ("`a", 1),
        ] {
            let err = tokenize(source).unwrap_err();
            assert_eq!(err.line(), line, "{source:?}: {err}");
        }
    }

    #[test]
    fn a_shebang_line_is_skipped() {
        let got: Vec<_> = texts("#!/usr/bin/lua & |\nx")
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(got, ["x", ""]);
    }
}
