//! The crate's one error type.

/// Why a source could not be translated. Every variant carries the 1-based line of the
/// source it is about; [`DialectError::line`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialectError {
    /// The source is not valid in the Wippy dialect (nor in Luau): an unfinished string, an
    /// unexpected token, a missing `end`.
    #[error("line {line}: {message}")]
    Syntax {
        /// Where the parser stopped.
        line: usize,
        /// What it expected or found, as Lua's own messages say it.
        message: String,
    },
    /// A `goto` whose label is visible but is neither the last statement of the innermost
    /// loop around the `goto` (a `continue`) nor the statement right after that loop (a
    /// `break`): Luau has no `goto`, and no other jump has a Luau equivalent.
    #[error(
        "line {line}: goto {label} cannot run on Luau, which has no goto: only a jump to a label \
         that ends the innermost enclosing loop's body (continue) or directly follows that loop \
         (break) is translated; label {label} is at line {label_line}"
    )]
    UntranslatableGoto {
        /// Line of the `goto`.
        line: usize,
        /// The label it jumps to.
        label: String,
        /// Line of that label.
        label_line: usize,
    },
    /// A `goto` with no visible label of that name (Lua rejects it too).
    #[error("line {line}: no visible label {label} for goto")]
    UnknownLabel {
        /// Line of the `goto`.
        line: usize,
        /// The label it names.
        label: String,
    },
    /// The source is larger than the translator's 4 GiB offsets can address.
    #[error("line 1: source of {bytes} bytes is too large to translate (limit 4 GiB)")]
    TooLarge {
        /// The source's size.
        bytes: usize,
    },
}

impl DialectError {
    /// The 1-based source line the error is about.
    pub fn line(&self) -> usize {
        match self {
            Self::Syntax { line, .. }
            | Self::UntranslatableGoto { line, .. }
            | Self::UnknownLabel { line, .. } => *line,
            Self::TooLarge { .. } => 1,
        }
    }
}
