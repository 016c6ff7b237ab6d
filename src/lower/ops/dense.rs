//! The tch layers of the dense ops (their parameters, shapes and costs are `avc_lang::ops::dense`).

use super::{FactorInput, Layer, LowerOp, ProjectedPart, bias_init, xavier};
use avc_lang::ops::dense::*;
use avc_lang::shape::{Dim, Shape};
use tch::{Tensor, nn};

impl LowerOp for Linear {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let f = ins[0].last().and_then(Dim::fixed).unwrap_or(1);
        let weight = vs.f_var("weight", &[self.out, f], xavier(f, self.out))?;
        let bias = if self.bias { Some(vs.f_var("bias", &[self.out], bias_init(f))?) } else { None };
        Ok(Box::new(LinearLayer { weight, bias }))
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

    fn factor_input(&self) -> Option<&dyn FactorInput> {
        Some(self)
    }
}

/// The whole layer is its input map: the factored layer is a sum of gathered projections.
impl FactorInput for LinearLayer {
    fn project(&self, x: &Tensor, start: i64, bias: bool) -> Result<Tensor, tch::TchError> {
        let width = x.size().last().copied().unwrap_or(0);
        let columns = self.weight.f_narrow(1, start, width)?;
        x.f_linear(&columns, self.bias.as_ref().filter(|_| bias))
    }

    fn forward_projected(&self, parts: &[ProjectedPart], _train: bool) -> Result<Tensor, tch::TchError> {
        let (table, pairs) = super::projected_rnn::PairSum::new(parts)?;
        let per_clip = table.size()[1..].to_vec();
        let summed = pairs.sum(&table.f_flatten(1, -1)?)?;
        summed.f_reshape([&[pairs.pairs][..], &per_clip].concat())
    }
}
