//! Optimisers with their state in plain tensors, so a checkpoint can hold the state and a
//! resumed run continues exactly where it stopped (libtorch's optimisers, as tch exposes
//! them, keep their state out of reach).
//!
//! Adam and AdamW follow Kingma & Ba (bias-corrected moments); Adam's weight decay is an L2
//! term added to the gradient, AdamW's is decoupled (Loshchilov & Hutter). SGD has momentum
//! and Nesterov momentum as in PyTorch; RMSProp keeps a running mean of squared gradients.

use std::collections::HashMap;
use tch::{TchError, Tensor, nn::VarStore};

pub use avc_lang::settings::optim::{OptimizerConfig, OptimizerKind};

/// A tensor the optimiser trains, with its parameter group's settings (PyTorch's
/// `param_groups`, one per variable here).
pub struct Param {
    pub name: String,
    pub var: Tensor,
    /// Its learning rate is the schedule's times this.
    pub lr_mult: f64,
    /// Whether weight decay applies to it.
    pub decay: bool,
}

impl Param {
    /// A variable in the default group: the schedule's lr, weight decay as configured.
    pub fn plain(name: String, var: Tensor) -> Param {
        Param { name, var, lr_mult: 1.0, decay: true }
    }
}

/// An optimiser over trainable variables (sorted by name, so state files are stable).
pub struct Optimizer {
    cfg: OptimizerConfig,
    names: Vec<String>,
    vars: Vec<Tensor>,
    /// Per variable: its lr multiplier and whether it decays.
    lr_mults: Vec<f64>,
    decays: Vec<bool>,
    /// Per variable: Adam/AdamW (exp_avg, exp_avg_sq), SGD (momentum_buffer), RMSProp (square_avg).
    /// Adam's are views into `flat`.
    state: Vec<Vec<Tensor>>,
    /// Adam's moments of every variable, one after the other: when every variable has a
    /// gradient, a step updates them in a handful of kernels for the whole model instead of
    /// a handful per variable (`final` has forty variables; the step took 4 ms of a 200 ms
    /// batch, most of it fixed cost per kernel). Empty for other optimisers, or when the
    /// variables differ in kind or device.
    flat: Vec<Tensor>,
    steps: i64,
}

impl Optimizer {
    /// Every trainable variable of `vs` in the default group.
    pub fn new(vs: &VarStore, cfg: OptimizerConfig) -> Result<Optimizer, TchError> {
        let params = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).map(|(n, v)| Param::plain(n, v));
        Optimizer::with_params(params.collect(), cfg)
    }

    /// An optimiser over `params`, each with its group's lr multiplier and decay.
    pub fn with_params(mut params: Vec<Param>, cfg: OptimizerConfig) -> Result<Optimizer, TchError> {
        params.sort_by(|a, b| a.name.cmp(&b.name));
        let lr_mults = params.iter().map(|p| p.lr_mult).collect();
        let decays = params.iter().map(|p| p.decay).collect();
        let named: Vec<(String, Tensor)> = params.into_iter().map(|p| (p.name, p.var)).collect();
        let slots = match cfg.kind {
            OptimizerKind::Adam | OptimizerKind::AdamW => 2,
            OptimizerKind::Sgd | OptimizerKind::RmsProp => 1,
        };
        let adam = matches!(cfg.kind, OptimizerKind::Adam | OptimizerKind::AdamW);
        let (names, vars): (Vec<String>, Vec<Tensor>) = named.into_iter().unzip();
        let flat = if adam { flat_zeros(&vars, slots)? } else { Vec::new() };
        let state = if flat.is_empty() {
            vars.iter().map(|t| (0..slots).map(|_| t.f_zeros_like()).collect()).collect::<Result<Vec<_>, _>>()?
        } else {
            let mut offset = 0;
            let mut state = Vec::with_capacity(vars.len());
            for v in &vars {
                let n = v.numel() as i64;
                state.push(
                    flat.iter()
                        .map(|f| f.f_narrow(0, offset, n)?.f_view(v.size().as_slice()))
                        .collect::<Result<_, _>>()?,
                );
                offset += n;
            }
            state
        };
        Ok(Optimizer { cfg, names, vars, lr_mults, decays, state, flat, steps: 0 })
    }

    /// The variables it trains, in its order.
    pub fn vars(&self) -> &[Tensor] {
        &self.vars
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
        if !self.flat.is_empty() && self.vars.iter().all(|v| v.grad().defined()) {
            return self.adam_flat(lr);
        }
        let c = self.cfg.clone();
        let base_lr = lr;
        for (i, (v, state)) in self.vars.iter_mut().zip(&mut self.state).enumerate() {
            let g = v.grad();
            if !g.defined() {
                continue;
            }
            let lr = base_lr * self.lr_mults[i];
            let c = OptimizerConfig { weight_decay: if self.decays[i] { c.weight_decay } else { 0.0 }, ..c.clone() };
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
                    let step = adam_moments(&c, self.steps, lr, &mut m[0], &mut rest[0], &g)?;
                    let _ = v.f_sub_(&step)?;
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

    /// Adam or AdamW on every variable at once (all have gradients), through the flat moments.
    fn adam_flat(&mut self, lr: f64) -> Result<(), TchError> {
        let c = self.cfg.clone();
        let flat_of = |ts: &[Tensor]| -> Result<Tensor, TchError> {
            let parts = ts.iter().map(|t| t.f_reshape([-1])).collect::<Result<Vec<_>, _>>()?;
            Tensor::f_cat(&parts, 0)
        };
        let mut grads: Vec<Tensor> = self.vars.iter().map(Tensor::grad).collect();
        if c.weight_decay > 0.0 {
            for (i, v) in self.vars.iter_mut().enumerate() {
                if !self.decays[i] {
                    continue;
                }
                if c.kind == OptimizerKind::AdamW {
                    let _ = v.f_mul_scalar_(1.0 - lr * self.lr_mults[i] * c.weight_decay)?;
                } else {
                    grads[i] = grads[i].f_add(&v.f_mul_scalar(c.weight_decay)?)?;
                }
            }
        }
        let g = flat_of(&grads)?;
        let (m, rest) = self.flat.split_at_mut(1);
        let step = adam_moments(&c, self.steps, lr, &mut m[0], &mut rest[0], &g)?;
        let mut offset = 0;
        for (i, v) in self.vars.iter_mut().enumerate() {
            let n = v.numel() as i64;
            let part = step.f_narrow(0, offset, n)?.f_view(v.size().as_slice())?;
            let mult = self.lr_mults[i];
            if mult == 1.0 {
                let _ = v.f_sub_(&part)?;
            } else if mult != 0.0 {
                let _ = v.f_sub_(&part.f_mul_scalar(mult)?)?;
            }
            offset += n;
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

/// `slots` zeroed buffers as long as all of `vars` together, or none when they differ in
/// kind or device (or there are none).
fn flat_zeros(vars: &[Tensor], slots: usize) -> Result<Vec<Tensor>, TchError> {
    let Some(first) = vars.first() else { return Ok(Vec::new()) };
    let (kind, device) = (first.kind(), first.device());
    if vars.iter().any(|v| v.kind() != kind || v.device() != device) {
        return Ok(Vec::new());
    }
    let total: i64 = vars.iter().map(|v| v.numel() as i64).sum();
    (0..slots).map(|_| Tensor::f_zeros([total], (kind, device))).collect()
}

/// Updates Adam's moments `m` and `v` in place with gradient `g` at step `t` and returns
/// what to subtract from the variable: `lr / b1 * m / (sqrt(v / b2) + eps)`, computed as
/// `lr sqrt(b2) / b1 * m / (sqrt(v) + eps sqrt(b2))` (b1, b2 the bias corrections), which
/// takes six kernels where the formula as written takes twelve.
fn adam_moments(
    c: &OptimizerConfig,
    t: i64,
    lr: f64,
    m: &mut Tensor,
    v: &mut Tensor,
    g: &Tensor,
) -> Result<Tensor, TchError> {
    let _ = m.f_lerp_(g, 1.0 - c.beta1)?;
    let _ = v.f_lerp_(&g.f_square()?, 1.0 - c.beta2)?;
    let t = t.min(i64::from(i32::MAX)) as i32;
    let bias1 = 1.0 - c.beta1.powi(t);
    let root2 = (1.0 - c.beta2.powi(t)).sqrt();
    let denom = v.f_sqrt()?.f_add_scalar_(c.eps * root2)?;
    m.f_div(&denom)?.f_mul_scalar_(lr * root2 / bias1)
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, nn};

    fn adam(weight_decay: f64, kind: OptimizerKind) -> OptimizerConfig {
        OptimizerConfig {
            kind,
            weight_decay,
            momentum: 0.0,
            nesterov: false,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            alpha: 0.99,
        }
    }

    /// Adam as Kingma & Ba write it, in f64 on one element: the reference for both paths.
    fn reference(cfg: &OptimizerConfig, mut p: f64, grads: &[f64], lr: f64) -> f64 {
        let (mut m, mut v) = (0.0, 0.0);
        for (t, &g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            let g = if cfg.kind == OptimizerKind::Adam { g + cfg.weight_decay * p } else { g };
            if cfg.kind == OptimizerKind::AdamW {
                p *= 1.0 - lr * cfg.weight_decay;
            }
            m = cfg.beta1 * m + (1.0 - cfg.beta1) * g;
            v = cfg.beta2 * v + (1.0 - cfg.beta2) * g * g;
            let (mh, vh) = (m / (1.0 - cfg.beta1.powi(t)), v / (1.0 - cfg.beta2.powi(t)));
            p -= lr * mh / (vh.sqrt() + cfg.eps);
        }
        p
    }

    /// Three steps on two variables with gradients `scale * c` (a different `c` per element);
    /// with `skip_b`, variable `b` gets no gradient (the per-variable path) and must not move.
    fn run(cfg: OptimizerConfig, skip_b: bool) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let vs = nn::VarStore::new(Device::Cpu);
        let a0 = [0.5f32, -1.0, 2.0, 0.25, -0.75, 1.5];
        let b0 = [1.0f32, -2.0, 0.1];
        let a = vs.root().var_copy("a", &Tensor::from_slice(&a0).view([2, 3]));
        let b = vs.root().var_copy("b", &Tensor::from_slice(&b0));
        let ca = Tensor::from_slice(&[0.3f32, -0.2, 1.0, 0.01, -4.0, 0.5]).view([2, 3]);
        let cb = Tensor::from_slice(&[2.0f32, -0.5, 0.125]);
        let mut opt = Optimizer::new(&vs, cfg).unwrap();
        let scales = [1.0, -0.5, 2.0];
        for s in scales {
            opt.zero_grad();
            let mut loss = (&a * &ca).sum(Kind::Float) * s;
            if !skip_b {
                loss += (&b * &cb).sum(Kind::Float) * s;
            }
            loss.backward();
            opt.step(0.01).unwrap();
        }
        let values = |t: &Tensor| Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap();
        let expected_a = a0
            .iter()
            .zip(values(&ca))
            .map(|(&p, c)| reference(&opt.cfg, f64::from(p), &scales.map(|s| s * c), 0.01))
            .collect();
        (values(&a), expected_a, values(&b))
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn adam_matches_the_paper_on_every_element_whole_model_at_once() {
        for cfg in [adam(0.0, OptimizerKind::Adam), adam(0.1, OptimizerKind::Adam), adam(0.1, OptimizerKind::AdamW)] {
            let (a, want, _) = run(cfg, false);
            assert_close(&a, &want);
        }
    }

    #[test]
    fn a_variable_without_gradient_stays_put_and_the_others_follow_adam() {
        for cfg in [adam(0.0, OptimizerKind::Adam), adam(0.1, OptimizerKind::AdamW)] {
            let (a, want, b) = run(cfg, true);
            assert_close(&a, &want);
            assert_close(&b, &[1.0, -2.0, 0.1].map(|x: f32| f64::from(x)));
        }
    }

    #[test]
    fn groups_scale_the_learning_rate_and_spare_weights_from_decay() {
        // The same three steps as `run`, with `a` in a group of its own; `b` is the default.
        for (kind, skip_b) in
            [(OptimizerKind::AdamW, false), (OptimizerKind::Adam, false), (OptimizerKind::AdamW, true)]
        {
            let cfg = adam(0.1, kind);
            let vs = nn::VarStore::new(Device::Cpu);
            let a = vs.root().var_copy("a", &Tensor::from_slice(&[0.5f32, -1.0, 2.0]));
            let b = vs.root().var_copy("b", &Tensor::from_slice(&[1.0f32, -2.0]));
            let ca = [0.3f64, -0.2, 1.0];
            let params = vec![
                Param { name: "a".into(), var: a.shallow_clone(), lr_mult: 0.5, decay: false },
                Param::plain("b".into(), b.shallow_clone()),
            ];
            let mut opt = Optimizer::with_params(params, cfg.clone()).unwrap();
            let scales = [1.0, -0.5, 2.0];
            for s in scales {
                opt.zero_grad();
                let mut loss = (&a * Tensor::from_slice(&ca).to_kind(Kind::Float)).sum(Kind::Float) * s;
                if !skip_b {
                    loss += (&b * 3.0).sum(Kind::Float) * s;
                }
                loss.backward();
                opt.step(0.01).unwrap();
            }
            let undecayed = OptimizerConfig { weight_decay: 0.0, ..cfg.clone() };
            let want: Vec<f64> = [0.5, -1.0, 2.0]
                .iter()
                .zip(ca)
                .map(|(&p, c)| reference(&undecayed, p, &scales.map(|s| s * c), 0.005))
                .collect();
            let got = Vec::<f64>::try_from(a.to_kind(Kind::Double)).unwrap();
            assert_close(&got, &want);
            if !skip_b {
                let want_b: Vec<f64> =
                    [1.0, -2.0].iter().map(|&p| reference(&cfg, p, &scales.map(|s| s * 3.0), 0.01)).collect();
                assert_close(&Vec::<f64>::try_from(b.to_kind(Kind::Double)).unwrap(), &want_b);
            }
        }
    }

    #[test]
    fn adam_state_tensors_are_the_flat_moments_per_variable() {
        let vs = nn::VarStore::new(Device::Cpu);
        let a = vs.root().var_copy("a", &Tensor::from_slice(&[1.0f32, 2.0]));
        let _b = vs.root().var_copy("b", &Tensor::from_slice(&[3.0f32]));
        let mut opt = Optimizer::new(&vs, adam(0.0, OptimizerKind::Adam)).unwrap();
        (&a * 2.0).sum(Kind::Float).backward();
        opt.step(0.1).unwrap();
        let state: HashMap<String, Tensor> = opt.state_tensors().into_iter().collect();
        assert_eq!(state["exp_avg.a"].size(), vec![2]);
        assert!((state["exp_avg.a"].double_value(&[1]) - 0.2).abs() < 1e-6);
        // b had no gradient: the per-variable path ran, and its moments stayed zero.
        assert_eq!(state["exp_avg.b"].double_value(&[0]), 0.0);
        // Loading writes through the views into the flat moments the next step reads.
        let mut fresh = Optimizer::new(&vs, adam(0.0, OptimizerKind::Adam)).unwrap();
        fresh.load_state(&state).unwrap();
        assert!((fresh.flat[0].double_value(&[1]) - 0.2).abs() < 1e-6);
    }
}
