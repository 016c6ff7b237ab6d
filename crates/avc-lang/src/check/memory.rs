//! What a model needs in memory, counted from the checker's tables before anything is
//! allocated, and measured against what the device can give. A model that cannot fit is
//! refused with the node that needs the most, instead of libtorch's allocator failing
//! somewhere inside its first layer with a C++ backtrace.
//!
//! The count is a lower bound, so nothing that fits is refused: weights and their
//! gradients (every optimiser keeps both; Adam's moments are not counted), plus every
//! node's output for one batch of matched pairs (autograd keeps them for the backward
//! pass; the shuffled pairs and a layer's internal buffers are not counted). A symbolic
//! length counts as 1.

use super::{CheckError, Checked};
use crate::diag::Diagnostic;
use crate::ir::{Graph, NodeId};
use crate::source::Span;

/// Bytes of one value: avc's models hold f32.
const VALUE_BYTES: u64 = 4;

/// The memory a model is measured against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
    /// Where the number comes from, for the message: `cpu (memory available now)`,
    /// `cuda:0`, `--max-memory`.
    pub source: String,
}

/// A model too large for its budget: the whole model's need and the node that needs most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub node: String,
    pub op: String,
    pub span: Span,
    /// Bytes the largest node needs: its weights and gradients, and its output for a batch.
    pub node_bytes: u64,
    pub node_params: i64,
    /// Bytes the whole model needs at least.
    pub total_bytes: u64,
    /// Matched pairs per batch.
    pub batch: u64,
    pub budget: Budget,
}

impl TooLarge {
    pub fn message(&self) -> String {
        format!(
            "the model needs at least {} to train (weights, gradients and one batch of {}), more than the {} \
             of {}; node `{}` ({}) alone needs {}",
            bytes(self.total_bytes),
            self.batch,
            bytes(self.budget.bytes),
            self.budget.source,
            self.node,
            self.op,
            bytes(self.node_bytes),
        )
    }

    pub(super) fn to_diagnostic(&self, message: String) -> Diagnostic {
        let params = match self.node_params {
            0 => String::new(),
            n => format!("{} parameters, ", super::render_count(n)),
        };
        Diagnostic::error("size::memory", message)
            .with_label(self.span, format!("{params}{} with its output", bytes(self.node_bytes)))
            .with_help(
                "use smaller sizes here, a smaller `train.batch_size`, or a device with more memory (`--device`); \
                 nothing was allocated",
            )
    }
}

/// What node `id` needs: weights and gradients, and its output for `batch` samples.
fn node_bytes(checked: &Checked, id: NodeId, batch: u64) -> u64 {
    let params = u64::try_from(checked.params[id.index()]).unwrap_or(u64::MAX);
    let output = checked.shape(id).map_or(0, |s| {
        s.dims().iter().skip(1).filter_map(|d| d.fixed()).fold(1u64, |n, d| n.saturating_mul(d.max(0) as u64))
    });
    params.saturating_mul(2).saturating_add(output.saturating_mul(batch)).saturating_mul(VALUE_BYTES)
}

/// The ops whose values avc computes in fp32 under bf16 or fp16 autocast (docs/precision.md).
pub const KEPT_IN_FP32: [&str; 5] = ["cosine", "l2_distance", "lagged_cosine", "softmax", "log_softmax"];

/// Bytes of every node's output for `batch` samples (what autograd keeps for the backward
/// pass, a lower bound as in [`heaviest`]): in fp32, and under bf16 or fp16 autocast, where
/// the values are 2 bytes except the inputs (the data, fp32) and the ops kept in fp32.
pub fn activations(graph: &Graph, checked: &Checked, batch: u64) -> (u64, u64) {
    let (mut full, mut half) = (0u64, 0u64);
    for &id in graph.topo() {
        let elems = checked.shape(id).map_or(0, |s| {
            s.dims().iter().skip(1).filter_map(|d| d.fixed()).fold(1u64, |n, d| n.saturating_mul(d.max(0) as u64))
        });
        let elems = elems.saturating_mul(batch);
        let node = graph.node(id);
        let fp32 = matches!(node.kind, crate::ir::NodeKind::Input { .. }) || KEPT_IN_FP32.contains(&node.op_name());
        full = full.saturating_add(elems.saturating_mul(VALUE_BYTES));
        half = half.saturating_add(elems.saturating_mul(if fp32 { VALUE_BYTES } else { VALUE_BYTES / 2 }));
    }
    (full, half)
}

/// `avc check`'s line on activation memory per precision, for batches of `batch` pairs.
pub fn activations_line(graph: &Graph, checked: &Checked, batch: u64) -> String {
    let (full, half) = activations(graph, checked, batch);
    format!(
        "activations for a batch of {batch}: {} in fp32, about {} in bf16 or fp16 (train.precision; weights stay fp32)\n",
        bytes(full),
        bytes(half)
    )
}

/// The node that needs most memory to train (weights, gradients and its output for `batch`
/// samples), with what it needs, and what the whole model needs.
pub fn heaviest(graph: &Graph, checked: &Checked, batch: u64) -> Option<(NodeId, u64, u64)> {
    let needs: Vec<(NodeId, u64)> = graph.topo().iter().map(|&id| (id, node_bytes(checked, id, batch))).collect();
    let total = needs.iter().fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
    needs.into_iter().max_by_key(|(_, n)| *n).map(|(id, most)| (id, most, total))
}

/// Refuses a checked model whose training needs more than `budget`, naming the node that
/// needs most. `batch` is the number of matched pairs per batch.
pub fn refuse_oversized(graph: &Graph, checked: &Checked, batch: u64, budget: &Budget) -> Option<CheckError> {
    let (id, most, total) = heaviest(graph, checked, batch)?;
    if total <= budget.bytes {
        return None;
    }
    let node = graph.node(id);
    Some(CheckError::Memory(TooLarge {
        node: node.name.clone(),
        op: node.op_name().to_string(),
        span: node.span,
        node_bytes: most,
        node_params: checked.params[id.index()],
        total_bytes: total,
        batch,
        budget: budget.clone(),
    }))
}

/// `1.5 GiB`, `3.6 PiB`, `512 B`: binary units, three significant digits.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        _ if value >= 100.0 => format!("{value:.0} {}", UNITS[unit]),
        _ if value >= 10.0 => format!("{value:.1} {}", UNITS[unit]),
        _ => format!("{value:.2} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 29), "1.50 GiB");
        assert_eq!(bytes(4 << 50), "4.00 PiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }
}
