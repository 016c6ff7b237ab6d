//! Nonlinearities: element-wise ones, and softmax along one axis. No variables; the
//! shape is unchanged.

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
elementwise!(Sigmoid, "sigmoid", "The logistic function 1 / (1 + exp(-x)), into (0, 1).", |x| x.f_sigmoid());

/// libtorch's fixed slope for `leaky_relu` (tch binds the op without the argument).
const DEFAULT_SLOPE: f64 = 0.01;

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
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
    fn describe(&self) -> String {
        format!("slope={}", self.slope)
    }
}

impl Layer for LeakyRelu {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        // One kernel each way: libtorch's own op at its default slope, `prelu` with a
        // constant weight at any other (the clamp-scale-add form took four kernels and
        // about 10% of `final`'s joint part).
        if self.slope == DEFAULT_SLOPE {
            xs[0].f_leaky_relu()
        } else {
            let weight =
                Tensor::f_from_slice(&[self.slope as f32])?.f_to_kind(xs[0].kind())?.f_to_device(xs[0].device())?;
            xs[0].f_prelu(&weight)
        }
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
    fn lower(&self, _vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        // Resolved against the checked shape, so the layer never sees a negative axis.
        let axis = ins[0].axis(self.axis).unwrap_or(1) as i64;
        Ok(Box::new(Softmax { axis }))
    }
    fn describe(&self) -> String {
        if self.axis == -1 { String::new() } else { format!("axis={}", self.axis) }
    }
}

impl Layer for Softmax {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        xs[0].f_softmax(self.axis, None::<tch::Kind>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Both forms (libtorch's op at 0.01, `prelu` elsewhere) compute `x` above zero and
    /// `slope * x` below it, with gradient 1 or `slope`.
    #[test]
    fn leaky_relu_is_x_or_slope_times_x_with_matching_gradients() {
        for slope in [DEFAULT_SLOPE, 0.2, 0.0] {
            let x = Tensor::from_slice(&[-3.0f32, -0.5, 0.25, 2.0]).set_requires_grad(true);
            let y = LeakyRelu { slope }.forward(&[&x], true).unwrap();
            y.sum(Kind::Float).backward();
            let values: Vec<f32> = y.detach().try_into().unwrap();
            let grads: Vec<f32> = x.grad().try_into().unwrap();
            let s = slope as f32;
            assert_eq!(values, vec![-3.0 * s, -0.5 * s, 0.25, 2.0], "slope {slope}");
            assert_eq!(grads, vec![s, s, 1.0, 1.0], "slope {slope}");
            assert_eq!(y.device(), Device::Cpu);
        }
    }
}
