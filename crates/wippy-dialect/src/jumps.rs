//! `goto` and labels. Luau has neither; two uses have an exact Luau equivalent:
//!
//! - a jump to a label that is the last statement of the innermost loop body around the
//!   `goto` (`goto continue` ... `::continue:: end`) is `continue`;
//! - a jump to a label that is the statement right after that loop (`goto done` ...
//!   `end ::done::`) is `break`.
//!
//! Every other `goto` is an error naming its line. Labels themselves are erased: a label
//! no translated `goto` targets does nothing. A goto is resolved as Lua does: to the label
//! of that name in the innermost block around it, within its function; labels are visible
//! in their whole block, before and after them.

use crate::edit::Edits;
use crate::error::DialectError;
use crate::lexer::Token;

#[derive(Default)]
pub(crate) struct Jumps {
    blocks: Vec<Block>,
    current_block: Option<usize>,
    function: u32,
    functions: u32,
    innermost_loop: Option<u32>,
    /// The innermost loops of the enclosing loops, restored as they close.
    outer_loops: Vec<Option<u32>>,
    loops: u32,
    labels: Vec<Label>,
    gotos: Vec<Goto>,
}

struct Block {
    parent: Option<usize>,
    function: u32,
    loop_body: Option<u32>,
    labels: Vec<usize>,
}

struct Label {
    name: String,
    line: u32,
    /// The loop whose body this label ends.
    ends_body_of: Option<u32>,
    /// The loop this label directly follows.
    follows_loop: Option<u32>,
}

struct Goto {
    keyword: Token,
    name: Token,
    label: String,
    block: usize,
    innermost_loop: Option<u32>,
    last_in_block: bool,
    /// Whether only whitespace separates `goto` from its label's name.
    blank_between: bool,
}

/// The loop and function a block of code is in, saved while a nested function is parsed.
pub(crate) struct FunctionScope {
    function: u32,
    innermost_loop: Option<u32>,
    outer_loops: Vec<Option<u32>>,
}

impl Jumps {
    pub(crate) fn enter_block(&mut self, loop_body: Option<u32>) -> usize {
        let id = self.blocks.len();
        self.blocks.push(Block {
            parent: self.current_block,
            function: self.function,
            loop_body,
            labels: Vec::new(),
        });
        self.current_block = Some(id);
        id
    }

    /// Closes `block`; `last_label` is the label that was its last statement, if any.
    pub(crate) fn leave_block(&mut self, block: usize, last_label: Option<usize>) {
        if let (Some(body_of), Some(label)) = (self.blocks[block].loop_body, last_label) {
            self.labels[label].ends_body_of = Some(body_of);
        }
        self.current_block = self.blocks[block].parent;
    }

    /// Declares a label in the current block; Lua forbids one of the same name that is
    /// already visible there.
    pub(crate) fn label(
        &mut self,
        name: &str,
        line: u32,
        follows_loop: Option<u32>,
    ) -> Result<usize, DialectError> {
        let block = self
            .current_block
            .expect("a label is parsed inside a block");
        if let Some(earlier) = self.visible_label(block, name) {
            return Err(DialectError::Syntax {
                line: line as usize,
                message: format!("label '{name}' already defined on line {}", earlier.line),
            });
        }
        let id = self.labels.len();
        self.labels.push(Label {
            name: name.to_owned(),
            line,
            ends_body_of: None,
            follows_loop,
        });
        self.blocks[block].labels.push(id);
        Ok(id)
    }

    pub(crate) fn enter_loop(&mut self) -> u32 {
        let id = self.loops;
        self.loops += 1;
        self.outer_loops.push(self.innermost_loop);
        self.innermost_loop = Some(id);
        id
    }

    pub(crate) fn leave_loop(&mut self) {
        self.innermost_loop = self
            .outer_loops
            .pop()
            .expect("leave_loop pairs with enter_loop");
    }

    /// Starts a nested function: no loop encloses its code, and no label outside it is
    /// visible from it.
    pub(crate) fn enter_function(&mut self) -> FunctionScope {
        self.functions += 1;
        let saved = FunctionScope {
            function: self.function,
            innermost_loop: self.innermost_loop.take(),
            outer_loops: std::mem::take(&mut self.outer_loops),
        };
        self.function = self.functions;
        saved
    }

    pub(crate) fn leave_function(&mut self, saved: FunctionScope) {
        self.function = saved.function;
        self.innermost_loop = saved.innermost_loop;
        self.outer_loops = saved.outer_loops;
    }

    pub(crate) fn goto(
        &mut self,
        keyword: Token,
        name: Token,
        label: &str,
        last_in_block: bool,
        blank_between: bool,
    ) {
        self.gotos.push(Goto {
            keyword,
            name,
            label: label.to_owned(),
            block: self.current_block.expect("a goto is parsed inside a block"),
            innermost_loop: self.innermost_loop,
            last_in_block,
            blank_between,
        });
    }

    /// Turns every goto into `continue` or `break`, or fails on the first that is neither.
    pub(crate) fn resolve(&self, edits: &mut Edits) -> Result<(), DialectError> {
        for goto in &self.gotos {
            let Some(label) = self.visible_label(goto.block, &goto.label) else {
                return Err(DialectError::UnknownLabel {
                    line: goto.keyword.line as usize,
                    label: goto.label.clone(),
                });
            };
            let jump = match goto.innermost_loop {
                Some(l) if label.ends_body_of == Some(l) => "continue",
                Some(l) if label.follows_loop == Some(l) => "break",
                _ => {
                    return Err(DialectError::UntranslatableGoto {
                        line: goto.keyword.line as usize,
                        label: goto.label.clone(),
                        label_line: label.line as usize,
                    });
                }
            };
            // Luau wants `continue` and `break` last in their block; `do ... end` makes
            // them so without changing what runs (what follows was dead code).
            let text = match (jump, goto.last_in_block) {
                ("continue", true) => "continue",
                ("continue", false) => "do continue end",
                (_, true) => "break",
                (_, false) => "do break end",
            };
            if goto.blank_between {
                edits.replace(goto.keyword.start, goto.name.end, text);
            } else {
                // A comment between `goto` and its label stays where it is.
                edits.replace(goto.keyword.start, goto.keyword.end, text);
                edits.replace(goto.name.start, goto.name.end, "");
            }
        }
        Ok(())
    }

    /// The label called `name` visible from `block`: in it or a block around it, within
    /// the same function.
    fn visible_label(&self, block: usize, name: &str) -> Option<&Label> {
        let function = self.blocks[block].function;
        let mut block = Some(block);
        while let Some(b) = block {
            let info = &self.blocks[b];
            if info.function != function {
                return None;
            }
            if let Some(&l) = info.labels.iter().find(|&&l| self.labels[l].name == name) {
                return Some(&self.labels[l]);
            }
            block = info.parent;
        }
        None
    }
}
