//! The tch layers of the similarity ops
//! (their parameters, shapes and costs are `avc_lang::ops::similarity`).

use super::{Layer, LowerOp};
use avc_lang::ops::similarity::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// Cosine similarity's guard against zero norms, as torch's default.
const COSINE_EPS: f64 = 1e-8;

/// Added under the square root of `l2_distance`, so that its gradient at `a == b` is 0
/// rather than NaN (d sqrt(s)/ds is infinite at 0). It shifts the distance by at most 1e-6.
const L2_EPS: f64 = 1e-12;

/// Lowers a comparison op to itself, computing `$body` of its two inputs.
macro_rules! comparison_layer {
    ($ty:ident, |$a:ident, $b:ident| $body:expr) => {
        impl LowerOp for $ty {
            fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                Ok(Box::new($ty))
            }
        }

        impl Layer for $ty {
            fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
                // A reduction over features: in fp32 under autocast (docs/precision.md).
                crate::lower::precision::in_fp32(xs, |xs| {
                    let ($a, $b) = (xs[0], xs[1]);
                    $body
                })
            }
        }
    };
}

comparison_layer!(Cosine, |a, b| Tensor::f_cosine_similarity(a, b, -1, COSINE_EPS)?.f_unsqueeze(-1));
comparison_layer!(L2Distance, |a, b| {
    let d = a.f_sub(b)?;
    d.f_mul(&d)?.f_sum_dim_intlist(-1, true, None)?.f_add_scalar(L2_EPS)?.f_sqrt()
});
