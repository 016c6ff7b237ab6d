//! The residual connection that also works when widths differ: `x + P(skip)`, where `P` is
//! the identity for equal widths and a learned bias-free projection otherwise (the
//! "projection shortcut" of residual networks).

use super::{ArgReader, Arity, Op, OpImpl, OpSpec, ShapeError, fixed_axis};
use crate::shape::Shape;

/// `residual(skip, x)`: `x + skip`, projecting `skip` to `x`'s width when they differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Residual;

impl Residual {
    pub const SPEC: OpSpec = OpSpec {
        name: "residual",
        family: "combine",
        summary: "A residual connection `x + P(skip)`: P is the identity when the last axes agree, \
                  otherwise a learned projection without bias (`proj.weight` [F_x, F_skip], as \
                  nn.Linear names it; Xavier-initialised). Every other axis must agree.",
        shape_rule: "[B, ..., F_skip], [B, ..., F_x] -> [B, ..., F_x] (inputs: skip, x)",
        arity: Arity::Exactly(2),
        results: super::Results::One,
        params: &[],
        parse: |_r: &mut ArgReader| Op::Residual(Residual),
    };

    /// `(F_skip, F_x)` when a projection is needed, `None` for the identity.
    pub fn projection(ins: &[Shape]) -> Option<(i64, i64)> {
        let (skip, x) = (ins[0].last()?, ins[1].last()?);
        if skip == x { None } else { Some((skip.fixed()?, x.fixed()?)) }
    }
}

impl OpImpl for Residual {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let (skip, x) = (&ins[0], &ins[1]);
        if skip.rank() < 2 {
            return Err(ShapeError::input(0, "rank 2 or more [B, ..., F_skip]", skip));
        }
        let last = skip.rank() - 1;
        if x.rank() != skip.rank() {
            return Err(ShapeError::input(1, format!("rank {} like the skip input {skip}", skip.rank()), x));
        }
        if let Some(bad) = (1..last).find(|&a| skip.0[a] != x.0[a]) {
            return Err(ShapeError::input(1, x.with_dim(bad, skip.0[bad].clone()).to_string(), x)
                .at_axis(bad)
                .hint(format!("only the last axis may differ: skip is {skip}, x is {x}")));
        }
        if skip.0[last] != x.0[last] {
            // Widths that differ need a weight, so both must be known.
            fixed_axis(ins, 0, last, "the skip's width, for the projection")?;
            fixed_axis(ins, 1, last, "the width to project to")?;
        }
        Ok(x.clone())
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        Self::projection(ins).map_or(0, |(from, to)| super::product(&[from, to]))
    }

    fn macs(&self, ins: &[Shape], out: &Shape) -> Option<i64> {
        match Self::projection(ins) {
            Some((from, _)) => Some(super::product(&[out.per_sample_elems()?, from])),
            None => Some(0),
        }
    }

    fn describe(&self) -> String {
        String::new()
    }
}
