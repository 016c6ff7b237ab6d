//! Element-wise functions, tensor arithmetic and the comparisons of two values.

use super::{Emitted, NodeView, keyword};
use crate::export::torch::helpers::Helper;
use crate::export::torch::template::{Template, float, int};
use avc_lang::ops::activation::{DEFAULT_SLOPE, Gelu, Softplus};
use avc_lang::ops::arith::Scalar;

/// `name(x)`.
pub(super) fn function(name: &str) -> Emitted {
    Emitted::call(Template::parse(&format!("{name}({{x0}})"), []))
}

pub(super) fn leaky_relu(slope: f64, node: &NodeView) -> Emitted {
    let t = keyword(
        Template::parse("F.leaky_relu({x0}", []),
        node,
        "negative_slope",
        "slope",
        float("slope", "slope", slope),
        slope == DEFAULT_SLOPE,
    );
    Emitted::call(t.t(")"))
}

pub(super) fn gelu(c: &Gelu) -> Emitted {
    Emitted::call(Template::parse(if c.tanh { "F.gelu({x0}, approximate=\"tanh\")" } else { "F.gelu({x0})" }, []))
}

pub(super) fn softplus(c: &Softplus, node: &NodeView) -> Emitted {
    let t = Template::parse("F.softplus({x0}", []);
    let t = keyword(t, node, "beta", "beta", float("beta", "beta", c.beta), c.beta == 1.0);
    let t =
        keyword(t, node, "threshold", "threshold", float("threshold", "threshold", c.threshold), c.threshold == 20.0);
    Emitted::call(t.t(")"))
}

pub(super) fn elu(alpha: f64, node: &NodeView) -> Emitted {
    let t = keyword(
        Template::parse("F.elu({x0}", []),
        node,
        "alpha",
        "alpha",
        float("alpha", "alpha", alpha),
        alpha == 1.0,
    );
    Emitted::call(t.t(")"))
}

pub(super) fn clamp(min: Option<f64>, max: Option<f64>) -> Emitted {
    let t = match (min, max) {
        (Some(lo), Some(hi)) => {
            Template::parse("{x0}.clamp({}, {})", [float("min", "min", lo), float("max", "max", hi)])
        }
        (Some(lo), None) => Template::parse("{x0}.clamp(min={})", [float("min", "min", lo)]),
        (None, Some(hi)) => Template::parse("{x0}.clamp(max={})", [float("max", "max", hi)]),
        (None, None) => Template::parse("{x0}", []),
    };
    Emitted::call(t)
}

pub(super) fn pow(exponent: f64) -> Emitted {
    Emitted::call(Template::parse("{x0}.pow({})", [float("exponent", "exponent", exponent)]))
}

/// `a + b + ...` then the number, in the lowering's order.
pub(super) fn add(scalar: Scalar, node: &NodeView) -> Emitted {
    let mut t = Template::default().x(0);
    for i in 1..node.ins.len() {
        t = t.t(" + ").x(i);
    }
    let t = match scalar {
        Scalar::Left(x) if node.ins.len() == 1 => Template::default().num(float("left", "left", x)).t(" + ").x(0),
        Scalar::Left(x) => t.t(" + ").num(float("left", "left", x)),
        Scalar::Right(x) => t.t(" + ").num(float("right", "right", x)),
        Scalar::None => t,
    };
    Emitted::call(t)
}

/// `a op b`, `number op a` or `a op number`.
pub(super) fn binary(op: &str, scalar: Scalar) -> Emitted {
    let t = match scalar {
        Scalar::None => Template::parse(&format!("{{x0}} {op} {{x1}}"), []),
        Scalar::Left(x) => Template::parse(&format!("{{}} {op} {{x0}}"), [float("left", "left", x)]),
        Scalar::Right(x) => Template::parse(&format!("{{x0}} {op} {{}}"), [float("right", "right", x)]),
    };
    Emitted::call(t)
}

pub(super) fn matmul(transpose_b: bool) -> Emitted {
    Emitted::call(Template::parse(if transpose_b { "{x0} @ {x1}.transpose(-1, -2)" } else { "{x0} @ {x1}" }, []))
}

pub(super) fn cosine() -> Emitted {
    Emitted::call(Template::parse("F.cosine_similarity({x0}, {x1}, dim=-1).unsqueeze(-1)", []))
}

/// The lowering adds 1e-12 under the root (a finite gradient at a == b).
pub(super) fn l2_distance() -> Emitted {
    Emitted::call(Template::parse("({x0} - {x1}).square().sum(-1, keepdim=True).add(1e-12).sqrt()", []))
}

pub(super) fn lagged_cosine(max_lag: i64) -> Emitted {
    Emitted::call(Template::parse("lagged_cosine({x0}, {x1}, {})", [int("max_lag", Some("max_lag"), max_lag)]))
        .with(Helper::LaggedCosine)
}
