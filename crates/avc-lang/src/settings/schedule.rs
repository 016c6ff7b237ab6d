//! Learning-rate schedules, stepped once per epoch. Each keeps its state in plain fields
//! (serialisable), so a resumed run continues the schedule where it stopped.

use serde::{Deserialize, Serialize};

/// Which schedule, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduleConfig {
    /// Constant learning rate.
    None,
    /// ReduceLROnPlateau on the monitored validation metric (higher is better).
    Plateau { factor: f64, patience: i64, min_lr: f64 },
    /// The course's step decay: multiply by `gamma` every `step_size` epochs.
    Step { step_size: i64, gamma: f64 },
    /// Linear warm-up over `warmup` epochs, then cosine decay to `min_lr` at the last epoch.
    Cosine { warmup: i64, min_lr: f64 },
    /// The report's manual trick as a schedule: ReduceLROnPlateau, and once the lr has
    /// bottomed out and the metric has stalled for `patience` more epochs, raise it back
    /// to `restart_lr` (a warm restart).
    WarmRestart { factor: f64, patience: i64, min_lr: f64, restart_lr: f64 },
}

/// Which schedule a run uses: a closed set, so an unknown name is an error where it is
/// written, never a silent fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    None,
    Plateau,
    Step,
    Cosine,
    WarmRestart,
}

impl ScheduleKind {
    const ALL: [ScheduleKind; 5] = [
        ScheduleKind::None,
        ScheduleKind::Plateau,
        ScheduleKind::Step,
        ScheduleKind::Cosine,
        ScheduleKind::WarmRestart,
    ];
    /// The names, in `ScheduleKind::ALL`'s order.
    pub const NAMES: [&'static str; 5] = ["none", "plateau", "step", "cosine", "warm_restart"];

    pub fn parse(word: &str) -> Option<ScheduleKind> {
        Self::NAMES.iter().position(|n| *n == word).map(|i| Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::ALL.iter().position(|k| *k == self).map_or("?", |i| Self::NAMES[i])
    }
}

/// The schedule's mutable state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub best: Option<f64>,
    pub bad_epochs: i64,
}

/// Decides each epoch's learning rate.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub cfg: ScheduleConfig,
    pub base_lr: f64,
    pub epochs: i64,
    pub state: ScheduleState,
}

impl Schedule {
    pub fn new(cfg: ScheduleConfig, base_lr: f64, epochs: i64) -> Self {
        Schedule { cfg, base_lr, epochs, state: ScheduleState::default() }
    }

    /// The lr for epoch `epoch` (1-based) before any metric of it is known: the epoch-wise
    /// schedules (step, cosine) are pure functions of the epoch.
    pub fn lr_at_start(&self, epoch: i64, current: f64) -> f64 {
        match self.cfg {
            ScheduleConfig::Step { step_size, gamma } => self.base_lr * gamma.powi(((epoch - 1) / step_size) as i32),
            ScheduleConfig::Cosine { warmup, min_lr } => {
                if epoch <= warmup {
                    return self.base_lr * epoch as f64 / (warmup + 1) as f64;
                }
                let span = (self.epochs - warmup).max(1) as f64;
                let progress = ((epoch - warmup - 1) as f64 / span).clamp(0.0, 1.0);
                min_lr + 0.5 * (self.base_lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            _ => current,
        }
    }

    /// Records the epoch's monitored metric (higher is better) and returns the next lr.
    pub fn after_epoch(&mut self, metric: f64, lr: f64) -> f64 {
        let (factor, patience, min_lr, restart) = match self.cfg {
            ScheduleConfig::Plateau { factor, patience, min_lr } => (factor, patience, min_lr, None),
            ScheduleConfig::WarmRestart { factor, patience, min_lr, restart_lr } => {
                (factor, patience, min_lr, Some(restart_lr))
            }
            _ => return lr,
        };
        const EPS: f64 = 1e-9;
        if self.state.best.is_none_or(|b| metric > b + EPS) {
            self.state.best = Some(metric);
            self.state.bad_epochs = 0;
            return lr;
        }
        self.state.bad_epochs += 1;
        if self.state.bad_epochs <= patience {
            return lr;
        }
        self.state.bad_epochs = 0;
        match restart {
            Some(restart_lr) if lr <= min_lr * (1.0 + 1e-9) => restart_lr,
            _ => (lr * factor).max(min_lr),
        }
    }
}

/// Stops training when the monitored metric has not improved for `patience` epochs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub best: Option<f64>,
    pub stale: i64,
}

impl EarlyStopping {
    /// Records a metric; true when training should stop (`patience` 0 never stops).
    pub fn should_stop(&mut self, metric: f64, patience: i64) -> bool {
        if self.best.is_none_or(|b| metric > b + 1e-9) {
            self.best = Some(metric);
            self.stale = 0;
            return false;
        }
        self.stale += 1;
        patience > 0 && self.stale >= patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateau_lowers_after_patience_runs_out() {
        let mut s = Schedule::new(ScheduleConfig::Plateau { factor: 0.5, patience: 1, min_lr: 0.1 }, 1.0, 10);
        let mut lr = 1.0;
        for m in [0.5, 0.6, 0.6] {
            lr = s.after_epoch(m, lr);
        }
        assert_eq!(lr, 1.0);
        lr = s.after_epoch(0.6, lr);
        assert_eq!(lr, 0.5);
        for _ in 0..10 {
            lr = s.after_epoch(0.1, lr);
        }
        assert_eq!(lr, 0.1);
    }

    #[test]
    fn warm_restart_raises_the_bottomed_out_lr() {
        let cfg = ScheduleConfig::WarmRestart { factor: 0.1, patience: 0, min_lr: 0.01, restart_lr: 0.5 };
        let mut s = Schedule::new(cfg, 1.0, 10);
        let mut lr = 1.0;
        let mut seen = vec![];
        for _ in 0..5 {
            lr = s.after_epoch(0.3, lr);
            seen.push(lr);
        }
        let expected = [1.0, 0.1, 0.01, 0.5, 0.05];
        assert!(seen.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12), "{seen:?}");
    }

    #[test]
    fn step_and_cosine_follow_the_epoch() {
        let s = Schedule::new(ScheduleConfig::Step { step_size: 10, gamma: 0.7 }, 1e-3, 30);
        assert_eq!(s.lr_at_start(10, 0.0), 1e-3);
        assert!((s.lr_at_start(11, 0.0) - 7e-4).abs() < 1e-12);
        let c = Schedule::new(ScheduleConfig::Cosine { warmup: 1, min_lr: 0.0 }, 1.0, 11);
        assert_eq!(c.lr_at_start(1, 0.0), 0.5);
        assert_eq!(c.lr_at_start(2, 0.0), 1.0);
        assert!(c.lr_at_start(11, 0.0) < 0.03);
    }

    #[test]
    fn early_stopping_waits_for_patience() {
        let mut e = EarlyStopping::default();
        let stops: Vec<bool> = [0.1, 0.2, 0.2, 0.2, 0.3].iter().map(|m| e.should_stop(*m, 2)).collect();
        assert_eq!(stops, vec![false, false, false, true, false]);
    }
}
