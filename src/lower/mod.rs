//! Lowering: one tch layer per IR node, with its variables in a VarStore under the node's
//! dotted name (so weights are named `v1.rnn.weight_ih_l0`), run in topological order.
//! Each intermediate tensor is dropped right after its last reader has run.

pub mod feed;

use crate::ast::OutputKind;
use crate::check::{Checked, Tower};
use crate::ir::{Graph, NodeKind};
use crate::ops::Layer;
use crate::shape::Shape;
use tch::{Device, Tensor, nn};

#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    #[error("the model has errors; run `avc check` to see them")]
    Unchecked,
    #[error("node `{node}`: libtorch failed: {error}")]
    Torch { node: String, error: tch::TchError },
    #[error("no tensor was given for input `{input}` (stream `{stream}`)")]
    MissingInput { input: String, stream: String },
}

/// One executable step: a node's layer, where its inputs live, what can be freed after.
struct Step {
    node: String,
    slot: usize,
    tower: Tower,
    input_towers: Vec<Tower>,
    /// Index into [`Model::layers`]; nodes that share weights share the layer.
    layer: usize,
    inputs: Vec<usize>,
    frees: Vec<usize>,
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

/// A lowered, runnable model.
pub struct Model {
    pub vs: nn::VarStore,
    pub inputs: Vec<InputBinding>,
    pub outputs: Vec<OutputBinding>,
    layers: Vec<Box<dyn Layer>>,
    steps: Vec<Step>,
    slots: usize,
    /// Tower values (and inputs) that joint nodes or outputs read, with their tower: what
    /// [`Model::encode`] keeps.
    frontier: Vec<(usize, Tower)>,
    /// Every node's tower and per-sample shape, by slot: what sizes chunks of clips and
    /// pairs against a memory budget.
    shapes: Vec<(Tower, Option<Shape>)>,
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
        let layer =
            op.lower(&path, &in_shapes).map_err(|error| LowerError::Torch { node: node.name.clone(), error })?;
        layer_of[id.index()] = layers.len();
        layers.push(layer);
    }
    let mut steps = Vec::new();
    let mut inputs = Vec::new();
    for &id in graph.topo() {
        let node = graph.node(id);
        if let NodeKind::Input { stream, .. } = &node.kind {
            inputs.push(InputBinding { name: node.name.clone(), stream: stream.clone(), slot: id.index() });
            continue;
        }
        let in_ids = graph.inputs_of(id);
        steps.push(Step {
            node: node.name.clone(),
            slot: id.index(),
            tower: checked.tower(id),
            input_towers: in_ids.iter().map(|&i| checked.tower(i)).collect(),
            layer: layer_of[node.shares.unwrap_or(id).index()],
            inputs: in_ids.iter().map(|i| i.index()).collect(),
            frees: Vec::new(),
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
    plan_frees(&mut steps, &outputs);
    let frontier = frontier(graph, checked);
    let shapes = (0..graph.len()).map(|i| (checked.towers[i], checked.shapes[i].clone())).collect();
    Ok(Model { vs, inputs, outputs, layers, steps, slots: graph.len(), frontier, shapes })
}

/// The tower values (inputs included) read by a joint node or by an output.
fn frontier(graph: &Graph, checked: &Checked) -> Vec<(usize, Tower)> {
    let mut read = vec![false; graph.len()];
    for &id in graph.topo() {
        if checked.tower(id) == Tower::Joint {
            for i in graph.inputs_of(id) {
                read[i.index()] = true;
            }
        }
    }
    for o in &graph.outputs {
        for &i in &o.from {
            read[i.index()] = true;
        }
    }
    graph
        .topo()
        .iter()
        .map(|&id| (id.index(), checked.tower(id)))
        .filter(|&(slot, tower)| read[slot] && tower != Tower::Joint)
        .collect()
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
        Ok(Encoded { tower: first.tower, clips: parts.iter().map(|p| p.clips).sum(), values })
    }

    /// The values of rows `rows` only (e.g. to move a shortlist's clips to the device).
    pub fn select(&self, rows: &Tensor) -> Result<Encoded, tch::TchError> {
        let values = self
            .values
            .iter()
            .map(|(s, t)| Ok::<_, tch::TchError>((*s, t.f_index_select(0, rows)?)))
            .collect::<Result<_, _>>()?;
        Ok(Encoded { tower: self.tower, clips: rows.size().first().copied().unwrap_or(0), values })
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
        Ok(Encoded { tower: self.tower, clips: self.clips, values })
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
        let video = self.encode(Tower::Video, batch.video, train)?;
        let audio = self.encode(Tower::Audio, batch.audio, train)?;
        self.score_pairs(&video, &audio, batch.video_rows, batch.audio_rows, train)
    }

    /// Runs one modality's tower (`Tower::Video` or `Tower::Audio`) on `[N, ...]` clips of
    /// that stream and keeps what the joint part and the outputs read.
    pub fn encode(&self, tower: Tower, clips: &Tensor, train: bool) -> Result<Encoded, LowerError> {
        let stream = if tower == Tower::Audio { "audio" } else { "video" };
        let mut values: Vec<Option<Tensor>> = (0..self.slots).map(|_| None).collect();
        for input in self.inputs.iter().filter(|i| i.stream == stream) {
            values[input.slot] = Some(clips.shallow_clone());
        }
        if let Some(input) = self.inputs.iter().find(|i| i.stream != "video" && i.stream != "audio") {
            return Err(LowerError::MissingInput { input: input.name.clone(), stream: input.stream.clone() });
        }
        let mine = |t: Tower| t == tower || (tower == Tower::Video && t == Tower::Other);
        for step in self.steps.iter().filter(|s| mine(s.tower)) {
            let torch = |error| LowerError::Torch { node: step.node.clone(), error };
            let xs: Vec<&Tensor> = step.inputs.iter().filter_map(|&s| values[s].as_ref()).collect();
            values[step.slot] = Some(self.layers[step.layer].forward(&xs, train).map_err(torch)?);
            for &slot in &step.frees {
                if !self.frontier.iter().any(|&(s, _)| s == slot) {
                    values[slot] = None;
                }
            }
        }
        let mut kept = Vec::new();
        for &(slot, _) in self.frontier.iter().filter(|(_, t)| mine(*t)) {
            kept.push((slot, values[slot].take().ok_or(LowerError::Unchecked)?));
        }
        Ok(Encoded { tower, clips: clips.size().first().copied().unwrap_or(0), values: kept })
    }

    /// Runs the joint part on pairs `(video_rows[p], audio_rows[p])` of two encodings.
    /// Returns what [`Model::forward`] returns.
    pub fn score_pairs(
        &self,
        video: &Encoded,
        audio: &Encoded,
        video_rows: &Tensor,
        audio_rows: &Tensor,
        train: bool,
    ) -> Result<Vec<Vec<Tensor>>, LowerError> {
        let rows = |tower: Tower| if tower == Tower::Audio { audio_rows } else { video_rows };
        let tower_value = |slot: usize, tower: Tower| {
            let enc = if tower == Tower::Audio { audio } else { video };
            enc.get(slot).ok_or(LowerError::Unchecked)
        };
        let mut values: Vec<Option<Tensor>> = (0..self.slots).map(|_| None).collect();
        for step in self.steps.iter().filter(|s| s.tower == Tower::Joint) {
            let torch = |error| LowerError::Torch { node: step.node.clone(), error };
            for (&slot, &tower) in step.inputs.iter().zip(&step.input_towers) {
                if tower != Tower::Joint && values[slot].is_none() {
                    let t = tower_value(slot, tower)?.f_index_select(0, rows(tower)).map_err(torch)?;
                    values[slot] = Some(t);
                }
            }
            let xs: Vec<&Tensor> = step.inputs.iter().filter_map(|&s| values[s].as_ref()).collect();
            values[step.slot] = Some(self.layers[step.layer].forward(&xs, train).map_err(torch)?);
            for &slot in &step.frees {
                values[slot] = None;
            }
        }
        let mut outputs = Vec::new();
        for o in &self.outputs {
            let mut tensors = Vec::new();
            for (&slot, &tower) in o.slots.iter().zip(&o.towers) {
                let torch = |error| LowerError::Torch { node: o.name.clone(), error };
                let t = match (tower, o.kind) {
                    (Tower::Joint, _) => {
                        values[slot].as_ref().map(Tensor::shallow_clone).ok_or(LowerError::Unchecked)?
                    }
                    (_, OutputKind::Embeddings) => tower_value(slot, tower)?.shallow_clone(),
                    _ => tower_value(slot, tower)?.f_index_select(0, rows(tower)).map_err(torch)?,
                };
                tensors.push(t);
            }
            outputs.push(tensors);
        }
        Ok(outputs)
    }

    /// The device the model's weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Float elements the joint part creates per pair (its nodes' outputs plus the tower
    /// rows it gathers; an upper bound, since values are freed after their last reader), with
    /// symbolic lengths set to `steps`: what a memory budget divides by to bound how many
    /// pairs run at once.
    pub fn joint_elems_per_pair(&self, steps: i64) -> i64 {
        let gathered = self.frontier.iter().map(|&(slot, _)| slot);
        let joint = self.steps.iter().filter(|s| s.tower == Tower::Joint).map(|s| s.slot);
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
        enc.get(out.slots[k]).map(Tensor::shallow_clone)
    }

    /// Whether the model has a joint part (pairs) or compares tower outputs directly.
    pub fn has_joint(&self) -> bool {
        self.steps.iter().any(|s| s.tower == Tower::Joint)
    }
}

/// Row indices `0..n` as an int64 tensor, for batches where pair i is clip i of both.
pub fn aligned_rows(n: usize, device: Device) -> Result<Tensor, tch::TchError> {
    Tensor::f_arange(n as i64, (tch::Kind::Int64, device))
}
