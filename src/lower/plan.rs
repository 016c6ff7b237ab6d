//! The steps a lowered model runs, per mode (evaluation, training): the graph's nodes in
//! topological order, with the factoring of the first joint layer applied where the [`Factoring`]
//! policy asks for it, which tower values the joint part reads (the frontier), and when
//! each value can be dropped.

use super::OutputBinding;
use avc_lang::check::{StepStreams, Tower};

/// When the compiler's factoring of a first joint layer (`check::factor_sites`) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Factoring {
    /// Never: the layer runs on the concatenation, per pair.
    Never,
    /// Where it is faster: always for `linear`; for `lstm` and `gru` in evaluation only
    /// (see `ops::InputMap::factor_in_training`), on batches of at least the layer's
    /// `FactorInput::min_pairs` pairs.
    #[default]
    Auto,
    /// Always, in evaluation and training, whatever the batch.
    Always,
}

/// What a step computes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum StepKind {
    /// The layer's forward pass on its inputs.
    Forward,
    /// A tower's share of a factored layer's input map, summed over its inputs; input `i`
    /// holds the layer's input columns from `starts[i]` on. One share carries the bias.
    Project { starts: Vec<i64>, bias: bool },
    /// A factored layer from its per-tower shares (one input per tower), gathered per pair;
    /// or, for a batch of fewer pairs than the layer's `FactorInput::min_pairs`, the layer
    /// whole on the concatenation of `whole` (its concatenated tower values, in order).
    Projected { whole: Vec<(usize, Tower)> },
}

/// One executable step: a node's layer, where its inputs live, what can be freed after.
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub node: String,
    pub slot: usize,
    pub tower: Tower,
    pub input_towers: Vec<Tower>,
    /// Index into the model's layers; nodes that share weights share the layer.
    pub layer: usize,
    pub inputs: Vec<usize>,
    pub frees: Vec<usize>,
    pub kind: StepKind,
    /// Its value has no batch axis (a learned tensor, or arithmetic on learned tensors
    /// only): it is computed first in every phase that runs, never gathered per clip or pair.
    pub unbatched: bool,
    /// For a layer that pools or attends over time: the streams whose clip lengths mask the
    /// steps of its masked input (`Layer::masked_input`), when that input counts known steps.
    pub mask: Option<StepStreams>,
}

/// A factored site with slots for its values: the parts' slots and, per tower, a new slot
/// (past the graph's) for that tower's share.
#[derive(Debug, Clone)]
pub(super) struct LoweredSite {
    pub node_slot: usize,
    pub concat_slot: usize,
    pub concat_read_elsewhere: bool,
    /// `(slot, tower, first column)` of each concatenated value.
    pub parts: Vec<(usize, Tower, i64)>,
    /// `(tower, slot)` of each tower's share, video first.
    pub shares: Vec<(Tower, usize)>,
    /// Whether `Factoring::Auto` factors it in training too.
    pub in_training: bool,
}

impl LoweredSite {
    fn active(&self, policy: Factoring, train: bool) -> bool {
        match policy {
            Factoring::Never => false,
            Factoring::Always => true,
            Factoring::Auto => !train || self.in_training,
        }
    }

    /// The steps that replace the layer's own: one share per tower, then the layer.
    fn steps(&self, layer_step: &Step) -> Vec<Step> {
        let mut steps = Vec::new();
        for (k, &(tower, slot)) in self.shares.iter().enumerate() {
            let mine: Vec<&(usize, Tower, i64)> = self.parts.iter().filter(|p| p.1 == tower).collect();
            steps.push(Step {
                node: format!("{} ({} share)", layer_step.node, tower.label()),
                slot,
                tower,
                input_towers: mine.iter().map(|p| p.1).collect(),
                layer: layer_step.layer,
                inputs: mine.iter().map(|p| p.0).collect(),
                frees: Vec::new(),
                kind: StepKind::Project { starts: mine.iter().map(|p| p.2).collect(), bias: k == 0 },
                unbatched: false,
                mask: None,
            });
        }
        steps.push(Step {
            input_towers: self.shares.iter().map(|s| s.0).collect(),
            inputs: self.shares.iter().map(|s| s.1).collect(),
            kind: StepKind::Projected { whole: self.parts.iter().map(|p| (p.0, p.1)).collect() },
            frees: Vec::new(),
            ..layer_step.clone()
        });
        steps
    }
}

/// The steps of one mode.
pub(super) struct Plan {
    pub steps: Vec<Step>,
    /// Tower values (and inputs) that joint steps or outputs read, with their tower: what
    /// `Model::encode` keeps.
    pub frontier: Vec<(usize, Tower)>,
    /// The slots of the factored layers, for `avc check`-like reports.
    pub factored: Vec<usize>,
}

impl Plan {
    /// The graph's steps with the active sites factored.
    pub fn build(
        base: &[Step],
        sites: &[LoweredSite],
        outputs: &[OutputBinding],
        policy: Factoring,
        train: bool,
    ) -> Plan {
        let active: Vec<&LoweredSite> = sites.iter().filter(|s| s.active(policy, train)).collect();
        let mut steps = Vec::with_capacity(base.len() + 2 * active.len());
        for step in base {
            if let Some(site) = active.iter().find(|s| s.node_slot == step.slot) {
                steps.extend(site.steps(step));
            } else if !active.iter().any(|s| s.concat_slot == step.slot && !s.concat_read_elsewhere) {
                steps.push(step.clone());
            }
        }
        let mut frontier = frontier(&steps, outputs);
        frontier.retain(|&(slot, _)| !steps.iter().any(|s| s.unbatched && s.slot == slot));
        plan_frees(&mut steps, outputs);
        Plan { steps, frontier, factored: active.iter().map(|s| s.node_slot).collect() }
    }
}

/// The tower values (inputs included) read by a joint step or by an output, in the order
/// the steps first read them.
fn frontier(steps: &[Step], outputs: &[OutputBinding]) -> Vec<(usize, Tower)> {
    let mut read: Vec<(usize, Tower)> = Vec::new();
    let joint_reads = steps.iter().filter(|s| s.tower == Tower::Joint).flat_map(|s| {
        let whole = match &s.kind {
            StepKind::Projected { whole } => whole.clone(),
            _ => Vec::new(),
        };
        s.inputs.iter().copied().zip(s.input_towers.iter().copied()).chain(whole)
    });
    let output_reads = outputs.iter().flat_map(|o| o.slots.iter().copied().zip(o.towers.iter().copied()));
    for (slot, tower) in joint_reads.chain(output_reads) {
        if tower != Tower::Joint && !read.iter().any(|&(s, _)| s == slot) {
            read.push((slot, tower));
        }
    }
    read
}

/// Marks, on the step that reads a value last, that the value may be dropped.
fn plan_frees(steps: &mut [Step], outputs: &[OutputBinding]) {
    let kept: Vec<usize> = outputs.iter().flat_map(|o| o.slots.iter().copied()).collect();
    let mut last_reader = std::collections::HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        for &slot in &step.inputs {
            last_reader.insert(slot, i);
        }
    }
    for (slot, step) in last_reader {
        if !kept.contains(&slot) {
            steps[step].frees.push(slot);
        }
    }
}
