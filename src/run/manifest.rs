//! `manifest.json`: what a run was, precisely enough to reproduce it or tell two apart:
//! hashes of the architecture text and of the train and test id lists, the seed, the
//! resolved settings, the versions, the resources the run used (device, visible GPUs,
//! threads and what decided them, host, Slurm job), and the data's provenance (index
//! digest, list digests, skipped records, cropping), which `--resume` checks before
//! continuing. A resumed run adds one entry per session under `resumed`.

use crate::data::{Provenance, TrainingData};
use crate::device::Resources;
use crate::run::rundir::{RunDir, RunDirError};
use crate::train::{TrainConfig, TrainOptions};
use avc_lang::compile::Compiled;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The file's name in the run directory.
pub const MANIFEST: &str = "manifest.json";

/// The hex SHA-256 of the parts, each followed by a newline (the manifest's hashes; a
/// sweep's record hashes its architecture the same way).
pub fn sha256(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn ids(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

pub(crate) fn write(
    run: &RunDir,
    compiled: &Compiled,
    data: &TrainingData,
    cfg: &TrainConfig,
    opts: &TrainOptions,
    resources: &Resources,
) -> Result<(), RunDirError> {
    let test_ids: Vec<&str> = ids(&data.test.video_ids).into_iter().chain(ids(&data.test.audio_ids)).collect();
    let manifest = serde_json::json!({
        "avc_version": env!("CARGO_PKG_VERSION"),
        "libtorch_version": crate::device::LIBTORCH_VERSION,
        "device": crate::device::device_name(opts.device),
        "resources": resources,
        "seed": cfg.seed,
        "architecture": opts.arch_path.display().to_string(),
        "architecture_sha256": sha256(&[compiled.graph.source.text()]),
        "data": data.origin,
        "data_source": opts.data_source,
        "train_ids_sha256": sha256(&ids(data.train.video_ids())),
        "test_ids_sha256": sha256(&test_ids),
        "config": cfg,
        "init_from": opts.init,
        "data_provenance": data.provenance,
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| RunDirError::new(&run.file(MANIFEST), e))?;
    run.write(MANIFEST, text.as_bytes())
}

/// Adds a resumed session's resources to the manifest's `resumed` list (a run without a
/// readable manifest is left as it is: resuming does not depend on it).
pub(crate) fn record_resume(run: &RunDir, resources: &Resources) -> Result<(), RunDirError> {
    let path = run.file(MANIFEST);
    let Some(mut manifest) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .filter(serde_json::Value::is_object)
    else {
        return Ok(());
    };
    let entry = serde_json::to_value(resources).map_err(|e| RunDirError::new(&path, e))?;
    match manifest.get_mut("resumed").and_then(serde_json::Value::as_array_mut) {
        Some(list) => list.push(entry),
        None => manifest["resumed"] = serde_json::Value::Array(vec![entry]),
    }
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| RunDirError::new(&path, e))?;
    run.write(MANIFEST, text.as_bytes())
}

/// Refuses to resume on data that changed since the run started: the index digest (every
/// record or clip) and the list digests must be those `manifest.json` recorded. A run made
/// before provenance was recorded is not checked.
pub(crate) fn check_same_data(run: &Path, data: &TrainingData) -> Result<(), DataChanged> {
    let path = run.join("manifest.json");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let unreadable =
        |e: serde_json::Error| DataChanged::Unreadable { path: path.display().to_string(), error: e.to_string() };
    let recorded: serde_json::Value = serde_json::from_str(&text).map_err(unreadable)?;
    let Some(value) = recorded.get("data_provenance") else { return Ok(()) };
    let then: Provenance = serde_json::from_value(value.clone()).map_err(unreadable)?;
    let now = &data.provenance;
    let mut changes = Vec::new();
    if then.index_sha256 != now.index_sha256 {
        changes.push(format!(
            "the index digest was {} and is now {}",
            short(&then.index_sha256),
            short(&now.index_sha256)
        ));
    }
    for role in then.lists_sha256.keys().chain(now.lists_sha256.keys()) {
        let (a, b) = (then.lists_sha256.get(role), now.lists_sha256.get(role));
        if a != b && !changes.iter().any(|c| c.contains(&format!("`{role}` list"))) {
            let show = |d: Option<&String>| d.map_or("absent".to_string(), |d| short(d));
            changes.push(format!("the `{role}` list's digest was {} and is now {}", show(a), show(b)));
        }
    }
    if then.skipped != now.skipped {
        changes.push(format!("{} records were skipped as corrupt, now {}", then.skipped.records, now.skipped.records));
    }
    if changes.is_empty() {
        return Ok(());
    }
    Err(DataChanged::Changed { origin: data.origin.clone(), changes })
}

/// Why a run may not resume on its data.
#[derive(Debug, thiserror::Error)]
pub enum DataChanged {
    #[error("{path}: {error}")]
    Unreadable { path: String, error: String },
    /// Each change in words: a digest that moved, a list that appeared, skipped records.
    #[error("the data changed since the run started ({origin}): {}; train a new run on the new data", changes.join("; "))]
    Changed { origin: String, changes: Vec<String> },
}

fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}
