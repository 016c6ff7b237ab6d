//! Fully connected layers.

use super::product;
use super::{ArgReader, Arity, Default, InputMap, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, fixed_axis};
use crate::shape::{Dim, Shape};

/// `linear(x, out: N)`: a learned affine map of the last axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub out: i64,
    pub bias: bool,
}

impl Linear {
    pub const SPEC: OpSpec = OpSpec {
        name: "linear",
        family: "dense",
        summary: "Affine map of the last axis, `y = x W^T + b`; Xavier-initialised weight.",
        shape_rule: "[B, ..., F] -> [B, ..., out]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec { name: "out", kind: ParamKind::Int, default: None, doc: "output features" },
            ParamSpec {
                name: "bias",
                kind: ParamKind::Bool,
                default: Some(Default::Bool(true)),
                doc: "learn an additive bias",
            },
        ],
        parse: |r: &mut ArgReader| Op::Linear(Linear { out: r.int_at_least("out", 1), bias: r.bool("bias") }),
    };
}

impl OpImpl for Linear {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        if ins[0].rank() < 2 {
            return Err(ShapeError::input(0, "rank 2 or more [B, ..., F]", &ins[0]));
        }
        let last = ins[0].rank() - 1;
        fixed_axis(ins, 0, last, "input features")?;
        Ok(ins[0].with_dim(last, Dim::Fixed(self.out)))
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        let f = ins[0].last().and_then(Dim::fixed).unwrap_or(0);
        product(&[f, self.out]).saturating_add(if self.bias { self.out } else { 0 })
    }

    fn macs(&self, ins: &[Shape], out: &Shape) -> Option<i64> {
        let f = ins[0].last()?.fixed()?;
        Some(product(&[out.per_sample_elems()?, f]))
    }

    fn describe(&self) -> String {
        if self.bias { format!("out={}", self.out) } else { format!("out={} bias=false", self.out) }
    }

    /// Splitting never costs more: a product per clip and a sum per pair replace a
    /// concatenation and a product per pair.
    fn input_map(&self) -> Option<InputMap> {
        Some(InputMap { width: self.out, factor_in_training: true })
    }
}
