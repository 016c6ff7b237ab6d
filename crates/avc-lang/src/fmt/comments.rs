//! Finds the `#` comments of a source and assigns each to the item it belongs with.
//!
//! The items are what the printer writes as lines of their own: a node that the DSL printer
//! writes nested inside another node's statement is no item, so a comment next to it goes
//! with that statement (a comment inside a nested call that spans lines moves before the
//! statement and is reported, as any comment inside an item).

use crate::ast::{Module, Nested};
use crate::front::{Format, format_of};
use crate::source::Span;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::path::Path;

/// Comments keyed by the span start of the item they go with.
pub(super) struct Comments {
    /// Item start -> (offset, comment text without the `#`): printed on their own lines
    /// before the item. The offsets let a printer keep the blank lines between them.
    leading: HashMap<usize, Vec<(usize, String)>>,
    /// Item start -> comment texts: printed at the end of the item's (first) line.
    trailing: HashMap<usize, Vec<String>>,
    /// Own-line comments before the first item: the file's header, printed first.
    pub head: Vec<String>,
    /// Where the last comment of the header starts (0 without a header).
    pub head_end: usize,
    /// Comments after the last item.
    pub tail: Vec<String>,
    /// Where the first of them starts.
    pub tail_start: Option<usize>,
    /// Notes about comments that could not stay where they were.
    pub moved: Vec<String>,
}

impl Comments {
    /// Assigns every comment in one pass over the comments (in file order) with the items
    /// sorted once: linear in the file (up to a log), not comments times items.
    /// `is_item(block, i)` says whether node `i` of the top level (`block` `None`) or of a
    /// block is printed as an item of its own.
    pub fn collect(module: &Module, is_item: &dyn Fn(Option<usize>, usize) -> bool) -> Comments {
        let src = &module.source;
        let dsl = format_of(Path::new(src.name())) == Format::Dsl;
        let items = ItemIndex::new(item_spans(module, is_item, dsl));
        let mut c = Comments {
            leading: HashMap::new(),
            trailing: HashMap::new(),
            head: vec![],
            head_end: 0,
            tail: vec![],
            tail_start: None,
            moved: vec![],
        };
        let first = items.by_start.first().map_or(usize::MAX, |s| s.start);
        // A DSL block is a list of statements, each on its lines: a comment between them
        // belongs to one of them as at the top level. (A YAML block's keys are no items.)
        let statement_lists: HashSet<Span> =
            if dsl { module.blocks.iter().map(|b| b.span).collect() } else { HashSet::new() };
        let mut open = OpenItems::default();
        for (offset, text, own_line) in scan(src.text()) {
            let line_of = |o: usize| src.line_index(o);
            // An item that contains the comment: the comment cannot stay inside it (unless
            // it is between the statements of a block).
            if let Some(inside) = open.innermost(&items.by_start, offset) {
                if !own_line && line_of(inside.start) == line_of(offset) {
                    c.trailing.entry(inside.start).or_default().push(text);
                    continue;
                }
                if statement_lists.contains(&inside) {
                    if !own_line
                        && let Some(before) = items.last_ending_by(offset).filter(|s| s.start > inside.start)
                        && line_of(before.end.max(1) - 1) == line_of(offset)
                    {
                        c.trailing.entry(before.start).or_default().push(text);
                        continue;
                    }
                    if own_line && let Some(next) = items.first_starting_after(offset).filter(|s| s.end <= inside.end) {
                        c.leading.entry(next.start).or_default().push((offset, text));
                        continue;
                    }
                }
                let (line, _) = src.line_col(offset);
                c.moved.push(format!("{}:{line}: comment moved before the item it was inside: #{text}", src.name()));
                c.leading.entry(inside.start).or_default().push((offset, text));
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
                c.head_end = offset;
                continue;
            }
            match items.first_starting_after(offset) {
                Some(next) => c.leading.entry(next.start).or_default().push((offset, text)),
                None => {
                    c.tail_start.get_or_insert(offset);
                    c.tail.push(text);
                }
            }
        }
        c
    }

    /// Takes the comments to print before the item starting at `start`.
    pub fn leading(&mut self, start: usize) -> Vec<String> {
        self.leading_at(start).into_iter().map(|(_, text)| text).collect()
    }

    /// Takes the comments to print before the item starting at `start`, with their offsets.
    pub fn leading_at(&mut self, start: usize) -> Vec<(usize, String)> {
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

/// The spans of every printable item, top level and inside blocks; from a DSL file, a
/// block's `return name` too (a `return <expr>` is its node's item).
fn item_spans(m: &Module, is_item: &dyn Fn(Option<usize>, usize) -> bool, dsl: bool) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    spans.extend(m.constants.iter().map(|c| c.name.span.join(c.value.span)));
    spans.extend(m.inputs.iter().map(|i| i.span));
    for (k, b) in m.blocks.iter().enumerate() {
        spans.push(b.span);
        spans.extend(b.nodes.iter().enumerate().filter(|(i, _)| is_item(Some(k), *i)).map(|(_, n)| n.span));
        if dsl && !b.nodes.iter().any(|n| n.nested == Some(Nested::Return)) {
            spans.push(b.output.span);
        }
    }
    spans.extend(m.nodes.iter().enumerate().filter(|(i, _)| is_item(None, *i)).map(|(_, n)| n.span));
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
