//! The tch layers of the layout ops
//! (their parameters, shapes and costs are `avc_lang::ops::layout`).

use super::{Layer, LowerOp};
use avc_lang::ops::layout::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Flatten {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(Flatten))
    }
}

impl Layer for Flatten {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_flatten(1, -1)
    }
}

impl LowerOp for Transpose {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

impl Layer for Transpose {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_transpose(self.a, self.b)
    }
}
