//! `slice`: a range of one axis, with Python's `start:end` semantics (negative bounds count
//! from the end, bounds past the end are clipped). The DSL writes it `x[:, 0:64]`, one entry
//! per axis after the batch.
//!
//! On a fixed axis the length is computed; on a symbolic axis (`T`) only trimming is
//! accepted (`s:`, `:-e`, `s:-e`, giving `T-s-e`): the length of `0:64` would depend on
//! whether `T` reaches 64, which the checker cannot know.

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, ValueRange};
use crate::shape::{Dim, Shape};

/// `slice(x, axis: 2, start: 0, end: 64)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub axis: i64,
    pub start: i64,
    /// `None`: to the end of the axis.
    pub end: Option<i64>,
}

impl Slice {
    pub const SPEC: OpSpec = OpSpec {
        name: "slice",
        family: "layout",
        summary: "The range `start:end` of one axis, with Python's semantics: negative bounds count from \
                  the end, bounds past it are clipped (`x[:, 0:64]` in the DSL, batch not written). A \
                  symbolic axis (`T`) is only trimmed: `start` from 0 on and `end` negative or absent.",
        shape_rule: "[B, T, F] -> [B, T, end - start] (axis: 2); [B, T, F] -> [B, T-1, F] (axis: 1, end: -1)",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec {
                name: "axis",
                kind: ParamKind::Int,
                default: None,
                doc: "the axis, counted with the batch as axis 0 (which is refused); negative counts from the end",
            },
            ParamSpec {
                name: "start",
                kind: ParamKind::Int,
                default: Some(Default::Int(0)),
                doc: "the first index kept; negative counts from the end",
            },
            ParamSpec {
                name: "end",
                kind: ParamKind::Int,
                default: Some(Default::Unset),
                doc: "the index after the last one kept (Python's stop); negative counts from the end; \
                      absent: to the end",
            },
        ],
        parse: |r: &mut ArgReader| {
            Op::Slice(Slice { axis: r.int("axis"), start: r.int("start"), end: r.int_opt("end") })
        },
    };

    /// Python's `range(n)[start:end]`: the first index and the length.
    pub fn bounds(&self, n: i64) -> (i64, i64) {
        let clip = |i: i64| if i < 0 { (i + n).max(0) } else { i.min(n) };
        let start = clip(self.start);
        let end = self.end.map_or(n, clip);
        (start, (end - start).max(0))
    }

    /// The axis of `x` it slices. `axis` counts with the batch as axis 0; a tensor without
    /// one (a `param`) is counted as if it had it, so `x[:, 0:4]` means the same axis of a
    /// learned tensor as of a batched one written without its batch. `None`: the batch or
    /// out of range.
    pub fn resolve_axis(&self, x: &Shape) -> Option<usize> {
        let batched = super::arith::is_batched(x);
        let a = match (self.axis, batched) {
            (a, _) if a < 0 => x.axis(a)?,
            (0, _) => return None,
            (a, true) => x.axis(a)?,
            (a, false) => x.axis(a - 1)?,
        };
        (x.0[a] != Dim::Batch).then_some(a)
    }

    fn range_text(&self) -> String {
        format!("{}:{}", self.start, self.end.map_or(String::new(), |e| e.to_string()))
    }
}

impl OpImpl for Slice {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }

    fn takes_unbatched(&self) -> bool {
        true
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let x = &ins[0];
        let axis = match self.resolve_axis(x) {
            Some(a) => a,
            None => {
                return Err(ShapeError::input(0, format!("an axis {} other than the batch", self.axis), x)
                    .hint("axes count from 0 (the batch) to rank - 1; the DSL's `x[:, 0:64]` starts after the batch"));
            }
        };
        let dim = match &x.0[axis] {
            Dim::Fixed(n) => {
                let (_, len) = self.bounds(*n);
                if len == 0 {
                    return Err(ShapeError::input(
                        0,
                        format!("an axis {axis} that `{}` leaves elements of", self.range_text()),
                        x,
                    )
                    .at_axis(axis)
                    .hint(format!("`{}` of {n} elements is empty", self.range_text())));
                }
                Dim::Fixed(len)
            }
            sym => {
                let trims = self.start >= 0 && self.end.is_none_or(|e| e < 0);
                if !trims {
                    return Err(ShapeError::input(
                        0,
                        format!("a fixed size on axis {axis} for `{}`", self.range_text()),
                        x,
                    )
                    .at_axis(axis)
                    .hint(format!(
                        "axis {axis} is `{sym}`, a length left open: `{}` would give a length that depends on it; \
                             a symbolic axis is only trimmed (`2:`, `:-1`, `1:-1`), or declare the length as a number",
                        self.range_text()
                    )));
                }
                let cut = self.start.saturating_add(self.end.map_or(0, |e| e.saturating_neg()));
                sym.plus(cut.saturating_neg())
            }
        };
        Ok(x.with_dim(axis, dim))
    }

    fn describe(&self) -> String {
        format!("axis={} {}", self.axis, self.range_text())
    }
}
