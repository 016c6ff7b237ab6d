//! `avc train FILE --init-from RUN [--checkpoint best|last] [--only NODE ...] [--freeze]`:
//! a new run starts from another run's weights where they fit, e.g. a pretrained audio
//! tower in a new joint model.
//!
//! Tensors are matched by name and shape; `--only` restricts the copy to the tensors of
//! the named nodes (dotted VarStore names: `arnn` or `arnn.rnn`). `--freeze` takes the
//! loaded variables out of training: they stop requiring gradients, so backward leaves them
//! alone and the optimiser, which collects only variables that require gradients, never
//! sees them. (Buffers such as batch-norm running statistics are not trained anyway, and in
//! training mode they still update.)
//!
//! The run directory keeps `init.json`: the source, the per-tensor report and the frozen
//! names, which `--resume` reads to freeze the same variables again before the optimiser
//! state is restored.

use super::{TrainError, TrainOptions};
use crate::run::checkpoint::{Checkpoint, WEIGHTS};
use crate::run::rundir::{RunDir, RunDirError};
use crate::run::weights::{self, LoadReport, selected};
use avc_lang::diag::did_you_mean;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;

/// Where a run's initial weights come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitFrom {
    /// A run directory (or a checkpoint directory holding `weights.safetensors`).
    pub run: PathBuf,
    /// `best` or `last`.
    pub checkpoint: String,
    /// Node-name prefixes whose tensors are copied; empty: every tensor that fits.
    pub only: Vec<String>,
    /// Keep the loaded variables fixed.
    pub freeze: bool,
}

/// The file in the run directory that records the initialisation.
pub const INIT_FILE: &str = "init.json";

/// What `init.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitRecord {
    pub from: InitFrom,
    /// The weights file read.
    pub weights: String,
    /// The comparison restricted to the selected tensors; `matched` were loaded.
    pub report: LoadReport,
    /// Variables taken out of training.
    pub frozen: Vec<String>,
}

/// Before the optimiser is built: a fresh run with `--init-from` loads (and freezes) and
/// records it; a resumed run freezes again what its `init.json` says was frozen.
/// Returns what a fresh `--init-from` loaded, for the caller to report.
pub(super) fn prepare(
    vs: &VarStore,
    opts: &TrainOptions,
    run: &RunDir,
    resuming: bool,
) -> Result<Option<InitRecord>, TrainError> {
    if resuming {
        let path = run.file(INIT_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
        let record: InitRecord =
            serde_json::from_str(&text).map_err(|e| TrainError::Init(format!("{}: {e}", path.display())))?;
        freeze(vs, &record.frozen)?;
        return Ok(None);
    }
    let Some(init) = &opts.init else { return Ok(None) };
    let record = apply(vs, init)?;
    if !crate::dist::is_leader() {
        return Ok(Some(record));
    }
    let json = serde_json::to_string_pretty(&record).map_err(|e| RunDirError::new(&run.file(INIT_FILE), e))?;
    run.write(INIT_FILE, json.as_bytes())?;
    Ok(Some(record))
}

/// The weights file an [`InitFrom`] names.
pub fn weights_file(init: &InitFrom) -> Result<PathBuf, TrainError> {
    let direct = init.run.join(WEIGHTS);
    if direct.is_file() {
        return Ok(direct);
    }
    Ok(Checkpoint::locate(&init.run, &init.checkpoint)?.join(WEIGHTS))
}

/// Copies the selected tensors that fit into the model and freezes them if asked. Errors
/// when a prefix names no tensor on either side, or when nothing can be loaded.
pub fn apply(vs: &VarStore, init: &InitFrom) -> Result<InitRecord, TrainError> {
    let path = weights_file(init)?;
    let saved = weights::read(&path).map_err(|e| TrainError::Init(e.to_string()))?;
    let full = LoadReport::of(vs, &saved);
    let tensors: Vec<String> = vs.variables().into_keys().chain(saved.keys().cloned()).collect();
    let mut nodes: Vec<&str> = tensors.iter().map(|n| node_of(n)).collect();
    nodes.sort();
    nodes.dedup();
    for prefix in &init.only {
        let one = [prefix.clone()];
        let hits = tensors.iter().any(|n| selected(n, &one));
        if !hits {
            let hint = match did_you_mean(prefix, nodes.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("nodes with weights: {}", nodes.join(", ")),
            };
            return Err(TrainError::Init(format!(
                "--only {prefix} selects no tensor of the model or of {}; {hint}",
                path.display()
            )));
        }
    }
    let report = full.restricted(&init.only);
    if report.matched.is_empty() {
        let what = if init.only.is_empty() { String::new() } else { format!(" under {}", init.only.join(", ")) };
        return Err(TrainError::Init(format!(
            "nothing to load from {}{what}: no tensor matches by name and shape:{}",
            path.display(),
            report.differences()
        )));
    }
    weights::copy_into(vs, &saved, &report.matched).map_err(|e| TrainError::Init(e.to_string()))?;
    let frozen = if init.freeze {
        let vars = vs.variables();
        report
            .matched
            .iter()
            .filter(|t| vars.get(&t.name).is_some_and(|v| v.requires_grad()))
            .map(|t| t.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    freeze(vs, &frozen)?;
    Ok(InitRecord { from: init.clone(), weights: path.display().to_string(), report, frozen })
}

/// The node a tensor belongs to: its name without the layer's own last part.
fn node_of(tensor: &str) -> &str {
    tensor.rsplit_once('.').map_or(tensor, |(node, _)| node)
}

/// Takes the named variables out of training.
fn freeze(vs: &VarStore, names: &[String]) -> Result<(), TrainError> {
    let vars = vs.variables();
    for name in names {
        let var = vars.get(name).ok_or_else(|| {
            TrainError::Init(format!("`{name}` was frozen when the run started but the model has no such variable"))
        })?;
        let _ = var.set_requires_grad(false);
    }
    Ok(())
}

/// The lines `avc train` prints: a count per kind, then the per-tensor table.
pub fn describe(record: &InitRecord) -> String {
    let r = &record.report;
    let only =
        if record.from.only.is_empty() { String::new() } else { format!(" (only {})", record.from.only.join(", ")) };
    let frozen = if record.frozen.is_empty() { String::new() } else { format!("; {} frozen", record.frozen.len()) };
    format!(
        "initialising from {}{only}: {} loaded, {} skipped (another shape), {} missing from the checkpoint, {} not in \
         the model{frozen}\n{}",
        record.weights,
        r.matched.len(),
        r.reshaped.len(),
        r.missing.len(),
        r.unexpected.len(),
        r.render()
    )
}

/// Reads a run's `init.json`, if it has one.
pub fn read_init_record(run: &Path) -> Option<InitRecord> {
    serde_json::from_str(&std::fs::read_to_string(run.join(INIT_FILE)).ok()?).ok()
}
