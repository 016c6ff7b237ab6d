//! Finds the `#` comments of a source and assigns each to the item it belongs with.

use crate::ast::Module;
use crate::source::Span;
use std::fmt::Write;

/// Comments keyed by the span start of the item they go with.
pub(super) struct Comments {
    /// (item start, comment text without the `#`): printed on their own lines before the item.
    leading: Vec<(usize, String)>,
    /// (item start, comment text): printed at the end of the item's (first) line.
    trailing: Vec<(usize, String)>,
    /// Own-line comments before the first item: the file's header, printed first.
    pub head: Vec<String>,
    /// Comments after the last item.
    pub tail: Vec<String>,
    /// Notes about comments that could not stay where they were.
    pub moved: Vec<String>,
}

impl Comments {
    pub fn collect(module: &Module) -> Comments {
        let src = &module.source;
        let items = item_spans(module);
        let mut c = Comments { leading: vec![], trailing: vec![], head: vec![], tail: vec![], moved: vec![] };
        let first = items.iter().map(|s| s.start).min().unwrap_or(usize::MAX);
        for (offset, text, own_line) in scan(src.text()) {
            let line_of = |o: usize| src.line_col(o).0;
            // An item that contains the comment: the comment cannot stay inside it.
            if let Some(inside) = items.iter().filter(|s| s.start < offset && offset < s.end).min_by_key(|s| s.len()) {
                if !own_line && line_of(inside.start) == line_of(offset) {
                    c.trailing.push((inside.start, text));
                    continue;
                }
                let (line, _) = src.line_col(offset);
                c.moved.push(format!("{}:{line}: comment moved before the item it was inside: #{text}", src.name()));
                c.leading.push((inside.start, text));
                continue;
            }
            if !own_line
                && let Some(before) = items
                    .iter()
                    .filter(|s| s.end <= offset && line_of(s.end.max(1) - 1) == line_of(offset))
                    .max_by_key(|s| s.end)
            {
                c.trailing.push((before.start, text));
                continue;
            }
            if own_line && offset < first {
                c.head.push(text);
                continue;
            }
            match items.iter().filter(|s| s.start > offset).min_by_key(|s| s.start) {
                Some(next) => c.leading.push((next.start, text)),
                None => c.tail.push(text),
            }
        }
        c
    }

    /// Takes the comments to print before the item starting at `start`.
    pub fn leading(&mut self, start: usize) -> Vec<String> {
        take(&mut self.leading, start)
    }

    /// Takes the comment to print at the end of the item's line (joined if several).
    pub fn trailing(&mut self, start: usize) -> Option<String> {
        let found = take(&mut self.trailing, start);
        (!found.is_empty()).then(|| found.join(" #"))
    }
}

fn take(list: &mut Vec<(usize, String)>, start: usize) -> Vec<String> {
    let (mine, rest): (Vec<_>, Vec<_>) = list.drain(..).partition(|(s, _)| *s == start);
    *list = rest;
    mine.into_iter().map(|(_, t)| t).collect()
}

/// The spans of every printable item, top level and inside blocks.
fn item_spans(m: &Module) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    spans.extend(m.constants.iter().map(|c| c.name.span.join(c.value.span)));
    spans.extend(m.inputs.iter().map(|i| i.span));
    for b in &m.blocks {
        spans.push(b.span);
        spans.extend(b.nodes.iter().map(|n| n.span));
    }
    spans.extend(m.nodes.iter().map(|n| n.span));
    spans.extend(m.outputs.iter().map(|o| o.span));
    spans.extend(m.train.iter().map(|s| s.key.span.join(s.value.span)));
    spans.retain(|s| !s.is_empty());
    spans
}

/// `#` comments outside quotes: (offset of `#`, text after it, whether alone on its line).
fn scan(text: &str) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (i, ch) in line.char_indices() {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(ch),
                (None, '#') if prev.is_whitespace() || i == 0 => {
                    let body = line[i + 1..].trim_end_matches(['\n', '\r']).to_string();
                    let own_line = line[..i].trim().is_empty();
                    out.push((line_start + i, body, own_line));
                    break;
                }
                _ => {}
            }
            prev = ch;
        }
        line_start += line.len();
    }
    out
}

/// Writes an item's leading comments at `indent`, then `line` with its trailing comment.
pub(super) fn item(out: &mut String, c: &mut Comments, start: usize, indent: &str, line: &str) {
    let leading = c.leading(start);
    // A commented item starts a new paragraph, unless it opens its section anyway.
    if !leading.is_empty()
        && !out.is_empty()
        && !out.ends_with("\n\n")
        && !out.ends_with(":\n")
        && !out.ends_with("{\n")
    {
        out.push('\n');
    }
    for text in leading {
        let _ = writeln!(out, "{indent}#{text}");
    }
    match c.trailing(start) {
        Some(t) => {
            let _ = writeln!(out, "{indent}{line}  #{t}");
        }
        None => {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
}
