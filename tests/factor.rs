//! The factoring of the first joint layer (`W [v; a] = W_v v + W_a a`, each share per clip)
//! computes what the unfactored layer computes: outputs and gradients, in evaluation and in
//! training, for `linear`, `lstm` and `gru` with their options.

use avc::lower::{self, Factoring, Model, PairBatch};
use avc_lang::check::{Tower, factor_sites};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// A pair model on `[7, 5]` video and `[7, 3]` audio whose first joint node is `layer`
/// reading `joint = concat(v, a)` (sequences `[B, 7, 4]` and `[B, 7, 6]`), then `rest`.
fn model_text(joint: &str, layer: &str, rest: &str) -> String {
    format!(
        "
inputs: {{video: [7, 5], audio: [7, 3]}}
nodes:
  - {{name: v, op: lstm, in: video, hidden: 4}}
  - {{name: v2, op: linear, in: video, out: 2}}
  - {{name: a, op: linear, in: audio, out: 6}}
  - {{name: vlast, op: max, in: v}}
  - {{name: alast, op: max, in: a}}
  - {joint}
  - {layer}
{rest}
outputs:
  - {{name: match, kind: logit, from: head}}
"
    )
}

const SEQ: &str = "{name: joint, op: concat, in: [v, a]}";
const POOL_HEAD: &str = "  - {name: pooled, op: max, in: layer}\n  - {name: head, op: linear, in: pooled, out: 1}";
const HEAD: &str = "  - {name: head, op: linear, in: layer, out: 1}";

/// The cases: (what, model text).
fn cases() -> Vec<(&'static str, String)> {
    vec![
        (
            "linear on vectors",
            model_text(
                "{name: joint, op: concat, in: [vlast, alast]}",
                "{name: layer, op: linear, in: joint, out: 3}",
                HEAD,
            ),
        ),
        ("linear on sequences", model_text(SEQ, "{name: layer, op: linear, in: joint, out: 3}", POOL_HEAD)),
        (
            "linear on three parts, concat read elsewhere",
            model_text(
                "{name: joint, op: concat, in: [v, a, v2]}",
                "{name: layer, op: linear, in: joint, out: 12}",
                "  - {name: res, op: add, in: [joint, layer]}\n  - {name: pooled, op: max, in: res}\n  - {name: head, op: linear, in: pooled, out: 1}",
            ),
        ),
        ("lstm", model_text(SEQ, "{name: layer, op: lstm, in: joint, hidden: 4}", POOL_HEAD)),
        (
            "lstm, 2 layers, bidirectional, last",
            model_text(
                SEQ,
                "{name: layer, op: lstm, in: joint, hidden: 3, layers: 2, bidirectional: true, output: last}",
                HEAD,
            ),
        ),
        (
            "lstm, bidirectional, last",
            model_text(SEQ, "{name: layer, op: lstm, in: joint, hidden: 3, bidirectional: true, output: last}", HEAD),
        ),
        ("gru", model_text(SEQ, "{name: layer, op: gru, in: joint, hidden: 4}", POOL_HEAD)),
        (
            "gru, 2 layers, bidirectional",
            model_text(SEQ, "{name: layer, op: gru, in: joint, hidden: 3, layers: 2, bidirectional: true}", POOL_HEAD),
        ),
        ("gru, last", model_text(SEQ, "{name: layer, op: gru, in: joint, hidden: 4, output: last}", HEAD)),
    ]
}

/// The output on fixed pairs (repeated rows included), with or without recording
/// gradients (in-place steps run without).
fn output(model: &Model, train: bool, grad: bool) -> Tensor {
    output_of(model, train, grad, 7)
}

/// [`output`] on the first `pairs` of its pairs: with 5, fewer pairs than the 7 clips (the
/// split gathers the pairs' rows instead of stacking every clip's).
fn output_of(model: &Model, train: bool, grad: bool, pairs: i64) -> Tensor {
    // Values from no generator: another test drawing from libtorch's between a seed and a
    // draw here once changed the inputs of one of two calls.
    let video = fixed([3, 7, 5], 0.37);
    let audio = fixed([4, 7, 3], 0.91);
    let vi = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 2]).narrow(0, 0, pairs);
    let ai = Tensor::from_slice(&[0i64, 1, 2, 3, 3, 0, 2]).narrow(0, 0, pairs);
    let batch = PairBatch { video: &video, audio: &audio, video_rows: &vi, audio_rows: &ai, lengths: None };
    let forward = || model.forward(&batch, train).expect("runs").remove(0).remove(0);
    if grad { forward() } else { tch::no_grad(forward) }
}

/// The output and every variable's gradient of a weighted sum of it.
fn run(model: &Model, train: bool, pairs: i64) -> (Tensor, BTreeMap<String, Tensor>) {
    let out = output_of(model, train, true, pairs);
    let weights = fixed(out.size(), 1.3);
    let vars = model.vs.variables();
    for t in vars.values() {
        let mut t = t.shallow_clone();
        t.zero_grad();
    }
    (&out * &weights).sum(Kind::Float).backward();
    let grads = vars
        .into_iter()
        .map(|(name, t)| {
            let g = t.grad();
            (name, if g.defined() { g.copy() } else { t.zeros_like() })
        })
        .collect();
    (out.detach(), grads)
}

/// Values in [-1, 1] that look random enough for a comparison: `sin(k * step * 7.1)`.
fn fixed(size: impl Into<Vec<i64>>, step: f64) -> Tensor {
    let size: Vec<i64> = size.into();
    let n: i64 = size.iter().product();
    Tensor::arange(n, (Kind::Float, Device::Cpu)).f_mul_scalar(step * 7.1).unwrap().sin().view(size.as_slice())
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn the_factored_layer_computes_the_unfactored_outputs_and_gradients() {
    for (what, text) in cases() {
        let compiled = crate::training::compile_text(&text);
        let sites = factor_sites(&compiled.graph, &compiled.checked);
        assert_eq!(sites.len(), 1, "{what}: one factored site");
        let mut model = {
            let _rng = crate::torch_rng_lock();
            tch::manual_seed(11);
            lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).expect("lowers")
        };
        for (train, pairs) in [(false, 7), (true, 7), (false, 5), (true, 5)] {
            model.set_factoring(Factoring::Never);
            assert!(model.factored_nodes(train).is_empty());
            let (plain, plain_grads) = run(&model, train, pairs);
            model.set_factoring(Factoring::Always);
            assert_eq!(model.factored_nodes(train), ["layer"], "{what}: the factoring runs");
            let (split, split_grads) = run(&model, train, pairs);
            let mode = format!("{}, {pairs} pairs", if train { "training" } else { "evaluation" });
            assert_eq!(plain.size(), split.size());
            let diff = max_diff(&plain, &split);
            assert!(diff < 1e-5, "{what}, {mode}: outputs differ by {diff}");
            let diff = max_diff(&plain, &output_of(&model, train, false, pairs));
            assert!(diff < 1e-5, "{what}, {mode} without gradients: outputs differ by {diff}");
            assert!(plain.abs().max().double_value(&[]) > 1e-3, "{what}: a blind comparison");
            for (name, g) in &plain_grads {
                let diff = max_diff(g, &split_grads[name]);
                assert!(diff < 1e-5, "{what}, {mode}: the gradient of {name} differs by {diff}");
            }
            let moved =
                plain_grads.iter().filter(|(n, g)| n.starts_with("layer.") && g.abs().max().double_value(&[]) > 0.0);
            assert!(moved.count() > 0, "{what}: the factored layer's weights get gradients");
        }
    }
}

#[test]
fn a_batch_too_small_for_the_factoring_runs_the_layer_whole() {
    let compiled = crate::training::compile_text(&cases()[3].1);
    let mut model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).expect("lowers");
    model.set_factoring(Factoring::Never);
    let plain = output(&model, false, false);
    // `Auto` factors lstm in evaluation, but 7 pairs are below its `min_pairs`: the encoding
    // must still hold the concatenated tower values for the layer to run whole.
    model.set_factoring(Factoring::Auto);
    assert_eq!(model.factored_nodes(false), ["layer"]);
    let diff = max_diff(&plain, &output(&model, false, false));
    assert!(diff < 1e-6, "outputs differ by {diff}");
}

#[test]
fn the_factoring_keeps_the_variables_and_their_names() {
    let text = &cases()[4].1;
    let compiled = crate::training::compile_text(text);
    let mut model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).expect("lowers");
    let names = |m: &Model| m.vs.variables().into_iter().map(|(n, t)| (n, t.size())).collect::<BTreeMap<_, _>>();
    let before = names(&model);
    model.set_factoring(Factoring::Always);
    assert_eq!(names(&model), before);
    assert!(before.contains_key("layer.weight_ih_l0_reverse"), "{before:?}");
}

#[test]
fn a_concat_of_joint_values_or_a_second_layer_is_not_factored() {
    let text = model_text(
        SEQ,
        "{name: layer, op: lstm, in: joint, hidden: 4}",
        "  - {name: again, op: concat, in: [layer, v]}\n  - {name: second, op: linear, in: again, out: 2}\n  - {name: pooled, op: max, in: second}\n  - {name: head, op: linear, in: pooled, out: 1}",
    );
    let compiled = crate::training::compile_text(&text);
    let sites = factor_sites(&compiled.graph, &compiled.checked);
    let names: Vec<&str> = sites.iter().map(|s| compiled.graph.node(s.node).name.as_str()).collect();
    assert_eq!(names, ["layer"], "`second` reads a joint value");
    let site = &sites[0];
    assert_eq!(site.parts.iter().map(|p| (p.start, p.width)).collect::<Vec<_>>(), [(0, 4), (4, 6)]);
    assert_eq!(site.macs_per_pair, Some(7 * 10 * 16), "T x F x 4 * hidden");
    assert_eq!(site.share_macs(Tower::Video), Some(7 * 4 * 16));
    assert_eq!(site.share_macs(Tower::Audio), Some(7 * 6 * 16));
    assert!(!site.in_training, "lstm is factored in evaluation only");
}
