//! Comparisons of two inputs along the last axis, one number per position: the matching
//! scores a `distance` output or a similarity head reads.

use super::{ArgReader, Arity, Op, OpImpl, OpSpec, ShapeError, ValueRange};
use crate::shape::{Dim, Shape};

/// Both inputs must be `[B, ..., D]` of one shape; the result is `[B, ..., 1]`.
fn compared(ins: &[Shape]) -> Result<Shape, ShapeError> {
    let (a, b) = (&ins[0], &ins[1]);
    if a.rank() < 2 {
        return Err(ShapeError::input(0, "rank 2 or more [B, ..., D]", a));
    }
    if b.rank() != a.rank() {
        return Err(ShapeError::input(1, format!("{a} like input 1"), b));
    }
    if let Some(bad) = (1..a.rank()).find(|&i| a.0[i] != b.0[i]) {
        return Err(ShapeError::input(1, a.to_string(), b)
            .at_axis(bad)
            .hint(format!("both sides must have one shape: input 1 is {a}, input 2 is {b}")));
    }
    Ok(a.with_dim(a.rank() - 1, Dim::Fixed(1)))
}

/// Declares a comparison op: its spec, shape rule and cost.
macro_rules! comparison {
    ($ty:ident, $name:literal, $summary:literal, $macs_per_elem:literal, $range:expr) => {
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty;

        impl $ty {
            pub const SPEC: OpSpec = OpSpec {
                name: $name,
                family: "similarity",
                summary: $summary,
                shape_rule: "[B, ..., D], [B, ..., D] -> [B, ..., 1]",
                arity: Arity::Exactly(2),
                results: super::Results::One,
                params: &[],
                parse: |_r: &mut ArgReader| Op::$ty($ty),
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
                compared(ins)
            }
            fn macs(&self, ins: &[Shape], _out: &Shape) -> Option<i64> {
                Some(super::product(&[$macs_per_elem, ins[0].per_sample_elems()?]))
            }
            fn describe(&self) -> String {
                String::new()
            }
        }
    };
}

comparison!(
    Cosine,
    "cosine",
    "Cosine similarity along the last axis, in [-1, 1], as torch.nn.functional.cosine_similarity \
     with eps 1e-8 (each norm is clamped to at least eps).",
    3,
    ValueRange::Bounded("[-1, 1]")
);

comparison!(
    L2Distance,
    "l2_distance",
    "Euclidean distance along the last axis, computed as sqrt(sum((a - b)^2) + 1e-12): the \
     small constant keeps the gradient finite (zero) where a == b, at a cost of at most 1e-6 in \
     the distance.",
    1,
    ValueRange::Unbounded
);
