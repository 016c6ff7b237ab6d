//! The part of a source file a rendered diagnostic shows: the lines its labels sit on, one
//! line of context around them, and on a very long line only a window around each label.
//!
//! miette draws whatever source it is given, whole lines at a time, and its renderer
//! formats with widths up to 65,535 characters only (it panics past that column). Handing
//! it this excerpt instead of the file keeps every rendering small and panic-free however
//! large the file, its lines or its spans are: a 200 kB line is shown as a window of a few
//! dozen characters around the label, with `…` where text was left out. Line numbers and
//! columns stay those of the real file.

use crate::source::{SourceFile, Span};
use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// Lines of context above and below each label (miette's default).
const CONTEXT_LINES: usize = 1;
/// A line longer than this (in characters) is cut to windows around its labels.
pub const MAX_LINE_CHARS: usize = 160;
/// Most characters of one label shown on a cut line.
const MAX_LABEL_CHARS: usize = 60;
/// Characters kept on each side of a label on a cut line.
const MARGIN_CHARS: usize = 40;
/// A label over more lines than this is shown on its first line only.
const MAX_LABEL_LINES: usize = 8;
/// Groups of lines at most this far apart are joined into one, the lines between them
/// included, so that miette may show them as one snippet (it does when the second is
/// not much further down the file than the first); further apart they are shown apart.
const JOIN_GAP: usize = 16;
/// Marks text left out of a cut line.
const ELLIPSIS: &str = "…";

/// A run of text copied from the source: `text[at..at + len] == source[orig..orig + len]`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    orig: usize,
    at: usize,
    len: usize,
}

/// One line of the excerpt.
#[derive(Debug, Clone, Copy)]
struct ExcerptLine {
    /// Byte range in the excerpt's text, without the newline.
    start: usize,
    end: usize,
    /// 0-based line number in the source.
    line: usize,
    /// Lines of one group are consecutive in the source; groups are separated by a gap.
    group: usize,
}

/// The shown part of a source, and the labels' spans moved into it.
#[derive(Debug)]
pub(super) struct Excerpt {
    name: String,
    src: SourceFile,
    text: String,
    pieces: Vec<Piece>,
    lines: Vec<ExcerptLine>,
}

impl Excerpt {
    /// The excerpt for labels on `spans`, and those spans in the excerpt's coordinates
    /// (same order).
    pub fn new(src: &SourceFile, spans: &[Span]) -> (Excerpt, Vec<Span>) {
        let clipped: Vec<Span> = spans.iter().map(|&s| clip_span(src, s)).collect();
        let mut excerpt = Excerpt {
            name: src.name().to_string(),
            src: src.clone(),
            text: String::new(),
            pieces: vec![],
            lines: vec![],
        };
        for (group, (first, last)) in line_groups(src, &clipped).into_iter().enumerate() {
            for line in first..=last {
                excerpt.push_line(line, group, &clipped);
            }
        }
        let mapped = clipped.iter().map(|s| excerpt.map_span(*s)).collect();
        (excerpt, mapped)
    }

    /// Appends source line `line`, whole or cut to windows around the labels on it.
    fn push_line(&mut self, line: usize, group: usize, spans: &[Span]) {
        let range = self.src.line_span(line);
        let start = self.text.len();
        let windows = windows(self.src.text(), range, spans);
        let mut at = range.start;
        for w in &windows {
            if w.start > at {
                self.text.push_str(ELLIPSIS);
            }
            self.pieces.push(Piece { orig: w.start, at: self.text.len(), len: w.len() });
            self.text.push_str(&self.src.text()[w.start..w.end]);
            at = w.end;
        }
        if at < range.end {
            self.text.push_str(ELLIPSIS);
        }
        self.lines.push(ExcerptLine { start, end: self.text.len(), line, group });
        self.text.push('\n');
    }

    /// A source span (already clipped to what is shown) in excerpt coordinates.
    fn map_span(&self, span: Span) -> Span {
        let start = self.map_offset(span.start);
        let end = self.map_offset(span.end).max(start);
        Span::new(start, end)
    }

    fn map_offset(&self, offset: usize) -> usize {
        let i = self.pieces.partition_point(|p| p.orig + p.len < offset);
        match self.pieces.get(i) {
            Some(p) if p.orig <= offset => p.at + (offset - p.orig),
            Some(p) => p.at,
            None => self.pieces.last().map_or(0, |p| p.at + p.len),
        }
    }

    /// The source offset of an excerpt offset (the nearest shown one inside an ellipsis).
    fn source_offset(&self, at: usize) -> usize {
        let i = self.pieces.partition_point(|p| p.at + p.len < at);
        match self.pieces.get(i) {
            Some(p) if p.at <= at => p.orig + (at - p.at),
            Some(p) => p.orig,
            None => self.pieces.last().map_or(0, |p| p.orig + p.len),
        }
    }

    /// The byte length of the character a zero-length label at `at` is drawn under: the
    /// one there, or none at the end of the source.
    pub fn char_len_at(&self, at: usize) -> usize {
        if self.source_offset(at) >= self.src.text().len() {
            return 0;
        }
        self.text.get(at..).and_then(|rest| rest.chars().next()).map_or(0, char::len_utf8)
    }

    /// Index into `lines` of the line holding excerpt offset `at`.
    fn line_at(&self, at: usize) -> usize {
        self.lines.partition_point(|l| l.end < at).min(self.lines.len().saturating_sub(1))
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        if self.lines.is_empty() || span.offset() + span.len() > self.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first = self.line_at(span.offset());
        let last = self.line_at(span.offset() + span.len().saturating_sub(1));
        let group = self.lines[first].group;
        // Context never reaches across a gap: the lines there are not in the excerpt.
        if self.lines[last].group != group {
            return Err(MietteError::OutOfBounds);
        }
        let mut top = first;
        while top > 0 && first - top < before && self.lines[top - 1].group == group {
            top -= 1;
        }
        let mut bottom = last;
        while bottom + 1 < self.lines.len() && bottom - last < after && self.lines[bottom + 1].group == group {
            bottom += 1;
        }
        let start = if before == 0 { span.offset() } else { self.lines[top].start };
        let end = (self.lines[bottom].end + 1).min(self.text.len());
        let column = if before == 0 { self.src.line_col(self.source_offset(span.offset())).1 - 1 } else { 0 };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            &self.text.as_bytes()[start..end],
            SourceSpan::new(start.into(), end - start),
            self.lines[top].line,
            column,
            // What miette's own sources report: the lines up to the end of the snippet.
            self.lines[bottom].line + 1,
        )))
    }
}

/// A span inside the text, on char boundaries; one over many lines keeps its first line,
/// one over a long stretch of a line keeps its first [`MAX_LABEL_CHARS`] characters.
fn clip_span(src: &SourceFile, span: Span) -> Span {
    let text = src.text();
    let start = floor_boundary(text, span.start.min(text.len()));
    let mut end = floor_boundary(text, span.end.clamp(start, text.len()));
    let first = src.line_index(start);
    if src.line_index(end.saturating_sub(1).max(start)) >= first + MAX_LABEL_LINES {
        end = src.line_span(first).end.max(start);
    }
    if is_long(text, src.line_span(first)) {
        end = end.min(advance(text, start, MAX_LABEL_CHARS));
    }
    Span::new(start, end)
}

/// Groups of source lines to show (first, last), in order: each label's lines with
/// context, overlapping or nearby ranges joined.
fn line_groups(src: &SourceFile, spans: &[Span]) -> Vec<(usize, usize)> {
    // The empty "line" after a final newline is context for nothing.
    let last_line = src.line_count().saturating_sub(1 + usize::from(src.text().ends_with('\n')));
    let mut ranges: Vec<(usize, usize)> = spans
        .iter()
        .map(|s| {
            let first = src.line_index(s.start);
            let last = src.line_index(s.end.saturating_sub(1).max(s.start));
            (first.saturating_sub(CONTEXT_LINES), (last + CONTEXT_LINES).min(last_line).max(last))
        })
        .collect();
    ranges.sort();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for (first, last) in ranges {
        match groups.last_mut() {
            Some(g) if first <= g.1 + 1 + JOIN_GAP => g.1 = g.1.max(last),
            _ => groups.push((first, last)),
        }
    }
    groups
}

/// The parts of a line to show: all of a short line; on a long one, a window around each
/// label on it (or the line's start when none is), windows that touch joined.
fn windows(text: &str, line: Span, spans: &[Span]) -> Vec<Span> {
    if !is_long(text, line) {
        return vec![line];
    }
    let mut wanted: Vec<Span> = spans
        .iter()
        .filter(|s| s.start <= line.end && (s.end > line.start || s.start >= line.start))
        .map(|s| {
            let from = s.start.max(line.start);
            let to = s.end.min(line.end).max(from);
            let from = retreat(text, from, MARGIN_CHARS).max(line.start);
            Span::new(from, advance(text, to, MARGIN_CHARS).min(line.end))
        })
        .collect();
    if wanted.is_empty() {
        wanted.push(Span::new(line.start, advance(text, line.start, MAX_LINE_CHARS).min(line.end)));
    }
    wanted.sort();
    let mut joined: Vec<Span> = Vec::new();
    for w in wanted {
        match joined.last_mut() {
            Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
            _ => joined.push(w),
        }
    }
    joined
}

/// Whether a line has more than [`MAX_LINE_CHARS`] characters (counting at most that many).
fn is_long(text: &str, line: Span) -> bool {
    let line_text = &text[line.start..line.end];
    line_text.len() > MAX_LINE_CHARS && line_text.chars().nth(MAX_LINE_CHARS).is_some()
}

/// The offset `n` characters after `at` (or the end of the text).
fn advance(text: &str, at: usize, n: usize) -> usize {
    text[at..].char_indices().nth(n).map_or(text.len(), |(i, _)| at + i)
}

/// The offset `n` characters before `at` (or 0).
fn retreat(text: &str, at: usize, n: usize) -> usize {
    text[..at].char_indices().rev().nth(n.saturating_sub(1)).map_or(0, |(i, _)| i)
}

/// The largest char boundary at or before `at`.
fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(src: &SourceFile, spans: &[Span]) -> (String, Vec<String>) {
        let (ex, mapped) = Excerpt::new(src, spans);
        let labels = mapped.iter().map(|s| ex.text[s.start..s.end].to_string()).collect();
        (ex.text, labels)
    }

    #[test]
    fn short_files_are_shown_around_the_label_with_context() {
        let src = SourceFile::new("f", "a\nbb\nccc\ndddd\neeeee\n");
        let (text, labels) = shown(&src, &[Span::new(5, 8)]);
        assert_eq!(text, "bb\nccc\ndddd\n");
        assert_eq!(labels, ["ccc"]);
    }

    #[test]
    fn a_long_line_is_cut_around_the_label() {
        let line = format!("h ={}lienar(x){}", " ".repeat(200_000), "y".repeat(1000));
        let src = SourceFile::new("f", format!("first\n{line}\nlast\n"));
        let at = src.text().find("lienar").unwrap();
        let (text, labels) = shown(&src, &[Span::new(at, at + 6)]);
        assert_eq!(labels, ["lienar"]);
        assert!(text.len() < 400, "{} bytes shown", text.len());
        assert!(text.contains("…") && text.starts_with("first\n…"), "{text}");
    }

    #[test]
    fn a_long_label_is_cut_too() {
        let src = SourceFile::new("f", format!("x: {}\n", "é".repeat(100_000)));
        let (text, labels) = shown(&src, &[Span::new(3, src.text().len() - 1)]);
        assert_eq!(labels[0].chars().count(), MAX_LABEL_CHARS);
        assert!(text.chars().count() < 2 * MAX_LINE_CHARS);
    }

    #[test]
    fn distant_labels_are_shown_apart_with_their_own_line_numbers() {
        let text: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        let src = SourceFile::new("f", text);
        let a = src.line_span(3);
        let b = src.line_span(9_000);
        let (ex, mapped) = Excerpt::new(&src, &[a, b]);
        assert_eq!(ex.lines.len(), 6);
        let contents = ex.read_span(&SourceSpan::new(mapped[1].start.into(), mapped[1].len()), 1, 1).unwrap();
        assert_eq!(contents.line(), 8_999);
        assert!(ex.read_span(&SourceSpan::new(mapped[0].start.into(), mapped[1].end - mapped[0].start), 0, 0).is_err());
    }
}
