//! Element-wise nonlinearities: no parameters, shape unchanged.

use super::{ArgReader, Arity, Default, Layer, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError};
use crate::shape::Shape;
use tch::{Tensor, nn};

/// Declares a parameterless element-wise op: its spec, shape rule and lowering.
macro_rules! elementwise {
    ($ty:ident, $name:literal, $summary:literal, |$x:ident| $body:expr) => {
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
            fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
                Ok(ins[0].clone())
            }
            fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                Ok(Box::new(self.clone()))
            }
            fn describe(&self) -> String {
                String::new()
            }
        }

        impl Layer for $ty {
            fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
                let $x = xs[0];
                $body
            }
        }
    };
}

elementwise!(Relu, "relu", "max(x, 0).", |x| x.f_relu());
elementwise!(Tanh, "tanh", "Hyperbolic tangent.", |x| x.f_tanh());

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
            default: Some(Default::Float(0.01)),
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
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
    fn describe(&self) -> String {
        format!("slope={}", self.slope)
    }
}

impl Layer for LeakyRelu {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let negative = xs[0].f_clamp_max(0.0)?.f_mul_scalar(self.slope)?;
        xs[0].f_clamp_min(0.0)?.f_add(&negative)
    }
}
