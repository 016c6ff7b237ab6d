//! The tch layers of the conv2d ops
//! (their parameters, shapes and costs are `avc_lang::ops::conv2d`).

use super::{Layer, LowerOp, bias_init, xavier};
use avc_lang::ops::conv2d::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Conv2d {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let c = ins[0].0[1].fixed().unwrap_or(1);
        let (k, fan_in) = (self.kernel, self.fan_in(ins));
        let weight = vs.f_var("weight", &[self.out, c, k, k], xavier(fan_in, self.out * k * k))?;
        let bias = if self.bias { Some(vs.f_var("bias", &[self.out], bias_init(fan_in))?) } else { None };
        Ok(Box::new(Conv2dLayer { weight, bias, stride: self.stride, padding: self.padding, dilation: self.dilation }))
    }
}

struct Conv2dLayer {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    padding: i64,
    dilation: i64,
}

impl Layer for Conv2dLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let (s, p, d) = (self.stride, self.padding, self.dilation);
        xs[0].f_conv2d(&self.weight, self.bias.as_ref(), [s, s], [p, p], [d, d], 1)
    }
}

/// Lowers a 2-D pooling op to itself, running `$pool(x, kernel, stride)`.
macro_rules! pool2d_layer {
    ($ty:ident, $pool:path) => {
        impl LowerOp for $ty {
            fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                Ok(Box::new(self.clone()))
            }
        }

        impl Layer for $ty {
            fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
                $pool(xs[0], self.kernel, self.stride)
            }
        }
    };
}

pool2d_layer!(MaxPool2d, max_pool2d);
pool2d_layer!(AvgPool2d, avg_pool2d);

fn max_pool2d(x: &Tensor, kernel: i64, stride: i64) -> Result<Tensor, tch::TchError> {
    x.f_max_pool2d([kernel, kernel], [stride, stride], [0, 0], [1, 1], false)
}

/// Without padding every window is full, so no divisor choice arises.
fn avg_pool2d(x: &Tensor, kernel: i64, stride: i64) -> Result<Tensor, tch::TchError> {
    x.f_avg_pool2d([kernel, kernel], [stride, stride], [0, 0], false, true, None)
}
