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

/// `name = op(inputs, key: value)`, or the operator form of tensor arithmetic and slicing
/// (`a + b`, `1 - z`, `-x`, `x[:, 0:64]`) where the node is one.
fn node(n: &NodeDecl) -> String {
    let inputs: Vec<&str> = n.inputs.iter().map(|i| i.name.as_str()).collect();
    if let Some(expr) = operator_form(n, &inputs) {
        return format!("{} = {expr}", n.name.name);
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

/// A number as a tensor operand: an integer or float literal, nothing else (a reference is
/// value arithmetic's, written in the call form: `mul(x, left: scale)`).
fn literal(v: &Value) -> Option<String> {
    match v.kind {
        ValueKind::Int(i) => Some(i.to_string()),
        ValueKind::Float(x) if x.is_finite() => Some(format_float(x)),
        _ => None,
    }
}

/// The DSL's operator form of an arithmetic or `slice` node, when it has one.
fn operator_form(n: &NodeDecl, inputs: &[&str]) -> Option<String> {
    let symbol = match n.callee.name.as_str() {
        "add" => "+",
        "sub" => "-",
        "mul" => "*",
        "div" => "/",
        "neg" => return (n.args.is_empty() && inputs.len() == 1).then(|| format!("-{}", inputs[0])),
        "slice" => return slice_form(n, inputs),
        _ => return None,
    };
    match (n.args.as_slice(), inputs) {
        ([], [_, _, ..]) if symbol == "+" || inputs.len() == 2 => Some(inputs.join(&format!(" {symbol} "))),
        ([arg], [x]) => {
            let number = literal(&arg.value)?;
            match arg.name.name.as_str() {
                "left" => Some(format!("{number} {symbol} {x}")),
                "right" => Some(format!("{x} {symbol} {number}")),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `x[:, 0:64]`: a slice of a positive axis with integer bounds.
fn slice_form(n: &NodeDecl, inputs: &[&str]) -> Option<String> {
    let [x] = inputs else { return None };
    let (mut axis, mut start, mut end) = (None, String::new(), String::new());
    for a in &n.args {
        let text = match a.value.kind {
            ValueKind::Int(_) | ValueKind::Arith(_) | ValueKind::Ref(_) | ValueKind::Width(_) => value(&a.value),
            _ => return None,
        };
        match (a.name.name.as_str(), &a.value.kind) {
            ("axis", ValueKind::Int(k)) if *k >= 1 && *k <= 32 => axis = Some(*k as usize),
            ("start", _) => start = text,
            ("end", _) => end = text,
            _ => return None,
        }
    }
    let axis = axis?;
    let mut entries = vec![":".to_string(); axis - 1];
    entries.push(format!("{start}:{end}"));
    Some(format!("{x}[{}]", entries.join(", ")))
}
