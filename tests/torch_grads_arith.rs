//! Tensor arithmetic, learned tensors and slices against PyTorch's autograd (values and
//! gradients), broadcasting included: [B, T, F] * [B, 1, F], [B, T, F] - [F], a scalar.

use crate::torch_grads::{Case, check, float, int};
use avc::ops::ResolvedArg;
use avc_lang::ast::{Value, ValueKind};
use avc_lang::source::Span;

fn ints(name: &str, vs: &[i64]) -> ResolvedArg {
    let items = vs.iter().map(|&v| Value { kind: ValueKind::Int(v), span: Span::empty() }).collect();
    crate::torch_grads::arg(name, ValueKind::List(items))
}

#[test]
fn arithmetic_broadcasts_as_pytorch_does() {
    let cases = vec![
        Case {
            name: "mul [B,T,F]*[B,1,F]",
            op: "mul",
            args: vec![],
            inputs: vec![vec![2, 5, 4], vec![2, 1, 4]],
            torch: "x0 * x1",
        },
        Case {
            name: "sub [B,T,F]-[F]",
            op: "sub",
            args: vec![],
            inputs: vec![vec![2, 5, 4], vec![4]],
            torch: "x0 - x1",
        },
        Case {
            name: "div [B,T,F]/[B,T,1]",
            op: "div",
            args: vec![],
            inputs: vec![vec![2, 3, 4], vec![2, 3, 1]],
            torch: "x0 / x1",
        },
        Case {
            name: "add [B,T,F]+[1,T,F]",
            op: "add",
            args: vec![],
            inputs: vec![vec![2, 3, 4], vec![1, 3, 4]],
            torch: "x0 + x1",
        },
        Case { name: "1 - z", op: "sub", args: vec![float("left", 1.0)], inputs: vec![vec![3, 4]], torch: "1 - x0" },
        Case { name: "x - 2", op: "sub", args: vec![float("right", 2.0)], inputs: vec![vec![3, 4]], torch: "x0 - 2" },
        Case {
            name: "0.5 * x",
            op: "mul",
            args: vec![float("left", 0.5)],
            inputs: vec![vec![3, 4]],
            torch: "0.5 * x0",
        },
        Case { name: "x / 8", op: "div", args: vec![float("right", 8.0)], inputs: vec![vec![3, 4]], torch: "x0 / 8" },
        Case { name: "x + 1", op: "add", args: vec![float("right", 1.0)], inputs: vec![vec![3, 4]], torch: "x0 + 1" },
        Case { name: "-x", op: "neg", args: vec![], inputs: vec![vec![3, 4]], torch: "-x0" },
        Case { name: "param", op: "param", args: vec![ints("shape", &[1, 3])], inputs: vec![], torch: r#"p["value"]"# },
        Case {
            name: "slice 1:-1",
            op: "slice",
            args: vec![int("axis", 1), int("start", 1), int("end", -1)],
            inputs: vec![vec![2, 6, 3]],
            torch: "x0[:, 1:-1]",
        },
        Case {
            name: "slice -2:",
            op: "slice",
            args: vec![int("axis", -1), int("start", -2)],
            inputs: vec![vec![2, 6, 3]],
            torch: "x0[..., -2:]",
        },
    ];
    check(&cases);
}

fn compile(name: &str, text: &str) -> avc_lang::compile::Compiled {
    match avc_lang::compile::compile(&avc_lang::source::SourceFile::new(name, text)) {
        Ok(c) => c,
        Err(f) => panic!("{name}:\n{}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false)),
    }
}

/// A learned tensor's variable is named as its node (`scale`, `b.cls`), as an
/// `nn.Parameter` attribute of that name would be, and it is trained: a step moves it.
#[test]
fn learned_tensors_are_named_after_their_node_and_run_in_every_tower() {
    let _rng = crate::torch_rng_lock();
    let text = "input video: [4, 6]\ninput audio: [4, 5]\n\
        block tok(x) {\n  cls = param(shape: [6], std: 0.5)\n  return x + cls\n}\n\
        v = mean(tok(video))\nw = param(shape: [5, 6], init: \"xavier\")\n\
        a = matmul(mean(audio[1:]), w)\nscale = param(shape: [], value: 2.0)\n\
        s = scale * cosine(v, a) - v[0:1] / 8\noutput m: logit(s)\n";
    let c = compile("learned.avc", text);
    let model = avc::lower::lower(&c.graph, &c.checked, tch::Device::Cpu).expect("lowers");
    let mut names: Vec<String> = model.vs.variables().into_keys().collect();
    names.sort();
    assert_eq!(names, ["scale", "v_tok.cls", "w"]);
    let video = tch::Tensor::randn([3, 4, 6], (tch::Kind::Float, tch::Device::Cpu));
    let audio = tch::Tensor::randn([2, 4, 5], (tch::Kind::Float, tch::Device::Cpu));
    let rows = |v: &[i64]| tch::Tensor::from_slice(v);
    let (vr, ar) = (rows(&[0, 1, 2, 0]), rows(&[0, 1, 1, 0]));
    let batch = avc::lower::PairBatch { video: &video, audio: &audio, video_rows: &vr, audio_rows: &ar, lengths: None };
    let out = model.forward(&batch, true).expect("runs");
    assert_eq!(out[0][0].size(), [4, 1]);
    out[0][0].sum(tch::Kind::Float).backward();
    for (name, v) in model.vs.variables() {
        assert!(v.grad().abs().sum(tch::Kind::Float).double_value(&[]) > 0.0, "{name} gets a gradient");
    }
}
