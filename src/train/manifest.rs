//! `manifest.json`: what a run was, precisely enough to reproduce it or tell two apart:
//! hashes of the architecture text and of the train and test id lists, the seed, the
//! resolved settings, and the versions and device.

use super::rundir::{RunDir, RunDirError};
use super::{TrainConfig, TrainOptions};
use crate::compile::Compiled;
use crate::data::Dataset;
use sha2::{Digest, Sha256};

fn sha256(parts: &[&str]) -> String {
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
) -> Result<(), RunDirError> {
    let test_ids: Vec<&str> = ids(&data.test.video_ids).into_iter().chain(ids(&data.test.audio_ids)).collect();
    let manifest = serde_json::json!({
        "avc_version": env!("CARGO_PKG_VERSION"),
        "libtorch_version": crate::device::LIBTORCH_VERSION,
        "device": crate::device::device_name(opts.device),
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
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| RunDirError::new(&run.file("manifest.json"), e))?;
    run.write("manifest.json", text.as_bytes())
}
