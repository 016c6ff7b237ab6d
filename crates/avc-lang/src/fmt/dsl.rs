//! The DSL printer: `let`, `input`, `block`, assignments, `output` and `train { }`.

use super::comments::{Comments, item};
use super::yaml::{dims, quoted};
use crate::ast::{Module, NodeDecl, Value, ValueKind, format_float};
use std::fmt::Write;

/// A value as DSL text: references are bare names, strings quoted.
fn value(v: &Value) -> String {
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

/// A node's argument; `share:` names a node, written bare in both languages (`vemb.proj`).
fn argument(a: &crate::ast::Arg) -> String {
    match &a.value.kind {
        ValueKind::Str(name) | ValueKind::Ref(name) if a.name.name == "share" => name.clone(),
        _ => value(&a.value),
    }
}

/// `name = op(inputs, key: value)`, or `name = a + b` for a parameterless `add`.
fn node(n: &NodeDecl) -> String {
    let inputs: Vec<&str> = n.inputs.iter().map(|i| i.name.as_str()).collect();
    if n.callee.name == "add" && n.args.is_empty() && inputs.len() >= 2 {
        return format!("{} = {}", n.name.name, inputs.join(" + "));
    }
    let mut parts: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
    parts.extend(n.args.iter().map(|a| format!("{}: {}", a.name.name, argument(a))));
    format!("{} = {}({})", n.name.name, n.callee.name, parts.join(", "))
}

pub(super) fn print(m: &Module, c: &mut Comments) -> String {
    let mut out = String::new();
    for text in std::mem::take(&mut c.head) {
        let _ = writeln!(out, "#{text}");
    }
    if !out.is_empty() {
        out.push('\n');
    }
    for k in &m.constants {
        item(
            &mut out,
            c,
            k.name.span.join(k.value.span).start,
            "",
            &format!("let {} = {}", k.name.name, value(&k.value)),
        );
    }
    if !m.constants.is_empty() {
        out.push('\n');
    }
    for i in &m.inputs {
        let from = i.stream.as_ref().map(|s| format!(" from {}", s.name)).unwrap_or_default();
        item(&mut out, c, i.span.start, "", &format!("input {}: {}{from}", i.name.name, dims(&i.shape)));
    }
    for b in &m.blocks {
        out.push('\n');
        let mut params: Vec<String> = b.inputs.iter().map(|i| i.name.clone()).collect();
        params.extend(b.params.iter().map(|p| match &p.default {
            Some(d) => format!("{}: {} = {}", p.name.name, p.ty.keyword(), value(d)),
            None => format!("{}: {}", p.name.name, p.ty.keyword()),
        }));
        item(&mut out, c, b.span.start, "", &format!("block {}({}) {{", b.name.name, params.join(", ")));
        for n in &b.nodes {
            item(&mut out, c, n.span.start, "    ", &node(n));
        }
        let _ = writeln!(out, "    return {}\n}}", b.output.name);
    }
    out.push('\n');
    for n in &m.nodes {
        item(&mut out, c, n.span.start, "", &node(n));
    }
    out.push('\n');
    for o in &m.outputs {
        let from: Vec<&str> = o.from.iter().map(|i| i.name.as_str()).collect();
        let line = format!("output {}: {}({})", o.name.name, o.kind.keyword(), from.join(", "));
        item(&mut out, c, o.span.start, "", &line);
    }
    if !m.train.is_empty() {
        out.push_str("\ntrain {\n");
        for s in &m.train {
            item(
                &mut out,
                c,
                s.key.span.join(s.value.span).start,
                "    ",
                &format!("{}: {}", s.key.name, value(&s.value)),
            );
        }
        out.push_str("}\n");
    }
    for text in std::mem::take(&mut c.tail) {
        let _ = writeln!(out, "#{text}");
    }
    out
}
