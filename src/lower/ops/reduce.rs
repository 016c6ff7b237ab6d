//! The tch layers of the reduce ops
//! (their parameters, shapes and costs are `avc_lang::ops::reduce`).

use super::{Layer, LowerOp};
use avc_lang::ops::reduce::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// Lowers a reduction with its axis resolved against the checked shape, computing `$body`
/// of the input `$x` along `$axis`.
macro_rules! reduction_layer {
    ($ty:ident, |$x:ident, $axis:ident| $body:expr) => {
        impl LowerOp for $ty {
            fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                let axis = ins[0].axis(self.axis).unwrap_or(1) as i64;
                Ok(Box::new($ty { axis }))
            }
        }

        impl Layer for $ty {
            fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
                let ($x, $axis) = (xs[0], self.axis);
                $body
            }
        }
    };
}

reduction_layer!(Mean, |x, axis| x.f_mean_dim(axis, false, None));
reduction_layer!(Max, |x, axis| x.f_amax(axis, false));
reduction_layer!(Sum, |x, axis| x.f_sum_dim_intlist(axis, false, None));

impl LowerOp for Last {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(Last))
    }
}

impl Layer for Last {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_select(1, -1)
    }
}
