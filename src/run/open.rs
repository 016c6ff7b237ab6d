//! Opening a run directory for what comes after training (evaluation, retrieval, export,
//! resume): its recorded settings and its architecture copy, compiled again.

use crate::data::DataSource;
use crate::train::report::{RecordedRun, read_config};
use avc_lang::compile::Compiled;
use std::path::Path;

/// A run directory whose recorded settings or architecture copy cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot open run {run}: {reason}")]
pub struct OpenRunError {
    pub run: String,
    pub reason: String,
}

/// A finished or running run directory, opened: its architecture (the copy it recorded,
/// compiled again) and where its data came from.
pub struct OpenedRun {
    pub compiled: Compiled,
    pub data_source: DataSource,
    /// The architecture file as it was given to `avc train`.
    pub architecture: String,
}

/// Opens a run directory for export or inspection.
pub fn open_run(run_dir: &Path) -> Result<OpenedRun, OpenRunError> {
    let (recorded, compiled) = open_recorded(run_dir)?;
    Ok(OpenedRun { compiled, data_source: recorded.data_source, architecture: recorded.architecture })
}

/// A run's recorded settings and its architecture copy, compiled again.
pub(crate) fn open_recorded(run_dir: &Path) -> Result<(RecordedRun, Compiled), OpenRunError> {
    let bad = |reason: String| OpenRunError { run: run_dir.display().to_string(), reason };
    let recorded = read_config(run_dir).map_err(|e| bad(e.to_string()))?;
    let compiled = avc_lang::compile::compile_file(&run_dir.join(&recorded.architecture_copy))
        .map_err(|e| bad(e.to_string()))?
        .map_err(|failed| {
            let copy = &recorded.architecture_copy;
            bad(format!("its architecture copy {copy} no longer compiles:\n{}", avc_lang::compile::explain(&failed)))
        })?;
    Ok((recorded, compiled))
}
