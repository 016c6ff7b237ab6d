//! The part, extend and embedding ops (chunk, split, select, index, stack, pad, repeat,
//! expand, flip, positions, embedding) against PyTorch, values and gradients to 1e-5,
//! through the harness of tests/torch_grads.rs. Each expression is how a PyTorch user
//! writes it (`x.chunk(2, -1)[1]`, `F.pad(x, (0, 0, 2, 1))`).

use crate::torch_grads::{Case, arg, check, check_drawn, float, int};
use avc::ops::ResolvedArg;
use avc_lang::ast::{Value, ValueKind};
use avc_lang::source::Span;

fn ints(name: &str, vs: &[i64]) -> ResolvedArg {
    let items = vs.iter().map(|&v| Value { kind: ValueKind::Int(v), span: Span::empty() }).collect();
    arg(name, ValueKind::List(items))
}

fn case(name: &'static str, op: &'static str, args: Vec<ResolvedArg>, inputs: &[&[i64]], torch: &'static str) -> Case {
    Case { name, op, args, inputs: inputs.iter().map(|d| d.to_vec()).collect(), torch }
}

#[test]
fn parts_agree_with_pytorch() {
    let _rng = crate::torch_rng_lock();
    check(&[
        case("chunk 1/2", "chunk", vec![int("chunks", 2), int("index", 1)], &[&[2, 3, 8]], "x0.chunk(2, -1)[1]"),
        case(
            "chunk time 0/3",
            "chunk",
            vec![int("chunks", 3), int("axis", 1), int("index", 0)],
            &[&[2, 6, 4]],
            "x0.chunk(3, 1)[0]",
        ),
        case(
            "split 1",
            "split",
            vec![ints("sizes", &[2, 4]), int("index", 1)],
            &[&[2, 3, 6]],
            "x0.split([2, 4], -1)[1]",
        ),
        case("select first", "select", vec![int("index", 0)], &[&[2, 5, 4]], "x0[:, 0]"),
        case("select last", "select", vec![int("index", -1)], &[&[2, 5, 4]], "x0.select(1, -1)"),
        case(
            "index repeats",
            "index",
            vec![ints("indices", &[0, 4, 4, -1])],
            &[&[2, 6, 3]],
            "x0.index_select(1, torch.tensor([0, 4, 4, 5]))",
        ),
    ]);
}

#[test]
fn extensions_agree_with_pytorch() {
    let _rng = crate::torch_rng_lock();
    check(&[
        case("stack", "stack", vec![], &[&[2, 4], &[2, 4], &[2, 4]], "torch.stack([x0, x1, x2], 1)"),
        case("stack last", "stack", vec![int("axis", -1)], &[&[2, 3, 4], &[2, 3, 4]], "torch.stack([x0, x1], -1)"),
        case("pad time", "pad", vec![int("before", 2), int("after", 1)], &[&[2, 5, 3]], "F.pad(x0, (0, 0, 2, 1))"),
        case(
            "pad value",
            "pad",
            vec![int("axis", -1), int("after", 3), float("value", -1.5)],
            &[&[2, 5, 3]],
            "F.pad(x0, (0, 3), value=-1.5)",
        ),
        case("repeat", "repeat", vec![int("times", 3)], &[&[2, 4, 3]], "x0.repeat(1, 3, 1)"),
        case("expand", "expand", vec![int("axis", 2), int("size", 4)], &[&[2, 5, 1]], "x0.expand(-1, -1, 4)"),
        case("sum", "sum", vec![int("axis", -1)], &[&[2, 5, 3]], "x0.sum(-1)"),
        case("sum time", "sum", vec![], &[&[2, 5, 3]], "x0.sum(1)"),
        case("flip", "flip", vec![], &[&[2, 5, 3]], "torch.flip(x0, [1])"),
        case(
            "positions",
            "positions",
            vec![],
            &[&[3, 7, 2]],
            "torch.arange(x0.shape[1]).float().expand(x0.shape[0], -1)",
        ),
    ]);
}

/// Whole numbers below 9: indexes for `embedding`.
fn indexes(dims: &[i64]) -> tch::Tensor {
    tch::Tensor::randint(9, dims, (tch::Kind::Float, tch::Device::Cpu))
}

#[test]
fn embedding_agrees_with_pytorch() {
    let _rng = crate::torch_rng_lock();
    check_drawn(
        &[case(
            "embedding",
            "embedding",
            vec![int("count", 9), int("dim", 4)],
            &[&[2, 6]],
            r#"F.embedding(x0.long(), p["weight"])"#,
        )],
        indexes,
    );
}
