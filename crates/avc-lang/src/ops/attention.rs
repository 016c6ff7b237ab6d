//! Additive (Bahdanau) attention over time: a learned weighting of a sequence's steps,
//! pooling `[B, T, F]` into `[B, F]` (or returning the weights themselves).
//!
//! `score_t = v . tanh(W_k x_t + b_k + W_q q)`, `weights = softmax_t(score)`,
//! `context = sum_t weights_t x_t`. Without a query input the term `W_q q` of a learned
//! query `q` is a constant vector, so it is learned directly as `query` [hidden].

use super::product;
use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, expect_rank, fixed_axis};
use crate::shape::{Dim, Shape};

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
        results: super::Results::One,
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
    pub fn query_width(ins: &[Shape]) -> Option<i64> {
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

    fn describe(&self) -> String {
        let mut s = format!("hidden={}", self.hidden);
        if self.weights {
            s += " output=weights";
        }
        s
    }
}
