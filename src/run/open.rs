//! Opening a run directory for what comes after training (evaluation, retrieval, export,
//! resume): its recorded settings and its architecture copy, compiled again.

use crate::data::DataSource;
use crate::report::{Cause, Place, Report};
use crate::train::report::{RecordedRun, read_config};
use avc_lang::compile::Compiled;
use std::path::Path;

/// A run directory whose recorded settings or architecture copy cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot open run {run}: {source}")]
pub struct OpenRunError {
    pub run: String,
    #[source]
    pub source: Cause,
}

impl Report for OpenRunError {
    fn place(&self) -> Option<Place> {
        Some(Place::Run(self.run.clone().into()))
    }
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
    let bad = |source: Cause| OpenRunError { run: run_dir.display().to_string(), source };
    let recorded = read_config(run_dir).map_err(|e| bad(e.into()))?;
    let compiled = avc_lang::compile::compile_file(&run_dir.join(&recorded.architecture_copy))
        .map_err(|e| bad(e.into()))?
        .map_err(|failed| {
            let copy = &recorded.architecture_copy;
            bad(format!("its architecture copy {copy} no longer compiles:\n{}", avc_lang::compile::explain(&failed))
                .into())
        })?;
    Ok((recorded, compiled))
}
