//! Training end to end on tiny data: the loss falls, the run directory is complete, and
//! the data checks reject a mismatch before anything trains.

use avc::compile::{Compiled, compile};
use avc::data::synth::{SynthConfig, generate};
use avc::source::SourceFile;
use avc::train::{TrainConfig, TrainOptions, train};
use std::path::PathBuf;

const TINY: &str = "
inputs: {video: [24, 16], audio: [24, 8]}
nodes:
  - {name: vproj, op: linear, in: video, out: 16}
  - {name: aproj, op: linear, in: audio, out: 16}
  - {name: joint, op: concat, in: [vproj, aproj]}
  - {name: rnn, op: lstm, in: joint, hidden: 16}
  - {name: conv, op: conv1d, in: rnn, out: 16, kernel: 3, padding: 1}
  - {name: norm, op: batchnorm, in: conv, affine: false}
  - {name: act, op: leaky_relu, in: norm}
  - {name: pool, op: maxpool1d, in: act, kernel: 2}
  - {name: pooled, op: max, in: pool}
  - {name: head, op: linear, in: pooled, out: 1}
outputs:
  - {name: match, kind: logit, from: head}
train: {epochs: 4, batch_size: 16, lr: 0.01}
";

fn tiny_data() -> avc::data::Dataset {
    generate(&SynthConfig {
        seed: 3,
        n_train: 96,
        n_test: 12,
        steps: 24,
        video_dim: 16,
        audio_dim: 8,
        ..Default::default()
    })
}

fn compile_text(text: &str) -> Compiled {
    match compile(&SourceFile::new("tiny.yaml", text)) {
        Ok(c) => c,
        Err(f) => panic!("{}", avc::diag::render_all(&f.diagnostics, &f.source, false)),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avc-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options(runs: PathBuf) -> TrainOptions {
    TrainOptions {
        device: tch::Device::Cpu,
        runs_dir: runs,
        run_name: Some("run".into()),
        arch_path: PathBuf::from("tiny.yaml"),
        verbose: false,
        max_batches: None,
    }
}

#[test]
fn loss_falls_and_the_run_directory_is_complete() {
    let compiled = compile_text(TINY);
    let cfg = TrainConfig::resolve(&compiled.graph.train, &[]).unwrap();
    let runs = scratch("loss");
    let report = train(&compiled, &tiny_data(), &cfg, &options(runs.clone())).unwrap();
    let losses: Vec<f64> = report.epochs.iter().map(|m| m.train_loss).collect();
    assert_eq!(losses.len(), 4);
    assert!(losses[3] < losses[0], "training loss did not fall: {losses:?}");
    for file in
        ["config.yaml", "metrics.jsonl", "last.safetensors", "best.safetensors", "best.json", "architecture.yaml"]
    {
        assert!(report.dir.join(file).is_file(), "{file} missing in the run directory");
    }
    let lines = std::fs::read_to_string(report.dir.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(first["val"]["top1"].is_number() && first["test"]["top5"].is_number());
    let _ = std::fs::remove_dir_all(runs);
}

#[test]
fn data_that_does_not_fit_the_inputs_is_rejected_by_name() {
    let compiled = compile_text(&TINY.replace("video: [24, 16]", "video: [24, 32]"));
    let cfg = TrainConfig::resolve(&compiled.graph.train, &[]).unwrap();
    let err = train(&compiled, &tiny_data(), &cfg, &options(scratch("shape"))).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("input `video` is declared as [24, 32]"), "{text}");
    assert!(text.contains("[24, 16]"), "{text}");
}
