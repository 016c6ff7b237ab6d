//! The ops with weights: dense, convolutions and pools, norms, residual projections,
//! attention, learned positions.

use super::Ctx;
use crate::export::onnx::OnnxError;
use crate::export::onnx::builder::{Builder, float, int, ints};
use avc_lang::ops::{attention::Attention, conv::Conv1d, conv2d::Conv2d, dense::Linear, norm};

pub(in crate::export::onnx) fn linear(o: &Linear, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let w = c.weight(b, "weight")?;
    let bias = if o.bias { Some(c.weight(b, "bias")?) } else { None };
    Ok(b.linear(x, &w, bias.as_deref()))
}

/// A factored layer's share of one tower: `x W[:, start..start + width]^T`, plus the bias on
/// the first share.
pub(in crate::export::onnx) fn linear_share(
    o: &Linear,
    b: &mut Builder,
    c: &Ctx,
    x: &str,
    start: i64,
    width: i64,
    with_bias: bool,
) -> Result<String, OnnxError> {
    let w = c.weight(b, "weight")?;
    let part = b.slice(&w, 1, start, start + width);
    let bias = if o.bias && with_bias { Some(c.weight(b, "bias")?) } else { None };
    Ok(b.linear(x, &part, bias.as_deref()))
}

pub(super) fn conv1d(o: &Conv1d, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let (before, after) = o.padding.sides(o.kernel, o.dilation);
    let w = c.weight(b, "weight")?;
    let mut inputs = vec![b.transpose(x, &[0, 2, 1]), w];
    if o.bias {
        inputs.push(c.weight(b, "bias")?);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let attrs = vec![
        ints("kernel_shape", &[o.kernel]),
        ints("strides", &[o.stride]),
        ints("dilations", &[o.dilation]),
        ints("pads", &[before, after]),
        int("group", o.groups),
    ];
    let y = b.node("Conv", &refs, attrs);
    Ok(b.transpose(&y, &[0, 2, 1]))
}

pub(super) fn conv2d(o: &Conv2d, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let (before, after) = o.padding.sides(o.kernel, o.dilation);
    let mut inputs = vec![x.to_string(), c.weight(b, "weight")?];
    if o.bias {
        inputs.push(c.weight(b, "bias")?);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let attrs = vec![
        ints("kernel_shape", &[o.kernel, o.kernel]),
        ints("strides", &[o.stride, o.stride]),
        ints("dilations", &[o.dilation, o.dilation]),
        ints("pads", &[before, before, after, after]),
        int("group", o.groups),
    ];
    Ok(b.node("Conv", &refs, attrs))
}

fn stride_of(kernel: i64, stride: i64) -> i64 {
    if stride == 0 { kernel } else { stride }
}

pub(super) fn pool1d(op: &str, kernel: i64, stride: i64, b: &mut Builder, x: &str) -> String {
    let t = b.transpose(x, &[0, 2, 1]);
    let attrs = vec![ints("kernel_shape", &[kernel]), ints("strides", &[stride_of(kernel, stride)])];
    let y = b.node(op, &[&t], attrs);
    b.transpose(&y, &[0, 2, 1])
}

pub(super) fn pool2d(op: &str, kernel: i64, stride: i64, b: &mut Builder, x: &str) -> String {
    let s = stride_of(kernel, stride);
    b.node(op, &[x], vec![ints("kernel_shape", &[kernel, kernel]), ints("strides", &[s, s])])
}

/// Evaluation's batch norm, as avc computes it: `x * scale + shift` with
/// `scale = weight / sqrt(running_var + eps)` and `shift = bias - running_mean * scale`,
/// broadcast on the channel axis.
pub(super) fn batchnorm(o: &norm::BatchNorm, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let shape = c.ins.first().ok_or_else(|| c.refuse("no input shape"))?;
    let axis = o.channel_axis(shape).ok_or_else(|| c.refuse("its axis does not fit the input"))?;
    let (mean, var) = (c.weight(b, "running_mean")?, c.weight(b, "running_var")?);
    let shifted = b.add_scalar(&var, o.eps);
    let root = b.unary("Sqrt", &shifted);
    let mut scale = b.unary("Reciprocal", &root);
    if o.affine {
        let w = c.weight(b, "weight")?;
        scale = b.binary("Mul", &scale, &w);
    }
    let moved = b.binary("Mul", &mean, &scale);
    let mut shift = b.unary("Neg", &moved);
    if o.affine {
        let bias = c.weight(b, "bias")?;
        shift = b.binary("Add", &shift, &bias);
    }
    let mut view = vec![-1i64];
    view.extend(std::iter::repeat_n(1, shape.rank() - 1 - axis));
    let (scale, shift) = (b.reshape(&scale, &view), b.reshape(&shift, &view));
    let scaled = b.binary("Mul", x, &scale);
    Ok(b.binary("Add", &scaled, &shift))
}

pub(super) fn layernorm(o: &norm::LayerNorm, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let f = c.fixed(0, c.rank(0) - 1, "layernorm")?;
    let (w, bias) = if o.affine {
        (c.weight(b, "weight")?, c.weight(b, "bias")?)
    } else {
        (b.floats(&vec![1.0; f as usize], &[f]), b.floats(&vec![0.0; f as usize], &[f]))
    };
    Ok(b.node("LayerNormalization", &[x, &w, &bias], vec![int("axis", -1), float("epsilon", o.eps)]))
}

pub(super) fn rmsnorm(o: &norm::RmsNorm, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let square = b.binary("Mul", x, x);
    let mean = b.reduce("ReduceMean", &square, &[-1], true);
    let shifted = b.add_scalar(&mean, o.eps);
    let root = b.unary("Sqrt", &shifted);
    let inverse = b.unary("Reciprocal", &root);
    let y = b.binary("Mul", x, &inverse);
    if !o.affine {
        return Ok(y);
    }
    let w = c.weight(b, "weight")?;
    Ok(b.binary("Mul", &y, &w))
}

pub(super) fn residual(b: &mut Builder, c: &Ctx, xs: &[String]) -> Result<String, OnnxError> {
    let [skip, x] = xs else { return Err(c.refuse("needs two inputs")) };
    let widths = (c.ins[0].last().and_then(|d| d.fixed()), c.ins[1].last().and_then(|d| d.fixed()));
    let skip = match widths {
        (Some(a), Some(bw)) if a != bw => {
            let w = c.weight(b, "proj.weight")?;
            b.linear(skip, &w, None)
        }
        _ => skip.clone(),
    };
    Ok(b.binary("Add", x, &skip))
}

/// Additive attention: `score_t = v . tanh(W_k x_t + b_k + W_q q)`, softmax over time,
/// then the weighted sum of the steps (or the weights).
pub(super) fn attention(o: &Attention, b: &mut Builder, c: &Ctx, xs: &[String]) -> Result<String, OnnxError> {
    let x = &xs[0];
    let (kw, kb) = (c.weight(b, "key.weight")?, c.weight(b, "key.bias")?);
    let keys = b.linear(x, &kw, Some(&kb));
    let query = match xs.get(1) {
        Some(q) => {
            let qw = c.weight(b, "query.weight")?;
            let projected = b.linear(q, &qw, None);
            b.unsqueeze(&projected, &[1])
        }
        None => c.weight(b, "query")?,
    };
    let sum = b.binary("Add", &keys, &query);
    let act = b.unary("Tanh", &sum);
    let sw = c.weight(b, "score.weight")?;
    let scores = b.linear(&act, &sw, None);
    let scores = b.squeeze(&scores, &[2]);
    let weights = b.node("Softmax", &[&scores], vec![int("axis", 1)]);
    if o.weights {
        return Ok(weights);
    }
    let w3 = b.unsqueeze(&weights, &[1]);
    let ctx = b.binary("MatMul", &w3, x);
    Ok(b.squeeze(&ctx, &[1]))
}

/// Multi-head scaled dot-product attention of `q` over `kv` (the same value for
/// `self_attention`), as torch.nn.MultiheadAttention in evaluation.
pub(super) fn multihead(heads: i64, b: &mut Builder, c: &Ctx, q: &str, kv: &str) -> Result<String, OnnxError> {
    let f = c.fixed(0, 2, "attention")?;
    let d = f / heads.max(1);
    let (w, bias) = (c.weight(b, "in_proj_weight")?, c.weight(b, "in_proj_bias")?);
    let mut proj = Vec::new();
    for k in 0..3 {
        let wk = b.slice(&w, 0, k * f, (k + 1) * f);
        let bk = b.slice(&bias, 0, k * f, (k + 1) * f);
        let input = if k == 0 { q } else { kv };
        let p = b.linear(input, &wk, Some(&bk));
        let split = b.reshape(&p, &[0, 0, heads, d]);
        proj.push(b.transpose(&split, &[0, 2, 1, 3]));
    }
    let kt = b.transpose(&proj[1], &[0, 1, 3, 2]);
    let scores = b.binary("MatMul", &proj[0], &kt);
    let scaled = b.mul_scalar(&scores, 1.0 / (d as f64).sqrt());
    let weights = b.node("Softmax", &[&scaled], vec![int("axis", -1)]);
    let ctx = b.binary("MatMul", &weights, &proj[2]);
    let merged = b.transpose(&ctx, &[0, 2, 1, 3]);
    let merged = b.reshape(&merged, &[0, 0, f]);
    let (ow, ob) = (c.weight(b, "out_proj.weight")?, c.weight(b, "out_proj.bias")?);
    Ok(b.linear(&merged, &ow, Some(&ob)))
}

/// `x + weight[0:T]`: the table's first rows, as many as the sequence has steps.
pub(super) fn learned_position(b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let w = c.weight(b, "weight")?;
    let t = b.dim(x, 1);
    let (zero, axis) = (b.i64s(&[0]), b.i64s(&[0]));
    let rows = b.node("Slice", &[&w, &zero, &t, &axis], vec![]);
    Ok(b.binary("Add", x, &rows))
}
