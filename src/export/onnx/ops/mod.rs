//! Each avc op as ONNX nodes, in evaluation mode: one function per op, one file per family
//! (`layers`: ops with weights; `recurrent`: `lstm` and `gru`; `tensor`: element-wise,
//! layout and reduction ops). The match in [`emit`] is exhaustive, so a new op does not
//! compile until it is exported or refused here.

pub(super) mod layers;
pub(super) mod recurrent;
mod tensor;

use super::OnnxError;
use super::builder::Builder;
use avc_lang::ops::Op;
use avc_lang::shape::Shape;
use std::collections::HashMap;

/// A weight: row-major float32 values and their shape.
pub(crate) type Weight = (Vec<f32>, Vec<i64>);

/// What an op's emitter knows about its node.
pub(super) struct Ctx<'a> {
    /// The node's name (its ONNX values are named under it).
    pub node: &'a str,
    /// The name the node's weights live under: its own, or its owner's under `share:`.
    pub owner: &'a str,
    pub op: &'static str,
    pub ins: Vec<Shape>,
    pub weights: &'a HashMap<String, Weight>,
}

impl Ctx<'_> {
    /// The initializer of the variable `var` of the node's layer (`weight`, `bias`), under
    /// its safetensors name (`vproj.weight`).
    pub fn weight(&self, b: &mut Builder, var: &str) -> Result<String, OnnxError> {
        let name = if var.is_empty() { self.owner.to_string() } else { format!("{}.{var}", self.owner) };
        if b.has(&name) {
            return Ok(name);
        }
        let (values, dims) = self.weights.get(&name).ok_or_else(|| OnnxError::Unsupported {
            node: self.node.into(),
            op: self.op,
            why: format!("its variable `{name}` is missing from the checkpoint"),
        })?;
        Ok(b.floats_named(&name, values, dims))
    }

    /// The refusal for this node.
    pub fn refuse(&self, why: impl Into<String>) -> OnnxError {
        OnnxError::Unsupported { node: self.node.into(), op: self.op, why: why.into() }
    }

    /// An axis of input `i` counted with the batch as axis 0 (negative from the end).
    pub fn axis(&self, i: usize, axis: i64) -> Result<i64, OnnxError> {
        let shape = self.ins.get(i).ok_or_else(|| self.refuse("an input has no shape"))?;
        shape.axis(axis).map(|a| a as i64).ok_or_else(|| self.refuse(format!("axis {axis} does not fit its input")))
    }

    pub fn rank(&self, i: usize) -> usize {
        self.ins.get(i).map_or(0, Shape::rank)
    }

    /// A fixed size of axis `axis` of input `i`.
    pub fn fixed(&self, i: usize, axis: usize, what: &str) -> Result<i64, OnnxError> {
        self.ins
            .get(i)
            .and_then(|s| s.0.get(axis))
            .and_then(|d| d.fixed())
            .ok_or_else(|| self.refuse(format!("{what} needs a fixed size on axis {axis}")))
    }
}

/// The ops whose every form is refused, with why: none at present (each op's refusals
/// are of particular parameters or shapes, named in its error).
pub const NOT_EXPORTED: &[(&str, &str)] = &[];

/// The node `c` of op `op` on inputs `xs`; returns its value's name.
pub(super) fn emit(op: &Op, b: &mut Builder, c: &Ctx, xs: &[String]) -> Result<String, OnnxError> {
    use layers as l;
    use tensor as t;
    let x = xs.first().map(String::as_str).unwrap_or("");
    match op {
        Op::Linear(o) => l::linear(o, b, c, x),
        Op::Lstm(o) => recurrent::rnn(&o.0, avc_lang::ops::recurrent::Cell::Lstm, b, c, x),
        Op::Gru(o) => recurrent::rnn(&o.0, avc_lang::ops::recurrent::Cell::Gru, b, c, x),
        Op::Conv1d(o) => l::conv1d(o, b, c, x),
        Op::MaxPool1d(o) => Ok(l::pool1d("MaxPool", o.kernel, o.stride, b, x)),
        Op::AvgPool1d(o) => Ok(l::pool1d("AveragePool", o.kernel, o.stride, b, x)),
        Op::Conv2d(o) => l::conv2d(o, b, c, x),
        Op::MaxPool2d(o) => Ok(l::pool2d("MaxPool", o.kernel, o.stride, b, x)),
        Op::AvgPool2d(o) => Ok(l::pool2d("AveragePool", o.kernel, o.stride, b, x)),
        Op::BatchNorm(o) => l::batchnorm(o, b, c, x),
        Op::LayerNorm(o) => l::layernorm(o, b, c, x),
        Op::RmsNorm(o) => l::rmsnorm(o, b, c, x),
        Op::Dropout(_) => Ok(b.unary("Identity", x)),
        Op::Relu(_) => Ok(b.unary("Relu", x)),
        Op::LeakyRelu(o) => Ok(b.node("LeakyRelu", &[x], vec![super::builder::float("alpha", o.slope)])),
        Op::Tanh(_) => Ok(b.unary("Tanh", x)),
        Op::Sigmoid(_) => Ok(b.unary("Sigmoid", x)),
        Op::Softmax(o) => t::softmax("Softmax", o.axis, b, c, x),
        Op::LogSoftmax(o) => t::softmax("LogSoftmax", o.axis, b, c, x),
        Op::Gelu(o) => Ok(t::gelu(o.tanh, b, x)),
        Op::Silu(_) => {
            let s = b.unary("Sigmoid", x);
            Ok(b.binary("Mul", x, &s))
        }
        Op::Glu(o) => t::glu(o.axis, b, c, x),
        Op::Softplus(o) => Ok(t::softplus(o.beta, o.threshold, b, x)),
        Op::Elu(o) => Ok(b.node("Elu", &[x], vec![super::builder::float("alpha", o.alpha)])),
        Op::Exp(_) => Ok(b.unary("Exp", x)),
        Op::Log(_) => Ok(b.unary("Log", x)),
        Op::Sqrt(_) => Ok(b.unary("Sqrt", x)),
        Op::Abs(_) => Ok(b.unary("Abs", x)),
        Op::Clamp(o) => Ok(t::clamp(o.min, o.max, b, x)),
        Op::Pow(o) => {
            let e = b.scalar(o.exponent);
            Ok(b.binary("Pow", x, &e))
        }
        Op::Concat(o) => {
            let refs: Vec<&str> = xs.iter().map(String::as_str).collect();
            Ok(b.concat(&refs, c.axis(0, o.axis)?))
        }
        Op::Add(o) => Ok(t::add(o.scalar, b, xs)),
        Op::Sub(o) => Ok(t::arith("Sub", o.scalar, b, xs)),
        Op::Mul(o) => Ok(t::arith("Mul", o.scalar, b, xs)),
        Op::Div(o) => Ok(t::arith("Div", o.scalar, b, xs)),
        Op::Neg(_) => Ok(b.unary("Neg", x)),
        Op::Param(_) => {
            let w = c.weight(b, "")?;
            Ok(b.unary("Identity", &w))
        }
        Op::Residual(_) => l::residual(b, c, xs),
        Op::Matmul(o) => t::matmul(o.transpose_b, b, c, xs),
        Op::Bmm(_) => t::matmul(false, b, c, xs),
        Op::Cosine(_) => Ok(t::cosine(b, xs)),
        Op::L2Distance(_) => Ok(t::l2_distance(b, xs)),
        Op::Mean(o) => Ok(b.reduce("ReduceMean", x, &[c.axis(0, o.axis)?], false)),
        Op::Max(o) => Ok(b.reduce("ReduceMax", x, &[c.axis(0, o.axis)?], false)),
        Op::Sum(o) => Ok(b.reduce("ReduceSum", x, &[c.axis(0, o.axis)?], false)),
        Op::Last(_) => {
            let i = b.i64s_shaped(&[-1], &[]);
            Ok(b.node("Gather", &[x, &i], vec![super::builder::int("axis", 1)]))
        }
        Op::Attention(o) => l::attention(o, b, c, xs),
        Op::SelfAttention(o) => l::multihead(o.heads, b, c, x, x),
        Op::CrossAttention(o) => l::multihead(o.heads, b, c, x, xs.get(1).map_or("", String::as_str)),
        Op::Flatten(_) => Ok(b.node("Flatten", &[x], vec![super::builder::int("axis", 1)])),
        Op::Transpose(o) => t::transpose(o.a, o.b, b, c, x),
        Op::Reshape(o) => {
            let shape: Vec<i64> = std::iter::once(0).chain(o.shape.iter().copied()).collect();
            Ok(b.reshape(x, &shape))
        }
        Op::Unsqueeze(o) => {
            let axis = c.ins.first().and_then(|s| o.resolved(s)).ok_or_else(|| c.refuse("axis does not fit"))?;
            Ok(b.unsqueeze(x, &[axis as i64]))
        }
        Op::Permute(o) => {
            let dims = c.ins.first().map(|s| o.resolved(s));
            let Some(Ok(dims)) = dims else { return Err(c.refuse("dims do not fit its input")) };
            let perm: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
            Ok(b.transpose(x, &perm))
        }
        Op::AdaptiveAvgPool1d(o) => t::adaptive("ReduceMean", o.size, &[1], b, c, x),
        Op::AdaptiveMaxPool1d(o) => t::adaptive("ReduceMax", o.size, &[1], b, c, x),
        Op::AdaptiveAvgPool2d(o) => t::adaptive("ReduceMean", o.size, &[2, 3], b, c, x),
        Op::AdaptiveMaxPool2d(o) => t::adaptive("ReduceMax", o.size, &[2, 3], b, c, x),
        Op::SinusoidalPosition(o) => t::sinusoidal(o.base, b, c, x),
        Op::LearnedPosition(_) => l::learned_position(b, c, x),
        Op::LaggedCosine(o) => Ok(t::lagged_cosine(o.max_lag, b, xs)),
        Op::Slice(o) => {
            let axis = c.ins.first().and_then(|s| o.resolve_axis(s)).ok_or_else(|| c.refuse("axis does not fit"))?;
            Ok(b.slice(x, axis as i64, o.start, o.end.unwrap_or(i64::MAX)))
        }
        Op::Chunk(o) => {
            let axis = c.axis(0, o.axis)?;
            let n = c.fixed(0, axis as usize, "chunk")?;
            let len = n / o.chunks.max(1);
            Ok(b.slice(x, axis, o.index * len, (o.index + 1) * len))
        }
        Op::Split(o) => Ok(b.slice(x, c.axis(0, o.axis)?, o.start(), o.start() + o.part_len())),
        Op::Select(o) => {
            let i = b.i64s_shaped(&[o.index], &[]);
            Ok(b.node("Gather", &[x, &i], vec![super::builder::int("axis", c.axis(0, o.axis)?)]))
        }
        Op::Index(o) => {
            let i = b.i64s(&o.indices);
            Ok(b.node("Gather", &[x, &i], vec![super::builder::int("axis", c.axis(0, o.axis)?)]))
        }
        Op::Stack(o) => {
            let axis = o.resolve_axis(c.rank(0)).ok_or_else(|| c.refuse("axis does not fit"))? as i64;
            let parts: Vec<String> = xs.iter().map(|x| b.unsqueeze(x, &[axis])).collect();
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            Ok(b.concat(&refs, axis))
        }
        Op::Pad(o) => t::pad(o, b, c, x),
        Op::Repeat(o) => {
            let mut reps = vec![1; c.rank(0)];
            reps[c.axis(0, o.axis)? as usize] = o.times;
            let r = b.i64s(&reps);
            Ok(b.binary("Tile", x, &r))
        }
        Op::Expand(o) => t::expand(o, b, c, xs),
        Op::Flip(o) => {
            let axis = c.axis(0, o.axis)?;
            let (s, e, a, st) = (b.i64s(&[-1]), b.i64s(&[i64::MIN]), b.i64s(&[axis]), b.i64s(&[-1]));
            Ok(b.node("Slice", &[x, &s, &e, &a, &st], vec![]))
        }
        Op::Positions(o) => t::positions(o, b, c, x),
        Op::Embedding(_) => {
            let w = c.weight(b, "weight")?;
            let ids = b.node("Cast", &[x], vec![super::builder::int("to", super::proto::INT64 as i64)]);
            Ok(b.node("Gather", &[&w, &ids], vec![super::builder::int("axis", 0)]))
        }
    }
}

/// The ONNX ops each avc op becomes (for docs/export.md's table), by op name.
pub fn onnx_ops(op: &str) -> &'static str {
    match op {
        "linear" => "Transpose, MatMul, Add",
        "lstm" => "LSTM (gates reordered i,f,g,o -> i,o,f,c by Split and Concat), Transpose, Reshape",
        "gru" => "GRU (linear_before_reset=1; gates r,z,n -> z,r,h), Transpose, Reshape",
        "conv1d" => "Transpose, Conv",
        "maxpool1d" => "Transpose, MaxPool",
        "avgpool1d" => "Transpose, AveragePool",
        "conv2d" => "Conv",
        "maxpool2d" => "MaxPool",
        "avgpool2d" => "AveragePool",
        "batchnorm" => "Add, Sqrt, Reciprocal, Mul, Sub, Reshape (running statistics)",
        "layernorm" => "LayerNormalization",
        "rmsnorm" => "Mul, ReduceMean, Add, Sqrt, Reciprocal",
        "dropout" => "Identity",
        "relu" => "Relu",
        "leaky_relu" => "LeakyRelu",
        "tanh" => "Tanh",
        "sigmoid" => "Sigmoid",
        "softmax" => "Softmax",
        "log_softmax" => "LogSoftmax",
        "gelu" => "Erf or Tanh, Mul, Add",
        "silu" => "Sigmoid, Mul",
        "glu" => "Split, Sigmoid, Mul",
        "softplus" => "Softplus, Greater, Where, Mul, Div",
        "elu" => "Elu",
        "exp" => "Exp",
        "log" => "Log",
        "sqrt" => "Sqrt",
        "abs" => "Abs",
        "clamp" => "Clip",
        "pow" => "Pow",
        "concat" => "Concat",
        "add" => "Add",
        "sub" => "Sub (Neg, Add with `left:`)",
        "mul" => "Mul",
        "div" => "Div (Reciprocal, Mul with `left:`)",
        "neg" => "Neg",
        "param" => "an initializer",
        "residual" => "Add (Transpose, MatMul to project)",
        "matmul" => "MatMul (Transpose with transpose_b)",
        "bmm" => "MatMul",
        "cosine" => "Mul, ReduceSum, Sqrt, Max, Div, Unsqueeze",
        "l2_distance" => "Sub, Mul, ReduceSum, Add, Sqrt",
        "mean" => "ReduceMean",
        "max" => "ReduceMax",
        "sum" => "ReduceSum",
        "last" => "Gather",
        "attention" => "MatMul, Add, Tanh, Softmax, Mul, ReduceSum",
        "self_attention" | "cross_attention" => "MatMul, Add, Reshape, Transpose, Softmax (per head)",
        "flatten" => "Flatten",
        "transpose" | "permute" => "Transpose",
        "reshape" => "Reshape",
        "unsqueeze" => "Unsqueeze",
        "adaptive_avgpool1d" | "adaptive_avgpool2d" => "Slice, ReduceMean, Concat (fixed lengths)",
        "adaptive_maxpool1d" | "adaptive_maxpool2d" => "Slice, ReduceMax, Concat (fixed lengths)",
        "sinusoidal_position" => "Add of a constant table (fixed T) or Range, Sin, Cos (symbolic T)",
        "learned_position" => "Shape, Slice, Add",
        "lagged_cosine" => "ReduceSum, Sqrt, Max, Div, Slice, ReduceMean, Concat, ReduceMax",
        "slice" | "chunk" | "split" => "Slice",
        "select" | "index" => "Gather",
        "stack" => "Unsqueeze, Concat",
        "pad" => "Pad",
        "repeat" => "Tile",
        "expand" => "Tile or Shape, Concat, Expand",
        "flip" => "Slice (step -1)",
        "positions" => "Shape, Range, Cast, Expand",
        "embedding" => "Cast, Gather",
        _ => "not exported",
    }
}

/// docs/export.md's op table: each registry op and the ONNX ops it becomes.
pub fn coverage_table() -> String {
    let mut table = String::from("| avc op | ONNX ops |\n|---|---|\n");
    for spec in avc_lang::ops::registry() {
        let refused = NOT_EXPORTED.iter().find(|(op, _)| *op == spec.name);
        let onnx = match refused {
            Some((_, why)) => format!("not exported: {why}"),
            None => onnx_ops(spec.name).to_string(),
        };
        table.push_str(&format!("| `{}` | {onnx} |\n", spec.name));
    }
    table
}
