//! The tch layers of the combine ops
//! (their parameters, shapes and costs are `avc_lang::ops::combine`).

use super::{Layer, LowerOp};
use avc_lang::ops::arith::Scalar;
use avc_lang::ops::combine::*;
use avc_lang::shape::Shape;
use tch::{Tensor, nn};

impl LowerOp for Concat {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

impl Layer for Concat {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        super::memory::cat_in_order(xs, self.axis)
    }
}

impl LowerOp for Add {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

impl Layer for Add {
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let mut sum = match xs {
            [only] => only.shallow_clone(),
            _ => add_in_order(xs[0], xs[1])?,
        };
        for x in xs.iter().skip(2) {
            sum = sum.f_add(x)?;
        }
        match self.scalar {
            Scalar::Left(x) | Scalar::Right(x) => sum.f_add_scalar(x),
            Scalar::None => Ok(sum),
        }
    }
}

/// `a + b` in the memory order of whichever operand is contiguous.
///
/// A sum takes its first operand's memory order. An RNN's output is `[T, B, F]` memory seen
/// as `[B, T, F]`; with it first, a residual block's sum stayed in that order and the
/// pooling after it read across the grain (`final`'s first pooling: 3.5 ms forward against
/// 0.5 ms; a training step 143 -> 133 ms with the convolution's order, 2 threads).
/// `a + b` is `b + a` exactly, so the operands may swap.
pub(super) fn add_in_order(a: &Tensor, b: &Tensor) -> Result<Tensor, tch::TchError> {
    if !a.is_contiguous() && b.is_contiguous() { b.f_add(a) } else { a.f_add(b) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn a_sum_keeps_sequence_order_whichever_operand_has_it() {
        // An RNN-like `[T, B, F]` memory seen as `[B, T, F]`, and a contiguous sequence.
        let rnn = Tensor::randn([9, 4, 5], (Kind::Float, Device::Cpu)).transpose(0, 1);
        let seq = Tensor::randn([4, 9, 5], (Kind::Float, Device::Cpu));
        let extra = Tensor::randn([4, 9, 5], (Kind::Float, Device::Cpu));
        for inputs in [vec![&rnn, &seq], vec![&seq, &rnn], vec![&rnn, &seq, &extra]] {
            let expected = inputs[2..].iter().fold(inputs[0] + inputs[1], |sum, x| sum + *x);
            let got = Add { scalar: Scalar::None }.forward(&inputs, true).unwrap();
            assert!(got.equal(&expected), "the same sum, bit for bit");
            assert!(got.is_contiguous(), "in sequence order");
        }
    }
}
