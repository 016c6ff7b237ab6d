//! Normalisations and dropout, with PyTorch's modules: their evaluation mode is avc's
//! (batch norm with the running statistics, dropout the identity).

use super::{Emitted, NodeView, keyword};
use crate::export::torch::template::{Template, float, int};
use avc_lang::ops::norm::BatchNorm;

/// PyTorch's defaults, left out of the generated lines unless the source gave them.
const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;

/// `nn.BatchNorm1d/2d/3d` by rank, on the normalised axis moved to axis 1 where it is
/// elsewhere (a sequence's features: `[B, T, F]` read as `[B, F, T]`).
pub(super) fn batchnorm(c: &BatchNorm, node: &NodeView) -> Result<Emitted, String> {
    let x = node.ins.first().ok_or("no input")?;
    let axis = c.channel_axis(x).ok_or_else(|| format!("axis {} does not fit the input", c.axis))?;
    let class = match x.rank() {
        2 | 3 => "BatchNorm1d",
        4 => "BatchNorm2d",
        5 => "BatchNorm3d",
        r => return Err(format!("PyTorch has no batch norm for rank {r}")),
    };
    let features = c.features(node.ins);
    let mut module = Template::parse(&format!("nn.{class}({{}}"), [int("features", None, features)]);
    module = keyword(module, node, "eps", "eps", float("eps", "eps", c.eps), c.eps == EPS);
    module = keyword(
        module,
        node,
        "momentum",
        "momentum",
        float("momentum", "momentum", c.momentum),
        c.momentum == MOMENTUM,
    );
    if !c.affine {
        module = module.t(", affine=False");
    }
    let call = if axis == 1 {
        Template::parse("{m}({x0})", [])
    } else {
        Template::parse(&format!("{{m}}({{x0}}.transpose(1, {axis})).transpose(1, {axis})"), [])
    };
    Ok(Emitted::module(module.t(")"), call))
}

pub(super) fn layernorm(affine: bool, eps: f64, node: &NodeView) -> Result<Emitted, String> {
    let mut module = Template::parse("nn.LayerNorm({}", [int("features", None, node.last(0)?)]);
    module = keyword(module, node, "eps", "eps", float("eps", "eps", eps), eps == EPS);
    if !affine {
        module = module.t(", elementwise_affine=False");
    }
    Ok(Emitted::module(module.t(")"), Template::parse("{m}({x0})", [])))
}

/// `nn.RMSNorm`, with avc's eps always written (PyTorch's default is another).
pub(super) fn rmsnorm(affine: bool, eps: f64, node: &NodeView) -> Result<Emitted, String> {
    let mut module =
        Template::parse("nn.RMSNorm({}, eps=", [int("features", None, node.last(0)?)]).num(float("eps", "eps", eps));
    if !affine {
        module = module.t(", elementwise_affine=False");
    }
    Ok(Emitted::module(module.t(")"), Template::parse("{m}({x0})", [])))
}

pub(super) fn dropout(p: f64) -> Emitted {
    Emitted::call(Template::parse("F.dropout({x0}, {}, self.training)", [float("p", "p", p)]))
}
