//! What a run says: the resolved configuration it writes first and its epoch lines; and
//! what it draws and tabulates from its metrics: [`curves`] (curves.png), [`summary_md`]
//! (summary.md) and [`tensorboard`] (event files).

pub mod curves;
pub mod summary_md;
pub mod tensorboard;

use crate::data::TrainingData;
use crate::device::device_name;
use crate::run::rundir::{RunDir, RunDirError};
use crate::train::DataSource;
use crate::train::{EpochMetrics, TrainConfig, TrainOptions};
use avc_lang::compile::Compiled;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Serialize)]
struct ResolvedConfig<'a> {
    avc_version: &'static str,
    libtorch_version: &'static str,
    architecture: String,
    /// The copy of the architecture inside the run directory (what `--resume` compiles).
    architecture_copy: String,
    data: &'a str,
    data_source: &'a DataSource,
    overrides: &'a [String],
    /// `--max-batches`, kept by `--resume`.
    max_batches: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    init_from: Option<&'a crate::train::init::InitFrom>,
    device: String,
    train_clips: usize,
    validation_clips: usize,
    test_clips: usize,
    parameters: i64,
    train: &'a TrainConfig,
}

/// Writes `config.yaml` and a copy of the architecture file.
pub(crate) fn write_config(
    run: &RunDir,
    compiled: &Compiled,
    data: &TrainingData,
    cfg: &TrainConfig,
    opts: &TrainOptions,
    train_clips: usize,
    validation_clips: usize,
) -> Result<(), RunDirError> {
    let ext = opts.arch_path.extension().and_then(|e| e.to_str()).unwrap_or("yaml");
    let copy = format!("architecture.{ext}");
    // Paths recorded absolute, so `--resume` (or `avc eval`) works from any directory.
    let data_source = opts.data_source.absolute().map_err(|e| RunDirError::new(&run.file("config.yaml"), e))?;
    let resolved = ResolvedConfig {
        avc_version: env!("CARGO_PKG_VERSION"),
        libtorch_version: crate::device::LIBTORCH_VERSION,
        architecture: opts.arch_path.display().to_string(),
        architecture_copy: copy.clone(),
        data: &data.origin,
        data_source: &data_source,
        overrides: &opts.overrides,
        max_batches: opts.max_batches,
        init_from: opts.init.as_ref(),
        device: device_name(opts.device),
        train_clips,
        validation_clips,
        test_clips: data.test.len(),
        parameters: compiled.checked.total_params(),
        train: cfg,
    };
    let yaml = serde_yaml::to_string(&resolved).map_err(|e| RunDirError::new(&run.file("config.yaml"), e))?;
    run.write("config.yaml", yaml.as_bytes())?;
    run.write(&copy, compiled.graph.source.text().as_bytes())
}

/// What `--resume` needs from a run's `config.yaml`.
#[derive(Deserialize)]
pub(crate) struct RecordedRun {
    pub architecture: String,
    pub architecture_copy: String,
    pub data_source: DataSource,
    pub overrides: Vec<String>,
    #[serde(default)]
    pub max_batches: Option<usize>,
}

pub(crate) fn read_config(run: &Path) -> Result<RecordedRun, crate::run::rundir::RunDirError> {
    use crate::run::rundir::RunDirError;
    let path = run.join("config.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| RunDirError::new(&path, e))?;
    serde_yaml::from_str(&text).map_err(|e| RunDirError::new(&path, e))
}

/// `epoch  3/20  loss 0.6012  lr 5.0e-3  val top1 40.0% top5 80.0%  test top1 ...`.
pub fn format_epoch_line(m: &EpochMetrics, epochs: i64, best: bool) -> String {
    let width = epochs.to_string().len();
    format!(
        "epoch {:>w$}/{epochs}  loss {:.4}  lr {:.1e}{}  val top1 {:5.1}% top5 {:5.1}%  test top1 {:5.1}% top5 {:5.1}%  {:.0}s{}",
        m.epoch,
        m.train_loss,
        m.lr,
        m.temperature.map(|t| format!("  temperature {t:.4}")).unwrap_or_default(),
        100.0 * m.val.top1,
        100.0 * m.val.top5,
        100.0 * m.test.top1,
        100.0 * m.test.top5,
        m.seconds,
        if best { "  *best" } else { "" },
        w = width,
    )
}
