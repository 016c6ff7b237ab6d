//! Random small valid models (YAML text) that together use every op of the registry: a
//! video chain and an audio chain of random ops, sometimes through a block (with
//! parameters, instantiated per tower, sometimes shared), joined by a random joint op
//! (sometimes inside a block that spans the towers, which cannot be split), then a joint
//! chain and a head; or two towers ending in embeddings. Each op's snippet tracks the
//! shape it produces (without the batch), choosing only ops that fit the value at hand,
//! and preferring the ops used least so far.

use crate::Gen;

/// Steps of the sequences the models read, and their widths.
pub const STEPS: i64 = 6;
pub const VIDEO: i64 = 8;
pub const AUDIO: i64 = 4;

/// A value: its node's name and its shape without the batch.
#[derive(Clone, Debug)]
struct Val {
    name: String,
    dims: Vec<i64>,
}

/// The text being built and the ops it used.
struct Builder<'a> {
    g: std::cell::RefCell<&'a mut Gen>,
    lines: Vec<String>,
    next: usize,
    used: &'a mut Vec<(&'static str, usize)>,
}

impl Builder<'_> {
    fn node(&mut self, op: &'static str, ins: &[&Val], args: &str, dims: Vec<i64>) -> Val {
        let name = format!("n{}", self.next);
        self.next += 1;
        let ins: Vec<&str> = ins.iter().map(|v| v.name.as_str()).collect();
        self.lines.push(format!("  - {{name: {name}, op: {op}, in: [{}]{args}}}", ins.join(", ")));
        self.count(op);
        Val { name, dims }
    }

    fn count(&mut self, op: &'static str) {
        match self.used.iter_mut().find(|(o, _)| *o == op) {
            Some((_, n)) => *n += 1,
            None => self.used.push((op, 1)),
        }
    }

    fn below(&self, n: usize) -> usize {
        self.g.borrow_mut().below(n)
    }

    fn pick<T: Copy>(&self, options: &[T]) -> T {
        options[self.below(options.len())]
    }

    fn coin(&self) -> bool {
        self.below(2) == 0
    }

    /// `abs(x) + 1`: a value safe for `log`, `sqrt`, `pow` and division.
    fn positive(&mut self, x: &Val) -> Val {
        let a = self.node("abs", &[x], "", x.dims.clone());
        self.node("add", &[&a], ", right: 1.0", x.dims.clone())
    }

    fn uses(&self, op: &str) -> usize {
        self.used.iter().find(|(o, _)| *o == op).map_or(0, |(_, n)| *n)
    }
}

/// The ops a step on a value of these dims may apply (each snippet checks the rest).
const SEQ_OPS: &[&str] = &[
    "linear",
    "lstm",
    "gru",
    "conv1d",
    "maxpool1d",
    "avgpool1d",
    "batchnorm",
    "layernorm",
    "rmsnorm",
    "dropout",
    "relu",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "softmax",
    "gelu",
    "silu",
    "glu",
    "softplus",
    "elu",
    "log_softmax",
    "exp",
    "log",
    "sqrt",
    "abs",
    "clamp",
    "pow",
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "residual",
    "attention",
    "self_attention",
    "sinusoidal_position",
    "learned_position",
    "slice",
    "chunk",
    "split",
    "select",
    "index",
    "stack",
    "pad",
    "repeat",
    "expand",
    "flip",
    "positions",
    "embedding",
    "transpose",
    "reshape",
    "unsqueeze",
    "permute",
    "flatten",
    "adaptive_avgpool1d",
    "adaptive_maxpool1d",
    "mean",
    "max",
    "sum",
    "last",
    "matmul",
    "bmm",
    "cosine",
    "l2_distance",
    "concat",
    "param",
    "conv2d",
    "maxpool2d",
    "avgpool2d",
    "adaptive_avgpool2d",
    "adaptive_maxpool2d",
];

/// One step on a `[T, F]` sequence; `None` when the op does not fit it.
fn seq_step(b: &mut Builder, x: &Val, op: &'static str) -> Option<Val> {
    let (t, f) = (x.dims[0], x.dims[1]);
    let same = x.dims.clone();
    Some(match op {
        "linear" => {
            let out = b.pick(&[3, 4, 6]);
            let bias = if b.coin() { "" } else { ", bias: false" };
            b.node("linear", &[x], &format!(", out: {out}{bias}"), vec![t, out])
        }
        "lstm" | "gru" => {
            let h = b.pick(&[3, 4]);
            let layers = b.pick(&[1, 2]);
            let bi = b.coin();
            let last = b.below(3) == 0;
            let mut args = format!(", hidden: {h}");
            if layers > 1 {
                args += &format!(", layers: {layers}, dropout: 0.2");
            }
            if bi {
                args += ", bidirectional: true";
            }
            let width = h * if bi { 2 } else { 1 };
            if last {
                let v = b.node(op, &[x], &format!("{args}, output: last"), vec![width]);
                return Some(from_vector(b, &v));
            }
            b.node(op, &[x], &args, vec![t, width])
        }
        "conv1d" => {
            let out = b.pick(&[2, 4, 6]);
            let kernel = b.pick(&[1, 2, 3]);
            let dilation = b.pick(&[1, 1, 2]);
            let span = dilation * (kernel - 1) + 1;
            let groups = if f % 2 == 0 && out % 2 == 0 && b.coin() { 2 } else { 1 };
            let bias = if b.coin() { "" } else { ", bias: false" };
            let mode = b.below(4);
            let (padding, stride, steps) = match mode {
                0 => ("same".to_string(), 1, t),
                1 => ("causal".to_string(), 1, t),
                _ => {
                    let p = b.pick(&[0, 1, 2]);
                    let s = b.pick(&[1, 2]);
                    let steps = (t + 2 * p - span) / s + 1;
                    if t + 2 * p < span || steps < 1 {
                        return None;
                    }
                    (p.to_string(), s, steps)
                }
            };
            let args = format!(
                ", out: {out}, kernel: {kernel}, stride: {stride}, padding: {padding}, dilation: {dilation}, groups: {groups}{bias}"
            );
            b.node("conv1d", &[x], &args, vec![steps, out])
        }
        "maxpool1d" | "avgpool1d" => {
            if t < 2 {
                return None;
            }
            let stride = b.pick(&[0, 1, 2]);
            let s = if stride == 0 { 2 } else { stride };
            b.node(op, &[x], &format!(", kernel: 2, stride: {stride}"), vec![(t - 2) / s + 1, f])
        }
        "batchnorm" => {
            let affine = if b.coin() { "" } else { ", affine: false" };
            let axis = if b.coin() { "" } else { ", axis: 1" };
            b.node("batchnorm", &[x], &format!("{affine}{axis}, eps: 0.001, momentum: 0.2"), same)
        }
        "layernorm" | "rmsnorm" => {
            let affine = if b.coin() { "" } else { ", affine: false" };
            b.node(op, &[x], &format!("{affine}, eps: 0.0001"), same)
        }
        "dropout" => b.node("dropout", &[x], ", p: 0.3", same),
        "relu" | "tanh" | "sigmoid" | "silu" | "abs" | "neg" => b.node(op, &[x], "", same),
        "exp" => {
            let s = b.node("tanh", &[x], "", same.clone());
            b.node("exp", &[&s], "", same)
        }
        "leaky_relu" => b.node(op, &[x], &format!(", slope: {}", b.pick(&[0.01, 0.2])), same),
        "gelu" => b.node(op, &[x], if b.coin() { "" } else { ", approximate: tanh" }, same),
        "softplus" => {
            b.node(op, &[x], &format!(", beta: {}, threshold: {}", b.pick(&[1.0, 2.0]), b.pick(&[20.0, 1.0])), same)
        }
        "elu" => b.node(op, &[x], &format!(", alpha: {}", b.pick(&[1.0, 0.5])), same),
        "softmax" | "log_softmax" => b.node(op, &[x], &format!(", axis: {}", b.pick(&[-1, 1])), same),
        "glu" => {
            if f % 2 != 0 {
                return None;
            }
            b.node(op, &[x], ", axis: -1", vec![t, f / 2])
        }
        "log" | "sqrt" => {
            let p = b.positive(x);
            b.node(op, &[&p], "", same)
        }
        "pow" => {
            let p = b.positive(x);
            b.node(op, &[&p], &format!(", exponent: {}", b.pick(&[2.0, 1.5])), same)
        }
        "clamp" => {
            let args = b.pick(&[", min: -0.5, max: 0.5", ", min: 0.0", ", max: 0.25"]);
            b.node(op, &[x], args, same)
        }
        "add" | "sub" | "mul" => {
            if b.coin() {
                let side = b.pick(&["left", "right"]);
                b.node(op, &[x], &format!(", {side}: 1.5"), same)
            } else {
                let y = b.node("tanh", &[x], "", same.clone());
                b.node(op, &[x, &y], "", same)
            }
        }
        "div" => {
            let p = b.positive(x);
            match b.below(3) {
                0 => b.node(op, &[&p], ", left: 2.0", same),
                1 => b.node(op, &[x], ", right: 4.0", same),
                _ => b.node(op, &[x, &p], "", same),
            }
        }
        "residual" => {
            let out = b.pick(&[f, 5]);
            let y = b.node("linear", &[x], &format!(", out: {out}"), vec![t, out]);
            b.node("residual", &[x, &y], "", vec![t, out])
        }
        "attention" => {
            let hidden = b.pick(&[3, 5]);
            let v = match b.below(3) {
                0 => {
                    let w = b.node(op, &[x], &format!(", hidden: {hidden}, output: weights"), vec![t]);
                    let u = b.node("unsqueeze", &[&w], ", axis: -1", vec![t, 1]);
                    return Some(b.node("mul", &[x, &u], "", same));
                }
                1 => {
                    let q = b.node("mean", &[x], "", vec![f]);
                    b.node(op, &[x, &q], &format!(", hidden: {hidden}"), vec![f])
                }
                _ => b.node(op, &[x], &format!(", hidden: {hidden}"), vec![f]),
            };
            from_vector(b, &v)
        }
        "self_attention" => {
            let heads = if f % 2 == 0 { b.pick(&[1, 2]) } else { 1 };
            b.node(op, &[x], &format!(", heads: {heads}, dropout: 0.1"), same)
        }
        "sinusoidal_position" => {
            if f % 2 != 0 {
                return None;
            }
            b.node(op, &[x], &format!(", base: {}", b.pick(&[10000.0, 100.0])), same)
        }
        "learned_position" => b.node(op, &[x], &format!(", max_len: {}", t + b.pick(&[0, 3])), same),
        "slice" => {
            if b.coin() && t > 2 {
                b.node(op, &[x], ", axis: 1, start: 1, end: -1", vec![t - 2, f])
            } else {
                b.node(op, &[x], &format!(", axis: -1, start: {}", f / 2), vec![t, f - f / 2])
            }
        }
        "chunk" => {
            if f % 2 != 0 {
                return None;
            }
            b.node(op, &[x], &format!(", chunks: 2, axis: -1, index: {}", b.pick(&[0, 1])), vec![t, f / 2])
        }
        "split" => {
            if f < 2 {
                return None;
            }
            let index = b.pick(&[0, 1]);
            let len = if index == 0 { 1 } else { f - 1 };
            b.node(op, &[x], &format!(", sizes: [1, {}], axis: 2, index: {index}", f - 1), vec![t, len])
        }
        "select" => {
            let v = b.node(op, &[x], &format!(", axis: 1, index: {}", b.pick(&[0, -1])), vec![f]);
            from_vector(b, &v)
        }
        "index" => {
            if b.coin() {
                b.node(op, &[x], &format!(", axis: 2, indices: [0, {}, -1]", f - 1), vec![t, 3])
            } else {
                b.node(op, &[x], ", axis: 1, indices: [1, 0, 2, -1]", vec![4, f])
            }
        }
        "stack" => {
            let y = b.node("relu", &[x], "", same.clone());
            let s = b.node(op, &[x, &y], ", axis: 1", vec![2, t, f]);
            b.node("sum", &[&s], ", axis: 1", same)
        }
        "pad" => {
            let after = b.pick(&[0, 2]);
            b.node(op, &[x], &format!(", axis: 1, before: 1, after: {after}, value: 0.5"), vec![t + 1 + after, f])
        }
        "repeat" => b.node(op, &[x], ", axis: 2, times: 2", vec![t, 2 * f]),
        "expand" => {
            let u = b.node("unsqueeze", &[x], ", axis: 1", vec![1, t, f]);
            let e = b.node(op, &[&u], ", axis: 1, size: 3", vec![3, t, f]);
            b.node("max", &[&e], ", axis: 1", same)
        }
        "flip" => b.node(op, &[x], &format!(", axis: {}", b.pick(&[1, 2])), same),
        "positions" | "embedding" => {
            let p = b.node("positions", &[x], ", axis: 1", vec![t]);
            let e = b.node("embedding", &[&p], &format!(", count: {}, dim: 3", t + 2), vec![t, 3]);
            b.node("concat", &[x, &e], "", vec![t, f + 3])
        }
        "transpose" => b.node(op, &[x], ", a: 1, b: 2", vec![f, t]),
        "permute" => b.node(op, &[x], ", dims: [0, 2, 1]", vec![f, t]),
        "reshape" => {
            if (t * f) % 2 != 0 {
                return None;
            }
            if b.coin() {
                b.node(op, &[x], ", shape: [-1, 2]", vec![t * f / 2, 2])
            } else {
                b.node(op, &[x], &format!(", shape: [2, {}]", t * f / 2), vec![2, t * f / 2])
            }
        }
        "flatten" => {
            let v = b.node(op, &[x], "", vec![t * f]);
            from_vector(b, &v)
        }
        "adaptive_avgpool1d" | "adaptive_maxpool1d" => {
            let size = b.pick(&[2, 3, 4]);
            b.node(op, &[x], &format!(", size: {size}"), vec![size, f])
        }
        "mean" | "max" | "sum" | "last" => {
            let v = b.node(op, &[x], "", vec![f]);
            from_vector(b, &v)
        }
        "matmul" => {
            if b.coin() {
                let g = b.pick(&[3, 5]);
                let p = b.node("param", &[], &format!(", shape: [{f}, {g}], init: xavier"), vec![f, g]);
                b.node(op, &[x, &p], "", vec![t, g])
            } else {
                b.node(op, &[x, x], ", transpose_b: true", vec![t, t])
            }
        }
        "bmm" => {
            let y = b.node("transpose", &[x], ", a: 1, b: 2", vec![f, t]);
            b.node(op, &[&y, x], "", vec![f, f])
        }
        "cosine" | "l2_distance" => {
            let y = b.node("tanh", &[x], "", same.clone());
            let d = b.node(op, &[x, &y], "", vec![t, 1]);
            b.node("concat", &[x, &d], "", vec![t, f + 1])
        }
        "concat" => {
            let y = b.node("sigmoid", &[x], "", same.clone());
            b.node(op, &[x, &y], ", axis: 1", vec![2 * t, f])
        }
        "param" => {
            let init = b.pick(&[", init: normal, std: 0.5", ", init: uniform, low: -1.0, high: 1.0", ", init: ones"]);
            let p = b.node("param", &[], &format!(", shape: [{f}]{init}"), vec![f]);
            let q = b.node("mul", &[&p], ", right: 2.0", vec![f]);
            b.node("add", &[x, &q], "", same)
        }
        "conv2d" | "maxpool2d" | "avgpool2d" | "adaptive_avgpool2d" | "adaptive_maxpool2d" => {
            let img = b.node("unsqueeze", &[x], ", axis: 1", vec![1, t, f]);
            let out = image_step(b, &img, op)?;
            let (c, h, w) = (out.dims[0], out.dims[1], out.dims[2]);
            if b.coin() {
                b.node("mean", &[&out], ", axis: 1", vec![h, w])
            } else {
                let p = b.node("permute", &[&out], ", dims: [0, 2, 1, 3]", vec![h, c, w]);
                b.node("reshape", &[&p], &format!(", shape: [{h}, {}]", c * w), vec![h, c * w])
            }
        }
        _ => return None,
    })
}

/// One step on a `[C, H, W]` image.
fn image_step(b: &mut Builder, x: &Val, op: &'static str) -> Option<Val> {
    let (c, h, w) = (x.dims[0], x.dims[1], x.dims[2]);
    Some(match op {
        "conv2d" => {
            let out = b.pick(&[2, 3]);
            let kernel = b.pick(&[1, 2, 3]);
            let norm = b.coin();
            let (padding, stride, size) = match b.below(3) {
                0 => ("same".to_string(), 1, (h, w)),
                _ => {
                    let p = b.pick(&[0, 1]);
                    let s = b.pick(&[1, 2]);
                    if h + 2 * p < kernel || w + 2 * p < kernel {
                        return None;
                    }
                    (p.to_string(), s, ((h + 2 * p - kernel) / s + 1, (w + 2 * p - kernel) / s + 1))
                }
            };
            let y = b.node(
                op,
                &[x],
                &format!(", out: {out}, kernel: {kernel}, stride: {stride}, padding: {padding}"),
                vec![out, size.0, size.1],
            );
            if norm { b.node("batchnorm", &[&y], "", y.dims.clone()) } else { y }
        }
        "maxpool2d" | "avgpool2d" => {
            if h < 2 || w < 2 {
                return None;
            }
            b.node(op, &[x], ", kernel: 2", vec![c, h / 2, w / 2])
        }
        "adaptive_avgpool2d" | "adaptive_maxpool2d" => b.node(op, &[x], ", size: 2", vec![c, 2, 2]),
        _ => return None,
    })
}

/// A `[F]` vector made a `[T, F']` sequence again: a linear map, a new axis and `expand`.
fn from_vector(b: &mut Builder, v: &Val) -> Val {
    let f = v.dims[0];
    let u = b.node("unsqueeze", &[v], ", axis: 1", vec![1, f]);
    b.node("expand", &[&u], &format!(", axis: 1, size: {STEPS}"), vec![STEPS, f])
}

/// A random chain of `n` steps from a sequence.
fn chain(b: &mut Builder, mut x: Val, n: usize) -> Val {
    for _ in 0..n {
        for _attempt in 0..8 {
            let op = if b.coin() {
                *SEQ_OPS.iter().min_by_key(|o| (b.uses(o), o.len() % 3)).unwrap_or(&"relu")
            } else {
                SEQ_OPS[b.below(SEQ_OPS.len())]
            };
            // Keep sizes small: shrink a sequence that grew.
            if x.dims[0] * x.dims[1] > 96 && !["linear", "adaptive_avgpool1d", "mean"].contains(&op) {
                continue;
            }
            if let Some(y) = seq_step(b, &x, op) {
                x = y;
                break;
            }
        }
    }
    x
}

/// `[STEPS, width]`: a sequence pooled to STEPS steps and mapped to `width` features.
fn normalise(b: &mut Builder, x: &Val, width: i64) -> Val {
    let pooled = b.node("adaptive_avgpool1d", &[x], &format!(", size: {STEPS}"), vec![STEPS, x.dims[1]]);
    b.node("linear", &[&pooled], &format!(", out: {width}"), vec![STEPS, width])
}

/// A random model; its text, and whether its towers can be split.
pub struct Model {
    pub text: String,
    pub splits: bool,
}

/// The `case`-th random model.
pub fn model(g: &mut Gen, used: &mut Vec<(&'static str, usize)>) -> Model {
    let mut b = Builder { g: std::cell::RefCell::new(g), lines: Vec::new(), next: 0, used };
    let video = Val { name: "video".into(), dims: vec![STEPS, VIDEO] };
    let audio = Val { name: "audio".into(), dims: vec![STEPS, AUDIO] };
    let mut blocks = Vec::new();
    let style = b.below(4);
    // A tower block with a width parameter, per tower (shared when the widths agree).
    let (v, a) = if style == 0 {
        let act = b.pick(&["relu", "tanh", "gelu"]);
        blocks.push(format!(
            "  - name: tower\n    params: {{h: int, p: {{type: float, default: 0.1}}}}\n    in: [x]\n    nodes:\n      \
             - {{name: proj, op: linear, in: x, out: $h}}\n      - {{name: act, op: {act}, in: proj}}\n      \
             - {{name: drop, op: dropout, in: act, p: $p}}\n      - {{name: norm, op: layernorm, in: drop}}\n    out: norm"
        ));
        let share = b.coin();
        let vn = normalise(&mut b, &video, 6);
        let an = normalise(&mut b, &audio, 6);
        b.lines.push(format!("  - {{name: vt, op: tower, in: [{}], h: 5}}", vn.name));
        let shared = if share { ", h: 5, share: vt" } else { ", h: 4, p: 0.2" };
        let width = if share { 5 } else { 4 };
        b.lines.push(format!("  - {{name: at, op: tower, in: [{}]{shared}}}", an.name));
        for op in ["linear", "dropout", "layernorm", act] {
            b.count(op);
        }
        (Val { name: "vt".into(), dims: vec![STEPS, 5] }, Val { name: "at".into(), dims: vec![STEPS, width] })
    } else {
        let n = 2 + b.below(3);
        let v = chain(&mut b, video, n);
        let n = 2 + b.below(3);
        let a = chain(&mut b, audio, n);
        (v, a)
    };
    let embeddings = b.below(6) == 0;
    if embeddings {
        let vv = b.node("mean", &[&v], "", vec![v.dims[1]]);
        let av = b.node("max", &[&a], "", vec![a.dims[1]]);
        let ve = b.node("linear", &[&vv], ", out: 4", vec![4]);
        let ae = b.node("linear", &[&av], ", out: 4", vec![4]);
        b.lines.push(String::new());
        let text = assemble(
            &b.lines,
            &blocks,
            &format!("  - {{name: towers, kind: embeddings, from: [{}, {}]}}", ve.name, ae.name),
        );
        return Model { text, splits: true };
    }
    let v = normalise(&mut b, &v, 6);
    let a = normalise(&mut b, &a, 6);
    let mut splits = true;
    let joined = match b.below(8) {
        0 => {
            // A block that reads both towers and maps one alone first: it spans the towers.
            blocks.push(
                "  - name: fuse\n    params: {h: int}\n    in: [x, y]\n    nodes:\n      \
                 - {name: px, op: linear, in: x, out: $h}\n      - {name: j, op: concat, in: [px, y]}\n    out: j"
                    .to_string(),
            );
            b.lines.push(format!("  - {{name: fused, op: fuse, in: [{}, {}], h: 6}}", v.name, a.name));
            b.count("linear");
            b.count("concat");
            splits = false;
            Val { name: "fused".into(), dims: vec![STEPS, 12] }
        }
        1 => b.node("cross_attention", &[&v, &a], &format!(", heads: {}", b.pick(&[1, 2])), vec![STEPS, 6]),
        2 => {
            let l = b.node("lagged_cosine", &[&v, &a], &format!(", max_lag: {}", b.pick(&[1, 2])), vec![1]);
            from_vector(&mut b, &l)
        }
        3 => b.node("add", &[&v, &a], "", vec![STEPS, 6]),
        4 => b.node("residual", &[&v, &a], "", vec![STEPS, 6]),
        5 => {
            let d = b.node(b.pick(&["cosine", "l2_distance"]), &[&v, &a], "", vec![STEPS, 1]);
            b.node("concat", &[&v, &d], "", vec![STEPS, 7])
        }
        _ => b.node("concat", &[&v, &a], "", vec![STEPS, 12]),
    };
    let n = b.below(3);
    let j = chain(&mut b, joined, n);
    let pooled = b.node(b.pick(&["mean", "max", "last"]), &[&j], "", vec![j.dims[1]]);
    let head = b.node("linear", &[&pooled], ", out: 1", vec![1]);
    let kind = b.pick(&["logit", "distance"]);
    let text = assemble(&b.lines, &blocks, &format!("  - {{name: match, kind: {kind}, from: {}}}", head.name));
    Model { text, splits }
}

fn assemble(lines: &[String], blocks: &[String], output: &str) -> String {
    let nodes: Vec<&String> = lines.iter().filter(|l| !l.is_empty()).collect();
    let mut text = format!("inputs: {{video: [{STEPS}, {VIDEO}], audio: [{STEPS}, {AUDIO}]}}\n");
    if !blocks.is_empty() {
        text += &format!("blocks:\n{}\n", blocks.join("\n"));
    }
    text += "nodes:\n";
    for l in nodes {
        text += l;
        text += "\n";
    }
    text += &format!("outputs:\n{output}\n");
    text
}
