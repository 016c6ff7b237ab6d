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
                params: &[],
                parse: |_r: &mut ArgReader| Op::$ty($ty),
            };
        }

        impl OpImpl for $ty {
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
