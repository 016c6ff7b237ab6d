//! The YAML front-end: an architecture file in YAML -> [`ast::Module`], every name and
//! value with the span of its text.
//!
//! The file is read with yaml-rust2's event parser into a marked tree (module `tree`)
//! so that semantic errors, not only syntax errors, point at `file:line:col`. Op names and
//! op parameters are not checked here: `ir::build` does that against the op registry.
//!
//! # The language
//!
//! ```yaml
//! # comments allowed
//! constants: {H: 64}                  # optional: name -> int, float, bool or string
//! inputs:                             # required: name -> per-sample shape (batch implicit)
//!   video: [120, 1024]                # dims: positive ints, symbols (T) or constant names
//!   audio: {shape: [T, 128], stream: audio}   # long form; stream defaults to the name
//! blocks:                             # optional: parameterised subgraphs
//!   - name: res_lstm
//!     params: {hidden: int, p: {type: float, default: 0.5}}   # int, float, bool, str
//!     in: [x]                         # the block's inputs: a name or a list
//!     nodes:
//!       - {name: drop, op: dropout, in: x, p: $p}             # `$p`: a param or constant
//!       - {name: rnn, op: lstm, in: drop, hidden: $hidden}
//!       - {name: sum, op: add, in: [x, rnn]}
//!     out: sum                        # the node the block returns
//! nodes:                              # required: name, op, optional in; the rest are params
//!   - {name: video_proj, op: linear, in: video, out: 128}
//!   - {name: v, op: res_lstm, in: video_proj, hidden: $H}
//!   - name: head
//!     op: linear
//!     in: v
//!     out: 1
//! outputs:                            # required: name, kind, from
//!   - {name: match, kind: logit, from: head}   # logit | distance | embeddings
//! train:                              # optional, nested maps flatten to dotted keys
//!   epochs: 30
//!   schedule: {factor: 0.5}           # -> setting `schedule.factor`
//! ```
//!
//! Precisely:
//! * The file is one YAML document holding a mapping with the keys `constants`, `inputs`,
//!   `blocks`, `nodes`, `outputs` and `train`; `inputs`, `nodes` and `outputs` are
//!   required. The optional sections may be left empty (`train:`).
//! * `constants`: a mapping from names to scalars (int, float, bool, string).
//! * `inputs`: a mapping from names to a shape, either a list of dims or
//!   `{shape: [dims], stream: name}`. A dim is a positive integer or a name (a symbol or a
//!   constant; `$H` is accepted for the constant `H` too).
//! * `blocks`: a list of mappings with `name`, `params` (optional), `in`, `nodes` and `out`.
//!   `params` maps names to a type word or to `{type: word, default: value}`.
//! * `nodes` (top level and in blocks): a list of mappings with `name`, `op`, optionally
//!   `in` (a name or a list of names); every other key is a parameter of the op or block.
//! * `outputs`: a list of mappings with `name`, `kind` and `from` (a name or a list).
//! * `train`: a mapping, possibly nested; `schedule: {factor: 0.5}` and
//!   `schedule.factor: 0.5` give the same setting. A nested key's span is its last part.
//! * Values follow the YAML 1.2 core schema (`yes` and `no` are strings; `~` and `null` are
//!   no value, an error where a value is needed). A string `$name` is a reference
//!   ([`ValueKind::Ref`]); lists are lists of values. A plain scalar that starts like an
//!   expression (`$d * ($k - 1) / 2`, `width(x)`) is integer arithmetic (module `expr`).
//! * Names are identifiers, `[A-Za-z_][A-Za-z0-9_]*`. Keys may not repeat in a mapping.
//!   Anchors and aliases work; tags other than the core ones (`!!str`, ...) do not.

mod graph;
pub(crate) mod read;
#[cfg(test)]
mod tests;
mod tree;

use crate::ast::{self, Constant, DimExpr, Ident, InputDecl, OutputDecl, OutputKind, Setting, ValueKind};
use crate::front::FrontError;
use crate::front::yaml::read::{Expect, Fields, Reader};
use crate::front::yaml::tree::{Kind, Node, ScalarValue, parse_tree};
use crate::source::{SourceFile, Span};

const TOP_KEYS: &[&str] = &["constants", "inputs", "blocks", "nodes", "outputs", "train"];
const INPUT_KEYS: &[&str] = &["shape", "stream"];
const OUTPUT_KEYS: &[&str] = &["name", "kind", "from"];

/// Parses a YAML architecture file; on failure returns every error found.
pub fn parse(src: &SourceFile) -> Result<ast::Module, Vec<FrontError>> {
    let (root, errors) = parse_tree(src);
    let mut reader = Reader { src: src.clone(), errors };
    let module = match root {
        Some(root) if !root.is_null() => module(&mut reader, src, &root),
        Some(root) if reader.errors.is_empty() => {
            reader.error(FrontError::Empty { span: root.span });
            None
        }
        None if reader.errors.is_empty() => {
            reader.error(FrontError::Empty { span: Span::empty() });
            None
        }
        _ => None,
    };
    let mut errors = reader.errors;
    match module {
        Some(module) if errors.is_empty() => Ok(module),
        _ => {
            errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));
            Err(errors)
        }
    }
}

fn module(r: &mut Reader, src: &SourceFile, root: &Node) -> Option<ast::Module> {
    let expect =
        Expect::new("the file", "a mapping with `inputs`, `nodes` and `outputs`", Some("inputs: {video: [120, 1024]}"));
    let top = r.fields(root, &expect, "the top level", TOP_KEYS)?;
    let optional = |key| top.get(key).map(|f| f.value).filter(|n| !n.is_null());
    let constants = optional("constants").map_or(Some(Vec::new()), |n| constants(r, n));
    let inputs = r.require(&top, "inputs", "the model").and_then(|n| inputs(r, n));
    let blocks = optional("blocks").map_or(Some(Vec::new()), |n| crate::front::yaml::graph::blocks(r, n));
    let nodes = r.require(&top, "nodes", "the model").and_then(|n| crate::front::yaml::graph::nodes(r, n));
    let outputs = r.require(&top, "outputs", "the model").and_then(|n| outputs(r, n));
    let train = optional("train").map_or(Some(Vec::new()), |n| train(r, n));
    Some(ast::Module {
        source: src.clone(),
        constants: constants?,
        inputs: inputs?,
        blocks: blocks?,
        nodes: nodes?,
        outputs: outputs?,
        train: train?,
    })
}

/// Collects `f` over items, `None` if any failed (after all of them ran).
pub(super) fn all<T, I>(items: I, f: impl FnMut(I::Item) -> Option<T>) -> Option<Vec<T>>
where
    I: IntoIterator,
{
    let results: Vec<Option<T>> = items.into_iter().map(f).collect();
    results.into_iter().collect()
}

fn constants(r: &mut Reader, node: &Node) -> Option<Vec<Constant>> {
    let expect = Expect::new("`constants`", "a mapping of names to values", Some("constants: {H: 128}"));
    let fields = r.map(node, &expect)?;
    all(&fields.list, |f| {
        let name = r.key_name(f, "constant name");
        let value = r.value(f.value, &format!("constant `{}`", f.key))?;
        if matches!(value.kind, ValueKind::List(_) | ValueKind::Ref(_)) {
            let expect = Expect::new(
                format!("constant `{}`", f.key),
                "an integer, a float, a boolean or a string",
                Some("H: 128"),
            );
            r.wrong_type(f.value, &expect);
            return None;
        }
        Some(Constant { name: name?, value })
    })
}

fn inputs(r: &mut Reader, node: &Node) -> Option<Vec<InputDecl>> {
    let expect = Expect::new(
        "`inputs`",
        "a mapping of input names to shapes",
        Some("inputs: {video: [120, 1024], audio: [120, 128]}"),
    );
    let fields = r.map(node, &expect)?;
    all(&fields.list, |f| {
        let name = r.key_name(f, "input name");
        let span = f.span.join(f.value.span);
        let (shape, stream) = input_shape(r, f.key, f.value)?;
        Some(InputDecl { name: name?, shape, stream, span })
    })
}

/// `[dims]` or `{shape: [dims], stream: name}`.
fn input_shape(r: &mut Reader, input: &str, node: &Node) -> Option<(Vec<DimExpr>, Option<Ident>)> {
    let expect = Expect::new(
        format!("the shape of input `{input}`"),
        "a list of dimensions or a mapping with `shape` and `stream`",
        Some("audio: {shape: [T, 128], stream: audio}"),
    );
    match &node.kind {
        Kind::Seq(_) => Some((dims(r, input, node, &expect)?, None)),
        Kind::Map(_) => {
            let context = format!("input `{input}`");
            let fields = r.fields(node, &expect, &context, INPUT_KEYS)?;
            let shape = r.require(&fields, "shape", &context).and_then(|n| dims(r, input, n, &expect));
            let stream = match fields.get("stream") {
                Some(f) => Some(r.ident(f.value, "stream name")?),
                None => None,
            };
            Some((shape?, stream))
        }
        _ => {
            match node.is_null() {
                true => r.error(FrontError::MissingValue { what: format!("input `{input}`"), span: node.span }),
                false => r.wrong_type(node, &expect),
            }
            None
        }
    }
}

fn dims(r: &mut Reader, input: &str, node: &Node, expect: &Expect) -> Option<Vec<DimExpr>> {
    let items = r.list(node, expect)?;
    all(items, |item| {
        let dim = dim(item);
        if dim.is_none() {
            let found = match &item.kind {
                Kind::Scalar(s) => s.text.clone(),
                _ => item.describe(),
            };
            r.error(FrontError::BadDim { input: input.to_string(), found, span: item.span });
        }
        dim
    })
}

fn dim(node: &Node) -> Option<DimExpr> {
    let scalar = node.as_scalar()?;
    match &scalar.value {
        ScalarValue::Int(n) if *n > 0 => Some(DimExpr::Fixed(*n, node.span)),
        ScalarValue::Str(s) if crate::front::yaml::read::is_ident(s) => {
            Some(DimExpr::Symbol(Ident::new(s, scalar.inner)))
        }
        ScalarValue::Str(s) => {
            let name = s.strip_prefix('$').filter(|n| crate::front::yaml::read::is_ident(n))?;
            let span = Span::new(scalar.inner.end.saturating_sub(name.len()), scalar.inner.end);
            Some(DimExpr::Symbol(Ident::new(name, span)))
        }
        _ => None,
    }
}

fn outputs(r: &mut Reader, node: &Node) -> Option<Vec<OutputDecl>> {
    let expect =
        Expect::new("`outputs`", "a list of outputs", Some("outputs: [{name: match, kind: logit, from: head}]"));
    let items = r.list(node, &expect)?;
    all(items.iter().enumerate(), |(i, item)| output(r, i, item))
}

fn output(r: &mut Reader, index: usize, node: &Node) -> Option<OutputDecl> {
    let expect = Expect::new(
        format!("output #{}", index + 1),
        "a mapping with `name`, `kind` and `from`",
        Some("- {name: match, kind: logit, from: head}"),
    );
    let context = context_name("output", index, node);
    let fields: Fields = r.fields(node, &expect, &context, OUTPUT_KEYS)?;
    let name = r.require(&fields, "name", &context).and_then(|n| r.ident(n, "output name"));
    let kind = r.require(&fields, "kind", &context).and_then(|n| output_kind(r, n));
    let from = r.require(&fields, "from", &context).and_then(|n| r.names(n, &format!("`from` of {context}")));
    let (kind, kind_span) = kind?;
    Some(OutputDecl { name: name?, kind, kind_span, from: from?, span: node.span })
}

fn output_kind(r: &mut Reader, node: &Node) -> Option<(OutputKind, Span)> {
    let scalar = node.as_scalar();
    let found = scalar.map_or_else(|| node.describe(), |s| s.text.clone());
    match scalar.and_then(|s| OutputKind::parse(&s.text).map(|k| (k, s.inner))) {
        Some(kind) => Some(kind),
        None => {
            r.error(FrontError::UnknownOutputKind { found, span: node.span });
            None
        }
    }
}

/// "output `match`" when the item has a readable name, else "output #2".
pub(super) fn context_name(what: &str, index: usize, node: &Node) -> String {
    let name = match &node.kind {
        Kind::Map(entries) => entries.iter().find_map(|e| {
            e.key.as_scalar().filter(|k| k.text == "name")?;
            let value = e.value.as_scalar().filter(|v| crate::front::yaml::read::is_ident(&v.text))?;
            Some(value.text.clone())
        }),
        _ => None,
    };
    match name {
        Some(name) => format!("{what} `{name}`"),
        None => format!("{what} #{}", index + 1),
    }
}

fn train(r: &mut Reader, node: &Node) -> Option<Vec<Setting>> {
    let mut settings = Vec::new();
    settings_into(r, node, "", &mut settings).then_some(settings)
}

/// Flattens one level of the `train:` mapping into `out`; returns whether all was well.
fn settings_into(r: &mut Reader, node: &Node, prefix: &str, out: &mut Vec<Setting>) -> bool {
    let expect = Expect::new(
        if prefix.is_empty() { "`train`".to_string() } else { format!("`train.{prefix}`") },
        "a mapping of settings",
        Some("train: {epochs: 30, lr: 0.005}"),
    );
    let Some(fields) = r.map(node, &expect) else {
        return false;
    };
    let mut ok = true;
    for f in &fields.list {
        if !f.key.split('.').all(crate::front::yaml::read::is_ident) {
            r.error(FrontError::BadName { name: f.key.to_string(), what: "setting name", span: f.span });
            ok = false;
            continue;
        }
        let key = if prefix.is_empty() { f.key.to_string() } else { format!("{prefix}.{}", f.key) };
        if matches!(f.value.kind, Kind::Map(_)) {
            ok &= settings_into(r, f.value, &key, out);
            continue;
        }
        match r.value(f.value, &format!("setting `{key}`")) {
            Some(value) => out.push(Setting { key: Ident::new(key, f.span), value }),
            None => ok = false,
        }
    }
    ok
}
