//! The DSL printer: `let`, `input`, `block`, assignments, `output` and `train { }`.
//!
//! A module read from a DSL file is printed in its own order: its statements as they came
//! (inputs, constants, blocks, nodes and outputs interleaved), each block's nodes as they
//! came, with a blank line wherever the file had one or more, and nested calls and operators
//! nested again ([`Plan`]). A module read from YAML has no such order (YAML's sections
//! come apart), and is printed by kind: constants, inputs, blocks, nodes, outputs, `train`.

use super::comments::{Comments, item};
use super::nested::Plan;
use super::yaml::{dims, quoted};
use crate::ast::{BlockDecl, Module, Value, ValueKind, format_float};
use crate::front::{Format, format_of};
use crate::source::Span;
use std::fmt::Write;

/// A value as DSL text: references are bare names, strings quoted.
pub(super) fn value(v: &Value) -> String {
    match &v.kind {
        ValueKind::Int(i) => i.to_string(),
        ValueKind::Float(x) => format_float(*x),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Str(s) => quoted(s),
        ValueKind::Ref(r) => r.clone(),
        ValueKind::List(items) => format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(", ")),
        ValueKind::Arith(a) => a.render(&value),
        ValueKind::Width(x) => format!("width({})", x.name),
    }
}

/// Whether the module is printed in the order of its file: it was read from a DSL file.
pub(super) fn in_source_order(m: &Module) -> bool {
    format_of(std::path::Path::new(m.source.name())) == Format::Dsl
}

pub(super) fn print(m: &Module, plan: &Plan, c: &mut Comments) -> String {
    let mut p = Printer { out: String::new(), c, src: None };
    for text in std::mem::take(&mut p.c.head) {
        let _ = writeln!(p.out, "#{text}");
    }
    if in_source_order(m) {
        p.src = Some(m.source.text());
        p.in_source_order(m, plan);
    } else {
        p.by_kind(m, plan);
    }
    for text in std::mem::take(&mut p.c.tail) {
        let _ = writeln!(p.out, "#{text}");
    }
    p.out
}

/// A top-level item, for printing them in file order.
enum Top {
    Let(usize),
    Input(usize),
    Block(usize),
    Node(usize),
    Output(usize),
    Train,
}

struct Printer<'a> {
    out: String,
    c: &'a mut Comments,
    /// The file's text when printing in its order: blank lines are kept where it has them.
    src: Option<&'a str>,
}

impl Printer<'_> {
    /// Writes the item starting at `start`, with its comments. In file order, a blank line
    /// goes wherever the file has one between `prev_end` (where the previous item ended),
    /// the item's own-line comments and the item. By kind, a commented item starts a
    /// paragraph.
    fn line(&mut self, prev_end: usize, start: usize, indent: &str, text: &str) {
        let Some(src) = self.src else { return item(&mut self.out, self.c, start, indent, text) };
        let mut at = prev_end;
        for (offset, comment) in self.c.leading_at(start) {
            if offset > at && blank_between(src, at, offset) {
                blank(&mut self.out);
            }
            let _ = writeln!(self.out, "{indent}#{comment}");
            at = at.max(offset);
        }
        if start > at && blank_between(src, at, start) {
            blank(&mut self.out);
        }
        match self.c.trailing(start) {
            Some(t) => writeln!(self.out, "{indent}{text}  #{t}"),
            None => writeln!(self.out, "{indent}{text}"),
        }
        .unwrap_or_default();
    }

    /// Printing by kind (a module read from YAML): the layout `avc fmt` always had.
    fn by_kind(&mut self, m: &Module, plan: &Plan) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        for k in 0..m.constants.len() {
            self.constant(m, k, 0);
        }
        if !m.constants.is_empty() {
            self.out.push('\n');
        }
        for i in 0..m.inputs.len() {
            self.input(m, i, 0);
        }
        for b in 0..m.blocks.len() {
            self.out.push('\n');
            self.block(m, plan, b, 0);
        }
        self.out.push('\n');
        let expressions = plan.scope(None).expressions(&m.nodes);
        for (n, e) in m.nodes.iter().zip(expressions) {
            if let Some(e) = e {
                self.line(0, n.span.start, "", &format!("{} = {e}", n.name.name));
            }
        }
        self.out.push('\n');
        for o in 0..m.outputs.len() {
            self.output(m, o, 0);
        }
        if !m.train.is_empty() {
            self.out.push('\n');
            self.train(m, 0);
        }
    }

    /// Printing in file order (a module read from a DSL file), items sorted by where they
    /// start (the sort is stable: items without a place keep the by-kind order).
    fn in_source_order(&mut self, m: &Module, plan: &Plan) {
        let top = plan.scope(None);
        let expressions = top.expressions(&m.nodes);
        // (where it sorts, its span, the item)
        let mut items: Vec<(usize, Span, Top)> = Vec::new();
        let mut add = |span: Span, it: Top| items.push((span.start, span, it));
        m.constants.iter().enumerate().for_each(|(i, k)| add(k.name.span.join(k.value.span), Top::Let(i)));
        m.inputs.iter().enumerate().for_each(|(i, x)| add(x.span, Top::Input(i)));
        m.blocks.iter().enumerate().for_each(|(i, b)| add(b.span, Top::Block(i)));
        // A node written nested that still gets a statement (its name is read elsewhere)
        // sorts with the statement it was written in, which follows it in the AST.
        let mut nodes = Vec::new();
        let mut statement_at = None;
        for (i, n) in m.nodes.iter().enumerate().rev() {
            if n.nested.is_none() {
                statement_at = Some(n.span.start);
            }
            if expressions[i].is_some() {
                let at = if n.nested.is_none() { n.span.start } else { statement_at.unwrap_or(n.span.start) };
                nodes.push((at, n.span, Top::Node(i)));
            }
        }
        items.extend(nodes.into_iter().rev());
        m.outputs.iter().enumerate().for_each(|(i, o)| items.push((o.span.start, o.span, Top::Output(i))));
        if let (Some(first), Some(last)) = (m.train.first(), m.train.last()) {
            let span = first.key.span.join(last.value.span);
            items.push((span.start, span, Top::Train));
        }
        // Stable: what sorts together keeps the AST's order.
        items.sort_by_key(|&(at, _, _)| at);
        let mut prev = self.c.head_end;
        for (at, span, it) in items {
            let in_place = at == span.start;
            match it {
                Top::Let(k) => self.constant(m, k, prev),
                Top::Input(i) => self.input(m, i, prev),
                Top::Block(b) => self.block(m, plan, b, prev),
                Top::Node(i) => {
                    let (n, e) = (&m.nodes[i], expressions[i].as_deref().unwrap_or_default());
                    self.line(prev, n.span.start, "", &format!("{} = {e}", n.name.name));
                }
                Top::Output(o) => self.output(m, o, prev),
                Top::Train => self.train(m, prev),
            }
            // After a node printed before its statement, the statement follows directly.
            prev = prev.max(if in_place { span.end } else { at });
        }
        if let (Some(src), Some(at)) = (self.src, self.c.tail_start)
            && blank_between(src, prev, at)
        {
            blank(&mut self.out);
        }
    }

    fn constant(&mut self, m: &Module, k: usize, prev: usize) {
        let k = &m.constants[k];
        let start = k.name.span.join(k.value.span).start;
        self.line(prev, start, "", &format!("let {} = {}", k.name.name, value(&k.value)));
    }

    fn input(&mut self, m: &Module, i: usize, prev: usize) {
        let i = &m.inputs[i];
        let from = i.stream.as_ref().map(|s| format!(" from {}", s.name)).unwrap_or_default();
        self.line(prev, i.span.start, "", &format!("input {}: {}{from}", i.name.name, dims(&i.shape)));
    }

    fn output(&mut self, m: &Module, o: usize, prev: usize) {
        let o = &m.outputs[o];
        let from: Vec<&str> = o.from.iter().map(|i| i.name.as_str()).collect();
        self.line(
            prev,
            o.span.start,
            "",
            &format!("output {}: {}({})", o.name.name, o.kind.keyword(), from.join(", ")),
        );
    }

    /// `block name(...) { nodes return x }`; `return <expr>` where the block's result was
    /// written so.
    fn block(&mut self, m: &Module, plan: &Plan, index: usize, prev: usize) {
        let b: &BlockDecl = &m.blocks[index];
        let mut params: Vec<String> = b.inputs.iter().map(|i| i.name.clone()).collect();
        params.extend(b.params.iter().map(|p| match &p.default {
            Some(d) => format!("{}: {} = {}", p.name.name, p.ty.keyword(), value(d)),
            None => format!("{}: {}", p.name.name, p.ty.keyword()),
        }));
        self.line(prev, b.span.start, "", &format!("block {}({}) {{", b.name.name, params.join(", ")));
        let scope = plan.scope(Some(index));
        let expressions = scope.expressions(&b.nodes);
        let mut at = b.span.start;
        for (i, (n, e)) in b.nodes.iter().zip(&expressions).enumerate() {
            if let Some(e) = e
                && scope.returned != Some(i)
            {
                self.line(at, n.span.start, "    ", &format!("{} = {e}", n.name.name));
                at = at.max(n.span.end);
            }
        }
        match scope.returned.and_then(|r| Some((&b.nodes[r], expressions[r].as_deref()?))) {
            Some((n, e)) => self.line(at, n.span.start, "    ", &format!("return {e}")),
            // Its comments are keyed by where the name is (none for a block read from YAML).
            None if !b.output.span.is_empty() => {
                self.line(at, b.output.span.start, "    ", &format!("return {}", b.output.name));
            }
            None => {
                let _ = writeln!(self.out, "    return {}", b.output.name);
            }
        }
        self.out.push_str("}\n");
    }

    fn train(&mut self, m: &Module, prev: usize) {
        if let (Some(src), Some(first)) = (self.src, m.train.first()) {
            // The section starts at its keyword, before the first setting.
            let keyword = src.get(prev..first.key.span.start).and_then(|t| t.rfind("train")).map(|i| prev + i);
            if keyword.is_some_and(|k| blank_between(src, prev, k)) {
                blank(&mut self.out);
            }
        }
        self.out.push_str("train {\n");
        let mut at = prev;
        for s in &m.train {
            let span = s.key.span.join(s.value.span);
            self.line(at, span.start, "    ", &format!("{}: {}", s.key.name, value(&s.value)));
            at = at.max(span.end);
        }
        self.out.push_str("}\n");
    }
}

/// Whether the text between two offsets has a line of its own that is blank (the first and
/// last pieces are the ends of the lines the offsets are on).
fn blank_between(src: &str, from: usize, to: usize) -> bool {
    let Some(text) = src.get(from..to) else { return false };
    let pieces: Vec<&str> = text.split('\n').collect();
    pieces.len() > 2 && pieces[1..pieces.len() - 1].iter().any(|l| l.trim().is_empty())
}

/// One blank line, unless the output starts here or has one, or a section opens.
fn blank(out: &mut String) {
    if !out.is_empty() && !out.ends_with("\n\n") && !out.ends_with("{\n") {
        out.push('\n');
    }
}
