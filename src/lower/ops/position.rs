//! The tch layers of the positional encodings
//! (their parameters, shapes and costs are `avc_lang::ops::position`).

use super::{Layer, LowerOp};
use avc_lang::ops::position::*;
use avc_lang::shape::{Dim, Shape};
use tch::{Kind, Tensor, nn};

impl LowerOp for SinusoidalPosition {
    fn lower(&self, _vs: &nn::Path, _ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        Ok(Box::new(self.clone()))
    }
}

impl Layer for SinusoidalPosition {
    /// The table is made for the batch's length, on its device, each call: T * F sines,
    /// nothing beside what an element-wise op costs.
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let x = xs[0];
        let (_, t, f) = x.size3()?;
        xs[0].f_add(&sinusoid_table(t, f, self.base, x.device())?.f_to_kind(x.kind())?)
    }
}

/// `PE[t, 2i] = sin(t * w_i)`, `PE[t, 2i+1] = cos(t * w_i)`, `w_i = base^(-2i/F)`: `[T, F]`,
/// computed in double precision and rounded once.
pub(crate) fn sinusoid_table(t: i64, f: i64, base: f64, device: tch::Device) -> Result<Tensor, tch::TchError> {
    let options = (Kind::Double, device);
    let steps = Tensor::f_arange(t, options)?.f_unsqueeze(1)?;
    let rates = Tensor::f_arange_start_step(0, f, 2, options)?.f_mul_scalar(-base.ln() / f as f64)?.f_exp()?;
    let angles = steps.f_mul(&rates.f_unsqueeze(0)?)?;
    // [T, F/2, 2] (sine, cosine) interleaved into [T, F].
    Tensor::f_stack(&[angles.f_sin()?, angles.f_cos()?], 2)?.f_reshape([t, f])
}

impl LowerOp for LearnedPosition {
    fn lower(&self, vs: &nn::Path, ins: &[Shape]) -> Result<Box<dyn Layer>, tch::TchError> {
        let f = ins[0].last().and_then(Dim::fixed).unwrap_or(1);
        let weight = vs.f_var("weight", &[self.max_len, f], nn::Init::Randn { mean: 0.0, stdev: 0.02 })?;
        Ok(Box::new(LearnedPositionLayer { weight, max_len: self.max_len }))
    }
}

struct LearnedPositionLayer {
    weight: Tensor,
    max_len: i64,
}

impl Layer for LearnedPositionLayer {
    /// The table's first T rows added to each sample; a batch longer than the table (only
    /// possible for a symbolic length, which the checker cannot bound) is an error naming
    /// both lengths.
    fn forward(&self, xs: &[&Tensor], _train: bool) -> Result<Tensor, tch::TchError> {
        let t = xs[0].size3()?.1;
        if t > self.max_len {
            return Err(tch::TchError::Shape(format!(
                "learned_position: a sequence of {t} steps, but the table has max_len = {} rows; raise \
                 `max_len` or crop the data to at most that many steps",
                self.max_len
            )));
        }
        xs[0].f_add(&self.weight.f_narrow(0, 0, t)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn a_sequence_longer_than_the_table_is_an_error_naming_both_lengths() {
        let vs = nn::VarStore::new(Device::Cpu);
        let symbolic = Shape::batched([Dim::Sym("T".into()), Dim::Fixed(3)]);
        let layer = LearnedPosition { max_len: 4 }.lower(&vs.root(), &[symbolic]).unwrap();
        let fits = Tensor::zeros([2, 4, 3], (Kind::Float, Device::Cpu));
        assert_eq!(layer.forward(&[&fits], true).unwrap().size(), vec![2, 4, 3]);
        let long = Tensor::zeros([2, 6, 3], (Kind::Float, Device::Cpu));
        let message = layer.forward(&[&long], false).expect_err("refused").to_string();
        assert!(message.contains("6 steps") && message.contains("max_len = 4"), "{message}");
    }

    #[test]
    fn the_sinusoid_table_starts_with_sine_zero_and_cosine_one() {
        let table = sinusoid_table(3, 4, 10000.0, Device::Cpu).unwrap();
        let first: Vec<f64> = table.get(0).try_into().unwrap();
        assert_eq!(first, vec![0.0, 1.0, 0.0, 1.0]);
        // Step 1, pair 0: sin(1), cos(1); pair 1: the rate 10000^(-2/4) = 0.01.
        let second: Vec<f64> = table.get(1).try_into().unwrap();
        let expected = [1f64.sin(), 1f64.cos(), 0.01f64.sin(), 0.01f64.cos()];
        for (got, want) in second.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{second:?}");
        }
    }
}
