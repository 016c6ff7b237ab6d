//! Lowering: one tch layer per IR node, with its variables in a VarStore under the node's
//! dotted name (so weights are named `v1.rnn.weight_ih_l0`), run in topological order.
//! Each intermediate tensor is dropped right after its last reader has run.
//!
//! Tower nodes run once per clip ([`Model::encode`]), joint nodes once per pair
//! ([`Model::score_pairs`]). A first joint layer that maps a concatenation of tower values
//! linearly (`check::factor_sites`) can run factored: each tower's share of the map once per
//! clip, only their sum per pair ([`Factoring`] says when).

mod concurrent;
pub mod feed;
mod joint;
pub mod ops;
pub mod precision;

pub use precision::Precision;
mod plan;

pub use plan::Factoring;

use avc_lang::ast::OutputKind;
use avc_lang::check::{Checked, Tower};
use avc_lang::ir::{Graph, NodeKind};
use avc_lang::shape::{Dim, Shape};
use ops::{FactorInput, Layer, LowerOp};
use plan::{LoweredSite, Plan, Step, StepKind};
use tch::{Device, Kind, Tensor, nn};

#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    #[error("the model has errors; run `avc check` to see them")]
    Unchecked,
    #[error("node `{node}`: libtorch failed: {}", torch_summary(error))]
    Torch {
        node: String,
        #[source]
        error: tch::TchError,
    },
    #[error("no tensor was given for input `{input}` (stream `{stream}`)")]
    MissingInput { input: String, stream: String },
    #[error("clips encoded for {} cannot be scored for {}: the factored layers differ", mode(*.encoded), mode(*.scored))]
    ModeMismatch { encoded: bool, scored: bool },
    #[error(transparent)]
    Precision(#[from] precision::PrecisionError),
}

/// libtorch's message in one line: the first line of its text, without tch's prefix and
/// the C++ frames that follow (the CLI shows those with `-v`), shortened if still long.
pub fn torch_summary(error: &tch::TchError) -> String {
    let text = match error {
        tch::TchError::Torch(text) => text.clone(),
        other => other.to_string(),
    };
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(no message)");
    // "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: ..." -> the message.
    let line = match line.strip_prefix('[').and_then(|rest| rest.split_once("] ")) {
        Some((_, rest)) => rest.trim_start_matches("data. "),
        None => line,
    };
    avc_lang::diag::shorten(line, 300).into_owned()
}

/// libtorch's whole message (its C++ backtrace included) behind an error, when a libtorch
/// failure is among its causes: what `avc train -v` adds to the one-line summary.
pub fn torch_details(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(c) = cause {
        if let Some(t) = c.downcast_ref::<tch::TchError>() {
            return Some(t.to_string());
        }
        cause = c.source();
    }
    None
}

fn mode(train: bool) -> &'static str {
    if train { "training" } else { "evaluation" }
}

/// A model input and the data stream that feeds it.
#[derive(Debug, Clone)]
pub struct InputBinding {
    pub name: String,
    pub stream: String,
    slot: usize,
}

#[derive(Debug, Clone)]
pub struct OutputBinding {
    pub name: String,
    pub kind: OutputKind,
    slots: Vec<usize>,
    towers: Vec<Tower>,
}

/// Clips a tower runs at once in evaluation. A slice's intermediates stay in the caches
/// and reuse the allocator's buffers, where a chunk of 1,024 clips (the engine's under its
/// default budget) makes every layer stream fresh buffers of hundreds of megabytes: towers
/// of `two_tower` measured about 30% faster on 10,000 clips in chunks of a few dozen.
pub(super) const ENCODE_SLICE: i64 = 64;

/// A lowered, runnable model.
pub struct Model {
    pub vs: nn::VarStore,
    pub inputs: Vec<InputBinding>,
    pub outputs: Vec<OutputBinding>,
    layers: Vec<Box<dyn Layer>>,
    /// The graph's steps in topological order, nothing factored.
    steps: Vec<Step>,
    /// The first joint layers that can be factored (see `check::factor_sites`).
    sites: Vec<LoweredSite>,
    factoring: Factoring,
    /// What runs in evaluation and in training, under `factoring`.
    plans: [Plan; 2],
    slots: usize,
    /// Every value's tower and per-sample shape, by slot (the graph's nodes, then the factored
    /// layers' per-tower shares): what sizes chunks of clips and pairs against a memory
    /// budget.
    shapes: Vec<(Tower, Option<Shape>)>,
    /// The forward pass's floating-point format (autocast for bf16 and fp16).
    precision: Precision,
}

/// Builds the model's layers and variables on `device`.
pub fn lower(graph: &Graph, checked: &Checked, device: Device) -> Result<Model, LowerError> {
    if !checked.ok() {
        return Err(LowerError::Unchecked);
    }
    let vs = nn::VarStore::new(device);
    // Layers first, so a node sharing weights finds its owner's layer wherever it sits.
    let mut layers = Vec::new();
    let mut layer_of = vec![usize::MAX; graph.len()];
    for &id in graph.topo() {
        let node = graph.node(id);
        let (NodeKind::Op(op), None) = (&node.kind, node.shares) else { continue };
        let in_shapes: Vec<_> = graph.inputs_of(id).iter().filter_map(|&i| checked.shape(i).cloned()).collect();
        let path = node.name.split('.').fold(vs.root(), |p, part| p / part);
        let lowered = match op {
            // A learned tensor is named as its node, not under it (`cls`, not `cls.value`).
            avc_lang::ops::Op::Param(p) => {
                let (parent, name) = node.name.rsplit_once('.').unwrap_or(("", &node.name));
                let parent = parent.split('.').filter(|s| !s.is_empty()).fold(vs.root(), |p, part| p / part);
                ops::arith::lower_param(p, &parent, name)
            }
            _ => op.lower(&path, &in_shapes),
        };
        let layer = lowered.map_err(|error| LowerError::Torch { node: node.name.clone(), error })?;
        layer_of[id.index()] = layers.len();
        layers.push(layer);
    }
    let mut steps = Vec::new();
    let mut inputs = Vec::new();
    let streams = avc_lang::check::step_streams(graph, checked);
    for &id in graph.topo() {
        let node = graph.node(id);
        if let NodeKind::Input { stream, .. } = &node.kind {
            inputs.push(InputBinding { name: node.name.clone(), stream: stream.clone(), slot: id.index() });
            continue;
        }
        let in_ids = graph.inputs_of(id);
        let layer = layer_of[node.shares.unwrap_or(id).index()];
        let mask =
            layers[layer].masked_input().and_then(|k| in_ids.get(k)).map(|i| streams[i.index()]).filter(|s| s.any());
        steps.push(Step {
            node: node.name.clone(),
            slot: id.index(),
            tower: checked.tower(id),
            input_towers: in_ids.iter().map(|&i| checked.tower(i)).collect(),
            layer,
            inputs: in_ids.iter().map(|i| i.index()).collect(),
            frees: Vec::new(),
            kind: StepKind::Forward,
            unbatched: checked.shape(id).is_some_and(|s| !avc_lang::ops::arith::is_batched(s)),
            mask,
        });
    }
    let outputs: Vec<OutputBinding> = graph
        .outputs
        .iter()
        .map(|o| OutputBinding {
            name: o.name.clone(),
            kind: o.kind,
            slots: o.from.iter().map(|i| i.index()).collect(),
            towers: o.from.iter().map(|&i| checked.tower(i)).collect(),
        })
        .collect();
    let mut shapes: Vec<_> = (0..graph.len()).map(|i| (checked.towers[i], checked.shapes[i].clone())).collect();
    let sites = lower_sites(graph, checked, &layers, &layer_of, &mut shapes);
    let factoring = Factoring::default();
    let plans = [false, true].map(|train| Plan::build(&steps, &sites, &outputs, factoring, train));
    let precision = Precision::Fp32;
    Ok(Model { vs, inputs, outputs, layers, steps, sites, factoring, plans, slots: shapes.len(), shapes, precision })
}

/// The factored sites whose layer can factor its input map, each with a new slot (and shape)
/// per tower for that tower's share.
fn lower_sites(
    graph: &Graph,
    checked: &Checked,
    layers: &[Box<dyn Layer>],
    layer_of: &[usize],
    shapes: &mut Vec<(Tower, Option<Shape>)>,
) -> Vec<LoweredSite> {
    let mut sites = Vec::new();
    for site in avc_lang::check::factor_sites(graph, checked) {
        let owner = graph.node(site.node).shares.unwrap_or(site.node);
        if layers.get(layer_of[owner.index()]).and_then(|l| l.factor_input()).is_none() {
            continue;
        }
        let share_shape = checked.shape(site.concat).map(|s| s.with_dim(s.rank() - 1, Dim::Fixed(site.width)));
        let mut shares = Vec::new();
        for tower in [Tower::Video, Tower::Audio] {
            if site.parts.iter().any(|p| p.tower == tower) {
                shares.push((tower, shapes.len()));
                shapes.push((tower, share_shape.clone()));
            }
        }
        sites.push(LoweredSite {
            node_slot: site.node.index(),
            concat_slot: site.concat.index(),
            concat_read_elsewhere: site.concat_read_elsewhere,
            parts: site.parts.iter().map(|p| (p.input.index(), p.tower, p.start)).collect(),
            shares,
            in_training: site.in_training,
        });
    }
    sites
}

/// The inputs of one forward pass over (video, audio) pairs: each modality's clips once,
/// and for each pair the row of its video and of its audio. Tower nodes run once per clip;
/// joint nodes run once per pair on rows gathered at the point where the towers meet.
pub struct PairBatch<'a> {
    /// `[Nv, ...]` float features of the video clips.
    pub video: &'a Tensor,
    /// `[Na, ...]` float features of the audio clips.
    pub audio: &'a Tensor,
    /// `[P]` int64: the video row of each pair.
    pub video_rows: &'a Tensor,
    /// `[P]` int64: the audio row of each pair.
    pub audio_rows: &'a Tensor,
    /// `[Nv]` and `[Na]` int64: each clip's own steps (the rest is padding), when a clip
    /// may be shorter than the batch; pooling over time leaves padded steps out.
    pub lengths: Option<[&'a Tensor; 2]>,
}

/// The values one modality's tower hands to the joint part, for a set of clips: every
/// tower value that a joint node or an output reads (row i belongs to clip i). Computed
/// once per clip by [`Model::encode`]; [`Model::score_pairs`] runs the joint part on any
/// pairs of rows, so a catalogue's towers run once however many pairs are scored.
pub struct Encoded {
    pub tower: Tower,
    /// How many clips (rows) the values hold.
    pub clips: i64,
    values: Vec<(usize, Tensor)>,
    /// Encoded for training (the training plan's frontier) or for evaluation.
    train: bool,
    /// `[N]` int64: each clip's own steps, when given (joint steps that pool over time
    /// gather them per pair).
    lengths: Option<Tensor>,
}

impl Encoded {
    /// The rows of several encodings of the same tower, one after the other (clips encoded
    /// in chunks to bound memory).
    pub fn cat(parts: &[Encoded]) -> Result<Encoded, tch::TchError> {
        let Some(first) = parts.first() else {
            return Err(tch::TchError::Kind("no encoded clips to join".into()));
        };
        let mut values = Vec::with_capacity(first.values.len());
        for (k, (slot, _)) in first.values.iter().enumerate() {
            let pieces: Vec<&Tensor> = parts.iter().map(|p| &p.values[k].1).collect();
            values.push((*slot, Tensor::f_cat(&pieces, 0)?));
        }
        let lengths: Option<Vec<&Tensor>> = parts.iter().map(|p| p.lengths.as_ref()).collect();
        let lengths = lengths.map(|l| Tensor::f_cat(&l, 0)).transpose()?;
        let clips = parts.iter().map(|p| p.clips).sum();
        Ok(Encoded { tower: first.tower, clips, values, train: first.train, lengths })
    }

    /// The values of rows `rows` only (e.g. to move a shortlist's clips to the device).
    pub fn select(&self, rows: &Tensor) -> Result<Encoded, tch::TchError> {
        let values = self
            .values
            .iter()
            .map(|(s, t)| Ok::<_, tch::TchError>((*s, t.f_index_select(0, rows)?)))
            .collect::<Result<_, _>>()?;
        let lengths = self.lengths.as_ref().map(|l| l.f_index_select(0, &rows.f_to_device(l.device())?)).transpose()?;
        let clips = rows.size().first().copied().unwrap_or(0);
        Ok(Encoded { tower: self.tower, clips, values, train: self.train, lengths })
    }

    /// Bytes held, to size chunks against a memory budget.
    pub fn bytes(&self) -> i64 {
        self.values.iter().map(|(_, t)| t.numel() as i64 * t.kind().elt_size_in_bytes() as i64).sum()
    }

    /// Where the values live.
    pub fn device(&self) -> Device {
        self.values.first().map_or(Device::Cpu, |(_, t)| t.device())
    }

    /// A copy on `device`.
    pub fn to_device(&self, device: Device) -> Result<Encoded, tch::TchError> {
        let values = self
            .values
            .iter()
            .map(|(s, t)| Ok::<_, tch::TchError>((*s, t.f_to_device(device)?)))
            .collect::<Result<_, _>>()?;
        let lengths = self.lengths.as_ref().map(|l| l.f_to_device(device)).transpose()?;
        Ok(Encoded { tower: self.tower, clips: self.clips, values, train: self.train, lengths })
    }

    fn get(&self, slot: usize) -> Option<&Tensor> {
        self.values.iter().find(|(s, _)| *s == slot).map(|(_, t)| t)
    }
}

impl Model {
    /// Runs the model on pairs. Returns, per output, its tensors: one per pair for
    /// `logit` and `distance` outputs; for `embeddings`, the video embedding of each video
    /// clip and the audio embedding of each audio clip (not per pair).
    pub fn forward(&self, batch: &PairBatch, train: bool) -> Result<Vec<Vec<Tensor>>, LowerError> {
        let _cast = self.autocast()?;
        let [video_lengths, audio_lengths] = batch.lengths.map_or([None, None], |[v, a]| [Some(v), Some(a)]);
        let video = self.encode_with(Tower::Video, batch.video, video_lengths, train)?;
        let audio = self.encode_with(Tower::Audio, batch.audio, audio_lengths, train)?;
        self.score_pairs(&video, &audio, batch.video_rows, batch.audio_rows, train)
    }

    /// Runs one modality's tower (`Tower::Video` or `Tower::Audio`) on `[N, ...]` clips of
    /// that stream and keeps what the joint part and the outputs read. In evaluation, many
    /// clips run `ENCODE_SLICE` (64) at a time (the results do not depend on the batch there).
    ///
    /// `clips` are floats, or the data's uint8 features (`feed::gather_bytes`), which are
    /// then dequantized a slice at a time: a catalogue's chunk of clips is held as bytes,
    /// and each slice's floats are written in one pass by the thread that encodes it.
    pub fn encode(&self, tower: Tower, clips: &Tensor, train: bool) -> Result<Encoded, LowerError> {
        self.encode_with(tower, clips, None, train)
    }

    /// [`Model::encode`] of clips that may be shorter than the tensor's steps: `lengths`
    /// (`[N]` int64) are each clip's own steps, and pooling over time leaves the rest out.
    pub fn encode_with(
        &self,
        tower: Tower,
        clips: &Tensor,
        lengths: Option<&Tensor>,
        train: bool,
    ) -> Result<Encoded, LowerError> {
        let _cast = self.autocast()?;
        let torch = |error| LowerError::Torch { node: format!("{} clips", tower.label()), error };
        let levels = if clips.kind() == Kind::Uint8 { Some(feed::levels().map_err(torch)?) } else { None };
        let n = clips.size().first().copied().unwrap_or(0);
        if train || n <= ENCODE_SLICE {
            return self.encode_slice(tower, &floats(clips, levels.as_ref()).map_err(torch)?, lengths, train);
        }
        let parts = match concurrent::encode_workers(self, n) {
            Some(workers) => self.encode_concurrently(tower, clips, lengths, levels.as_ref(), workers)?,
            None => self.encode_slices(tower, clips, lengths, levels.as_ref())?,
        };
        Encoded::cat(&parts).map_err(torch)
    }

    /// Evaluation's encodings of `clips`, [`ENCODE_SLICE`] clips at a time, in order (bytes
    /// dequantized through `levels`).
    fn encode_slices(
        &self,
        tower: Tower,
        clips: &Tensor,
        lengths: Option<&Tensor>,
        levels: Option<&[f32; 256]>,
    ) -> Result<Vec<Encoded>, LowerError> {
        let torch = |error| LowerError::Torch { node: format!("{} clips", tower.label()), error };
        let n = clips.size().first().copied().unwrap_or(0);
        let mut parts = Vec::new();
        for start in (0..n).step_by(ENCODE_SLICE as usize) {
            let len = ENCODE_SLICE.min(n - start);
            let slice = clips.f_narrow(0, start, len).map_err(torch)?;
            let slice_lengths = lengths.map(|l| l.f_narrow(0, start, len)).transpose().map_err(torch)?;
            parts.push(self.encode_slice(
                tower,
                &floats(&slice, levels).map_err(torch)?,
                slice_lengths.as_ref(),
                false,
            )?);
        }
        Ok(parts)
    }

    fn encode_slice(
        &self,
        tower: Tower,
        clips: &Tensor,
        lengths: Option<&Tensor>,
        train: bool,
    ) -> Result<Encoded, LowerError> {
        let stream = if tower == Tower::Audio { "audio" } else { "video" };
        let mut values: Vec<Option<Tensor>> = (0..self.slots).map(|_| None).collect();
        for input in self.inputs.iter().filter(|i| i.stream == stream) {
            values[input.slot] = Some(clips.shallow_clone());
        }
        if let Some(input) = self.inputs.iter().find(|i| i.stream != "video" && i.stream != "audio") {
            return Err(LowerError::MissingInput { input: input.name.clone(), stream: input.stream.clone() });
        }
        let plan = self.plan(train);
        let mine = |t: Tower| t == tower || (tower == Tower::Video && t == Tower::Other);
        self.run_unbatched(plan, &mut values, train)?;
        for step in plan.steps.iter().filter(|s| mine(s.tower) && !s.unbatched) {
            let torch = |error| LowerError::Torch { node: step.node.clone(), error };
            let xs: Vec<&Tensor> = step.inputs.iter().filter_map(|&s| values[s].as_ref()).collect();
            let value = match &step.kind {
                StepKind::Project { starts, bias } => self.project(step, &xs, starts, *bias),
                _ => self.run_layer(step, &xs, lengths, train),
            };
            values[step.slot] = Some(value.map_err(torch)?);
            for &slot in &step.frees {
                if !plan.frontier.iter().any(|&(s, _)| s == slot) {
                    values[slot] = None;
                }
            }
        }
        let mut kept = Vec::new();
        for &(slot, _) in plan.frontier.iter().filter(|(_, t)| mine(*t)) {
            kept.push((slot, values[slot].take().ok_or(LowerError::Unchecked)?));
        }
        let clips = clips.size().first().copied().unwrap_or(0);
        let lengths = lengths.map(Tensor::shallow_clone);
        Ok(Encoded { tower, clips, values: kept, train, lengths })
    }

    /// A step's layer on its inputs; with `lengths` (`[N]` int64, each row's own steps) and a
    /// step that pools or attends over time ([`plan::Step::mask`]), padded steps left out.
    /// Rows as long as the masked input (the usual batch) run unmasked, so data without
    /// padding gives exactly the numbers it gave before masks existed.
    fn run_layer(
        &self,
        step: &Step,
        xs: &[&Tensor],
        lengths: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor, tch::TchError> {
        let layer = &self.layers[step.layer];
        let masked = step.mask.and(lengths).zip(layer.masked_input().and_then(|k| xs.get(k)));
        if let Some((lengths, x)) = masked {
            let steps = x.size().get(1).copied().unwrap_or(0);
            if lengths.f_min()?.int64_value(&[]) < steps {
                let positions = Tensor::f_arange(steps, (Kind::Int64, x.device()))?.f_unsqueeze(0)?;
                let valid = positions.f_lt_tensor(&lengths.f_to_device(x.device())?.f_unsqueeze(1)?)?;
                return layer.forward_masked(xs, &valid, train);
            }
        }
        layer.forward(xs, train)
    }

    /// The steps whose values have no batch axis (learned tensors): run first in every
    /// phase, since any phase may read them.
    fn run_unbatched(&self, plan: &Plan, values: &mut [Option<Tensor>], train: bool) -> Result<(), LowerError> {
        for step in plan.steps.iter().filter(|s| s.unbatched) {
            let torch = |error| LowerError::Torch { node: step.node.clone(), error };
            let xs: Vec<&Tensor> = step.inputs.iter().filter_map(|&s| values[s].as_ref()).collect();
            values[step.slot] = Some(self.layers[step.layer].forward(&xs, train).map_err(torch)?);
        }
        Ok(())
    }

    /// The device the model's weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Float elements the joint part creates per pair in evaluation (its nodes' outputs
    /// plus the tower rows it gathers; an upper bound, since values are freed after their
    /// last reader), with symbolic lengths set to `steps`: what a memory budget divides by
    /// to bound how many pairs run at once.
    pub fn joint_elems_per_pair(&self, steps: i64) -> i64 {
        let plan = self.plan(false);
        // Scored as a grid, nothing is gathered per pair: the joint values and the first
        // layer's own working floats.
        if let Some((root, _)) = self.grid_root() {
            let joint = plan.steps.iter().filter(|s| s.tower == Tower::Joint).map(|s| s.slot);
            return self.elems(joint, steps) + self.layers[root.layer].pairwise_form().unwrap_or(0);
        }
        // A factored layer's shares stay per clip: pairs read them row by row, never gathered.
        let shares: Vec<usize> =
            plan.steps.iter().filter(|s| matches!(s.kind, StepKind::Project { .. })).map(|s| s.slot).collect();
        let gathered = plan.frontier.iter().map(|&(slot, _)| slot).filter(|slot| !shares.contains(slot));
        let joint = plan.steps.iter().filter(|s| s.tower == Tower::Joint).map(|s| s.slot);
        self.elems(gathered.chain(joint), steps)
    }

    /// Float elements one tower creates per clip (its input and every node's output; an
    /// upper bound), with symbolic lengths set to `steps`.
    pub fn tower_elems_per_clip(&self, tower: Tower, steps: i64) -> i64 {
        let slots = (0..self.slots).filter(|&s| self.shapes[s].0 == tower);
        self.elems(slots, steps)
    }

    fn elems(&self, slots: impl Iterator<Item = usize>, steps: i64) -> i64 {
        slots
            .filter_map(|s| self.shapes[s].1.as_ref())
            .map(|shape| shape.concrete(1, steps).iter().fold(1i64, |a, &b| a.saturating_mul(b.max(1))))
            .fold(0i64, |a, b| a.saturating_add(b))
    }

    /// The first output's embedding for an encoding's tower (`[N, ...]`), when the first
    /// output is `embeddings`.
    pub fn embedding(&self, enc: &Encoded) -> Option<Tensor> {
        let out = self.outputs.first().filter(|o| o.kind == OutputKind::Embeddings)?;
        let k = out.towers.iter().position(|&t| t == enc.tower)?;
        enc.get(out.slots[k]).and_then(|t| precision::to_fp32(t.shallow_clone()).ok())
    }

    /// Sets the forward pass's floating-point format (see [`precision`]).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// An autocast region for the model's precision on this thread (`None` for fp32).
    pub(crate) fn autocast(&self) -> Result<Option<precision::Autocast>, LowerError> {
        Ok(precision::Autocast::enter(self.precision, self.device())?)
    }

    /// Whether the model has a joint part (pairs) or compares tower outputs directly.
    pub fn has_joint(&self) -> bool {
        self.steps.iter().any(|s| s.tower == Tower::Joint)
    }

    /// Chooses when the first joint layers are factored (default: [`Factoring::Auto`]).
    pub fn set_factoring(&mut self, factoring: Factoring) {
        self.factoring = factoring;
        self.plans = [false, true].map(|train| Plan::build(&self.steps, &self.sites, &self.outputs, factoring, train));
    }

    /// The current factoring policy.
    pub fn factoring(&self) -> Factoring {
        self.factoring
    }

    /// The nodes whose input map runs factored in evaluation (`false`) or training (`true`).
    pub fn factored_nodes(&self, train: bool) -> Vec<&str> {
        let plan = self.plan(train);
        plan.steps.iter().filter(|s| matches!(s.kind, StepKind::Projected { .. })).map(|s| s.node.as_str()).collect()
    }

    fn plan(&self, train: bool) -> &Plan {
        &self.plans[usize::from(train)]
    }

    fn factor_input(&self, step: &Step) -> Result<&dyn FactorInput, tch::TchError> {
        self.layers[step.layer]
            .factor_input()
            .ok_or_else(|| tch::TchError::Kind(format!("`{}` cannot factor its input", step.node)))
    }

    /// A tower's share of a factored layer: the sum of its inputs' projections.
    fn project(&self, step: &Step, xs: &[&Tensor], starts: &[i64], bias: bool) -> Result<Tensor, tch::TchError> {
        let factored = self.factor_input(step)?;
        let mut sum: Option<Tensor> = None;
        for (k, (x, &start)) in xs.iter().zip(starts).enumerate() {
            let share = factored.project(x, start, bias && k == 0)?;
            sum = Some(match sum {
                Some(s) => s.f_add(&share)?,
                None => share,
            });
        }
        sum.ok_or_else(|| tch::TchError::Kind(format!("`{}` has no inputs to project", step.node)))
    }
}

/// `clips` as floats: bytes dequantized through `levels` when given.
fn floats(clips: &Tensor, levels: Option<&[f32; 256]>) -> Result<Tensor, tch::TchError> {
    match levels {
        Some(levels) => feed::dequantize_tensor(clips, levels),
        None => Ok(clips.shallow_clone()),
    }
}

/// How many [`ENCODE_SLICE`]s `clips` clips make (the last one may be short).
fn encode_slices_of(clips: i64) -> i64 {
    (clips + ENCODE_SLICE - 1).div_euclid(ENCODE_SLICE)
}

/// Row indices `0..n` as an int64 tensor, for batches where pair i is clip i of both.
pub fn aligned_rows(n: usize, device: Device) -> Result<Tensor, tch::TchError> {
    Tensor::f_arange(n as i64, (tch::Kind::Int64, device))
}
