//! Multi-head cross-attention: the steps of one sequence (the queries) attend over the steps
//! of another (the keys and values), e.g. video frames over audio frames. It computes what
//! torch.nn.MultiheadAttention(F, heads, dropout, batch_first=True) computes for
//! `mha(q, kv, kv)`, with its variable names; the layer is the one `self_attention` uses.

use super::multihead::{self, DROPOUT, HEADS, describe_heads, heads_and_dropout, width};
use super::{ArgReader, Arity, Op, OpImpl, OpSpec, ShapeError, expect_rank};
use crate::shape::Shape;

/// `cross_attention(queries, keys_values, heads: N, dropout: 0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossAttention {
    pub heads: i64,
    pub dropout: f64,
}

impl CrossAttention {
    pub const SPEC: OpSpec = OpSpec {
        name: "cross_attention",
        family: "attention",
        summary: "Multi-head scaled dot-product attention of one sequence over another, as \
                  torch.nn.MultiheadAttention (batch_first) on (q, kv, kv): queries from the \
                  first input, keys and values from the second, both projected by \
                  `in_proj_weight` [3F, F] and `in_proj_bias` [3F] (q, k, v in that order), \
                  softmax(q k^T / sqrt(F / heads)) per head over the second input's steps, \
                  dropout on the weights while training, then `out_proj.weight` [F, F] and \
                  `out_proj.bias` [F]. Both inputs have width F (project one with `linear` \
                  first if not); their lengths may differ.",
        shape_rule: "[B, Tq, F], [B, Tk, F] -> [B, Tq, F] (F divisible by heads)",
        arity: Arity::Exactly(2),
        results: super::Results::One,
        params: &[HEADS, DROPOUT],
        parse: |r: &mut ArgReader| {
            let (heads, dropout) = heads_and_dropout(r);
            Op::CrossAttention(CrossAttention { heads, dropout })
        },
    };
}

impl OpImpl for CrossAttention {
    fn steps(&self) -> super::Steps {
        super::Steps::KeptFrom(0)
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, Tq, F] (the queries)")?;
        expect_rank(ins, 1, 3, "[B, Tk, F] (the keys and values)")?;
        let f = multihead::head_width(ins, 0, self.heads)?;
        if ins[1].0[2].fixed() != Some(f) {
            return Err(ShapeError::input(1, format!("the queries' width {f} on the last axis"), &ins[1])
                .at_axis(2)
                .hint("one projection serves both inputs; give them one width with `linear(x, out: F)`"));
        }
        Ok(ins[0].clone())
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        multihead::param_count(width(ins, 0))
    }

    fn macs(&self, ins: &[Shape], _out: &Shape) -> Option<i64> {
        let (tq, tk, f) = (ins[0].0[1].fixed()?, ins[1].0[1].fixed()?, ins[0].0[2].fixed()?);
        Some(multihead::macs(tq, tk, f))
    }

    fn describe(&self) -> String {
        describe_heads(self.heads, self.dropout)
    }
}
