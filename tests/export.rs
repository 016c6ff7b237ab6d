//! `avc export` writes weights a PyTorch user can load: for final (as shipped and in the
//! seed's form), dual_cnn and ta_lstm_metric (tests/python/torch_twins.py) and for the five
//! current designs of issue 22 (tests/python/design_twins.py), a hand-written torch.nn twin
//! loads the exported file with `strict=True` and reproduces avc's outputs on the same clips.

use avc::train::{DataSource, TrainOptions, train};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Trains `arch` (a path) for two batches on a few synthetic clips of the default shapes
/// (the real architectures need [120, 1024] and [120, 128]; the stream lengths the file
/// declares where the two differ, as audio_2x's 240 audio steps), so that BatchNorm's
/// running statistics move; at least `test_clips` test clips. Returns the run directory.
/// The export tests of every format (weights, PyTorch source, ONNX) start from it.
pub(crate) fn trained_run(arch: &Path, scratch: &Path, test_clips: usize) -> PathBuf {
    let compiled = crate::compile_ok(arch);
    let overrides: Vec<String> = ["train.epochs=1", "train.batch_size=8"].map(String::from).to_vec();
    let cfg = avc::train::settle(&compiled, &overrides, tch::Device::Cpu).unwrap();
    let mut knobs = vec!["n_train=24".to_string(), format!("n_test={}", test_clips.max(6))];
    if let [Some([video, _]), Some([audio, _])] = avc::data::expect::declared(&compiled)
        && video != audio
    {
        knobs.extend([format!("steps={video}"), format!("audio_steps={audio}")]);
    }
    let data: avc::data::TrainingData =
        avc::data::synth::generate(&avc::train::synth_config(5, &knobs).unwrap()).into();
    let stem = arch.file_name().unwrap().to_string_lossy().replace('.', "_");
    let opts = TrainOptions {
        device: tch::Device::Cpu,
        runs_dir: scratch.to_path_buf(),
        run_name: Some(stem),
        arch_path: arch.to_path_buf(),
        verbose: false,
        max_batches: Some(2),
        stop_at: None,
        data_source: DataSource::Synth { seed: 5, knobs },
        overrides,
        init: None,
        profile: false,
    };
    train(&compiled, &data, &cfg, &opts).unwrap().dir
}

/// [`trained_run`] for the architecture file named `arch`, exported with a sample of 4 clips.
fn trained_and_exported(arch: &str, scratch: &Path) -> (PathBuf, PathBuf) {
    let run = trained_run(&crate::architecture_path(arch), scratch, 4);
    let (weights, sample) = (scratch.join(format!("{arch}.safetensors")), scratch.join(format!("{arch}.sample")));
    let done = avc::export::export(&run, "last", &weights, Some((&sample, 4))).unwrap();
    assert!(done.tensors.iter().all(|(name, _)| !name.contains("__")), "{:?}", done.tensors);
    (weights, sample)
}

#[test]
fn exported_weights_reproduce_avc_in_torch_nn() {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir("export");
    let python = crate::venv_python();
    assert!(python.exists(), "{} is missing: run scripts/libtorch.sh", python.display());
    for (arch, twin) in [
        ("final.yaml", "final"),
        ("final_seed.yaml", "final_seed"),
        ("dual_cnn.avc", "dual_cnn"),
        ("ta_lstm_metric.avc", "ta_lstm_metric"),
    ] {
        let (weights, sample) = trained_and_exported(arch, &scratch);
        let out = Command::new(&python)
            .arg("tests/python/torch_twins.py")
            .args([twin, weights.to_str().unwrap(), sample.to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{arch}: the torch.nn twin disagrees or fails:\n{text}");
        assert!(text.contains("max abs difference"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The five current designs (tests/designs.rs): each trained for two batches and exported;
/// its hand-written twin in tests/python/design_twins.py must reproduce avc's outputs on the
/// sample's clips within 1e-4 of their scale (their largest magnitude, at least 1: float32
/// rounding in another summation order grows with the outputs; a bilinear score of about 50
/// differed by 2.3e-5, and one run of gated_fusion, whose gate reads 1,152 features, by
/// 2.4e-5 where others gave 5e-7), and the check must not be blind (nudged weights move them
/// by more than 1e-2).
#[test]
fn the_five_designs_reproduce_avc_in_their_torch_nn_twins() {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir("export-designs");
    let python = crate::venv_python();
    assert!(python.exists(), "{} is missing: run scripts/libtorch.sh", python.display());
    for design in crate::designs::DESIGNS {
        let (weights, sample) = trained_and_exported(&format!("{design}.avc"), &scratch);
        let out = Command::new(&python)
            .args(["tests/python/design_twins.py", "check", design])
            .args([weights.to_str().unwrap(), sample.to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{design}: the torch.nn twin disagrees or fails:\n{text}");
        assert!(text.contains("max abs difference"), "{text}");
        print!("{text}");
    }
}

#[test]
fn a_shared_layer_is_exported_once_under_its_owner() {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir("export-shared");
    let (weights, _) = trained_and_exported("ta_lstm_metric.avc", &scratch);
    let names: Vec<String> = tch::Tensor::read_safetensors(&weights).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().any(|n| n == "vfc.weight"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("afc.")), "{names:?}");
    assert!(names.iter().any(|n| n == "vrnn.weight_hh_l1"), "{names:?}");
    let _ = std::fs::remove_dir_all(&scratch);
}
