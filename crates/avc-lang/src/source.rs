//! Source files and byte spans. Every AST node, IR node and diagnostic carries a [`Span`]
//! into the [`SourceFile`] it came from, so errors found late (shape inference) still point
//! at the text the user wrote.

use std::sync::Arc;

/// A half-open byte range `[start, end)` into a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end: end.max(start) }
    }

    /// A zero-length span, for things that have no text of their own (generated nodes).
    pub fn empty() -> Self {
        Span::default()
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A named text that spans point into; cheap to clone.
#[derive(Debug, Clone)]
pub struct SourceFile {
    inner: Arc<SourceInner>,
}

#[derive(Debug)]
struct SourceInner {
    name: String,
    text: String,
    line_starts: Vec<usize>,
    /// Character columns are byte columns.
    ascii: bool,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let ascii = text.is_ascii();
        SourceFile { inner: Arc::new(SourceInner { name: name.into(), text, line_starts, ascii }) }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn text(&self) -> &str {
        &self.inner.text
    }

    /// 0-based index of the line holding a byte offset (clamped to the text).
    pub fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.inner.text.len());
        match self.inner.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// The number of lines (a text ending with a newline has an empty last line).
    pub fn line_count(&self) -> usize {
        self.inner.line_starts.len()
    }

    /// The byte range of a 0-based line, without its line break (`\n` or `\r\n`).
    pub fn line_span(&self, line: usize) -> Span {
        let text = &self.inner.text;
        let Some(&start) = self.inner.line_starts.get(line) else {
            return Span::new(text.len(), text.len());
        };
        let end = self.inner.line_starts.get(line + 1).map_or(text.len(), |&next| next - 1);
        let end = if end > start && text.as_bytes()[end - 1] == b'\r' { end - 1 } else { end };
        Span::new(start, end)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.inner.text.len());
        let line = self.line_index(offset);
        let start = self.inner.line_starts[line];
        let col = self.inner.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// Byte offset of a 0-based line and 0-based character column (clamped to the line).
    /// Constant time in an ASCII text; otherwise linear in `col`.
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        self.offset_after(line, 0, self.line_start(line), col)
    }

    /// The byte offset where a 0-based line starts (the text's end past the last line).
    pub fn line_start(&self, line: usize) -> usize {
        self.inner.line_starts.get(line).copied().unwrap_or(self.inner.text.len())
    }

    /// Byte offset of character column `col` of `line`, counting on from `from`, the
    /// offset of column `from_col` on the same line (clamped to the line's end, before its
    /// `\n`). Scanning on from a known place keeps a left-to-right walk over a long
    /// non-ASCII line linear.
    pub fn offset_after(&self, line: usize, from_col: usize, from: usize, col: usize) -> usize {
        let text = &self.inner.text;
        let end = self.inner.line_starts.get(line + 1).map_or(text.len(), |&next| next - 1);
        if self.inner.ascii {
            return (from + col.saturating_sub(from_col)).min(end.max(from));
        }
        let rest = text.get(from..end.max(from)).unwrap_or("");
        from + rest.char_indices().nth(col.saturating_sub(from_col)).map_or(rest.len(), |(i, _)| i)
    }

    /// `file:line:col` of a span's start.
    pub fn location(&self, span: Span) -> String {
        let (line, col) = self.line_col(span.start);
        format!("{}:{}:{}", self.name(), line, col)
    }

    /// The text a span covers (empty when out of range).
    pub fn slice(&self, span: Span) -> &str {
        self.inner.text.get(span.start..span.end).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let f = SourceFile::new("m.yaml", "ab\ncd\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(4), (2, 2));
        assert_eq!(f.offset_of(1, 1), 4);
        assert_eq!(f.offset_of(1, 9), 5);
        assert_eq!(f.offset_of(7, 0), 6);
        let g = SourceFile::new("m.yaml", "é\naéb\n");
        assert_eq!(g.offset_of(1, 2), 6);
        assert_eq!(g.offset_after(1, 1, 4, 2), 6);
        assert_eq!(g.offset_of(1, 9), 7);
        assert_eq!(f.location(Span::new(3, 4)), "m.yaml:2:1");
    }
}
