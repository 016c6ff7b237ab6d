//! How `avc train` shows a run: a progress bar per epoch on a terminal, a line per epoch
//! (unless `-q`), warnings always. The training loop itself prints nothing.

use avc::train::events::{Event, Observer};
use avc::train::{format_epoch_line, init};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Renders a run's events on the terminal.
pub struct Terminal {
    verbose: bool,
    bar: Option<ProgressBar>,
}

impl Terminal {
    pub fn new(verbose: bool) -> Terminal {
        Terminal { verbose, bar: None }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Observer for Terminal {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::WeightsLoaded(record) if self.verbose => print!("{}", init::describe(record)),
            Event::EpochStarted { epoch, epochs, batches, done } => {
                self.clear();
                if self.verbose && std::io::stderr().is_terminal() {
                    self.bar = Some(progress_bar(batches as u64, epoch, epochs, done as u64));
                }
            }
            Event::BatchDone { done, mean_loss, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("loss {mean_loss:.4}"));
                    bar.set_position(done as u64);
                }
            }
            Event::EpochFinished { metrics, epochs, best, profile } => {
                self.clear();
                if self.verbose {
                    println!("{}", format_epoch_line(metrics, epochs, best));
                    if let Some(line) = profile {
                        println!("{line}");
                    }
                }
            }
            Event::EarlyStopped { monitor, patience } if self.verbose => {
                println!("early stopping: no better {monitor} for {patience} epochs");
            }
            Event::Warning(text) => {
                self.clear();
                eprintln!("warning: {text}");
            }
            _ => {}
        }
    }
}

fn progress_bar(len: u64, epoch: i64, epochs: i64, done: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches {per_sec} ETA {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar.set_position(done);
    bar
}
