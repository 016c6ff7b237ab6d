//! Training end to end on tiny data: the loss falls, the run directory is complete, and
//! the data checks reject a mismatch before anything trains.

use avc::data::synth::generate;
use avc::train::{DataSource, Ending, TrainOptions, resume, train};
use avc_lang::compile::{Compiled, compile};
use avc_lang::source::SourceFile;
use std::path::PathBuf;

pub const TINY: &str = "
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
  - {name: drop, op: dropout, in: pooled, p: 0.2}
  - {name: head, op: linear, in: drop, out: 1}
outputs:
  - {name: match, kind: logit, from: head}
train: {epochs: 4, batch_size: 16, lr: 0.01}
";

const TINY_KNOBS: [&str; 5] = ["n_train=96", "n_test=12", "steps=24", "video_dim=16", "audio_dim=8"];

pub fn tiny_data() -> avc::data::TrainingData {
    let cfg = avc::train::synth_config(3, &TINY_KNOBS.map(String::from)).unwrap();
    let data: avc::data::TrainingData = generate(&cfg).into();
    assert_eq!(data.train.len(), 96);
    data
}

pub fn compile_text(text: &str) -> Compiled {
    match compile(&SourceFile::new("tiny.yaml", text)) {
        Ok(c) => c,
        Err(f) => panic!("{}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false)),
    }
}

pub fn scratch(name: &str) -> crate::Scratch {
    crate::scratch_dir(name)
}

pub fn options(runs: PathBuf) -> TrainOptions {
    TrainOptions {
        device: tch::Device::Cpu,
        runs_dir: runs,
        run_name: Some("run".into()),
        arch_path: PathBuf::from("tiny.yaml"),
        verbose: false,
        max_batches: None,
        stop_at: None,
        data_source: DataSource::Synth { seed: 3, knobs: TINY_KNOBS.iter().map(|k| k.to_string()).collect() },
        overrides: vec![],
        init: None,
        profile: false,
    }
}

/// The metrics of a run without wall-clock times, for exact comparisons.
fn numbers(report: &avc::train::RunReport) -> Vec<String> {
    report
        .epochs
        .iter()
        .map(|m| serde_json::to_string(&avc::train::EpochMetrics { seconds: 0.0, ..m.clone() }).unwrap())
        .collect()
}

#[test]
fn loss_falls_and_the_run_directory_is_complete() {
    let _rng = crate::torch_rng_lock();
    let compiled = compile_text(TINY);
    let cfg = avc::train::settle(&compiled, &[], tch::Device::Cpu).unwrap();
    let runs = scratch("loss");
    let report = train(&compiled, &tiny_data(), &cfg, &options(runs.to_path_buf())).unwrap();
    let losses: Vec<f64> = report.epochs.iter().map(|m| m.train_loss).collect();
    assert_eq!(losses.len(), 4);
    assert!(losses[3] < losses[0], "training loss did not fall: {losses:?}");
    for file in ["config.yaml", "manifest.json", "metrics.jsonl", "architecture.yaml"] {
        assert!(report.dir.join(file).is_file(), "{file} missing in the run directory");
    }
    for ckpt in ["last", "best"] {
        for file in ["weights.safetensors", "optimizer.safetensors", "state.json"] {
            assert!(report.dir.join(ckpt).join(file).is_file(), "{ckpt}/{file} missing");
        }
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
    let cfg = avc::train::settle(&compiled, &[], tch::Device::Cpu).unwrap();
    let err = train(&compiled, &tiny_data(), &cfg, &options(scratch("shape").to_path_buf())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("input `video` is declared as [24, 32]"), "{text}");
    assert!(text.contains("[24, 16]") && !text.contains("--crop"), "{text}");
    // Only the length differs: the message points at --crop.
    let compiled = compile_text(&TINY.replace("video: [24, 16], audio: [24, 8]", "video: [30, 16], audio: [30, 8]"));
    let err = train(&compiled, &tiny_data(), &cfg, &options(scratch("length").to_path_buf())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("are [24, 16]; only the length differs: `--crop start|center|random`"), "{text}");
}

#[test]
fn same_seed_same_numbers() {
    let _rng = crate::torch_rng_lock();
    let compiled = compile_text(TINY);
    let cfg = avc::train::settle(&compiled, &["train.epochs=2".into()], tch::Device::Cpu).unwrap();
    let data = tiny_data();
    let (a, b) = (scratch("repro-a"), scratch("repro-b"));
    let first = train(&compiled, &data, &cfg, &options(a.to_path_buf())).unwrap();
    let second = train(&compiled, &data, &cfg, &options(b.to_path_buf())).unwrap();
    assert_eq!(numbers(&first), numbers(&second));
    let other =
        avc::train::settle(&compiled, &["train.epochs=2".into(), "train.seed=9".into()], tch::Device::Cpu).unwrap();
    let third = train(&compiled, &data, &other, &options(scratch("repro-c").to_path_buf())).unwrap();
    assert_ne!(numbers(&first), numbers(&third), "another seed must change the run");
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}

#[test]
fn an_interrupted_run_resumes_to_the_same_numbers() {
    let _rng = crate::torch_rng_lock();
    let compiled = compile_text(TINY);
    let data = tiny_data();
    let cfg = avc::train::settle(&compiled, &["train.epochs=3".into()], tch::Device::Cpu).unwrap();
    let whole = train(&compiled, &data, &cfg, &options(scratch("whole").to_path_buf())).unwrap();
    // Stop in the middle of epoch 2, as Ctrl-C would, then resume from `last`.
    let runs = scratch("resumed");
    let mut opts = options(runs.to_path_buf());
    opts.overrides = vec!["train.epochs=3".into()];
    opts.stop_at = Some((2, 2));
    let stopped = train(&compiled, &data, &cfg, &opts).unwrap();
    assert_eq!(stopped.ending, Ending::Interrupted);
    assert_eq!(stopped.epochs.len(), 1);
    let resumed = resume(&stopped.dir, &[], tch::Device::Cpu, false).unwrap();
    assert_eq!(resumed.ending, Ending::Completed);
    assert_eq!(numbers(&resumed), numbers(&whole));
    assert_eq!(resumed.best_epoch, whole.best_epoch);
    let _ = std::fs::remove_dir_all(runs);
}

#[test]
fn a_model_with_nothing_to_train_is_refused_and_leaves_no_run() {
    let _rng = crate::torch_rng_lock();
    let compiled = compile_text(
        "
inputs: {video: [24, 16], audio: [24, 8]}
nodes:
  - {name: v, op: mean, in: video}
  - {name: a, op: mean, in: audio}
  - {name: vv, op: linear, in: v, out: 4}
  - {name: aa, op: linear, in: a, out: 4}
  - {name: d, op: l2_distance, in: [vv, aa]}
outputs:
  - {name: m, kind: distance, from: d}
train: {epochs: 1, batch_size: 16}
",
    );
    let runs = tempfile::TempDir::new().unwrap();
    // Nothing left to train once `--freeze` took every weight.
    let cfg = avc::train::settle(&compiled, &[], tch::Device::Cpu).unwrap();
    let first = train(&compiled, &tiny_data(), &cfg, &options(runs.path().join("a"))).expect("the model trains");
    let mut opts = options(runs.path().join("b"));
    opts.init = Some(avc::train::init::InitFrom {
        run: first.dir.clone(),
        checkpoint: "last".into(),
        only: Vec::new(),
        freeze: true,
    });
    let err = train(&compiled, &tiny_data(), &cfg, &opts).expect_err("everything frozen is refused");
    assert!(err.to_string().starts_with("nothing to train"), "{err}");
    assert!(!runs.path().join("b").join("run").exists(), "no half-made run directory is left");
}
