//! Every file in architectures/ trains a few steps (their summaries are snapshotted by
//! avc-lang's tests/architectures.rs, which needs no libtorch).

/// Every architecture trains for a couple of batches on a few clips of the default shapes
/// (or of the lengths its inputs declare, e.g. audio_2x's 240 audio steps) and is evaluated:
/// its loss (whatever its output kind picks) is finite and its ranking covers the test
/// clips. Not for accuracy, only that each file is trainable end to end.
#[test]
fn every_architecture_trains_a_few_steps() {
    trains_a_few_steps(&crate::architecture_files(), "every-arch");
}

/// The Conformer-style fixture of the op set of current models (avc-lang's
/// tests/fixtures/ok/conformer.avc: grouped causal conv1d, GLU, SiLU, RMSNorm, sinusoidal
/// positions) trains as an architecture does.
#[test]
fn the_conformer_fixture_trains_a_few_steps() {
    let path = std::path::PathBuf::from("crates/avc-lang/tests/fixtures/ok/conformer.avc");
    trains_a_few_steps(&[path], "conformer");
}

fn trains_a_few_steps(files: &[std::path::PathBuf], scratch_name: &str) {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir(scratch_name);
    for path in files {
        let compiled = crate::compile_ok(path);
        let knobs = knobs_for(&compiled);
        let data: avc::data::TrainingData =
            avc::data::synth::generate(&avc::train::synth_config(2, &knobs).unwrap()).into();
        let overrides: Vec<String> = ["train.epochs=1", "train.batch_size=6"].map(String::from).to_vec();
        let cfg = avc::train::settle(&compiled, &overrides, tch::Device::Cpu).unwrap();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().replace('.', "_");
        let opts = avc::train::TrainOptions {
            device: tch::Device::Cpu,
            runs_dir: scratch.to_path_buf(),
            run_name: Some(name),
            arch_path: path.clone(),
            verbose: false,
            max_batches: Some(2),
            stop_at: None,
            data_source: avc::train::DataSource::Synth { seed: 2, knobs: knobs.clone() },
            overrides,
            init: None,
            profile: false,
        };
        let report = avc::train::train(&compiled, &data, &cfg, &opts)
            .unwrap_or_else(|e| panic!("{} does not train: {e}", path.display()));
        let epoch = &report.epochs[0];
        assert!(epoch.train_loss.is_finite() && epoch.val_loss.is_finite(), "{}: {epoch:?}", path.display());
        assert_eq!(epoch.test.queries, 6, "{}", path.display());
    }
    let _ = std::fs::remove_dir_all(scratch);
}

/// Synthetic data for an architecture: a few clips of the default shapes, with each stream's
/// length set to what the model declares where the two differ (audio at another frame rate).
fn knobs_for(compiled: &avc_lang::compile::Compiled) -> Vec<String> {
    let mut knobs: Vec<String> = ["n_train=20", "n_test=6"].map(String::from).to_vec();
    if let [Some([video, _]), Some([audio, _])] = avc::data::expect::declared(compiled)
        && video != audio
    {
        knobs.extend([format!("steps={video}"), format!("audio_steps={audio}")]);
    }
    knobs
}
