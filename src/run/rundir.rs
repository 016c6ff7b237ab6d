//! The run directory: everything a run leaves for people and tools to look at.
//!
//! ```text
//! runs/<arch>-<NNN>/
//!   config.yaml        resolved settings, architecture, data, device
//!   architecture.*     a copy of the architecture file as trained
//!   metrics.jsonl      one JSON object per epoch
//!   manifest.json      hashes of the architecture and id lists, seed, versions, device,
//!                      threads and visible GPUs (and those of each resumed session)
//!   last/              checkpoint after the latest epoch (or where Ctrl-C stopped)
//!   best/              checkpoint of the best epoch by the validation metric
//!                      (each: weights.safetensors, optimizer.safetensors, state.json)
//!   init.json          with --init-from: the source, the per-tensor report, frozen names
//!   profile.json       with --profile: time per step phase
//! ```
//!
//! A sweep directory (`avc sweep`, see [`crate::sweep`]) holds run directories like these.
//!
//! Files are written to a temporary name, synced and renamed, so a crash mid-write
//! leaves the previous version intact.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {error}")]
pub struct RunDirError {
    pub path: String,
    pub error: String,
}

impl RunDirError {
    pub fn new(path: &Path, error: impl std::fmt::Display) -> Self {
        RunDirError { path: path.display().to_string(), error: error.to_string() }
    }
}

pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `parent/<stem>-<NNN>` with the next free number (or `parent/<name>` when
    /// a name is given, which must not exist yet).
    pub fn create(parent: &Path, stem: &str, name: Option<&str>) -> Result<RunDir, RunDirError> {
        fs::create_dir_all(parent).map_err(|e| RunDirError::new(parent, e))?;
        let path = match name {
            Some(n) => parent.join(n),
            None => {
                let next = (1..).find(|i| !parent.join(format!("{stem}-{i:03}")).exists()).unwrap_or(1);
                parent.join(format!("{stem}-{next:03}"))
            }
        };
        fs::create_dir(&path).map_err(|e| RunDirError::new(&path, e))?;
        Ok(RunDir { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes a file atomically: temp file, fsync, rename.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), RunDirError> {
        write_atomic(&self.file(name), |tmp| fs::write(tmp, bytes))
    }

    /// Appends one line (metrics.jsonl): earlier lines are never rewritten.
    pub fn append_line(&self, name: &str, line: &str) -> Result<(), RunDirError> {
        let path = self.file(name);
        let mut f =
            fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| RunDirError::new(&path, e))?;
        writeln!(f, "{line}").and_then(|_| f.sync_data()).map_err(|e| RunDirError::new(&path, e))
    }
}

/// [`avc_lang::atomic::write_with`], its error naming `path`.
fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<(), RunDirError> {
    avc_lang::atomic::write_with(path, write).map_err(|e| RunDirError::new(path, e))
}
