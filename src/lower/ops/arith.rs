//! The tch layers of tensor arithmetic (`sub`, `mul`, `div`, `neg`; `add` is in
//! combine.rs), of `param` and of `slice` (their parameters, shapes and costs are
//! `avc_lang::ops::{arith, learned, slice}`). libtorch broadcasts as NumPy does, which is
//! the rule the checker applied.

use super::{Layer, LowerOp};
use avc_lang::ops::arith::{Div, Mul, Neg, Scalar, Sub};
use avc_lang::ops::learned::{Init, Param};
use avc_lang::ops::slice::Slice;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

/// `a op b`, `left op a` or `a op right`.
fn binary(
    xs: &[&Tensor],
    scalar: Scalar,
    tensors: fn(&Tensor, &Tensor) -> Result<Tensor, tch::TchError>,
    left: fn(&Tensor, f64) -> Result<Tensor, tch::TchError>,
    right: fn(&Tensor, f64) -> Result<Tensor, tch::TchError>,
) -> Result<Tensor, tch::TchError> {
    match (scalar, xs) {
        (Scalar::None, [a, b]) => tensors(a, b),
        (Scalar::Left(x), [a]) => left(a, x),
        (Scalar::Right(x), [a]) => right(a, x),
        _ => Err(tch::TchError::Kind(format!("{} operands where the checker allowed two", xs.len()))),
    }
}

macro_rules! lower_self {
    ($($ty:ty),*) => {$(
        impl LowerOp for $ty {
            fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                Ok(Box::new(self.clone()))
            }
        }
    )*};
}

lower_self!(Sub, Mul, Div, Neg);

impl Layer for Sub {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        binary(xs, self.scalar, |a, b| a.f_sub(b), |a, x| a.f_neg()?.f_add_scalar(x), |a, x| a.f_sub_scalar(x))
    }
}

impl Layer for Mul {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        binary(xs, self.scalar, |a, b| a.f_mul(b), |a, x| a.f_mul_scalar(x), |a, x| a.f_mul_scalar(x))
    }
}

impl Layer for Div {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        binary(xs, self.scalar, |a, b| a.f_div(b), |a, x| a.f_reciprocal()?.f_mul_scalar(x), |a, x| a.f_div_scalar(x))
    }
}

impl Layer for Neg {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_neg()
    }
}

/// A learned tensor: its variable, returned as it is.
struct Learned(Tensor);

impl Layer for Learned {
    fn forward(&self, _xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        Ok(self.0.shallow_clone())
    }
}

/// The variable of a `param` node, named `name` under `vs`: `lower::lower` passes the
/// node's parent path and its last name, so the tensor is called as the node is (`cls`,
/// `block.cls`), as an `nn.Parameter` attribute of that name would be.
pub(crate) fn lower_param(p: &Param, vs: &nn::Path, name: &str) -> Result<Box<dyn Layer>, tch::TchError> {
    let init = match p.init {
        Init::Normal { std } => nn::Init::Randn { mean: 0.0, stdev: std },
        Init::Uniform { low, high } => nn::Init::Uniform { lo: low, up: high },
        Init::Constant(v) => nn::Init::Const(v),
        Init::Xavier => {
            let r = p.shape.len();
            let receptive: i64 = p.shape[..r.saturating_sub(2)].iter().product();
            let fan_in = p.shape.get(r.wrapping_sub(1)).copied().unwrap_or(1) * receptive;
            let fan_out = p.shape.get(r.wrapping_sub(2)).copied().unwrap_or(1) * receptive;
            super::xavier(fan_in, fan_out)
        }
    };
    Ok(Box::new(Learned(vs.f_var(name, &p.shape, init)?)))
}

impl LowerOp for Param {
    /// Outside a model (a test lowering one op) the variable is `<path>.value`; in a model
    /// `lower::lower` names it after the node itself ([`lower_param`]).
    fn lower(&self, vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        lower_param(self, vs, "value")
    }
}

/// `slice` on the axis its input's shape gives, with Python's bounds on the real size.
struct SliceLayer {
    slice: Slice,
    axis: i64,
}

impl LowerOp for Slice {
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let axis = ins
            .first()
            .and_then(|x| self.resolve_axis(x))
            .ok_or_else(|| tch::TchError::Kind(format!("slice: axis {} does not fit the input", self.axis)))?;
        Ok(Box::new(SliceLayer { slice: self.clone(), axis: axis as i64 }))
    }
}

impl Layer for SliceLayer {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let n = xs[0].size().get(self.axis as usize).copied().unwrap_or(0);
        let (start, len) = self.slice.bounds(n);
        xs[0].f_narrow(self.axis, start, len)
    }
}
