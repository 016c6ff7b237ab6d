//! `manifest.json`: what a run was, precisely enough to reproduce it or tell two apart:
//! hashes of the architecture text and of the train and test id lists, the seed, the
//! resolved settings, the versions, and the resources the run used (device, visible GPUs,
//! threads and what decided them, host, Slurm job). A resumed run adds one entry per
//! session under `resumed`: a requeued Slurm task may continue on another node or GPU.

use super::rundir::{RunDir, RunDirError};
use super::{TrainConfig, TrainOptions};
use crate::compile::Compiled;
use crate::data::Dataset;
use crate::device::Resources;
use sha2::{Digest, Sha256};

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

pub(super) fn write(
    run: &RunDir,
    compiled: &Compiled,
    data: &Dataset,
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
        "train_ids_sha256": sha256(&ids(&data.train.video_ids)),
        "test_ids_sha256": sha256(&test_ids),
        "config": cfg,
        "init_from": opts.init,
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| RunDirError::new(&run.file(MANIFEST), e))?;
    run.write(MANIFEST, text.as_bytes())
}

/// Adds a resumed session's resources to the manifest's `resumed` list (a run without a
/// readable manifest is left as it is: resuming does not depend on it).
pub(super) fn record_resume(run: &RunDir, resources: &Resources) -> Result<(), RunDirError> {
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
