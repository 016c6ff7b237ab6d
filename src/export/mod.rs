//! The back-end for PyTorch users: a run's trained weights as one safetensors file whose
//! tensor names are the `state_dict` names of the torch.nn module tree that mirrors the
//! graph (one module per node, named after it; a block instance is a module holding its
//! nodes). Optionally a sample: inputs and the outputs avc computes for them, so a port to
//! PyTorch can be checked number for number. docs/export.md lists the names per op.

pub mod onnx;
pub mod torch;

use crate::lower::{self, PairBatch, feed};
use crate::report::{Cause, Place, Report};
use crate::run::{self, checkpoint::Checkpoint};
use crate::train::TrainError;
use avc_lang::ast::OutputKind;
use avc_lang::ir::NodeKind;
use safetensors::{Dtype, tensor::TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Run(#[from] TrainError),
    #[error("cannot load {path}: {source}")]
    Load {
        path: String,
        #[source]
        source: Cause,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: Cause,
    },
    #[error("libtorch failed: {0}")]
    Torch(#[from] tch::TchError),
}

impl Report for ExportError {
    /// 2: a run, checkpoint or file that cannot be read or written; 1 only for libtorch.
    fn exit_code(&self) -> u8 {
        match self {
            ExportError::Torch(_) => 1,
            _ => 2,
        }
    }

    fn place(&self) -> Option<Place> {
        match self {
            ExportError::Run(e) => e.place(),
            ExportError::Load { path, .. } | ExportError::Write { path, .. } => Some(Place::Path(path.into())),
            ExportError::Torch(_) => None,
        }
    }
}

/// What [`export`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    pub path: PathBuf,
    /// Tensor names, sorted, with their shapes.
    pub tensors: Vec<(String, Vec<i64>)>,
    pub sample: Option<PathBuf>,
}

/// Writes the weights of checkpoint `which` (`best` or `last`) of `run` to `out`, and
/// with `sample`, the first `sample_clips` test clips and the model's outputs on them.
pub fn export(run: &Path, which: &str, out: &Path, sample: Option<(&Path, usize)>) -> Result<Exported, ExportError> {
    let opened = crate::run::open::open_run(run).map_err(crate::train::TrainError::from)?;
    let graph = &opened.compiled.graph;
    let mut model = lower::lower(graph, &opened.compiled.checked, Device::Cpu).map_err(TrainError::from)?;
    let dir = Checkpoint::locate(run, which).map_err(TrainError::from)?;
    let weights = dir.join(run::checkpoint::WEIGHTS);
    model.vs.load(&weights).map_err(|e| ExportError::Load { path: weights.display().to_string(), source: e.into() })?;
    let named = state_dict(&model, graph);
    let outputs: Vec<String> = graph.outputs.iter().map(|o| format!("{}:{}", o.name, o.kind.keyword())).collect();
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("avc.architecture".to_string(), opened.architecture.clone()),
        ("avc.checkpoint".to_string(), which.to_string()),
        ("avc.outputs".to_string(), outputs.join(",")),
        ("avc.written_by".to_string(), "avc export".to_string()),
    ]);
    write(&named, Some(metadata), out)?;
    let tensors = named.iter().map(|(k, t)| (k.clone(), t.size())).collect();
    let sample = match sample {
        Some((path, clips)) => {
            write_sample(&model, &opened, clips, path)?;
            Some(path.to_path_buf())
        }
        None => None,
    };
    Ok(Exported { path: out.to_path_buf(), tensors, sample })
}

/// The model's tensors under their `state_dict` names, sorted: its variables, and the state
/// PyTorch's modules keep that avc has no variable for (BatchNorm's step counter: a strict
/// `load_state_dict` wants it), as int64 zeros; each op names its own.
pub fn state_dict(model: &lower::Model, graph: &avc_lang::ir::Graph) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> =
        model.vs.variables().into_iter().map(|(k, v)| (k, v.detach().contiguous())).collect();
    for &id in graph.topo() {
        if let NodeKind::Op(op) = &graph.node(id).kind {
            for entry in op.torch_extra_state() {
                named.push((format!("{}.{entry}", graph.node(id).name), Tensor::from(0i64)));
            }
        }
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// `video`, `audio` (float, as the model sees them) for the first `clips` test clips, and
/// per output `output.<name>` (scores of the aligned pairs) or `output.<name>.video` and
/// `output.<name>.audio` (embeddings), computed in evaluation mode.
fn write_sample(
    model: &lower::Model,
    opened: &crate::run::open::OpenedRun,
    clips: usize,
    path: &Path,
) -> Result<(), ExportError> {
    let data =
        crate::data::expect::load(&opened.compiled, &opened.data_source).map_err(crate::train::TrainError::from)?;
    let test = &data.test;
    let rows: Vec<usize> = (0..clips.min(test.len())).collect();
    let video = feed::gather(&test.video, test.video_steps, test.video_dim, &rows, Device::Cpu)?;
    let audio = feed::gather(&test.audio, test.audio_steps, test.audio_dim, &rows, Device::Cpu)?;
    let named = sample_tensors(model, &video, &audio)?;
    let metadata = HashMap::from([("avc.written_by".to_string(), "avc export --sample".to_string())]);
    write(&named, Some(metadata), path)
}

/// A sample's tensors for clips `video` and `audio` (`[N, ...]` floats, pair i of clip i of
/// both): the clips, and per output `output.<name>` or `output.<name>.video` and
/// `output.<name>.audio`, computed in evaluation mode.
pub fn sample_tensors(
    model: &lower::Model,
    video: &Tensor,
    audio: &Tensor,
) -> Result<Vec<(String, Tensor)>, ExportError> {
    let n = video.size().first().copied().unwrap_or(0) as usize;
    let aligned = lower::aligned_rows(n, Device::Cpu)?;
    let batch = PairBatch { video, audio, video_rows: &aligned, audio_rows: &aligned, lengths: None };
    let outs = {
        let _guard = tch::no_grad_guard();
        model.forward(&batch, false).map_err(TrainError::from)?
    };
    let mut named = vec![("video".to_string(), video.shallow_clone()), ("audio".to_string(), audio.shallow_clone())];
    for (binding, tensors) in model.outputs.iter().zip(outs) {
        match (binding.kind, tensors.as_slice()) {
            (OutputKind::Embeddings, [v, a]) => {
                named.push((format!("output.{}.video", binding.name), v.shallow_clone()));
                named.push((format!("output.{}.audio", binding.name), a.shallow_clone()));
            }
            (_, [t, ..]) => named.push((format!("output.{}", binding.name), t.shallow_clone())),
            _ => {}
        }
    }
    Ok(named)
}

/// Writes tensors (float32 or int64) as safetensors, with optional metadata, atomically
/// (an older file stays whole until the new one is complete).
pub fn write(
    named: &[(String, Tensor)],
    metadata: Option<HashMap<String, String>>,
    path: &Path,
) -> Result<(), ExportError> {
    let mut buffers = Vec::with_capacity(named.len());
    for (name, t) in named {
        let (dtype, t) = match t.kind() {
            Kind::Int64 => (Dtype::I64, t.shallow_clone()),
            _ => (Dtype::F32, t.f_to_kind(Kind::Float)?),
        };
        let t = t.f_contiguous()?;
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let mut bytes = vec![0u8; t.numel() * if dtype == Dtype::I64 { 8 } else { 4 }];
        t.f_copy_data_u8(&mut bytes, t.numel())?;
        buffers.push((name.clone(), dtype, shape, bytes));
    }
    let bad = |source: Cause| ExportError::Write { path: path.display().to_string(), source };
    let views: Vec<(String, TensorView)> = buffers
        .iter()
        .map(|(n, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v)).map_err(|e| bad(e.into())))
        .collect::<Result<_, _>>()?;
    let bytes = safetensors::serialize(views, metadata).map_err(|e| bad(e.into()))?;
    avc_lang::atomic::write(path, &bytes).map_err(|e| bad(e.into()))
}
