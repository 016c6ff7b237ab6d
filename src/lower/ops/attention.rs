//! The tch layers of the attention ops
//! (their parameters, shapes and costs are `avc_lang::ops::attention`).

use super::{Layer, LowerOp, bias_init, xavier};
use avc_lang::ops::attention::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Attention {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let f = ins[0].0[2].fixed().unwrap_or(1);
        let h = self.hidden;
        let key = &(vs / "key");
        let query = match Self::query_width(ins) {
            Some(q) => Query::Projected((vs / "query").f_var("weight", &[h, q], xavier(q, h))?),
            None => Query::Learned(vs.f_var("query", &[h], bias_init(h))?),
        };
        Ok(Box::new(AttentionLayer {
            key_weight: key.f_var("weight", &[h, f], xavier(f, h))?,
            key_bias: key.f_var("bias", &[h], bias_init(f))?,
            query,
            score_weight: (vs / "score").f_var("weight", &[1, h], xavier(h, 1))?,
            weights: self.weights,
        }))
    }
}

/// Where the query term `W_q q` comes from.
enum Query {
    /// `query.weight` [hidden, Q], applied to the second input.
    Projected(Tensor),
    /// `query` [hidden]: `W_q q` for a learned `q`.
    Learned(Tensor),
}

struct AttentionLayer {
    key_weight: Tensor,
    key_bias: Tensor,
    query: Query,
    score_weight: Tensor,
    weights: bool,
}

impl AttentionLayer {
    /// The attention weights `[B, T]`; with `valid` (`[B, T]` bool), padded steps get 0.
    fn weights(&self, xs: &[&Tensor], valid: Option<&Tensor>) -> Result<Tensor, tch::TchError> {
        let keys = xs[0].f_linear(&self.key_weight, Some(&self.key_bias))?; // [B, T, H]
        let q = match &self.query {
            Query::Projected(w) => xs[1].f_linear::<&Tensor>(w, None)?.f_unsqueeze(1)?, // [B, 1, H]
            Query::Learned(v) => v.shallow_clone(),                                     // [H]
        };
        let scores = keys.f_add(&q)?.f_tanh()?.f_linear::<&Tensor>(&self.score_weight, None)?; // [B, T, 1]
        let scores = scores.f_squeeze_dim(-1)?;
        let scores = match valid {
            Some(valid) => scores.f_masked_fill(&valid.f_logical_not()?, f64::NEG_INFINITY)?,
            None => scores,
        };
        crate::lower::precision::in_fp32(&[&scores], |xs| xs[0].f_softmax(1, None))
    }

    fn pool(&self, xs: &[&Tensor], valid: Option<&Tensor>) -> Result<Tensor, tch::TchError> {
        let w = self.weights(xs, valid)?;
        if self.weights {
            return Ok(w);
        }
        // [B, 1, T] x [B, T, F] -> [B, 1, F]
        w.f_unsqueeze(1)?.f_bmm(xs[0])?.f_squeeze_dim(1)
    }
}

impl Layer for AttentionLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        self.pool(xs, None)
    }

    fn masked_input(&self) -> Option<usize> {
        Some(0)
    }

    fn forward_masked(&self, xs: &[&Tensor], valid: &Tensor, _train: bool) -> Result<Tensor, tch::TchError> {
        self.pool(xs, Some(valid))
    }
}
