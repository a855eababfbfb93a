//! Load errors: each names file, line, entry and field.

use std::fmt;
use std::path::PathBuf;

/// One problem found while loading an app.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The `_index.yaml` (or source file) at fault.
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// The entry id, when the error is inside an entry.
    pub entry: Option<String>,
    /// Path of the field, e.g. `entries[3].lifecycle.restart.delay`.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
    /// A fix, e.g. `did you mean lifecycle?`.
    pub suggestion: Option<String>,
}

impl fmt::Display for LoadError {
    /// `file:line: [entry] path: message; suggestion`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        f.write_str(": ")?;
        if let Some(entry) = &self.entry {
            write!(f, "[{entry}] ")?;
        }
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; {s}")?;
        }
        Ok(())
    }
}

/// Every error of a load, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
