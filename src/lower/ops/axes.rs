//! The tch layers of the axes ops (their parameters, shapes and costs are `avc_lang::ops::axes`).

use super::{Layer, LowerOp};
use avc_lang::ops::axes::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Reshape {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

impl Layer for Reshape {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let batch = xs[0].size().first().copied().unwrap_or(0);
        let full: Vec<i64> = std::iter::once(batch).chain(self.shape.iter().copied()).collect();
        xs[0].f_reshape(full)
    }
}

impl LowerOp for Unsqueeze {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let axis = ins.first().and_then(|s| self.resolved(s)).unwrap_or(1) as i64;
        Ok(Box::new(Unsqueeze { axis }))
    }
}

impl Layer for Unsqueeze {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_unsqueeze(self.axis)
    }
}

impl LowerOp for Permute {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let dims = match ins.first().map(|s| self.resolved(s)) {
            Some(Ok(axes)) => axes.iter().map(|&a| a as i64).collect(),
            _ => self.dims.clone(),
        };
        Ok(Box::new(Permute { dims }))
    }
}

impl Layer for Permute {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_permute(self.dims.as_slice())
    }
}
