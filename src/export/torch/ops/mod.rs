//! Each op's Python form: the module a node owns (constructed in `__init__`) and the
//! expression its `forward` line computes, written to compute what the op's lowering
//! (`crate::lower::ops`) computes in evaluation mode. One file per op family; the match
//! in [`emit`] is exhaustive, so a new op does not compile until it has a Python form (or
//! says why it has none).

mod arith;
mod conv;
mod dense;
mod layout;
mod norm;

use super::helpers::Helper;
use super::template::{Num, Template, int};
use avc_lang::ops::Op;
use avc_lang::shape::Shape;

/// What an op's emitter reads about its node.
pub(crate) struct NodeView<'a> {
    /// The node's input shapes, as checked.
    pub ins: &'a [Shape],
    /// Whether the source wrote the parameter (it is then shown even at its default).
    pub given: &'a dyn Fn(&str) -> bool,
}

impl NodeView<'_> {
    /// The fixed size of axis `axis` of input `i`, or why there is none.
    pub fn fixed(&self, i: usize, axis: usize) -> Result<i64, String> {
        self.ins
            .get(i)
            .and_then(|s| s.0.get(axis))
            .and_then(|d| d.fixed())
            .ok_or_else(|| format!("input {i} has no fixed size on axis {axis}"))
    }

    /// The fixed size of input `i`'s last axis.
    pub fn last(&self, i: usize) -> Result<i64, String> {
        let rank = self.ins.get(i).map_or(0, Shape::rank);
        self.fixed(i, rank.saturating_sub(1))
    }

    /// The rank of input `i`.
    pub fn rank(&self, i: usize) -> usize {
        self.ins.get(i).map_or(0, Shape::rank)
    }
}

/// A node's Python form.
#[derive(Debug, Clone, Default)]
pub(crate) struct Emitted {
    /// The module or parameter the node owns, as constructed in `__init__`.
    pub module: Option<Template>,
    /// What its `forward` line computes.
    pub call: Template,
    pub helpers: Vec<Helper>,
}

impl Emitted {
    /// A function of the inputs only.
    pub fn call(call: Template) -> Emitted {
        Emitted { module: None, call, helpers: Vec::new() }
    }

    /// A module of its own, called as `call`.
    pub fn module(module: Template, call: Template) -> Emitted {
        Emitted { module: Some(module), call, helpers: Vec::new() }
    }

    pub fn with(mut self, helper: Helper) -> Emitted {
        self.helpers.push(helper);
        self
    }
}

/// The op's Python form, or why it has none that computes the same.
pub(crate) fn emit(op: &Op, node: &NodeView) -> Result<Emitted, String> {
    match op {
        Op::Linear(c) => dense::linear(c, node),
        Op::Lstm(c) => dense::recurrent(&c.0, "LSTM", node),
        Op::Gru(c) => dense::recurrent(&c.0, "GRU", node),
        Op::Embedding(c) => dense::embedding(c),
        Op::Param(c) => dense::param(c),
        Op::Residual(_) => dense::residual(node),
        Op::Attention(c) => dense::attention(c, node),
        Op::SelfAttention(c) => dense::multihead(c.heads, c.dropout, false, node),
        Op::CrossAttention(c) => dense::multihead(c.heads, c.dropout, true, node),
        Op::LearnedPosition(c) => dense::learned_position(c, node),
        Op::SinusoidalPosition(c) => dense::sinusoidal(c, node),
        Op::Conv1d(c) => conv::conv1d(c, node),
        Op::Conv2d(c) => conv::conv2d(c, node),
        Op::MaxPool1d(c) => Ok(conv::pool1d("max", c.kernel, c.stride, node)),
        Op::AvgPool1d(c) => Ok(conv::pool1d("avg", c.kernel, c.stride, node)),
        Op::MaxPool2d(c) => Ok(conv::pool2d("max", c.kernel, c.stride, node)),
        Op::AvgPool2d(c) => Ok(conv::pool2d("avg", c.kernel, c.stride, node)),
        Op::AdaptiveAvgPool1d(c) => Ok(conv::adaptive1d("avg", c.size)),
        Op::AdaptiveMaxPool1d(c) => Ok(conv::adaptive1d("max", c.size)),
        Op::AdaptiveAvgPool2d(c) => Ok(conv::adaptive2d("avg", c.size)),
        Op::AdaptiveMaxPool2d(c) => Ok(conv::adaptive2d("max", c.size)),
        Op::BatchNorm(c) => norm::batchnorm(c, node),
        Op::LayerNorm(c) => norm::layernorm(c.affine, c.eps, node),
        Op::RmsNorm(c) => norm::rmsnorm(c.affine, c.eps, node),
        Op::Dropout(c) => Ok(norm::dropout(c.p)),
        Op::Relu(_) => Ok(arith::function("torch.relu")),
        Op::Tanh(_) => Ok(arith::function("torch.tanh")),
        Op::Sigmoid(_) => Ok(arith::function("torch.sigmoid")),
        Op::Silu(_) => Ok(arith::function("F.silu")),
        Op::Exp(_) => Ok(arith::function("torch.exp")),
        Op::Log(_) => Ok(arith::function("torch.log")),
        Op::Sqrt(_) => Ok(arith::function("torch.sqrt")),
        Op::Abs(_) => Ok(arith::function("torch.abs")),
        Op::LeakyRelu(c) => Ok(arith::leaky_relu(c.slope, node)),
        Op::Gelu(c) => Ok(arith::gelu(c)),
        Op::Softplus(c) => Ok(arith::softplus(c, node)),
        Op::Elu(c) => Ok(arith::elu(c.alpha, node)),
        Op::Clamp(c) => Ok(arith::clamp(c.min, c.max)),
        Op::Pow(c) => Ok(arith::pow(c.exponent)),
        Op::Softmax(c) => layout::along("torch.softmax", c.axis, node),
        Op::LogSoftmax(c) => layout::along("torch.log_softmax", c.axis, node),
        Op::Glu(c) => layout::along("F.glu", c.axis, node),
        Op::Add(c) => Ok(arith::add(c.scalar, node)),
        Op::Sub(c) => Ok(arith::binary("-", c.scalar)),
        Op::Mul(c) => Ok(arith::binary("*", c.scalar)),
        Op::Div(c) => Ok(arith::binary("/", c.scalar)),
        Op::Neg(_) => Ok(Emitted::call(Template::parse("-{x0}", []))),
        Op::Matmul(c) => Ok(arith::matmul(c.transpose_b)),
        Op::Bmm(_) => Ok(Emitted::call(Template::parse("torch.bmm({x0}, {x1})", []))),
        Op::Cosine(_) => Ok(arith::cosine()),
        Op::L2Distance(_) => Ok(arith::l2_distance()),
        Op::LaggedCosine(c) => Ok(arith::lagged_cosine(c.max_lag)),
        Op::Concat(c) => Ok(layout::concat(c.axis, node)),
        Op::Stack(c) => layout::stack(c, node),
        Op::Mean(c) => layout::reduce("mean", c.axis, node),
        Op::Max(c) => layout::reduce("amax", c.axis, node),
        Op::Sum(c) => layout::reduce("sum", c.axis, node),
        Op::Last(_) => Ok(Emitted::call(Template::parse("{x0}[:, -1]", []))),
        Op::Flatten(_) => Ok(Emitted::call(Template::parse("{x0}.flatten(1)", []))),
        Op::Transpose(c) => Ok(layout::transpose(c.a, c.b)),
        Op::Reshape(c) => Ok(layout::reshape(&c.shape)),
        Op::Unsqueeze(c) => layout::unsqueeze(c, node),
        Op::Permute(c) => layout::permute(c, node),
        Op::Slice(c) => layout::slice(c, node),
        Op::Chunk(c) => layout::chunk(c, node),
        Op::Split(c) => layout::split(c, node),
        Op::Select(c) => layout::select(c.axis, c.index, node),
        Op::Index(c) => layout::index(c, node),
        Op::Pad(c) => layout::pad(c, node),
        Op::Repeat(c) => layout::repeat(c, node),
        Op::Expand(c) => layout::expand(c, node),
        Op::Flip(c) => layout::flip(c.axis, node),
        Op::Positions(c) => layout::positions(c, node),
    }
}

/// `, name=value` when the source gave the parameter or it is not the default.
pub(crate) fn keyword(
    t: Template,
    node: &NodeView,
    kw: &str,
    param: &'static str,
    value: Num,
    default: bool,
) -> Template {
    if default && !(node.given)(param) {
        return t;
    }
    t.t(&format!(", {kw}=")).num(value)
}

/// An axis counted with the batch as axis 0, resolved on input `i`'s rank: a positive axis
/// below the rank.
pub(crate) fn axis_of(axis: i64, node: &NodeView, i: usize) -> Result<usize, String> {
    node.ins
        .get(i)
        .and_then(|x| x.axis(axis))
        .filter(|&a| a > 0)
        .ok_or_else(|| format!("axis {axis} does not fit input {i}"))
}

/// An integer hole for an axis (never a constructor argument of its own name but `axis`).
pub(crate) fn axis_num(axis: usize) -> Num {
    int("axis", Some("axis"), axis as i64)
}
