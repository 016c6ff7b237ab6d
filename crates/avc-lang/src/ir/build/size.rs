//! The node count before expansion: nested blocks that each use the one below twice
//! double the nodes at every level, so the count is computed from the declarations (one
//! pass per block, memoised) and a model past [`MAX_NODES`] is refused before any node is
//! made. Separate from `expand` because it never builds anything: it only counts.

use super::{Builder, MAX_BLOCK_DEPTH, MAX_NODES};
use crate::ast::NodeDecl;
use crate::source::Span;
use std::collections::HashMap;

impl<'a> Builder<'a> {
    /// Counts the nodes the expansion will make, before making any (a block that uses
    /// another twice doubles the count at each level): the top-level declaration at which
    /// the count passes [`MAX_NODES`], if it does.
    pub(super) fn too_many_nodes(&self) -> Option<Span> {
        let mut memo: HashMap<&str, usize> = HashMap::new();
        let mut total = self.module.inputs.len();
        for decl in &self.module.nodes {
            total = total.saturating_add(self.expanded_size(decl, 0, &mut memo));
            if total > MAX_NODES {
                return Some(decl.callee.span);
            }
        }
        None
    }

    /// The nodes one declaration expands into (saturating; recursion past the depth limit
    /// counts one, as it is reported and not expanded).
    fn expanded_size(&self, decl: &'a NodeDecl, depth: usize, memo: &mut HashMap<&'a str, usize>) -> usize {
        let Some(&block) = self.blocks.get(decl.callee.name.as_str()) else {
            return 1;
        };
        if depth >= MAX_BLOCK_DEPTH {
            return 1;
        }
        if let Some(&n) = memo.get(block.name.name.as_str()) {
            return n;
        }
        let n = block
            .nodes
            .iter()
            .fold(0usize, |acc, inner| acc.saturating_add(self.expanded_size(inner, depth + 1, memo)));
        memo.insert(&block.name.name, n);
        n
    }
}
