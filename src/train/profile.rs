//! `avc train --profile`: where a training step's time goes, split into gathering the batch
//! (data), the forward pass and loss, the backward pass, and the optimiser step (with
//! gradient clipping).
//!
//! CUDA runs kernels asynchronously, so a clock read on the host measures launches, not
//! work; the profiler therefore synchronises the device at every phase boundary (which
//! costs a little throughput, so it is off unless asked for). On the CPU every op has
//! finished when it returns.

use crate::run::rundir::{RunDir, RunDirError};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::time::Instant;
use tch::Device;

/// The file a profiled run writes.
pub const PROFILE_FILE: &str = "profile.json";

/// The phases of a training step, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Drawing the pairs, gathering the clips' features and moving them to the device.
    Data,
    /// The model on the batch's pairs, the loss, and reading its value.
    Forward,
    /// Zeroing the gradients and back-propagating.
    Backward,
    /// Gradient clipping and the optimiser's update.
    Step,
    /// A data-parallel job's gradient all-reduce (with the step's loss and interruption
    /// flag): the wait for the slowest rank included. Zero in a process alone.
    AllReduce,
}

impl Phase {
    pub const ALL: [Phase; 5] = [Phase::Data, Phase::Forward, Phase::Backward, Phase::AllReduce, Phase::Step];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Data => "data",
            Phase::Forward => "forward",
            Phase::Backward => "backward",
            Phase::Step => "step",
            Phase::AllReduce => "all-reduce",
        }
    }
}

/// Seconds per phase over some batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTimes {
    pub data: f64,
    pub forward: f64,
    pub backward: f64,
    pub step: f64,
    #[serde(default)]
    pub all_reduce: f64,
    pub batches: usize,
}

impl PhaseTimes {
    pub fn get(&self, phase: Phase) -> f64 {
        match phase {
            Phase::Data => self.data,
            Phase::Forward => self.forward,
            Phase::Backward => self.backward,
            Phase::Step => self.step,
            Phase::AllReduce => self.all_reduce,
        }
    }

    fn add(&mut self, phase: Phase, seconds: f64) {
        match phase {
            Phase::Data => self.data += seconds,
            Phase::Forward => self.forward += seconds,
            Phase::Backward => self.backward += seconds,
            Phase::Step => self.step += seconds,
            Phase::AllReduce => self.all_reduce += seconds,
        }
    }

    /// The time of all phases together.
    pub fn total(&self) -> f64 {
        Phase::ALL.iter().map(|p| self.get(*p)).sum()
    }

    /// Each phase's share of the total (fractions summing to 1; zeros without time).
    pub fn shares(&self) -> PhaseTimes {
        let total = self.total();
        let share = |x: f64| if total > 0.0 { x / total } else { 0.0 };
        PhaseTimes {
            data: share(self.data),
            forward: share(self.forward),
            backward: share(self.backward),
            step: share(self.step),
            all_reduce: share(self.all_reduce),
            batches: self.batches,
        }
    }
}

/// One epoch's times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochProfile {
    pub epoch: i64,
    pub seconds: PhaseTimes,
}

/// What `profile.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    pub device: String,
    /// Whether the device was synchronised at phase boundaries (CUDA).
    pub synchronized: bool,
    /// Seconds per phase over every profiled batch of this session.
    pub seconds: PhaseTimes,
    /// Each phase's share of the step time (fractions).
    pub share: PhaseTimes,
    /// Milliseconds per batch, per phase.
    pub ms_per_batch: PhaseTimes,
    /// Per completed epoch.
    pub epochs: Vec<EpochProfile>,
    /// The session's first batch alone (also in `seconds`): on the CPU it costs about twice
    /// a later one (oneDNN builds its kernels, every buffer is touched the first time), so
    /// `seconds` less this is the steady pace.
    #[serde(default)]
    pub first_batch: PhaseTimes,
    /// Bytes each rank all-reduced per step (the gradients of every trained tensor, as
    /// their own kind, and two f64s); 0 in a process alone.
    #[serde(default)]
    pub all_reduce_bytes: u64,
}

/// Times the phases of training steps; does nothing (and never synchronises) when off.
pub struct Profiler {
    enabled: bool,
    device: Device,
    last: Option<Instant>,
    epoch: PhaseTimes,
    total: PhaseTimes,
    first: PhaseTimes,
    epochs: Vec<EpochProfile>,
    all_reduce_bytes: u64,
}

impl Profiler {
    pub fn new(enabled: bool, device: Device) -> Profiler {
        Profiler {
            enabled,
            device,
            last: None,
            epoch: PhaseTimes::default(),
            total: PhaseTimes::default(),
            first: PhaseTimes::default(),
            epochs: Vec::new(),
            all_reduce_bytes: 0,
        }
    }

    fn sync(&self) {
        if let Device::Cuda(index) = self.device {
            tch::Cuda::synchronize(index as i64);
        }
    }

    /// A step begins: what ran before it (the previous step's work included) is not counted.
    pub fn begin(&mut self) {
        if self.enabled {
            self.sync();
            self.last = Some(Instant::now());
        }
    }

    /// `phase` has just ended: the time since the previous mark is its.
    pub fn mark(&mut self, phase: Phase) {
        if !self.enabled {
            return;
        }
        self.sync();
        let now = Instant::now();
        if let Some(last) = self.last {
            let seconds = (now - last).as_secs_f64();
            self.epoch.add(phase, seconds);
            self.total.add(phase, seconds);
            if self.total.batches == 0 {
                self.first.add(phase, seconds);
            }
        }
        self.last = Some(now);
        if phase == Phase::Step {
            if self.total.batches == 0 {
                self.first.batches = 1;
            }
            self.epoch.batches += 1;
            self.total.batches += 1;
        }
    }

    /// What each step all-reduces, in bytes (a data-parallel job).
    pub fn set_all_reduce_bytes(&mut self, bytes: u64) {
        self.all_reduce_bytes = bytes;
    }

    /// Closes an epoch; returns its one-line summary when profiling.
    pub fn end_epoch(&mut self, epoch: i64) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let times = std::mem::take(&mut self.epoch);
        self.epochs.push(EpochProfile { epoch, seconds: times });
        let s = times.shares();
        let reduce =
            if times.all_reduce > 0.0 { format!("  all-reduce {:.0}%", 100.0 * s.all_reduce) } else { String::new() };
        Some(format!(
            "  profile: data {:.0}%  forward {:.0}%  backward {:.0}%{reduce}  step {:.0}%  ({:.1} ms per batch)",
            100.0 * s.data,
            100.0 * s.forward,
            100.0 * s.backward,
            100.0 * s.step,
            1000.0 * times.total() / times.batches.max(1) as f64
        ))
    }

    /// Everything measured, or None when profiling is off.
    pub fn summary(&self) -> Option<ProfileSummary> {
        if !self.enabled {
            return None;
        }
        let t = self.total;
        let per = |x: f64| 1000.0 * x / t.batches.max(1) as f64;
        Some(ProfileSummary {
            device: crate::device::device_name(self.device),
            synchronized: matches!(self.device, Device::Cuda(_)),
            seconds: t,
            share: t.shares(),
            ms_per_batch: PhaseTimes {
                data: per(t.data),
                forward: per(t.forward),
                backward: per(t.backward),
                step: per(t.step),
                all_reduce: per(t.all_reduce),
                batches: t.batches,
            },
            epochs: self.epochs.clone(),
            first_batch: self.first,
            all_reduce_bytes: self.all_reduce_bytes,
        })
    }
}

impl Profiler {
    /// Writes `profile.json` into the run directory and returns what it holds (nothing when
    /// profiling is off).
    pub(super) fn write(&self, run: &RunDir) -> Result<Option<ProfileSummary>, RunDirError> {
        let Some(summary) = self.summary() else { return Ok(None) };
        let json = serde_json::to_string_pretty(&summary).map_err(|e| RunDirError::new(&run.file(PROFILE_FILE), e))?;
        run.write(PROFILE_FILE, json.as_bytes())?;
        Ok(Some(summary))
    }
}

/// The table printed at the end of a profiled run.
pub fn render(p: &ProfileSummary) -> String {
    let mut out = String::new();
    let sync = if p.synchronized { ", device synchronised between phases" } else { "" };
    let _ = writeln!(out, "profile: {} training steps on {}{sync}", p.seconds.batches, p.device);
    let _ = writeln!(out, "  {:<10} {:>9} {:>7} {:>11}", "phase", "time", "share", "per batch");
    // A process alone all-reduces nothing: no row for it.
    for phase in Phase::ALL.into_iter().filter(|&ph| ph != Phase::AllReduce || p.seconds.all_reduce > 0.0) {
        let _ = writeln!(
            out,
            "  {:<10} {:>7.2} s {:>6.1}% {:>8.2} ms",
            phase.name(),
            p.seconds.get(phase),
            100.0 * p.share.get(phase),
            p.ms_per_batch.get(phase)
        );
    }
    let _ = writeln!(
        out,
        "  {:<10} {:>7.2} s {:>6.1}% {:>8.2} ms",
        "total",
        p.seconds.total(),
        100.0 * p.share.total(),
        p.ms_per_batch.total()
    );
    if p.all_reduce_bytes > 0 {
        let _ = writeln!(out, "  all-reduced {:.2} MB per step on each rank", p.all_reduce_bytes as f64 / 1e6);
    }
    let later = p.seconds.batches.saturating_sub(p.first_batch.batches);
    if p.first_batch.batches == 1 && later > 0 {
        let steady = (p.seconds.total() - p.first_batch.total()) / later as f64;
        let _ = writeln!(
            out,
            "  the first batch took {:.0} ms (kernels built, buffers first touched); the {later} after it {:.0} ms each",
            1000.0 * p.first_batch.total(),
            1000.0 * steady
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_batches_count_steps() {
        let mut p = Profiler::new(true, Device::Cpu);
        for _ in 0..3 {
            p.begin();
            for phase in [Phase::Data, Phase::Forward, Phase::Backward, Phase::AllReduce, Phase::Step] {
                std::thread::sleep(std::time::Duration::from_millis(1));
                p.mark(phase);
            }
        }
        let line = p.end_epoch(1).unwrap();
        assert!(line.contains("ms per batch"), "{line}");
        let s = p.summary().unwrap();
        assert_eq!((s.seconds.batches, s.epochs.len(), s.epochs[0].seconds.batches), (3, 1, 3));
        assert!((s.share.total() - 1.0).abs() < 1e-12);
        assert!(Phase::ALL.iter().all(|ph| s.seconds.get(*ph) >= 0.003), "{s:?}");
        let table = render(&s);
        assert!(table.contains("  forward ") && table.contains("  total ") && table.contains("100.0%"), "{table}");
        // The first batch is kept apart too: one batch, a share of the whole.
        assert_eq!(s.first_batch.batches, 1);
        assert!(s.first_batch.total() >= 0.004 && s.first_batch.total() < s.seconds.total(), "{s:?}");
        assert!(table.contains("the 2 after it"), "{table}");
    }

    #[test]
    fn off_measures_nothing() {
        let mut p = Profiler::new(false, Device::Cpu);
        p.begin();
        p.mark(Phase::Data);
        assert_eq!(p.end_epoch(1), None);
        assert_eq!(p.summary(), None);
    }
}
