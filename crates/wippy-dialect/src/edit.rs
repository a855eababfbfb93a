//! The edits a translation makes, and how they are applied without moving a line.
//!
//! An edit either replaces a span of the source or inserts text at a point. Replaced
//! spans keep their line breaks: the replacement is followed by every `\r` and `\n` of the
//! span it replaces, so each output line holds what its input line held. Inserted and
//! replacing texts never contain a line break. Together these keep the line count, and
//! every token's line, unchanged.
//!
//! Insertions come in bracketing pairs (`bit32.band(` ... `)`), created bottom-up: the
//! parser finishes an inner node before the node around it. So, at one position, openings
//! go outermost (latest) first and closings innermost (earliest) first, and closings
//! before openings (`a)` then `(b`). Insertions at a position go before a replacement
//! that starts there.

use std::borrow::Cow;

/// Where an edit sorts among others at the same position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Close,
    Open,
    Replace,
}

#[derive(Debug)]
struct Edit {
    start: u32,
    end: u32,
    class: Class,
    seq: u32,
    text: Cow<'static, str>,
}

/// The edits of one translation, in the order the parser made them.
#[derive(Debug, Default)]
pub(crate) struct Edits {
    edits: Vec<Edit>,
}

impl Edits {
    /// Replaces the bytes `start..end` with `text` (followed by the span's line breaks).
    pub(crate) fn replace(&mut self, start: u32, end: u32, text: impl Into<Cow<'static, str>>) {
        self.push(start, end, Class::Replace, text.into());
    }

    /// Inserts an opening text (`bit32.band(`, `{`) at `at`.
    pub(crate) fn open(&mut self, at: u32, text: impl Into<Cow<'static, str>>) {
        self.push(at, at, Class::Open, text.into());
    }

    /// Inserts a closing text (`)`, `}`) at `at`.
    pub(crate) fn close(&mut self, at: u32, text: impl Into<Cow<'static, str>>) {
        self.push(at, at, Class::Close, text.into());
    }

    fn push(&mut self, start: u32, end: u32, class: Class, text: Cow<'static, str>) {
        debug_assert!(!text.contains(['\n', '\r']), "edit texts never break lines");
        let seq = self.edits.len() as u32;
        self.edits.push(Edit {
            start,
            end,
            class,
            seq,
            text,
        });
    }

    /// How many edits there are; a mark for [`Edits::truncate`].
    pub(crate) fn len(&self) -> usize {
        self.edits.len()
    }

    /// Drops the edits made since `mark`: the span they were in is being replaced whole.
    pub(crate) fn truncate(&mut self, mark: usize) {
        self.edits.truncate(mark);
    }

    /// Applies the edits to `source`; borrows it when there are none.
    pub(crate) fn apply(mut self, source: &str) -> Cow<'_, str> {
        if self.edits.is_empty() {
            return Cow::Borrowed(source);
        }
        self.edits.sort_by_key(|e| {
            let order = match e.class {
                Class::Open => u32::MAX - e.seq,
                Class::Close | Class::Replace => e.seq,
            };
            (e.start, e.class, order)
        });
        let added: usize = self.edits.iter().map(|e| e.text.len()).sum();
        let mut out = String::with_capacity(source.len() + added);
        let mut cursor = 0usize;
        for edit in &self.edits {
            let (start, end) = (edit.start as usize, edit.end as usize);
            debug_assert!(start >= cursor, "edits never overlap: {edit:?} at {cursor}");
            out.push_str(&source[cursor..start]);
            out.push_str(&edit.text);
            out.extend(
                source[start..end]
                    .chars()
                    .filter(|c| matches!(c, '\n' | '\r')),
            );
            cursor = end;
        }
        out.push_str(&source[cursor..]);
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_edits_borrow_the_source() {
        assert!(matches!(
            Edits::default().apply("x = 1"),
            Cow::Borrowed("x = 1")
        ));
    }

    #[test]
    fn nested_brackets_at_one_position_nest() {
        // a & b | c: the inner node (a & b) is made first, the outer one after it.
        let source = "a & b | c";
        let mut edits = Edits::default();
        edits.open(0, "band(");
        edits.replace(2, 3, ",");
        edits.close(5, ")");
        edits.open(0, "bor(");
        edits.replace(6, 7, ",");
        edits.close(9, ")");
        assert_eq!(edits.apply(source), "bor(band(a , b) , c)");
    }

    #[test]
    fn replaced_spans_keep_their_line_breaks() {
        let source = "a\ninterface X\n  f: number\nend\nb";
        let mut edits = Edits::default();
        edits.replace(2, 29, " ");
        assert_eq!(edits.apply(source), "a\n \n\n\nb");
    }
}
