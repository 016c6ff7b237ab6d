//! The tch layers of the conv2d ops
//! (their parameters, shapes and costs are `avc_lang::ops::conv2d`).

use super::{Layer, LowerOp, bias_init, xavier};
use avc_lang::ops::conv2d::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Conv2d {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let (k, fan_in) = (self.kernel, self.fan_in(ins));
        let shape = [self.out, self.in_per_group(ins), k, k];
        let weight = vs.f_var("weight", &shape, xavier(fan_in, self.out * k * k))?;
        let bias = if self.bias { Some(vs.f_var("bias", &[self.out], bias_init(fan_in))?) } else { None };
        Ok(Box::new(Conv2dLayer {
            weight,
            bias,
            stride: self.stride,
            sides: self.padding.sides(self.kernel, self.dilation),
            dilation: self.dilation,
            groups: self.groups,
        }))
    }
}

struct Conv2dLayer {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    /// Zero rows (and columns) before and after.
    sides: (i64, i64),
    dilation: i64,
    groups: i64,
}

impl Layer for Conv2dLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let (s, d, (before, after)) = (self.stride, self.dilation, self.sides);
        if before == after {
            let p = before;
            return xs[0].f_conv2d(&self.weight, self.bias.as_ref(), [s, s], [p, p], [d, d], self.groups);
        }
        // `same` with an odd total: the extra row and column at the end, as PyTorch's.
        let padded = xs[0].f_constant_pad_nd([before, after, before, after])?;
        padded.f_conv2d(&self.weight, self.bias.as_ref(), [s, s], [0, 0], [d, d], self.groups)
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
