//! The ONNX back-end: a model as an ONNX graph (opset 17) written from the IR directly, the
//! weights of a run's checkpoint as initializers under their safetensors names
//! (`vproj.weight`, as `avc export` writes them), every op in evaluation mode (batch norm on
//! its running statistics, dropout the identity). The batch axis is symbolic (`B`), and so
//! are the time axes the file leaves symbolic.
//!
//! Split, it writes the graphs `avc eval` runs: `video_tower.onnx` and `audio_tower.onnx`
//! (once per clip) and `joint.onnx` (once per pair), with a first joint layer on a
//! concatenation of tower values factored as `avc eval` factors it: each tower's share of
//! its input map in the tower's graph. An op or parameter without a faithful ONNX form is
//! an error naming the node and the op ([`OnnxError::Unsupported`]), never a file that
//! computes something else. docs/export.md has the op table and the split's names.

mod builder;
pub mod ops;
mod part;
mod proto;

use super::ExportError;
use crate::lower::{self, Model};
use crate::outputs;
use crate::report::{Place, Report};
use crate::run::{self, checkpoint::Checkpoint};
use crate::train::TrainError;
use avc_lang::check::Checked;
use avc_lang::ir::Graph;
use ops::Weight;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The opset the graphs are written for.
pub const OPSET: i64 = 17;
/// The split's three files, in the order they are written.
pub const SPLIT_FILES: [&str; 3] = ["video_tower.onnx", "audio_tower.onnx", "joint.onnx"];

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Output(#[from] outputs::OutputError),
    #[error("node `{node}` (`{op}`) has no faithful ONNX form: {why}")]
    Unsupported { node: String, op: &'static str, why: String },
    #[error("the model cannot be split into towers and a joint part: {0}")]
    Split(String),
}

impl From<TrainError> for OnnxError {
    fn from(e: TrainError) -> Self {
        OnnxError::Export(ExportError::Run(e))
    }
}

impl Report for OnnxError {
    fn exit_code(&self) -> u8 {
        match self {
            OnnxError::Export(e) => e.exit_code(),
            OnnxError::Output(e) => e.exit_code(),
            OnnxError::Unsupported { .. } | OnnxError::Split(_) => 2,
        }
    }

    fn place(&self) -> Option<Place> {
        match self {
            OnnxError::Export(e) => e.place(),
            OnnxError::Unsupported { node, .. } => Some(Place::Node(node.clone())),
            _ => None,
        }
    }
}

/// What [`export_onnx`] wrote.
#[derive(Debug, Clone)]
pub struct OnnxExported {
    /// The file, or the split's three files.
    pub files: Vec<PathBuf>,
    /// ONNX nodes and initializers in all of them.
    pub nodes: usize,
    pub initializers: usize,
}

/// Writes checkpoint `checkpoint` (`best` or `last`) of `run` as ONNX: one graph at `out`,
/// or with `split` a directory `out` holding [`SPLIT_FILES`]. The output is claimed first
/// under the one rule for outputs (docs/safety.md: never the run's own files; an existing
/// file or directory only if `avc export` wrote it as ONNX, or with `force`), and written
/// whole (an older one stays until the new one is complete).
pub fn export_onnx(
    run: &Path,
    checkpoint: &str,
    out: &Path,
    split: bool,
    force: bool,
) -> Result<OnnxExported, OnnxError> {
    claim(run, checkpoint, out, split, force)?;
    let opened = run::open::open_run(run).map_err(TrainError::from)?;
    let compiled = &opened.compiled;
    let mut model = lower::lower(&compiled.graph, &compiled.checked, tch::Device::Cpu).map_err(TrainError::from)?;
    let dir = Checkpoint::locate(run, checkpoint).map_err(TrainError::from)?;
    let weights = dir.join(run::checkpoint::WEIGHTS);
    model.vs.load(&weights).map_err(|e| ExportError::Load { path: weights.display().to_string(), source: e.into() })?;
    let meta = [("avc.architecture", opened.architecture.as_str()), ("avc.checkpoint", checkpoint)];
    export_model(&compiled.graph, &compiled.checked, &model, out, split, &meta)
}

/// Claims `out` for [`export_onnx`] (what `avc export --to onnx` calls before reading).
pub fn claim(run: &Path, checkpoint: &str, out: &Path, split: bool, force: bool) -> Result<(), OnnxError> {
    let own = |p: &Path| {
        [outputs::EXPORTED, outputs::SAMPLE, outputs::ONNX_MODEL].iter().any(|&k| outputs::is_own_file(p, k))
            || avc_lang::output::is_marked(p, outputs::ONNX_SPLIT)
    };
    let mut inputs = outputs::of_run(run, checkpoint);
    let entries = std::fs::read_dir(run).into_iter().flatten().flatten().map(|e| e.path());
    inputs.extend(entries.filter(|p| !own(p)).map(outputs::Input::Path));
    let kind = if split { outputs::Kind::Dir(outputs::ONNX_SPLIT) } else { outputs::Kind::File(outputs::ONNX_MODEL) };
    outputs::claim("-o", out, kind, &inputs, force)?;
    Ok(())
}

/// The variables of a lowered model by their safetensors names, as float32.
pub fn weights_of(model: &Model) -> Result<HashMap<String, Weight>, OnnxError> {
    let mut named = HashMap::new();
    for (name, t) in model.vs.variables() {
        let torch = |e: tch::TchError| OnnxError::Export(ExportError::Torch(e));
        let t = t.detach().f_to_kind(tch::Kind::Float).map_err(torch)?.f_contiguous().map_err(torch)?;
        let flat = t.f_flatten(0, -1).map_err(torch)?;
        let values = Vec::<f32>::try_from(&flat).map_err(torch)?;
        named.insert(name, (values, t.size()));
    }
    Ok(named)
}

/// Writes a lowered model (its current weights) as ONNX at `out`, whole or split, with
/// `meta` as metadata. No claim: [`export_onnx`] claims first; tests write to scratch.
pub fn export_model(
    graph: &Graph,
    checked: &Checked,
    model: &Model,
    out: &Path,
    split: bool,
    meta: &[(&str, &str)],
) -> Result<OnnxExported, OnnxError> {
    let weights = weights_of(model)?;
    let models = if split {
        part::split(graph, checked, &weights, meta)?
    } else {
        vec![part::whole(graph, checked, &weights, meta)?]
    };
    let nodes = models.iter().map(|m| m.graph.as_ref().map_or(0, |g| g.node.len())).sum();
    let initializers = models.iter().map(|m| m.graph.as_ref().map_or(0, |g| g.initializer.len())).sum();
    let io = |path: &Path, e: std::io::Error| {
        OnnxError::Export(ExportError::Write { path: path.display().to_string(), source: e.into() })
    };
    let files = if split {
        let body = |dir: &Path| -> Result<(), OnnxError> {
            for (file, m) in SPLIT_FILES.iter().zip(&models) {
                let path = dir.join(file);
                std::fs::write(&path, prost::Message::encode_to_vec(m)).map_err(|e| io(&path, e))?;
            }
            Ok(())
        };
        avc_lang::output::write_dir(out, outputs::ONNX_SPLIT, body, io)?;
        SPLIT_FILES.iter().map(|f| out.join(f)).collect()
    } else {
        let bytes = prost::Message::encode_to_vec(&models[0]);
        avc_lang::atomic::write(out, &bytes).map_err(|e| io(out, e))?;
        vec![out.to_path_buf()]
    };
    Ok(OnnxExported { files, nodes, initializers })
}
