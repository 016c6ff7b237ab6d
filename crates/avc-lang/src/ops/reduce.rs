//! Reductions over an axis, by default time (axis 1 of `[B, T, F]`).

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, ValueRange, expect_rank};
use crate::shape::Shape;

const AXIS: ParamSpec = ParamSpec {
    name: "axis",
    kind: ParamKind::Int,
    default: Some(Default::Int(1)),
    doc: "the axis to reduce; 1 is time in [B, T, F]",
};

fn reduced(ins: &[Shape], axis: i64) -> Result<(Shape, usize), ShapeError> {
    match ins[0].axis(axis) {
        Some(a) if a > 0 => Ok((ins[0].without(a), a)),
        _ => Err(ShapeError::input(0, format!("an axis {axis} other than the batch"), &ins[0])),
    }
}

/// Declares a reduction op over one axis.
macro_rules! reduction {
    ($ty:ident, $name:literal, $summary:literal, $range:expr) => {
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            pub axis: i64,
        }

        impl $ty {
            pub const SPEC: OpSpec = OpSpec {
                name: $name,
                family: "reduce",
                summary: $summary,
                shape_rule: "[B, T, F] -> [B, F] (axis: 1)",
                arity: Arity::Exactly(1),
                results: super::Results::One,
                params: &[AXIS],
                parse: |r: &mut ArgReader| Op::$ty($ty { axis: r.int("axis") }),
            };
        }

        impl OpImpl for $ty {
            fn spec(&self) -> &'static OpSpec {
                &Self::SPEC
            }
            fn value_range(&self) -> ValueRange {
                $range
            }
            fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
                reduced(ins, self.axis).map(|(s, _)| s)
            }
            fn describe(&self) -> String {
                if self.axis == 1 { String::new() } else { format!("axis={}", self.axis) }
            }
        }
    };
}

reduction!(Mean, "mean", "Mean over an axis (time by default): mean pooling.", ValueRange::OfInput);
reduction!(Max, "max", "Maximum over an axis (time by default): max pooling.", ValueRange::OfInput);
reduction!(
    Sum,
    "sum",
    "Sum over an axis (time by default), as `x.sum(dim)`: with `axis: -1` after a product, a dot product \
     (`sum(matmul(u, W) * v, axis: -1)` is the bilinear form `u^T W v`).",
    ValueRange::Unbounded
);

/// `last(x)`: the final time step of a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Last;

impl Last {
    pub const SPEC: OpSpec = OpSpec {
        name: "last",
        family: "reduce",
        summary: "The last time step of a sequence.",
        shape_rule: "[B, T, F] -> [B, F]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[],
        parse: |_r: &mut ArgReader| Op::Last(Last),
    };
}

impl OpImpl for Last {
    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        Ok(ins[0].without(1))
    }
    fn describe(&self) -> String {
        String::new()
    }
}
