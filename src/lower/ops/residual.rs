//! The tch layers of the residual ops
//! (their parameters, shapes and costs are `avc_lang::ops::residual`).

use super::{Layer, LowerOp, xavier};
use avc_lang::ops::residual::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Residual {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let proj = match Self::projection(ins) {
            Some((from, to)) => Some((vs / "proj").f_var("weight", &[to, from], xavier(from, to))?),
            None => None,
        };
        Ok(Box::new(ResidualLayer { proj }))
    }
}

struct ResidualLayer {
    /// `[F_x, F_skip]`, or `None` for the identity shortcut.
    proj: Option<Tensor>,
}

impl Layer for ResidualLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let (skip, x) = (xs[0], xs[1]);
        match &self.proj {
            Some(w) => super::combine::add_in_order(x, &skip.f_linear::<&Tensor>(w, None)?),
            None => super::combine::add_in_order(x, skip),
        }
    }
}
