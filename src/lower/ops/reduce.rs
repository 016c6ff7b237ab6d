//! The tch layers of the reduce ops
//! (their parameters, shapes and costs are `avc_lang::ops::reduce`).

use super::{Layer, LowerOp};
use avc_lang::ops::reduce::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// Lowers a reduction with its axis resolved against the checked shape, computing `$body`
/// of the input `$x` along `$axis`.
/// With `|$x, $axis, $valid| $masked`, its form over time that leaves padded steps out
/// (`$valid` broadcast over `$x`; rows keep at least one step, see `data::lengths`).
macro_rules! reduction_layer {
    ($ty:ident, |$x:ident, $axis:ident| $body:expr, |$mx:ident, $maxis:ident, $valid:ident| $masked:expr) => {
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

            /// Over time only: along another axis, every entry is the clip's own.
            fn masked_input(&self) -> Option<usize> {
                (self.axis == 1).then_some(0)
            }

            fn forward_masked(&self, xs: &[&Tensor], valid: &Tensor, _train: bool) -> Result<Tensor, tch::TchError> {
                let ($mx, $maxis) = (xs[0], self.axis);
                let $valid = &super::valid_like(valid, $mx)?;
                $masked
            }
        }
    };
}

reduction_layer!(Mean, |x, axis| x.f_mean_dim(axis, false, None), |x, axis, valid| {
    let kept = x.f_mul(&valid.f_to_kind(x.kind())?)?.f_sum_dim_intlist(axis, false, None)?;
    kept.f_div(&valid.f_sum_dim_intlist(axis, false, x.kind())?.f_clamp_min(1.0)?)
});
reduction_layer!(Max, |x, axis| x.f_amax(axis, false), |x, axis, valid| {
    x.f_masked_fill(&valid.f_logical_not()?, f64::NEG_INFINITY)?.f_amax(axis, false)
});
reduction_layer!(Sum, |x, axis| x.f_sum_dim_intlist(axis, false, None), |x, axis, valid| {
    x.f_mul(&valid.f_to_kind(x.kind())?)?.f_sum_dim_intlist(axis, false, None)
});

impl LowerOp for Last {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(Last))
    }
}

impl Layer for Last {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_select(1, -1)
    }

    fn masked_input(&self) -> Option<usize> {
        Some(0)
    }

    /// Each clip's own last step, not the batch's.
    fn forward_masked(&self, xs: &[&Tensor], valid: &Tensor, _train: bool) -> Result<Tensor, tch::TchError> {
        let x = xs[0];
        let last = valid.f_sum_dim_intlist(1, false, tch::Kind::Int64)?.f_sub_scalar(1)?.f_clamp_min(0)?;
        // [N] -> [N, 1, ...] indices along time, broadcast over the other axes.
        let mut shape = x.size();
        shape[1] = 1;
        let mut view = vec![-1i64];
        view.resize(x.dim(), 1);
        let index = last.f_reshape(view.as_slice())?.f_expand(shape.as_slice(), false)?;
        x.f_gather(1, &index, false)?.f_squeeze_dim(1)
    }
}
