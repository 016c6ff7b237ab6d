//! Dropout, with its mask drawn from random bits instead of libtorch's `bernoulli_`.
//!
//! On the CPU `bernoulli_(p)` draws one number from the generator per element and is the
//! slowest kernel of a training step of `final` after the LSTMs (10 ms for the 983,040
//! values of one `[128, 120, 64]` activation, 2 threads; a tenth of the step in PyTorch's
//! own profile). Here each 64-bit draw of `random_` gives three 16-bit lanes, and an
//! element is kept when its lane is at or above `p`'s threshold: 2.9 ms for the same
//! tensor, forward and mask together. The draws come from libtorch's generator, so a
//! seeded run (`tch::manual_seed`) repeats its masks exactly as before.
//!
//! The drop probability is `p` rounded to a multiple of 2^-16 (0.1 drops 6,554 of 65,536:
//! 0.100006); kept values are scaled by `1 / (1 - p)` as `torch.nn.Dropout` does. The top
//! lane of each draw is not used: `random_` leaves an int64's sign bit zero.

use super::{Layer, LowerOp};
use avc_lang::ops::norm::Dropout;
use avc_lang::shape::Shape;
use tch::{Device, Kind, Tensor, nn};

impl LowerOp for Dropout {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

impl Layer for Dropout {
    fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError> {
        dropout(xs[0], self.p, train)
    }
}

/// `x` with each element zeroed with probability `p` and the rest scaled by `1 / (1 - p)`
/// while training; `x` itself otherwise. On CUDA, libtorch's fused kernel.
pub(super) fn dropout(x: &Tensor, p: f64, train: bool) -> Result<Tensor, tch::TchError> {
    if !train || p <= 0.0 || x.device() != Device::Cpu || !x.is_floating_point() {
        return x.f_dropout(p, train);
    }
    if p >= 1.0 {
        return x.f_mul_scalar(0.0);
    }
    let kept = kept_scaled(x, p)?;
    x.f_mul(&in_memory_order_of(&kept, x)?)
}

/// `flat` (contiguous, `x.numel()` values) laid over `x`'s memory order when `x` is dense
/// (its strides a permutation of a contiguous layout, like an RNN's `[T, B, F]` output seen
/// as `[B, T, F]`), so the product reads both operands along the grain; `flat` in `x`'s
/// shape otherwise. The mask's values are independent draws, so which element gets which
/// draw does not change its distribution, and the same seed still gives the same mask.
/// `final`'s joint dropout on an LSTM output took 3.5 ms forward with a mask across the grain.
fn in_memory_order_of(flat: &Tensor, x: &Tensor) -> Result<Tensor, tch::TchError> {
    let (size, stride) = (x.size(), x.stride());
    let mut axes: Vec<usize> = (0..size.len()).collect();
    axes.sort_by_key(|&a| std::cmp::Reverse(stride[a]));
    let mut expected = 1;
    let mut dense = true;
    for &a in axes.iter().rev() {
        if size[a] != 1 && stride[a] != expected {
            dense = false;
        }
        expected *= size[a];
    }
    if dense { flat.f_as_strided(size.as_slice(), stride.as_slice(), 0) } else { flat.f_view(size.as_slice()) }
}

/// Lanes of 16 random bits per 64-bit draw (the draw's top lane has only 15).
const LANES: i64 = 3;

/// `x.numel()` values of `x`'s kind, `1 / (1 - p)` where an element is kept and 0 where it
/// is dropped (probability `p`, to 2^-16).
fn kept_scaled(x: &Tensor, p: f64) -> Result<Tensor, tch::TchError> {
    let n = x.numel() as i64;
    let draws = (n + LANES - 1) / LANES;
    let bits = Tensor::f_empty([draws], (Kind::Int64, Device::Cpu))?.f_random_()?;
    let lanes = bits.f_view_dtype(Kind::Int16)?.f_view([draws, 4])?.f_narrow(1, 0, LANES)?;
    // A lane is uniform on [-32768, 32767]: below the threshold with probability p.
    let threshold = -32768 + (p * 65536.0).round() as i64;
    let mut kept = lanes.f_ge(threshold)?.f_to_kind(x.kind())?;
    let _ = kept.f_mul_scalar_(1.0 / (1.0 - p))?;
    kept.f_view([-1])?.f_narrow(0, 0, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_about_p_and_scales_the_rest() {
        tch::manual_seed(3);
        let x = Tensor::ones([200, 501], (Kind::Float, Device::Cpu));
        for p in [0.1, 0.5, 0.9] {
            let y = dropout(&x, p, true).unwrap();
            assert_eq!(y.size(), x.size());
            let dropped = y.eq(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
            // 100,200 values: the share's standard error is at most 0.0016.
            assert!((dropped - p).abs() < 0.01, "p {p}: dropped {dropped}");
            let kept = y.masked_select(&y.ne(0.0));
            let scale = 1.0 / (1.0 - p);
            assert!(kept.allclose(&kept.ones_like().f_mul_scalar(scale).unwrap(), 1e-6, 1e-6, false));
        }
    }

    #[test]
    fn every_lane_is_uniform() {
        // A lane that is biased (the top one of a draw is never negative) would show in the
        // drop rate of every third element.
        tch::manual_seed(4);
        let x = Tensor::ones([3 * 100_000], (Kind::Float, Device::Cpu));
        let y = dropout(&x, 0.5, true).unwrap().view([-1, 3]);
        for lane in 0..3 {
            let dropped = y.select(1, lane).eq(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
            assert!((dropped - 0.5).abs() < 0.01, "lane {lane}: dropped {dropped}");
        }
    }

    #[test]
    fn gradients_pass_through_the_kept_elements_scaled() {
        // That a seed repeats the masks is tests/training.rs's `same_seed_same_numbers` (here
        // other tests draw from the same generator in parallel).
        let x = Tensor::randn([7, 13], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let y = dropout(&x, 0.3, true).unwrap();
        y.sum(Kind::Float).backward();
        let expected = y.ne(0.0).to_kind(Kind::Float).f_mul_scalar(1.0 / 0.7).unwrap();
        assert!(x.grad().allclose(&expected, 1e-6, 1e-6, false));
    }

    #[test]
    fn an_rnn_ordered_input_gets_a_mask_in_its_order() {
        let x = Tensor::ones([120, 8, 16], (Kind::Float, Device::Cpu)).transpose(0, 1);
        let y = dropout(&x, 0.5, true).unwrap();
        assert_eq!(y.size(), [8, 120, 16]);
        assert_eq!(y.stride(), x.stride(), "the product in the input's memory order");
        let dropped = y.eq(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        assert!((dropped - 0.5).abs() < 0.02, "dropped {dropped}");
        // Not dense (every other step): the mask in logical order.
        let sparse = Tensor::ones([8, 240, 16], (Kind::Float, Device::Cpu)).slice(1, 0, 240, 2);
        assert_eq!(dropout(&sparse, 0.5, true).unwrap().size(), [8, 120, 16]);
    }

    #[test]
    fn evaluation_edges_and_empty_tensors() {
        let x = Tensor::randn([4, 5], (Kind::Float, Device::Cpu));
        assert!(dropout(&x, 0.5, false).unwrap().equal(&x));
        assert!(dropout(&x, 0.0, true).unwrap().equal(&x));
        assert_eq!(dropout(&x, 1.0, true).unwrap().abs().sum(Kind::Float).double_value(&[]), 0.0);
        let empty = Tensor::zeros([0, 5], (Kind::Float, Device::Cpu));
        assert_eq!(dropout(&empty, 0.5, true).unwrap().size(), vec![0, 5]);
    }
}
