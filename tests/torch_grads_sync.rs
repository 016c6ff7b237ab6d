//! `lagged_cosine` against PyTorch (values and gradients), and its whole-matrix form (how
//! evaluation scores every pair of a catalogue) against the op on each pair.

use crate::torch_grads::{Case, check, int};
use tch::{Device, Kind, Tensor};

/// The op in PyTorch: per lag, the overlapping steps' cosines averaged; the best lag.
const TORCH: &str = "torch.stack([(F.normalize(x0[:, max(0, -l):max(0, -l) + x0.shape[1] - abs(l)], dim=-1, eps=1e-8) \
    * F.normalize(x1[:, max(0, l):max(0, l) + x0.shape[1] - abs(l)], dim=-1, eps=1e-8)).sum(-1).mean(-1) \
    for l in range(-2, 3)], 1).amax(-1, keepdim=True)";

#[test]
fn lagged_cosine_agrees_with_pytorch() {
    check(&[Case {
        name: "lagged_cosine max_lag 2",
        op: "lagged_cosine",
        args: vec![int("max_lag", 2)],
        inputs: vec![vec![3, 9, 5], vec![3, 9, 5]],
        torch: TORCH,
    }]);
}

#[test]
fn the_whole_matrix_is_the_op_on_every_pair() {
    use avc::ops::LowerOp;
    let _rng = crate::torch_rng_lock();
    tch::manual_seed(7);
    let op = avc_lang::ops::sync::LaggedCosine { max_lag: 3 };
    let (na, nb, t, d) = (5, 4, 12, 6);
    let a = Tensor::randn([na, t, d], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([nb, t, d], (Kind::Float, Device::Cpu));
    let matrix = avc::lower::ops::sync::lagged_cosine_matrix(&op, &a, &b).expect("the matrix");
    assert_eq!(matrix.size(), [na, nb]);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let shape = avc_lang::shape::Shape::batched(vec![avc_lang::shape::Dim::Fixed(t), avc_lang::shape::Dim::Fixed(d)]);
    let layer = op.lower(&vs.root(), &[shape.clone(), shape]).expect("lowers");
    for i in 0..na {
        // Row i of the matrix: video i against every audio, through the per-pair layer.
        let ai = a.narrow(0, i, 1).expand([nb, t, d], false);
        let per_pair = layer.forward(&[&ai, &b], false).expect("runs").flatten(0, -1);
        let diff = (&per_pair - matrix.get(i)).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "row {i}: {diff}");
    }
}

/// Evaluation's grid path (the joint part as matrix products, `Model::score_grid`) gives the
/// scores of the per-pair path (`Model::score_pairs`) for a model whose joint part is
/// `lagged_cosine` and a learned scale; a joint LSTM (final) has no grid form.
#[test]
fn a_lagged_cosine_model_scores_its_grid_as_every_pair() {
    let _rng = crate::torch_rng_lock();
    tch::manual_seed(3);
    let compiled = crate::compile_ok(std::path::Path::new("architectures/sync_towers.avc"));
    let model = avc::lower::lower(&compiled.graph, &compiled.checked, Device::Cpu).expect("lowers");
    let (nv, na, t) = (6, 5, 16);
    let video = Tensor::randn([nv, t, 1024], (Kind::Float, Device::Cpu));
    let audio = Tensor::randn([na, t, 128], (Kind::Float, Device::Cpu));
    let _guard = tch::no_grad_guard();
    let venc = model.encode(avc_lang::check::Tower::Video, &video, false).expect("video");
    let aenc = model.encode(avc_lang::check::Tower::Audio, &audio, false).expect("audio");
    let (vrows, arows) =
        (Tensor::arange(nv, (Kind::Int64, Device::Cpu)), Tensor::arange(na, (Kind::Int64, Device::Cpu)));
    let grid = model.score_grid(&venc, &aenc, &vrows, &arows).expect("scores").expect("a grid form");
    let pv = Tensor::arange(nv * na, (Kind::Int64, Device::Cpu)).divide_scalar_mode(na, "floor");
    let pa = Tensor::arange(nv * na, (Kind::Int64, Device::Cpu)).remainder(na);
    let pairs = model.score_pairs(&venc, &aenc, &pv, &pa, false).expect("pairs");
    let per_pair = pairs[0][0].reshape([nv, na]);
    let diff = (&grid - &per_pair).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "grid and pairs differ by {diff}");
    let final_model = crate::compile_ok(std::path::Path::new("architectures/final.avc"));
    let f = avc::lower::lower(&final_model.graph, &final_model.checked, Device::Cpu).expect("lowers");
    let fv = f.encode(avc_lang::check::Tower::Video, &Tensor::randn([2, 120, 1024], (Kind::Float, Device::Cpu)), false);
    let fa = f.encode(avc_lang::check::Tower::Audio, &Tensor::randn([2, 120, 128], (Kind::Float, Device::Cpu)), false);
    let two = Tensor::arange(2, (Kind::Int64, Device::Cpu));
    assert!(f.score_grid(&fv.unwrap(), &fa.unwrap(), &two, &two).expect("runs").is_none(), "final runs per pair");
}
