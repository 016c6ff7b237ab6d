//! Each output kind trains with its loss (BCE, contrastive, InfoNCE, triplet; BCE with label
//! smoothing), and a loss named for another kind is refused, located, before anything is
//! loaded.

use crate::training::{compile_text, options, scratch, tiny_data};
use avc::train::{loss, train};

/// Two small towers; `HEAD` is replaced by each test's output part.
const TOWERS: &str = "
inputs: {video: [24, 16], audio: [24, 8]}
nodes:
  - {name: vproj, op: linear, in: video, out: 16}
  - {name: vrnn, op: lstm, in: vproj, hidden: 16, output: last}
  - {name: vemb, op: linear, in: vrnn, out: 8}
  - {name: aproj, op: linear, in: audio, out: 16}
  - {name: armn, op: lstm, in: aproj, hidden: 16, output: last}
  - {name: aemb, op: linear, in: armn, out: 8}
HEAD
train: {epochs: 4, batch_size: 16, lr: 0.01}
";

fn model(head: &str) -> String {
    TOWERS.replace("HEAD", head)
}

const DISTANCE: &str = "  - {name: dist, op: l2_distance, in: [vemb, aemb]}
outputs:
  - {name: match, kind: distance, from: dist}";

/// Embeddings (ranked first) and a distance on the same towers.
const TWO_OUTPUTS: &str = "  - {name: dist, op: l2_distance, in: [vemb, aemb]}
outputs:
  - {name: towers, kind: embeddings, from: [vemb, aemb]}
  - {name: match, kind: distance, from: dist}";

const EMBEDDINGS: &str = "outputs:
  - {name: towers, kind: embeddings, from: [vemb, aemb]}";

/// Trains 4 epochs and returns the training losses.
fn train_losses(text: &str, overrides: &[&str]) -> Vec<f64> {
    let _rng = crate::torch_rng_lock();
    let compiled = compile_text(text);
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let cfg = avc::train::settle(&compiled, &overrides, tch::Device::Cpu).unwrap();
    let runs = scratch("loss-kind");
    let mut opts = options(runs.to_path_buf());
    opts.overrides = overrides;
    let report = train(&compiled, &tiny_data(), &cfg, &opts).unwrap();
    let _ = std::fs::remove_dir_all(runs);
    report.epochs.iter().map(|m| m.train_loss).collect()
}

#[test]
fn a_distance_output_trains_with_the_contrastive_loss() {
    let losses = train_losses(&model(DISTANCE), &[]);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses[3] < losses[0], "contrastive loss did not fall: {losses:?}");
    // A larger margin pushes mismatches further: a different loss from the first step.
    let wider = train_losses(&model(DISTANCE), &["train.margin=3"]);
    assert!(wider[0] > losses[0], "{wider:?} vs {losses:?}");
}

#[test]
fn embeddings_train_with_infonce() {
    let losses = train_losses(&model(EMBEDDINGS), &[]);
    assert!(losses[3] < losses[0], "InfoNCE did not fall: {losses:?}");
    // In-batch negatives of 16 clips: an untrained model starts near ln(16).
    assert!((losses[0] - 16f64.ln()).abs() < 1.5, "{losses:?}");
}

#[test]
fn embeddings_train_with_a_triplet_loss_and_logits_with_label_smoothing() {
    for mining in ["hardest", "semi_hard"] {
        let mine = format!("train.mining={mining}");
        let losses = train_losses(&model(EMBEDDINGS), &["train.loss=triplet", &mine]);
        assert!(losses.iter().all(|l| l.is_finite() && *l >= 0.0), "{mining}: {losses:?}");
        assert!(losses[3] < losses[0], "{mining}: the triplet loss did not fall: {losses:?}");
    }
    let logit = "  - {name: j, op: concat, in: [vemb, aemb]}
  - {name: head, op: linear, in: j, out: 1}
outputs:
  - {name: match, kind: logit, from: head}";
    let plain = train_losses(&model(logit), &[]);
    let smoothed = train_losses(&model(logit), &["train.label_smoothing=0.2"]);
    assert!(smoothed[3] < smoothed[0], "smoothed BCE did not fall: {smoothed:?}");
    // The smoothed targets are another loss from the first batch on.
    assert!((smoothed[0] - plain[0]).abs() > 1e-6, "label smoothing changed nothing: {smoothed:?} {plain:?}");
    let bad = avc::train::settle(&compile_text(&model(logit)), &["train.label_smoothing=1.5".into()], tch::Device::Cpu);
    assert!(bad.unwrap_err().to_string().contains("a number in [0, 1)"));
}

#[test]
fn loss_weights_scale_each_outputs_loss_and_check_shows_what_trains() {
    let both = TWO_OUTPUTS;
    let alone = train_losses(&model(EMBEDDINGS), &[]);
    let together = train_losses(&model(both), &[]);
    // Weight 0: the second output is evaluated but adds nothing; the first batch's loss is
    // the InfoNCE term alone, as for the model without it (the same towers and seed).
    let muted = train_losses(&model(both), &["train.loss_weight.match=0"]);
    assert!((muted[0] - alone[0]).abs() < 1e-4, "{muted:?} vs {alone:?}");
    // Half the weight: the epoch's mean loss lies between the two (the batches after the
    // first train differently, so it is not exactly halfway).
    let half = train_losses(&model(both), &["train.loss_weight.match=0.5"]);
    assert!(muted[0] < half[0] && half[0] < together[0], "{muted:?} < {half:?} < {together:?}");
    // A weight for an output that does not exist, or no output left to train: refused.
    let compiled = compile_text(&model(both));
    let settle = |o: &str| avc::train::settle(&compiled, &[o.to_string()], tch::Device::Cpu).unwrap_err().to_string();
    let unknown = settle("train.loss_weight.aux=0.3");
    assert!(unknown.contains("--set train.loss_weight.aux=0.3: `loss_weight.aux` names no output"), "{unknown}");
    let weights = [("aux".to_string(), 0.3)];
    let err = avc_lang::settings::loss::check_weights(&compiled.graph, &weights, &[]).unwrap_err();
    assert!(err.help.as_deref().is_some_and(|h| h.contains("`towers`") && h.contains("`match`")), "{err:?}");
    let text = model(both).replace("train: {", "train: {loss_weight.towers: 0, loss_weight.match: 0, ");
    let failed = avc_lang::compile::compile(&avc_lang::source::SourceFile::new("w.yaml", text.as_str()));
    let message = match failed {
        Ok(_) => panic!("a model with nothing to train compiled"),
        Err(f) => avc_lang::diag::render_all(&f.diagnostics, &f.source, false),
    };
    assert!(message.contains("nothing would be trained"), "{message}");
    // avc check: each output's line says whether and how it trains, and which one ranks.
    let weighted = compile_text(&model(both).replace("train: {", "train: {loss_weight.match: 0.3, "));
    let summary = avc_lang::check::render_table(&weighted.graph, &weighted.checked);
    assert!(
        summary.contains("output `towers`: embeddings from vemb, aemb; trains with infonce; ranks in evaluation"),
        "{summary}"
    );
    assert!(summary.contains("output `match`: distance from dist; trains with contrastive x 0.3\n"), "{summary}");
    // YAML's `loss: {OUTPUT: weight}` (issue 24's spelling) is the same setting.
    let mapped = compile_text(&model(both).replace("train: {", "train: {loss: {match: 0.3}, "));
    assert_eq!(avc_lang::check::render_table(&mapped.graph, &mapped.checked), summary);
    let text = model(both).replace("train: {", "train: {loss: {aux: 0.3}, ");
    let Err(failed) = avc_lang::compile::compile(&avc_lang::source::SourceFile::new("w.yaml", text.as_str())) else {
        panic!("a weight for an output the model lacks compiled");
    };
    let message = avc_lang::diag::render_all(&failed.diagnostics, &failed.source, false);
    assert!(message.contains("`loss.aux` names no output of the model") && message.contains("w.yaml:"), "{message}");
}

#[test]
fn a_loss_for_another_output_kind_is_a_located_error() {
    // In the file: every compile refuses it (so `avc check` does too), at the setting.
    let text = model(EMBEDDINGS).replace("lr: 0.01}", "lr: 0.01, loss: contrastive}");
    let Err(failed) = avc_lang::compile::compile(&avc_lang::source::SourceFile::new("tiny.yaml", &text)) else {
        panic!("a loss that does not fit the output compiled");
    };
    assert_eq!(failed.diagnostics.len(), 1, "one error, no follow-on");
    insta::assert_snapshot!("loss_kind_mismatch", failed.diagnostics[0].render(&failed.source, false));
    // From the command line, the flag is named instead.
    let compiled = compile_text(&model(EMBEDDINGS));
    let flag = vec!["train.loss=bce".to_string()];
    let cfg = avc::train::TrainConfig::resolve(&compiled.graph.train, &flag).unwrap();
    let err = loss::check(&compiled.graph, &cfg.loss, &flag).unwrap_err();
    let said = "--set train.loss=bce: loss `bce` needs a `logit` output, but output `towers` is of kind `embeddings`";
    assert_eq!(err.to_string(), said);
    // Training settles its settings before anything else, so train() cannot be reached with
    // them: settle refuses with the same message.
    let refused = avc::train::settle(&compiled, &flag, tch::Device::Cpu).unwrap_err();
    assert_eq!(refused.to_string(), said);
}

#[test]
fn several_outputs_add_their_losses_and_the_first_is_ranked() {
    let both = TWO_OUTPUTS;
    let alone = train_losses(&model(EMBEDDINGS), &[]);
    let together = train_losses(&model(both), &[]);
    assert!(together.iter().all(|l| l.is_finite()), "{together:?}");
    // Same seed, same first batch: the sum is the InfoNCE term plus a positive contrastive one.
    assert!(together[0] > alone[0], "{together:?} vs {alone:?}");
}

#[test]
fn an_embeddings_export_samples_both_towers() {
    let _rng = crate::torch_rng_lock();
    let compiled = compile_text(&model(EMBEDDINGS));
    let overrides = vec!["train.epochs=1".to_string()];
    let cfg = avc::train::settle(&compiled, &overrides, tch::Device::Cpu).unwrap();
    let runs = scratch("export-embeddings");
    let mut opts = options(runs.to_path_buf());
    opts.overrides = overrides;
    let report = train(&compiled, &tiny_data(), &cfg, &opts).unwrap();
    let (weights, sample) = (runs.join("w.safetensors"), runs.join("s.safetensors"));
    avc::export::export(&report.dir, "best", &weights, Some((&sample, 5))).unwrap();
    let tensors: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(&sample).unwrap().into_iter().collect();
    assert_eq!(tensors["output.towers.video"].size(), [5, 8]);
    assert_eq!(tensors["output.towers.audio"].size(), [5, 8]);
    assert_eq!(tensors["video"].size(), [5, 24, 16]);
    let _ = std::fs::remove_dir_all(runs);
}
