//! The ops without weights: activations, arithmetic, similarities, layout, pooling to a
//! size, positions.

use super::Ctx;
use crate::export::onnx::OnnxError;
use crate::export::onnx::builder::{Builder, int};
use avc_lang::ops::arith::Scalar;
use avc_lang::ops::extend::{Expand, Pad};
use avc_lang::shape::Dim;

pub(super) fn softmax(op: &str, axis: i64, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    Ok(b.node(op, &[x], vec![int("axis", c.axis(0, axis)?)]))
}

pub(super) fn gelu(tanh: bool, b: &mut Builder, x: &str) -> String {
    let inner = if tanh {
        let cube = b.binary("Mul", x, x);
        let cube = b.binary("Mul", &cube, x);
        let cube = b.mul_scalar(&cube, 0.044715);
        let sum = b.binary("Add", x, &cube);
        let scaled = b.mul_scalar(&sum, (2.0 / std::f64::consts::PI).sqrt());
        b.unary("Tanh", &scaled)
    } else {
        let scaled = b.mul_scalar(x, std::f64::consts::FRAC_1_SQRT_2);
        b.unary("Erf", &scaled)
    };
    let one = b.add_scalar(&inner, 1.0);
    let half = b.mul_scalar(x, 0.5);
    b.binary("Mul", &half, &one)
}

pub(super) fn glu(axis: i64, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let halves = b.node_n("Split", &[x], vec![int("axis", c.axis(0, axis)?)], 2);
    let gate = b.unary("Sigmoid", &halves[1]);
    Ok(b.binary("Mul", &halves[0], &gate))
}

/// `log(1 + exp(beta x)) / beta`, and `x` where `beta x > threshold`.
pub(super) fn softplus(beta: f64, threshold: f64, b: &mut Builder, x: &str) -> String {
    let bx = b.mul_scalar(x, beta);
    let soft = b.unary("Softplus", &bx);
    let beta_c = b.scalar(beta);
    let soft = b.binary("Div", &soft, &beta_c);
    let limit = b.scalar(threshold);
    let over = b.binary("Greater", &bx, &limit);
    b.node("Where", &[&over, x, &soft], vec![])
}

pub(super) fn clamp(min: Option<f64>, max: Option<f64>, b: &mut Builder, x: &str) -> String {
    let lo = min.map(|v| b.scalar(v)).unwrap_or_default();
    let hi = max.map(|v| b.scalar(v)).unwrap_or_default();
    b.node("Clip", &[x, &lo, &hi], vec![])
}

pub(super) fn add(scalar: Scalar, b: &mut Builder, xs: &[String]) -> String {
    let mut sum = xs[0].clone();
    for x in &xs[1..] {
        sum = b.binary("Add", &sum, x);
    }
    match scalar {
        Scalar::Left(v) | Scalar::Right(v) => b.add_scalar(&sum, v),
        Scalar::None => sum,
    }
}

/// `a op b`, or with one input a number on the left or the right, as avc computes each
/// (`2 - x` as `-x + 2`, `2 / x` as `2 * (1 / x)`).
pub(super) fn arith(op: &str, scalar: Scalar, b: &mut Builder, xs: &[String]) -> String {
    match (scalar, xs) {
        (Scalar::Left(v), [a]) if op == "Sub" => {
            let n = b.unary("Neg", a);
            b.add_scalar(&n, v)
        }
        (Scalar::Left(v), [a]) if op == "Div" => {
            let r = b.unary("Reciprocal", a);
            b.mul_scalar(&r, v)
        }
        (Scalar::Left(v) | Scalar::Right(v), [a]) => {
            let c = b.scalar(v);
            b.binary(op, a, &c)
        }
        (_, [a, second, ..]) => b.binary(op, a, second),
        (_, [a]) => b.unary("Identity", a),
        (_, []) => b.unary("Identity", ""),
    }
}

pub(super) fn matmul(transpose_b: bool, b: &mut Builder, c: &Ctx, xs: &[String]) -> Result<String, OnnxError> {
    let [x, y] = xs else { return Err(c.refuse("needs two inputs")) };
    let y = if transpose_b {
        let rank = c.rank(1) as i64;
        let mut perm: Vec<i64> = (0..rank).collect();
        perm.swap(rank as usize - 1, rank as usize - 2);
        b.transpose(y, &perm)
    } else {
        y.clone()
    };
    Ok(b.binary("MatMul", x, &y))
}

/// `|x|` along the last axis, kept.
fn norm(b: &mut Builder, x: &str) -> String {
    let sq = b.binary("Mul", x, x);
    let sum = b.reduce("ReduceSum", &sq, &[-1], true);
    b.unary("Sqrt", &sum)
}

/// torch.cosine_similarity with eps 1e-8: `a . b / (max(|a|, eps) max(|b|, eps))`, kept as
/// a last axis of 1.
pub(super) fn cosine(b: &mut Builder, xs: &[String]) -> String {
    let eps = b.scalar(1e-8);
    let (na, nb) = (norm(b, &xs[0]), norm(b, &xs[1]));
    let (na, nb) = (b.binary("Max", &na, &eps), b.binary("Max", &nb, &eps));
    let prod = b.binary("Mul", &xs[0], &xs[1]);
    let dot = b.reduce("ReduceSum", &prod, &[-1], true);
    let den = b.binary("Mul", &na, &nb);
    b.binary("Div", &dot, &den)
}

pub(super) fn l2_distance(b: &mut Builder, xs: &[String]) -> String {
    let d = b.binary("Sub", &xs[0], &xs[1]);
    let sq = b.binary("Mul", &d, &d);
    let sum = b.reduce("ReduceSum", &sq, &[-1], true);
    let shifted = b.add_scalar(&sum, 1e-12);
    b.unary("Sqrt", &shifted)
}

pub(super) fn transpose(a: i64, bx: i64, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let (a, bx) = (c.axis(0, a)? as usize, c.axis(0, bx)? as usize);
    let mut perm: Vec<i64> = (0..c.rank(0) as i64).collect();
    perm.swap(a, bx);
    Ok(b.transpose(x, &perm))
}

/// Adaptive pooling on fixed axes: window `i` of `n` steps to `size` spans
/// `floor(i n / size)..ceil((i + 1) n / size)`, reduced and put side by side; a 2-D pool is
/// the 1-D one on each axis (its windows are products of the two).
pub(super) fn adaptive(
    op: &str,
    size: i64,
    axes: &[usize],
    b: &mut Builder,
    c: &Ctx,
    x: &str,
) -> Result<String, OnnxError> {
    let mut y = x.to_string();
    for &axis in axes {
        let n = c.fixed(0, axis, "adaptive pooling")?;
        let mut parts = Vec::new();
        for i in 0..size {
            let (start, end) = (i * n / size, ((i + 1) * n + size - 1) / size);
            let window = b.slice(&y, axis as i64, start, end);
            parts.push(b.reduce(op, &window, &[axis as i64], true));
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        y = b.concat(&refs, axis as i64);
    }
    Ok(y)
}

/// The sinusoid table of `[T, F]` added: a constant for a fixed length, computed from the
/// length otherwise.
pub(super) fn sinusoidal(base: f64, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let f = c.fixed(0, 2, "sinusoidal_position")?;
    let rates: Vec<f64> = (0..f).step_by(2).map(|i| (i as f64 * -base.ln() / f as f64).exp()).collect();
    if let Some(t) = c.ins[0].0.get(1).and_then(Dim::fixed) {
        let mut table = Vec::with_capacity((t * f) as usize);
        for step in 0..t {
            for r in &rates {
                let angle = step as f64 * r;
                table.extend([angle.sin() as f32, angle.cos() as f32]);
            }
        }
        let table = b.floats(&table[..(t * f) as usize], &[t, f]);
        return Ok(b.binary("Add", x, &table));
    }
    let t = b.dim(x, 1);
    let t = b.squeeze(&t, &[0]);
    let (zero, one) = (b.i64s_shaped(&[0], &[]), b.i64s_shaped(&[1], &[]));
    let steps = b.node("Range", &[&zero, &t, &one], vec![]);
    let steps = b.node("Cast", &[&steps], vec![int("to", crate::export::onnx::proto::FLOAT as i64)]);
    let steps = b.unsqueeze(&steps, &[1]);
    let rates: Vec<f32> = rates.iter().map(|&r| r as f32).collect();
    let rates = b.floats(&rates, &[1, rates.len() as i64]);
    let angles = b.binary("Mul", &steps, &rates);
    let (sin, cos) = (b.unary("Sin", &angles), b.unary("Cos", &angles));
    let (sin, cos) = (b.unsqueeze(&sin, &[2]), b.unsqueeze(&cos, &[2]));
    let both = b.concat(&[&sin, &cos], 2);
    let table = b.reshape(&both, &[-1, f]);
    Ok(b.binary("Add", x, &table))
}

/// The best lag's mean cosine of the steps of two sequences.
pub(super) fn lagged_cosine(max_lag: i64, b: &mut Builder, xs: &[String]) -> String {
    let eps = b.scalar(1e-8);
    let unit = |b: &mut Builder, x: &str| {
        let n = norm(b, x);
        let n = b.binary("Max", &n, &eps);
        b.binary("Div", x, &n)
    };
    let (ua, ub) = (unit(b, &xs[0]), unit(b, &xs[1]));
    let mut per_lag = Vec::new();
    for lag in -max_lag..=max_lag {
        // a[sa .. T - max(lag, 0)], b[sb .. T + min(lag, 0)]: the overlap at this lag.
        let (sa, sb) = (lag.min(0).abs(), lag.max(0));
        let end = |cut: i64| if cut == 0 { i64::MAX } else { -cut };
        let a = b.slice(&ua, 1, sa, end(sb));
        let bb = b.slice(&ub, 1, sb, end(sa));
        let prod = b.binary("Mul", &a, &bb);
        let dot = b.reduce("ReduceSum", &prod, &[-1], false);
        per_lag.push(b.reduce("ReduceMean", &dot, &[1], true));
    }
    let refs: Vec<&str> = per_lag.iter().map(String::as_str).collect();
    let stacked = b.concat(&refs, 1);
    b.reduce("ReduceMax", &stacked, &[1], true)
}

pub(super) fn pad(o: &Pad, b: &mut Builder, c: &Ctx, x: &str) -> Result<String, OnnxError> {
    let (rank, axis) = (c.rank(0), c.axis(0, o.axis)? as usize);
    let mut pads = vec![0i64; 2 * rank];
    pads[axis] = o.before;
    pads[rank + axis] = o.after;
    let (p, v) = (b.i64s(&pads), b.scalar(o.value));
    Ok(b.node("Pad", &[x, &p, &v], vec![]))
}

/// One input: axis `axis` of size 1 repeated `size` times. Two: the first input (no batch
/// axis, its first axis 1) given the second's batch.
pub(super) fn expand(o: &Expand, b: &mut Builder, c: &Ctx, xs: &[String]) -> Result<String, OnnxError> {
    if let (Some(axis), Some(size)) = (o.axis, o.size) {
        let mut reps = vec![1; c.rank(0)];
        reps[c.axis(0, axis)? as usize] = size;
        let r = b.i64s(&reps);
        return Ok(b.binary("Tile", &xs[0], &r));
    }
    let [x, like] = xs else { return Err(c.refuse("needs a size or a second input")) };
    let batch = b.dim(like, 0);
    let shape = b.unary("Shape", x);
    let rest = b.slice(&shape, 0, 1, i64::MAX);
    let target = b.concat(&[&batch, &rest], 0);
    Ok(b.binary("Expand", x, &target))
}

/// `0, 1, ..., n - 1` of an axis, as floats, for every clip: `[B, n]`.
pub(super) fn positions(
    o: &avc_lang::ops::embedding::Positions,
    b: &mut Builder,
    c: &Ctx,
    x: &str,
) -> Result<String, OnnxError> {
    let axis = c.ins.first().and_then(|s| o.resolve_axis(s)).ok_or_else(|| c.refuse("axis does not fit"))?;
    let n = b.dim(x, axis as i64);
    let n = b.squeeze(&n, &[0]);
    let (zero, one) = (b.i64s_shaped(&[0], &[]), b.i64s_shaped(&[1], &[]));
    let steps = b.node("Range", &[&zero, &n, &one], vec![]);
    let steps = b.node("Cast", &[&steps], vec![int("to", crate::export::onnx::proto::FLOAT as i64)]);
    let row = b.unsqueeze(&steps, &[0]);
    let batch = b.dim(x, 0);
    let len = b.unary("Shape", &steps);
    let target = b.concat(&[&batch, &len], 0);
    Ok(b.binary("Expand", &row, &target))
}
