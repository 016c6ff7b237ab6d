//! The tch layers of the part ops (their parameters and shape rules are
//! `avc_lang::ops::parts`): views (`narrow`, `select`) where PyTorch's are, and
//! `index_select` for a list of indexes.

use super::{Layer, LowerOp};
use avc_lang::ops::parts::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// An axis counted with the batch as axis 0, resolved on the input's rank at lowering (the
/// checker has refused the batch and out-of-range axes).
fn axis_of(op: &str, axis: i64, ins: &[Shape]) -> Result<i64, tch::TchError> {
    ins.first()
        .and_then(|x| x.axis(axis))
        .filter(|&a| a > 0)
        .map(|a| a as i64)
        .ok_or_else(|| tch::TchError::Kind(format!("{op}: axis {axis} does not fit the input")))
}

/// A fixed range of one axis: a part of `chunk` or `split`.
struct Narrow {
    axis: i64,
    start: i64,
    len: i64,
}

impl Layer for Narrow {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_narrow(self.axis, self.start, self.len)
    }
}

impl LowerOp for Chunk {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let axis = axis_of("chunk", self.axis, ins)?;
        let n = ins[0].0[axis as usize].fixed().unwrap_or(0);
        let len = n / self.chunks.max(1);
        Ok(Box::new(Narrow { axis, start: self.index * len, len }))
    }
}

impl LowerOp for Split {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(Narrow { axis: axis_of("split", self.axis, ins)?, start: self.start(), len: self.part_len() }))
    }
}

struct SelectLayer {
    axis: i64,
    index: i64,
}

impl LowerOp for Select {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(SelectLayer { axis: axis_of("select", self.axis, ins)?, index: self.index }))
    }
}

impl Layer for SelectLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_select(self.axis, self.index)
    }
}

struct IndexLayer {
    op: Index,
    axis: i64,
}

impl LowerOp for Index {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(IndexLayer { op: self.clone(), axis: axis_of("index", self.axis, ins)? }))
    }
}

impl Layer for IndexLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let n = xs[0].size().get(self.axis as usize).copied().unwrap_or(0);
        let indices = self.op.resolved(n);
        if let Some(bad) = indices.iter().find(|&&i| !(0..n).contains(&i)) {
            return Err(tch::TchError::Shape(format!(
                "index: index {bad} on an axis of {n} elements (a symbolic length shorter than the indexes)"
            )));
        }
        let ids = Tensor::f_from_slice(&indices)?.f_to_device(xs[0].device())?;
        xs[0].f_index_select(self.axis, &ids)
    }
}
