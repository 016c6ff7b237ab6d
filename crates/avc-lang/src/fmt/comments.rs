//! Finds the `#` comments of a source and assigns each to the item it belongs with.

use crate::ast::Module;
use crate::source::Span;
use std::collections::HashMap;
use std::fmt::Write;

/// Comments keyed by the span start of the item they go with.
pub(super) struct Comments {
    /// Item start -> comment texts without the `#`: printed on their own lines before the item.
    leading: HashMap<usize, Vec<String>>,
    /// Item start -> comment texts: printed at the end of the item's (first) line.
    trailing: HashMap<usize, Vec<String>>,
    /// Own-line comments before the first item: the file's header, printed first.
    pub head: Vec<String>,
    /// Comments after the last item.
    pub tail: Vec<String>,
    /// Notes about comments that could not stay where they were.
    pub moved: Vec<String>,
}

impl Comments {
    /// Assigns every comment in one pass over the comments (in file order) with the items
    /// sorted once: linear in the file (up to a log), not comments times items.
    pub fn collect(module: &Module) -> Comments {
        let src = &module.source;
        let items = ItemIndex::new(item_spans(module));
        let mut c =
            Comments { leading: HashMap::new(), trailing: HashMap::new(), head: vec![], tail: vec![], moved: vec![] };
        let first = items.by_start.first().map_or(usize::MAX, |s| s.start);
        let mut open = OpenItems::default();
        for (offset, text, own_line) in scan(src.text()) {
            let line_of = |o: usize| src.line_index(o);
            // An item that contains the comment: the comment cannot stay inside it.
            if let Some(inside) = open.innermost(&items.by_start, offset) {
                if !own_line && line_of(inside.start) == line_of(offset) {
                    c.trailing.entry(inside.start).or_default().push(text);
                    continue;
                }
                let (line, _) = src.line_col(offset);
                c.moved.push(format!("{}:{line}: comment moved before the item it was inside: #{text}", src.name()));
                c.leading.entry(inside.start).or_default().push(text);
                continue;
            }
            if !own_line
                && let Some(before) = items.last_ending_by(offset)
                && line_of(before.end.max(1) - 1) == line_of(offset)
            {
                c.trailing.entry(before.start).or_default().push(text);
                continue;
            }
            if own_line && offset < first {
                c.head.push(text);
                continue;
            }
            match items.first_starting_after(offset) {
                Some(next) => c.leading.entry(next.start).or_default().push(text),
                None => c.tail.push(text),
            }
        }
        c
    }

    /// Takes the comments to print before the item starting at `start`.
    pub fn leading(&mut self, start: usize) -> Vec<String> {
        self.leading.remove(&start).unwrap_or_default()
    }

    /// Takes the comment to print at the end of the item's line (joined if several).
    pub fn trailing(&mut self, start: usize) -> Option<String> {
        self.trailing.remove(&start).map(|found| found.join(" #"))
    }
}

/// The item spans sorted for the three questions a comment asks.
struct ItemIndex {
    /// By start, longer first (an enclosing item before the items inside it).
    by_start: Vec<Span>,
    /// By end.
    by_end: Vec<Span>,
}

impl ItemIndex {
    fn new(spans: Vec<Span>) -> ItemIndex {
        let mut by_start = spans.clone();
        by_start.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
        let mut by_end = spans;
        by_end.sort_by_key(|s| s.end);
        ItemIndex { by_start, by_end }
    }

    /// The item that ends last at or before `offset`.
    fn last_ending_by(&self, offset: usize) -> Option<Span> {
        let n = self.by_end.partition_point(|s| s.end <= offset);
        n.checked_sub(1).map(|i| self.by_end[i])
    }

    /// The first item that starts after `offset`.
    fn first_starting_after(&self, offset: usize) -> Option<Span> {
        let i = self.by_start.partition_point(|s| s.start <= offset);
        self.by_start.get(i).copied()
    }
}

/// The items a forward scan has entered and not yet left: items nest (a block holds its
/// nodes, a node its anonymous inner nodes), so they form a stack.
#[derive(Default)]
struct OpenItems {
    /// Index into `by_start` of the next item to enter.
    next: usize,
    stack: Vec<Span>,
}

impl OpenItems {
    /// The smallest item with `start < offset < end`; offsets must come in order.
    fn innermost(&mut self, by_start: &[Span], offset: usize) -> Option<Span> {
        while let Some(&item) = by_start.get(self.next).filter(|s| s.start < offset) {
            self.leave_before(item.start);
            self.stack.push(item);
            self.next += 1;
        }
        self.leave_before(offset);
        self.stack.last().copied().filter(|s| offset < s.end)
    }

    /// Drops the items that end at or before `offset`.
    fn leave_before(&mut self, offset: usize) {
        while self.stack.last().is_some_and(|s| s.end <= offset) {
            self.stack.pop();
        }
    }
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
