//! Positional encodings of a sequence `[B, T, F]`: each adds a `[T, F]` table to its
//! input, so that the ops after it (self-attention above all, which is blind to order) can
//! tell the steps apart. The sum keeps the shape.

use super::product;
use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, expect_rank, fixed_axis};
use crate::shape::{Dim, Shape};

/// `sinusoidal_position(x)`: adds the Transformer's fixed sine and cosine table.
#[derive(Debug, Clone, PartialEq)]
pub struct SinusoidalPosition {
    pub base: f64,
}

impl SinusoidalPosition {
    pub const SPEC: OpSpec = OpSpec {
        name: "sinusoidal_position",
        family: "position",
        summary: "Adds the fixed sinusoidal table of \"Attention is all you need\" to a sequence and \
                  returns the sum: PE[t, 2i] = sin(t / base^(2i/F)), PE[t, 2i+1] = cos(t / base^(2i/F)), \
                  t counted from 0. No variables; any length (the table is made for the length given). \
                  F must be even.",
        shape_rule: "[B, T, F] -> [B, T, F]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "base",
            kind: ParamKind::Float,
            default: Some(Default::Float(10000.0)),
            doc: "the wavelengths grow geometrically from 2π to base * 2π",
        }],
        parse: |r: &mut ArgReader| {
            Op::SinusoidalPosition(SinusoidalPosition { base: r.float_in("base", 1.0 + 1e-6, 1e12) })
        },
    };
}

impl OpImpl for SinusoidalPosition {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        let f = fixed_axis(ins, 0, 2, "features")?;
        if f % 2 != 0 {
            return Err(ShapeError::input(
                0,
                format!("an even number of features (sine and cosine pairs), found {f}"),
                &ins[0],
            )
            .at_axis(2)
            .hint("project to an even width first, e.g. `linear(x, out: 64)`"));
        }
        Ok(ins[0].clone())
    }
    fn describe(&self) -> String {
        if self.base == 10000.0 { String::new() } else { format!("base={}", self.base) }
    }
}

/// `learned_position(x, max_len: N)`: adds a learned table of `max_len` rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedPosition {
    pub max_len: i64,
}

impl LearnedPosition {
    pub const SPEC: OpSpec = OpSpec {
        name: "learned_position",
        family: "position",
        summary: "Adds a learned position table `weight` [max_len, F] (normal, std 0.02) to a sequence: \
                  step t gets row t. A fixed length above max_len is refused when checking; a symbolic \
                  length is checked when the model runs (a longer batch is an error naming both).",
        shape_rule: "[B, T, F] -> [B, T, F] (T <= max_len)",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "max_len",
            kind: ParamKind::Int,
            default: None,
            doc: "the longest sequence the table covers (its rows)",
        }],
        parse: |r: &mut ArgReader| Op::LearnedPosition(LearnedPosition { max_len: r.int_at_least("max_len", 1) }),
    };
}

impl OpImpl for LearnedPosition {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        fixed_axis(ins, 0, 2, "features")?;
        if let Dim::Fixed(t) = ins[0].0[1]
            && t > self.max_len
        {
            return Err(ShapeError::input(0, format!("at most max_len = {} steps, found {t}", self.max_len), &ins[0])
                .at_axis(1)
                .hint(format!("raise `max_len` to at least {t}, or shorten the sequence before this node")));
        }
        Ok(ins[0].clone())
    }
    fn param_count(&self, ins: &[Shape]) -> i64 {
        product(&[self.max_len, ins[0].0[2].fixed().unwrap_or(0)])
    }
    fn describe(&self) -> String {
        format!("max_len={}", self.max_len)
    }
}
