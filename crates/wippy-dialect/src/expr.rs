//! Expressions, by Lua 5.4's precedence table (`lparser.c`'s `subexpr`). This is where
//! the bitwise operators become `bit32` calls: a node's `bit32.f(` goes before its left
//! operand's span and `)` after its right one, so the calls nest exactly as the operators
//! group. Also go-lua's casts (`e as T`) and postfix `!`.

use crate::lexer::{Kind, Token};
use crate::parser::{Parser, Result};

/// Priority of unary operators (Lua 5.4 `UNARY_PRIORITY`).
const UNARY_PRIORITY: u8 = 12;

/// Binary operators with their left and right priorities (Lua 5.4 `priority[]`): an
/// operator continues an expression parsed at limit `l` when its left priority is above `l`.
///
/// One departure: Lua makes `..` and `^` right-associative ((9, 8) and (14, 13)); here they
/// parse left to right, as a loop. No edit depends on how a chain of one of them groups:
/// they are never rewritten, nothing binding looser than them can enter the chain, and the
/// chain's span is the same either way; Luau groups them itself in the output. As a loop,
/// a concatenation of thousands of parts does not nest the parser once per part.
fn binary_priority(op: &str) -> Option<(u8, u8)> {
    Some(match op {
        "or" => (1, 1),
        "and" => (2, 2),
        "<" | ">" | "<=" | ">=" | "~=" | "==" => (3, 3),
        "|" => (4, 4),
        "~" => (5, 5),
        "&" => (6, 6),
        "<<" | ">>" => (7, 7),
        ".." => (9, 9),
        "+" | "-" => (10, 10),
        "*" | "/" | "//" | "%" => (11, 11),
        "^" => (14, 14),
        _ => return None,
    })
}

/// The `bit32` function a Lua 5.3 bitwise operator becomes.
fn bit32_call(op: &str) -> Option<&'static str> {
    Some(match op {
        "&" => "bit32.band(",
        "|" => "bit32.bor(",
        "~" => "bit32.bxor(",
        "<<" => "bit32.lshift(",
        ">>" => "bit32.rshift(",
        _ => return None,
    })
}

/// What the parser knows of an expression it walked over: its byte span, and whether it
/// can yield several values (a call or `...`), which matters when it becomes the last
/// argument of a `bit32` call.
#[derive(Clone, Copy)]
pub(crate) struct Expr {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) multi: bool,
}

impl Parser<'_> {
    pub(crate) fn expr_list(&mut self) -> Result<Expr> {
        let mut last = self.expr()?;
        while self.accept(",") {
            last = self.expr()?;
        }
        Ok(last)
    }

    pub(crate) fn expr(&mut self) -> Result<Expr> {
        self.subexpr(0)
    }

    /// Lua 5.4's `subexpr`: a unary or simple expression, then every binary operator whose
    /// left priority is above `limit`. Bitwise nodes become `bit32` calls around their
    /// operands' spans.
    fn subexpr(&mut self, limit: u8) -> Result<Expr> {
        self.enter()?;
        let result = self.subexpr_inner(limit);
        self.leave(result)
    }

    fn subexpr_inner(&mut self, limit: u8) -> Result<Expr> {
        let t = self.tok();
        let unary = t.kind != Kind::Str && matches!(self.text_of(t), "not" | "-" | "#" | "~");
        let mut left = if unary {
            self.next();
            let operand = self.subexpr(UNARY_PRIORITY)?;
            if self.text_of(t) == "~" {
                self.edits.replace(t.start, t.end, "bit32.bnot(");
                self.single_value(operand);
                self.edits.close(operand.end, ")");
            }
            Expr {
                start: t.start,
                end: operand.end,
                multi: false,
            }
        } else {
            self.simple_expr()?
        };
        loop {
            let op = self.tok();
            if op.kind != Kind::Symbol && op.kind != Kind::Name {
                break;
            }
            let Some((left_priority, right_priority)) = binary_priority(self.text_of(op)) else {
                break;
            };
            if left_priority <= limit {
                break;
            }
            self.next();
            let right = self.subexpr(right_priority)?;
            if let Some(call) = bit32_call(self.text_of(op)) {
                self.edits.open(left.start, call);
                self.edits.replace(op.start, op.end, ",");
                self.single_value(right);
                self.edits.close(right.end, ")");
            }
            left = Expr {
                start: left.start,
                end: right.end,
                multi: false,
            };
        }
        Ok(left)
    }

    /// Wraps a call or `...` that becomes the last argument of a `bit32` call in
    /// parentheses, so that it gives one value as the operand did.
    fn single_value(&mut self, operand: Expr) {
        if operand.multi {
            self.edits.open(operand.start, "(");
            self.edits.close(operand.end, ")");
        }
    }

    fn simple_expr(&mut self) -> Result<Expr> {
        let t = self.tok();
        let mut expr = match (t.kind, self.text_of(t)) {
            (Kind::Number | Kind::Str, _) | (Kind::Name, "nil" | "true" | "false") => {
                self.next();
                Expr {
                    start: t.start,
                    end: t.end,
                    multi: false,
                }
            }
            (Kind::Symbol, "...") => {
                self.next();
                Expr {
                    start: t.start,
                    end: t.end,
                    multi: true,
                }
            }
            (Kind::Symbol, "{") => {
                self.table_constructor()?;
                Expr {
                    start: t.start,
                    end: self.last_end,
                    multi: false,
                }
            }
            (Kind::Name, "function") => {
                self.next();
                self.function_body(t.line)?;
                Expr {
                    start: t.start,
                    end: self.last_end,
                    multi: false,
                }
            }
            (Kind::Name, "if") => {
                // Luau's if-expression.
                self.next();
                self.expr()?;
                self.expect("then")?;
                self.expr()?;
                while self.accept("elseif") {
                    self.expr()?;
                    self.expect("then")?;
                    self.expr()?;
                }
                self.expect("else")?;
                let last = self.expr()?;
                Expr {
                    start: t.start,
                    end: last.end,
                    multi: false,
                }
            }
            _ => self.suffixed_expr()?,
        };
        // Casts: Luau's `e :: T`, and go-lua's `e as T`, which becomes it.
        loop {
            if self.check("::") && !self.label_at(self.index()) {
                self.next();
                self.type_()?;
            } else if self.check("as") && self.type_starts_at(1) {
                let as_token = self.next();
                self.edits.replace(as_token.start, as_token.end, "::");
                self.type_()?;
            } else {
                break;
            }
            expr = Expr {
                start: expr.start,
                end: self.last_end,
                multi: false,
            };
        }
        Ok(expr)
    }

    /// `primary { .name | [exp] | :name args | args | ! }`; go-lua's postfix `!` (non-nil
    /// assertion, no runtime effect) is erased.
    pub(crate) fn suffixed_expr(&mut self) -> Result<Expr> {
        let t = self.tok();
        let mut multi = false;
        if self.at_name() {
            self.next();
        } else if self.accept("(") {
            self.expr()?;
            self.expect(")")?;
        } else {
            return Err(self.error(format!("unexpected symbol near '{}'", self.near())));
        }
        loop {
            let s = self.tok();
            match (s.kind, self.text_of(s)) {
                (Kind::Symbol, ".") => {
                    self.next();
                    self.field_name()?;
                    multi = false;
                }
                (Kind::Symbol, "[") => {
                    self.next();
                    self.expr()?;
                    self.expect("]")?;
                    multi = false;
                }
                (Kind::Symbol, ":") => {
                    self.next();
                    self.field_name()?;
                    self.call_args()?;
                    multi = true;
                }
                (Kind::Symbol, "(" | "{") | (Kind::Str, _) => {
                    self.call_args()?;
                    multi = true;
                }
                (Kind::Symbol, "!") => {
                    self.next();
                    self.edits.replace(s.start, s.end, " ");
                }
                _ => break,
            }
        }
        Ok(Expr {
            start: t.start,
            end: self.last_end,
            multi,
        })
    }

    /// A name after `.` or `:`. go-lua allows some of its reserved words there (`t.type`);
    /// they are names to this parser already.
    fn field_name(&mut self) -> Result<Token> {
        self.name()
    }

    fn call_args(&mut self) -> Result<()> {
        if self.kind() == Kind::Str {
            self.next();
        } else if self.check("{") {
            self.table_constructor()?;
        } else {
            self.expect("(")?;
            if !self.check(")") {
                self.expr_list()?;
            }
            self.expect(")")?;
        }
        Ok(())
    }

    fn table_constructor(&mut self) -> Result<()> {
        let open = self.expect("{")?;
        while !self.check("}") {
            if self.accept("[") {
                self.expr()?;
                self.expect("]")?;
                self.expect("=")?;
                self.expr()?;
            } else if self.kind() == Kind::Name
                && self.peek_text(1) == "="
                && self.peek_kind(1) == Kind::Symbol
            {
                self.next();
                self.next();
                self.expr()?;
            } else {
                self.expr()?;
            }
            if !self.accept(",") && !self.accept(";") {
                break;
            }
        }
        self.expect_closing("}", "{", open.line)
    }
}
