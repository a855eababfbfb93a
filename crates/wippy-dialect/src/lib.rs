#![doc = include_str!("../README.md")]

mod edit;
mod error;
mod expr;
mod jumps;
mod lexer;
mod parser;
mod types;

use std::borrow::Cow;

pub use error::DialectError;

/// Translates a Lua source written for Wippy (go-lua's dialect) into Luau, line for line:
/// output line N holds what input line N held, so Luau's errors and tracebacks name the
/// user's lines.
///
/// Returns the source itself, borrowed, when nothing in it needs translating (plain Lua
/// and Luau sources). Fails on a `goto` Luau cannot express and on sources that are not
/// valid in either dialect; the error names the line.
///
/// ```
/// use wippy_dialect::translate;
///
/// let out = translate("local mask: integer = flags & 0xFF\n").unwrap();
/// assert_eq!(out, "local mask: integer = bit32.band(flags , 0xFF)\n");
/// assert!(matches!(translate("print('hi')").unwrap(), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn translate(source: &str) -> Result<Cow<'_, str>, DialectError> {
    if u32::try_from(source.len()).is_err() {
        return Err(DialectError::TooLarge {
            bytes: source.len(),
        });
    }
    let tokens = lexer::tokenize(source)?;
    let mut parser = parser::Parser::new(source, tokens);
    parser.chunk()?;
    Ok(parser.edits.apply(source))
}

#[cfg(test)]
mod tests;
