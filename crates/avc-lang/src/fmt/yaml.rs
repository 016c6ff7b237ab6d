//! The YAML printer: block style for sections, flow mappings for nodes and outputs.

use super::comments::{Comments, item};
use crate::ast::{DimExpr, Module, NodeDecl, Value, ValueKind, format_float};
use std::fmt::Write;

/// A value as YAML: references as `$name`, strings always quoted (so `true`, `1` or `$x`
/// written as strings stay strings).
fn value(v: &Value) -> String {
    match &v.kind {
        ValueKind::Int(i) => i.to_string(),
        ValueKind::Float(x) => format_float(*x),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Str(s) => quoted(s),
        ValueKind::Ref(r) => format!("${r}"),
        ValueKind::List(items) => format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(", ")),
        ValueKind::Arith(a) => a.render(&value),
        ValueKind::Width(x) => format!("width({})", x.name),
    }
}

pub(super) fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn names(list: &[crate::ast::Ident]) -> String {
    match list {
        [one] => one.name.clone(),
        many => format!("[{}]", many.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")),
    }
}

pub(super) fn dims(shape: &[DimExpr]) -> String {
    let parts: Vec<String> = shape
        .iter()
        .map(|d| match d {
            DimExpr::Fixed(n, _) => n.to_string(),
            DimExpr::Symbol(s) => s.name.clone(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// A node's argument; `share:` names a node, written bare in both languages (`vemb.proj`).
fn argument(a: &crate::ast::Arg) -> String {
    match &a.value.kind {
        ValueKind::Str(name) | ValueKind::Ref(name) if a.name.name == "share" => name.clone(),
        _ => value(&a.value),
    }
}

fn node(n: &NodeDecl) -> String {
    let mut parts = vec![format!("name: {}", n.name.name), format!("op: {}", n.callee.name)];
    if !n.inputs.is_empty() {
        parts.push(format!("in: {}", names(&n.inputs)));
    }
    parts.extend(n.args.iter().map(|a| format!("{}: {}", a.name.name, argument(a))));
    format!("- {{{}}}", parts.join(", "))
}

pub(super) fn print(m: &Module, c: &mut Comments) -> String {
    let mut out = String::new();
    for text in std::mem::take(&mut c.head) {
        let _ = writeln!(out, "#{text}");
    }
    if !out.is_empty() {
        out.push('\n');
    }
    if !m.constants.is_empty() {
        out.push_str("constants:\n");
        for k in &m.constants {
            item(
                &mut out,
                c,
                k.name.span.join(k.value.span).start,
                "  ",
                &format!("{}: {}", k.name.name, value(&k.value)),
            );
        }
    }
    out.push_str("inputs:\n");
    for i in &m.inputs {
        let line = match &i.stream {
            Some(s) => format!("{}: {{shape: {}, stream: {}}}", i.name.name, dims(&i.shape), s.name),
            None => format!("{}: {}", i.name.name, dims(&i.shape)),
        };
        item(&mut out, c, i.span.start, "  ", &line);
    }
    if !m.blocks.is_empty() {
        out.push_str("\nblocks:\n");
        for b in &m.blocks {
            item(&mut out, c, b.span.start, "  ", &format!("- name: {}", b.name.name));
            if !b.params.is_empty() {
                let params: Vec<String> = b
                    .params
                    .iter()
                    .map(|p| match &p.default {
                        Some(d) => format!("{}: {{type: {}, default: {}}}", p.name.name, p.ty.keyword(), value(d)),
                        None => format!("{}: {}", p.name.name, p.ty.keyword()),
                    })
                    .collect();
                let _ = writeln!(out, "    params: {{{}}}", params.join(", "));
            }
            let inputs: Vec<&str> = b.inputs.iter().map(|i| i.name.as_str()).collect();
            let _ = writeln!(out, "    in: [{}]", inputs.join(", "));
            out.push_str("    nodes:\n");
            for n in &b.nodes {
                item(&mut out, c, n.span.start, "      ", &node(n));
            }
            // A comment keyed here came from a DSL block's `return name` line; a block read
            // from YAML keys none here (its `out:` is no item), so its output is unchanged.
            if b.output.span.is_empty() {
                let _ = writeln!(out, "    out: {}", b.output.name);
            } else {
                item(&mut out, c, b.output.span.start, "    ", &format!("out: {}", b.output.name));
            }
        }
    }
    out.push_str("\nnodes:\n");
    for n in &m.nodes {
        item(&mut out, c, n.span.start, "  ", &node(n));
    }
    out.push_str("\noutputs:\n");
    for o in &m.outputs {
        let line = format!("- {{name: {}, kind: {}, from: {}}}", o.name.name, o.kind.keyword(), names(&o.from));
        item(&mut out, c, o.span.start, "  ", &line);
    }
    if !m.train.is_empty() {
        out.push_str("\ntrain:\n");
        for s in &m.train {
            item(
                &mut out,
                c,
                s.key.span.join(s.value.span).start,
                "  ",
                &format!("{}: {}", s.key.name, value(&s.value)),
            );
        }
    }
    for text in std::mem::take(&mut c.tail) {
        let _ = writeln!(out, "#{text}");
    }
    out
}
