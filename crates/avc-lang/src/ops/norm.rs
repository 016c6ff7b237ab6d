//! Normalisation and regularisation.

use super::product;
use super::{ArgReader, Arity, Default, Op, OpImpl, OpSpec, ParamKind, ParamSpec, ShapeError, ValueRange, fixed_axis};
use crate::shape::{Dim, Shape};

/// The `eps` parameter of the norm ops.
const NORM_EPS: ParamSpec = ParamSpec {
    name: "eps",
    kind: ParamKind::Float,
    default: Some(Default::Float(1e-5)),
    doc: "added to the variance",
};

/// `batchnorm(x)`: batch normalisation of the feature (last) axis.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    pub affine: bool,
    pub eps: f64,
    pub momentum: f64,
    /// The normalised axis as written; 0 picks the features (see [`BatchNorm::channel_axis`]).
    pub axis: i64,
}

impl BatchNorm {
    pub const SPEC: OpSpec = OpSpec {
        name: "batchnorm",
        family: "norm",
        summary: "Batch normalisation of one axis (the features: the last axis of a vector or a \
                  sequence, the channels of an image) over all the others. Keeps running statistics \
                  for evaluation (`running_mean`, `running_var`), as nn.BatchNorm1d/2d does.",
        shape_rule: "[B, F] -> [B, F]; [B, T, F] -> [B, T, F]; [B, C, H, W] -> [B, C, H, W]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec {
                name: "affine",
                kind: ParamKind::Bool,
                default: Some(Default::Bool(true)),
                doc: "learn a scale and shift (the seed used `false`)",
            },
            NORM_EPS,
            ParamSpec {
                name: "momentum",
                kind: ParamKind::Float,
                default: Some(Default::Float(0.1)),
                doc: "weight of the new batch in the running statistics",
            },
            ParamSpec {
                name: "axis",
                kind: ParamKind::Int,
                default: Some(Default::Int(0)),
                doc: "the normalised axis (batch = 0, negative from the end); 0: the last axis of [B, F] and \
                      [B, T, F], axis 1 (channels) of [B, C, H, W]",
            },
        ],
        parse: |r: &mut ArgReader| {
            Op::BatchNorm(BatchNorm {
                affine: r.bool("affine"),
                eps: r.float_in("eps", 0.0, 1.0),
                momentum: r.float_in("momentum", 0.0, 1.0),
                axis: r.int("axis"),
            })
        },
    };
}

/// The size of the normalised (last) axis, given inputs that passed `infer`.
pub fn features(ins: &[Shape]) -> i64 {
    ins[0].last().and_then(Dim::fixed).unwrap_or(1)
}

impl BatchNorm {
    /// The normalised axis of an input, when it is a valid non-batch axis.
    pub fn channel_axis(&self, x: &Shape) -> Option<usize> {
        match self.axis {
            0 if x.rank() == 4 => Some(1),
            0 => x.rank().checked_sub(1).filter(|&a| a > 0),
            a => x.axis(a),
        }
    }

    pub fn features(&self, ins: &[Shape]) -> i64 {
        self.channel_axis(&ins[0]).and_then(|a| ins[0].0[a].fixed()).unwrap_or(1)
    }
}

impl OpImpl for BatchNorm {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn torch_extra_state(&self) -> &'static [&'static str] {
        &["num_batches_tracked"]
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        if !(2..=4).contains(&ins[0].rank()) {
            return Err(ShapeError::input(0, "rank 2 [B, F], 3 [B, T, F] or 4 [B, C, H, W]", &ins[0]));
        }
        let Some(axis) = self.channel_axis(&ins[0]) else {
            return Err(ShapeError::input(0, format!("an axis {} other than the batch", self.axis), &ins[0]));
        };
        fixed_axis(ins, 0, axis, "normalised features")?;
        Ok(ins[0].clone())
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        if self.affine { product(&[2, self.features(ins)]) } else { 0 }
    }

    fn describe(&self) -> String {
        let mut s = if self.affine { String::new() } else { "affine=false".into() };
        if self.axis != 0 {
            s += &format!("{}axis={}", if s.is_empty() { "" } else { " " }, self.axis);
        }
        s
    }
}

/// `layernorm(x)`: layer normalisation of the last axis, per sample and step.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    pub affine: bool,
    pub eps: f64,
}

impl LayerNorm {
    pub const SPEC: OpSpec = OpSpec {
        name: "layernorm",
        family: "norm",
        summary: "Layer normalisation of the last axis: each position is shifted to mean 0 and scaled to \
                  variance 1 over its features, the same in training and evaluation (no running \
                  statistics). Variables as nn.LayerNorm's: `weight` (ones) and `bias` (zeros).",
        shape_rule: "[B, ..., F] -> [B, ..., F]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec {
                name: "affine",
                kind: ParamKind::Bool,
                default: Some(Default::Bool(true)),
                doc: "learn a scale and shift per feature",
            },
            NORM_EPS,
        ],
        parse: |r: &mut ArgReader| {
            Op::LayerNorm(LayerNorm { affine: r.bool("affine"), eps: r.float_in("eps", 0.0, 1.0) })
        },
    };
}

impl OpImpl for LayerNorm {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        if ins[0].rank() < 2 {
            return Err(ShapeError::input(0, "rank 2 or more [B, ..., F]", &ins[0]));
        }
        fixed_axis(ins, 0, ins[0].rank() - 1, "features")?;
        Ok(ins[0].clone())
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        if self.affine { product(&[2, features(ins)]) } else { 0 }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.affine {
            parts.push("affine=false".to_string());
        }
        if self.eps != 1e-5 {
            parts.push(format!("eps={}", self.eps));
        }
        parts.join(" ")
    }
}

/// `dropout(x, p: 0.5)`: zeroes elements at random during training.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropout {
    pub p: f64,
}

impl Dropout {
    pub const SPEC: OpSpec = OpSpec {
        name: "dropout",
        family: "norm",
        summary: "Zeroes each element with probability p during training and rescales the rest \
                  by 1 / (1 - p); the identity in evaluation. On the CPU, p is rounded to a \
                  multiple of 2^-16 (0.1 drops 6,554 in 65,536).",
        shape_rule: "[B, ...] -> [B, ...]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[ParamSpec {
            name: "p",
            kind: ParamKind::Float,
            default: Some(Default::Float(0.5)),
            doc: "drop probability (the seed used 0.5)",
        }],
        parse: |r: &mut ArgReader| Op::Dropout(Dropout { p: r.float_in("p", 0.0, 1.0) }),
    };
}

impl OpImpl for Dropout {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn value_range(&self) -> ValueRange {
        ValueRange::OfInput
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        Ok(ins[0].clone())
    }

    fn describe(&self) -> String {
        format!("p={}", self.p)
    }
}

/// `rmsnorm(x)`: root-mean-square normalisation of the last axis, as nn.RMSNorm.
#[derive(Debug, Clone, PartialEq)]
pub struct RmsNorm {
    pub affine: bool,
    pub eps: f64,
}

impl RmsNorm {
    pub const SPEC: OpSpec = OpSpec {
        name: "rmsnorm",
        family: "norm",
        summary: "x / sqrt(mean(x²) + eps) over the last axis, per sample and step: a layer norm \
                  without the mean's shift and without a bias, as nn.RMSNorm. With `affine`, a \
                  learned scale per feature, `weight` (ones). PyTorch's eps defaults to the float \
                  type's epsilon; a twin passes avc's `eps` explicitly.",
        shape_rule: "[B, ..., F] -> [B, ..., F]",
        arity: Arity::Exactly(1),
        results: super::Results::One,
        params: &[
            ParamSpec {
                name: "affine",
                kind: ParamKind::Bool,
                default: Some(Default::Bool(true)),
                doc: "learn a scale per feature (nn.RMSNorm's `elementwise_affine`)",
            },
            ParamSpec {
                name: "eps",
                kind: ParamKind::Float,
                default: Some(Default::Float(1e-6)),
                doc: "added to the mean square",
            },
        ],
        parse: |r: &mut ArgReader| Op::RmsNorm(RmsNorm { affine: r.bool("affine"), eps: r.float_in("eps", 0.0, 1.0) }),
    };
}

impl OpImpl for RmsNorm {
    fn steps(&self) -> super::Steps {
        super::Steps::Kept
    }
    fn spec(&self) -> &'static OpSpec {
        &Self::SPEC
    }

    fn infer(&self, ins: &[Shape]) -> Result<Shape, ShapeError> {
        LayerNorm { affine: self.affine, eps: self.eps }.infer(ins)
    }

    fn param_count(&self, ins: &[Shape]) -> i64 {
        if self.affine { features(ins) } else { 0 }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.affine {
            parts.push("affine=false".to_string());
        }
        if self.eps != 1e-6 {
            parts.push(format!("eps={}", self.eps));
        }
        parts.join(" ")
    }
}
