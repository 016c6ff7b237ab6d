//! `param`: a learned tensor as a node (a CLS token, learned latents or queries, a learned
//! temperature, a bilinear form's matrix). It has no inputs and no batch axis: its shape is
//! given in full, as PyTorch's `nn.Parameter(torch.empty(shape))`, and tensor arithmetic
//! broadcasts it against batched tensors (`x + pos`, `scale * cos`).

use super::args::MAX_SIZE;
use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError};
use crate::shape::{Dim, Shape};

/// How a learned tensor starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Normal with mean 0 and this standard deviation.
    Normal { std: f64 },
    /// Uniform in `[low, high)`.
    Uniform { low: f64, high: f64 },
    /// Every element this value.
    Constant(f64),
    /// Xavier (Glorot) uniform, as avc's linear layers: fans from the last two axes.
    Xavier,
}

/// The words of `init:`.
const INITS: &[&str] = &["normal", "uniform", "constant", "zeros", "ones", "xavier"];

/// The largest rank of a learned tensor.
const MAX_RANK: usize = 8;

/// `param(shape: [1, 1, 64], init: "normal", std: 0.02)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub shape: Vec<i64>,
    pub init: Init,
}

impl Param {
    pub const SPEC: OpSpec = OpSpec {
        name: "param",
        family: "learned",
        summary: "A learned tensor of the given shape, with no inputs and no batch axis (as PyTorch's \
                  nn.Parameter): a CLS token, learned latents, a learned temperature. Tensor arithmetic \
                  broadcasts it against batched tensors. Exported as an nn.Parameter named after the node \
                  (`cls`, `block.cls`).",
        shape_rule: "() -> shape (no batch axis; `[]` is a scalar)",
        arity: Arity::Exactly(0),
        results: super::Results::One,
        params: &[
            ParamSpec {
                name: "shape",
                kind: ParamKind::IntList,
                default: None,
                doc: "the whole shape, no batch axis: `[1, 1, 64]`, `[64, 64]`, `[]` for a scalar",
            },
            ParamSpec {
                name: "init",
                kind: ParamKind::Choice(INITS),
                default: Some(Default::Str("normal")),
                doc: "normal (`std`), uniform (`low`, `high`), constant (`value`; the default when `value` \
                      is given), zeros, ones, xavier (rank 2 or more)",
            },
            ParamSpec {
                name: "std",
                kind: ParamKind::Float,
                default: Some(Default::Float(0.02)),
                doc: "normal: the standard deviation",
            },
            ParamSpec {
                name: "low",
                kind: ParamKind::Float,
                default: Some(Default::Float(-0.1)),
                doc: "uniform: the lower bound",
            },
            ParamSpec {
                name: "high",
                kind: ParamKind::Float,
                default: Some(Default::Float(0.1)),
                doc: "uniform: the upper bound",
            },
            ParamSpec {
                name: "value",
                kind: ParamKind::Float,
                default: Some(Default::Unset),
                doc: "constant: every element's value (`param(shape: [], value: 2.659)`)",
            },
        ],
        parse: parse_param,
    };
}

fn parse_param(r: &mut ArgReader) -> Op {
    let shape = r.int_list_where("shape", |dims| {
        if dims.len() > MAX_RANK {
            return Err(format!("may have {MAX_RANK} axes at most"));
        }
        match dims.iter().find(|&&d| !(1..=MAX_SIZE).contains(&d)) {
            Some(d) => Err(format!("sizes must lie in 1 to {MAX_SIZE} (`{d}`)")),
            None => Ok(()),
        }
    });
    let word = if r.given("value") && !r.given("init") { 2 } else { r.choice("init") };
    let value = r.float_opt("value");
    let (std, low, high) = (r.float("std"), r.float("low"), r.float("high"));
    let init = match INITS[word] {
        "normal" => Init::Normal { std },
        "uniform" => Init::Uniform { low, high },
        "constant" => Init::Constant(value.unwrap_or(0.0)),
        "zeros" => Init::Constant(0.0),
        "ones" => Init::Constant(1.0),
        _ => Init::Xavier,
    };
    // A setting of another init is a mistake worth saying (`std` with `init: "uniform"`).
    let applies: &[&str] = match INITS[word] {
        "normal" => &["std"],
        "uniform" => &["low", "high"],
        "constant" => &["value"],
        _ => &[],
    };
    for name in ["std", "low", "high", "value"] {
        if r.given(name) && !applies.contains(&name) {
            r.refuse(name, format!("does not apply to `init: \"{}\"`", INITS[word]));
        }
    }
    if std.is_nan() || std < 0.0 {
        r.refuse("std", "must be at least 0");
    }
    if low >= high {
        r.refuse("high", "must be above `low`");
    }
    if INITS[word] == "xavier" && shape.len() < 2 {
        r.refuse("init", "`xavier` needs a shape of rank 2 or more (its fans are the last two axes)");
    }
    Op::Param(Param { shape, init })
}

impl OpImpl for Param {
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, _ins: &[Shape]) -> Result<Shape, ShapeError> {
        Ok(Shape(self.shape.iter().map(|&d| Dim::Fixed(d)).collect()))
    }

    fn param_count(&self, _ins: &[Shape]) -> i64 {
        super::product(&self.shape)
    }

    fn describe(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(i64::to_string).collect();
        let init = match self.init {
            Init::Normal { std } => format!("normal(std={std})"),
            Init::Uniform { low, high } => format!("uniform({low}, {high})"),
            Init::Constant(v) => format!("constant({v})"),
            Init::Xavier => "xavier".into(),
        };
        format!("shape=[{}] init={init}", dims.join(", "))
    }
}
