//! AST -> IR: constants substituted, blocks expanded (each instance under its own name,
//! with its own weights), names resolved, op arguments type-checked, cycles rejected.
//! Independent errors are all collected; the graph is returned only when there are none.
//!
//! This file holds the entry point ([`build`]), the builder's state and the last step
//! (`finish`: the flat nodes become the graph). Each job the builder does on the way has
//! its own file, so that one can be read without the others:
//! * `error`: [`BuildError`] and the diagnostic each error renders as;
//! * `size`: the node count an expansion would reach, checked before expanding;
//! * `declarations`: the top level (constants, blocks, inputs, unique names);
//! * `resolve`: scopes, and the values and names written in them;
//! * `expand`: node declarations into flat nodes, block uses into instances;
//! * `share`: node-level `share:` (instance-level ones become these in `ir::share`);
//! * `cycles`: the topological order, and the cycles that prevent one.

mod cycles;
mod declarations;
mod error;
mod expand;
mod pytorch;
mod resolve;
mod share;
mod size;

pub use error::BuildError;

use super::share::{Instance, InstanceShare};
use super::{Graph, Node, NodeId, NodeKind, deferred};
use crate::ast::{BlockDecl, Ident, Module, Value, ValueKind};
use crate::ops::{self, ResolvedArg};
use crate::shape::Shape;
use crate::source::Span;
use cycles::declaration_order_topo;
use petgraph::graph::DiGraph;
use resolve::Scope;
use std::collections::HashMap;

/// How deep blocks may call blocks before we call it runaway recursion.
const MAX_BLOCK_DEPTH: usize = 32;
/// Most nodes a model may have once its blocks are expanded: nested blocks that each use
/// the one below twice double at every level, and would otherwise expand until memory
/// runs out. docs/language.md, "Limits".
pub const MAX_NODES: usize = 500_000;
/// Largest size accepted for one declared dimension.
const MAX_DIM: i64 = 1 << 24;

/// Finds a node by name, following block-instance aliases.
type NameLookup<'a> = dyn Fn(&str, &HashMap<String, String>) -> Option<NodeId> + 'a;

/// A node after expansion, before it enters the graph.
pub(super) struct FlatNode {
    pub name: String,
    /// For a node whose arguments read a width, a placeholder until `deferred` is resolved.
    pub kind: NodeKind,
    /// The node named by `share:`, resolved in the node's scope, and the span of the value.
    pub shares: Option<(Ident, String)>,
    /// Resolved names of the inputs, with the spans they were written at.
    pub inputs: Vec<(String, Span)>,
    pub span: Span,
    instance: Vec<String>,
    /// Arguments that read `width(x)`: parsed once the shapes are known (`ir::deferred`).
    pub deferred: Option<Deferred>,
}

/// An op node whose arguments wait for widths.
pub(super) struct Deferred {
    pub spec: &'static ops::OpSpec,
    pub args: Vec<ResolvedArg>,
}

/// The kind a deferred node holds until its arguments are read. It never reaches a
/// returned graph: a node still deferred at the end comes with a reported error.
pub(super) fn placeholder_kind() -> NodeKind {
    NodeKind::Input { stream: String::new(), shape: Shape::new(Vec::new()) }
}

/// The value that stands for one whose mistake is already reported: an unresolved
/// reference, which the argument reader passes over silently.
fn reported(span: Span) -> Value {
    Value { kind: ValueKind::Ref(String::new()), span }
}

struct Builder<'a> {
    module: &'a Module,
    blocks: HashMap<&'a str, &'a BlockDecl>,
    nodes: Vec<FlatNode>,
    /// Block instance name -> the name of the node holding its result.
    aliases: HashMap<String, String>,
    /// The constants, their values resolved (expressions folded).
    constants: HashMap<String, Value>,
    /// Every block instance that expanded, by name.
    instances: HashMap<String, Instance>,
    /// `share:` on block uses, turned into node shares once every instance exists.
    instance_shares: Vec<InstanceShare>,
    /// Nodes that were declared but failed to build: reading them is not a new error.
    broken: std::collections::HashSet<String>,
    errors: Vec<BuildError>,
    /// The top-level declaration being expanded (where a size limit is reported).
    top_decl: Span,
}

/// Builds the IR, or every error found on the way.
pub fn build(module: &Module) -> Result<Graph, Vec<BuildError>> {
    let mut b = Builder {
        module,
        blocks: HashMap::new(),
        nodes: Vec::new(),
        aliases: HashMap::new(),
        constants: HashMap::new(),
        instances: HashMap::new(),
        instance_shares: Vec::new(),
        broken: Default::default(),
        errors: Vec::new(),
        top_decl: Span::empty(),
    };
    let constants = b.collect_constants();
    b.constants = constants.clone();
    b.collect_blocks();
    b.add_inputs(&constants);
    let top = Scope {
        prefix: String::new(),
        bound_inputs: HashMap::new(),
        values: constants,
        locals: module
            .inputs
            .iter()
            .map(|i| i.name.name.clone())
            .chain(module.nodes.iter().map(|n| n.name.name.clone()))
            .collect(),
        instance: Vec::new(),
        chain: Vec::new(),
    };
    b.check_unique_top_level();
    if let Some(span) = b.too_many_nodes() {
        b.errors.push(BuildError::TooManyNodes { limit: MAX_NODES, span });
        return Err(b.errors);
    }
    for decl in &module.nodes {
        b.expand(decl, &top);
    }
    if b.errors.iter().any(|e| matches!(e, BuildError::TooManyNodes { .. })) {
        // Nothing after the limit was expanded: resolving names would only add noise.
        return Err(b.errors);
    }
    b.finish()
}

impl<'a> Builder<'a> {
    fn finish(mut self) -> Result<Graph, Vec<BuildError>> {
        deferred::resolve(&mut self.nodes, &self.aliases, &mut self.errors);
        super::share::share_instances(
            &mut self.nodes,
            &self.instances,
            &self.instance_shares,
            &self.broken,
            &mut self.errors,
        );
        let mut dag = DiGraph::new();
        let mut by_name = HashMap::new();
        for n in &self.nodes {
            let id = NodeId(dag.add_node(Node {
                name: n.name.clone(),
                kind: n.kind.clone(),
                span: n.span,
                input_spans: n.inputs.iter().map(|(_, s)| *s).collect(),
                instance: n.instance.clone(),
                shares: None,
            }));
            by_name.insert(n.name.clone(), id);
        }
        let lookup = |name: &str, aliases: &HashMap<String, String>| {
            let mut name = name.to_string();
            // An instance name stands for its block's result, possibly another instance.
            for _ in 0..MAX_BLOCK_DEPTH {
                match aliases.get(&name) {
                    Some(next) => name = next.clone(),
                    None => break,
                }
            }
            by_name.get(&name).copied()
        };
        for n in &self.nodes {
            let Some(&target) = by_name.get(&n.name) else { continue };
            for (slot, (input, _)) in n.inputs.iter().enumerate() {
                if let Some(source) = lookup(input, &self.aliases) {
                    dag.add_edge(source.0, target.0, slot);
                }
            }
        }
        self.resolve_shares(&mut dag, &lookup);
        let outputs = self.resolve_outputs(&lookup);
        let order = match declaration_order_topo(&dag) {
            Some(order) => order,
            None => {
                self.report_cycles(&dag);
                Vec::new()
            }
        };
        if self.errors.is_empty() {
            deferred::report_unresolved(&self.nodes, &mut self.errors);
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let inputs = self
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Input { .. }))
            .filter_map(|n| by_name.get(&n.name).copied())
            .collect();
        Ok(Graph {
            dag,
            order,
            by_name,
            inputs,
            outputs,
            train: self.module.train.clone(),
            source: self.module.source.clone(),
        })
    }
}
