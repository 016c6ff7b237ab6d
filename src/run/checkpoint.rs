//! Checkpoints: a directory per checkpoint (`last/`, `best/`) holding the weights, the
//! optimiser state (both safetensors, PyTorch-style names), `state.json` (where training
//! stands: epoch, batch, lr, schedule, best so far) and, when training learns anything
//! besides the model, `training.safetensors` (a learned temperature; with `train.ema` the
//! live weights, while `weights.safetensors` holds their average, which evaluation uses).
//!
//! A checkpoint is written whole into `<name>.partial/`, synced, then swapped in by renames,
//! so killing the process at any moment leaves a complete checkpoint: either the previous
//! one (`<name>/`) or, if the kill fell between the two renames, the new one
//! (`<name>.new/`), which [`Checkpoint::locate`] also finds.

use crate::train::schedule::{EarlyStopping, ScheduleState};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use tch::{Tensor, nn::VarStore};

pub const WEIGHTS: &str = "weights.safetensors";
pub const OPTIMIZER: &str = "optimizer.safetensors";
pub const STATE: &str = "state.json";
pub const TRAINING: &str = "training.safetensors";

/// Where training stands when a checkpoint is taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// The epoch being trained (1-based).
    pub epoch: i64,
    /// Batches of `epoch` already done; equal to the epoch's batch count once it is complete.
    pub batches_done: usize,
    /// Whether `epoch` is complete (evaluated, logged).
    pub epoch_complete: bool,
    /// Sum and count of the batch losses of `epoch` so far.
    pub loss_sum: f64,
    pub loss_count: usize,
    /// fp16: the steps of `epoch` skipped for gradients that overflowed (see
    /// `train::scaler`).
    #[serde(default)]
    pub skipped_steps: u64,
    pub lr: f64,
    pub schedule: ScheduleState,
    pub early_stopping: EarlyStopping,
    /// Best monitored score so far and its epoch.
    pub best_score: Option<f64>,
    pub best_epoch: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {error}")]
    Io { path: String, error: String },
    #[error("no checkpoint `{name}` in {run}")]
    Missing { run: String, name: String },
    #[error("{path}: {error}")]
    Bad { path: String, error: String },
}

fn io(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Io { path: path.display().to_string(), error: e.to_string() }
}

pub struct Checkpoint;

impl Checkpoint {
    /// Writes `run/<name>/` atomically: `vs`'s variables, or `weights` in their place when
    /// given (an average of them), and the training-only tensors when there are any.
    pub fn save(
        run: &Path,
        name: &str,
        vs: &VarStore,
        weights: Option<&[(String, Tensor)]>,
        optimizer: &[(String, Tensor)],
        training: &[(String, Tensor)],
        state: &TrainingState,
    ) -> Result<(), CheckpointError> {
        let partial = run.join(format!("{name}.partial"));
        let fresh = run.join(format!("{name}.new"));
        let target = run.join(name);
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir_all(&partial).map_err(|e| io(&partial, e))?;
        let weights_path = partial.join(WEIGHTS);
        match weights {
            Some(named) => Tensor::write_safetensors(named, &weights_path),
            None => vs.save(&weights_path),
        }
        .map_err(|e| io(&weights_path, e))?;
        let optim = partial.join(OPTIMIZER);
        Tensor::write_safetensors(optimizer, &optim).map_err(|e| io(&optim, e))?;
        let mut files = vec![WEIGHTS, OPTIMIZER, STATE];
        if !training.is_empty() {
            let path = partial.join(TRAINING);
            Tensor::write_safetensors(training, &path).map_err(|e| io(&path, e))?;
            files.push(TRAINING);
        }
        let json = serde_json::to_string_pretty(state).map_err(|e| io(&partial, e))?;
        fs::write(partial.join(STATE), json).map_err(|e| io(&partial, e))?;
        for file in files {
            let path = partial.join(file);
            fs::File::open(&path).and_then(|f| f.sync_all()).map_err(|e| io(&path, e))?;
        }
        let _ = fs::remove_dir_all(&fresh);
        fs::rename(&partial, &fresh).map_err(|e| io(&fresh, e))?;
        if target.exists() {
            fs::remove_dir_all(&target).map_err(|e| io(&target, e))?;
        }
        fs::rename(&fresh, &target).map_err(|e| io(&target, e))?;
        if let Ok(dir) = fs::File::open(run) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The directory of a complete checkpoint `name` (`<name>/`, or `<name>.new/` after a
    /// crash between the two renames).
    pub fn locate(run: &Path, name: &str) -> Result<PathBuf, CheckpointError> {
        [run.join(name), run.join(format!("{name}.new"))]
            .into_iter()
            .find(|d| d.join(STATE).is_file() && d.join(WEIGHTS).is_file())
            .ok_or_else(|| CheckpointError::Missing { run: run.display().to_string(), name: name.to_string() })
    }

    pub fn read_state(dir: &Path) -> Result<TrainingState, CheckpointError> {
        let path = dir.join(STATE);
        let text = fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| CheckpointError::Bad { path: path.display().to_string(), error: e.to_string() })
    }

    pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>, CheckpointError> {
        let named = Tensor::read_safetensors(path)
            .map_err(|e| CheckpointError::Bad { path: path.display().to_string(), error: e.to_string() })?;
        Ok(named.into_iter().collect())
    }
}
