//! Optimisers with their state in plain tensors, so a checkpoint can hold the state and a
//! resumed run continues exactly where it stopped (libtorch's optimisers, as tch exposes
//! them, keep their state out of reach).
//!
//! Adam and AdamW follow Kingma & Ba (bias-corrected moments); Adam's weight decay is an L2
//! term added to the gradient, AdamW's is decoupled (Loshchilov & Hutter). SGD has momentum
//! and Nesterov momentum as in PyTorch; RMSProp keeps a running mean of squared gradients.

use std::collections::HashMap;
use tch::{TchError, Tensor, nn::VarStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    AdamW,
    Sgd,
    RmsProp,
}

impl OptimizerKind {
    pub const ALL: [(&'static str, OptimizerKind); 4] = [
        ("adam", OptimizerKind::Adam),
        ("adamw", OptimizerKind::AdamW),
        ("sgd", OptimizerKind::Sgd),
        ("rmsprop", OptimizerKind::RmsProp),
    ];

    pub fn parse(word: &str) -> Option<OptimizerKind> {
        Self::ALL.iter().find(|(w, _)| *w == word).map(|(_, k)| *k)
    }
}

/// Hyper-parameters other than the learning rate (which the schedule sets per epoch).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub weight_decay: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// RMSProp's smoothing constant.
    pub alpha: f64,
}

/// An optimiser over a VarStore's trainable variables (sorted by name, so state files are
/// stable).
pub struct Optimizer {
    cfg: OptimizerConfig,
    names: Vec<String>,
    vars: Vec<Tensor>,
    /// Per variable: Adam/AdamW (exp_avg, exp_avg_sq), SGD (momentum_buffer), RMSProp (square_avg).
    state: Vec<Vec<Tensor>>,
    steps: i64,
}

impl Optimizer {
    pub fn new(vs: &VarStore, cfg: OptimizerConfig) -> Result<Optimizer, TchError> {
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = match cfg.kind {
            OptimizerKind::Adam | OptimizerKind::AdamW => 2,
            OptimizerKind::Sgd | OptimizerKind::RmsProp => 1,
        };
        let state = named
            .iter()
            .map(|(_, t)| (0..slots).map(|_| t.f_zeros_like()).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        let (names, vars) = named.into_iter().unzip();
        Ok(Optimizer { cfg, names, vars, state, steps: 0 })
    }

    pub fn zero_grad(&mut self) {
        for v in &mut self.vars {
            v.zero_grad();
        }
    }

    /// Scales all gradients so their joint L2 norm is at most `max`; returns the norm before.
    pub fn clip_grad_norm(&mut self, max: f64) -> Result<f64, TchError> {
        let _guard = tch::no_grad_guard();
        let mut total = 0.0;
        for v in &self.vars {
            let g = v.grad();
            if g.defined() {
                total += g.f_square()?.f_sum(None)?.f_double_value(&[])?;
            }
        }
        let norm = total.sqrt();
        if norm > max {
            let scale = max / (norm + 1e-6);
            for v in &self.vars {
                let mut g = v.grad();
                if g.defined() {
                    let _ = g.f_mul_scalar_(scale)?;
                }
            }
        }
        Ok(norm)
    }

    /// Clamps every gradient element into `[-max, max]`.
    pub fn clip_grad_value(&mut self, max: f64) -> Result<(), TchError> {
        let _guard = tch::no_grad_guard();
        for v in &self.vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.f_clamp_(-max, max)?;
            }
        }
        Ok(())
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) -> Result<(), TchError> {
        let _guard = tch::no_grad_guard();
        self.steps += 1;
        let c = self.cfg.clone();
        for (v, state) in self.vars.iter_mut().zip(&mut self.state) {
            let g = v.grad();
            if !g.defined() {
                continue;
            }
            let g = if c.weight_decay > 0.0 && c.kind != OptimizerKind::AdamW {
                g.f_add(&v.f_mul_scalar(c.weight_decay)?)?
            } else {
                g
            };
            match c.kind {
                OptimizerKind::Adam | OptimizerKind::AdamW => {
                    if c.kind == OptimizerKind::AdamW && c.weight_decay > 0.0 {
                        let _ = v.f_mul_scalar_(1.0 - lr * c.weight_decay)?;
                    }
                    let (m, rest) = state.split_at_mut(1);
                    let _ = m[0].f_mul_scalar_(c.beta1)?.f_add_(&g.f_mul_scalar(1.0 - c.beta1)?)?;
                    let _ = rest[0].f_mul_scalar_(c.beta2)?.f_add_(&g.f_square()?.f_mul_scalar(1.0 - c.beta2)?)?;
                    let t = self.steps as i32;
                    let bias1 = 1.0 - c.beta1.powi(t);
                    let bias2 = 1.0 - c.beta2.powi(t);
                    let denom = rest[0].f_div_scalar(bias2)?.f_sqrt()?.f_add_scalar(c.eps)?;
                    let update = m[0].f_div(&denom)?.f_mul_scalar(lr / bias1)?;
                    let _ = v.f_sub_(&update)?;
                }
                OptimizerKind::Sgd => {
                    let d = if c.momentum > 0.0 {
                        let buf = &mut state[0];
                        if self.steps == 1 {
                            buf.f_copy_(&g)?;
                        } else {
                            let _ = buf.f_mul_scalar_(c.momentum)?.f_add_(&g)?;
                        }
                        if c.nesterov { g.f_add(&buf.f_mul_scalar(c.momentum)?)? } else { buf.shallow_clone() }
                    } else {
                        g
                    };
                    let _ = v.f_sub_(&d.f_mul_scalar(lr)?)?;
                }
                OptimizerKind::RmsProp => {
                    let sq = &mut state[0];
                    let _ = sq.f_mul_scalar_(c.alpha)?.f_add_(&g.f_square()?.f_mul_scalar(1.0 - c.alpha)?)?;
                    let denom = sq.f_sqrt()?.f_add_scalar(c.eps)?;
                    let _ = v.f_sub_(&g.f_div(&denom)?.f_mul_scalar(lr)?)?;
                }
            }
        }
        Ok(())
    }

    /// The state as named tensors (`exp_avg.<var>`, ..., and `step`), for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let slot_names: &[&str] = match self.cfg.kind {
            OptimizerKind::Adam | OptimizerKind::AdamW => &["exp_avg", "exp_avg_sq"],
            OptimizerKind::Sgd => &["momentum_buffer"],
            OptimizerKind::RmsProp => &["square_avg"],
        };
        let mut out = vec![("step".to_string(), Tensor::from_slice(&[self.steps]))];
        for (name, state) in self.names.iter().zip(&self.state) {
            for (slot, t) in slot_names.iter().zip(state) {
                out.push((format!("{slot}.{name}"), t.shallow_clone()));
            }
        }
        out
    }

    /// Restores state written by [`Optimizer::state_tensors`]; names must match exactly.
    pub fn load_state(&mut self, named: &HashMap<String, Tensor>) -> Result<(), OptimStateError> {
        let expected = self.state_tensors();
        let mut problems = Vec::new();
        for (name, current) in &expected {
            match named.get(name) {
                None => problems.push(format!("missing `{name}`")),
                Some(t) if t.size() != current.size() => {
                    problems.push(format!("`{name}` has shape {:?}, expected {:?}", t.size(), current.size()))
                }
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            return Err(OptimStateError::Mismatch(problems));
        }
        self.steps = named.get("step").and_then(|t| t.f_int64_value(&[0]).ok()).unwrap_or(0);
        let _guard = tch::no_grad_guard();
        for (name, mut current) in expected.into_iter().skip(1) {
            if let Some(saved) = named.get(&name) {
                current.f_copy_(saved).map_err(|error| OptimStateError::Copy { name: name.clone(), error })?;
            }
        }
        Ok(())
    }
}

/// Why an optimiser's saved state does not load.
#[derive(Debug, thiserror::Error)]
pub enum OptimStateError {
    /// Each tensor missing from the file or of another shape, in words.
    #[error("{}", .0.join("; "))]
    Mismatch(Vec<String>),
    #[error("`{name}`: {error}")]
    Copy { name: String, error: tch::TchError },
}
