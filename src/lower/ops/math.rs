//! The tch layers of the math ops (their parameters, shapes and costs are `avc_lang::ops::math`).

use super::{Layer, LowerOp};
use avc_lang::ops::math::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// Lowers an element-wise op to itself, computing `$body` of its input `$x`.
macro_rules! unary_layer {
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

unary_layer!(Exp, |x, _op| x.f_exp());
unary_layer!(Log, |x, _op| x.f_log());
unary_layer!(Sqrt, |x, _op| x.f_sqrt());
unary_layer!(Abs, |x, _op| x.f_abs());
unary_layer!(Pow, |x, op| x.f_pow_tensor_scalar(op.exponent));
unary_layer!(Clamp, |x, op| match (op.min, op.max) {
    (Some(lo), Some(hi)) => x.f_clamp(lo, hi),
    (Some(lo), None) => x.f_clamp_min(lo),
    (None, Some(hi)) => x.f_clamp_max(hi),
    // Refused by the parser; the identity keeps this total.
    (None, None) => Ok(x.shallow_clone()),
});
