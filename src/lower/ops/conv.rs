//! The tch layers of the conv ops (their parameters, shapes and costs are `avc_lang::ops::conv`).

use super::{Layer, LowerOp, bias_init, xavier};
use avc_lang::ops::conv::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Conv1d {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let (fan_in, k) = (self.in_per_group(ins).max(1) * self.kernel, self.kernel);
        let weight = vs.f_var("weight", &[self.out, self.in_per_group(ins), k], xavier(fan_in, self.out * k))?;
        let bias = if self.bias { Some(vs.f_var("bias", &[self.out], bias_init(fan_in))?) } else { None };
        let (before, after) = self.padding.sides(self.kernel, self.dilation);
        Ok(Box::new(Conv1dLayer {
            weight,
            bias,
            stride: self.stride,
            sides: (before, after),
            dilation: self.dilation,
            groups: self.groups,
        }))
    }
}

struct Conv1dLayer {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    /// Zero steps before and after the sequence.
    sides: (i64, i64),
    dilation: i64,
    groups: i64,
}

impl Layer for Conv1dLayer {
    /// A `[B, T, F]` sequence is, seen as `[B, F, 1, T]`, an image in channels-last memory
    /// order, which oneDNN convolves as it lies and answers in the same order: the output
    /// comes back as a contiguous `[B, T, out]` sequence, with no transpose copied on either
    /// side. As a 1-d convolution of the transposed view it came back as `[B, out, T]`
    /// memory, which a batch norm, an activation and a residual add then read across the
    /// grain: `final`'s first conv block took 19.4 ms forward and backward for 128 pairs,
    /// this way 11.5 ms (2 threads). An RNN's output is `[T, B, F]` memory seen as
    /// `[B, T, F]`; it is copied into sequence order first (included in those 11.5 ms).
    /// Unequal sides (`causal`, `same` with an odd total) are padded on the sequence
    /// itself, which stays in sequence order.
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let (before, after) = self.sides;
        let (x, padding) = if before == after {
            (xs[0].f_contiguous()?, before)
        } else {
            (xs[0].f_constant_pad_nd([0, 0, before, after])?, 0)
        };
        let image = x.f_transpose(1, 2)?.f_unsqueeze(2)?;
        let y = image.f_conv2d(
            &self.weight.f_unsqueeze(2)?,
            self.bias.as_ref(),
            [1, self.stride],
            [0, padding],
            [1, self.dilation],
            self.groups,
        )?;
        y.f_squeeze_dim(2)?.f_transpose(1, 2)
    }

    /// A length-keeping convolution of a padded batch: it must not read a clip's padded
    /// steps, so they are zeroed first, which is what the convolution's own padding puts
    /// past a clip's end when the clip runs alone.
    fn masked_input(&self) -> Option<usize> {
        Some(0)
    }

    fn forward_masked(&self, xs: &[&Tensor], valid: &Tensor, train: bool) -> Result<Tensor, tch::TchError> {
        let zeroed = xs[0].f_mul(&super::valid_like(valid, xs[0])?.f_to_kind(xs[0].kind())?)?;
        self.forward(&[&zeroed], train)
    }
}

/// Lowers a pooling op over time to itself, running `$pool(x, kernel, stride)` on
/// PyTorch's `[B, F, T]` layout; in evaluation, non-overlapping windows are a reduction
/// over a view (`$reduce`, see [`windows`]).
macro_rules! pool1d_layer {
    ($ty:ident, $pool:path, $reduce:path) => {
        impl LowerOp for $ty {
            fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
                Ok(Box::new(self.clone()))
            }
        }

        impl Layer for $ty {
            fn forward(&self, xs: &[&Tensor], train: bool) -> Result<Tensor, tch::TchError> {
                if !train && self.stride == self.kernel {
                    return $reduce(&windows(xs[0], self.kernel)?);
                }
                $pool(&xs[0].f_transpose(1, 2)?, self.kernel, self.stride)?.f_transpose(1, 2)
            }
        }
    };
}

pool1d_layer!(MaxPool1d, max_pool1d, max_over_windows);
pool1d_layer!(AvgPool1d, avg_pool1d, mean_over_windows);

/// `[B, T, F]` as `[B, T / k, k, F]` windows of `k` steps (a tail shorter than `k` dropped,
/// as the pooling ops drop it): no copy, and reducing axis 2 pools each window. Three
/// times faster than the pooling kernel on the transposed layout for `final`'s
/// `[256, 120, 64]` (0.37 ms against 1.14 ms). Only without gradients: where a window
/// holds equal maxima, `amax` shares the gradient among them and `max_pool1d` gives it to
/// one, so training keeps the pooling kernel.
fn windows(x: &Tensor, k: i64) -> Result<Tensor, tch::TchError> {
    let (b, t, f) = x.size3()?;
    let whole = t / k;
    x.f_narrow(1, 0, whole * k)?.f_reshape([b, whole, k, f])
}

fn max_over_windows(w: &Tensor) -> Result<Tensor, tch::TchError> {
    w.f_amax([2], false)
}

fn mean_over_windows(w: &Tensor) -> Result<Tensor, tch::TchError> {
    w.f_mean_dim([2i64].as_slice(), false, None)
}

/// `[B, F, T]` max pooling over time, PyTorch's layout for `pool1d_layer!`.
fn max_pool1d(x: &Tensor, kernel: i64, stride: i64) -> Result<Tensor, tch::TchError> {
    x.f_max_pool1d([kernel], [stride], [0], [1], false)
}

/// `[B, F, T]` average pooling over time; without padding every window is full.
fn avg_pool1d(x: &Tensor, kernel: i64, stride: i64) -> Result<Tensor, tch::TchError> {
    x.f_avg_pool1d([kernel], [stride], [0], false, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn a_sequence_convolves_as_conv1d_does_and_comes_back_contiguous() {
        for (stride, padding, dilation) in [(1, 1, 1), (2, 0, 1), (1, 2, 2), (3, 1, 2)] {
            let layer = Conv1dLayer {
                weight: Tensor::randn([5, 4, 3], (Kind::Float, Device::Cpu)),
                bias: Some(Tensor::randn([5], (Kind::Float, Device::Cpu))),
                stride,
                sides: (padding, padding),
                dilation,
                groups: 1,
            };
            let x = Tensor::randn([2, 13, 4], (Kind::Float, Device::Cpu));
            let expected = x
                .transpose(1, 2)
                .conv1d(&layer.weight, layer.bias.as_ref(), [stride], [padding], [dilation], 1)
                .transpose(1, 2);
            let got = layer.forward(&[&x], true).unwrap();
            assert_eq!(got.size(), expected.size());
            assert!(
                got.allclose(&expected, 1e-5, 1e-5, false),
                "stride {stride} padding {padding} dilation {dilation}"
            );
            assert!(got.is_contiguous(), "a contiguous sequence in, a contiguous sequence out");
            // A sequence that is itself a transposed view convolves the same.
            let view = x.transpose(1, 2).contiguous().transpose(1, 2);
            assert!(layer.forward(&[&view], false).unwrap().allclose(&expected, 1e-5, 1e-5, false));
        }
    }

    #[test]
    fn evaluation_pools_windows_as_the_pooling_kernels_do() {
        // 11 steps in windows of 3: the tail of 2 is dropped by both.
        let x = Tensor::randn([2, 11, 4], (Kind::Float, Device::Cpu));
        let max = MaxPool1d { kernel: 3, stride: 3 };
        let avg = AvgPool1d { kernel: 3, stride: 3 };
        for (layer, pooled) in [
            (&max as &dyn Layer, max_pool1d(&x.transpose(1, 2), 3, 3).unwrap().transpose(1, 2)),
            (&avg as &dyn Layer, avg_pool1d(&x.transpose(1, 2), 3, 3).unwrap().transpose(1, 2)),
        ] {
            let got = layer.forward(&[&x], false).unwrap();
            assert_eq!(got.size(), vec![2, 3, 4]);
            assert!(got.allclose(&pooled, 1e-6, 1e-6, false));
            assert!(layer.forward(&[&x], true).unwrap().allclose(&pooled, 1e-6, 1e-6, false));
        }
    }
}
