//! Mixed precision end to end (issue 24): `train.precision: bf16` trains `final` and
//! `two_tower` as fp32 does, writes fp32 weights, and evaluation in bf16 ranks the test
//! clips as fp32 does; fp16 is refused on the CPU with a message that points at bf16.

use crate::training::options;
use avc::run::checkpoint::WEIGHTS;
use avc::train::{Held, train};
use std::path::Path;

/// bf16 must lower the training loss by at least this share of what fp32 lowers it by in the
/// same steps, and evaluation in bf16 may change the top-1 of at most `TOP1_QUERIES` test
/// queries: the tolerances of docs/precision.md (measured there: `final` 0.569 against
/// 0.636, 89%).
const LOSS_DROP_SHARE: f64 = 0.75;
const TOP1_QUERIES: f64 = 2.0;

/// Trains `arch` for 2 epochs of at most 16 batches of 16 clips on 300 synthetic clips of
/// the default shapes, at `precision`; returns the report and its scratch directory.
fn trained(arch: &str, precision: &str) -> (crate::Scratch, avc::train::RunReport, avc_lang::compile::Compiled) {
    let compiled = crate::compile_ok(Path::new(arch));
    let overrides: Vec<String> =
        ["train.epochs=2", "train.batch_size=16", &format!("train.precision={precision}")].map(String::from).to_vec();
    let cfg = avc::train::settle(&compiled, &overrides, tch::Device::Cpu).unwrap();
    let knobs = vec!["n_train=300".to_string(), "n_test=30".to_string()];
    let data: avc::data::TrainingData =
        avc::data::synth::generate(&avc::train::synth_config(1, &knobs).unwrap()).into();
    let dir = crate::scratch_dir(&format!("precision-{precision}"));
    let mut opts = options(dir.to_path_buf());
    opts.arch_path = arch.into();
    opts.overrides = overrides;
    opts.max_batches = Some(16);
    opts.data_source = avc::train::DataSource::Synth { seed: 1, knobs };
    let report = train(&compiled, &data, &cfg, &opts).unwrap_or_else(|e| panic!("{arch} at {precision}: {e}"));
    (dir, report, compiled)
}

#[test]
fn bf16_trains_final_and_two_tower_as_fp32_does_and_writes_fp32_weights() {
    let _rng = crate::torch_rng_lock();
    for arch in ["architectures/final.avc", "architectures/synthetic-only/two_tower.avc"] {
        let (_a, exact, compiled) = trained(arch, "fp32");
        let (_b, low, _) = trained(arch, "bf16");
        let losses = |r: &avc::train::RunReport| r.epochs.iter().map(|m| m.train_loss).collect::<Vec<_>>();
        let (exact_loss, low_loss) = (losses(&exact), losses(&low));
        eprintln!("{arch}: fp32 {exact_loss:?}, bf16 {low_loss:?}");
        let (exact_drop, low_drop) = (exact_loss[0] - exact_loss[1], low_loss[0] - low_loss[1]);
        assert!(exact_drop > 0.0, "{arch}: the fp32 loss did not fall: {exact_loss:?}");
        assert!(low_drop >= LOSS_DROP_SHARE * exact_drop, "{arch}: bf16 {low_loss:?} against fp32 {exact_loss:?}");
        // What is saved is fp32, and loads into an fp32 model.
        let saved = avc::run::weights::read(&low.dir.join("last").join(WEIGHTS)).unwrap();
        assert!(saved.values().all(|t| t.kind() == tch::Kind::Float), "{arch}: weights not all fp32");
        // Evaluation in bf16 ranks the test clips as fp32 does, within a margin.
        let loaded = avc::eval::apply::load_run(&low.dir, "last", tch::Device::Cpu).unwrap();
        let (clips, _) = loaded.test_clips(None).unwrap();
        let cfg = avc::train::settle(&compiled, &[], tch::Device::Cpu).unwrap();
        let (fp32, _) = avc::train::evaluate(&loaded.model, Held::Clips(&clips), &cfg).unwrap();
        let mut model = loaded.model;
        model.set_precision(avc::lower::Precision::Bf16);
        let (bf16, _) = avc::train::evaluate(&model, Held::Clips(&clips), &cfg).unwrap();
        eprintln!("{arch}: eval top-1 fp32 {} bf16 {}, mrr {} {}", fp32.top1, bf16.top1, fp32.mrr, bf16.mrr);
        let queries = fp32.queries as f64;
        assert!((fp32.top1 - bf16.top1).abs() * queries <= TOP1_QUERIES, "{arch}: {fp32:?} vs {bf16:?}");
    }
}

#[test]
fn fp16_is_refused_on_the_cpu_with_a_pointer_to_bf16() {
    let compiled = crate::compile_ok(Path::new("architectures/final.avc"));
    let err = avc::train::settle(&compiled, &["train.precision=fp16".into()], tch::Device::Cpu).err().unwrap();
    let text = err.to_string();
    assert!(text.contains("--set train.precision=fp16") && text.contains("on the CPU use `bf16`"), "{text}");
    assert!(avc::train::settle(&compiled, &["train.precision=bf16".into()], tch::Device::Cpu).is_ok());
}
