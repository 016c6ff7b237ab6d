//! The seeded property test: 200 random valid graphs on small clips, each tower a chain of
//! op snippets and a joint part drawn from the forms `avc eval` splits (factored `linear`,
//! `lstm` and `gru`, similarities, embeddings), initialised with every variable moved off
//! its initial value (so biases and running statistics count), exported whole and split,
//! and run by ONNX Runtime against avc's forward pass on random clips.

use avc::export::onnx::{self as onnx, OnnxError};
use avc::lower::{self, PairBatch};
use avc_lang::ir::NodeKind;
use std::collections::BTreeSet;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// A snippet from `[B, 6, 8]` (`{x}`) to `[B, 6, 8]`: statements, then the expression; `{n}`
/// is a prefix unique to the use. The flag: it also fits a symbolic length `T`.
const TOWER: &[(&str, bool)] = &[
    ("linear({x}, out: 8)", true),
    ("linear({x}, out: 8, bias: false)", true),
    ("lstm({x}, hidden: 4, bidirectional: true)", true),
    ("gru({x}, hidden: 8, layers: 2)", true),
    ("repeat(unsqueeze(lstm({x}, hidden: 8, output: \"last\"), axis: 1), axis: 1, times: 6)", false),
    (
        "repeat(unsqueeze(gru({x}, hidden: 4, bidirectional: true, output: \"last\"), axis: 1), axis: 1, times: 6)",
        false,
    ),
    ("conv1d({x}, out: 8, kernel: 3, padding: \"same\")", true),
    ("conv1d({x}, out: 8, kernel: 2, padding: \"same\", bias: false)", true),
    ("conv1d({x}, out: 8, kernel: 3, padding: \"causal\", dilation: 2, groups: 2)", true),
    ("pad(conv1d({x}, out: 8, kernel: 3, stride: 2), axis: 1, before: 2, after: 2)", false),
    ("repeat(maxpool1d({x}, kernel: 2), axis: 1, times: 2)", false),
    ("concat(avgpool1d({x}, kernel: 3), slice(avgpool1d({x}, kernel: 2, stride: 1), axis: 1, end: 4), axis: 1)", false),
    ("reshape(conv2d(unsqueeze({x}, axis: 1), out: 1, kernel: 3, padding: 1), shape: [6, 8])", false),
    (
        "slice(reshape(conv2d(unsqueeze({x}, axis: 1), out: 2, kernel: 2, padding: \"same\"), shape: [12, 8]), axis: 1, end: 6)",
        false,
    ),
    ("reshape(repeat(maxpool2d(unsqueeze({x}, axis: 1), kernel: 2), axis: 1, times: 4), shape: [6, 8])", false),
    ("reshape(repeat(avgpool2d(unsqueeze({x}, axis: 1), kernel: 2), axis: 1, times: 4), shape: [6, 8])", false),
    ("batchnorm({x})", true),
    ("batchnorm({x}, affine: false)", true),
    ("select(permute(batchnorm(unsqueeze({x}, axis: 1)), dims: [0, 2, 3, 1]), axis: 3, index: 0)", false),
    ("layernorm({x})", true),
    ("layernorm({x}, affine: false, eps: 0.001)", true),
    ("rmsnorm({x})", true),
    ("rmsnorm({x}, affine: false)", true),
    ("dropout({x}, p: 0.3)", true),
    ("relu({x})", true),
    ("leaky_relu({x}, slope: 0.2)", true),
    ("tanh({x})", true),
    ("sigmoid({x})", true),
    ("softmax({x})", true),
    ("log_softmax({x}, axis: 1)", true),
    ("gelu({x})", true),
    ("gelu({x}, approximate: \"tanh\")", true),
    ("silu({x})", true),
    ("glu(linear({x}, out: 16))", true),
    ("softplus({x}, beta: 2.0, threshold: 1.0)", true),
    ("elu({x}, alpha: 0.5)", true),
    ("exp(tanh({x}))", true),
    ("log(sigmoid({x}))", true),
    ("sqrt(abs({x}) + 1)", true),
    ("clamp({x}, min: -0.5, max: 0.5)", true),
    ("clamp({x}, min: 0.1)", true),
    ("pow(sigmoid({x}), exponent: 1.5)", true),
    ("2 - {x} * 0.5", true),
    ("2 / (abs({x}) + 1)", true),
    ("{x} / 4 - tanh({x})", true),
    ("-{x} + {x} * sigmoid({x})", true),
    ("{n}_w = param(shape: [8])\n{x} + {n}_w", true),
    ("{n}_w = param(shape: [8, 8])\nmatmul({x}, {n}_w)", true),
    ("residual({x}, linear({x}, out: 8))", true),
    ("residual(linear({x}, out: 4), {x})", true),
    ("matmul(softmax(matmul({x}, {x}, transpose_b: true)), {x})", true),
    ("bmm(softmax(bmm({x}, transpose({x}))), {x})", true),
    ("{x} * cosine({x}, tanh({x}))", true),
    ("{x} - l2_distance({x}, sigmoid({x}))", true),
    ("{x} + unsqueeze(mean({x}), axis: 1)", true),
    ("{x} - unsqueeze(max({x}), axis: 1)", true),
    ("unsqueeze(sum({x}, axis: -1), axis: -1) * {x}", true),
    ("{x} + unsqueeze(last({x}), axis: 1)", true),
    ("{x} + unsqueeze(attention({x}, hidden: 4), axis: 1)", true),
    ("{x} * unsqueeze(attention({x}, hidden: 4, output: \"weights\"), axis: -1)", true),
    ("{x} + unsqueeze(attention({x}, mean({x}), hidden: 4), axis: 1)", true),
    ("self_attention({x}, heads: 2)", true),
    ("cross_attention({x}, tanh({x}), heads: 2)", true),
    ("reshape(flatten({x}), shape: [6, 8])", false),
    ("transpose(linear(transpose({x}), out: 6))", false),
    ("permute(linear(permute({x}, dims: [0, 2, 1]), out: 6), dims: [0, 2, 1])", false),
    ("transpose(linear(transpose(adaptive_avgpool1d({x}, size: 4)), out: 6))", false),
    ("transpose(linear(transpose(adaptive_maxpool1d({x}, size: 4)), out: 6))", false),
    ("reshape(repeat(adaptive_avgpool2d(unsqueeze({x}, axis: 1), size: 4), axis: 1, times: 3), shape: [6, 8])", false),
    ("reshape(repeat(adaptive_maxpool2d(unsqueeze({x}, axis: 1), size: 4), axis: 1, times: 3), shape: [6, 8])", false),
    ("sinusoidal_position({x})", true),
    ("sinusoidal_position({x}, base: 100.0)", true),
    ("learned_position({x}, max_len: 10)", true),
    ("concat(slice({x}, axis: 1, start: 3), slice({x}, axis: 1, start: 0, end: 3), axis: 1)", false),
    ("concat(slice({x}, axis: 2, start: -3), slice({x}, axis: -1, end: 5))", true),
    ("{n}_a, {n}_b = chunk({x}, chunks: 2)\nconcat({n}_b, {n}_a)", true),
    ("{n}_a, {n}_b = split({x}, sizes: [3, 5])\nconcat({n}_b, {n}_a)", true),
    ("{x} + unsqueeze(select({x}, axis: 1, index: -1), axis: 1)", true),
    ("index({x}, axis: 1, indices: [5, 4, 3, 2, 1, -6])", false),
    ("linear(reshape(stack({x}, tanh({x}), axis: 2), shape: [6, 16]), out: 8)", false),
    ("pad(slice({x}, axis: 1, start: 1), axis: 1, before: 1, value: 0.5)", false),
    ("expand(slice({x}, axis: 2, start: 0, end: 1), axis: 2, size: 8)", true),
    ("{n}_c = param(shape: [1, 1, 8])\nconcat(expand({n}_c, {x}), slice({x}, axis: 1, start: 1), axis: 1)", false),
    ("flip({x})", true),
    ("{x} + embedding(positions({x}), count: 6, dim: 8)", false),
];

/// Joint parts on the towers' `{v}` and `{a}`, ending in the model's outputs.
const JOINT: &[&str] = &[
    "j1 = linear(concat(mean({v}), max({a})), out: 4)\nj2 = linear(tanh(j1), out: 1)\noutput match: logit(j2)",
    "j1 = lstm(concat({v}, {a}), hidden: 4, output: \"last\")\nj2 = linear(j1, out: 1)\noutput match: logit(j2)",
    "j1 = gru(concat({v}, {a}), hidden: 3, bidirectional: true, layers: 2)\nj2 = linear(mean(j1), out: 1)\noutput match: logit(j2)",
    "j1 = lstm(concat({v}, {a}), hidden: 3, bidirectional: true)\nj2 = linear(max(j1), out: 1)\noutput match: logit(j2)",
    "j1 = gru(concat({v}, {a}), hidden: 4, output: \"last\")\nj2 = linear(j1, out: 1)\noutput match: logit(j2)",
    "j1 = concat({v}, {a})\nj2 = linear(j1, out: 4)\nj3 = linear(mean(j2 + slice(j1, axis: 2, end: 4)), out: 1)\noutput match: logit(j3)",
    "j1 = linear(cosine(mean({v}), mean({a})), out: 1)\noutput match: logit(j1)",
    "j1 = lagged_cosine({v}, {a}, max_lag: 2)\nj2 = linear(j1, out: 1)\noutput match: logit(j2)",
    "j1 = l2_distance(mean({v}), mean({a}))\noutput d: distance(j1)",
    "ve = mean({v})\nae = max({a})\noutput towers: embeddings(ve, ae)",
];

/// A counter-based stream of avc's one seed-mixing function (src/random.rs): deterministic.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(avc::random::GAMMA);
        (avc::random::finish(self.0) % n.max(1) as u64) as usize
    }
}

/// Graph `k`'s text; every 4th has a symbolic length. Tower snippets are drawn in turn
/// first (so 200 graphs use each many times), then at random.
fn graph_text(k: usize, rng: &mut Rng) -> String {
    let symbolic = k % 4 == 3;
    let len = if symbolic { "T" } else { "6" };
    let mut text = format!("input video: [{len}, 8]\ninput audio: [{len}, 8]\n");
    let fits: Vec<&str> = TOWER.iter().filter(|t| t.1 || !symbolic).map(|t| t.0).collect();
    let mut ends = Vec::new();
    for (t, input) in [("v", "video"), ("a", "audio")] {
        let mut x = input.to_string();
        for step in 0..1 + rng.below(3) {
            let snippet = if step == 0 && t == "v" { fits[k % fits.len()] } else { fits[rng.below(fits.len())] };
            let n = format!("{t}{step}");
            let body = snippet.replace("{x}", &x).replace("{n}", &n);
            let (stmts, expr) = body.rsplit_once('\n').unwrap_or(("", &body));
            if !stmts.is_empty() {
                text.push_str(stmts);
                text.push('\n');
            }
            text.push_str(&format!("{n} = {expr}\n"));
            x = n;
        }
        ends.push(x);
    }
    let joint = JOINT[rng.below(JOINT.len())].replace("{v}", &ends[0]).replace("{a}", &ends[1]);
    text.push_str(&joint);
    text.push('\n');
    text
}

/// Moves every variable off its initial value (variances stay positive).
fn perturb(model: &lower::Model) {
    tch::no_grad(|| {
        for (name, var) in model.vs.variables() {
            let noise = Tensor::randn_like(&var) * 0.1;
            let moved = if name.ends_with("running_var") { (&var + noise).abs() + 0.5 } else { &var + noise };
            var.shallow_clone().copy_(&moved);
        }
    });
}

/// avc's outputs on 3 random clips of each stream, as an `avc export` sample.
fn sample(model: &lower::Model, path: &Path) {
    let video = Tensor::randn([3, 6, 8], (Kind::Float, Device::Cpu));
    let audio = Tensor::randn([3, 6, 8], (Kind::Float, Device::Cpu));
    let rows = lower::aligned_rows(3, Device::Cpu).unwrap();
    let batch = PairBatch { video: &video, audio: &audio, video_rows: &rows, audio_rows: &rows, lengths: None };
    let outs = tch::no_grad(|| model.forward(&batch, false)).unwrap();
    let mut named = vec![("video".to_string(), video.shallow_clone()), ("audio".to_string(), audio.shallow_clone())];
    for (binding, tensors) in model.outputs.iter().zip(outs) {
        if binding.kind == avc_lang::ast::OutputKind::Embeddings {
            named.push((format!("output.{}.video", binding.name), tensors[0].shallow_clone()));
            named.push((format!("output.{}.audio", binding.name), tensors[1].shallow_clone()));
        } else {
            named.push((format!("output.{}", binding.name), tensors[0].shallow_clone()));
        }
    }
    Tensor::write_safetensors(&named, path).unwrap();
}

fn compile(name: &str, text: &str) -> avc_lang::compile::Compiled {
    let source = avc_lang::source::SourceFile::new(name, text);
    match avc_lang::compile::compile(&source) {
        Ok(c) => c,
        Err(failed) => panic!(
            "{name} does not compile:\n{text}\n{}",
            avc_lang::diag::render_all(&failed.diagnostics, &failed.source, false)
        ),
    }
}

#[test]
fn two_hundred_random_graphs_run_in_onnx_runtime_as_in_avc() {
    let _rng = crate::torch_rng_lock();
    tch::manual_seed(25);
    let scratch = crate::scratch_dir("export-onnx-random");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut used = BTreeSet::new();
    let mut cases = Vec::new();
    for k in 0..200 {
        let text = graph_text(k, &mut rng);
        let compiled = compile(&format!("random{k}.avc"), &text);
        for id in compiled.graph.ids() {
            if let NodeKind::Op(op) = &compiled.graph.node(id).kind {
                used.insert(op.name());
            }
        }
        let model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).unwrap();
        perturb(&model);
        let (whole, split, samples) =
            (scratch.join(format!("g{k}.onnx")), scratch.join(format!("g{k}")), scratch.join(format!("g{k}.sample")));
        sample(&model, &samples);
        let export = |out: &Path, split: bool| {
            onnx::export_model(&compiled.graph, &compiled.checked, &model, out, split, &[])
                .unwrap_or_else(|e| panic!("graph {k}:\n{text}\n{e}"))
        };
        export(&whole, false);
        export(&split, true);
        cases.push(serde_json::json!({
            "name": format!("graph {k}"), "whole": whole, "split": split, "sample": samples, "nudge": k == 0,
        }));
    }
    let registry: BTreeSet<&str> = avc_lang::ops::registry().iter().map(|s| s.name).collect();
    let refused: BTreeSet<&str> = onnx::ops::NOT_EXPORTED.iter().map(|(op, _)| *op).collect();
    let missing: Vec<&&str> = registry.iter().filter(|op| !used.contains(**op) && !refused.contains(**op)).collect();
    assert!(missing.is_empty(), "ops neither covered by the random graphs nor refused: {missing:?}");
    let text = super::check(&cases, &scratch);
    let last = text.lines().rev().find(|l| l.starts_with("largest difference")).unwrap_or_default();
    println!("{last}");
}

/// A length the graph leaves symbolic cannot be cut into adaptive windows in ONNX: the
/// error names the node and the op, and no file is written.
#[test]
fn an_op_without_a_faithful_onnx_form_is_refused_by_name() {
    let text = "input video: [T, 8]\ninput audio: [T, 8]\nv = adaptive_avgpool1d(video, size: 3)\n\
                a = adaptive_maxpool1d(audio, size: 3)\nj = linear(concat(mean(v), mean(a)), out: 1)\n\
                output match: logit(j)\n";
    let compiled = compile("adaptive.avc", text);
    let model = lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).unwrap();
    let scratch = crate::scratch_dir("export-onnx-refused");
    let out = scratch.join("m.onnx");
    let err = onnx::export_model(&compiled.graph, &compiled.checked, &model, &out, false, &[]).unwrap_err();
    match &err {
        OnnxError::Unsupported { node, op, .. } => assert_eq!((node.as_str(), *op), ("v", "adaptive_avgpool1d")),
        other => panic!("{other}"),
    }
    let message = err.to_string();
    assert!(message.contains("`v`") && message.contains("adaptive_avgpool1d"), "{message}");
    assert!(!out.exists());
}
