//! The tch layers of the activation ops
//! (their parameters, shapes and costs are `avc_lang::ops::activation`).

use super::{Layer, LowerOp};
use avc_lang::ops::activation::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// Lowers an element-wise op to itself, computing `$body` of its input `$x` (and of the
/// op's config `$op`, for its parameters).
macro_rules! elementwise_layer {
    ($ty:ident, |$x:ident| $body:expr) => {
        elementwise_layer!($ty, |$x, _op| $body);
    };
    ($ty:ident, |$x:ident, $op:ident| $body:expr) => {
        impl LowerOp for $ty {
            fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                Ok(Box::new(self.clone()))
            }
        }

        impl Layer for $ty {
            fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
                let ($x, $op) = (xs[0], self);
                $body
            }
        }
    };
}

elementwise_layer!(Relu, |x| x.f_relu());
elementwise_layer!(Tanh, |x| x.f_tanh());
elementwise_layer!(Sigmoid, |x| x.f_sigmoid());

impl LowerOp for LeakyRelu {
    fn lower(&self, vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        // One kernel each way: libtorch's own op at its default slope, `prelu` with a
        // constant weight at any other (the clamp-scale-add form took four kernels and
        // about 10% of `final`'s joint part). The weight is made here, once, on the
        // model's device; it is not a variable (nothing learns it, checkpoints skip it).
        if self.slope == DEFAULT_SLOPE {
            return Ok(Box::new(LeakyReluLayer::Default));
        }
        let weight = Tensor::f_from_slice(&[self.slope as f32])?.f_to_device(vs.device())?;
        Ok(Box::new(LeakyReluLayer::Prelu(weight)))
    }
}

/// `leaky_relu` as one libtorch kernel: see [`LeakyRelu`]'s lowering.
enum LeakyReluLayer {
    /// libtorch's `leaky_relu`, whose slope is fixed at [`DEFAULT_SLOPE`].
    Default,
    /// `prelu` with this one-element weight: the slope.
    Prelu(Tensor),
}

impl Layer for LeakyReluLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        match self {
            LeakyReluLayer::Default => xs[0].f_leaky_relu(),
            LeakyReluLayer::Prelu(weight) => xs[0].f_prelu(weight),
        }
    }
}

impl LowerOp for Softmax {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        // Resolved against the checked shape, so the layer never sees a negative axis.
        let axis = ins[0].axis(self.axis).unwrap_or(1) as i64;
        Ok(Box::new(Softmax { axis }))
    }
}

impl Layer for Softmax {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        crate::lower::precision::in_fp32(xs, |xs| xs[0].f_softmax(self.axis, None::<tch::Kind>))
    }

    fn masked_input(&self) -> Option<usize> {
        (self.axis == 1).then_some(0)
    }

    /// Over time, padded steps get weight 0 and the clip's own steps share all of it.
    fn forward_masked(&self, xs: &[&Tensor], valid: &Tensor, _train: bool) -> Result<Tensor, tch::TchError> {
        let padded = super::valid_like(valid, xs[0])?.f_logical_not()?;
        let filled = xs[0].f_masked_fill(&padded, f64::NEG_INFINITY)?;
        crate::lower::precision::in_fp32(&[&filled], |xs| xs[0].f_softmax(self.axis, None::<tch::Kind>))
    }
}

elementwise_layer!(Silu, |x| x.f_silu());
elementwise_layer!(Gelu, |x, op| x.f_gelu(op.approximate()));
elementwise_layer!(Softplus, |x, op| softplus(x, op.beta, op.threshold));
elementwise_layer!(Elu, |x, op| elu(x, op.alpha));

/// nn.Softplus: libtorch's own kernel (tch binds it at beta 1, threshold 20) on `beta * x`,
/// divided by beta, and `x` itself where `beta * x` exceeds another threshold. Above 20 the
/// kernel's value is `beta * x`, which `log1p(exp(beta * x))` rounds to in float32 too.
fn softplus(x: &Tensor, beta: f64, threshold: f64) -> Result<Tensor, tch::TchError> {
    let scaled = x.f_mul_scalar(beta)?;
    let soft = scaled.f_softplus()?.f_div_scalar(beta)?;
    if threshold == 20.0 {
        return Ok(soft);
    }
    soft.f_where_self(&scaled.f_le(threshold)?, x)
}

/// nn.ELU: libtorch's kernel at alpha 1 (tch binds no other); elsewhere
/// `relu(x) + alpha * expm1(min(x, 0))`, whose gradient is 1 above 0 and `alpha * exp(x)`
/// below, as ELU's, and never exponentiates a large input.
fn elu(x: &Tensor, alpha: f64) -> Result<Tensor, tch::TchError> {
    if alpha == 1.0 {
        return x.f_elu();
    }
    x.f_relu()?.f_add(&x.f_clamp_max(0.0)?.f_expm1()?.f_mul_scalar(alpha)?)
}

impl LowerOp for Glu {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let axis = ins[0].axis(self.axis).unwrap_or(1) as i64;
        Ok(Box::new(Glu { axis }))
    }
}

impl Layer for Glu {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_glu(self.axis)
    }
}

impl LowerOp for LogSoftmax {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let axis = ins[0].axis(self.axis).unwrap_or(1) as i64;
        Ok(Box::new(LogSoftmax { axis }))
    }
}

impl Layer for LogSoftmax {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        crate::lower::precision::in_fp32(xs, |xs| xs[0].f_log_softmax(self.axis, None::<tch::Kind>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Both forms (libtorch's op at 0.01, `prelu` elsewhere) compute `x` above zero and
    /// `slope * x` below it, with gradient 1 or `slope`.
    #[test]
    fn leaky_relu_is_x_or_slope_times_x_with_matching_gradients() {
        for slope in [DEFAULT_SLOPE, 0.2, 0.0] {
            let x = Tensor::from_slice(&[-3.0f32, -0.5, 0.25, 2.0]).set_requires_grad(true);
            let vs = nn::VarStore::new(Device::Cpu);
            let layer = LeakyRelu { slope }.lower(&vs.root(), &[]).unwrap();
            assert_eq!(vs.variables().len(), 0, "the slope is no variable");
            let y = layer.forward(&[&x], true).unwrap();
            y.sum(Kind::Float).backward();
            let values: Vec<f32> = y.detach().try_into().unwrap();
            let grads: Vec<f32> = x.grad().try_into().unwrap();
            let s = slope as f32;
            assert_eq!(values, vec![-3.0 * s, -0.5 * s, 0.25, 2.0], "slope {slope}");
            assert_eq!(grads, vec![s, s, 1.0, 1.0], "slope {slope}");
            assert_eq!(y.device(), Device::Cpu);
        }
    }
}
