//! The tch layers of the linalg ops
//! (their parameters, shapes and costs are `avc_lang::ops::linalg`).

use super::{Layer, LowerOp};
use avc_lang::ops::linalg::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Matmul {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

impl Layer for Matmul {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        if self.transpose_b { xs[0].f_matmul(&xs[1].f_transpose(-1, -2)?) } else { xs[0].f_matmul(xs[1]) }
    }
}

impl LowerOp for Bmm {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(Bmm))
    }
}

impl Layer for Bmm {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_bmm(xs[1])
    }
}
