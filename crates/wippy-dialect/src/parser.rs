//! The parser: a recursive-descent parser of go-lua's dialect and Luau together, which
//! builds no tree. As it recognises a form Luau rejects it records an [`Edits`] entry that
//! rewrites it in place; everything else it only walks over.
//!
//! Token access and statements are here, expressions in `expr.rs`, types in `types.rs`,
//! `goto` and labels in `jumps.rs`.

use crate::edit::Edits;
use crate::error::DialectError;
use crate::jumps::Jumps;
use crate::lexer::{Kind, Token};

pub(crate) type Result<T> = std::result::Result<T, DialectError>;

/// Whether `word` is one of Lua's reserved words. go-lua's extra ones (`fun`, `as`,
/// `interface`, ...) and Luau's contextual ones (`type`, `continue`, `export`) are names
/// that the parser recognises by position, so that a Luau source using them as names
/// still parses.
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "and"
            | "break"
            | "do"
            | "else"
            | "elseif"
            | "end"
            | "false"
            | "for"
            | "function"
            | "if"
            | "in"
            | "local"
            | "nil"
            | "not"
            | "or"
            | "repeat"
            | "return"
            | "then"
            | "true"
            | "until"
            | "while"
    )
}

/// How deeply blocks, expressions and types may nest: Lua 5.1's `LUAI_MAXCCALLS`, far
/// deeper than real code goes. It keeps hostile input from overflowing the stack: an
/// unoptimised build spends about 6 KB of stack per level, so 200 levels fit a 2 MB
/// thread stack (optimised builds use a sixth of that). Luau itself allows about 500.
const MAX_DEPTH: u32 = 200;

/// What kind of statement the parser walked over, as far as its block cares.
enum Statement {
    /// A loop, with its id: a label right after it is a `break` target.
    Loop(u32),
    /// A statement erased from the output (`interface`), which Luau does not see.
    Erased,
    /// Any other statement.
    Other,
}

pub(crate) struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    pos: usize,
    /// End of the last token consumed.
    pub(crate) last_end: u32,
    pub(crate) edits: Edits,
    pub(crate) jumps: Jumps,
    /// How many blocks, expressions and types enclose the current position.
    depth: u32,
    /// Set when one `>` of a `>>` token closed a generic argument list, and the token's
    /// second `>` is still to be consumed (`Array<Array<T>>`).
    pub(crate) half_gt: bool,
}

impl<'s> Parser<'s> {
    pub(crate) fn new(src: &'s str, tokens: Vec<Token>) -> Self {
        Parser {
            src,
            tokens,
            pos: 0,
            last_end: 0,
            edits: Edits::default(),
            jumps: Jumps::default(),
            depth: 0,
            half_gt: false,
        }
    }

    /// Parses the whole source as a chunk and resolves its gotos.
    pub(crate) fn chunk(&mut self) -> Result<()> {
        self.block(None)?;
        if self.kind() != Kind::Eof {
            return Err(self.error(format!("'<eof>' expected near '{}'", self.text())));
        }
        self.jumps.resolve(&mut self.edits)
    }

    // ---- token access -------------------------------------------------------------------

    pub(crate) fn tok(&self) -> Token {
        self.tokens[self.pos]
    }

    pub(crate) fn kind(&self) -> Kind {
        self.tokens[self.pos].kind
    }

    pub(crate) fn text_of(&self, t: Token) -> &'s str {
        &self.src[t.start as usize..t.end as usize]
    }

    pub(crate) fn text(&self) -> &'s str {
        self.text_of(self.tok())
    }

    /// The text `n` tokens ahead (the `Eof` token's text, `""`, past the end).
    pub(crate) fn peek_text(&self, n: usize) -> &'s str {
        let i = (self.pos + n).min(self.tokens.len() - 1);
        self.text_of(self.tokens[i])
    }

    pub(crate) fn peek_kind(&self, n: usize) -> Kind {
        self.tokens[(self.pos + n).min(self.tokens.len() - 1)].kind
    }

    /// Whether the current token is the symbol or word `text` (never a string literal
    /// that happens to hold it).
    pub(crate) fn check(&self, text: &str) -> bool {
        self.kind() != Kind::Str && self.text() == text
    }

    pub(crate) fn next(&mut self) -> Token {
        let t = self.tok();
        if t.kind != Kind::Eof {
            self.pos += 1;
        }
        self.last_end = t.end;
        t
    }

    pub(crate) fn accept(&mut self, text: &str) -> bool {
        let found = self.check(text);
        if found {
            self.next();
        }
        found
    }

    pub(crate) fn expect(&mut self, text: &str) -> Result<Token> {
        if self.check(text) {
            Ok(self.next())
        } else {
            Err(self.error(format!("'{text}' expected near '{}'", self.near())))
        }
    }

    /// Expects the `end` (or `until`) closing a construct opened by `opener` at `line`.
    pub(crate) fn expect_closing(&mut self, text: &str, opener: &str, line: u32) -> Result<()> {
        if self.accept(text) {
            Ok(())
        } else if self.tok().line == line {
            Err(self.error(format!("'{text}' expected near '{}'", self.near())))
        } else {
            Err(self.error(format!(
                "'{text}' expected (to close '{opener}' at line {line}) near '{}'",
                self.near()
            )))
        }
    }

    /// How the current token is named in an error message.
    pub(crate) fn near(&self) -> &'s str {
        if self.kind() == Kind::Eof {
            "<eof>"
        } else {
            self.text()
        }
    }

    /// Enters one more nesting level, failing past [`MAX_DEPTH`]; [`Parser::leave`] pairs
    /// with it. (Not a closure-taking wrapper: in debug builds every extra frame per
    /// level costs stack.)
    pub(crate) fn enter(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("too many nested levels (limit {MAX_DEPTH})")));
        }
        self.depth += 1;
        Ok(())
    }

    pub(crate) fn leave<T>(&mut self, result: Result<T>) -> Result<T> {
        self.depth -= 1;
        result
    }

    /// The index of the current token, a mark for [`Parser::replace_tokens`].
    pub(crate) fn index(&self) -> usize {
        self.pos
    }

    /// Replaces the tokens consumed since index `from`: the first with `text`, the others
    /// with nothing. What lies between them, comments included, stays.
    pub(crate) fn replace_tokens(&mut self, from: usize, text: &'static str) {
        for i in from..self.pos {
            let t = self.tokens[i];
            self.edits
                .replace(t.start, t.end, if i == from { text } else { "" });
        }
    }

    pub(crate) fn error(&self, message: String) -> DialectError {
        DialectError::Syntax {
            line: self.tok().line as usize,
            message,
        }
    }

    /// Whether `t` is a name that is no Lua keyword.
    pub(crate) fn is_name(&self, t: Token) -> bool {
        t.kind == Kind::Name && !is_keyword(self.text_of(t))
    }

    pub(crate) fn at_name(&self) -> bool {
        self.is_name(self.tok())
    }

    pub(crate) fn peek_is_name(&self, n: usize) -> bool {
        self.peek_kind(n) == Kind::Name && !is_keyword(self.peek_text(n))
    }

    pub(crate) fn name(&mut self) -> Result<Token> {
        if self.at_name() {
            Ok(self.next())
        } else {
            Err(self.error(format!("<name> expected near '{}'", self.near())))
        }
    }

    /// Whether the token at `i` ends a block.
    fn ends_block_at(&self, i: usize) -> bool {
        let t = self.tokens[i.min(self.tokens.len() - 1)];
        t.kind == Kind::Eof
            || (t.kind == Kind::Name
                && matches!(self.text_of(t), "end" | "else" | "elseif" | "until"))
    }

    /// Whether the statement just parsed is the last of its block in the Luau output:
    /// only `;` and labels (which are erased) follow it.
    fn statement_is_last(&self) -> bool {
        let mut i = self.pos;
        loop {
            if self.symbol_at(i, ";") {
                i += 1;
            } else if self.label_at(i) {
                i += 3;
            } else {
                return self.ends_block_at(i);
            }
        }
    }

    fn symbol_at(&self, i: usize, text: &str) -> bool {
        let t = self.tokens[i.min(self.tokens.len() - 1)];
        t.kind == Kind::Symbol && self.text_of(t) == text
    }

    /// Whether a label `::name::` starts at token `i`. A Luau cast `e :: T` followed by a
    /// label (`:: T ::name::`) starts with the same tokens; Luau has no double cast
    /// `e :: A :: B`, so anything else of this shape is a label.
    pub(crate) fn label_at(&self, i: usize) -> bool {
        self.label_shape_at(i) && !self.label_shape_at(i + 2)
    }

    fn label_shape_at(&self, i: usize) -> bool {
        self.symbol_at(i, "::")
            && self.symbol_at(i + 2, "::")
            && self.is_name(self.tokens[(i + 1).min(self.tokens.len() - 1)])
    }

    // ---- statements ---------------------------------------------------------------------

    /// Parses a block. `loop_body` names the loop whose body this is, so that a label
    /// ending it can become a `continue` target.
    fn block(&mut self, loop_body: Option<u32>) -> Result<()> {
        self.enter()?;
        let result = self.block_inner(loop_body);
        self.leave(result)
    }

    fn block_inner(&mut self, loop_body: Option<u32>) -> Result<()> {
        let block = self.jumps.enter_block(loop_body);
        // The loop statement just before the current one, for a label right after a loop.
        let mut previous_loop = None;
        let mut last_label = None;
        // Whether the last thing parsed was a statement Luau sees: Luau takes a `;` only
        // right after one, Lua 5.2+ (and go-lua) anywhere, so other `;` are erased.
        let mut after_statement = false;
        while !self.ends_block_at(self.pos) {
            if self.check(";") {
                let semicolon = self.next();
                if !after_statement {
                    self.edits.replace(semicolon.start, semicolon.end, " ");
                }
                after_statement = false;
                continue;
            }
            last_label = None;
            if self.label_at(self.pos) {
                last_label = Some(self.label(previous_loop)?);
                previous_loop = None;
                after_statement = false;
                continue;
            }
            let statement = self.statement()?;
            previous_loop = match statement {
                Statement::Loop(id) => Some(id),
                Statement::Erased | Statement::Other => None,
            };
            after_statement = !matches!(statement, Statement::Erased);
        }
        self.jumps.leave_block(block, last_label);
        Ok(())
    }

    /// `::name::` — erased; [`Jumps`] decides what the gotos to it become.
    fn label(&mut self, follows_loop: Option<u32>) -> Result<usize> {
        let from = self.index();
        self.next();
        let name = self.name()?;
        self.expect("::")?;
        self.replace_tokens(from, " ");
        self.jumps
            .label(self.text_of(name), name.line, follows_loop)
    }

    /// Parses one statement.
    fn statement(&mut self) -> Result<Statement> {
        let t = self.tok();
        let line = t.line;
        match self.text_of(t) {
            _ if t.kind != Kind::Name && !self.check("@") => {}
            "if" => {
                self.next();
                self.expr()?;
                self.expect("then")?;
                self.block(None)?;
                while self.accept("elseif") {
                    self.expr()?;
                    self.expect("then")?;
                    self.block(None)?;
                }
                if self.accept("else") {
                    self.block(None)?;
                }
                self.expect_closing("end", "if", line)?;
                return Ok(Statement::Other);
            }
            "while" => {
                self.next();
                self.expr()?;
                self.expect("do")?;
                let id = self.loop_body()?;
                self.expect_closing("end", "while", line)?;
                return Ok(Statement::Loop(id));
            }
            "do" => {
                self.next();
                self.block(None)?;
                self.expect_closing("end", "do", line)?;
                return Ok(Statement::Other);
            }
            "for" => {
                self.next();
                self.name()?;
                self.optional_annotation()?;
                if self.accept("=") {
                    self.expr()?;
                    self.expect(",")?;
                    self.expr()?;
                    if self.accept(",") {
                        self.expr()?;
                    }
                } else {
                    while self.accept(",") {
                        self.name()?;
                        self.optional_annotation()?;
                    }
                    self.expect("in")?;
                    self.expr_list()?;
                }
                self.expect("do")?;
                let id = self.loop_body()?;
                self.expect_closing("end", "for", line)?;
                return Ok(Statement::Loop(id));
            }
            "repeat" => {
                self.next();
                let id = self.jumps.enter_loop();
                self.block(Some(id))?;
                self.expect_closing("until", "repeat", line)?;
                // The condition sees the body's locals, but no jump target lives in it.
                self.expr()?;
                self.jumps.leave_loop();
                return Ok(Statement::Loop(id));
            }
            "function" => {
                self.next();
                self.name()?;
                while self.accept(".") {
                    self.name()?;
                }
                if self.accept(":") {
                    self.name()?;
                }
                self.function_body(line)?;
                return Ok(Statement::Other);
            }
            "local" => {
                self.next();
                if self.accept("function") {
                    self.name()?;
                    self.function_body(line)?;
                } else {
                    self.local_names()?;
                    if self.accept("=") {
                        self.expr_list()?;
                    }
                }
                return Ok(Statement::Other);
            }
            "return" => {
                self.next();
                if !self.ends_block_at(self.pos) && !self.check(";") {
                    self.expr_list()?;
                }
                return Ok(Statement::Other);
            }
            "break" => {
                self.next();
                // Lua 5.2+ allows a break anywhere in a block; Luau only as its last
                // statement. A block around it means the same: the rest is dead code.
                if !self.statement_is_last() {
                    self.edits.replace(t.start, t.end, "do break end");
                }
                return Ok(Statement::Other);
            }
            "goto" if self.peek_is_name(1) => {
                self.next();
                let name = self.next();
                let last = self.statement_is_last();
                let between = &self.src[t.end as usize..name.start as usize];
                let blank = between.bytes().all(|b| b.is_ascii_whitespace());
                self.jumps.goto(t, name, self.text_of(name), last, blank);
                return Ok(Statement::Other);
            }
            "continue" if self.continue_is_statement() => {
                self.next();
                return Ok(Statement::Other);
            }
            "type" if self.peek_is_name(1) && matches!(self.peek_text(2), "=" | "<") => {
                self.next();
                self.type_alias()?;
                return Ok(Statement::Other);
            }
            "export" if self.peek_text(1) == "type" && self.peek_is_name(2) => {
                self.next();
                self.next();
                self.type_alias()?;
                return Ok(Statement::Other);
            }
            "interface" if self.peek_is_name(1) => {
                self.interface()?;
                return Ok(Statement::Erased);
            }
            "@" => {
                // A Luau function attribute (`@native`, `@[checked]`): kept, then the
                // function statement it qualifies.
                self.next();
                if self.accept("[") {
                    while !self.check("]") && self.kind() != Kind::Eof {
                        self.next();
                    }
                    self.expect("]")?;
                } else {
                    self.name()?;
                }
                return self.statement();
            }
            _ => {}
        }
        self.expression_statement()?;
        Ok(Statement::Other)
    }

    fn loop_body(&mut self) -> Result<u32> {
        let id = self.jumps.enter_loop();
        self.block(Some(id))?;
        self.jumps.leave_loop();
        Ok(id)
    }

    /// Luau's `continue` is a statement unless the word is used as a name
    /// (`continue = 1`, `continue(x)`), which the following token tells.
    fn continue_is_statement(&self) -> bool {
        let next = self.peek_text(1);
        self.peek_kind(1) != Kind::Str
            && !matches!(
                next,
                "=" | "("
                    | "."
                    | "["
                    | ":"
                    | ","
                    | "{"
                    | "!"
                    | "+="
                    | "-="
                    | "*="
                    | "/="
                    | "//="
                    | "%="
                    | "^="
                    | "..="
            )
    }

    /// `name [: T] [<attrib>] {, name [: T] [<attrib>]}` after `local`.
    fn local_names(&mut self) -> Result<()> {
        loop {
            self.name()?;
            self.optional_annotation()?;
            if self.accept("<") {
                // A Lua 5.4 attribute (`<const>`, `<close>`): neither go-lua nor Luau
                // has them; left for Luau to report.
                self.name()?;
                self.expect(">")?;
            }
            if !self.accept(",") {
                return Ok(());
            }
        }
    }

    /// `: T` after a declared name, if present.
    fn optional_annotation(&mut self) -> Result<()> {
        if self.accept(":") {
            self.type_()?;
        }
        Ok(())
    }

    /// A function's generic parameters, parameter list, return type and body, from after
    /// its name. `line` is the line of `function`, for the missing-`end` message.
    pub(crate) fn function_body(&mut self, line: u32) -> Result<()> {
        if self.check("<") {
            self.generic_params(true)?;
        }
        self.expect("(")?;
        if !self.check(")") {
            loop {
                if self.accept("...") {
                    if self.accept(":") {
                        self.type_()?;
                    }
                    break;
                }
                self.name()?;
                self.optional_annotation()?;
                if !self.accept(",") {
                    break;
                }
            }
        }
        self.expect(")")?;
        if self.accept(":") {
            self.return_types()?;
        }
        let saved = self.jumps.enter_function();
        self.block(None)?;
        self.jumps.leave_function(saved);
        self.expect_closing("end", "function", line)
    }

    fn expression_statement(&mut self) -> Result<()> {
        let first = self.suffixed_expr()?;
        if self.check("=") || self.check(",") {
            while self.accept(",") {
                self.suffixed_expr()?;
            }
            self.expect("=")?;
            self.expr_list()?;
        } else if matches!(
            self.text(),
            "+=" | "-=" | "*=" | "/=" | "//=" | "%=" | "^=" | "..="
        ) && self.kind() == Kind::Symbol
        {
            self.next();
            self.expr()?;
        } else if !first.multi {
            return Err(self.error(format!("syntax error near '{}'", self.near())));
        }
        Ok(())
    }

    /// `interface Name [: Base, ...] members end` — go-lua's structural interface, a type
    /// only: erased, up to its `end` (members are signatures without bodies).
    fn interface(&mut self) -> Result<()> {
        let from = self.index();
        let start = self.next();
        let mut depth = 0usize;
        loop {
            let t = self.tok();
            match (t.kind, self.text_of(t)) {
                (Kind::Eof, _) => {
                    return Err(DialectError::Syntax {
                        line: start.line as usize,
                        message: format!(
                            "'end' expected (to close 'interface' at line {})",
                            start.line
                        ),
                    });
                }
                (Kind::Symbol, "(" | "{" | "[") => depth += 1,
                (Kind::Symbol, ")" | "}" | "]") => depth = depth.saturating_sub(1),
                (Kind::Name, "end") if depth == 0 => break,
                _ => {}
            }
            self.next();
        }
        self.next();
        self.replace_tokens(from, " ");
        Ok(())
    }
}
