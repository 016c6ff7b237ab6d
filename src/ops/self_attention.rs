//! Multi-head scaled dot-product self-attention over a batch-first sequence, computing
//! exactly what torch.nn.MultiheadAttention(F, heads, dropout, batch_first=True) computes
//! for `mha(x, x, x)`, with its variable names, so weights load into PyTorch unchanged.

use super::{
    ArgReader, Arity, Default, Layer, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, bias_init, expect_rank,
    fixed_axis, xavier,
};
use super::product;
use crate::shape::Shape;
use tch::{Tensor, nn};

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
        params: &[
            ParamSpec {
                name: "heads",
                kind: ParamKind::Int,
                default: None,
                doc: "attention heads; each sees F / heads",
            },
            ParamSpec {
                name: "dropout",
                kind: ParamKind::Float,
                default: Some(Default::Float(0.0)),
                doc: "dropout on the attention weights (training only)",
            },
        ],
        parse: |r: &mut ArgReader| {
            Op::SelfAttention(SelfAttention {
                heads: r.int_at_least("heads", 1),
                dropout: r.float_in("dropout", 0.0, 1.0),
            })
        },
    };

    fn width(ins: &[Shape]) -> i64 {
        ins[0].0[2].fixed().unwrap_or(1)
    }
}

impl OpImpl for SelfAttention {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        expect_rank(ins, 0, 3, "[B, T, F]")?;
        let f = fixed_axis(ins, 0, 2, "model width")?;
        if f % self.heads != 0 {
            return Err(ShapeError::input(0, format!("a last axis divisible by heads = {}", self.heads), &ins[0])
                .at_axis(2)
                .hint(format!("each head takes F / heads features; {f} is not a multiple of {}", self.heads)));
        }
        Ok(ins[0].clone())
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        let f = Self::width(ins);
        product(&[4, f, f]).saturating_add(product(&[4, f]))
    }

    fn macs(&self, ins: &[Shape], _out: &Shape) -> Option<i64> {
        let (t, f) = (ins[0].0[1].fixed()?, ins[0].0[2].fixed()?);
        // Four projections per step, then q k^T and weights x v over every pair of steps.
        Some(product(&[4, t, f, f]).saturating_add(product(&[2, t, t, f])))
    }

    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let f = Self::width(ins);
        // nn.MultiheadAttention's initialisation: Xavier for the packed projection, zero biases,
        // nn.Linear's default (uniform in ±1/sqrt(F)) for the output weight.
        let out = &(vs / "out_proj");
        Ok(Box::new(SelfAttentionLayer {
            cfg: self.clone(),
            in_weight: vs.f_var("in_proj_weight", &[3 * f, f], xavier(f, 3 * f))?,
            in_bias: vs.f_var("in_proj_bias", &[3 * f], nn::Init::Const(0.0))?,
            out_weight: out.f_var("weight", &[f, f], bias_init(f))?,
            out_bias: out.f_var("bias", &[f], nn::Init::Const(0.0))?,
        }))
    }

    fn describe(&self) -> String {
        let mut s = format!("heads={}", self.heads);
        if self.dropout > 0.0 {
            s += &format!(" dropout={}", self.dropout);
        }
        s
    }
}

struct SelfAttentionLayer {
    cfg: SelfAttention,
    in_weight: Tensor,
    in_bias: Tensor,
    out_weight: Tensor,
    out_bias: Tensor,
}

impl Layer for SelfAttentionLayer {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError> {
        let x = xs[0];
        let (b, t, f) = x.size3()?;
        let heads = self.cfg.heads;
        let head_dim = f / heads;
        // [B, T, 3F] -> q, k, v, each [B, heads, T, head_dim].
        let qkv = x.f_linear(&self.in_weight, Some(&self.in_bias))?;
        let split = |part: &Tensor| part.f_reshape([b, t, heads, head_dim])?.f_transpose(1, 2);
        let parts = qkv.f_chunk(3, -1)?;
        let (q, k, v) = (split(&parts[0])?, split(&parts[1])?, split(&parts[2])?);
        let p = if train { self.cfg.dropout } else { 0.0 };
        let scale = 1.0 / (head_dim as f64).sqrt();
        let ctx = Tensor::f_scaled_dot_product_attention::<&Tensor>(&q, &k, &v, None, p, false, scale, false)?;
        let merged = ctx.f_transpose(1, 2)?.f_reshape([b, t, f])?;
        merged.f_linear(&self.out_weight, Some(&self.out_bias))
    }
}
