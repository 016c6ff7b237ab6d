//! Which optimiser, with its hyper-parameters: settings only; the optimisers themselves are
//! the torch side's (`avc::train::optim`).

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
