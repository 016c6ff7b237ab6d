//! Ops against PyTorch, values and gradients: each case lowers one op, runs it on seeded
//! random inputs, back-propagates a random cotangent, and hands everything to
//! tests/python/op_grads.py, which recomputes output and gradients with the PyTorch
//! expression the case gives and reports the largest differences (1e-5, scaled by the
//! value's size). One Python process checks every case of a test.
//!
//! Adding an op's check: a [`Case`] with its name, arguments, input shapes (batch first) and
//! the PyTorch expression over `x0`, `x1`, ... and `p["<variable>"]`.

use avc::ops::{self, ArgReader, Layer, LowerOp, Op, ResolvedArg};
use avc_lang::ast::{Ident, Value, ValueKind};
use avc_lang::shape::{Dim, Shape};
use avc_lang::source::Span;
use std::process::Command;
use tch::{Device, Kind, Tensor, nn};

pub fn arg(name: &str, kind: ValueKind) -> ResolvedArg {
    ResolvedArg { name: Ident::new(name, Span::empty()), value: Value { kind, span: Span::empty() } }
}

pub fn int(name: &str, v: i64) -> ResolvedArg {
    arg(name, ValueKind::Int(v))
}

pub fn float(name: &str, v: f64) -> ResolvedArg {
    arg(name, ValueKind::Float(v))
}

pub fn boolean(name: &str, v: bool) -> ResolvedArg {
    arg(name, ValueKind::Bool(v))
}

/// One op on inputs of fixed shapes, and what PyTorch computes for it.
pub struct Case {
    pub name: &'static str,
    pub op: &'static str,
    pub args: Vec<ResolvedArg>,
    /// Input shapes, batch first.
    pub inputs: Vec<Vec<i64>>,
    /// A PyTorch expression over `x0`, `x1`, ... and `p["<variable>"]`.
    pub torch: &'static str,
}

fn lower(case: &Case) -> (nn::VarStore, Box<dyn Layer>) {
    let spec = ops::lookup(case.op).unwrap_or_else(|| panic!("op {} is registered", case.op));
    let op: Op =
        ArgReader::new(spec, &case.args, Span::empty()).parse().unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
    let shapes: Vec<Shape> = case
        .inputs
        .iter()
        .map(|dims| Shape::batched(dims[1..].iter().map(|&d| Dim::Fixed(d)).collect::<Vec<_>>()))
        .collect();
    let vs = nn::VarStore::new(Device::Cpu);
    let layer = op.lower(&vs.root(), &shapes).unwrap_or_else(|e| panic!("{}: lowers: {e}", case.name));
    (vs, layer)
}

/// Draws a case's input of the given shape (after seeding).
pub type Draw = fn(&[i64]) -> Tensor;

/// Standard normal inputs, the default.
fn normal(dims: &[i64]) -> Tensor {
    Tensor::randn(dims, (Kind::Float, Device::Cpu))
}

/// Inputs uniform in [0.25, 2.25]: for ops defined on positive numbers only (`log`, `sqrt`, a
/// fractional `pow`), where a normal input would compare NaN with NaN.
pub fn positive(dims: &[i64]) -> Tensor {
    Tensor::rand(dims, (Kind::Float, Device::Cpu)) * 2.0 + 0.25
}

/// Runs `case` in avc and writes what PyTorch needs to check it to `file`.
fn record(case: &Case, seed: i64, file: &std::path::Path, draw: Draw) {
    tch::manual_seed(seed);
    let (vs, layer) = lower(case);
    let xs: Vec<Tensor> = case.inputs.iter().map(|d| draw(d).set_requires_grad(true)).collect();
    let refs: Vec<&Tensor> = xs.iter().collect();
    let out = layer.forward(&refs, true).unwrap_or_else(|e| panic!("{}: runs: {e}", case.name));
    // An output that depends on no weight or input value (`positions`) has no gradient:
    // only its values are compared.
    let cot = out.requires_grad().then(|| Tensor::randn(out.size(), (Kind::Float, Device::Cpu)));
    if let Some(cot) = &cot {
        (&out * cot).sum(Kind::Float).backward();
    }
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for (i, x) in xs.iter().enumerate() {
        named.push((format!("in.{i}"), x.detach()));
        // An input the output does not depend on differentiably (an index) has no
        // gradient: zeros, as PyTorch's `None` is read.
        let grad = x.grad();
        named.push((format!("grad.in.{i}"), if grad.defined() { grad } else { x.zeros_like() }));
    }
    for (name, v) in vs.variables() {
        named.push((format!("param.{name}"), v.detach()));
        if v.requires_grad() {
            named.push((format!("grad.param.{name}"), v.grad()));
        }
    }
    named.push(("out".into(), out.detach()));
    named.extend(cot.map(|c| ("cot".to_string(), c)));
    // safetensors stores dense tensors only: a slice's output is a view.
    let named: Vec<(String, Tensor)> = named.into_iter().map(|(n, t)| (n, t.contiguous())).collect();
    let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Tensor::write_safetensors(&refs, file).expect("writes the case");
}

/// Checks every case against PyTorch in one Python process; fails listing each case that
/// differs, with its differences.
pub fn check(cases: &[Case]) {
    check_drawn(cases, normal);
}

/// [`check`] on inputs drawn by `draw` (e.g. [`positive`]).
pub fn check_drawn(cases: &[Case], draw: Draw) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let mut manifest = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        let file = dir.path().join(format!("{k}.safetensors"));
        record(case, 1000 + k as i64, &file, draw);
        manifest.push(serde_json::json!({"name": case.name, "file": file, "torch": case.torch}));
    }
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, serde_json::json!({"tol": 1e-5, "cases": manifest}).to_string()).expect("writes");
    let python = crate::venv_python();
    assert!(python.exists(), "{} is missing: run scripts/libtorch.sh", python.display());
    let out = Command::new(&python).arg("tests/python/op_grads.py").arg(&path).output().expect("runs python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "op_grads.py failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<serde_json::Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(results.len(), cases.len(), "one result per case:\n{stdout}");
    let failed: Vec<String> = results.iter().filter(|r| r["ok"] != true).map(|r| r.to_string()).collect();
    assert!(failed.is_empty(), "cases that differ from PyTorch:\n{}", failed.join("\n"));
}

/// The harness on ops avc had before it: a wrong expression here would fail, so a passing
/// run says the harness compares what it should.
#[test]
fn existing_ops_agree_with_pytorch() {
    let cases = vec![
        Case {
            name: "linear",
            op: "linear",
            args: vec![int("out", 5)],
            inputs: vec![vec![3, 4, 6]],
            torch: r#"F.linear(x0, p["weight"], p["bias"])"#,
        },
        Case { name: "relu", op: "relu", args: vec![], inputs: vec![vec![2, 7]], torch: "torch.relu(x0)" },
        Case { name: "tanh", op: "tanh", args: vec![], inputs: vec![vec![2, 3, 5]], torch: "torch.tanh(x0)" },
        Case { name: "sigmoid", op: "sigmoid", args: vec![], inputs: vec![vec![4, 3]], torch: "torch.sigmoid(x0)" },
        Case {
            name: "leaky_relu",
            op: "leaky_relu",
            args: vec![float("slope", 0.2)],
            inputs: vec![vec![2, 9]],
            torch: "F.leaky_relu(x0, 0.2)",
        },
        Case {
            name: "softmax",
            op: "softmax",
            args: vec![int("axis", -1)],
            inputs: vec![vec![2, 3, 5]],
            torch: "torch.softmax(x0, -1)",
        },
        Case {
            name: "layernorm",
            op: "layernorm",
            args: vec![],
            inputs: vec![vec![2, 3, 8]],
            torch: r#"F.layer_norm(x0, (8,), p["weight"], p["bias"], 1e-5)"#,
        },
        Case { name: "add", op: "add", args: vec![], inputs: vec![vec![2, 6], vec![2, 6]], torch: "x0 + x1" },
    ];
    check(&cases);
}

/// A wrong expression is caught: the harness is not a rubber stamp.
#[test]
fn a_wrong_formula_is_reported() {
    let case = Case {
        name: "tanh as sigmoid",
        op: "tanh",
        args: vec![],
        inputs: vec![vec![2, 5]],
        torch: "torch.sigmoid(x0)",
    };
    let result = std::panic::catch_unwind(|| check(&[case]));
    let message = result.expect_err("the check fails").downcast::<String>().map(|s| *s).unwrap_or_default();
    assert!(message.contains("tanh as sigmoid"), "{message}");
    let _ = boolean;
}
