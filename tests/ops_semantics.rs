//! What ops compute, where their shape alone says too little: hand-computed values,
//! PyTorch's variable names, and the errors a bad configuration gets instead of a panic.

use crate::ops::{arg, image, int, op, seq};
use avc::ast::ValueKind;
use avc::ops::{Layer, Op, ResolvedArg};
use avc::shape::{Dim, Shape};
use tch::{Device, Kind, Tensor, nn};

/// Lowers an op for one input shape into `vs`.
fn lower(op: &Op, input: &Shape, vs: &nn::VarStore) -> Box<dyn Layer> {
    op.lower(&vs.root(), std::slice::from_ref(input)).expect("lowers")
}

fn run(layer: &dyn Layer, x: &Tensor) -> Tensor {
    layer.forward(&[x], false).expect("runs")
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).expect("float tensor")
}

/// `0, 1, 2, ...` in the given shape.
fn counting(shape: &[i64]) -> Tensor {
    Tensor::arange(shape.iter().product::<i64>(), (Kind::Float, Device::Cpu)).reshape(shape)
}

fn output_last() -> ResolvedArg {
    arg("output", ValueKind::Str("last".into()))
}

/// For each recurrent op: `output: last` is the final hidden state, i.e. the forward
/// direction's last step and the backward direction's first step of `output: sequence`.
#[test]
fn recurrent_last_is_the_end_of_each_direction() {
    let _rng = crate::torch_rng_lock();
    for name in ["gru", "lstm"] {
        for bidirectional in [false, true] {
            let common = [int("hidden", 4), int("layers", 2), arg("bidirectional", ValueKind::Bool(bidirectional))];
            let sequence = op(name, &common);
            let last = op(name, &[&common[..], &[output_last()]].concat());
            let input = seq(Some(5), 3);
            let vs = nn::VarStore::new(Device::Cpu);
            let mut vs_last = nn::VarStore::new(Device::Cpu);
            let (seq_layer, last_layer) = (lower(&sequence, &input, &vs), lower(&last, &input, &vs_last));
            vs_last.copy(&vs).expect("same variables");
            let x = Tensor::randn([2, 5, 3], (Kind::Float, Device::Cpu));
            let (all, end) = (run(&*seq_layer, &x), run(&*last_layer, &x));
            let forward = all.select(1, -1).narrow(1, 0, 4);
            let expected =
                if bidirectional { Tensor::cat(&[forward, all.select(1, 0).narrow(1, 4, 4)], 1) } else { forward };
            assert_eq!(end.size(), expected.size(), "{name} bidirectional={bidirectional}");
            assert!(max_diff(&end, &expected) < 1e-6, "{name} bidirectional={bidirectional}");
        }
    }
}

#[test]
fn gru_variables_have_pytorch_names_and_shapes() {
    let _rng = crate::torch_rng_lock();
    let gru = op("gru", &[int("hidden", 4), int("layers", 2), arg("bidirectional", ValueKind::Bool(true))]);
    let vs = nn::VarStore::new(Device::Cpu);
    lower(&gru, &seq(None, 6), &vs);
    let vars = vs.variables();
    assert_eq!(vars.len(), 16, "4 tensors x 2 layers x 2 directions: {:?}", vars.keys());
    let size = |name: &str| vars.get(name).unwrap_or_else(|| panic!("no {name} in {:?}", vars.keys())).size();
    assert_eq!(size("weight_ih_l0"), [12, 6]);
    assert_eq!(size("weight_hh_l0_reverse"), [12, 4]);
    assert_eq!(size("weight_ih_l1"), [12, 8], "layer 2 reads both directions");
    assert_eq!(size("bias_ih_l1_reverse"), [12]);
    assert_eq!(size("bias_hh_l1"), [12]);
}

/// One GRU layer stepped by hand with PyTorch's equations (gate order r, z, n).
#[test]
fn gru_follows_pytorch_equations() {
    let _rng = crate::torch_rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let layer = lower(&op("gru", &[int("hidden", 2)]), &seq(Some(3), 3), &vs);
    let x = Tensor::randn([1, 3, 3], (Kind::Float, Device::Cpu));
    let out = run(&*layer, &x);
    let v = vs.variables();
    let mut h = Tensor::zeros([1, 2], (Kind::Float, Device::Cpu));
    for t in 0..3 {
        let gi = x.select(1, t).linear(&v["weight_ih_l0"], Some(&v["bias_ih_l0"])).chunk(3, 1);
        let gh = h.linear(&v["weight_hh_l0"], Some(&v["bias_hh_l0"])).chunk(3, 1);
        let r = (&gi[0] + &gh[0]).sigmoid();
        let z = (&gi[1] + &gh[1]).sigmoid();
        let n = (&gi[2] + &r * &gh[2]).tanh();
        h = (1.0 - &z) * &n + &z * &h;
        assert!(max_diff(&out.select(1, t), &h) < 1e-5, "step {t}");
    }
}

#[test]
fn layernorm_standardises_the_last_axis() {
    let _rng = crate::torch_rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let layer = lower(&op("layernorm", &[]), &seq(Some(5), 6), &vs);
    let x = Tensor::randn([3, 5, 6], (Kind::Float, Device::Cpu)) * 4.0 + 2.0;
    let y = run(&*layer, &x);
    let mean = y.mean_dim(-1, false, None);
    let var = y.var_dim(-1, false, false);
    assert!(mean.abs().max().double_value(&[]) < 1e-5, "mean {mean}");
    assert!((var - 1.0).abs().max().double_value(&[]) < 1e-3, "variance");
    let v = vs.variables();
    assert_eq!(values(&v["weight"]), [1.0; 6], "nn.LayerNorm starts at scale 1");
    assert_eq!(values(&v["bias"]), [0.0; 6], "and shift 0");
}

#[test]
fn softmax_sums_to_one_along_its_axis_only() {
    let _rng = crate::torch_rng_lock();
    let x = Tensor::randn([3, 5, 6], (Kind::Float, Device::Cpu));
    for (axis, summed, other) in [(-1, 2, 1), (1, 1, 2), (2, 2, 1)] {
        let vs = nn::VarStore::new(Device::Cpu);
        let y = run(&*lower(&op("softmax", &[int("axis", axis)]), &seq(Some(5), 6), &vs), &x);
        let sums = y.sum_dim_intlist(summed, false, None::<Kind>);
        assert!(max_diff(&sums, &sums.ones_like()) < 1e-5, "axis {axis}: sums to 1");
        let across = y.sum_dim_intlist(other, false, None::<Kind>);
        assert!(max_diff(&across, &across.ones_like()) > 0.01, "axis {axis}: not along axis {other}");
    }
}

#[test]
fn a_bad_axis_is_a_shape_error() {
    let input = seq(Some(5), 6);
    for axis in [0, 3, -4] {
        let err = op("softmax", &[int("axis", axis)]).infer(std::slice::from_ref(&input)).expect_err("refused");
        assert_eq!(err.expected, format!("an axis {axis} other than the batch"));
        assert_eq!(err.found, "[B, 5, 6]");
    }
}

#[test]
fn sigmoid_is_the_logistic_function() {
    let vs = nn::VarStore::new(Device::Cpu);
    let x = Tensor::from_slice(&[0.0f32, 2.0, -2.0]).reshape([1, 3]);
    let y = run(&*lower(&op("sigmoid", &[]), &Shape::batched([Dim::Fixed(3)]), &vs), &x);
    let e = (-2.0f32).exp();
    let expected = [0.5, 1.0 / (1.0 + e), e / (1.0 + e)];
    assert!(values(&y).iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6), "{y}");
}

/// x[t, f] = 2t + f over 6 steps and 2 features; windows of 2 steps (and of 3, stride 1).
#[test]
fn avgpool1d_averages_windows_of_time() {
    let x = counting(&[1, 6, 2]);
    let pool = |args: &[ResolvedArg]| {
        run(&*lower(&op("avgpool1d", args), &seq(Some(6), 2), &nn::VarStore::new(Device::Cpu)), &x)
    };
    assert_eq!(values(&pool(&[int("kernel", 2)])), [1.0, 2.0, 5.0, 6.0, 9.0, 10.0]);
    let overlapping = pool(&[int("kernel", 3), int("stride", 1)]);
    assert_eq!(overlapping.size(), [1, 4, 2]);
    assert_eq!(values(&overlapping), [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
}

/// A 4x4 image counting 0..16 row by row, pooled in 2x2 blocks.
#[test]
fn pool2d_reduces_square_windows() {
    let x = counting(&[1, 1, 4, 4]);
    let pool =
        |name| run(&*lower(&op(name, &[int("kernel", 2)]), &image(1, Some(4), 4), &nn::VarStore::new(Device::Cpu)), &x);
    assert_eq!(values(&pool("maxpool2d")), [5.0, 7.0, 13.0, 15.0]);
    assert_eq!(values(&pool("avgpool2d")), [2.5, 4.5, 10.5, 12.5]);
}

/// With every weight 1 and no bias, each output is the sum of its 2x2 window.
#[test]
fn conv2d_sums_windows_with_nn_conv2d_variables() {
    let _rng = crate::torch_rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let conv = op("conv2d", &[int("out", 1), int("kernel", 2), arg("bias", ValueKind::Bool(false))]);
    let layer = lower(&conv, &image(1, Some(3), 3), &vs);
    let mut weight = vs.variables()["weight"].shallow_clone();
    assert_eq!(weight.size(), [1, 1, 2, 2], "[out, C, kernel, kernel]");
    tch::no_grad(|| {
        let _ = weight.fill_(1.0);
    });
    assert_eq!(values(&run(&*layer, &counting(&[1, 1, 3, 3]))), [8.0, 12.0, 20.0, 24.0]);

    let vs = nn::VarStore::new(Device::Cpu);
    lower(&op("conv2d", &[int("out", 5), int("kernel", 3)]), &image(2, None, 4), &vs);
    let v = vs.variables();
    assert_eq!((v["weight"].size(), v["bias"].size()), (vec![5, 2, 3, 3], vec![5]));
}

#[test]
fn conv2d_refuses_a_kernel_larger_than_the_padded_image() {
    let conv = |k, p| op("conv2d", &[int("out", 4), int("kernel", k), int("padding", p)]);
    let err = conv(5, 0).infer(&[image(1, Some(4), 8)]).expect_err("4 rows < kernel 5");
    assert_eq!((err.axis, err.expected.as_str()), (Some(2), "at least 5 rows (H) (kernel)"));
    assert_eq!(err.found, "[B, 1, 4, 8]");
    let err = conv(5, 1).infer(&[image(1, Some(8), 2)]).expect_err("2 + 2 columns < kernel 5");
    assert_eq!(err.axis, Some(3));
    assert_eq!(err.expected, "at least 3 columns (W) with padding 1 on each side (kernel 5)");
    let fits = conv(5, 1).infer(&[image(1, Some(3), 3)]).expect("3 + 2 = 5 fits once");
    assert_eq!(fits.to_string(), "[B, 4, 1, 1]");
}

#[test]
fn conv2d_keeps_a_symbolic_height_and_names_layout_slips() {
    let conv = op("conv2d", &[int("out", 4), int("kernel", 3), int("stride", 2)]);
    assert_eq!(conv.infer(&[image(1, None, 9)]).expect("symbolic H").to_string(), "[B, 4, (T-3)/2+1, 4]");
    let err = conv.infer(&[seq(None, 9)]).expect_err("a sequence is not an image");
    assert_eq!(err.expected, "rank 4 [B, C, H, W]");
    assert!(err.hint.is_some_and(|h| h.contains("unsqueeze")), "the hint says how to make an image");
    let channels = Shape::batched([Dim::Sym("C".into()), Dim::Fixed(9), Dim::Fixed(9)]);
    assert_eq!(conv.infer(&[channels]).expect_err("weights need C").axis, Some(1));
}

/// With every weight 1 and no bias, a dilated conv1d sums the taps `dilation` steps apart,
/// and its window spans `dilation * (kernel - 1) + 1` steps.
#[test]
fn dilated_conv1d_sums_taps_dilation_apart() {
    let _rng = crate::torch_rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let args = [int("out", 1), int("kernel", 3), int("dilation", 2), arg("bias", ValueKind::Bool(false))];
    let conv = op("conv1d", &args);
    let layer = lower(&conv, &seq(Some(7), 1), &vs);
    let mut weight = vs.variables()["weight"].shallow_clone();
    assert_eq!(weight.size(), [1, 1, 3], "[out, F, kernel]: dilation adds no weights");
    tch::no_grad(|| {
        let _ = weight.fill_(1.0);
    });
    // Steps 0..7; windows (0, 2, 4), (1, 3, 5), (2, 4, 6).
    assert_eq!(values(&run(&*layer, &counting(&[1, 7, 1]))), [6.0, 9.0, 12.0]);
    assert_eq!(conv.infer(&[seq(Some(7), 1)]).expect("fits").to_string(), "[B, 3, 1]");
    let err = conv.infer(&[seq(Some(4), 1)]).expect_err("4 steps < a window of 5");
    assert_eq!(err.expected, "at least 5 time steps (kernel 3 at dilation 2 spans 5)");
    let same = op("conv1d", &[int("out", 2), int("kernel", 3), int("dilation", 4), int("padding", 4)]);
    assert_eq!(same.infer(&[seq(None, 3)]).expect("symbolic").to_string(), "[B, T, 2]", "padding d keeps T");
    assert!(same.describe().contains("dilation=4"), "{}", same.describe());
}
