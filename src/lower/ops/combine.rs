//! The tch layers of the combine ops
//! (their parameters, shapes and costs are `avc_lang::ops::combine`).

use super::{Layer, LowerOp};
use avc_lang::ops::combine::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Concat {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

impl Layer for Concat {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        Tensor::f_cat(xs, self.axis)
    }
}

impl LowerOp for Add {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

impl Layer for Add {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let mut sum = xs[0].f_add(xs[1])?;
        for x in &xs[2..] {
            sum = sum.f_add(x)?;
        }
        Ok(sum)
    }
}
