//! Learning-rate schedules.

/// ReduceLROnPlateau, watching a metric where higher is better: after `patience` epochs
/// without a new best, multiply the lr by `factor` (not below `min_lr`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReduceOnPlateau {
    pub factor: f64,
    pub patience: i64,
    pub min_lr: f64,
    best: Option<f64>,
    bad_epochs: i64,
}

impl ReduceOnPlateau {
    pub fn new(factor: f64, patience: i64, min_lr: f64) -> Self {
        ReduceOnPlateau { factor, patience, min_lr, best: None, bad_epochs: 0 }
    }

    /// Records an epoch's metric and returns the lr to use next.
    pub fn step(&mut self, metric: f64, lr: f64) -> f64 {
        const EPS: f64 = 1e-9;
        if self.best.is_none_or(|b| metric > b + EPS) {
            self.best = Some(metric);
            self.bad_epochs = 0;
            return lr;
        }
        self.bad_epochs += 1;
        if self.bad_epochs > self.patience {
            self.bad_epochs = 0;
            return (lr * self.factor).max(self.min_lr);
        }
        lr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_after_patience_runs_out() {
        let mut s = ReduceOnPlateau::new(0.5, 1, 0.1);
        let mut lr = 1.0;
        for m in [0.5, 0.6, 0.6] {
            lr = s.step(m, lr);
        }
        assert_eq!(lr, 1.0);
        lr = s.step(0.6, lr);
        assert_eq!(lr, 0.5);
        for _ in 0..10 {
            lr = s.step(0.1, lr);
        }
        assert_eq!(lr, 0.1);
    }
}
