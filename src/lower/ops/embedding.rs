//! The tch layers of `positions` and `embedding` (their parameters and shape rules are
//! `avc_lang::ops::embedding`).

use super::{Layer, LowerOp};
use avc_lang::ops::embedding::*;
use avc_lang::shape::Shape;
use tch::{Kind, Tensor, nn};

struct PositionsLayer {
    axis: i64,
}

impl LowerOp for Positions {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let axis = ins
            .first()
            .and_then(|x| self.resolve_axis(x))
            .ok_or_else(|| tch::TchError::Kind(format!("positions: axis {} does not fit the input", self.axis)))?;
        Ok(Box::new(PositionsLayer { axis: axis as i64 }))
    }
}

impl Layer for PositionsLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let size = xs[0].size();
        let (b, t) = (size[0], size[self.axis as usize]);
        Tensor::f_arange(t, (xs[0].kind(), xs[0].device()))?.f_unsqueeze(0)?.f_expand([b, t], false)
    }
}

struct EmbeddingLayer {
    weight: Tensor,
    count: i64,
}

impl LowerOp for Embedding {
    fn lower(&self, vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let weight = vs.f_var("weight", &[self.count, self.dim], nn::Init::Randn { mean: 0.0, stdev: 1.0 })?;
        Ok(Box::new(EmbeddingLayer { weight, count: self.count }))
    }
}

impl Layer for EmbeddingLayer {
    /// Rows of the table for whole numbers in `0..count`; any other value is an error (as
    /// PyTorch's "index out of range"), found with one pass over the indexes.
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let ids = xs[0].f_to_kind(Kind::Int64)?;
        if xs[0].numel() > 0 {
            let whole = xs[0].f_eq_tensor(&ids.f_to_kind(xs[0].kind())?)?.f_all()?.int64_value(&[]) == 1;
            let (lo, hi) = (ids.f_min()?.int64_value(&[]), ids.f_max()?.int64_value(&[]));
            if !whole || lo < 0 || hi >= self.count {
                return Err(tch::TchError::Shape(format!(
                    "embedding: its input holds {}, and the table has rows 0 to {}",
                    if whole { format!("indexes from {lo} to {hi}") } else { "numbers that are not whole".into() },
                    self.count - 1
                )));
            }
        }
        Tensor::f_embedding(&self.weight, &ids, -1, false, false)
    }
}
