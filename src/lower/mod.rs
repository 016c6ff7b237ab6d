//! Lowering: one tch layer per IR node, with its variables in a VarStore under the node's
//! dotted name (so weights are named `v1.rnn.weight_ih_l0`), run in topological order.
//! Each intermediate tensor is dropped right after its last reader has run.

pub mod feed;

use crate::ast::OutputKind;
use crate::check::{Checked, Tower};
use crate::ir::{Graph, NodeKind};
use crate::ops::Layer;
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
    Ok(Model { vs, inputs, outputs, layers, steps, slots: graph.len() })
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

impl Model {
    /// Runs the model on pairs. Returns, per output, its tensors: one per pair for
    /// `logit` and `distance` outputs; for `embeddings`, the video embedding of each video
    /// clip and the audio embedding of each audio clip (not per pair).
    pub fn forward(&self, batch: &PairBatch, train: bool) -> Result<Vec<Vec<Tensor>>, LowerError> {
        let mut values: Vec<Option<Tensor>> = (0..self.slots).map(|_| None).collect();
        let mut per_pair: Vec<Option<Tensor>> = (0..self.slots).map(|_| None).collect();
        for input in &self.inputs {
            let t = match input.stream.as_str() {
                "video" => batch.video,
                "audio" => batch.audio,
                _ => return Err(LowerError::MissingInput { input: input.name.clone(), stream: input.stream.clone() }),
            };
            values[input.slot] = Some(t.shallow_clone());
        }
        for step in &self.steps {
            let torch = |error| LowerError::Torch { node: step.node.clone(), error };
            if step.tower == Tower::Joint {
                for (&slot, &tower) in step.inputs.iter().zip(&step.input_towers) {
                    if tower != Tower::Joint && per_pair[slot].is_none() {
                        per_pair[slot] = Some(self.gather(&values, slot, tower, batch).map_err(torch)?);
                    }
                }
            }
            let xs: Vec<&Tensor> = step
                .inputs
                .iter()
                .zip(&step.input_towers)
                .filter_map(|(&s, &t)| {
                    if step.tower == Tower::Joint && t != Tower::Joint {
                        per_pair[s].as_ref()
                    } else {
                        values[s].as_ref()
                    }
                })
                .collect();
            let y = self.layers[step.layer].forward(&xs, train).map_err(torch)?;
            values[step.slot] = Some(y);
            for &slot in &step.frees {
                values[slot] = None;
                per_pair[slot] = None;
            }
        }
        let mut outputs = Vec::new();
        for o in &self.outputs {
            let mut tensors = Vec::new();
            for (&slot, &tower) in o.slots.iter().zip(&o.towers) {
                let per_pair_wanted = o.kind != OutputKind::Embeddings && tower != Tower::Joint;
                let t = if per_pair_wanted {
                    self.gather(&values, slot, tower, batch)
                        .map_err(|error| LowerError::Torch { node: o.name.clone(), error })?
                } else {
                    values[slot].as_ref().map(Tensor::shallow_clone).ok_or(LowerError::Unchecked)?
                };
                tensors.push(t);
            }
            outputs.push(tensors);
        }
        Ok(outputs)
    }

    /// A tower value's rows for each pair.
    fn gather(
        &self,
        values: &[Option<Tensor>],
        slot: usize,
        tower: Tower,
        batch: &PairBatch,
    ) -> Result<Tensor, tch::TchError> {
        let rows = if tower == Tower::Audio { batch.audio_rows } else { batch.video_rows };
        match &values[slot] {
            Some(v) => v.f_index_select(0, rows),
            None => Err(tch::TchError::Kind(format!("value of slot {slot} was freed before use"))),
        }
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }
}

/// Row indices `0..n` as an int64 tensor, for batches where pair i is clip i of both.
pub fn aligned_rows(n: usize, device: Device) -> Result<Tensor, tch::TchError> {
    Tensor::f_arange(n as i64, (tch::Kind::Int64, device))
}
