//! Element-wise arithmetic on one input: exponential, logarithm, square root, absolute
//! value, clamping and a constant power. No variables; the shape is unchanged. Their
//! values follow IEEE and PyTorch outside the domain (`log` of a negative number is NaN).

use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, ValueRange};
use crate::shape::Shape;

/// Declares a parameterless element-wise math op: its spec and shape rule.
macro_rules! unary {
    ($ty:ident, $name:literal, $summary:literal, $range:expr) => {
        #[doc = concat!("`", $name, "(x)`: ", $summary)]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty;

        impl $ty {
            pub const SPEC: OpSpec = OpSpec {
                name: $name,
                family: "math",
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

unary!(Exp, "exp", "e to the power x, element-wise.", ValueRange::Unbounded);
unary!(
    Log,
    "log",
    "The natural logarithm, element-wise: NaN below 0 and -inf at 0, as torch.log.",
    ValueRange::Unbounded
);
unary!(
    Sqrt,
    "sqrt",
    "The square root, element-wise: NaN below 0, an infinite gradient at 0, as torch.sqrt.",
    ValueRange::Unbounded
);
unary!(Abs, "abs", "The absolute value, element-wise (gradient 0 at 0, as torch.abs).", ValueRange::OfInput);

/// `clamp(x, min: a, max: b)`: values limited to `[a, b]`; either bound may be left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Clamp {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Clamp {
    pub const SPEC: OpSpec = OpSpec {
        name: "clamp",
        family: "math",
        summary: "Values below `min` become `min`, above `max` become `max` (gradient 0 there), as \
                  torch.clamp. Either bound may be left out, not both.",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec {
                name: "min",
                kind: ParamKind::Float,
                default: Some(Default::Str("none")),
                doc: "the lower bound; none: no lower bound",
            },
            ParamSpec {
                name: "max",
                kind: ParamKind::Float,
                default: Some(Default::Str("none")),
                doc: "the upper bound (at least `min`); none: no upper bound",
            },
        ],
        parse: |r: &mut ArgReader| {
            let (min, max) = (r.optional_float("min"), r.optional_float("max"));
            match (min, max) {
                (None, None) => r.missing_one_of(&["min", "max"]),
                (Some(lo), Some(hi)) if hi < lo => {
                    r.out_of_range("max", format!("must be at least `min` ({lo})"), hi.to_string())
                }
                _ => {}
            }
            Op::Clamp(Clamp { min, max })
        },
    };
}

impl OpImpl for Clamp {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }
    fn value_range(&self) -> ValueRange {
        match (self.min, self.max) {
            (Some(_), Some(_)) => ValueRange::Bounded("[min, max]"),
            _ => ValueRange::OfInput,
        }
    }
    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        Ok(ins[0].clone())
    }
    fn describe(&self) -> String {
        let bound = |name: &str, v: Option<f64>| v.map(|x| format!("{name}={x}"));
        [bound("min", self.min), bound("max", self.max)].into_iter().flatten().collect::<Vec<_>>().join(" ")
    }
}

/// `pow(x, exponent: p)`: each value to a constant power.
#[derive(Debug, Clone, PartialEq)]
pub struct Pow {
    pub exponent: f64,
}

impl Pow {
    pub const SPEC: OpSpec = OpSpec {
        name: "pow",
        family: "math",
        summary: "Each value to the constant power `exponent`, as torch.pow(x, exponent): a \
                  fractional power of a negative number is NaN.",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "exponent",
            kind: ParamKind::Float,
            default: None,
            doc: "the power (a number; 2 squares, 0.5 is a square root)",
        }],
        parse: |r: &mut ArgReader| Op::Pow(Pow { exponent: r.float_in("exponent", -1e6, 1e6) }),
    };
}

impl OpImpl for Pow {
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
        format!("exponent={}", self.exponent)
    }
}
