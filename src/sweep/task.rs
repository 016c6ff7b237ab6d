//! One run of a sweep as a scheduler's task: `avc sweep --task DIR --index I` trains run I
//! of `DIR/sweep.json` (the I-th of its `runs`) with the same code as an in-process sweep.
//!
//! A task may run more than once: Slurm requeues a preempted task, people resubmit the ones
//! that failed. So a task starts its run, resumes it from its `last` checkpoint when it was
//! stopped part-way, and does nothing when it is finished. While it trains it holds
//! `tasks/<I>.lock` (an advisory file lock, released by the kernel however the process ends),
//! so two tasks never train one run at once and `--status` can tell a running task from a
//! dead one. `tasks/<I>.json` says where and how the latest attempt ran and how it ended;
//! `tasks/<I>.log` is the task's output, written by the scheduler.
//!
//! A task of several ranks (`--ntasks-per-run`, one process each, in one data-parallel
//! group) is led by rank 0: it alone takes the lock, writes the record and the run directory,
//! and decides whether the run starts, resumes or is left alone; the others follow its
//! decision (see `ranks.rs`) and train beside it.

use crate::run::rundir::{RunDir, RunDirError};
use crate::sweep::table::RunStatus;
use crate::sweep::{self, FAILED, SweepContext, SweepError, SweepRecord};
use crate::train::{Ending, RunReport};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The folder of task locks, records and logs inside the sweep directory.
pub const TASKS: &str = "tasks";

/// `tasks/<index>.<ext>` of a sweep directory.
pub fn task_file(dir: &Path, index: usize, ext: &str) -> PathBuf {
    dir.join(TASKS).join(format!("{index}.{ext}"))
}

/// A held task lock; dropping it (or the process ending in any way) releases it.
#[derive(Debug)]
pub struct TaskLock {
    _file: File,
}

/// The answer to trying a task's lock.
#[derive(Debug)]
pub enum LockState {
    Held(TaskLock),
    /// Another process holds it: that run is being trained.
    Busy,
    /// The file system does not do locks; the caller goes on without one.
    Unsupported,
}

/// Whether a task's lock is held, as `--status` sees it (without keeping it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockProbe {
    Free,
    Held,
    /// No answer (no lock support, or the folder is not writable from here).
    Unknown,
}

impl TaskLock {
    /// Takes the lock of run `index`, creating `tasks/` and the lock file when needed.
    pub fn try_acquire(dir: &Path, index: usize) -> Result<LockState, RunDirError> {
        let path = task_file(dir, index, "lock");
        std::fs::create_dir_all(dir.join(TASKS)).map_err(|e| RunDirError::new(&dir.join(TASKS), e))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| RunDirError::new(&path, e))?;
        Ok(match file.try_lock() {
            Ok(()) => LockState::Held(TaskLock { _file: file }),
            Err(TryLockError::WouldBlock) => LockState::Busy,
            Err(TryLockError::Error(_)) => LockState::Unsupported,
        })
    }

    /// Like [`TaskLock::try_acquire`], but waits up to a second for a lock that is busy, so a
    /// `--status` that holds it for an instant does not turn a task away.
    pub fn acquire_patiently(dir: &Path, index: usize) -> Result<LockState, RunDirError> {
        for _ in 0..20 {
            match Self::try_acquire(dir, index)? {
                LockState::Busy => std::thread::sleep(Duration::from_millis(50)),
                other => return Ok(other),
            }
        }
        Ok(LockState::Busy)
    }

    /// Whether the lock of run `index` is held now; creates nothing.
    pub fn probe(dir: &Path, index: usize) -> LockProbe {
        let Ok(file) = OpenOptions::new().write(true).open(task_file(dir, index, "lock")) else {
            return if task_file(dir, index, "lock").exists() { LockProbe::Unknown } else { LockProbe::Free };
        };
        match file.try_lock() {
            Ok(()) => LockProbe::Free,
            Err(TryLockError::WouldBlock) => LockProbe::Held,
            Err(TryLockError::Error(_)) => LockProbe::Unknown,
        }
    }
}

/// `tasks/<index>.json`: the latest attempt of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub index: usize,
    pub run: String,
    pub host: String,
    pub pid: u32,
    /// `SLURM_JOB_ID`, or `<array job>_<task>` for an array task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
    /// When the attempt started, in seconds since 1970 (UTC).
    pub started: u64,
    /// How many times a task of this run has started, this one included.
    pub attempts: u32,
    /// The processes (data-parallel ranks) that trained it; 1 unless `--ntasks-per-run`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ranks: usize,
    /// How the attempt ended; absent while it runs, or when it died without a word.
    #[serde(default)]
    pub ended: Option<TaskEnd>,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEnd {
    pub at: u64,
    pub outcome: TaskOutcome,
    /// The error, for a failed attempt.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    /// The run trained to its end.
    Done,
    /// The run was finished before; nothing was done.
    AlreadyDone,
    /// Stopped by a signal (Slurm's SIGTERM on scancel, preemption or the time limit; Ctrl-C)
    /// after saving `last`: resubmitting resumes it.
    Stopped,
    Failed,
}

impl TaskRecord {
    /// Reads `tasks/<index>.json`; None when there is none or it cannot be read.
    pub fn read(dir: &Path, index: usize) -> Option<TaskRecord> {
        let text = std::fs::read_to_string(task_file(dir, index, "json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write(&self, dir: &Path) -> Result<(), RunDirError> {
        let tasks = RunDir { path: dir.join(TASKS) };
        let name = format!("{}.json", self.index);
        let json = serde_json::to_string_pretty(self).map_err(|e| RunDirError::new(&tasks.file(&name), e))?;
        tasks.write(&name, json.as_bytes())
    }
}

/// Seconds since 1970.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// What a task did.
#[derive(Debug)]
pub enum TaskResult {
    /// The run was finished before: nothing to do.
    AlreadyDone,
    /// The run trained (to its end, or until a signal stopped it: see the report's ending).
    Trained(Box<RunReport>),
}

/// What a task reports.
#[derive(Debug)]
pub struct TaskReport {
    pub run: String,
    pub result: TaskResult,
}

/// How to run a task, besides which.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskOptions {
    /// Per-epoch lines (the task's log).
    pub verbose: bool,
    /// Stop at this (epoch, batch) as a signal would (tests).
    pub stop_at: Option<(i64, usize)>,
    /// The device to train on, when the caller chose it already (a rank that joined its
    /// group on its GPU); else the plan's `--device`.
    pub device: Option<tch::Device>,
}

/// The run of task `index` in the sweep directory `dir`: its name, or a usage error.
pub fn run_name(record: &SweepRecord, dir: &Path, index: usize) -> Result<String, SweepError> {
    let runs = record.grid.runs();
    runs.get(index).map(|r| r.name.clone()).ok_or_else(|| {
        SweepError::Plan(format!(
            "--index {index}: the sweep in {} has {} runs, numbered 0 to {}",
            dir.display(),
            runs.len(),
            runs.len().saturating_sub(1)
        ))
    })
}

/// Runs task `index` of the sweep in `dir`: trains, resumes or skips its run (see the module
/// docs), recording the attempt in `tasks/<index>.json`. A rank other than 0 of a multi-rank
/// task neither locks nor records: rank 0 does both for the task.
pub fn run_task(dir: &Path, index: usize, opts: TaskOptions) -> Result<TaskReport, SweepError> {
    let record = sweep::read_sweep_record(dir)?;
    let run = run_name(&record, dir, index)?;
    if !crate::dist::is_leader() {
        let result = train_task(dir, &record, index, opts)?;
        return Ok(TaskReport { run, result });
    }
    let _lock = match TaskLock::acquire_patiently(dir, index)? {
        LockState::Held(lock) => Some(lock),
        LockState::Unsupported => None,
        LockState::Busy => {
            let holder =
                TaskRecord::read(dir, index).map(|t| format!(" (host {}, pid {})", t.host, t.pid)).unwrap_or_default();
            return Err(SweepError::Busy { run, holder });
        }
    };
    let attempts = TaskRecord::read(dir, index).map_or(0, |t| t.attempts);
    let mut task = TaskRecord {
        index,
        run: run.clone(),
        host: crate::device::host_name(),
        pid: std::process::id(),
        slurm_job: crate::device::slurm_job(),
        started: now(),
        attempts: attempts + 1,
        ranks: crate::dist::group().map_or(1, |g| g.world),
        ended: None,
    };
    task.write(dir)?;
    let result = train_task(dir, &record, index, opts);
    let (outcome, message) = match &result {
        Ok(TaskResult::AlreadyDone) => (TaskOutcome::AlreadyDone, String::new()),
        Ok(TaskResult::Trained(r)) if r.ending == Ending::Interrupted => (TaskOutcome::Stopped, String::new()),
        Ok(TaskResult::Trained(_)) => (TaskOutcome::Done, String::new()),
        Err(e) => (TaskOutcome::Failed, e.to_string()),
    };
    task.ended = Some(TaskEnd { at: now(), outcome, message });
    task.write(dir)?;
    Ok(TaskReport { run, result: result? })
}

/// The task's work once it holds the lock: checks that the plan still describes this avc and
/// this architecture, then trains the run unless it is finished.
fn train_task(dir: &Path, record: &SweepRecord, index: usize, opts: TaskOptions) -> Result<TaskResult, SweepError> {
    let bad = |reason: String| SweepError::Record { dir: dir.display().to_string(), source: reason.into() };
    if record.avc_version != env!("CARGO_PKG_VERSION") {
        return Err(bad(format!(
            "planned with avc {}, but this is avc {}: run the tasks with the avc that planned them",
            record.avc_version,
            env!("CARGO_PKG_VERSION")
        )));
    }
    let (record, compiled) = sweep::open(dir)?;
    let text_hash = crate::run::manifest::sha256(&[compiled.graph.source.text()]);
    if !record.architecture_sha256.is_empty() && text_hash != record.architecture_sha256 {
        return Err(bad(format!(
            "{} changed after the sweep was planned (its hash is not the one in sweep.json)",
            record.architecture_copy
        )));
    }
    let runs = record.grid.runs();
    let cfgs = sweep::resolve_all(&compiled, &record.grid)?;
    let (Some(run), Some(cfg)) = (runs.get(index), cfgs.get(index)) else {
        return Err(bad(format!("it has no run {index}")));
    };
    let run_dir = dir.join(&run.name);
    let status = super::ranks::agreed_status(|| sweep::run_status(&run_dir, cfg))?;
    match &status {
        RunStatus::Done => return Ok(TaskResult::AlreadyDone),
        RunStatus::Failed(why) => {
            return Err(SweepError::Failed {
                run: run.name.clone(),
                why: format!("{why} (see {}; remove the run directory to train it again)", FAILED),
            });
        }
        _ => {}
    }
    let device = match opts.device {
        Some(device) => device,
        None => crate::device::choose(record.plan.as_ref().map_or("auto", |p| p.device.as_str()))?,
    };
    let cfg = crate::train::settle(&compiled, &run.overrides, device).map_err(crate::train::TrainError::from)?;
    let data = crate::data::expect::load(&compiled, &record.data_source).map_err(crate::train::TrainError::from)?;
    crate::data::expect::check(&compiled, &data).map_err(crate::train::TrainError::from)?;
    let ctx = SweepContext { dir, compiled: &compiled, record: &record, data: &data, device, verbose: opts.verbose };
    sweep::train_run(&ctx, run, &cfg, &status, opts.stop_at)
        .map(|report| TaskResult::Trained(Box::new(report)))
        .map_err(|e| SweepError::Run { run: run.name.clone(), error: Box::new(e) })
}
