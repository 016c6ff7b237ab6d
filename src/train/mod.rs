//! The shared training harness: the course's pair protocol (each batch of B matched pairs
//! is doubled with B pairs whose audios are shuffled within the batch), BCE on a match
//! logit, a choice of optimisers and schedules, and a validation split carved out of the
//! training clips. The schedule, early stopping and the choice of the best checkpoint
//! watch only validation; test numbers are reported for the chosen checkpoint, never used
//! to choose it.
//!
//! Every random draw is derived from the seed and the (epoch, batch) position, so a run
//! interrupted anywhere and resumed gives the same numbers as one that never stopped.
//!
//! This module is the loop (`epoch`, with `loss`, `optim`, `schedule`, `events`) and what it
//! reports ([`report`]: the epoch lines, curves, summary.md, TensorBoard files). Beside it:
//! [`crate::run`] (run directories, checkpoints, the manifest, weights and partial loading,
//! the list of runs, a finished run opened again) and [`crate::sweep`] (grids of runs, here
//! or on Slurm / GNU parallel).

pub mod config;
mod distributed;
mod epoch;
pub mod events;
pub mod groups;
mod held;
pub mod init;
pub mod learned;

pub mod loss;
pub mod optim;
pub mod profile;
pub mod report;
pub mod scaler;
pub mod schedule;
pub mod settle;
mod shard;

pub use config::{ConfigError, TrainConfig};
pub use epoch::{EpochMetrics, pairs};
pub use held::{Held, evaluate, evaluate_in};
pub use report::format_epoch_line;
pub use settle::{SettleError, Settled, settle};

use crate::data::{self, DataError, TrainingData};
use crate::eval::Ranking;
use crate::lower::LowerError;
use crate::run::checkpoint::CheckpointError;
use crate::run::rundir::RunDirError;
use avc_lang::compile::Compiled;
use std::path::{Path, PathBuf};
use tch::Device;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Data that cannot feed the model (a stream it lacks, another shape).
    #[error(transparent)]
    Fit(#[from] crate::data::expect::FitError),
    /// Settings that do not fit the model or the device (see [`settle`]).
    #[error(transparent)]
    Settle(#[from] SettleError),
    #[error(
        "the training set has {clips} clip{} (from {from}); at least 4 are needed (some are held out for \
         validation)",
        if *clips == 1 { "" } else { "s" }
    )]
    TooFewClips { clips: usize, from: String },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Lower(#[from] LowerError),
    #[error("libtorch failed: {}", crate::lower::torch_summary(.0))]
    Torch(#[from] tch::TchError),
    /// A collective of a data-parallel job failed (another rank died, hung or failed).
    #[error(transparent)]
    Dist(#[from] crate::dist::DistError),
    /// The ranks of a data-parallel job were started with different files, settings or data.
    #[error(transparent)]
    Agree(#[from] crate::dist::agree::Mismatch),
    /// A failure in a phase of a training step that no single node owns (boxed: it is large).
    #[error(transparent)]
    Step(Box<StepFailure>),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error("cannot write the run directory: {0}")]
    RunDir(#[from] RunDirError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot resume {run}: {source}")]
    Resume {
        run: String,
        #[source]
        source: crate::report::Cause,
    },
    /// A run directory whose recorded settings or architecture copy cannot be read (for
    /// resume, eval, retrieve and export alike).
    #[error(transparent)]
    OpenRun(#[from] crate::run::open::OpenRunError),
    #[error("--init-from: {0}")]
    Init(String),
    /// A parameter-group setting that selects nothing (`train.lr_mult.<prefix>`).
    #[error("{0}")]
    Groups(String),
    #[error(
        "nothing to train: the model has no trainable parameters (no node with weights, or --freeze froze them all)"
    )]
    NothingToTrain,
    #[error(
        "the loss became {loss} at epoch {epoch}, batch {batch} (lr {lr:.3e}); training stopped and the last good \
         checkpoint is kept: try a lower `train.lr` or `train.clip_norm`"
    )]
    Diverged { epoch: i64, batch: usize, loss: f64, lr: f64 },
}

impl crate::report::Report for TrainError {
    /// 1 (the model, its settings or its data), but 2 for data files that cannot be read.
    fn exit_code(&self) -> u8 {
        match self {
            TrainError::Data(e) => e.exit_code(),
            TrainError::Eval(e) => e.exit_code(),
            _ => 1,
        }
    }

    fn place(&self) -> Option<crate::report::Place> {
        use crate::report::Place;
        match self {
            TrainError::Data(e) => e.place(),
            TrainError::Eval(e) => e.place(),
            TrainError::Fit(e) => e.place(),
            TrainError::OpenRun(e) => e.place(),
            TrainError::Resume { run, .. } => Some(Place::Run(run.into())),
            TrainError::Step(s) => Some(Place::Node(s.node.clone())),
            _ => None,
        }
    }
}

pub use crate::data::DataSource;

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
    /// Stop each epoch after this many batches (smoke runs).
    pub max_batches: Option<usize>,
    /// Stop as if interrupted once this (epoch, batch) is reached (tests of resume).
    pub stop_at: Option<(i64, usize)>,
    /// Recorded so the run can be resumed.
    pub data_source: DataSource,
    /// The `--set` overrides, recorded so the run can be resumed.
    pub overrides: Vec<String>,
    /// Start from another run's weights (`--init-from`); a fresh run only.
    pub init: Option<init::InitFrom>,
    /// Time the phases of each training step (`--profile`): profile.json and a table.
    pub profile: bool,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    EarlyStopped,
    Interrupted,
}

/// What a finished (or stopped) run reports.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub dir: PathBuf,
    pub epochs: Vec<EpochMetrics>,
    pub best_epoch: i64,
    /// Test metrics of the best (by validation) epoch.
    pub best_test: Ranking,
    pub ending: Ending,
    /// Per-phase step times, when profiled.
    pub profile: Option<profile::ProfileSummary>,
}

/// The generator's configuration: defaults, the seed, then `KEY=VALUE` knobs.
pub fn synth_config(seed: u64, knobs: &[String]) -> Result<data::SynthConfig, DataError> {
    data::synth::config(seed, knobs)
}

/// Splits `n` training clips into (train, validation) indices, seeded.
pub fn split(n: usize, share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    data::training::seeded_split(n, share, seed)
}

/// Trains a compiled model on a data set in a new run directory, silently.
pub fn train(
    compiled: &Compiled,
    data: &TrainingData,
    cfg: &Settled,
    opts: &TrainOptions,
) -> Result<RunReport, TrainError> {
    train_observed(compiled, data, cfg, opts, &mut events::Silent)
}

/// [`train`], telling `observer` how it goes (progress, epochs, warnings).
pub fn train_observed(
    compiled: &Compiled,
    data: &TrainingData,
    cfg: &Settled,
    opts: &TrainOptions,
    observer: &mut dyn events::Observer,
) -> Result<RunReport, TrainError> {
    crate::data::expect::check(compiled, data)?;
    if data.train.len() < 4 {
        return Err(TrainError::TooFewClips { clips: data.train.len(), from: training_list(&opts.data_source) });
    }
    let resources = crate::device::Resources::current(opts.device, &crate::device::apply_thread_budget());
    if !crate::dist::is_leader() {
        // Another rank of a data-parallel job: rank 0 writes the run directory.
        let run = crate::run::rundir::RunDir { path: PathBuf::new() };
        return epoch::Session::start(compiled, data, cfg, opts, run, None, observer)?.run();
    }
    let stem = opts.arch_path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let run = crate::run::rundir::RunDir::create(&opts.runs_dir, stem, opts.run_name.as_deref())?;
    let (train_idx, val_idx) = data.split(cfg.validation, cfg.seed);
    report::write_config(&run, compiled, data, cfg, opts, train_idx.len(), val_idx.len())?;
    crate::run::manifest::write(&run, compiled, data, cfg, opts, &resources)?;
    let path = run.path.clone();
    match epoch::Session::start(compiled, data, cfg, opts, run, None, observer) {
        Ok(session) => session.run(),
        Err(e) => {
            // A run that failed to start (e.g. --init-from selects nothing) has nothing to keep.
            let _ = std::fs::remove_dir_all(&path);
            Err(e)
        }
    }
}

/// Where a source's training clips are listed, for messages: the list file when there is
/// one, else the shards or the generator's knob.
fn training_list(source: &DataSource) -> String {
    use crate::data::source::DataSource as S;
    match source {
        S::Dir { path, lists, .. } => {
            let list = lists.train.clone().unwrap_or_else(|| path.join(crate::data::course::TRAIN_LIST));
            format!("the list file {}", list.display())
        }
        S::Yt8m { lists: crate::data::source::Lists { train: Some(list), .. }, .. } => {
            format!("the list file {}", list.display())
        }
        S::Yt8m { pattern, .. } => format!("the records of {pattern}"),
        S::Synth { .. } => "the synthetic set; raise it with --synth n_train=N".into(),
    }
}

/// Refuses a model whose training cannot fit in `device`'s memory (when that is known),
/// before libtorch allocates anything: see [`avc_lang::check::memory`].
fn in_function(function: &Option<String>) -> String {
    function.as_ref().map(|f| format!(" in libtorch's `{f}`")).unwrap_or_default()
}

/// A failure in a phase of a training step that no single node owns (the backward pass,
/// the optimiser), named with the autograd function libtorch was in and the node that needs
/// most memory: the usual suspect when it is an allocation that failed.
#[derive(Debug, thiserror::Error)]
#[error(
    "the {phase} failed{}; node `{node}` ({op}) needs the most memory ({bytes} with its weights, gradients \
     and output for one batch): libtorch failed: {}",
    in_function(.function),
    crate::lower::torch_summary(.error)
)]
pub struct StepFailure {
    pub phase: &'static str,
    /// libtorch's autograd function, from its backtrace (e.g. `AmaxBackward0`).
    pub function: Option<String>,
    pub node: String,
    pub op: String,
    pub bytes: String,
    #[source]
    pub error: tch::TchError,
}

/// The node a failure in a training step's backward pass or optimiser step is reported
/// with (see [`TrainError::Step`]): the one that needs most memory.
#[derive(Debug, Clone)]
pub struct Suspect {
    node: String,
    op: String,
    bytes: String,
}

impl Suspect {
    /// The heaviest node of `compiled` for batches of `batch` pairs.
    pub fn of(compiled: &Compiled, batch: i64) -> Option<Suspect> {
        let batch = u64::try_from(batch).unwrap_or(1);
        let (id, bytes, _) = avc_lang::check::memory::heaviest(&compiled.graph, &compiled.checked, batch)?;
        let node = compiled.graph.node(id);
        let bytes = avc_lang::check::memory::bytes(bytes);
        Some(Suspect { node: node.name.clone(), op: node.op_name().to_string(), bytes })
    }

    /// A libtorch failure in `phase`, with the autograd function from libtorch's backtrace.
    pub fn blame(suspect: &Option<Suspect>, phase: &'static str, error: tch::TchError) -> TrainError {
        let Some(s) = suspect.clone() else { return TrainError::Torch(error) };
        let text = error.to_string();
        let function = text.lines().find_map(|line| {
            let at = line.find("torch::autograd::generated::")? + "torch::autograd::generated::".len();
            line[at..].split("::").next().map(str::to_string)
        });
        TrainError::Step(Box::new(StepFailure { phase, function, node: s.node, op: s.op, bytes: s.bytes, error }))
    }
}

/// Continues a run from its `last` checkpoint, with its recorded settings plus `extra`
/// overrides (e.g. more epochs).
pub fn resume(run_dir: &Path, extra: &[String], device: Device, verbose: bool) -> Result<RunReport, TrainError> {
    resume_with(run_dir, extra, device, verbose, false, &mut events::Silent)
}

/// [`resume`], optionally profiling the steps it trains (`--profile`), telling `observer`
/// how it goes.
pub fn resume_with(
    run_dir: &Path,
    extra: &[String],
    device: Device,
    verbose: bool,
    profile: bool,
    observer: &mut dyn events::Observer,
) -> Result<RunReport, TrainError> {
    let bad = |source: crate::report::Cause| TrainError::Resume { run: run_dir.display().to_string(), source };
    let resources = crate::device::Resources::current(device, &crate::device::apply_thread_budget());
    let (recorded, compiled) = crate::run::open::open_recorded(run_dir)?;
    let mut overrides = recorded.overrides.clone();
    overrides.extend_from_slice(extra);
    let cfg = settle(&compiled, &overrides, device).map_err(|e| match e {
        SettleError::Settings(errors) => {
            bad(errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ").into())
        }
        e => e.into(),
    })?;
    let data = crate::data::expect::load(&compiled, &recorded.data_source)?;
    crate::data::expect::check(&compiled, &data)?;
    crate::run::manifest::check_same_data(run_dir, &data).map_err(|e| bad(e.into()))?;
    let opts = TrainOptions {
        device,
        runs_dir: run_dir.parent().map(Path::to_path_buf).unwrap_or_default(),
        run_name: None,
        arch_path: PathBuf::from(&recorded.architecture),
        verbose,
        max_batches: recorded.max_batches,
        stop_at: None,
        data_source: recorded.data_source,
        overrides,
        init: None,
        profile,
    };
    let run = crate::run::rundir::RunDir { path: run_dir.to_path_buf() };
    let from = crate::run::checkpoint::Checkpoint::locate(run_dir, "last")?;
    if crate::dist::is_leader() {
        crate::run::manifest::record_resume(&run, &resources)?;
    }
    epoch::Session::start(&compiled, &data, &cfg, &opts, run, Some(&from), observer)?.run()
}
