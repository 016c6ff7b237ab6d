//! The shared training harness: the course's pair protocol (each batch of B matched pairs
//! is doubled with B pairs whose audios are shuffled within the batch), BCE on a match
//! logit, Adam, ReduceLROnPlateau, and a validation split carved out of the training
//! clips. The schedule and the choice of the best checkpoint watch only validation; test
//! numbers are reported for the chosen checkpoint, never used to choose it.

pub mod config;
mod epoch;
mod report;
pub mod rundir;
pub mod schedule;

pub use config::{ConfigError, TrainConfig};
pub use epoch::EpochMetrics;
pub use report::format_epoch_line;

use crate::ast::OutputKind;
use crate::compile::Compiled;
use crate::data::{Clips, Dataset};
use crate::eval::Ranking;
use crate::lower::{self, LowerError};
use crate::shape::Dim;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rundir::{RunDir, RunDirError};
use std::path::PathBuf;
use tch::Device;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "input `{input}` reads stream `{stream}`, which the data ({origin}) does not have; it has `video` and `audio`"
    )]
    UnknownStream { input: String, stream: String, origin: String },
    #[error(
        "input `{input}` is declared as {declared} per clip, but the `{stream}` features of {origin} are [{}, {}]",
        found[0], found[1]
    )]
    DataShape { input: String, stream: String, declared: String, found: [usize; 2], origin: String },
    #[error("output `{output}` is a `{}`; this harness trains `logit` outputs (BCE) only so far", kind.keyword())]
    UnsupportedOutput { output: String, kind: OutputKind },
    #[error("the training set has {0} clips; at least 4 are needed (some are held out for validation)")]
    TooFewClips(usize),
    #[error(transparent)]
    Lower(#[from] LowerError),
    #[error("libtorch failed: {0}")]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error("cannot write the run directory: {0}")]
    RunDir(#[from] RunDirError),
    #[error("the loss became {loss} at epoch {epoch} (lr {lr}); the last good checkpoint is kept")]
    Diverged { epoch: i64, loss: f64, lr: f64 },
}

/// How to run, as opposed to what to train (which is [`TrainConfig`]).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub device: Device,
    /// Where run directories go (`runs/`).
    pub runs_dir: PathBuf,
    /// A fixed run directory name instead of `<arch>-<NNN>`.
    pub run_name: Option<String>,
    /// The architecture file, copied into the run directory.
    pub arch_path: PathBuf,
    /// Show a progress bar (when stderr is a terminal) and print a line per epoch.
    pub verbose: bool,
    /// Stop each epoch after this many batches (tests and smoke runs).
    pub max_batches: Option<usize>,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub dir: PathBuf,
    pub epochs: Vec<EpochMetrics>,
    pub best_epoch: i64,
    /// Test metrics of the best (by validation) epoch.
    pub best_test: Ranking,
}

/// Checks that the data can feed the model: every input's stream exists and has the
/// declared per-clip shape (symbols match any size).
pub fn check_data(compiled: &Compiled, data: &Dataset) -> Result<(), TrainError> {
    for &id in &compiled.graph.inputs {
        let node = compiled.graph.node(id);
        let crate::ir::NodeKind::Input { stream, shape } = &node.kind else { continue };
        let found = data.train.stream_shape(stream).ok_or_else(|| TrainError::UnknownStream {
            input: node.name.clone(),
            stream: stream.clone(),
            origin: data.origin.clone(),
        })?;
        let per_clip = &shape.dims()[1..];
        let fits = per_clip.len() == 2
            && per_clip.iter().zip(found).all(|(d, n)| match d {
                Dim::Fixed(k) => *k == n as i64,
                _ => true,
            });
        if !fits {
            let declared = crate::shape::Shape(per_clip.to_vec()).to_string();
            return Err(TrainError::DataShape {
                input: node.name.clone(),
                stream: stream.clone(),
                declared,
                found,
                origin: data.origin.clone(),
            });
        }
    }
    for o in &compiled.graph.outputs {
        if o.kind != OutputKind::Logit {
            return Err(TrainError::UnsupportedOutput { output: o.name.clone(), kind: o.kind });
        }
    }
    Ok(())
}

/// Splits the training clips into (train, validation) indices, seeded.
pub fn split(n: usize, share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ SPLIT_SALT));
    let val = ((n as f64 * share).round() as usize).clamp(2, n.saturating_sub(2).max(2));
    let train = idx.split_off(val);
    (train, idx)
}

/// A fixed salt so the split's random stream differs from the batch order's.
const SPLIT_SALT: u64 = 0x5eed_5b11;

/// Trains a compiled model on a data set and writes its run directory.
pub fn train(
    compiled: &Compiled,
    data: &Dataset,
    cfg: &TrainConfig,
    opts: &TrainOptions,
) -> Result<RunReport, TrainError> {
    check_data(compiled, data)?;
    if data.train.len() < 4 {
        return Err(TrainError::TooFewClips(data.train.len()));
    }
    tch::manual_seed(cfg.seed as i64);
    let model = lower::lower(&compiled.graph, &compiled.checked, opts.device)?;
    let (train_idx, val_idx) = split(data.train.len(), cfg.validation, cfg.seed);
    let val: Clips = data.train.subset(&val_idx);
    let stem = opts.arch_path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let run = RunDir::create(&opts.runs_dir, stem, opts.run_name.as_deref())?;
    report::write_config(&run, compiled, data, cfg, opts, train_idx.len(), val_idx.len())?;
    epoch::run_epochs(&model, data, &train_idx, &val, cfg, opts, &run)
}
