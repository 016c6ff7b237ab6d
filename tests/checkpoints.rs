//! Checkpoints meet graphs: a checkpoint compared with a changed model lists every
//! difference (resume refuses with all of them), and `--init-from` copies an audio tower
//! into a new model, optionally frozen.

use avc::run::checkpoint::{Checkpoint, OPTIMIZER, WEIGHTS};
use avc::run::weights::{self, LoadReport, NamedShape, ShapeMismatch};
use avc::train::init::InitFrom;
use avc::train::{DataSource, Ending, RunReport, TrainOptions, resume, train};
use avc_lang::compile::Compiled;
use std::collections::HashMap;
use std::path::Path;
use tch::Tensor;

/// An audio tower (aproj -> arnn), a video projection and a joint LSTM.
const A: &str = "
inputs: {video: [24, 16], audio: [24, 8]}
nodes:
  - {name: vproj, op: linear, in: video, out: 16}
  - {name: aproj, op: linear, in: audio, out: 16}
  - {name: arnn, op: lstm, in: aproj, hidden: 16}
  - {name: joint, op: concat, in: [vproj, arnn]}
  - {name: rnn, op: lstm, in: joint, hidden: 16}
  - {name: pooled, op: max, in: rnn}
  - {name: head, op: linear, in: pooled, out: 1}
outputs:
  - {name: match, kind: logit, from: head}
train: {epochs: 1, batch_size: 8, lr: 0.05}
";

/// The same audio tower; a wider video projection (so vproj and the joint LSTM's input
/// weights change shape) and a new head (fc, out) instead of `head`.
const B: &str = "
inputs: {video: [24, 16], audio: [24, 8]}
nodes:
  - {name: vproj, op: linear, in: video, out: 24}
  - {name: aproj, op: linear, in: audio, out: 16}
  - {name: arnn, op: lstm, in: aproj, hidden: 16}
  - {name: joint, op: concat, in: [vproj, arnn]}
  - {name: rnn, op: lstm, in: joint, hidden: 16}
  - {name: pooled, op: max, in: rnn}
  - {name: fc, op: linear, in: pooled, out: 8}
  - {name: out, op: linear, in: fc, out: 1}
outputs:
  - {name: match, kind: logit, from: out}
train: {epochs: 2, batch_size: 8, lr: 0.05}
";

const KNOBS: [&str; 5] = ["n_train=32", "n_test=8", "steps=24", "video_dim=16", "audio_dim=8"];

const TOWER: [&str; 6] =
    ["aproj.bias", "aproj.weight", "arnn.bias_hh_l0", "arnn.bias_ih_l0", "arnn.weight_hh_l0", "arnn.weight_ih_l0"];

fn scratch(name: &str) -> crate::Scratch {
    crate::scratch_dir(&format!("ckpt-{name}"))
}

fn compile(dir: &Path, name: &str, text: &str) -> Compiled {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    crate::compile_ok(&path)
}

fn data() -> avc::data::TrainingData {
    avc::data::synth::generate(&avc::train::synth_config(4, &KNOBS.map(String::from)).unwrap()).into()
}

/// Trains `compiled` (from `arch` in `dir`) into `dir/runs/<name>`, one batch per epoch.
fn run(
    dir: &Path,
    arch: &str,
    compiled: &Compiled,
    name: &str,
    init: Option<InitFrom>,
    stop_at: Option<(i64, usize)>,
) -> Result<RunReport, avc::train::TrainError> {
    let cfg = avc::train::settle(compiled, &[], tch::Device::Cpu).unwrap();
    let opts = TrainOptions {
        device: tch::Device::Cpu,
        runs_dir: dir.join("runs"),
        run_name: Some(name.into()),
        arch_path: dir.join(arch),
        verbose: false,
        max_batches: Some(1),
        stop_at,
        data_source: DataSource::Synth { seed: 4, knobs: KNOBS.iter().map(|k| k.to_string()).collect() },
        overrides: vec![],
        init,
        profile: false,
    };
    train(compiled, &data(), &cfg, &opts)
}

fn tensors(checkpoint: &Path) -> HashMap<String, Tensor> {
    weights::read(&checkpoint.join(WEIGHTS)).unwrap()
}

fn equal(a: &Tensor, b: &Tensor) -> bool {
    a.size() == b.size() && a.equal(b)
}

fn shapes(names: &[(&str, &[i64])]) -> Vec<NamedShape> {
    names.iter().map(|(n, s)| NamedShape { name: n.to_string(), shape: s.to_vec() }).collect()
}

#[test]
fn a_changed_graph_is_reported_tensor_by_tensor_and_resume_lists_it_all() {
    let _rng = crate::torch_rng_lock();
    let dir = scratch("report");
    let a = compile(&dir, "a.yaml", A);
    let b = compile(&dir, "b.yaml", B);
    let model_a = avc::lower::lower(&a.graph, &a.checked, tch::Device::Cpu).unwrap();
    let model_b = avc::lower::lower(&b.graph, &b.checked, tch::Device::Cpu).unwrap();
    let saved = dir.join("a.safetensors");
    model_a.vs.save(&saved).unwrap();
    let report = LoadReport::of(&model_b.vs, &weights::read(&saved).unwrap());
    let matched: Vec<&str> = report.matched.iter().map(|t| t.name.as_str()).collect();
    let mut expected: Vec<&str> = TOWER.to_vec();
    expected.extend(["rnn.bias_hh_l0", "rnn.bias_ih_l0", "rnn.weight_hh_l0"]);
    expected.sort();
    assert_eq!(matched, expected);
    assert_eq!(
        report.missing,
        shapes(&[("fc.bias", &[8]), ("fc.weight", &[8, 16]), ("out.bias", &[1]), ("out.weight", &[1, 8])])
    );
    assert_eq!(report.unexpected, shapes(&[("head.bias", &[1]), ("head.weight", &[1, 16])]));
    let mismatch = |name: &str, model: &[i64], checkpoint: &[i64]| ShapeMismatch {
        name: name.into(),
        model: model.to_vec(),
        checkpoint: checkpoint.to_vec(),
    };
    assert_eq!(
        report.reshaped,
        [
            mismatch("rnn.weight_ih_l0", &[64, 40], &[64, 32]),
            mismatch("vproj.bias", &[24], &[16]),
            mismatch("vproj.weight", &[24, 16], &[16, 16]),
        ]
    );

    // A run whose architecture copy changed under it: resume names every difference.
    let trained = run(&dir, "a.yaml", &a, "a", None, Some((1, 0))).unwrap();
    assert_eq!(trained.ending, Ending::Interrupted);
    std::fs::write(trained.dir.join("architecture.yaml"), B).unwrap();
    let err = resume(&trained.dir, &[], tch::Device::Cpu, false).unwrap_err().to_string();
    for part in [
        "do not fit the model's graph",
        "missing from the checkpoint (4):\n    `fc.bias` [8]\n    `fc.weight` [8, 16]\n    `out.bias` [1]\n    `out.weight` [1, 8]\n",
        "in the checkpoint but not the model (2):\n    `head.bias` [1]\n    `head.weight` [1, 16]\n",
        "another shape (3):\n    `rnn.weight_ih_l0`: model [64, 40], checkpoint [64, 32]\n",
        "`vproj.weight`: model [24, 16], checkpoint [16, 16]",
    ] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn init_from_loads_an_audio_tower_and_freeze_keeps_it() {
    let _rng = crate::torch_rng_lock();
    let dir = scratch("init");
    let a = compile(&dir, "a.yaml", A);
    let b = compile(&dir, "b.yaml", B);
    let source = run(&dir, "a.yaml", &a, "a", None, None).unwrap();
    let pretrained = tensors(&source.dir.join("best"));
    let tower = || InitFrom {
        run: source.dir.clone(),
        checkpoint: "best".into(),
        only: vec!["aproj".into(), "arnn".into()],
        freeze: false,
    };

    // Stopped before its first batch: `last` holds the weights as initialised.
    let loaded = run(&dir, "b.yaml", &b, "loaded", Some(tower()), Some((1, 0))).unwrap();
    let start = tensors(&loaded.dir.join("last"));
    for name in TOWER {
        assert!(equal(&start[name], &pretrained[name]), "{name} was not loaded");
    }
    assert!(!equal(&start["rnn.weight_hh_l0"], &pretrained["rnn.weight_hh_l0"]), "--only must limit the copy");
    let record = avc::train::init::read_init_record(&loaded.dir).expect("init.json");
    let names: Vec<&str> = record.report.matched.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, TOWER);
    assert!(record.frozen.is_empty());

    // Frozen: two epochs, stopped in the second and resumed (which must freeze it again).
    let frozen = run(&dir, "b.yaml", &b, "frozen", Some(InitFrom { freeze: true, ..tower() }), Some((2, 0))).unwrap();
    assert_eq!(frozen.ending, Ending::Interrupted);
    let resumed = resume(&frozen.dir, &[], tch::Device::Cpu, false).unwrap();
    assert_eq!((resumed.ending, resumed.epochs.len()), (Ending::Completed, 2));
    let end = tensors(&frozen.dir.join("last"));
    for name in TOWER {
        assert!(equal(&end[name], &pretrained[name]), "frozen {name} changed in training");
    }
    for name in ["vproj.weight", "rnn.weight_ih_l0", "fc.weight", "out.weight"] {
        assert!(!equal(&end[name], &start[name]), "{name} did not train");
    }
    let last = Checkpoint::locate(&frozen.dir, "last").unwrap();
    let optimizer = weights::read(&last.join(OPTIMIZER)).unwrap();
    assert!(optimizer.contains_key("exp_avg.vproj.weight"));
    assert!(!optimizer.keys().any(|k| k.contains("aproj") || k.contains("arnn")), "frozen variables in the optimiser");
    let config = std::fs::read_to_string(frozen.dir.join("config.yaml")).unwrap();
    assert!(config.contains("init_from:") && config.contains("freeze: true"), "{config}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(frozen.dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["init_from"]["only"], serde_json::json!(["aproj", "arnn"]));

    // Selections that load nothing are errors, and leave no run directory behind.
    let typo = InitFrom { only: vec!["arn".into()], ..tower() };
    let err = run(&dir, "b.yaml", &b, "typo", Some(typo), None).unwrap_err().to_string();
    assert!(err.contains("--only arn selects no tensor") && err.contains("did you mean `arnn`?"), "{err}");
    assert!(!dir.join("runs/typo").exists());
    let reshaped = InitFrom { only: vec!["vproj".into()], ..tower() };
    let err = run(&dir, "b.yaml", &b, "reshaped", Some(reshaped), None).unwrap_err().to_string();
    assert!(
        err.contains("nothing to load") && err.contains("\n    `vproj.weight`: model [24, 16], checkpoint [16, 16]"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
