//! Integer-valued tensors and their embeddings: `positions` (the step index along an axis)
//! and `embedding` (a learned row per integer), as `nn.Embedding(torch.arange(T))`.
//!
//! avc's tensors are floating point; an index tensor holds whole numbers, and `embedding`
//! refuses at run time one outside `0..count` or not whole (an error naming the node, not a
//! crash), as PyTorch refuses an index out of range.

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, Results, ShapeError, ValueRange};
use crate::shape::Shape;

/// `positions(x, axis: 1)`: `0, 1, ..., T-1` along an axis, per clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Positions {
    pub axis: i64,
}

impl Positions {
    pub const SPEC: OpSpec = OpSpec {
        name: "positions",
        family: "embedding",
        summary: "The index of each step of an axis, `0, 1, ..., T-1`, for every clip (as \
                  `torch.arange(T).expand(B, T)`): the input of an `embedding` of positions.",
        shape_rule: "[B, T, F] -> [B, T] (axis: 1)",
        arity: Arity::Exactly(1),
        results: Results::One,
        params: &[ParamSpec {
            name: "axis",
            kind: ParamKind::Int,
            default: Some(Default::Int(1)),
            doc: "the axis counted, with the batch as axis 0 (which is refused)",
        }],
        parse: |r: &mut ArgReader| Op::Positions(Positions { axis: r.int("axis") }),
    };

    pub fn resolve_axis(&self, x: &Shape) -> Option<usize> {
        x.axis(self.axis).filter(|&a| a > 0)
    }
}

impl OpImpl for Positions {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::Bounded("[0, T-1]")
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let x = &ins[0];
        let a = self.resolve_axis(x).ok_or_else(|| {
            ShapeError::input(0, format!("an axis {} other than the batch", self.axis), x)
                .hint("axes count from 0 (the batch) to rank - 1")
        })?;
        Ok(Shape::new(vec![x.0[0].clone(), x.0[a].clone()]))
    }

    fn describe(&self) -> String {
        format!("axis={}", self.axis)
    }
}

/// `embedding(ids, count: 512, dim: 64)`: a learned vector per integer.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub count: i64,
    pub dim: i64,
}

impl Embedding {
    pub const SPEC: OpSpec = OpSpec {
        name: "embedding",
        family: "embedding",
        summary: "A learned vector of `dim` numbers for each integer `0..count` of its input (as \
                  `nn.Embedding(count, dim)`), initialised N(0, 1) as PyTorch does. The input holds whole \
                  numbers (`positions(x)`); one outside `0..count` stops the run with an error naming the \
                  node.",
        shape_rule: "[B, T] -> [B, T, dim]",
        arity: Arity::Exactly(1),
        results: Results::One,
        params: &[
            ParamSpec { name: "count", kind: ParamKind::Int, default: None, doc: "how many integers have a vector" },
            ParamSpec { name: "dim", kind: ParamKind::Int, default: None, doc: "the vectors' length" },
        ],
        parse: |r: &mut ArgReader| {
            Op::Embedding(Embedding { count: r.int_at_least("count", 1), dim: r.int_at_least("dim", 1) })
        },
    };
}

impl OpImpl for Embedding {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let mut dims = ins[0].0.clone();
        dims.push(crate::shape::Dim::Fixed(self.dim));
        Ok(Shape::new(dims))
    }

    fn param_count(&self, _ins: &[Shape]) -> i64 {
        super::product(&[self.count, self.dim])
    }

    fn describe(&self) -> String {
        format!("count={} dim={}", self.count, self.dim)
    }
}
