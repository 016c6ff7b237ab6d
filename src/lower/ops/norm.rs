//! The tch layers of the norm ops (their parameters, shapes and costs are `avc_lang::ops::norm`).

use super::{Layer, LowerOp};
use avc_lang::ops::norm::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for BatchNorm {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let f = self.features(ins);
        let axis = self.channel_axis(&ins[0]).unwrap_or(1) as i64;
        let (weight, bias) = if self.affine {
            (Some(vs.f_var("weight", &[f], nn::Init::Const(1.0))?), Some(vs.f_var("bias", &[f], nn::Init::Const(0.0))?))
        } else {
            (None, None)
        };
        Ok(Box::new(BatchNormLayer {
            cfg: self.clone(),
            axis,
            weight,
            bias,
            running_mean: vs.f_zeros_no_train("running_mean", &[f])?,
            running_var: vs.f_ones_no_train("running_var", &[f])?,
        }))
    }
}

struct BatchNormLayer {
    cfg: BatchNorm,
    /// The normalised axis, resolved against the checked shape.
    axis: i64,
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    running_mean: Tensor,
    running_var: Tensor,
}

impl Layer for BatchNormLayer {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError> {
        // libtorch normalises axis 1; sequences carry their features last.
        let moved = self.axis != 1;
        let x = if moved { xs[0].f_transpose(1, self.axis)? } else { xs[0].shallow_clone() };
        let y = Tensor::f_batch_norm(
            &x,
            self.weight.as_ref(),
            self.bias.as_ref(),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            self.cfg.momentum,
            self.cfg.eps,
            false,
        )?;
        if moved { y.f_transpose(1, self.axis) } else { Ok(y) }
    }
}

impl LowerOp for LayerNorm {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let f = features(ins);
        let (weight, bias) = if self.affine {
            (Some(vs.f_var("weight", &[f], nn::Init::Const(1.0))?), Some(vs.f_var("bias", &[f], nn::Init::Const(0.0))?))
        } else {
            (None, None)
        };
        Ok(Box::new(LayerNormLayer { features: f, eps: self.eps, weight, bias }))
    }
}

struct LayerNormLayer {
    features: i64,
    eps: f64,
    weight: Option<Tensor>,
    bias: Option<Tensor>,
}

impl Layer for LayerNormLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_layer_norm([self.features], self.weight.as_ref(), self.bias.as_ref(), self.eps, true)
    }
}
