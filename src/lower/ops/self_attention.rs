//! The tch layers of the self attention ops
//! (their parameters, shapes and costs are `avc_lang::ops::self_attention`).

use super::multihead::MultiHead;
use super::{Layer, LowerOp};
use avc_lang::ops::multihead::width;
use avc_lang::ops::self_attention::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for SelfAttention {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(SelfAttentionLayer(MultiHead::new(vs, width(ins, 0), self.heads, self.dropout)?)))
    }
}

/// `mha(x, x, x)`.
struct SelfAttentionLayer(MultiHead);

impl Layer for SelfAttentionLayer {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError> {
        self.0.forward(xs[0], xs[0], train)
    }

    fn masked_input(&self) -> Option<usize> {
        Some(0)
    }

    /// A clip's padded steps are no key for any step (the padded steps' own outputs are
    /// left out by whatever pools them later).
    fn forward_masked(&self, xs: &[&Tensor], valid: &Tensor, train: bool) -> Result<Tensor, tch::TchError> {
        self.0.forward_masked(xs[0], xs[0], valid, train)
    }
}
