//! Additive (Bahdanau) attention over time: a learned weighting of a sequence's steps,
//! pooling `[B, T, F]` into `[B, F]` (or returning the weights themselves).
//!
//! `score_t = v . tanh(W_k x_t + b_k + W_q q)`, `weights = softmax_t(score)`,
//! `context = sum_t weights_t x_t`. Without a query input the term `W_q q` of a learned
//! query `q` is a constant vector, so it is learned directly as `query` [hidden].

use super::product;
use super::{
    ArgReader, Arity, Default, Layer, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, bias_init, expect_rank,
    fixed_axis, xavier,
};
use crate::shape::{Dim, Shape};
use tch::{Tensor, nn};

const OUTPUTS: &[&str] = &["context", "weights"];

/// `attention(x, [query], hidden: H, output: context)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attention {
    pub hidden: i64,
    /// Return the attention weights `[B, T]` instead of the context `[B, F]`.
    pub weights: bool,
}

impl Attention {
    pub const SPEC: OpSpec = OpSpec {
        name: "attention",
        family: "attention",
        summary: "Additive (Bahdanau) attention pooling over time: `score_t = v . tanh(W_k x_t + b_k \
                  + W_q q)`, weights = softmax over T, context = sum_t weights_t x_t. The query `q` \
                  is the optional second input [B, Q]; without it a learned query is used. \
                  Variables: `key.weight` [hidden, F], `key.bias` [hidden], `query.weight` \
                  [hidden, Q] (or `query` [hidden] without a query input), `score.weight` [1, hidden] (v).",
        shape_rule: "[B, T, F] (, [B, Q]) -> [B, F] (output: context) or [B, T] (output: weights)",
        arity: Arity::Range(1, 2),
        params: &[
            ParamSpec { name: "hidden", kind: ParamKind::Int, default: None, doc: "width of the scoring layer" },
            ParamSpec {
                name: "output",
                kind: ParamKind::Choice(OUTPUTS),
                default: Some(Default::Str("context")),
                doc: "`context`: the weighted sum of the steps; `weights`: the attention weights",
            },
        ],
        parse: |r: &mut ArgReader| {
            Op::Attention(Attention { hidden: r.int_at_least("hidden", 1), weights: r.choice("output") == 1 })
        },
    };

    /// The query's width Q, when a query input is given.
    fn query_width(ins: &[Shape]) -> Option<i64> {
        ins.get(1).and_then(|q| q.0.get(1)).and_then(Dim::fixed)
    }
}

impl OpImpl for Attention {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        fixed_axis(ins, 0, 2, "input features")?;
        if ins.len() == 2 {
            expect_rank(ins, 1, 2, "[B, Q] (the query)")?;
            fixed_axis(ins, 1, 1, "query features")?;
        }
        let x = &ins[0];
        Ok(if self.weights { x.without(2) } else { x.without(1) })
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        let f = ins[0].0[2].fixed().unwrap_or(0);
        let h = self.hidden;
        let query = Self::query_width(ins).map_or(h, |q| product(&[h, q]));
        product(&[h, f]).saturating_add(h).saturating_add(query).saturating_add(h)
    }

    fn macs(&self, ins: &[Shape], _out: &Shape) -> Option<i64> {
        let (t, f) = (ins[0].0[1].fixed()?, ins[0].0[2].fixed()?);
        let h = self.hidden;
        // Keys and scores per step, the weighted sum, and the query's projection once.
        let per_step = product(&[f, h]).saturating_add(h).saturating_add(f);
        Some(product(&[t, per_step]).saturating_add(Self::query_width(ins).map_or(0, |q| product(&[q, h]))))
    }

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

    fn describe(&self) -> String {
        let mut s = format!("hidden={}", self.hidden);
        if self.weights {
            s += " output=weights";
        }
        s
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
    /// The attention weights `[B, T]`.
    fn weights(&self, xs: &[&Tensor]) -> Result<Tensor, tch::TchError> {
        let keys = xs[0].f_linear(&self.key_weight, Some(&self.key_bias))?; // [B, T, H]
        let q = match &self.query {
            Query::Projected(w) => xs[1].f_linear::<&Tensor>(w, None)?.f_unsqueeze(1)?, // [B, 1, H]
            Query::Learned(v) => v.shallow_clone(),                                     // [H]
        };
        let scores = keys.f_add(&q)?.f_tanh()?.f_linear::<&Tensor>(&self.score_weight, None)?; // [B, T, 1]
        scores.f_squeeze_dim(-1)?.f_softmax(1, None)
    }
}

impl Layer for AttentionLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let w = self.weights(xs)?;
        if self.weights {
            return Ok(w);
        }
        // [B, 1, T] x [B, T, F] -> [B, 1, F]
        w.f_unsqueeze(1)?.f_bmm(xs[0])?.f_squeeze_dim(1)
    }
}
