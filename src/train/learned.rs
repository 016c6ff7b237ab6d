//! What training keeps besides the model's weights: CLIP's learned temperature, and the
//! exponential moving average of the weights (`train.ema`). They live in the checkpoint's
//! `training.safetensors` (so a resumed run continues exactly), never as extra names in
//! `weights.safetensors`, so evaluation, export and `--init-from` see only the model. With
//! an average, `weights.safetensors` holds the average (what validation, `best`, `avc eval`
//! and `avc export` use) and `training.safetensors` the live weights training goes on from.

use super::loss::{LossKind, LossSettings, MAX_LOGIT_SCALE};
use super::scaler::LossScaler;
use crate::lower::Model;
use avc_lang::settings::{Precision, TrainConfig};
use std::collections::HashMap;
use tch::{TchError, Tensor};

/// The name of the learned log logit scale in the optimiser's state and the checkpoint. A
/// node name cannot start with `@`, so it never meets a weight's name.
pub const LOG_SCALE: &str = "@loss.log_scale";

/// The prefix of the live weights' names in `training.safetensors` when averaging.
pub const LIVE: &str = "@live.";

/// The training-only tensors of a run.
pub struct TrainingVars {
    /// `ln(1 / temperature)`, when InfoNCE's temperature is learned.
    log_scale: Option<Tensor>,
    ema: Option<Ema>,
    /// fp16's dynamic loss scaling.
    scaler: Option<LossScaler>,
}

/// An exponential moving average of every floating-point variable of a model (buffers such
/// as batch-norm statistics included, as timm's `ModelEmaV2`): after each step
/// `average = decay * average + (1 - decay) * weight`, starting from the initial weights.
struct Ema {
    decay: f64,
    /// (name, the model's variable, its average), by name.
    vars: Vec<(String, Tensor, Tensor)>,
}

impl Ema {
    fn new(vs: &tch::nn::VarStore, decay: f64) -> Result<Ema, TchError> {
        let _guard = tch::no_grad_guard();
        let mut vars: Vec<(String, Tensor, Tensor)> = Vec::new();
        for (name, var) in vs.variables() {
            if var.is_floating_point() {
                let average = var.f_detach_copy()?;
                vars.push((name, var, average));
            }
        }
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Ema { decay, vars })
    }

    fn update(&mut self) -> Result<(), TchError> {
        let _guard = tch::no_grad_guard();
        for (_, var, average) in &mut self.vars {
            let _ = average.f_lerp_(var, 1.0 - self.decay)?;
        }
        Ok(())
    }

    /// Exchanges the model's values with the averages (twice: back as they were).
    fn swap(&mut self) -> Result<(), TchError> {
        let _guard = tch::no_grad_guard();
        for (_, var, average) in &mut self.vars {
            let live = var.f_detach_copy()?;
            var.f_copy_(average)?;
            average.f_copy_(&live)?;
        }
        Ok(())
    }
}

impl TrainingVars {
    /// The tensors `settings` asks for: a log scale when the temperature is learned and some
    /// output trains with InfoNCE (`weights` says which outputs train).
    pub fn new(model: &Model, cfg: &TrainConfig, trains: impl Fn(&str) -> bool) -> Result<TrainingVars, TchError> {
        let (settings, ema) = (&cfg.loss, cfg.ema);
        let infonce = model.outputs.iter().any(|o| trains(&o.name) && settings.for_output(o.kind) == LossKind::InfoNce);
        let log_scale = if settings.learn_temperature && infonce {
            let start = (1.0 / settings.temperature).ln().min(MAX_LOGIT_SCALE.ln());
            let t = Tensor::f_from_slice(&[start as f32])?.f_reshape([])?.f_to(model.device())?;
            Some(t.set_requires_grad(true))
        } else {
            None
        };
        let ema = if ema > 0.0 { Some(Ema::new(&model.vs, ema)?) } else { None };
        let scaler = (cfg.precision == Precision::Fp16).then(LossScaler::default);
        Ok(TrainingVars { log_scale, ema, scaler })
    }

    /// fp16's loss scaler, when training in fp16.
    pub fn scaler(&self) -> Option<&LossScaler> {
        self.scaler.as_ref()
    }

    /// The loss to run backward from: scaled when training in fp16.
    pub fn scale_loss(&self, loss: &Tensor) -> Result<Tensor, TchError> {
        match &self.scaler {
            Some(s) => s.scale(loss),
            None => Ok(loss.shallow_clone()),
        }
    }

    /// Before the optimiser's step: with a scaler, unscales `vars`' gradients and says
    /// whether the step may run (they are finite); otherwise true.
    pub fn unscale(&mut self, vars: &[Tensor]) -> Result<bool, TchError> {
        match &mut self.scaler {
            Some(s) => s.unscale(vars),
            None => Ok(true),
        }
    }

    /// Whether the weights are averaged.
    pub fn averages(&self) -> bool {
        self.ema.is_some()
    }

    /// Runs `f` with the averaged weights in the model (validation), then puts the live
    /// ones back; without an average, just runs `f`.
    pub fn with_average<R, E: From<TchError>>(&mut self, f: impl FnOnce() -> Result<R, E>) -> Result<R, E> {
        let Some(ema) = &mut self.ema else { return f() };
        ema.swap()?;
        let out = f();
        ema.swap()?;
        out
    }

    /// The weights a checkpoint's `weights.safetensors` holds instead of the live ones: the
    /// averages, under the model's names.
    pub fn averaged_weights(&self) -> Option<Vec<(String, Tensor)>> {
        let ema = self.ema.as_ref()?;
        Some(ema.vars.iter().map(|(n, _, a)| (n.clone(), a.shallow_clone())).collect())
    }

    /// The log scale the loss multiplies InfoNCE's similarities by, when learned.
    pub fn log_scale(&self) -> Option<&Tensor> {
        self.log_scale.as_ref()
    }

    /// The temperature now, when learned (for metrics.jsonl and validation).
    pub fn temperature(&self) -> Option<f64> {
        let s = self.log_scale.as_ref()?.f_double_value(&[]).ok()?;
        Some((-s).exp())
    }

    /// `settings` with the learned temperature's current value, so validation losses mean
    /// what the training loss means.
    pub fn settings(&self, settings: &LossSettings) -> LossSettings {
        match self.temperature() {
            Some(temperature) => LossSettings { temperature, ..*settings },
            None => *settings,
        }
    }

    /// The tensors the optimiser trains besides the model's.
    pub fn trained(&self) -> Vec<(String, Tensor)> {
        self.log_scale.iter().map(|t| (LOG_SCALE.to_string(), t.shallow_clone())).collect()
    }

    /// What `training.safetensors` holds: the trained tensors and, when averaging, the
    /// live weights (under [`LIVE`]).
    pub fn checkpoint_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = self.trained();
        if let Some(s) = &self.scaler {
            out.extend(s.tensors());
        }
        if let Some(ema) = &self.ema {
            out.extend(ema.vars.iter().map(|(n, v, _)| (format!("{LIVE}{n}"), v.shallow_clone())));
        }
        out
    }

    /// After each optimiser step: CLIP clamps the log scale into [0, ln 100], so the
    /// temperature stays within [0.01, 1]; the average takes the new weights in.
    pub fn after_step(&mut self) -> Result<(), TchError> {
        if let Some(t) = &mut self.log_scale {
            let _guard = tch::no_grad_guard();
            let _ = t.f_clamp_(0.0, MAX_LOGIT_SCALE.ln())?;
        }
        if let Some(ema) = &mut self.ema {
            ema.update()?;
        }
        Ok(())
    }

    /// Restores a checkpoint: the model's variables already hold its `weights.safetensors`
    /// (the averages, when averaging), which become the averages; the live weights and the
    /// trained tensors come from `training` (`training.safetensors`), and each this run
    /// keeps must be there.
    pub fn load(
        &mut self,
        model_vars: HashMap<String, Tensor>,
        training: &HashMap<String, Tensor>,
    ) -> Result<(), String> {
        let _guard = tch::no_grad_guard();
        let fetch = |name: &str| {
            training
                .get(name)
                .ok_or_else(|| format!("the checkpoint's {} has no `{name}`", crate::run::checkpoint::TRAINING))
        };
        let copy = |t: &mut Tensor, value: &Tensor| -> Result<(), String> {
            let value = value.f_to_kind(t.kind()).map_err(|e| e.to_string())?;
            t.f_copy_(&value).map_err(|e| e.to_string())
        };
        for (name, mut t) in self.trained() {
            copy(&mut t, fetch(&name)?)?;
        }
        if let Some(s) = &mut self.scaler {
            *s = LossScaler::restore(training);
        }
        let has_live = training.keys().any(|n| n.starts_with(LIVE));
        match &mut self.ema {
            // A run that averaged before goes on from its live weights.
            Some(ema) if has_live => {
                for (name, var, average) in &mut ema.vars {
                    copy(average, var)?;
                    copy(var, fetch(&format!("{LIVE}{name}"))?)?;
                }
            }
            // Averaging from now on (`--set train.ema=...` on resume): from the weights.
            Some(ema) => {
                for (_, var, average) in &mut ema.vars {
                    copy(average, var)?;
                }
            }
            // No longer averaging: training goes on from the live weights, not the average.
            None if has_live => {
                for (name, mut var) in model_vars {
                    if let Some(live) = training.get(&format!("{LIVE}{name}")) {
                        copy(&mut var, live)?;
                    }
                }
            }
            None => {}
        }
        Ok(())
    }
}
