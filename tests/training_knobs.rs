//! Issue 24's training knobs end to end on tiny data: CLIP's learned temperature (logged per
//! epoch, clamped, kept out of the weights, resumed exactly), the weights' moving average
//! (`train.ema`: what is evaluated and saved, resumed exactly) and parameter groups.

use crate::training::{compile_text, options, scratch, tiny_data};
use avc::run::checkpoint::{TRAINING, WEIGHTS};
use avc::run::weights;
use avc::train::{Ending, resume, train};

/// Two towers of mean-pooled projections and an embeddings output (InfoNCE).
const EMBEDDINGS: &str = "
inputs: {video: [24, 16], audio: [24, 8]}
nodes:
  - {name: vproj, op: linear, in: video, out: 16}
  - {name: vmean, op: mean, in: vproj}
  - {name: vemb, op: linear, in: vmean, out: 8}
  - {name: aproj, op: linear, in: audio, out: 16}
  - {name: amean, op: mean, in: aproj}
  - {name: aemb, op: linear, in: amean, out: 8}
outputs:
  - {name: towers, kind: embeddings, from: [vemb, aemb]}
train: {epochs: 3, batch_size: 16, lr: 0.02}
";

/// Trains `text` with `settings` (whole, and stopped in epoch 2 then resumed) and checks the
/// two give the same metrics lines; returns the whole run's report (and its directory).
fn trains_and_resumes_exactly(text: &str, settings: &[&str], name: &str) -> (crate::Scratch, avc::train::RunReport) {
    let _rng = crate::torch_rng_lock();
    let compiled = compile_text(text);
    let overrides: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    let cfg = avc::train::settle(&compiled, &overrides, tch::Device::Cpu).unwrap();
    let data = tiny_data();
    let whole_dir = scratch(&format!("{name}-whole"));
    let mut opts = options(whole_dir.to_path_buf());
    opts.overrides = overrides.clone();
    let whole = train(&compiled, &data, &cfg, &opts).unwrap();
    let stopped_dir = scratch(&format!("{name}-stopped"));
    let mut opts = options(stopped_dir.to_path_buf());
    opts.overrides = overrides;
    opts.stop_at = Some((2, 2));
    let stopped = train(&compiled, &data, &cfg, &opts).unwrap();
    assert_eq!(stopped.ending, Ending::Interrupted);
    let resumed = resume(&stopped.dir, &[], tch::Device::Cpu, false).unwrap();
    let lines = |r: &avc::train::RunReport| -> Vec<String> {
        r.epochs
            .iter()
            .map(|m| serde_json::to_string(&avc::train::EpochMetrics { seconds: 0.0, ..m.clone() }).unwrap())
            .collect()
    };
    assert_eq!(lines(&resumed), lines(&whole), "{name}: the resumed run differs from the whole one");
    (whole_dir, whole)
}

#[test]
fn a_learned_temperature_is_trained_logged_and_kept_out_of_the_weights() {
    let (_dir, report) = trains_and_resumes_exactly(EMBEDDINGS, &["train.temperature=learned"], "temperature");
    let temperatures: Vec<f64> = report.epochs.iter().map(|m| m.temperature.expect("logged per epoch")).collect();
    // CLIP's start, 0.07, moved by training, and within the clamp [0.01, 1].
    assert!(temperatures.iter().all(|t| (0.01..=1.0).contains(t)), "{temperatures:?}");
    assert!((temperatures[0] - 0.07).abs() > 1e-4, "the temperature did not train: {temperatures:?}");
    let last = report.dir.join("last");
    let kept = weights::read(&last.join(TRAINING)).unwrap();
    let scale = kept["@loss.log_scale"].double_value(&[]);
    assert!((scale - (1.0 / temperatures[2]).ln()).abs() < 1e-5, "{scale} vs {temperatures:?}");
    // Evaluation and export read weights.safetensors: it holds the model's tensors only.
    let saved = weights::read(&last.join(WEIGHTS)).unwrap();
    assert!(saved.keys().all(|n| !n.starts_with('@')), "{:?}", saved.keys());
    // A fixed temperature logs none and writes no training file.
    let (_fixed_dir, fixed) = trains_and_resumes_exactly(EMBEDDINGS, &[], "fixed-temperature");
    assert!(fixed.epochs.iter().all(|m| m.temperature.is_none()));
    assert!(!fixed.dir.join("last").join(TRAINING).exists());
}

#[test]
fn the_weights_average_is_what_is_saved_and_evaluated() {
    let (_dir, report) = trains_and_resumes_exactly(crate::training::TINY, &["train.ema=0.9"], "ema");
    let last = report.dir.join("last");
    let averaged = weights::read(&last.join(WEIGHTS)).unwrap();
    let kept = weights::read(&last.join(TRAINING)).unwrap();
    // The live weights are kept apart and differ from their average.
    let live = &kept["@live.head.weight"];
    let average = &averaged["head.weight"];
    assert!((live - average).abs().max().double_value(&[]) > 1e-6, "the average equals the live weights");
    // What `avc eval` loads (weights.safetensors) ranks the test clips as the last epoch's
    // line says: validation and test ran on the average.
    let loaded = avc::eval::apply::load_run(&report.dir, "last", tch::Device::Cpu).unwrap();
    let compiled = &loaded.opened.compiled;
    let cfg = avc::train::settle(compiled, &["train.ema=0.9".into()], tch::Device::Cpu).unwrap();
    let data = tiny_data();
    let (test, _) = avc::train::evaluate(&loaded.model, avc::train::Held::Clips(&data.test), &cfg).unwrap();
    let logged = &report.epochs.last().unwrap().test;
    assert_eq!((test.top1, test.mrr), (logged.top1, logged.mrr));
}

#[test]
fn a_learning_rate_multiplier_of_zero_keeps_a_node_as_it_started() {
    let _rng = crate::torch_rng_lock();
    let compiled = compile_text(EMBEDDINGS);
    let settings = ["train.lr_mult.vproj=0".to_string(), "train.epochs=1".to_string()];
    let cfg = avc::train::settle(&compiled, &settings, tch::Device::Cpu).unwrap();
    let dir = scratch("lr-mult");
    let mut opts = options(dir.to_path_buf());
    opts.overrides = settings.to_vec();
    let report = train(&compiled, &tiny_data(), &cfg, &opts).unwrap();
    // The same seed gives the same initial weights: a fresh model is the reference.
    tch::manual_seed(cfg.seed as i64);
    let fresh = avc::lower::lower(&compiled.graph, &compiled.checked, tch::Device::Cpu).unwrap();
    let start = fresh.vs.variables();
    let trained = weights::read(&report.dir.join("last").join(WEIGHTS)).unwrap();
    let moved = |name: &str| (&trained[name] - &start[name]).abs().max().double_value(&[]);
    assert_eq!(moved("vproj.weight"), 0.0);
    assert_eq!(moved("vproj.bias"), 0.0);
    assert!(moved("aproj.weight") > 1e-4, "the other nodes train");
    // A prefix that selects no weight is refused before anything trains.
    let bad = ["train.lr_mult.vprj=0.1".to_string()];
    let cfg = avc::train::settle(&compiled, &bad, tch::Device::Cpu).unwrap();
    let err = train(&compiled, &tiny_data(), &cfg, &options(dir.join("bad"))).unwrap_err().to_string();
    assert!(err.contains("train.lr_mult.vprj selects no weight") && err.contains("`vproj`"), "{err}");
}

/// A bf16 run resumes to the same numbers (its precision is a recorded setting), and its
/// checkpoints hold fp32 weights.
#[test]
fn a_bf16_run_resumes_exactly_in_bf16() {
    let (_dir, report) = trains_and_resumes_exactly(crate::training::TINY, &["train.precision=bf16"], "bf16");
    let saved = weights::read(&report.dir.join("last").join(WEIGHTS)).unwrap();
    assert!(saved.values().all(|t| t.kind() == tch::Kind::Float));
    let config = std::fs::read_to_string(report.dir.join("config.yaml")).unwrap();
    assert!(config.contains("precision: bf16"), "{config}");
}
