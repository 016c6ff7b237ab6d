//! What a training run tells its caller while it runs. The loop emits events and prints
//! nothing; the CLI renders them (a progress bar, a line per epoch, nothing with `-q`), a
//! sweep counts them, a test can record them.

use super::EpochMetrics;
use super::init::InitRecord;

/// One thing that happened.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// `--init-from` loaded weights (per-tensor report).
    WeightsLoaded(&'a InitRecord),
    /// An epoch starts (or resumes at batch `done`) with `batches` batches.
    EpochStarted { epoch: i64, epochs: i64, batches: usize, done: usize },
    /// A batch finished; `mean_loss` is the epoch's mean so far.
    BatchDone { epoch: i64, done: usize, batches: usize, mean_loss: f64 },
    /// An epoch was evaluated and its checkpoints written.
    EpochFinished {
        metrics: &'a EpochMetrics,
        epochs: i64,
        /// Whether this epoch is the best so far (and so the `best` checkpoint).
        best: bool,
        /// The step-time shares of the epoch, with `--profile`.
        profile: Option<&'a str>,
    },
    /// Early stopping ended the run: the monitored metric did not improve for `patience` epochs.
    EarlyStopped { monitor: &'static str, patience: i64 },
    /// Something went wrong that does not stop the run (a picture that could not be drawn).
    Warning(&'a str),
    /// A fact about how the run trains, told once at its start (parameter groups).
    Note(&'a str),
}

/// Receives a run's events.
pub trait Observer {
    fn event(&mut self, event: Event<'_>);
}

/// An observer that ignores everything (library callers and tests).
pub struct Silent;

impl Observer for Silent {
    fn event(&mut self, _event: Event<'_>) {}
}
