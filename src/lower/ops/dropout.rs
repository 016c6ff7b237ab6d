//! Dropout, with its mask drawn in Rust from a key that libtorch's generator gives.
//!
//! On the CPU `bernoulli_(p)` draws one number from the generator per element and was the
//! slowest kernel of a training step of `final` after the LSTMs (10 ms for the 983,040
//! values of one `[128, 120, 64]` activation, 2 threads). libtorch's `random_` with 16-bit
//! lanes of each draw took 2.8 ms for a `[64, 120, 64]` activation, still a tenth of the
//! forward pass: its generator (a Mersenne twister behind a lock) runs on one thread. So a
//! mask takes one 64-bit key from libtorch's generator and its bits come from SplitMix64
//! over a counter (draw `i` is `mix(key + (i + 1) * gamma)`), four 16-bit lanes per draw:
//! a seeded run (`tch::manual_seed`) repeats its masks, whatever the thread count.
//!
//! The drop probability is `p` rounded to a multiple of 2^-16 (0.1 drops 6,554 of 65,536:
//! 0.100006); kept values are scaled by `1 / (1 - p)` as `torch.nn.Dropout` does.

use super::{Layer, LowerOp};
use crate::random::{GAMMA, finish as mix};
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
    if super::memory::memory_order(x).is_some() {
        flat.f_as_strided(size.as_slice(), stride.as_slice(), 0)
    } else {
        flat.f_view(size.as_slice())
    }
}

/// Lanes of 16 random bits per 64-bit draw.
const LANES: usize = 4;

/// `x.numel()` values of `x`'s kind, `1 / (1 - p)` where an element is kept and 0 where it
/// is dropped (probability `p`, to 2^-16).
fn kept_scaled(x: &Tensor, p: f64) -> Result<Tensor, tch::TchError> {
    let key = Tensor::f_empty([1], (Kind::Int64, Device::Cpu))?.f_random_()?.f_int64_value(&[0])? as u64;
    let n = x.numel();
    let kept = Tensor::f_empty([n as i64], (Kind::Float, Device::Cpu))?;
    if n > 0 {
        // SAFETY: `kept` was allocated just above: contiguous, `n` f32 values on the CPU,
        // referenced nowhere else while the slice lives. Filling it in place saves copying
        // a `Vec` in (0.4 ms for a `[64, 120, 64]` mask).
        let values = unsafe { std::slice::from_raw_parts_mut(kept.data_ptr().cast::<f32>(), n) };
        fill_mask(key, values, p);
    }
    if x.kind() == Kind::Float { Ok(kept) } else { kept.f_to_kind(x.kind()) }
}

/// `1 / (1 - p)` in `kept[j]` where lane `j` of the draws from `key` is at or above
/// `p * 65536` (rounded), else 0.
fn fill_mask(key: u64, kept: &mut [f32], p: f64) {
    let threshold = (p * 65536.0).round() as u64;
    let scale = (1.0 / (1.0 - p)) as f32;
    let lane = |bits: u64, k: usize| if (bits >> (16 * k)) & 0xFFFF >= threshold { scale } else { 0.0 };
    let mut chunks = kept.chunks_exact_mut(LANES);
    let mut counter = key;
    // Four lanes written at once: the loop vectorises (0.3 ms for 491,520 values, where
    // one lane at a time took 2.4 ms).
    for values in &mut chunks {
        counter = counter.wrapping_add(GAMMA);
        let bits = mix(counter);
        values.copy_from_slice(&[lane(bits, 0), lane(bits, 1), lane(bits, 2), lane(bits, 3)]);
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let bits = mix(counter.wrapping_add(GAMMA));
        for (k, v) in rest.iter_mut().enumerate() {
            *v = lane(bits, k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(key: u64, n: usize, p: f64) -> Vec<f32> {
        let mut kept = vec![0.0; n];
        fill_mask(key, &mut kept, p);
        kept
    }

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
        // A lane that is biased would show in the drop rate of every fourth element.
        tch::manual_seed(4);
        let x = Tensor::ones([4 * 100_000], (Kind::Float, Device::Cpu));
        let y = dropout(&x, 0.5, true).unwrap().view([-1, 4]);
        for lane in 0..4 {
            let dropped = y.select(1, lane).eq(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
            assert!((dropped - 0.5).abs() < 0.01, "lane {lane}: dropped {dropped}");
        }
    }

    #[test]
    fn other_float_kinds_get_a_mask_of_their_kind() {
        let x = Tensor::ones([1000], (Kind::Double, Device::Cpu));
        let y = dropout(&x, 0.5, true).unwrap();
        assert_eq!(y.kind(), Kind::Double);
        assert!(y.eq(0.0).logical_or(&y.eq(2.0)).all().int64_value(&[]) == 1);
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
    fn a_key_gives_one_mask_and_another_key_another() {
        let a = mask(7, 1001, 0.25);
        assert_eq!(a, mask(7, 1001, 0.25));
        assert_ne!(a, mask(8, 1001, 0.25));
        // A longer mask from the same key starts with the shorter one (draws by counter).
        assert_eq!(a[..], mask(7, 4000, 0.25)[..1001]);
        // p rounds to multiples of 2^-16: tiny p keeps everything at scale ~1.
        assert!(mask(1, 64, 1e-9).iter().all(|&v| v == 1.0));
    }

    #[test]
    fn neighbouring_elements_are_not_correlated() {
        // Lanes of one draw, and consecutive draws, must not drop together more often
        // than chance: for p = 0.5, each pair of neighbours is dropped together a quarter of
        // the time (400,000 pairs: standard error 0.0007).
        let m = mask(99, 400_001, 0.5);
        let both = m.windows(2).filter(|w| w[0] == 0.0 && w[1] == 0.0).count() as f64 / 400_000.0;
        assert!((both - 0.25).abs() < 0.004, "both dropped {both}");
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
