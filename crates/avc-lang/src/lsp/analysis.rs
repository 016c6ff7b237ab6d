//! What the editor asks about one file, answered from the compiler's own stages: the
//! diagnostics `avc check` gives, and for a byte offset the name there, what it refers to,
//! its inferred shape and cost, and what can be typed next.
//!
//! Everything works on byte offsets into the text; the server converts to the protocol's
//! line/character positions.

use crate::ast::{self, Ident, Module, NodeDecl, ValueKind};
use crate::check::Checked;
use crate::compile;
use crate::diag::Diagnostic;
use crate::front;
use crate::ir::Graph;
use crate::ops;
use crate::source::{SourceFile, Span};

/// One file, compiled as far as it goes.
pub struct Analysis {
    pub source: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
    module: Option<Module>,
    built: Option<(Graph, Checked)>,
    /// The last version that parsed: its blocks and nodes are offered for completion while
    /// the text being typed does not parse.
    last_parsed: Option<Module>,
}

/// What a name at a place is.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    /// A node's own name where it is declared; `block` is the enclosing block, if any.
    NodeDef {
        block: Option<String>,
    },
    /// The op or block a node calls.
    Callee,
    /// A name used as a value (an input of a node, a `return`, an output's source, a
    /// parameter value naming a constant or block parameter).
    Ref {
        block: Option<String>,
    },
    BlockDef,
    ConstDef,
    InputDef {
        block: Option<String>,
    },
    ParamDef {
        block: String,
    },
    /// A parameter name in a call, with the callee.
    ArgName {
        callee: String,
    },
}

/// A completion offered at a place.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// Type and default, or the op's shape rule.
    pub detail: String,
    pub doc: String,
    pub insert: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    Op,
    Block,
    Param,
    Node,
}

/// An outline entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    pub detail: String,
    /// The whole declaration.
    pub span: Span,
    /// The name.
    pub name_span: Span,
    pub children: Vec<Symbol>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    Input,
    Constant,
    Block,
    Node,
    Output,
}

impl Analysis {
    /// Compiles `text` as the file `name` (its extension picks the front-end).
    pub fn new(name: &str, text: &str) -> Analysis {
        let source = SourceFile::new(name, text);
        let module = front::parse(&source).ok();
        let (diagnostics, built) = match compile::compile(&source) {
            Ok(c) => (c.checked.diagnostics(), Some((c.graph, c.checked))),
            Err(failed) => (failed.diagnostics, failed.partial),
        };
        let last_parsed = module.clone();
        Analysis { source, diagnostics, module, built, last_parsed }
    }

    /// The analysis of a new version of the same file, remembering what the previous one
    /// knew where the new text does not parse (mid-typing).
    pub fn update(&self, text: &str) -> Analysis {
        let mut next = Analysis::new(self.source.name(), text);
        if next.module.is_none() {
            next.last_parsed = self.last_parsed.clone();
        }
        next
    }

    /// Every name in the file with its role, in no particular order.
    fn names(&self) -> Vec<(Ident, Role)> {
        let Some(m) = &self.module else { return Vec::new() };
        let mut out = Vec::new();
        for c in &m.constants {
            out.push((c.name.clone(), Role::ConstDef));
            refs_in_value(&c.value, None, &mut out);
        }
        for i in &m.inputs {
            out.push((i.name.clone(), Role::InputDef { block: None }));
        }
        for b in &m.blocks {
            out.push((b.name.clone(), Role::BlockDef));
            for p in &b.params {
                out.push((p.name.clone(), Role::ParamDef { block: b.name.name.clone() }));
                if let Some(v) = &p.default {
                    refs_in_value(v, Some(&b.name.name), &mut out);
                }
            }
            for i in &b.inputs {
                out.push((i.clone(), Role::InputDef { block: Some(b.name.name.clone()) }));
            }
            for n in &b.nodes {
                node_names(n, Some(&b.name.name), &mut out);
            }
            out.push((b.output.clone(), Role::Ref { block: Some(b.name.name.clone()) }));
        }
        for n in &m.nodes {
            node_names(n, None, &mut out);
        }
        for o in &m.outputs {
            for f in &o.from {
                out.push((f.clone(), Role::Ref { block: None }));
            }
        }
        out
    }

    /// The name under `offset` (a cursor just after a name counts as on it).
    fn name_at(&self, offset: usize) -> Option<(Ident, Role)> {
        self.names().into_iter().find(|(id, _)| id.span.start <= offset && offset <= id.span.end && !id.span.is_empty())
    }

    /// Where the name under `offset` is declared.
    pub fn definition(&self, offset: usize) -> Option<Span> {
        let (id, role) = self.name_at(offset)?;
        let m = self.module.as_ref()?;
        match role {
            Role::Callee => m.blocks.iter().find(|b| b.name.name == id.name).map(|b| b.name.span),
            Role::Ref { block } | Role::NodeDef { block } | Role::InputDef { block } => {
                self.declared(&id.name, block.as_deref())
            }
            Role::ParamDef { .. } | Role::BlockDef | Role::ConstDef => Some(id.span),
            Role::ArgName { callee } => m
                .blocks
                .iter()
                .find(|b| b.name.name == callee)
                .and_then(|b| b.params.iter().find(|p| p.name.name == id.name))
                .map(|p| p.name.span),
        }
    }

    /// The declaration of `name` seen from inside `block` (or the top level).
    fn declared(&self, name: &str, block: Option<&str>) -> Option<Span> {
        let m = self.module.as_ref()?;
        if let Some(b) = block.and_then(|b| m.blocks.iter().find(|x| x.name.name == b)) {
            let local = b.nodes.iter().map(|n| &n.name).chain(&b.inputs).chain(b.params.iter().map(|p| &p.name));
            if let Some(found) = local.into_iter().find(|i| i.name == name) {
                return Some(found.span);
            }
        }
        let top = m
            .nodes
            .iter()
            .map(|n| &n.name)
            .chain(m.inputs.iter().map(|i| &i.name))
            .chain(m.constants.iter().map(|c| &c.name))
            .chain(m.blocks.iter().map(|b| &b.name));
        top.into_iter().find(|i| i.name == name).map(|i| i.span)
    }

    /// Markdown for the name under `offset`: a node's op, shape, parameters and MACs; an
    /// op's or block's signature; a constant's value.
    pub fn hover(&self, offset: usize) -> Option<(Span, String)> {
        let (id, role) = self.name_at(offset)?;
        let m = self.module.as_ref()?;
        let text = match role {
            Role::Callee | Role::BlockDef => callee_doc(m, &id.name)?,
            Role::ArgName { callee } => param_doc(m, &callee, &id.name)?,
            Role::ConstDef => constant_doc(m, &id.name)?,
            Role::ParamDef { block } => format!("parameter of block `{block}`"),
            Role::NodeDef { block } | Role::Ref { block } | Role::InputDef { block } => match block {
                Some(b) if self.declared(&id.name, Some(&b)) != self.declared(&id.name, None) => {
                    self.instances_doc(&id.name, &b)
                }
                _ => match m.constants.iter().find(|c| c.name.name == id.name) {
                    Some(_) => constant_doc(m, &id.name)?,
                    None => self.node_doc(&id.name)?,
                },
            },
        };
        Some((id.span, text))
    }

    /// A top-level node (or input, or block instance) by name.
    fn node_doc(&self, name: &str) -> Option<String> {
        let (graph, checked) = self.built.as_ref()?;
        if let Some(id) = graph.find(name) {
            let node = graph.node(id);
            let shape = checked.shape(id).map_or("unknown (an error comes first)".to_string(), |s| s.to_string());
            let params = checked.params[id.index()];
            let macs = checked.macs[id.index()].map_or("depends on the sequence length".to_string(), count);
            let share = node.shares.map(|s| format!(" · weights of `{}`", graph.node(s).name)).unwrap_or_default();
            return Some(format!(
                "**{name}** = `{}`{share}\n\nshape `{shape}` · {} parameters · {macs} multiply-adds per sample · tower {}",
                node.op_name(),
                count(params),
                checked.tower(id).label()
            ));
        }
        // A block instance: its nodes are `name.*`.
        let prefix = format!("{name}.");
        let inner: Vec<_> = graph.topo().iter().copied().filter(|&i| graph.node(i).name.starts_with(&prefix)).collect();
        let last = *inner.last()?;
        // Saturating, as Checked::total_params: hover never panics on a huge model.
        let params = inner.iter().fold(0i64, |sum, i| sum.saturating_add(checked.params[i.index()]));
        let macs = inner.iter().try_fold(0i64, |sum, i| Some(sum.saturating_add(checked.macs[i.index()]?)));
        let shape = checked.shape(last).map_or("unknown".to_string(), |s| s.to_string());
        Some(format!(
            "**{name}**: block instance of {} nodes\n\nshape `{shape}` · {} parameters · {} multiply-adds per sample",
            inner.len(),
            count(params),
            macs.map_or("depends on the sequence length".to_string(), count)
        ))
    }

    /// A node inside a block: one line per instance.
    fn instances_doc(&self, name: &str, block: &str) -> String {
        let Some((graph, checked)) = &self.built else { return format!("in block `{block}`") };
        let suffix = format!(".{name}");
        let lines: Vec<String> = graph
            .topo()
            .iter()
            .filter(|&&i| graph.node(i).name.ends_with(&suffix))
            .take(8)
            .map(|&i| {
                let shape = checked.shape(i).map_or("?".to_string(), |s| s.to_string());
                format!(
                    "- `{}` (`{}`): `{shape}`, {} parameters",
                    graph.node(i).name,
                    graph.node(i).op_name(),
                    count(checked.params[i.index()])
                )
            })
            .collect();
        format!("**{name}** in block `{block}`, per instance:\n\n{}", lines.join("\n"))
    }

    /// What can be typed at `offset`: op and block names where a callee goes, an op's
    /// parameters inside its call, node names where an input goes.
    pub fn completions(&self, offset: usize) -> Vec<Completion> {
        let text = self.source.text();
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or("");
        let line = before.rsplit('\n').next().unwrap_or("");
        let yaml = !self.source.name().ends_with(".avc");
        let context = if yaml { yaml_context(before, line) } else { dsl_context(line) };
        let blocks = self.last_parsed.as_ref().map(|m| m.blocks.as_slice()).unwrap_or(&[]);
        match context {
            Context::Callee => {
                let mut out: Vec<Completion> = ops::registry().iter().map(|s| op_completion(s)).collect();
                out.extend(blocks.iter().map(|b| Completion {
                    label: b.name.name.clone(),
                    kind: CompletionKind::Block,
                    detail: format!(
                        "block({})",
                        b.params.iter().map(|p| p.name.name.clone()).collect::<Vec<_>>().join(", ")
                    ),
                    doc: String::new(),
                    insert: b.name.name.clone(),
                }));
                out
            }
            Context::Args(callee) => {
                let mut out: Vec<Completion> = match ops::lookup(&callee) {
                    Some(spec) => spec.params.iter().map(param_completion).collect(),
                    None => blocks
                        .iter()
                        .find(|b| b.name.name == callee)
                        .map(|b| {
                            b.params
                                .iter()
                                .map(|p| Completion {
                                    label: p.name.name.clone(),
                                    kind: CompletionKind::Param,
                                    detail: p.ty.keyword().to_string(),
                                    doc: String::new(),
                                    insert: format!("{}: ", p.name.name),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                if !yaml {
                    out.extend(self.node_completions());
                }
                out
            }
            Context::Inputs => self.node_completions(),
        }
    }

    fn node_completions(&self) -> Vec<Completion> {
        let Some(m) = &self.last_parsed else { return Vec::new() };
        let names = m.inputs.iter().map(|i| (&i.name, "input")).chain(m.nodes.iter().map(|n| (&n.name, "node")));
        names
            .map(|(id, what)| Completion {
                label: id.name.clone(),
                kind: CompletionKind::Node,
                detail: what.to_string(),
                doc: String::new(),
                insert: id.name.clone(),
            })
            .collect()
    }

    /// The file's outline: inputs, constants, blocks with their nodes, nodes, outputs.
    pub fn symbols(&self) -> Vec<Symbol> {
        let Some(m) = &self.module else { return Vec::new() };
        let leaf = |name: &Ident, kind, detail: String, span: Span| Symbol {
            name: name.name.clone(),
            kind,
            detail,
            span: span.join(name.span),
            name_span: name.span,
            children: Vec::new(),
        };
        let mut out = Vec::new();
        out.extend(m.inputs.iter().map(|i| leaf(&i.name, SymbolKind::Input, "input".into(), i.span)));
        out.extend(m.constants.iter().map(|c| leaf(&c.name, SymbolKind::Constant, "constant".into(), c.value.span)));
        for b in &m.blocks {
            let mut s = leaf(&b.name, SymbolKind::Block, "block".into(), b.span);
            s.children =
                b.nodes.iter().map(|n| leaf(&n.name, SymbolKind::Node, n.callee.name.clone(), n.span)).collect();
            out.push(s);
        }
        out.extend(m.nodes.iter().map(|n| leaf(&n.name, SymbolKind::Node, n.callee.name.clone(), n.span)));
        out.extend(m.outputs.iter().map(|o| leaf(&o.name, SymbolKind::Output, o.kind.keyword().into(), o.span)));
        out
    }
}

/// Where the cursor is, for completion.
#[derive(Debug, PartialEq)]
enum Context {
    /// Where an op or block name goes.
    Callee,
    /// Inside a call of this op or block: its parameters.
    Args(String),
    /// Anywhere else: node names.
    Inputs,
}

/// `x = li|` -> callee; `x = lstm(v, hid|` -> lstm's parameters.
fn dsl_context(line: &str) -> Context {
    if let Some(open) = line.rfind('(')
        && !line[open..].contains(')')
    {
        let head = line[..open].trim_end();
        let callee: String = head
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Context::Args(callee);
    }
    match line.split_once('=') {
        Some((_, after)) if after.trim_start().chars().all(|c| c.is_alphanumeric() || c == '_') => Context::Callee,
        _ => Context::Inputs,
    }
}

/// `op: li|` -> callee; a key position inside a node whose `op:` is known -> its parameters;
/// `in: ` -> node names.
fn yaml_context(before: &str, line: &str) -> Context {
    let tail = line.rsplit([',', '{']).next().unwrap_or(line).trim_start().trim_start_matches("- ");
    if let Some(value) = tail.strip_prefix("op:")
        && value.trim_start().chars().all(|c| c.is_alphanumeric() || c == '_')
    {
        return Context::Callee;
    }
    if tail.starts_with("in:") || tail.starts_with("from:") {
        return Context::Inputs;
    }
    // The node this key belongs to: the same flow mapping, or the lines of the same list item.
    let item_start = before.rfind("- ").unwrap_or(0);
    let item = &before[item_start..];
    let op = item.split(['\n', ',', '{']).find_map(|part| {
        let v = part.trim().strip_prefix("op:")?.trim();
        (!v.is_empty()).then(|| v.trim_end_matches('}').to_string())
    });
    match op {
        Some(op) => Context::Args(op),
        None => Context::Inputs,
    }
}

fn op_completion(spec: &ops::OpSpec) -> Completion {
    Completion {
        label: spec.name.to_string(),
        kind: CompletionKind::Op,
        detail: spec.shape_rule.to_string(),
        doc: spec.summary.to_string(),
        insert: spec.name.to_string(),
    }
}

fn param_completion(p: &ops::ParamSpec) -> Completion {
    let default = p.default.map_or("required".to_string(), |d| format!("default {d}"));
    Completion {
        label: p.name.to_string(),
        kind: CompletionKind::Param,
        detail: format!("{} ({default})", p.kind.describe()),
        doc: p.doc.to_string(),
        insert: format!("{}: ", p.name),
    }
}

fn callee_doc(m: &Module, name: &str) -> Option<String> {
    // A block of the file shadows a built-in op of the same name, as in compilation.
    if let Some(b) = m.blocks.iter().find(|b| b.name.name == name) {
        // Defaults as the file writes them: what a use may leave out.
        let params: Vec<String> = b
            .params
            .iter()
            .map(|p| match &p.default {
                Some(d) => format!("{}: {} = {d}", p.name.name, p.ty.keyword()),
                None => format!("{}: {}", p.name.name, p.ty.keyword()),
            })
            .collect();
        let inputs: Vec<&str> = b.inputs.iter().map(|i| i.name.as_str()).collect();
        return Some(format!(
            "block **{}**({}{}{}) returns `{}` · {} nodes",
            b.name.name,
            inputs.join(", "),
            if params.is_empty() { "" } else { ", " },
            params.join(", "),
            b.output.name,
            b.nodes.len()
        ));
    }
    let spec = ops::lookup(name)?;
    let params: Vec<String> = spec
        .params
        .iter()
        .map(|p| {
            let default = p.default.map_or("required".to_string(), |d| format!("= {d}"));
            format!("- `{}`: {} {default} — {}", p.name, p.kind.describe(), p.doc)
        })
        .collect();
    Some(format!(
        "op **{}** ({}): {}\n\n`{}` · {}\n\n{}",
        spec.name,
        spec.family,
        spec.summary,
        spec.shape_rule,
        spec.arity,
        params.join("\n")
    ))
}

fn param_doc(m: &Module, callee: &str, name: &str) -> Option<String> {
    let shadowed = m.blocks.iter().any(|b| b.name.name == callee);
    if let Some(p) = ops::lookup(callee).filter(|_| !shadowed).and_then(|s| s.param(name)) {
        let default = p.default.map_or("required".to_string(), |d| format!("default {d}"));
        return Some(format!("`{name}`: {} ({default})\n\n{}", p.kind.describe(), p.doc));
    }
    let b = m.blocks.iter().find(|b| b.name.name == callee)?;
    let p = b.params.iter().find(|p| p.name.name == name)?;
    Some(format!("`{name}`: {} (parameter of block `{callee}`)", p.ty.keyword()))
}

fn constant_doc(m: &Module, name: &str) -> Option<String> {
    let c = m.constants.iter().find(|c| c.name.name == name)?;
    Some(format!("constant **{name}** = `{}`", m.source.slice(c.value.span)))
}

fn node_names(n: &NodeDecl, block: Option<&str>, out: &mut Vec<(Ident, Role)>) {
    let owned = block.map(str::to_string);
    out.push((n.name.clone(), Role::NodeDef { block: owned.clone() }));
    out.push((n.callee.clone(), Role::Callee));
    for i in &n.inputs {
        out.push((i.clone(), Role::Ref { block: owned.clone() }));
    }
    for a in &n.args {
        out.push((a.name.clone(), Role::ArgName { callee: n.callee.name.clone() }));
        refs_in_value(&a.value, block, out);
    }
}

/// Names used as values (a constant, a block parameter) inside a parameter value.
fn refs_in_value(value: &ast::Value, block: Option<&str>, out: &mut Vec<(Ident, Role)>) {
    match &value.kind {
        ValueKind::Ref(name) => {
            out.push((Ident::new(name.clone(), value.span), Role::Ref { block: block.map(str::to_string) }))
        }
        ValueKind::List(items) => items.iter().for_each(|v| refs_in_value(v, block, out)),
        ValueKind::Arith(a) => a.operands().for_each(|v| refs_in_value(v, block, out)),
        // `width(x)` reads a node or input, as an input reference does.
        ValueKind::Width(name) => out.push((name.clone(), Role::Ref { block: block.map(str::to_string) })),
        _ => {}
    }
}

/// `1234567` as `1,234,567`; large counts as `12.3 M`.
fn count(n: i64) -> String {
    match n.unsigned_abs() {
        0..1_000_000 => {
            let s = n.to_string();
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i).is_multiple_of(3) && c.is_ascii_digit() {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
        m if m < 1_000_000_000 => format!("{:.1} M", n as f64 / 1e6),
        _ => format!("{:.2} G", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_of_the_dsl() {
        assert_eq!(dsl_context("x = li"), Context::Callee);
        assert_eq!(dsl_context("x = lstm(v, hid"), Context::Args("lstm".into()));
        assert_eq!(dsl_context("x = lstm(v, hidden: 3) + "), Context::Inputs);
    }

    #[test]
    fn contexts_of_yaml() {
        assert_eq!(yaml_context("  - {name: x, op: li", "  - {name: x, op: li"), Context::Callee);
        let flow = "  - {name: x, op: lstm, in: v, hid";
        assert_eq!(yaml_context(flow, flow), Context::Args("lstm".into()));
        let block = "nodes:\n  - name: x\n    op: linear\n    ou";
        assert_eq!(yaml_context(block, "    ou"), Context::Args("linear".into()));
        assert_eq!(yaml_context("  - {name: x, in: ", "  - {name: x, in: "), Context::Inputs);
    }

    #[test]
    fn counts_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(65_600), "65,600");
        assert_eq!(count(7_864_320), "7.9 M");
    }
}
