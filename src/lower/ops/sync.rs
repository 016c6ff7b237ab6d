//! The tch layer of `lagged_cosine` (its parameters, shapes and costs are
//! `avc_lang::ops::sync`): per pair in training, and for every pair of two sets at once as
//! one matrix product per lag ([`lagged_cosine_matrix`]), which is how evaluation scores a
//! catalogue.

use super::{Layer, LowerOp};
use avc_lang::ops::sync::LaggedCosine;
use avc_lang::shape::Shape;
use tch::{Kind, Tensor, nn};

/// The guard against zero norms, as `cosine`'s (torch's default).
const EPS: f64 = 1e-8;

impl LowerOp for LaggedCosine {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

/// Each step's vector scaled to unit length (norm clamped to at least [`EPS`]).
pub fn unit_steps(x: &Tensor) -> Result<Tensor, tch::TchError> {
    x.f_div(&x.f_norm_scalaropt_dim(2, [-1], true)?.f_clamp_min(EPS)?)
}

/// Steps `[start, start + len)` of `[B, T, D]`.
fn steps(x: &Tensor, start: i64, len: i64) -> Result<Tensor, tch::TchError> {
    x.f_narrow(1, start, len)
}

impl Layer for LaggedCosine {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        crate::lower::precision::in_fp32(xs, |xs| lagged_cosine_pairs(self, xs))
    }

    fn pairwise(&self, a: &Tensor, b: &Tensor) -> Option<Result<Tensor, tch::TchError>> {
        Some(crate::lower::precision::in_fp32(&[a, b], |xs| lagged_cosine_matrix(self, xs[0], xs[1])))
    }

    fn pairwise_form(&self) -> Option<i64> {
        // One lag's matrix and the running best.
        Some(2)
    }
}

/// The op's value per pair (rows of `xs[0]` against the same rows of `xs[1]`).
fn lagged_cosine_pairs(op: &LaggedCosine, xs: &[&Tensor]) -> Result<Tensor, tch::TchError> {
    let (a, b) = (unit_steps(xs[0])?, unit_steps(xs[1])?);
    let t = a.size()[1];
    let mut per_lag = Vec::new();
    for lag in op.lags() {
        let len = t - lag.abs();
        if len <= 0 {
            continue;
        }
        // a[t] against b[t + lag]: for a positive lag b is read later.
        let (sa, sb) = (lag.min(0).abs(), lag.max(0));
        let dot = steps(&a, sa, len)?.f_mul(&steps(&b, sb, len)?)?.f_sum_dim_intlist(-1, false, Kind::Float)?;
        per_lag.push(dot.f_mean_dim(-1, false, Kind::Float)?);
    }
    let stacked = Tensor::f_stack(&per_lag, 1)?;
    stacked.f_amax(-1, true)
}

/// `[Na, Nb]`: the op's value for every pair of rows of `a` (`[Na, T, D]`) and `b`
/// (`[Nb, T, D]`), as (2 max_lag + 1) matrix products of the flattened, overlapping steps,
/// the same numbers as [`Layer::forward`] on each pair (to rounding).
pub fn lagged_cosine_matrix(op: &LaggedCosine, a: &Tensor, b: &Tensor) -> Result<Tensor, tch::TchError> {
    let (a, b) = (unit_steps(a)?, unit_steps(b)?);
    let t = a.size()[1];
    let mut best: Option<Tensor> = None;
    for lag in op.lags() {
        let len = t - lag.abs();
        if len <= 0 {
            continue;
        }
        let (sa, sb) = (lag.min(0).abs(), lag.max(0));
        let fa = steps(&a, sa, len)?.f_flatten(1, -1)?;
        let fb = steps(&b, sb, len)?.f_flatten(1, -1)?;
        let m = fa.f_matmul(&fb.f_transpose(0, 1)?)?.f_div_scalar(len as f64)?;
        best = Some(match best {
            Some(prev) => prev.f_maximum(&m)?,
            None => m,
        });
    }
    best.ok_or_else(|| tch::TchError::Kind("lagged_cosine: no lag leaves an overlap".into()))
}
