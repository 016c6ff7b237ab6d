//! The cheap per-pair interaction of a model that keeps timing and still scales: each tower
//! gives per-step embeddings once per clip, and a pair's score is how well the two sequences
//! line up, the best mean cosine over a window of time lags (the learned form of a
//! hand-made onset-synchrony baseline). O(T (2L+1) D) per pair instead of a recurrent joint
//! network; and all pairs of two sets are (2L+1) matrix products, which evaluation uses.

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, ValueRange};
use crate::shape::{Dim, Shape};

#[derive(Debug, Clone, PartialEq)]
pub struct LaggedCosine {
    pub max_lag: i64,
}

impl LaggedCosine {
    pub const SPEC: OpSpec = OpSpec {
        name: "lagged_cosine",
        family: "similarity",
        summary: "How well two sequences line up in time: for each lag l from -max_lag to max_lag, \
                  the mean over the overlapping steps t of cosine(a[t], b[t + l]) (each step's \
                  vector normalised, its norm clamped to at least 1e-8); the result is the best \
                  lag's mean, in [-1, 1].",
        shape_rule: "[B, T, D], [B, T, D] -> [B, 1]",
        arity: Arity::Exactly(2),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "max_lag",
            kind: ParamKind::Int,
            default: Some(Default::Int(3)),
            doc: "the largest shift, in steps, either way (0 compares step t with step t only)",
        }],
        parse: |r: &mut ArgReader| Op::LaggedCosine(LaggedCosine { max_lag: r.int("max_lag") }),
    };

    /// Lags from `-max_lag` to `max_lag`.
    pub fn lags(&self) -> std::ops::RangeInclusive<i64> {
        -self.max_lag..=self.max_lag
    }
}

impl OpImpl for LaggedCosine {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn value_range(&self) -> ValueRange {
        ValueRange::Bounded("[-1, 1]")
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let (a, b) = (&ins[0], &ins[1]);
        if a.rank() != 3 {
            return Err(ShapeError::input(0, "a sequence [B, T, D]", a));
        }
        if b.rank() != 3 || a.0[1] != b.0[1] || a.0[2] != b.0[2] {
            return Err(ShapeError::input(1, a.to_string(), b)
                .hint(format!("both sequences need one length and width: input 1 is {a}, input 2 is {b}")));
        }
        if self.max_lag < 0 {
            return Err(ShapeError::input(0, format!("max_lag >= 0, found {}", self.max_lag), a));
        }
        if let Dim::Fixed(t) = a.0[1]
            && self.max_lag >= t
        {
            return Err(ShapeError::input(0, format!("more than max_lag = {} steps", self.max_lag), a)
                .at_axis(1)
                .hint("the largest lag must leave at least one step of overlap"));
        }
        Ok(Shape::batched(vec![Dim::Fixed(1)]))
    }
    fn macs(&self, ins: &[Shape], _out: &Shape) -> Option<i64> {
        // Normalising both (3 per element), then one product per step, lag and feature.
        let elems = ins[0].per_sample_elems()?;
        Some(super::product(&[elems, 2 * self.max_lag + 1 + 6]))
    }
    fn describe(&self) -> String {
        format!("max_lag={}", self.max_lag)
    }
}
