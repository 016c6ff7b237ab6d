//! The multi-head attention shared by `self_attention` and `cross_attention`: their common
//! parameters, width checks and costs, those of torch.nn.MultiheadAttention(F, heads,
//! dropout, batch_first=True) when queries, keys and values all have width F. The layer
//! itself is `avc::lower::ops::multihead`.

use super::{ArgReader, Default, ParamKind, ParamSpec, ShapeError, fixed_axis};
use crate::shape::Shape;

/// The `heads` parameter of both attention ops.
pub const HEADS: ParamSpec =
    ParamSpec { name: "heads", kind: ParamKind::Int, default: None, doc: "attention heads; each sees F / heads" };
/// The `dropout` parameter of both attention ops.
pub const DROPOUT: ParamSpec = ParamSpec {
    name: "dropout",
    kind: ParamKind::Float,
    default: Some(Default::Float(0.0)),
    doc: "dropout on the attention weights (training only)",
};

/// Reads `heads` (at least 1) and `dropout` (a probability).
pub fn heads_and_dropout(r: &mut ArgReader) -> (i64, f64) {
    (r.int_at_least("heads", 1), r.float_in("dropout", 0.0, 1.0))
}

/// `heads=N`, plus the dropout when there is one.
pub fn describe_heads(heads: i64, dropout: f64) -> String {
    let mut s = format!("heads={heads}");
    if dropout > 0.0 {
        s += &format!(" dropout={dropout}");
    }
    s
}

/// The width of a sequence that passed `infer` (axis 2 of `[B, T, F]`).
pub fn width(ins: &[Shape], i: usize) -> i64 {
    ins[i].0[2].fixed().unwrap_or(1)
}

/// Checks that axis 2 of input `i` is a fixed width divisible by `heads`, and returns it.
pub fn head_width(ins: &[Shape], i: usize, heads: i64) -> Result<i64, ShapeError> {
    let f = fixed_axis(ins, i, 2, "model width")?;
    if f % heads != 0 {
        return Err(ShapeError::input(i, format!("a last axis divisible by heads = {heads}"), &ins[i])
            .at_axis(2)
            .hint(format!("each head takes F / heads features; {f} is not a multiple of {heads}")));
    }
    Ok(f)
}

/// Parameters of one attention layer of width `f`: the packed q, k, v projection and the
/// output projection.
pub fn param_count(f: i64) -> i64 {
    4 * f * f + 4 * f
}

/// Multiply-adds per sample for `tq` query steps attending over `tk` key steps of width
/// `f`: the query and output projections per query step, the key and value projections per
/// key step, then q k^T and weights x v over every pair of steps.
pub fn macs(tq: i64, tk: i64, f: i64) -> i64 {
    2 * tq * f * f + 2 * tk * f * f + 2 * tq * tk * f
}
