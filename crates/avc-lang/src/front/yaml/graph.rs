//! The graph sections of a YAML file: `nodes` (top level and inside blocks) and `blocks`.

use crate::ast::{Arg, BlockDecl, BlockParam, NodeDecl, ParamType, Value};
use crate::front::FrontError;
use crate::front::yaml::read::{Expect, Fields, Reader};
use crate::front::yaml::tree::{Kind, Node};
use crate::front::yaml::{all, context_name};

const BLOCK_KEYS: &[&str] = &["name", "params", "in", "nodes", "out"];
const PARAM_KEYS: &[&str] = &["type", "default"];
/// The keys of a node that are not op parameters.
const NODE_KEYS: &[&str] = &["name", "op", "in"];

/// A list of node mappings.
pub(in crate::front) fn nodes(r: &mut Reader, node: &Node) -> Option<Vec<NodeDecl>> {
    let expect =
        Expect::new("`nodes`", "a list of nodes", Some("nodes: [{name: proj, op: linear, in: video, out: 128}]"));
    let items = r.list(node, &expect)?;
    let nodes = all(items.iter().enumerate(), |(i, item)| node_decl(r, i, item))?;
    Some(nodes.into_iter().flatten().collect())
}

/// `{name, op, in, param: value...}`: one node, or one per name of `name: [a, b]` for an op
/// that gives several results (`crate::front::parts`).
fn node_decl(r: &mut Reader, index: usize, node: &Node) -> Option<Vec<NodeDecl>> {
    let expect = Expect::new(
        format!("node #{}", index + 1),
        "a mapping with `name`, `op`, `in` and the op's parameters",
        Some("- {name: proj, op: linear, in: video, out: 128}"),
    );
    let context = context_name("node", index, node);
    let fields = r.map(node, &expect)?;
    let names = r.require(&fields, "name", &context).and_then(|n| match &n.kind {
        Kind::Seq(items) if items.len() > 1 => all(items.iter(), |item| r.ident(item, "node name")),
        _ => r.ident(n, "node name").map(|n| vec![n]),
    });
    let callee = r.require(&fields, "op", &context).and_then(|n| r.ident(n, "op name"));
    let inputs = match fields.get("in") {
        Some(f) => {
            let what = format!("`in` of {context}");
            r.non_null(f.value, || what.clone()).and_then(|n| r.names(n, &what))
        }
        None => Some(Vec::new()),
    };
    let params = fields.list.iter().filter(|f| !NODE_KEYS.contains(&f.key));
    let args = all(params, |f| {
        let name = r.key_name(f, "parameter name");
        let value = r.value(f.value, &format!("parameter `{}` of {context}", f.key));
        Some(Arg { name: name?, value: value? })
    });
    let (names, callee, inputs, args) = (names?, callee?, inputs?, args?);
    let first = NodeDecl { name: names[0].clone(), callee, inputs, args, span: node.span, nested: None };
    if names.len() == 1 {
        return Some(vec![first]);
    }
    match crate::front::parts::expand(first, &names) {
        Ok(nodes) => Some(nodes),
        Err(e) => {
            r.error(FrontError::Parts { problem: e.problem, help: e.help, span: e.span });
            None
        }
    }
}

/// A list of block mappings.
pub(in crate::front) fn blocks(r: &mut Reader, node: &Node) -> Option<Vec<BlockDecl>> {
    let expect =
        Expect::new("`blocks`", "a list of blocks", Some("blocks: [{name: tower, in: [x], nodes: [...], out: y}]"));
    let items = r.list(node, &expect)?;
    all(items.iter().enumerate(), |(i, item)| block(r, i, item))
}

/// `{name, params, in, nodes, out}`.
fn block(r: &mut Reader, index: usize, node: &Node) -> Option<BlockDecl> {
    let expect = Expect::new(
        format!("block #{}", index + 1),
        "a mapping with `name`, `params`, `in`, `nodes` and `out`",
        Some("- {name: tower, params: {hidden: int}, in: [x], nodes: [...], out: y}"),
    );
    let context = context_name("block", index, node);
    let fields: Fields = r.fields(node, &expect, &context, BLOCK_KEYS)?;
    let name = r.require(&fields, "name", &context).and_then(|n| r.ident(n, "block name"));
    let params = match fields.get("params").map(|f| f.value).filter(|n| !n.is_null()) {
        Some(n) => params(r, n, &context),
        None => Some(Vec::new()),
    };
    let what = format!("`in` of {context}");
    let inputs = r.require(&fields, "in", &context).and_then(|n| r.names(n, &what));
    let nodes = r.require(&fields, "nodes", &context).and_then(|n| nodes(r, n));
    let output = r.require(&fields, "out", &context).and_then(|n| r.ident(n, "node name"));
    Some(BlockDecl { name: name?, params: params?, inputs: inputs?, nodes: nodes?, output: output?, span: node.span })
}

/// `{hidden: int, p: {type: float, default: 0.5}}`.
fn params(r: &mut Reader, node: &Node, block: &str) -> Option<Vec<BlockParam>> {
    let expect = Expect::new(
        format!("`params` of {block}"),
        "a mapping of parameter names to types",
        Some("params: {hidden: int, p: {type: float, default: 0.5}}"),
    );
    let fields = r.map(node, &expect)?;
    all(&fields.list, |f| {
        let name = r.key_name(f, "parameter name");
        let (ty, default) = param_decl(r, f.value, &format!("parameter `{}` of {block}", f.key))?;
        Some(BlockParam { name: name?, ty, default })
    })
}

/// `int` or `{type: int, default: 3}`.
fn param_decl(r: &mut Reader, node: &Node, context: &str) -> Option<(ParamType, Option<Value>)> {
    let expect = Expect::new(
        context,
        "a type (`int`, `float`, `bool` or `str`) or a mapping with `type` and `default`",
        Some("p: {type: float, default: 0.5}"),
    );
    match &node.kind {
        Kind::Scalar(_) => Some((param_type(r, node, context)?, None)),
        Kind::Map(_) => {
            let fields = r.fields(node, &expect, context, PARAM_KEYS)?;
            let ty = r.require(&fields, "type", context).and_then(|n| param_type(r, n, context));
            let default = match fields.get("default") {
                Some(f) => Some(r.value(f.value, &format!("the default of {context}"))?),
                None => None,
            };
            Some((ty?, default))
        }
        Kind::Seq(_) => {
            r.wrong_type(node, &expect);
            None
        }
    }
}

fn param_type(r: &mut Reader, node: &Node, context: &str) -> Option<ParamType> {
    let node = r.non_null(node, || context.to_string())?;
    let Some(scalar) = node.as_scalar() else {
        let found = node.describe();
        r.error(FrontError::UnknownParamType { found, span: node.span });
        return None;
    };
    let ty = ParamType::parse(&scalar.text);
    if ty.is_none() {
        r.error(FrontError::UnknownParamType { found: scalar.text.clone(), span: scalar.inner });
    }
    ty
}
