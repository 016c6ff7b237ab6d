//! The IR: a petgraph DAG of typed op nodes, built from an AST by [`build`]. It is
//! immutable once built: every node has a unique dotted name (`v1.rnn` for node `rnn` of
//! block instance `v1`), a typed [`Op`], its inputs in order on the edges, and the span it
//! was written at. Analyses (shapes, parameter counts, towers) are side tables keyed by
//! [`NodeId`], computed by `check`.

mod arith;
mod build;
mod constants;
mod deferred;
#[cfg(test)]
mod expr_tests;
mod share;
#[cfg(test)]
mod tests;

pub use arith::ArithError;
pub use build::{BuildError, build};

use crate::ast::{OutputKind, Setting};
use crate::ops::Op;
use crate::shape::Shape;
use crate::source::{SourceFile, Span};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::HashMap;

/// A node of one graph; only meaningful with the graph that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(NodeIndex);

impl NodeId {
    /// A dense index `0..node_count`, for side tables.
    pub fn index(self) -> usize {
        self.0.index()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A model input fed from a data stream (`video`, `audio`).
    Input {
        stream: String,
        shape: Shape,
    },
    Op(Op),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    pub span: Span,
    /// The spans of the input references, in order (for labelling a faulty input).
    pub input_spans: Vec<Span>,
    /// The chain of block instances this node was expanded from, outermost first.
    pub instance: Vec<String>,
    /// `share: NODE`: this node applies NODE's layer (the same weights) to its own inputs.
    /// Always a node that owns its weights (chains are followed at build time).
    pub shares: Option<NodeId>,
}

impl Node {
    /// The op's name, or `input`.
    pub fn op_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Input { .. } => "input",
            NodeKind::Op(op) => op.name(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub kind: OutputKind,
    pub from: Vec<NodeId>,
    pub span: Span,
}

/// The compiled graph. Edges run from producer to consumer; the weight is the input slot.
#[derive(Debug, Clone)]
pub struct Graph {
    dag: DiGraph<Node, usize>,
    order: Vec<NodeId>,
    by_name: HashMap<String, NodeId>,
    pub inputs: Vec<NodeId>,
    pub outputs: Vec<Output>,
    pub train: Vec<Setting>,
    pub source: SourceFile,
}

impl Graph {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.dag[id.0]
    }

    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.dag.node_count() == 0
    }

    /// Nodes in a topological order (inputs first), stable for a given file.
    pub fn topo(&self) -> &[NodeId] {
        &self.order
    }

    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// A node's inputs in slot order.
    pub fn inputs_of(&self, id: NodeId) -> Vec<NodeId> {
        let mut edges: Vec<(usize, NodeId)> = self
            .dag
            .edges_directed(id.0, petgraph::Direction::Incoming)
            .map(|e| (*e.weight(), NodeId(e.source())))
            .collect();
        edges.sort();
        edges.into_iter().map(|(_, n)| n).collect()
    }

    /// The nodes that read a node's value.
    pub fn users_of(&self, id: NodeId) -> Vec<NodeId> {
        let mut users: Vec<NodeId> =
            self.dag.neighbors_directed(id.0, petgraph::Direction::Outgoing).map(NodeId).collect();
        users.sort();
        users.dedup();
        users
    }

    /// The underlying petgraph, for analyses and pictures.
    pub fn dag(&self) -> &DiGraph<Node, usize> {
        &self.dag
    }

    /// Every node id, in insertion order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.dag.node_indices().map(NodeId)
    }

    /// Edges as (producer, consumer, slot), for pictures and comparisons.
    pub fn edges(&self) -> impl Iterator<Item = (NodeId, NodeId, usize)> + '_ {
        self.dag.edge_references().map(|e| (NodeId(e.source()), NodeId(e.target()), *e.weight()))
    }
}
