//! Multi-head scaled dot-product self-attention over a batch-first sequence, computing
//! exactly what torch.nn.MultiheadAttention(F, heads, dropout, batch_first=True) computes
//! for `mha(x, x, x)`, with its variable names, so weights load into PyTorch unchanged.

use super::multihead::{self, DROPOUT, HEADS, describe_heads, heads_and_dropout, width};
use super::{ArgReader, Arity, Op, OpImpl, OpSpec, ShapeError, expect_rank};
use crate::shape::Shape;

/// `self_attention(x, heads: N, dropout: 0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfAttention {
    pub heads: i64,
    pub dropout: f64,
}

impl SelfAttention {
    pub const SPEC: OpSpec = OpSpec {
        name: "self_attention",
        family: "attention",
        summary: "Multi-head scaled dot-product self-attention, as torch.nn.MultiheadAttention \
                  (batch_first) on (x, x, x): q, k, v from `in_proj_weight` [3F, F] and \
                  `in_proj_bias` [3F] (in that order), softmax(q k^T / sqrt(F / heads)) per head, \
                  dropout on the weights while training, then `out_proj.weight` [F, F] and \
                  `out_proj.bias` [F].",
        shape_rule: "[B, T, F] -> [B, T, F] (F divisible by heads)",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[HEADS, DROPOUT],
        parse: |r: &mut ArgReader| {
            let (heads, dropout) = heads_and_dropout(r);
            Op::SelfAttention(SelfAttention { heads, dropout })
        },
    };
}

impl OpImpl for SelfAttention {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        multihead::head_width(ins, 0, self.heads)?;
        Ok(ins[0].clone())
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        multihead::param_count(width(ins, 0))
    }

    fn macs(&self, ins: &[Shape], _out: &Shape) -> Option<i64> {
        let (t, f) = (ins[0].0[1].fixed()?, ins[0].0[2].fixed()?);
        Some(multihead::macs(t, t, f))
    }

    fn describe(&self) -> String {
        describe_heads(self.heads, self.dropout)
    }
}
