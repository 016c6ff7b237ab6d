//! Fully connected layers.

use super::{
    ArgReader, Arity, Default, InputMap, Layer, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ProjectedPart, ShapeError,
    SplitInput, bias_init, fixed_axis, xavier,
};
use crate::shape::{Dim, Shape};
use tch::{Tensor, nn};

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
        f * self.out + if self.bias { self.out } else { 0 }
    }

    fn macs(&self, ins: &[Shape], out: &Shape) -> Option<i64> {
        let f = ins[0].last()?.fixed()?;
        Some(out.per_sample_elems()? * f)
    }

    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let f = ins[0].last().and_then(Dim::fixed).unwrap_or(1);
        let weight = vs.f_var("weight", &[self.out, f], xavier(f, self.out))?;
        let bias = if self.bias { Some(vs.f_var("bias", &[self.out], bias_init(f))?) } else { None };
        Ok(Box::new(LinearLayer { weight, bias }))
    }

    fn describe(&self) -> String {
        if self.bias { format!("out={}", self.out) } else { format!("out={} bias=false", self.out) }
    }

    /// Splitting never costs more: a product per clip and a sum per pair replace a
    /// concatenation and a product per pair.
    fn input_map(&self) -> Option<InputMap> {
        Some(InputMap { width: self.out, split_in_training: true })
    }
}

struct LinearLayer {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Layer for LinearLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_linear(&self.weight, self.bias.as_ref())
    }

    fn split_input(&self) -> Option<&dyn SplitInput> {
        Some(self)
    }
}

/// The whole layer is its input map: the split layer is a sum of gathered projections.
impl SplitInput for LinearLayer {
    fn project(&self, x: &Tensor, start: i64, bias: bool) -> Result<Tensor, tch::TchError> {
        let width = x.size().last().copied().unwrap_or(0);
        let columns = self.weight.f_narrow(1, start, width)?;
        x.f_linear(&columns, self.bias.as_ref().filter(|_| bias))
    }

    fn forward_projected(&self, parts: &[ProjectedPart], _train: bool) -> Result<Tensor, tch::TchError> {
        let (table, pairs) = super::recurrence::PairSum::new(parts)?;
        let per_clip = table.size()[1..].to_vec();
        let summed = pairs.sum(&table.f_flatten(1, -1)?)?;
        summed.f_reshape([&[pairs.pairs][..], &per_clip].concat())
    }
}
