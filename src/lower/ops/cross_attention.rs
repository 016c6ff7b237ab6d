//! The tch layers of the cross attention ops
//! (their parameters, shapes and costs are `avc_lang::ops::cross_attention`).

use super::multihead::MultiHead;
use super::{Layer, LowerOp};
use avc_lang::ops::cross_attention::*;
use avc_lang::ops::multihead::width;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for CrossAttention {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(CrossAttentionLayer(MultiHead::new(vs, width(ins, 0), self.heads, self.dropout)?)))
    }
}

/// `mha(q, kv, kv)`.
struct CrossAttentionLayer(MultiHead);

impl Layer for CrossAttentionLayer {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError> {
        self.0.forward(xs[0], xs[1], train)
    }

    /// The keys' (second input's) padded steps get no weight.
    fn masked_input(&self) -> Option<usize> {
        Some(1)
    }

    fn forward_masked(&self, xs: &[&Tensor], valid: &Tensor, train: bool) -> Result<Tensor, tch::TchError> {
        self.0.forward_masked(xs[0], xs[1], valid, train)
    }
}
