//! The multi-head attention shared by `self_attention` and `cross_attention`: the variables
//! and the forward pass of torch.nn.MultiheadAttention(F, heads, dropout, batch_first=True)
//! when queries, keys and values all have width F (`mha(q, kv, kv)`), with its variable
//! names, so weights load into PyTorch unchanged. The parameters, shape checks and costs are
//! `avc_lang::ops::multihead`.

use super::{bias_init, xavier};
use tch::{Tensor, nn};

/// The variables and settings of one multi-head attention layer.
pub(super) struct MultiHead {
    heads: i64,
    dropout: f64,
    in_weight: Tensor,
    in_bias: Tensor,
    out_weight: Tensor,
    out_bias: Tensor,
}

impl MultiHead {
    /// Creates the variables under `vs` with nn.MultiheadAttention's names and
    /// initialisation: Xavier for the packed projection `in_proj_weight` [3F, F] (q, k, v in
    /// that order), zero biases, nn.Linear's default (uniform in ±1/sqrt(F)) for
    /// `out_proj.weight` [F, F].
    pub fn new(vs: &nn::Path, f: i64, heads: i64, dropout: f64) -> Result<Self, tch::TchError> {
        let out = &(vs / "out_proj");
        Ok(MultiHead {
            heads,
            dropout,
            in_weight: vs.f_var("in_proj_weight", &[3 * f, f], xavier(f, 3 * f))?,
            in_bias: vs.f_var("in_proj_bias", &[3 * f], nn::Init::Const(0.0))?,
            out_weight: out.f_var("weight", &[f, f], bias_init(f))?,
            out_bias: out.f_var("bias", &[f], nn::Init::Const(0.0))?,
        })
    }

    /// Queries from `q` [B, Tq, F] attend over keys and values from `kv` [B, Tk, F]:
    /// softmax(q k^T / sqrt(F / heads)) v per head, dropout on the weights while training,
    /// heads concatenated and projected. Returns [B, Tq, F].
    pub fn forward(&self, q: &Tensor, kv: &Tensor, train: bool) -> Result<Tensor, tch::TchError> {
        self.attend(q, kv, None, train)
    }

    /// [`MultiHead::forward`] with `valid` (`[B, Tk]` bool): keys at `false` are padding and
    /// get no weight (PyTorch's `key_padding_mask`, inverted).
    pub fn forward_masked(
        &self,
        q: &Tensor,
        kv: &Tensor,
        valid: &Tensor,
        train: bool,
    ) -> Result<Tensor, tch::TchError> {
        let (b, _, _) = kv.size3()?;
        // [B, 1, 1, Tk]: one row of keys per clip, for every head and query.
        let mask = valid.f_reshape([b, 1, 1, -1])?;
        self.attend(q, kv, Some(&mask), train)
    }

    fn attend(&self, q: &Tensor, kv: &Tensor, mask: Option<&Tensor>, train: bool) -> Result<Tensor, tch::TchError> {
        let (b, tq, f) = q.size3()?;
        let tk = kv.size3()?.1;
        let head_dim = f / self.heads;
        let split = |x: &Tensor, t: i64| x.f_reshape([b, t, self.heads, head_dim])?.f_transpose(1, 2);
        let [q_proj, k_proj, v_proj] = self.project(q, kv)?;
        let (q, k, v) = (split(&q_proj, tq)?, split(&k_proj, tk)?, split(&v_proj, tk)?);
        let p = if train { self.dropout } else { 0.0 };
        let scale = 1.0 / (head_dim as f64).sqrt();
        let ctx = Tensor::f_scaled_dot_product_attention(&q, &k, &v, mask, p, false, scale, false)?;
        let merged = ctx.f_transpose(1, 2)?.f_reshape([b, tq, f])?;
        merged.f_linear(&self.out_weight, Some(&self.out_bias))
    }

    /// The projected queries, keys and values, each [B, T, F]. Rows [0, F) of the packed
    /// weight project the queries, [F, 2F) the keys, [2F, 3F) the values; self-attention
    /// (`q` and `kv` the same tensor) does it in one product.
    fn project(&self, q: &Tensor, kv: &Tensor) -> Result<[Tensor; 3], tch::TchError> {
        let parts = if std::ptr::eq(q, kv) {
            q.f_linear(&self.in_weight, Some(&self.in_bias))?.f_chunk(3, -1)?
        } else {
            let f = q.size3()?.2;
            let w = self.in_weight.f_split_with_sizes([f, 2 * f], 0)?;
            let bias = self.in_bias.f_split_with_sizes([f, 2 * f], 0)?;
            let mut parts = vec![q.f_linear(&w[0], Some(&bias[0]))?];
            parts.extend(kv.f_linear(&w[1], Some(&bias[1]))?.f_chunk(2, -1)?);
            parts
        };
        parts.try_into().map_err(|_| tch::TchError::Shape("the projection did not split in three".into()))
    }
}
