//! The losses of issue 24 against their PyTorch formulas, values and gradients to 1e-6 on
//! fixed tensors (tests/python/loss_grads.py): BCE with label smoothing, InfoNCE with a fixed
//! or learned temperature in both directions or one, and the triplet loss with hardest and
//! semi-hard negatives mined within the batch.

use avc::train::loss::{Directions, LossKind, LossSettings, Mining, batch_loss, batch_loss_scaled};
use std::process::Command;
use tch::{Kind, Tensor};

/// Writes avc's loss and gradients for the inputs; returns the case's manifest entry.
fn record(
    dir: &std::path::Path,
    name: &str,
    loss: LossKind,
    settings: &LossSettings,
    inputs: [Tensor; 2],
) -> serde_json::Value {
    let [x0, x1] = inputs;
    let (x0, x1) = (x0.set_requires_grad(true), x1.set_requires_grad(loss != LossKind::Bce));
    let out = match loss {
        LossKind::Bce => batch_loss(loss, settings, &[x0.shallow_clone()], &x1),
        _ => batch_loss(
            loss,
            settings,
            &[x0.shallow_clone(), x1.shallow_clone()],
            &Tensor::zeros([0], tch::kind::FLOAT_CPU),
        ),
    }
    .unwrap();
    out.backward();
    let mut named = vec![("in.0", x0.detach()), ("in.1", x1.detach()), ("out", out.detach()), ("grad.in.0", x0.grad())];
    if x1.requires_grad() {
        named.push(("grad.in.1", x1.grad()));
    }
    let file = dir.join(format!("{name}.safetensors"));
    let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (*n, t)).collect();
    Tensor::write_safetensors(&refs, &file).unwrap();
    let mining = match settings.mining {
        Mining::Hardest => "hardest",
        Mining::SemiHard => "semi_hard",
    };
    serde_json::json!({
        "name": name, "file": file, "loss": loss.name(),
        "label_smoothing": settings.label_smoothing, "margin": settings.triplet_margin, "mining": mining,
    })
}

#[test]
fn losses_agree_with_their_pytorch_formulas() {
    let _rng = crate::torch_rng_lock();
    tch::manual_seed(24);
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    let logits = Tensor::randn([16, 1], (Kind::Float, tch::Device::Cpu)).f_mul_scalar(2.0).unwrap();
    let labels =
        Tensor::from_slice(&[1.0f32, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
    for s in [0.0, 0.1, 0.3] {
        let settings = LossSettings { label_smoothing: s, ..LossSettings::default() };
        let inputs = [logits.copy(), labels.copy()];
        cases.push(record(dir.path(), &format!("bce_smoothing_{s}"), LossKind::Bce, &settings, inputs));
    }
    // Embeddings whose cosine distances spread over [0, 2], so each rule picks differently.
    let video = Tensor::randn([12, 6], (Kind::Float, tch::Device::Cpu));
    let audio = (&video * 0.6 + Tensor::randn([12, 6], (Kind::Float, tch::Device::Cpu))).detach();
    for (mining, margin) in [(Mining::Hardest, 0.2), (Mining::SemiHard, 0.2), (Mining::SemiHard, 0.8)] {
        let settings = LossSettings { triplet_margin: margin, mining, ..LossSettings::default() };
        let name = format!("triplet_{mining:?}_{margin}");
        cases.push(record(dir.path(), &name, LossKind::Triplet, &settings, [video.copy(), audio.copy()]));
    }
    let loss = agree_with_pytorch(dir.path(), &cases);
    // Not blind: the settings change the loss.
    assert!((loss("bce_smoothing_0") - loss("bce_smoothing_0.3")).abs() > 1e-3);
    assert!((loss("triplet_Hardest_0.2") - loss("triplet_SemiHard_0.2")).abs() > 1e-3);
}

/// Writes avc's InfoNCE and its gradients (the embeddings' and, when learned, the log
/// scale's) for the case; returns its manifest entry.
fn record_infonce(
    dir: &std::path::Path,
    name: &str,
    settings: &LossSettings,
    log_scale: Option<f32>,
    inputs: [&Tensor; 2],
) -> serde_json::Value {
    let [v, a] = inputs.map(|t| t.copy().set_requires_grad(true));
    let scale = log_scale.map(|s| Tensor::from(s).set_requires_grad(true));
    let none = Tensor::zeros([0], tch::kind::FLOAT_CPU);
    let out =
        batch_loss_scaled(LossKind::InfoNce, settings, scale.as_ref(), &[v.shallow_clone(), a.shallow_clone()], &none)
            .unwrap();
    out.backward();
    let mut named = vec![
        ("in.0", v.detach()),
        ("in.1", a.detach()),
        ("out", out.detach()),
        ("grad.in.0", v.grad()),
        ("grad.in.1", a.grad()),
    ];
    if let Some(s) = &scale {
        named.extend([("in.scale", s.detach()), ("grad.in.scale", s.grad())]);
    }
    let file = dir.join(format!("{name}.safetensors"));
    let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (*n, t)).collect();
    Tensor::write_safetensors(&refs, &file).unwrap();
    let directions = match settings.directions {
        Directions::Both => "both",
        Directions::V2a => "v2a",
        Directions::A2v => "a2v",
    };
    serde_json::json!({
        "name": name, "file": file, "loss": "infonce", "temperature": settings.temperature, "directions": directions,
    })
}

#[test]
fn infonce_with_a_learned_temperature_agrees_with_clips_formula() {
    let _rng = crate::torch_rng_lock();
    tch::manual_seed(25);
    let dir = tempfile::tempdir().unwrap();
    let video = Tensor::randn([12, 6], (Kind::Float, tch::Device::Cpu));
    let audio = (&video * 0.7 + Tensor::randn([12, 6], (Kind::Float, tch::Device::Cpu))).detach();
    let mut cases = Vec::new();
    for directions in [Directions::Both, Directions::V2a, Directions::A2v] {
        let settings = LossSettings { directions, temperature: 0.2, ..LossSettings::default() };
        let name = format!("infonce_fixed_{directions:?}");
        cases.push(record_infonce(dir.path(), &name, &settings, None, [&video, &audio]));
        // ln(1 / 0.07), CLIP's start, and a scale of 20.
        for (i, s) in [(1.0f32 / 0.07).ln(), 20f32.ln()].into_iter().enumerate() {
            let name = format!("infonce_learned_{directions:?}_{i}");
            cases.push(record_infonce(dir.path(), &name, &settings, Some(s), [&video, &audio]));
        }
    }
    let loss = agree_with_pytorch(dir.path(), &cases);
    // Not blind: the direction and the scale change the loss.
    assert!((loss("infonce_learned_V2a_0") - loss("infonce_learned_A2v_0")).abs() > 1e-4);
    assert!((loss("infonce_learned_Both_0") - loss("infonce_learned_Both_1")).abs() > 1e-3);
}

/// Runs tests/python/loss_grads.py on the cases written to `dir`, asserts every case agrees
/// with PyTorch (values and gradients to 1e-6) and returns PyTorch's loss by case name.
fn agree_with_pytorch(dir: &std::path::Path, cases: &[serde_json::Value]) -> impl Fn(&str) -> f64 {
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, serde_json::json!({"tol": 1e-6, "cases": cases}).to_string()).unwrap();
    let out = Command::new(crate::venv_python()).arg("tests/python/loss_grads.py").arg(&manifest).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "loss_grads.py failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<serde_json::Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(results.len(), cases.len(), "{stdout}");
    let bad: Vec<&serde_json::Value> = results.iter().filter(|r| r["ok"] != true).collect();
    assert!(bad.is_empty(), "losses that disagree with PyTorch: {bad:#?}");
    move |name: &str| results.iter().find(|r| r["name"] == name).unwrap()["loss"].as_f64().unwrap()
}

#[test]
fn the_validation_loss_is_the_training_loss_on_the_same_matrix() {
    // group_loss reads a score matrix (cosine similarities for embeddings): on a batch's own
    // matrix it must give what batch_loss gives, for the triplet as for InfoNCE.
    tch::manual_seed(7);
    let video = Tensor::randn([10, 5], (Kind::Float, tch::Device::Cpu));
    let audio = (&video * 0.5 + Tensor::randn([10, 5], (Kind::Float, tch::Device::Cpu))).detach();
    let scores: Vec<f32> =
        Vec::try_from(avc::train::loss::cosine_matrix(&video, &audio).unwrap().flatten(0, -1)).unwrap();
    for mining in [Mining::Hardest, Mining::SemiHard] {
        let settings = LossSettings { mining, triplet_margin: 0.5, ..LossSettings::default() };
        let none = Tensor::zeros([0], tch::kind::FLOAT_CPU);
        let batch = batch_loss(LossKind::Triplet, &settings, &[video.copy(), audio.copy()], &none).unwrap();
        let (sum, terms) = avc::train::loss::group_loss(LossKind::Triplet, &settings, &scores, 10);
        let diff = (batch.double_value(&[]) - sum / terms as f64).abs();
        assert!(diff < 1e-5, "{mining:?}: batch {} vs group {}", batch.double_value(&[]), sum / terms as f64);
    }
    for directions in [Directions::Both, Directions::V2a, Directions::A2v] {
        let settings = LossSettings { directions, temperature: 0.3, ..LossSettings::default() };
        let none = Tensor::zeros([0], tch::kind::FLOAT_CPU);
        let batch = batch_loss(LossKind::InfoNce, &settings, &[video.copy(), audio.copy()], &none).unwrap();
        let (sum, terms) = avc::train::loss::group_loss(LossKind::InfoNce, &settings, &scores, 10);
        let diff = (batch.double_value(&[]) - sum / terms as f64).abs();
        assert!(diff < 1e-5, "{directions:?}: batch {} vs group {}", batch.double_value(&[]), sum / terms as f64);
    }
}
