//! Ops that only rearrange elements.

use super::{ArgReader, Arity, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, ValueRange};
use crate::shape::{Dim, Shape};

/// `flatten(x)`: every per-sample axis into one.
#[derive(Debug, Clone, PartialEq)]
pub struct Flatten;

impl Flatten {
    pub const SPEC: OpSpec = OpSpec {
        name: "flatten",
        family: "layout",
        summary: "Merges every axis after the batch into one (row-major, as torch.flatten(x, 1)).",
        shape_rule: "[B, d1, d2, ...] -> [B, d1 * d2 * ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[],
        parse: |_r: &mut ArgReader| Op::Flatten(Flatten),
    };
}

impl OpImpl for Flatten {
    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let dim = match ins[0].per_sample_elems() {
            Some(n) => Dim::Fixed(n),
            None => Dim::Sym(ins[0].0[1..].iter().map(Dim::factor_text).collect::<Vec<_>>().join("*")),
        };
        Ok(Shape::batched([dim]))
    }
    fn describe(&self) -> String {
        String::new()
    }
}

/// `transpose(x, a: 1, b: 2)`: swaps two per-sample axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Transpose {
    pub a: i64,
    pub b: i64,
}

impl Transpose {
    pub const SPEC: OpSpec = OpSpec {
        name: "transpose",
        family: "layout",
        summary: "Swaps two axes (counted with the batch as axis 0; the batch cannot move).",
        shape_rule: "[B, T, F] -> [B, F, T] (a: 1, b: 2)",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec { name: "a", kind: ParamKind::Int, default: Some(super::Default::Int(1)), doc: "first axis" },
            ParamSpec { name: "b", kind: ParamKind::Int, default: Some(super::Default::Int(2)), doc: "second axis" },
        ],
        parse: |r: &mut ArgReader| Op::Transpose(Transpose { a: r.int("a"), b: r.int("b") }),
    };
}

impl OpImpl for Transpose {
    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let s = &ins[0];
        match (s.axis(self.a), s.axis(self.b)) {
            (Some(a), Some(b)) if a > 0 && b > 0 => {
                let mut dims = s.0.clone();
                dims.swap(a, b);
                Ok(Shape(dims))
            }
            _ => Err(ShapeError::input(0, format!("axes {} and {} within 1..{}", self.a, self.b, s.rank()), s)
                .hint("the batch axis (0) cannot be swapped")),
        }
    }
    fn describe(&self) -> String {
        format!("a={} b={}", self.a, self.b)
    }
}
