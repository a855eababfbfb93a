//! Type annotations: go-lua's type layer, rewritten into Luau's where they differ.
//!
//! | go-lua | Luau |
//! |---|---|
//! | `{x?: T}` | `{x: T?}` (`(T)?` for a type of several tokens) |
//! | `T[]` | `{T}` |
//! | `fun(a: A, ...: V): R` | `(a: A, ...V) -> R`; no return type: `-> ()` |
//! | `function f(): A, B` | `function f(): (A, B)` |
//! | `<T: C>` generic bounds, function generic defaults | erased |
//! | `readonly T` | `T` |
//! | `keyof(T)`, `T[K]`, `A extends B ? X : Y` | `any` |
//! | `: x is T` / `: asserts x is T` return predicates | `boolean` / `()` |
//! | number literal types (`5`) | `number` |
//! | field annotations `@min(0)`, `@pattern("..")` | erased |
//!
//! Types have no runtime effect in either dialect, so every rewrite only has to parse.

use crate::lexer::Kind;
use crate::parser::{Parser, Result};

impl Parser<'_> {
    /// `type Name [<params>] = T`, after `type`.
    pub(crate) fn type_alias(&mut self) -> Result<()> {
        self.name()?;
        if self.check("<") {
            self.generic_params(false)?;
        }
        self.expect("=")?;
        self.type_()
    }

    /// Whether a type starts `n` tokens ahead; tells go-lua's cast `e as T` from a name
    /// `as` that starts the next statement.
    pub(crate) fn type_starts_at(&self, n: usize) -> bool {
        match self.peek_kind(n) {
            Kind::Name => {
                self.peek_is_name(n) || matches!(self.peek_text(n), "nil" | "true" | "false")
            }
            Kind::Str => true,
            Kind::Symbol => matches!(self.peek_text(n), "{" | "(" | "..."),
            Kind::Number | Kind::Eof => false,
        }
    }

    /// A full type: a union or intersection of postfix types (a leading `|` or `&` is
    /// allowed), or a conditional type.
    pub(crate) fn type_(&mut self) -> Result<()> {
        let from = self.index();
        let mark = self.edits.len();
        if self.check("|") || self.check("&") {
            self.next();
        }
        self.postfix_type(true)?;
        while self.check("|") || self.check("&") {
            self.next();
            self.postfix_type(true)?;
        }
        if self.accept("extends") {
            // `A extends B ? X : Y`: the `?` belongs to the condition, not to `B`.
            self.postfix_type(false)?;
            self.expect("?")?;
            self.type_()?;
            self.expect(":")?;
            self.type_()?;
            self.replace_type(from, mark, "any");
        }
        Ok(())
    }

    /// Replaces the type whose first token is at index `from`, up to the last token
    /// consumed, with `text`, dropping the edits made inside it since `mark`.
    fn replace_type(&mut self, from: usize, mark: usize, text: &'static str) {
        self.edits.truncate(mark);
        self.replace_tokens(from, text);
    }

    /// A primary type followed by `?`, `[]` (an array: `{T}`) or `[K]` (indexed access).
    fn postfix_type(&mut self, allow_optional: bool) -> Result<()> {
        self.enter()?;
        let result = self.postfix_type_inner(allow_optional);
        self.leave(result)
    }

    fn postfix_type_inner(&mut self, allow_optional: bool) -> Result<()> {
        let from = self.index();
        let start = self.tok().start;
        let mark = self.edits.len();
        self.primary_type()?;
        loop {
            if allow_optional && self.check("?") {
                self.next();
            } else if self.check("[") && self.peek_text(1) == "]" {
                let open = self.next();
                let close = self.next();
                self.edits.open(start, "{");
                self.edits.replace(open.start, open.end, "}");
                self.edits.replace(close.start, close.end, "");
            } else if self.accept("[") {
                self.type_()?;
                self.expect("]")?;
                self.replace_type(from, mark, "any");
            } else {
                return Ok(());
            }
        }
    }

    fn primary_type(&mut self) -> Result<()> {
        let from = self.index();
        let t = self.tok();
        let mark = self.edits.len();
        match (t.kind, self.text_of(t)) {
            (Kind::Str, _) | (Kind::Name, "nil" | "true" | "false") => {
                self.next();
            }
            (Kind::Number, _) => {
                self.next();
                self.edits.replace(t.start, t.end, "number");
            }
            (Kind::Symbol, "-") if self.peek_kind(1) == Kind::Number => {
                self.next();
                self.next();
                self.replace_tokens(from, "number");
            }
            (Kind::Symbol, "{") => self.table_type()?,
            (Kind::Symbol, "(") => {
                self.type_list()?;
                if self.accept("->") {
                    self.type_()?;
                }
            }
            (Kind::Symbol, "<") => {
                // Luau's generic function type `<T>(T) -> T`.
                self.generic_params(true)?;
                self.type_list()?;
                self.expect("->")?;
                self.type_()?;
            }
            (Kind::Symbol, "...") => {
                self.next();
                self.postfix_type(true)?;
            }
            (Kind::Name, "fun") if self.peek_text(1) == "(" => self.fun_type()?,
            (Kind::Name, "typeof") if self.peek_text(1) == "(" => {
                self.next();
                self.next();
                self.expr()?;
                self.expect(")")?;
            }
            (Kind::Name, "keyof") if self.peek_text(1) == "(" => {
                self.next();
                self.next();
                self.type_()?;
                self.expect(")")?;
                self.replace_type(from, mark, "any");
            }
            (Kind::Name, "readonly") if self.type_starts_at(1) => {
                self.next();
                self.edits.replace(t.start, t.end, " ");
                self.postfix_type(true)?;
            }
            (Kind::Name, _) if self.is_name(t) => {
                self.next();
                while self.check(".") && self.peek_is_name(1) {
                    self.next();
                    self.next();
                }
                if self.check("<") {
                    self.type_args()?;
                }
            }
            _ => return Err(self.error(format!("type expected near '{}'", self.near()))),
        }
        Ok(())
    }

    /// `( item, ... )`: function type parameters or a type pack. Items may be named
    /// (`a: T`, `a?: T`); go-lua's `...: T` becomes Luau's `...T`.
    fn type_list(&mut self) -> Result<()> {
        self.expect("(")?;
        while !self.check(")") {
            if self.check("...") && self.peek_text(1) == ":" {
                self.next();
                let colon = self.next();
                self.edits.replace(colon.start, colon.end, "");
                self.type_()?;
            } else if self.kind() == Kind::Name && self.peek_text(1) == ":" {
                self.next();
                self.next();
                self.type_()?;
            } else if self.kind() == Kind::Name
                && self.peek_text(1) == "?"
                && self.peek_text(2) == ":"
            {
                self.next();
                let question = self.next();
                self.edits.replace(question.start, question.end, "");
                self.next();
                self.optional_type()?;
            } else {
                self.type_()?;
            }
            if !self.accept(",") {
                break;
            }
        }
        self.expect(")")?;
        Ok(())
    }

    /// go-lua's `fun(params): R` → Luau's `(params) -> R`.
    fn fun_type(&mut self) -> Result<()> {
        let fun = self.next();
        self.edits.replace(fun.start, fun.end, "");
        self.type_list()?;
        if self.check(":") {
            let colon = self.next();
            self.edits.replace(colon.start, colon.end, " ->");
            self.type_()
        } else if self.accept("->") {
            self.type_()
        } else {
            self.edits.close(self.last_end, " -> ()");
            Ok(())
        }
    }

    /// The type after go-lua's optional field `x?:`, made optional Luau's way.
    fn optional_type(&mut self) -> Result<()> {
        let first = self.tok();
        self.type_()?;
        if self.last_end == first.end {
            self.edits.close(self.last_end, "?");
        } else {
            self.edits.open(first.start, "(");
            self.edits.close(self.last_end, ")?");
        }
        Ok(())
    }

    fn table_type(&mut self) -> Result<()> {
        let open = self.expect("{")?;
        while !self.check("}") {
            if self.accept("[") {
                self.type_()?;
                self.expect("]")?;
                self.expect(":")?;
                self.type_()?;
            } else if self.kind() == Kind::Name && self.peek_text(1) == ":" {
                self.next();
                self.next();
                self.type_()?;
            } else if self.kind() == Kind::Name
                && self.peek_text(1) == "?"
                && self.peek_text(2) == ":"
            {
                self.next();
                let question = self.next();
                self.edits.replace(question.start, question.end, "");
                self.next();
                self.optional_type()?;
            } else if matches!(self.text(), "read" | "write")
                && self.kind() == Kind::Name
                && self.peek_kind(1) == Kind::Name
                && matches!(self.peek_text(2), ":" | "?")
            {
                // Luau's property modifier; the field follows.
                self.next();
                continue;
            } else {
                self.type_()?;
            }
            self.field_annotations()?;
            if !self.accept(",") && !self.accept(";") {
                break;
            }
        }
        if self.check("}") {
            self.next();
            Ok(())
        } else {
            Err(self.error(format!(
                "'}}' expected (to close '{{' at line {}) near '{}'",
                open.line,
                self.near()
            )))
        }
    }

    /// go-lua's validation annotations after a field's type (`@min(0) @max(9)`): read by
    /// its `Type:is`, erased here.
    fn field_annotations(&mut self) -> Result<()> {
        while self.check("@") && self.peek_kind(1) == Kind::Name {
            let from = self.index();
            let mark = self.edits.len();
            self.next();
            self.next();
            if self.accept("(") {
                if !self.check(")") {
                    self.expr_list()?;
                }
                self.expect(")")?;
            }
            self.edits.truncate(mark);
            self.replace_tokens(from, " ");
        }
        Ok(())
    }

    /// `<A, B...>` type arguments after a type name.
    fn type_args(&mut self) -> Result<()> {
        self.next();
        if !self.at_gt() {
            loop {
                // A type, a function type or a pack `(A, B)`.
                self.type_()?;
                if !self.accept(",") {
                    break;
                }
            }
        }
        self.expect_gt()
    }

    /// `<T, U: Bound, V = Default, W...>` generic parameters. Bounds (`:`, `extends`) are
    /// erased, Luau has none; defaults are erased where Luau allows none (functions).
    pub(crate) fn generic_params(&mut self, erase_defaults: bool) -> Result<()> {
        self.expect("<")?;
        loop {
            self.name()?;
            self.accept("...");
            if self.check(":") || self.check("extends") {
                self.erase_type_after_token()?;
            }
            if self.check("=") {
                if erase_defaults {
                    self.erase_type_after_token()?;
                } else {
                    self.next();
                    self.type_()?;
                }
            }
            if !self.accept(",") {
                break;
            }
        }
        self.expect_gt()
    }

    /// Erases the current token and the type after it.
    fn erase_type_after_token(&mut self) -> Result<()> {
        let from = self.index();
        let mark = self.edits.len();
        self.next();
        self.type_()?;
        self.replace_type(from, mark, "");
        Ok(())
    }

    /// A function declaration's return type, after its `:`. go-lua allows several types
    /// without parentheses (`: A, B`), which become a pack `(A, B)`; type predicates
    /// become what the function returns.
    pub(crate) fn return_types(&mut self) -> Result<()> {
        let from = self.index();
        let t = self.tok();
        let mark = self.edits.len();
        if self.check("asserts") && self.peek_is_name(1) {
            self.next();
            self.next();
            if self.accept("is") {
                self.type_()?;
            }
            self.replace_type(from, mark, "()");
            return Ok(());
        }
        if self.at_name() && self.peek_text(1) == "is" && self.type_starts_at(2) {
            self.next();
            self.next();
            self.type_()?;
            self.replace_type(from, mark, "boolean");
            return Ok(());
        }
        self.type_()?;
        if self.check(",") {
            while self.accept(",") {
                self.type_()?;
            }
            self.edits.open(t.start, "(");
            self.edits.close(self.last_end, ")");
        }
        Ok(())
    }

    fn at_gt(&self) -> bool {
        self.check(">") || self.check(">>")
    }

    /// Consumes one `>` closing generic arguments: a `>` token, or half of a `>>` token.
    fn expect_gt(&mut self) -> Result<()> {
        if self.accept(">") {
            Ok(())
        } else if self.check(">>") {
            if self.half_gt {
                self.half_gt = false;
                self.next();
            } else {
                self.half_gt = true;
            }
            Ok(())
        } else {
            Err(self.error(format!("'>' expected near '{}'", self.near())))
        }
    }
}
