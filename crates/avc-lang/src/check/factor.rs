//! Where the compiler factors the first joint layer. A layer that begins with a linear map
//! of its input's last axis (`linear`; `lstm` and `gru`, whose first layer projects its
//! input) and reads a concatenation of tower values on that axis computes
//! `W [v; a] = W_v v + W_a a`: each tower's share can be mapped once per clip, and only the
//! sum runs per pair. This analysis finds such layers; lowering rewrites them
//! (`lower::Split` says when), `avc check` lists them under the summary table.

use super::{Checked, Tower};
use crate::ir::{Graph, NodeId, NodeKind};
use crate::ops::Op;

/// One concatenated tower value and where its columns sit in the layer's input.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorPart {
    pub input: NodeId,
    /// `Video` or `Audio`; values that depend on no stream travel with the video tower, as
    /// lowering computes them.
    pub tower: Tower,
    pub start: i64,
    pub width: i64,
}

/// A first joint layer whose input map is factored over the towers.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorSite {
    /// The `linear`, `lstm` or `gru` node.
    pub node: NodeId,
    /// The `concat` it reads.
    pub concat: NodeId,
    pub parts: Vec<FactorPart>,
    /// Whether something besides the layer reads the concatenation (it still runs then).
    pub concat_read_elsewhere: bool,
    /// The map's output width (for a bidirectional layer, both directions').
    pub width: i64,
    /// Whether it is factored in training too, not only in evaluation.
    pub in_training: bool,
    /// Multiply-adds per pair that move out of the joint part (and run per clip instead);
    /// `None` when a symbolic length leaves them open.
    pub macs_per_pair: Option<i64>,
}

impl FactorSite {
    /// Multiply-adds per clip of `tower`'s share of the map (what each clip of that tower
    /// runs instead of `macs_per_pair` per pair).
    pub fn share_macs(&self, tower: Tower) -> Option<i64> {
        let total: i64 = self.parts.iter().map(|p| p.width).sum();
        let mine: i64 = self.parts.iter().filter(|p| p.tower == tower).map(|p| p.width).sum();
        Some((self.macs_per_pair? / total.max(1)).saturating_mul(mine))
    }
}

/// Every factored site, in topological order.
pub fn factor_sites(graph: &Graph, checked: &Checked) -> Vec<FactorSite> {
    graph.topo().iter().filter_map(|&id| site(graph, checked, id)).collect()
}

fn site(graph: &Graph, checked: &Checked, id: NodeId) -> Option<FactorSite> {
    let NodeKind::Op(op) = &graph.node(id).kind else { return None };
    let map = op.input_map()?;
    let [concat] = graph.inputs_of(id)[..] else { return None };
    let NodeKind::Op(Op::Concat(c)) = &graph.node(concat).kind else { return None };
    let joined = checked.shape(concat)?;
    if checked.tower(concat) != Tower::Joint || joined.axis(c.axis)? + 1 != joined.rank() {
        return None;
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for input in graph.inputs_of(concat) {
        let width = checked.shape(input)?.last()?.fixed()?;
        let tower = match checked.tower(input) {
            Tower::Joint => return None,
            Tower::Audio => Tower::Audio,
            Tower::Video | Tower::Other => Tower::Video,
        };
        parts.push(FactorPart { input, tower, start, width });
        start += width;
    }
    let users = graph.users_of(concat);
    let concat_read_elsewhere =
        users.iter().any(|&u| u != id) || graph.outputs.iter().any(|o| o.from.contains(&concat));
    // Per pair, the map multiplies every input element (all but the last axis) by `width`.
    let macs_per_pair = joined.per_sample_elems().map(|elems| elems.saturating_mul(map.width));
    let (width, in_training) = (map.width, map.factor_in_training);
    Some(FactorSite { node: id, concat, parts, concat_read_elsewhere, width, in_training, macs_per_pair })
}

/// The lines `avc check` prints under its table, one per factored site.
pub fn notes(graph: &Graph, checked: &Checked) -> String {
    let mut out = String::new();
    for site in factor_sites(graph, checked) {
        let node = graph.node(site.node);
        let shares: Vec<String> = site
            .parts
            .iter()
            .map(|p| {
                let name = &graph.node(p.input).name;
                format!("{} columns {}-{} (`{name}`)", p.tower.label(), p.start, p.start + p.width - 1)
            })
            .collect();
        let moved = site
            .macs_per_pair
            .map_or(String::new(), |m| format!("; {} MACs/sample leave the joint part", super::render_count(m)));
        let when = if site.in_training { "" } else { " (in evaluation; training runs it whole)" };
        out.push_str(&format!(
            "factored: `{}` ({}) maps its input once per clip, {}, and sums per pair{moved}{when}\n",
            node.name,
            node.op_name(),
            shares.join(" and "),
        ));
    }
    out
}
