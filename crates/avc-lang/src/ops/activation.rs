//! Nonlinearities: element-wise ones, and softmax along one axis. No variables; the
//! shape is unchanged.

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, ValueRange};
use crate::shape::Shape;

/// Declares a parameterless element-wise op: its spec and shape rule.
macro_rules! elementwise {
    ($ty:ident, $name:literal, $summary:literal, $range:expr) => {
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty;

        impl $ty {
            pub const SPEC: OpSpec = OpSpec {
                name: $name,
                family: "activation",
                summary: $summary,
                shape_rule: "[B, ...] -> [B, ...]",
                arity: Arity::Exactly(1),
                results: super::Results::One,
                params: &[],
                parse: |_r: &mut ArgReader| Op::$ty($ty),
            };
        }

        impl OpImpl for $ty {
            fn steps(&self) -> super::Steps {
                super::Steps::Kept
            }
            fn spec(&self) -> &'static OpSpec {
                &Self::SPEC
            }
            fn value_range(&self) -> ValueRange {
                $range
            }
            fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
                Ok(ins[0].clone())
            }
            fn describe(&self) -> String {
                String::new()
            }
        }
    };
}

elementwise!(Relu, "relu", "max(x, 0).", ValueRange::OfInput);
elementwise!(Tanh, "tanh", "Hyperbolic tangent.", ValueRange::Bounded("[-1, 1]"));
elementwise!(
    Sigmoid,
    "sigmoid",
    "The logistic function 1 / (1 + exp(-x)), into (0, 1).",
    ValueRange::Bounded("[0, 1]")
);

/// libtorch's fixed slope for `leaky_relu` (tch binds the op without the argument).
pub const DEFAULT_SLOPE: f64 = 0.01;

/// `leaky_relu(x, slope: 0.01)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LeakyRelu {
    pub slope: f64,
}

impl LeakyRelu {
    pub const SPEC: OpSpec = OpSpec {
        name: "leaky_relu",
        family: "activation",
        summary: "x where x > 0, slope * x elsewhere.",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "slope",
            kind: ParamKind::Float,
            default: Some(Default::Float(DEFAULT_SLOPE)),
            doc: "slope for negative inputs (the seed used 0.01)",
        }],
        parse: |r: &mut ArgReader| Op::LeakyRelu(LeakyRelu { slope: r.float_in("slope", 0.0, 1.0) }),
    };
}

impl OpImpl for LeakyRelu {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        Ok(ins[0].clone())
    }
    fn describe(&self) -> String {
        format!("slope={}", self.slope)
    }
}

/// `softmax(x, axis: -1)`: exponentiates and normalises along one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Softmax {
    pub axis: i64,
}

impl Softmax {
    pub const SPEC: OpSpec = OpSpec {
        name: "softmax",
        family: "activation",
        summary: "Exponentials normalised to sum to 1 along `axis` (counted with the batch as axis 0; \
                  negative counts from the end). The batch axis is refused: samples stay independent.",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "axis",
            kind: ParamKind::Int,
            default: Some(Default::Int(-1)),
            doc: "the axis that sums to 1; -1 is the feature axis",
        }],
        parse: |r: &mut ArgReader| Op::Softmax(Softmax { axis: r.int("axis") }),
    };
}

impl OpImpl for Softmax {
    /// Over time, the lowering masks a clip's padded steps (they get weight 0); over another
    /// axis each step is its own.
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn value_range(&self) -> ValueRange {
        ValueRange::Bounded("[0, 1]")
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        match ins[0].axis(self.axis) {
            Some(a) if a > 0 => Ok(ins[0].clone()),
            _ => Err(ShapeError::input(0, format!("an axis {} other than the batch", self.axis), &ins[0])
                .hint("axes count from 0 (the batch) to rank - 1; use -1 for the last one")),
        }
    }
    fn describe(&self) -> String {
        if self.axis == -1 { String::new() } else { format!("axis={}", self.axis) }
    }
}

elementwise!(Silu, "silu", "x * sigmoid(x) (SiLU, also called swish), as nn.SiLU.", ValueRange::OfInput);

/// The words of [`Gelu`]'s `approximate`, as PyTorch spells them.
pub const GELU_APPROXIMATIONS: &[&str] = &["none", "tanh"];

/// `gelu(x, approximate: "none")`: the Gaussian error linear unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Gelu {
    /// Whether the tanh approximation is used instead of the exact erf form.
    pub tanh: bool,
}

impl Gelu {
    pub const SPEC: OpSpec = OpSpec {
        name: "gelu",
        family: "activation",
        summary: "x * Φ(x), Φ the standard normal's distribution function (GELU), as nn.GELU; \
                  `approximate: \"tanh\"` uses 0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³))).",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "approximate",
            kind: ParamKind::Choice(GELU_APPROXIMATIONS),
            default: Some(Default::Str("none")),
            doc: "`none`: the exact erf form; `tanh`: the tanh approximation (nn.GELU's `approximate`)",
        }],
        parse: |r: &mut ArgReader| Op::Gelu(Gelu { tanh: r.choice("approximate") == 1 }),
    };

    /// PyTorch's word for the form: `none` or `tanh`.
    pub fn approximate(&self) -> &'static str {
        GELU_APPROXIMATIONS[usize::from(self.tanh)]
    }
}

impl OpImpl for Gelu {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        Ok(ins[0].clone())
    }
    fn describe(&self) -> String {
        if self.tanh { "approximate=tanh".into() } else { String::new() }
    }
}

/// `glu(x, axis: -1)`: the gated linear unit, halving one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Glu {
    pub axis: i64,
}

impl Glu {
    pub const SPEC: OpSpec = OpSpec {
        name: "glu",
        family: "activation",
        summary: "Splits `axis` into halves a and b and gives a * sigmoid(b) (GLU), as nn.GLU: the axis \
                  is halved, so its size must be even.",
        shape_rule: "[B, ..., 2F] -> [B, ..., F] (axis: -1)",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "axis",
            kind: ParamKind::Int,
            default: Some(Default::Int(-1)),
            doc: "the axis split in two (batch = 0, negative from the end); -1 is the feature axis",
        }],
        parse: |r: &mut ArgReader| Op::Glu(Glu { axis: r.int("axis") }),
    };
}

impl OpImpl for Glu {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        let axis = match ins[0].axis(self.axis) {
            Some(a) if a > 0 => a,
            _ => {
                return Err(ShapeError::input(0, format!("an axis {} other than the batch", self.axis), &ins[0])
                    .hint("axes count from 0 (the batch) to rank - 1; use -1 for the last one"));
            }
        };
        let size = super::fixed_axis(ins, 0, axis, "the halves `glu` splits")?;
        if size % 2 != 0 {
            return Err(ShapeError::input(0, format!("an even size on axis {axis}, found {size}"), &ins[0])
                .at_axis(axis)
                .hint("glu splits the axis into two halves; make the layer before it twice the width you want"));
        }
        Ok(ins[0].with_dim(axis, crate::shape::Dim::Fixed(size / 2)))
    }
    fn describe(&self) -> String {
        if self.axis == -1 { String::new() } else { format!("axis={}", self.axis) }
    }
}

/// `softplus(x, beta: 1, threshold: 20)`: a smooth relu, as nn.Softplus.
#[derive(Debug, Clone, PartialEq)]
pub struct Softplus {
    pub beta: f64,
    pub threshold: f64,
}

impl Softplus {
    pub const SPEC: OpSpec = OpSpec {
        name: "softplus",
        family: "activation",
        summary: "log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold (for \
                  numerical stability), as nn.Softplus. Positive: a logit read from it is never \
                  below 0.",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec {
                name: "beta",
                kind: ParamKind::Float,
                default: Some(Default::Float(1.0)),
                doc: "sharpness: larger is closer to relu (positive)",
            },
            ParamSpec {
                name: "threshold",
                kind: ParamKind::Float,
                default: Some(Default::Float(20.0)),
                doc: "above this value of beta * x the op is the identity",
            },
        ],
        parse: |r: &mut ArgReader| {
            Op::Softplus(Softplus { beta: r.float_in("beta", 1e-6, 1e6), threshold: r.float_in("threshold", 0.0, 1e6) })
        },
    };
}

impl OpImpl for Softplus {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        Ok(ins[0].clone())
    }
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.beta != 1.0 {
            parts.push(format!("beta={}", self.beta));
        }
        if self.threshold != 20.0 {
            parts.push(format!("threshold={}", self.threshold));
        }
        parts.join(" ")
    }
}

/// `elu(x, alpha: 1)`: the exponential linear unit, as nn.ELU.
#[derive(Debug, Clone, PartialEq)]
pub struct Elu {
    pub alpha: f64,
}

impl Elu {
    pub const SPEC: OpSpec = OpSpec {
        name: "elu",
        family: "activation",
        summary: "x where x > 0, alpha * (exp(x) - 1) elsewhere (ELU), as nn.ELU.",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "alpha",
            kind: ParamKind::Float,
            default: Some(Default::Float(1.0)),
            doc: "the value approached for large negative inputs is -alpha",
        }],
        parse: |r: &mut ArgReader| Op::Elu(Elu { alpha: r.float_in("alpha", 0.0, 1e6) }),
    };
}

impl OpImpl for Elu {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        Ok(ins[0].clone())
    }
    fn describe(&self) -> String {
        if self.alpha == 1.0 { String::new() } else { format!("alpha={}", self.alpha) }
    }
}

/// `log_softmax(x, axis: -1)`: the logarithm of `softmax`, computed stably.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSoftmax {
    pub axis: i64,
}

impl LogSoftmax {
    pub const SPEC: OpSpec = OpSpec {
        name: "log_softmax",
        family: "activation",
        summary: "x - logsumexp(x) along `axis` (the logarithm of `softmax`, without its underflow), as \
                  nn.LogSoftmax. At most 0: a logit read from it is warned about (it cannot say \"match\" with a probability above 1/2). \
                  The batch axis is refused.",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "axis",
            kind: ParamKind::Int,
            default: Some(Default::Int(-1)),
            doc: "the axis normalised; -1 is the feature axis",
        }],
        parse: |r: &mut ArgReader| Op::LogSoftmax(LogSoftmax { axis: r.int("axis") }),
    };
}

impl OpImpl for LogSoftmax {
    /// Unmasked: over time (or an axis that may be time) its steps read the padded ones.
    fn steps(&self) -> super::Steps {
        if self.axis == -1 || self.axis >= 2 { super::Steps::Kept } else { super::Steps::Other }
    }
    fn value_range(&self) -> ValueRange {
        ValueRange::Bounded("(-inf, 0]")
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        Softmax { axis: self.axis }.infer(ins)
    }
    fn describe(&self) -> String {
        if self.axis == -1 { String::new() } else { format!("axis={}", self.axis) }
    }
}
