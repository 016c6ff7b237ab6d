//! `--profile`: a tiny run's step time split into data, forward, backward and optimiser
//! step, every phase measured, shares adding up, written to profile.json.

use avc::train::profile::{PROFILE_FILE, Phase, ProfileSummary};
use avc::train::{DataSource, TrainOptions, train};
use std::path::PathBuf;

fn arch() -> String {
    crate::small_model(16, "{epochs: 2, batch_size: 8, lr: 0.01, clip_norm: 1.0}")
}

const KNOBS: [&str; 5] = ["n_train=40", "n_test=8", "steps=24", "video_dim=16", "audio_dim=8"];

#[test]
fn profiled_shares_cover_every_phase_and_add_up() {
    let _rng = crate::torch_rng_lock();
    let dir = crate::scratch_dir("profile");
    std::fs::write(dir.join("tiny.yaml"), arch()).unwrap();
    let compiled = crate::compile_ok(&dir.join("tiny.yaml"));
    let cfg = avc::train::settle(&compiled, &[], tch::Device::Cpu).unwrap();
    let data: avc::data::TrainingData =
        avc::data::synth::generate(&avc::train::synth_config(5, &KNOBS.map(String::from)).unwrap()).into();
    let options = |name: &str, profile: bool| TrainOptions {
        device: tch::Device::Cpu,
        runs_dir: dir.join("runs"),
        run_name: Some(name.into()),
        arch_path: PathBuf::from("tiny.yaml"),
        verbose: false,
        max_batches: Some(3),
        stop_at: None,
        data_source: DataSource::Synth { seed: 5, knobs: KNOBS.iter().map(|k| k.to_string()).collect() },
        overrides: vec![],
        init: None,
        profile,
    };
    let report = train(&compiled, &data, &cfg, &options("profiled", true)).unwrap();
    let p = report.profile.expect("a profiled run reports its profile");
    assert_eq!(p.seconds.batches, 6, "3 batches in each of 2 epochs");
    assert_eq!(p.epochs.iter().map(|e| (e.epoch, e.seconds.batches)).collect::<Vec<_>>(), [(1, 3), (2, 3)]);
    let total: f64 = Phase::ALL.iter().map(|ph| p.share.get(*ph)).sum();
    assert!((total - 1.0).abs() < 1e-9, "shares add up to {total}");
    // A process alone all-reduces nothing; tests/dist.rs profiles a job.
    assert_eq!((p.seconds.all_reduce, p.all_reduce_bytes), (0.0, 0));
    for phase in Phase::ALL.into_iter().filter(|&ph| ph != Phase::AllReduce) {
        assert!(p.seconds.get(phase) > 0.0 && p.share.get(phase) > 0.0, "{} not measured: {p:?}", phase.name());
        assert!(p.ms_per_batch.get(phase) > 0.0);
    }
    let written: ProfileSummary =
        serde_json::from_str(&std::fs::read_to_string(report.dir.join(PROFILE_FILE)).unwrap()).unwrap();
    assert_eq!(written, p);
    let table = avc::train::profile::render(&p);
    for phase in ["data", "forward", "backward", "step", "total"] {
        assert!(table.contains(&format!("\n  {phase} ")), "{phase} missing:\n{table}");
    }
    assert!(!table.contains("all-reduce"), "{table}");

    // Off by default: nothing measured, nothing written.
    let plain = train(&compiled, &data, &cfg, &options("plain", false)).unwrap();
    assert!(plain.profile.is_none() && !plain.dir.join(PROFILE_FILE).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
