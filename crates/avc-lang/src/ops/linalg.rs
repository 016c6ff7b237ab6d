//! Matrix products of two inputs: `matmul` over any leading axes, `bmm` strictly rank 3.
//!
//! Inner sizes are compared as written: two fixed sizes must be equal, two symbols must be
//! the same symbol; a fixed size against a symbol cannot be proven equal and is refused,
//! as `concat` and `add` refuse it.

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, expect_rank};
use crate::shape::{Dim, Shape};

/// The product of two batches of matrices `a [.., n, k]` and `b [.., k, m]` (or `b [.., m, k]`
/// when `transpose_b`): checks ranks, leading axes and inner sizes, returns `[.., n, m]`.
fn product_shape(ins: &[Shape], transpose_b: bool) -> Result<Shape, ShapeError> {
    let (a, b) = (&ins[0], &ins[1]);
    if !super::arith::is_batched(a) || !super::arith::is_batched(b) {
        return broadcast_product(a, b, transpose_b);
    }
    let r = a.rank();
    if r < 3 {
        return Err(ShapeError::input(0, "rank 3 or more [B, ..., n, k]", a));
    }
    let layout_b = if transpose_b { "[B, ..., m, k]" } else { "[B, ..., k, m]" };
    if b.rank() != r {
        return Err(ShapeError::input(1, format!("rank {r} {layout_b} like input 1 {a}"), b));
    }
    if let Some(bad) = (1..r - 2).find(|&i| a.0[i] != b.0[i]) {
        return Err(ShapeError::input(1, expected_with(b, bad, &a.0[bad]), b)
            .at_axis(bad)
            .hint(format!("the leading axes must agree: input 1 is {a}, input 2 is {b}")));
    }
    let (k_axis, m_axis) = if transpose_b { (r - 1, r - 2) } else { (r - 2, r - 1) };
    let k = &a.0[r - 1];
    if b.0[k_axis] != *k {
        let side = if transpose_b { "last" } else { "second-to-last" };
        return Err(ShapeError::input(1, expected_with(b, k_axis, k), b).at_axis(k_axis).hint(format!(
            "the inner sizes must agree: input 1's last axis is {k}, input 2's {side} axis is {}{}",
            b.0[k_axis],
            if transpose_b { "" } else { " (use `transpose_b: true` if input 2 is [B, ..., m, k])" }
        )));
    }
    Ok(a.with_dim(r - 1, b.0[m_axis].clone()))
}

/// A product with a learned tensor (`param`, no batch axis), as torch.matmul: the leading
/// axes (all but the last two) broadcast, so `[B, n, k] @ [k, m]` is `[B, n, m]` and
/// `[B, k] @ [k, m]` is `[B, m]` (the batch as the rows).
fn broadcast_product(a: &Shape, b: &Shape, transpose_b: bool) -> Result<Shape, ShapeError> {
    for (i, s) in [(0, a), (1, b)] {
        if s.rank() < 2 {
            return Err(ShapeError::input(i, "rank 2 or more [..., n, k]", s));
        }
    }
    let (ra, rb) = (a.rank(), b.rank());
    let (k_axis, m_axis) = if transpose_b { (rb - 1, rb - 2) } else { (rb - 2, rb - 1) };
    let k = &a.0[ra - 1];
    if b.0[k_axis] != *k {
        return Err(ShapeError::input(1, expected_with(b, k_axis, k), b)
            .at_axis(k_axis)
            .hint(format!("the inner sizes must agree: input 1's last axis is {k}, input 2's is {}", b.0[k_axis])));
    }
    let lead = |s: &Shape, r: usize| Shape(s.0[..r - 2].to_vec());
    let mut out =
        super::arith::broadcast(&[lead(a, ra), lead(b, rb)]).map_err(|e| ShapeError { input: Some(1), ..e })?;
    out.0.push(a.0[ra - 2].clone());
    out.0.push(b.0[m_axis].clone());
    if (super::arith::is_batched(a) || super::arith::is_batched(b)) && !super::arith::is_batched(&out) {
        return Err(ShapeError::input(1, "a product that keeps the batch axis first", b).hint(format!(
            "{a} times {b} gives {out}: the learned tensor has more leading axes than the batched one"
        )));
    }
    Ok(out)
}

/// `s` with one axis replaced, as the shape an error expected.
fn expected_with(s: &Shape, axis: usize, dim: &Dim) -> String {
    s.with_dim(axis, dim.clone()).to_string()
}

/// Multiply-adds per sample of a product with output `out` and inner size from `a`.
fn product_macs(ins: &[Shape], out: &Shape) -> Option<i64> {
    Some(super::product(&[out.per_sample_elems()?, ins[0].last()?.fixed()?]))
}

/// `matmul(a, b, transpose_b: false)`: batched matrix product over any leading axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Matmul {
    pub transpose_b: bool,
}

impl Matmul {
    pub const SPEC: OpSpec = OpSpec {
        name: "matmul",
        family: "linalg",
        summary: "Matrix product of the last two axes, batched over the others (which must agree; \
                  a learned tensor without the batch axis, `param`, broadcasts as in torch.matmul: \
                  `[B, n, k] @ [k, m]`). Inner sizes must be equal numbers or the same symbol.",
        shape_rule: "[B, ..., n, k], [B, ..., k, m] -> [B, ..., n, m]; with transpose_b: \
                     [B, ..., n, k], [B, ..., m, k] -> [B, ..., n, m]",
        arity: Arity::Exactly(2),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "transpose_b",
            kind: ParamKind::Bool,
            default: Some(Default::Bool(false)),
            doc: "swap the last two axes of the second input first (`a b^T`, as for attention scores)",
        }],
        parse: |r: &mut ArgReader| Op::Matmul(Matmul { transpose_b: r.bool("transpose_b") }),
    };
}

impl OpImpl for Matmul {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn takes_unbatched(&self) -> bool {
        true
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        product_shape(ins, self.transpose_b)
    }

    fn macs(&self, ins: &[Shape], out: &Shape) -> Option<i64> {
        product_macs(ins, out)
    }

    fn describe(&self) -> String {
        if self.transpose_b { "transpose_b=true".into() } else { String::new() }
    }
}

/// `bmm(a, b)`: batched matrix product of rank-3 inputs, as torch.bmm.
#[derive(Debug, Clone, PartialEq)]
pub struct Bmm;

impl Bmm {
    pub const SPEC: OpSpec = OpSpec {
        name: "bmm",
        family: "linalg",
        summary: "Batched matrix product of exactly rank-3 inputs, as torch.bmm. Inner sizes must \
                  be equal numbers or the same symbol.",
        shape_rule: "[B, n, k], [B, k, m] -> [B, n, m]",
        arity: Arity::Exactly(2),
        results: super::Results::One,
        params: &[],
        parse: |_r: &mut ArgReader| Op::Bmm(Bmm),
    };
}

impl OpImpl for Bmm {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, n, k]")?;
        expect_rank(ins, 1, 3, "[B, k, m]")?;
        product_shape(ins, false)
    }

    fn macs(&self, ins: &[Shape], out: &Shape) -> Option<i64> {
        product_macs(ins, out)
    }

    fn describe(&self) -> String {
        String::new()
    }
}
