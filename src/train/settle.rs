//! The checks a run's settings pass before its data are read, in one place: the file's
//! `train:` section with the `--set` overrides resolved, the loss fitted to the outputs, the
//! model's activations fitted to the device's memory. `avc train`, `--resume` and every run
//! of a sweep settle once, before anything is loaded; [`super::train`] takes only settled
//! settings ([`Settled`]), so it need not check them again.

use super::{TrainConfig, loss};
use avc_lang::check::CheckError;
use avc_lang::compile::Compiled;
use avc_lang::diag::Diagnostic;
use avc_lang::settings::ConfigError;
use tch::Device;

/// Settings that passed [`settle`]; read them as a [`TrainConfig`].
#[derive(Debug, Clone)]
pub struct Settled(TrainConfig);

impl std::ops::Deref for Settled {
    type Target = TrainConfig;
    fn deref(&self) -> &TrainConfig {
        &self.0
    }
}

impl std::borrow::Borrow<TrainConfig> for Settled {
    fn borrow(&self) -> &TrainConfig {
        &self.0
    }
}

/// Why settings cannot train this model on this device.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SettleError {
    /// Every bad setting, each located in the file or naming its `--set` flag.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Settings(Vec<ConfigError>),
    /// The model cannot fit in the device's memory; found before anything is allocated.
    #[error("{0}")]
    TooLarge(Box<CheckError>),
}

impl SettleError {
    /// The errors as diagnostics, to be shown against the architecture file's source.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            SettleError::Settings(errors) => errors.iter().map(ConfigError::to_diagnostic).collect(),
            SettleError::TooLarge(e) => vec![e.to_diagnostic()],
        }
    }
}

impl crate::report::Report for SettleError {}

/// Resolves `overrides` over the file's settings and checks them against the model and the
/// device.
pub fn settle(compiled: &Compiled, overrides: &[String], device: Device) -> Result<Settled, SettleError> {
    let cfg = resolve(compiled, overrides)?;
    if let Err(e) = crate::lower::precision::check(cfg.precision, device) {
        let (origin, span) = avc_lang::settings::origin(&compiled.graph, overrides, "precision");
        let device = crate::device::device_name(device);
        let message = format!("{e} (training on {device})");
        return Err(SettleError::Settings(vec![ConfigError { origin, message, span, help: None }]));
    }
    if let Some(budget) = crate::device::memory_budget(device) {
        let batch = u64::try_from(cfg.batch_size).unwrap_or(1);
        if let Some(e) = avc_lang::check::memory::refuse_oversized(&compiled.graph, &compiled.checked, batch, &budget) {
            return Err(SettleError::TooLarge(Box::new(e)));
        }
    }
    Ok(Settled(cfg))
}

/// [`settle`]'s checks that need no device: for plans written before the device is known
/// (`avc sweep --emit`, `--status`).
pub fn resolve(compiled: &Compiled, overrides: &[String]) -> Result<TrainConfig, SettleError> {
    let cfg = TrainConfig::resolve(&compiled.graph.train, overrides).map_err(SettleError::Settings)?;
    loss::check(&compiled.graph, &cfg.loss, overrides).map_err(|e| SettleError::Settings(vec![e]))?;
    avc_lang::settings::loss::check_weights(&compiled.graph, &cfg.loss_weights, overrides)
        .map_err(|e| SettleError::Settings(vec![e]))?;
    Ok(cfg)
}
