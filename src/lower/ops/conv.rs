//! The tch layers of the conv ops (their parameters, shapes and costs are `avc_lang::ops::conv`).

use super::{Layer, LowerOp, bias_init, xavier};
use avc_lang::ops::conv::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Conv1d {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let f = ins[0].0[2].fixed().unwrap_or(1);
        let weight =
            vs.f_var("weight", &[self.out, f, self.kernel], xavier(f * self.kernel, self.out * self.kernel))?;
        let bias = if self.bias { Some(vs.f_var("bias", &[self.out], bias_init(f * self.kernel))?) } else { None };
        Ok(Box::new(Conv1dLayer { weight, bias, stride: self.stride, padding: self.padding, dilation: self.dilation }))
    }
}

struct Conv1dLayer {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    padding: i64,
    dilation: i64,
}

impl Layer for Conv1dLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let x = xs[0].f_transpose(1, 2)?;
        let y = x.f_conv1d(&self.weight, self.bias.as_ref(), [self.stride], [self.padding], [self.dilation], 1)?;
        y.f_transpose(1, 2)
    }
}

/// Lowers a pooling op over time to itself, running `$pool(x, kernel, stride)` on
/// PyTorch's `[B, F, T]` layout.
macro_rules! pool1d_layer {
    ($ty:ident, $pool:path) => {
        impl LowerOp for $ty {
            fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                Ok(Box::new(self.clone()))
            }
        }

        impl Layer for $ty {
            fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
                $pool(&xs[0].f_transpose(1, 2)?, self.kernel, self.stride)?.f_transpose(1, 2)
            }
        }
    };
}

pool1d_layer!(MaxPool1d, max_pool1d);
pool1d_layer!(AvgPool1d, avg_pool1d);

/// `[B, F, T]` max pooling over time, PyTorch's layout for `pool1d_layer!`.
fn max_pool1d(x: &Tensor, kernel: i64, stride: i64) -> Result<Tensor, tch::TchError> {
    x.f_max_pool1d([kernel], [stride], [0], [1], false)
}

/// `[B, F, T]` average pooling over time; without padding every window is full.
fn avg_pool1d(x: &Tensor, kernel: i64, stride: i64) -> Result<Tensor, tch::TchError> {
    x.f_avg_pool1d([kernel], [stride], [0], false, true)
}
