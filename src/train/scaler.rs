//! Dynamic loss scaling for fp16 training (PyTorch's `GradScaler`, with its defaults): the
//! loss is multiplied by a scale before the backward pass so small gradients do not
//! underflow fp16; the gradients are divided by it before clipping and the step; a step
//! whose gradients hold an inf or a NaN is skipped and the scale halved; after
//! `GROWTH_INTERVAL` good steps in a row the scale doubles. Its state is kept in the
//! checkpoint's `training.safetensors`, so a resumed run scales as the uninterrupted one.

use std::collections::HashMap;
use tch::{Kind, TchError, Tensor};

pub const INIT_SCALE: f64 = 65536.0;
pub const GROWTH_INTERVAL: i64 = 2000;
const SCALE: &str = "@scaler.scale";
const GOOD_STEPS: &str = "@scaler.good_steps";

/// The scaler of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct LossScaler {
    pub scale: f64,
    /// Good steps since the scale last changed.
    pub good_steps: i64,
}

impl Default for LossScaler {
    fn default() -> Self {
        LossScaler { scale: INIT_SCALE, good_steps: 0 }
    }
}

impl LossScaler {
    /// The loss to run backward from.
    pub fn scale(&self, loss: &Tensor) -> Result<Tensor, TchError> {
        loss.f_mul_scalar(self.scale)
    }

    /// After the backward pass: divides every gradient by the scale and says whether they
    /// are all finite (the step may run). When not, the gradients are left as they are (the
    /// step is skipped, the next zeroes them) and the scale is halved; after enough good
    /// steps it doubles.
    pub fn unscale(&mut self, vars: &[Tensor]) -> Result<bool, TchError> {
        let _guard = tch::no_grad_guard();
        let mut finite = true;
        for v in vars {
            let g = v.grad();
            if g.defined() && !bool::try_from(g.f_isfinite()?.f_all()?)? {
                finite = false;
                break;
            }
        }
        if !finite {
            self.scale /= 2.0;
            self.good_steps = 0;
            return Ok(false);
        }
        for v in vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.f_div_scalar_(self.scale)?;
            }
        }
        self.good_steps += 1;
        if self.good_steps >= GROWTH_INTERVAL {
            self.scale *= 2.0;
            self.good_steps = 0;
        }
        Ok(true)
    }

    /// The state as named tensors, for `training.safetensors`.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        vec![
            (SCALE.to_string(), Tensor::from_slice(&[self.scale]).to_kind(Kind::Double)),
            (GOOD_STEPS.to_string(), Tensor::from_slice(&[self.good_steps])),
        ]
    }

    /// The state a checkpoint holds, or a fresh scaler when it holds none (a run that
    /// trained in another precision before).
    pub fn restore(saved: &HashMap<String, Tensor>) -> LossScaler {
        let scale = saved.get(SCALE).and_then(|t| t.f_double_value(&[0]).ok());
        let good = saved.get(GOOD_STEPS).and_then(|t| t.f_int64_value(&[0]).ok());
        match (scale, good) {
            (Some(scale), Some(good_steps)) => LossScaler { scale, good_steps },
            _ => LossScaler::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn var_with_grad(grad: &[f32]) -> Tensor {
        let v = Tensor::zeros([grad.len() as i64], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        (&v * Tensor::from_slice(grad)).sum(Kind::Float).backward();
        v
    }

    #[test]
    fn an_overflow_skips_the_step_and_halves_the_scale_and_good_steps_grow_it() {
        let mut s = LossScaler { scale: 1024.0, good_steps: 0 };
        let v = var_with_grad(&[2048.0, -512.0]);
        assert!(s.unscale(std::slice::from_ref(&v)).unwrap());
        assert_eq!(Vec::<f32>::try_from(v.grad()).unwrap(), [2.0, -0.5]);
        assert_eq!(s.good_steps, 1);
        let bad = var_with_grad(&[f32::INFINITY, 1.0]);
        assert!(!s.unscale(&[v.shallow_clone(), bad]).unwrap());
        assert_eq!((s.scale, s.good_steps), (512.0, 0));
        let mut s = LossScaler { scale: 8.0, good_steps: GROWTH_INTERVAL - 1 };
        assert!(s.unscale(&[var_with_grad(&[1.0])]).unwrap());
        assert_eq!((s.scale, s.good_steps), (16.0, 0));
        // Kept and restored exactly.
        let saved: HashMap<String, Tensor> = s.tensors().into_iter().collect();
        assert_eq!(LossScaler::restore(&saved), s);
        assert_eq!(LossScaler::restore(&HashMap::new()), LossScaler::default());
    }
}
