//! The tch layers of the adaptive pools
//! (their parameters, shapes and costs are `avc_lang::ops::adaptive`).

use super::{Layer, LowerOp};
use avc_lang::ops::adaptive::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// Lowers an adaptive pool to itself, computing `$body` of its input `$x` and output size
/// `$size`.
macro_rules! adaptive_layer {
    ($ty:ident, |$x:ident, $size:ident| $body:expr) => {
        impl LowerOp for $ty {
            fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                Ok(Box::new(self.clone()))
            }
        }

        impl Layer for $ty {
            fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
                let ($x, $size) = (xs[0], self.size);
                $body
            }
        }
    };
}

// The 1-d pools run on PyTorch's `[B, F, T]` layout: the sequence transposed and back.
adaptive_layer!(AdaptiveAvgPool1d, |x, size| x.f_transpose(1, 2)?.f_adaptive_avg_pool1d([size])?.f_transpose(1, 2));
adaptive_layer!(AdaptiveMaxPool1d, |x, size| x.f_transpose(1, 2)?.f_adaptive_max_pool1d([size])?.0.f_transpose(1, 2));
adaptive_layer!(AdaptiveAvgPool2d, |x, size| x.f_adaptive_avg_pool2d([size, size]));
adaptive_layer!(AdaptiveMaxPool2d, |x, size| Ok(x.f_adaptive_max_pool2d([size, size])?.0));
