//! Every op's shape rule agrees with its lowering: each op runs on random input, and the
//! real output shape is compared with the inferred one, for concrete and symbolic sizes.

use avc::ops::{self, ArgReader, LowerOp, Op, ResolvedArg};
use avc_lang::ast::{Ident, Value, ValueKind};
use avc_lang::shape::{Dim, Shape};
use avc_lang::source::Span;
use tch::{Device, Kind, Tensor, nn};

pub(crate) fn arg(name: &str, kind: ValueKind) -> ResolvedArg {
    ResolvedArg { name: Ident::new(name, Span::empty()), value: Value { kind, span: Span::empty() } }
}

pub(crate) fn int(name: &str, v: i64) -> ResolvedArg {
    arg(name, ValueKind::Int(v))
}

fn ints(name: &str, vs: &[i64]) -> ResolvedArg {
    let items = vs.iter().map(|&v| Value { kind: ValueKind::Int(v), span: Span::empty() }).collect();
    arg(name, ValueKind::List(items))
}

pub(crate) fn op(name: &str, args: &[ResolvedArg]) -> Op {
    let spec = ops::lookup(name).unwrap_or_else(|| panic!("op {name} is registered"));
    ArgReader::new(spec, args, Span::empty()).parse().unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// `[B, T, F]` with T fixed or the symbol `T`.
pub(crate) fn seq(t: Option<i64>, f: i64) -> Shape {
    let t = t.map_or(Dim::Sym("T".into()), Dim::Fixed);
    Shape::batched([t, Dim::Fixed(f)])
}

/// `[B, C, H, W]` with the height fixed or the symbol `T`: a sequence made an image.
pub(crate) fn image(c: i64, h: Option<i64>, w: i64) -> Shape {
    let h = h.map_or(Dim::Sym("T".into()), Dim::Fixed);
    Shape::batched([Dim::Fixed(c), h, Dim::Fixed(w)])
}

fn float(name: &str, v: f64) -> ResolvedArg {
    arg(name, ValueKind::Float(v))
}

/// A string argument: a choice such as `padding: "same"`.
fn word(name: &str, v: &str) -> ResolvedArg {
    arg(name, ValueKind::Str(v.into()))
}

fn yes(name: &str) -> ResolvedArg {
    arg(name, ValueKind::Bool(true))
}

fn output_last() -> ResolvedArg {
    arg("output", ValueKind::Str("last".into()))
}

/// One case per op (several for ops with modes): the op and its input shapes (time axis
/// left open where `None` is passed).
fn cases(t: Option<i64>) -> Vec<(Op, Vec<Shape>)> {
    let vec = |f| Shape::batched([Dim::Fixed(f)]);
    let t_dim = t.map_or(Dim::Sym("T".into()), Dim::Fixed);
    // [B, 2, T, F]: a two-channel sequence.
    let grid = |f| Shape::batched([Dim::Fixed(2), t_dim.clone(), Dim::Fixed(f)]);
    let weights = || arg("output", ValueKind::Str("weights".into()));
    vec![
        (op("linear", &[int("out", 5)]), vec![seq(t, 6)]),
        (op("linear", &[int("out", 3), arg("bias", ValueKind::Bool(false))]), vec![vec(6)]),
        (op("lstm", &[int("hidden", 4)]), vec![seq(t, 6)]),
        (
            op("lstm", &[int("hidden", 4), int("layers", 2), arg("bidirectional", ValueKind::Bool(true))]),
            vec![seq(t, 6)],
        ),
        (op("lstm", &[int("hidden", 4), arg("output", ValueKind::Str("last".into()))]), vec![seq(t, 6)]),
        (
            op(
                "lstm",
                &[
                    int("hidden", 4),
                    int("layers", 2),
                    arg("bidirectional", ValueKind::Bool(true)),
                    arg("output", ValueKind::Str("last".into())),
                ],
            ),
            vec![seq(t, 6)],
        ),
        (op("gru", &[int("hidden", 4)]), vec![seq(t, 6)]),
        (op("gru", &[int("hidden", 4), int("layers", 2), yes("bidirectional")]), vec![seq(t, 6)]),
        (op("gru", &[int("hidden", 4), output_last()]), vec![seq(t, 6)]),
        (op("gru", &[int("hidden", 3), int("layers", 2), yes("bidirectional"), output_last()]), vec![seq(t, 6)]),
        (op("gru", &[int("hidden", 4), int("layers", 2), arg("dropout", ValueKind::Float(0.5))]), vec![seq(t, 6)]),
        (op("conv1d", &[int("out", 7), int("kernel", 3), int("padding", 1)]), vec![seq(t, 6)]),
        (op("conv1d", &[int("out", 7), int("kernel", 4), int("stride", 2)]), vec![seq(t, 6)]),
        (op("conv1d", &[int("out", 5), int("kernel", 3), int("dilation", 4), int("padding", 4)]), vec![seq(t, 6)]),
        (op("conv1d", &[int("out", 5), int("kernel", 2), int("dilation", 3), int("stride", 2)]), vec![seq(t, 6)]),
        (op("maxpool1d", &[int("kernel", 2)]), vec![seq(t, 6)]),
        (op("maxpool1d", &[int("kernel", 3), int("stride", 1)]), vec![seq(t, 6)]),
        (op("avgpool1d", &[int("kernel", 2)]), vec![seq(t, 6)]),
        (op("avgpool1d", &[int("kernel", 3), int("stride", 2)]), vec![seq(t, 6)]),
        (op("conv2d", &[int("out", 4), int("kernel", 3), int("padding", 1)]), vec![image(1, t, 8)]),
        (op("conv2d", &[int("out", 5), int("kernel", 3), int("stride", 2)]), vec![image(2, t, 9)]),
        (
            op(
                "conv2d",
                &[
                    int("out", 3),
                    int("kernel", 4),
                    int("stride", 2),
                    int("padding", 1),
                    arg("bias", ValueKind::Bool(false)),
                ],
            ),
            vec![image(3, t, 7)],
        ),
        (op("conv2d", &[int("out", 2), int("kernel", 3), int("dilation", 2), int("padding", 1)]), vec![image(2, t, 9)]),
        (op("maxpool2d", &[int("kernel", 2)]), vec![image(3, t, 8)]),
        (op("maxpool2d", &[int("kernel", 3), int("stride", 1)]), vec![image(2, t, 5)]),
        (op("avgpool2d", &[int("kernel", 2)]), vec![image(3, t, 9)]),
        (op("avgpool2d", &[int("kernel", 3), int("stride", 2)]), vec![image(1, t, 7)]),
        (op("batchnorm", &[]), vec![seq(t, 6)]),
        (op("batchnorm", &[arg("affine", ValueKind::Bool(false))]), vec![vec(6)]),
        (op("batchnorm", &[]), vec![image(3, t, 5)]),
        (op("batchnorm", &[int("axis", 1)]), vec![seq(Some(4), 6)]),
        (op("layernorm", &[]), vec![seq(t, 6)]),
        (op("layernorm", &[arg("affine", ValueKind::Bool(false))]), vec![vec(6)]),
        (op("layernorm", &[arg("eps", ValueKind::Float(1e-3))]), vec![image(2, t, 5)]),
        (op("dropout", &[]), vec![seq(t, 6)]),
        (op("relu", &[]), vec![seq(t, 6)]),
        (op("leaky_relu", &[]), vec![seq(t, 6)]),
        (op("tanh", &[]), vec![seq(t, 6)]),
        (op("sigmoid", &[]), vec![seq(t, 6)]),
        (op("softmax", &[]), vec![seq(t, 6)]),
        (op("softmax", &[int("axis", 1)]), vec![seq(t, 6)]),
        (op("softmax", &[int("axis", -3)]), vec![image(3, t, 4)]),
        (op("concat", &[]), vec![seq(t, 6), seq(t, 2)]),
        (op("concat", &[int("axis", 1)]), vec![seq(Some(4), 6), seq(t, 6)]),
        (op("add", &[]), vec![seq(t, 6), seq(t, 6), seq(t, 6)]),
        (op("residual", &[]), vec![seq(t, 6), seq(t, 6)]),
        (op("residual", &[]), vec![seq(t, 6), seq(t, 4)]),
        (op("residual", &[]), vec![vec(3), vec(5)]),
        (op("matmul", &[]), vec![seq(Some(5), 6), seq(Some(6), 4)]),
        (op("matmul", &[]), vec![seq(t, 6), seq(Some(6), 4)]),
        (op("matmul", &[arg("transpose_b", ValueKind::Bool(true))]), vec![seq(t, 6), seq(t, 6)]),
        (op("matmul", &[]), vec![grid(6), Shape::batched([Dim::Fixed(2), Dim::Fixed(6), t_dim.clone()])]),
        (op("bmm", &[]), vec![seq(t, 6), seq(Some(6), 4)]),
        (op("cosine", &[]), vec![seq(t, 6), seq(t, 6)]),
        (op("cosine", &[]), vec![vec(6), vec(6)]),
        (op("lagged_cosine", &[int("max_lag", 2)]), vec![seq(t, 6), seq(t, 6)]),
        (op("l2_distance", &[]), vec![seq(t, 6), seq(t, 6)]),
        (op("l2_distance", &[]), vec![vec(6), vec(6)]),
        (op("mean", &[]), vec![seq(t, 6)]),
        (op("max", &[int("axis", -1)]), vec![seq(t, 6)]),
        (op("last", &[]), vec![seq(t, 6)]),
        (op("sum", &[int("axis", -1)]), vec![seq(t, 6)]),
        (op("attention", &[int("hidden", 4)]), vec![seq(t, 6)]),
        (op("attention", &[int("hidden", 4), weights()]), vec![seq(t, 6)]),
        (op("attention", &[int("hidden", 4)]), vec![seq(t, 6), vec(3)]),
        (op("attention", &[int("hidden", 4), weights()]), vec![seq(t, 6), vec(3)]),
        (op("self_attention", &[int("heads", 2)]), vec![seq(t, 6)]),
        (op("self_attention", &[int("heads", 1), arg("dropout", ValueKind::Float(0.3))]), vec![seq(t, 4)]),
        (op("cross_attention", &[int("heads", 2)]), vec![seq(t, 6), seq(Some(5), 6)]),
        (
            op("cross_attention", &[int("heads", 3), arg("dropout", ValueKind::Float(0.2))]),
            vec![seq(Some(4), 6), seq(t, 6)],
        ),
        (op("flatten", &[]), vec![seq(Some(5), 6)]),
        (op("transpose", &[]), vec![seq(t, 6)]),
        (op("reshape", &[ints("shape", &[8, -1])]), vec![seq(Some(4), 6)]),
        (op("reshape", &[ints("shape", &[24])]), vec![seq(Some(4), 6)]),
        (op("reshape", &[ints("shape", &[-1, 3])]), vec![seq(t, 6)]),
        (op("reshape", &[ints("shape", &[-1, 2, 3])]), vec![seq(t, 6)]),
        (op("unsqueeze", &[int("axis", 1)]), vec![seq(t, 6)]),
        (op("unsqueeze", &[int("axis", -1)]), vec![seq(t, 6)]),
        (op("permute", &[ints("dims", &[0, 2, 1])]), vec![seq(t, 6)]),
        // Tensor arithmetic, broadcasting: [B, T, F] with [B, 1, F], [F], a scalar learned tensor.
        (op("sub", &[]), vec![seq(t, 6), Shape::batched([Dim::Fixed(1), Dim::Fixed(6)])]),
        (op("mul", &[]), vec![seq(t, 6), Shape::new(vec![Dim::Fixed(6)])]),
        (op("div", &[]), vec![seq(t, 6), Shape::new(vec![])]),
        (op("sub", &[arg("left", ValueKind::Float(1.0))]), vec![seq(t, 6)]),
        (op("mul", &[arg("right", ValueKind::Float(0.5))]), vec![vec(6)]),
        (op("div", &[arg("left", ValueKind::Int(8))]), vec![vec(6)]),
        (op("add", &[arg("right", ValueKind::Float(1.0))]), vec![seq(t, 6)]),
        (op("add", &[]), vec![seq(t, 6), Shape::new(vec![Dim::Fixed(1), Dim::Fixed(6)])]),
        (op("neg", &[]), vec![seq(t, 6)]),
        (op("param", &[ints("shape", &[1, 1, 6])]), vec![]),
        (op("param", &[ints("shape", &[]), arg("value", ValueKind::Float(2.5))]), vec![]),
        (op("slice", &[int("axis", 2), int("start", 1), int("end", -1)]), vec![seq(t, 6)]),
        (op("slice", &[int("axis", 1), int("start", 1), int("end", -2)]), vec![seq(t, 6)]),
        (op("slice", &[int("axis", -1), int("start", -4)]), vec![seq(t, 6)]),
        (op("permute", &[ints("dims", &[0, 2, -3, 3])]), vec![grid(6)]),
        (op("gelu", &[]), vec![seq(t, 6)]),
        (op("gelu", &[word("approximate", "tanh")]), vec![image(2, t, 5)]),
        (op("silu", &[]), vec![seq(t, 6)]),
        (op("glu", &[]), vec![seq(t, 6)]),
        (op("glu", &[int("axis", 1)]), vec![seq(Some(4), 6)]),
        (op("softplus", &[]), vec![seq(t, 6)]),
        (op("softplus", &[float("beta", 2.0), float("threshold", 5.0)]), vec![vec(6)]),
        (op("elu", &[]), vec![seq(t, 6)]),
        (op("elu", &[float("alpha", 0.5)]), vec![vec(6)]),
        (op("log_softmax", &[]), vec![seq(t, 6)]),
        (op("log_softmax", &[int("axis", 1)]), vec![seq(t, 6)]),
        (op("exp", &[]), vec![seq(t, 6)]),
        (op("log", &[]), vec![seq(t, 6)]),
        (op("sqrt", &[]), vec![seq(t, 6)]),
        (op("abs", &[]), vec![seq(t, 6)]),
        (op("clamp", &[float("min", -0.5)]), vec![seq(t, 6)]),
        (op("clamp", &[float("max", 0.5)]), vec![seq(t, 6)]),
        (op("clamp", &[float("min", -1.0), float("max", 1.0)]), vec![vec(6)]),
        (op("pow", &[float("exponent", 3.0)]), vec![seq(t, 6)]),
        (op("rmsnorm", &[]), vec![seq(t, 6)]),
        (op("rmsnorm", &[arg("affine", ValueKind::Bool(false)), float("eps", 1e-5)]), vec![image(2, t, 5)]),
        (
            op("conv1d", &[int("out", 6), int("kernel", 3), int("groups", 6), word("padding", "causal")]),
            vec![seq(t, 6)],
        ),
        (
            op("conv1d", &[int("out", 4), int("kernel", 4), int("dilation", 2), word("padding", "same")]),
            vec![seq(t, 6)],
        ),
        (
            op("conv1d", &[int("out", 4), int("kernel", 3), int("stride", 2), word("padding", "causal")]),
            vec![seq(t, 6)],
        ),
        (op("conv1d", &[int("out", 4), int("kernel", 3), int("groups", 2), int("padding", 1)]), vec![seq(t, 6)]),
        (
            op("conv2d", &[int("out", 4), int("kernel", 3), int("groups", 2), word("padding", "same")]),
            vec![image(2, t, 8)],
        ),
        (
            op("conv2d", &[int("out", 3), int("kernel", 2), int("groups", 3), word("padding", "same")]),
            vec![image(3, t, 7)],
        ),
        (op("adaptive_avgpool1d", &[int("size", 4)]), vec![seq(t, 6)]),
        (op("adaptive_maxpool1d", &[int("size", 3)]), vec![seq(t, 6)]),
        (op("adaptive_avgpool2d", &[int("size", 2)]), vec![image(3, t, 8)]),
        (op("adaptive_maxpool2d", &[int("size", 1)]), vec![image(2, t, 5)]),
        (op("sinusoidal_position", &[]), vec![seq(t, 6)]),
        (op("learned_position", &[int("max_len", 16)]), vec![seq(t, 6)]),
        (op("chunk", &[int("chunks", 2), int("index", 1)]), vec![seq(t, 6)]),
        (op("chunk", &[int("chunks", 3), int("axis", 1), int("index", 2)]), vec![image(3, t, 6)]),
        (op("split", &[ints("sizes", &[2, 4]), int("index", 1)]), vec![seq(t, 6)]),
        (op("split", &[ints("sizes", &[1, 2]), int("axis", 1), int("index", 0)]), vec![image(3, t, 6)]),
        (op("select", &[int("index", 0)]), vec![seq(t, 6)]),
        (op("select", &[int("axis", 1), int("index", -1)]), vec![seq(t, 6)]),
        (op("select", &[int("axis", -1), int("index", 2)]), vec![image(2, t, 5)]),
        (op("index", &[ints("indices", &[0, 4, 4, 1])]), vec![seq(t, 6)]),
        (op("index", &[int("axis", 2), ints("indices", &[-1, 0])]), vec![seq(t, 6)]),
        (op("stack", &[]), vec![vec(6), vec(6), vec(6)]),
        (op("stack", &[int("axis", -1)]), vec![seq(t, 6), seq(t, 6)]),
        (op("pad", &[int("before", 2), int("after", 1)]), vec![seq(t, 6)]),
        (op("pad", &[int("axis", -1), int("after", 3), float("value", -1.0)]), vec![image(2, t, 5)]),
        (op("repeat", &[int("times", 3)]), vec![seq(t, 6)]),
        (op("repeat", &[int("axis", 2), int("times", 2)]), vec![seq(t, 6)]),
        (op("expand", &[int("axis", 2), int("size", 5)]), vec![seq(t, 1)]),
        (op("expand", &[]), vec![Shape::new(vec![Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(6)]), seq(t, 6)]),
        (op("flip", &[]), vec![seq(t, 6)]),
        (op("flip", &[int("axis", -1)]), vec![image(2, t, 5)]),
        (op("positions", &[]), vec![seq(t, 6)]),
        (
            op("embedding", &[int("count", 11), int("dim", 4)]),
            vec![Shape::batched([t.map_or(Dim::Sym("T".into()), Dim::Fixed)])],
        ),
    ]
}

/// A random input of `op`: normal numbers, or whole numbers below 11 for `embedding` (whose
/// input holds indexes).
fn draw(op: &Op, dims: &[i64]) -> Tensor {
    match op {
        Op::Embedding(_) => Tensor::randint(11, dims, (Kind::Float, Device::Cpu)),
        _ => Tensor::randn(dims, (Kind::Float, Device::Cpu)),
    }
}

/// Runs an op on random tensors (batch 3, symbols as 11 steps) and returns the real shape.
fn run(op: &Op, ins: &[Shape], train: bool) -> Vec<i64> {
    let vs = nn::VarStore::new(Device::Cpu);
    let layer = op.lower(&vs.root(), ins).expect("lowers");
    let xs: Vec<Tensor> = ins.iter().map(|s| draw(op, &s.concrete(3, 11))).collect();
    let refs: Vec<&Tensor> = xs.iter().collect();
    layer.forward(&refs, train).expect("runs").size()
}

#[test]
fn every_op_has_a_case() {
    let covered: Vec<&str> = cases(Some(11)).iter().map(|(op, _)| op.name()).collect();
    for spec in ops::registry() {
        assert!(covered.contains(&spec.name), "op `{}` has no shape-agreement case", spec.name);
    }
}

#[test]
fn inferred_shapes_match_real_outputs() {
    let _rng = crate::torch_rng_lock();
    for (op, ins) in cases(Some(11)) {
        let inferred = op.infer(&ins).unwrap_or_else(|e| panic!("{}: {e:?}", op.name()));
        for train in [true, false] {
            assert_eq!(run(&op, &ins, train), inferred.concrete(3, -1), "{} ({})", op.name(), op.describe());
        }
    }
}

#[test]
fn symbolic_lengths_agree_where_fixed() {
    let _rng = crate::torch_rng_lock();
    for (op, ins) in cases(None) {
        let inferred = op.infer(&ins).unwrap_or_else(|e| panic!("{}: {e:?}", op.name()));
        let real = run(&op, &ins, false);
        assert_eq!(real.len(), inferred.rank(), "{}: rank", op.name());
        for (axis, (dim, size)) in inferred.dims().iter().zip(&real).enumerate() {
            match dim {
                Dim::Batch => assert_eq!(*size, 3, "{}: batch", op.name()),
                Dim::Fixed(n) => assert_eq!(n, size, "{} axis {axis}", op.name()),
                Dim::Sym(s) if s == "T" => assert_eq!(*size, 11, "{} axis {axis}", op.name()),
                Dim::Sym(_) => {} // a derived length: checked concretely above
            }
        }
    }
}

#[test]
fn parameter_counts_match_the_variables_created() {
    let _rng = crate::torch_rng_lock();
    for (op, ins) in cases(Some(11)) {
        let vs = nn::VarStore::new(Device::Cpu);
        op.lower(&vs.root(), &ins).expect("lowers");
        let real: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(real, op.param_count(&ins), "{} ({})", op.name(), op.describe());
    }
}

/// The ops whose values avc computes in fp32 whatever the precision (docs/precision.md): a
/// sum over many products or an exponent loses too much in bf16. (`attention` takes its
/// softmax in fp32 too, then weighs the values in bf16.)
const KEPT_IN_FP32: [&str; 5] = ["cosine", "l2_distance", "lagged_cosine", "softmax", "log_softmax"];

/// Every op runs under bf16 autocast (the forward pass of `train.precision: bf16`): the same
/// shape, finite values within 5% of the output's scale of the fp32 ones (bf16 keeps 8 bits
/// of mantissa, 0.4% a rounding; sums over many rounded products drift further), and the
/// ops kept in fp32 give fp32 values equal to fp32's to 1e-5.
#[test]
fn every_op_runs_under_bf16_autocast() {
    use avc::lower::precision::{Autocast, Precision};
    let _rng = crate::torch_rng_lock();
    tch::manual_seed(31);
    for (op, ins) in cases(Some(11)) {
        let vs = nn::VarStore::new(Device::Cpu);
        let layer = op.lower(&vs.root(), &ins).expect("lowers");
        let xs: Vec<Tensor> = ins.iter().map(|s| draw(&op, &s.concrete(3, 11))).collect();
        let refs: Vec<&Tensor> = xs.iter().collect();
        let exact = tch::no_grad(|| layer.forward(&refs, false)).expect("runs in fp32");
        let low = {
            let _region = Autocast::enter(Precision::Bf16, Device::Cpu).unwrap();
            tch::no_grad(|| layer.forward(&refs, false))
        }
        .unwrap_or_else(|e| panic!("{} ({}) fails under bf16 autocast: {e}", op.name(), op.describe()));
        assert_eq!(low.size(), exact.size(), "{}", op.name());
        // Where fp32 is finite (`log` of a negative number is not), bf16 is too.
        let finite = exact.isfinite();
        let low_f = low.to_kind(Kind::Float);
        let lost = finite.logical_and(&low_f.isfinite().logical_not());
        assert!(!bool::try_from(lost.any()).unwrap(), "{}: non-finite values in bf16", op.name());
        let (exact, low_f) = (exact.where_scalarother(&finite, 0.0), low_f.where_scalarother(&finite, 0.0));
        let scale = exact.abs().max().double_value(&[]).max(1.0);
        let diff = (&low_f - &exact).abs().max().double_value(&[]) / scale;
        if KEPT_IN_FP32.contains(&op.name()) {
            assert_eq!(low.kind(), Kind::Float, "{} must stay fp32", op.name());
            assert!(diff < 1e-5, "{}: {diff} from fp32", op.name());
        } else {
            assert!(diff < 0.05, "{} ({}): {diff} of its scale from fp32", op.name(), op.describe());
        }
    }
}
