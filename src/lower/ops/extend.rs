//! The tch layers of `stack`, `pad`, `repeat`, `expand` and `flip` (their parameters and
//! shape rules are `avc_lang::ops::extend`).

use super::{Layer, LowerOp};
use avc_lang::ops::extend::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// An axis counted with the batch as axis 0, resolved on the input's rank at lowering.
fn axis_of(op: &str, axis: i64, ins: &[Shape]) -> Result<usize, tch::TchError> {
    ins.first()
        .and_then(|x| x.axis(axis))
        .filter(|&a| a > 0)
        .ok_or_else(|| tch::TchError::Kind(format!("{op}: axis {axis} does not fit the input")))
}

struct StackLayer {
    axis: i64,
}

impl LowerOp for Stack {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let rank = ins.first().map_or(0, Shape::rank);
        let axis = self
            .resolve_axis(rank)
            .ok_or_else(|| tch::TchError::Kind(format!("stack: axis {} does not fit the inputs", self.axis)))?;
        Ok(Box::new(StackLayer { axis: axis as i64 }))
    }
}

impl Layer for StackLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        Tensor::f_stack(xs, self.axis)
    }
}

/// `F.pad`'s list for one axis of a rank-`rank` tensor: pairs from the last axis back.
struct PadLayer {
    pad: Vec<i64>,
    value: f64,
}

impl LowerOp for Pad {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let axis = axis_of("pad", self.axis, ins)?;
        let after_it = ins[0].rank() - 1 - axis;
        let mut pad = vec![0; 2 * after_it];
        pad.extend([self.before, self.after]);
        Ok(Box::new(PadLayer { pad, value: self.value }))
    }
}

impl Layer for PadLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_pad(self.pad.as_slice(), "constant", self.value)
    }
}

struct RepeatLayer {
    /// One count per axis: `times` on the repeated one, 1 elsewhere.
    counts: Vec<i64>,
}

impl LowerOp for Repeat {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let axis = axis_of("repeat", self.axis, ins)?;
        let mut counts = vec![1; ins[0].rank()];
        counts[axis] = self.times;
        Ok(Box::new(RepeatLayer { counts }))
    }
}

impl Layer for RepeatLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_repeat(self.counts.as_slice())
    }
}

/// `expand`: sizes of -1 (kept) but one, which is the given size or the batch of the
/// second input.
struct ExpandLayer {
    axis: usize,
    size: Option<i64>,
    rank: usize,
}

impl LowerOp for Expand {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let rank = ins.first().map_or(0, Shape::rank);
        let axis = match self.axis {
            Some(a) => axis_of("expand", a, ins)?,
            None => 0,
        };
        Ok(Box::new(ExpandLayer { axis, size: self.size, rank }))
    }
}

impl Layer for ExpandLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let size = match (self.size, xs.get(1)) {
            (Some(s), _) => s,
            (None, Some(like)) => like.size().first().copied().unwrap_or(1),
            (None, None) => return Err(tch::TchError::Kind("expand: no size and no second input".into())),
        };
        let mut sizes = vec![-1; self.rank];
        sizes[self.axis] = size;
        xs[0].f_expand(sizes.as_slice(), false)
    }
}

struct FlipLayer {
    axis: i64,
}

impl LowerOp for Flip {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(FlipLayer { axis: axis_of("flip", self.axis, ins)? as i64 }))
    }
}

impl Layer for FlipLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_flip([self.axis])
    }
}
