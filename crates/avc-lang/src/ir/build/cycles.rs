//! The graph's order and its cycles: a topological order that keeps declaration order
//! where dependencies allow, and, when there is none, each cycle named by a path through
//! it (`a -> b -> a`). Separate because it is graph algorithms on the finished DAG, not
//! reading the AST.

use super::{BuildError, Builder};
use crate::ir::{Node, NodeId};
use petgraph::graph::DiGraph;

impl<'a> Builder<'a> {
    pub(super) fn report_cycles(&mut self, dag: &DiGraph<Node, usize>) {
        for scc in petgraph::algo::tarjan_scc(dag) {
            let self_loop = scc.len() == 1 && dag.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let start = *scc.iter().min_by_key(|&&i| (dag[i].span, i)).unwrap_or(&scc[0]);
            let mut nodes: Vec<String> = cycle_path(dag, &scc, start).iter().map(|&i| dag[i].name.clone()).collect();
            nodes.push(dag[start].name.clone());
            self.errors.push(BuildError::Cycle { nodes, span: dag[start].span });
        }
    }
}

/// A topological order that keeps declaration order wherever dependencies allow (Kahn's
/// algorithm, always taking the earliest-declared ready node), so tables and pictures
/// read like the file. `None` when the graph has a cycle.
pub(super) fn declaration_order_topo(dag: &DiGraph<Node, usize>) -> Option<Vec<NodeId>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut pending: Vec<usize> =
        dag.node_indices().map(|i| dag.neighbors_directed(i, petgraph::Direction::Incoming).count()).collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        pending.iter().enumerate().filter(|(_, n)| **n == 0).map(|(i, _)| Reverse(i)).collect();
    let mut order = Vec::with_capacity(dag.node_count());
    while let Some(Reverse(i)) = ready.pop() {
        let index = petgraph::graph::NodeIndex::new(i);
        order.push(NodeId(index));
        for next in dag.neighbors_directed(index, petgraph::Direction::Outgoing) {
            pending[next.index()] -= 1;
            if pending[next.index()] == 0 {
                ready.push(Reverse(next.index()));
            }
        }
    }
    (order.len() == dag.node_count()).then_some(order)
}

/// A path that leaves `start` and comes back to it inside one strongly connected component
/// (without the final return), found by depth-first search along edges.
fn cycle_path(
    dag: &DiGraph<Node, usize>,
    scc: &[petgraph::graph::NodeIndex],
    start: petgraph::graph::NodeIndex,
) -> Vec<petgraph::graph::NodeIndex> {
    let mut path = vec![start];
    let mut seen = std::collections::HashSet::from([start]);
    // Each frame: a node and the successors in the component still to try.
    let succ = |n| {
        let mut next: Vec<_> =
            dag.neighbors_directed(n, petgraph::Direction::Outgoing).filter(|m| scc.contains(m)).collect();
        next.sort();
        next
    };
    let mut stack = vec![succ(start)];
    while let Some(options) = stack.last_mut() {
        match options.pop() {
            Some(next) if next == start => return path,
            Some(next) if seen.insert(next) => {
                path.push(next);
                stack.push(succ(next));
            }
            Some(_) => {}
            None => {
                stack.pop();
                path.pop();
            }
        }
    }
    vec![start]
}
