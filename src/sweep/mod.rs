//! `avc sweep`: one architecture trained over a grid of settings and seeds, each run an
//! ordinary run directory inside a sweep directory, trained by [`crate::train::train`]:
//!
//! ```text
//! runs/sweep-<arch>-<NNN>/
//!   sweep.json                 the grid, the data, the command, the run names in task order
//!   architecture.*             the architecture as swept
//!   lr=0.01,seed=1/ ...        one run directory per grid point and seed
//!   tasks/                     <index>.lock while a run trains; with a scheduler also
//!                              <index>.json (where and how its task ran) and <index>.log
//!   sweep.sbatch | parallel.tasks   with `--emit`: the job script or commands file
//!   results.csv                one row per run (rewritten after every run)
//!   summary.csv, summary.md    one row per grid point: mean and std over seeds
//!   sweep.png                  mean test top-1 against the swept setting
//! ```
//!
//! A sweep trains in this process ([`sweep`]), or is handed to Slurm or GNU parallel as
//! one task per run ([`crate::sweep::plan`], [`crate::sweep::task`]) and collected afterwards
//! ([`crate::sweep::status`]); both train each run through `train_run` and write the tables
//! through `write_tables`, so the results are the same files either way.
//!
//! Continuing a sweep (`--resume DIR`, or the same command with the same `--name`) reads
//! every run's state from its directory: finished runs are skipped, a run stopped part-way
//! resumes from its `last` checkpoint through [`crate::train::resume`], the rest start. A run that
//! diverges is recorded as failed (`failed.txt`) and the sweep goes on.

pub mod grid;
pub mod plan;
pub mod plot;
mod ranks;
pub mod slurm;
pub mod status;
pub mod table;
pub mod task;

use crate::data::TrainingData;
use crate::interrupt;
use crate::run::checkpoint::Checkpoint;
use crate::run::rundir::{RunDir, RunDirError};
use crate::train::{ConfigError, DataSource, Ending, SettleError, Settled, TrainConfig, TrainError, TrainOptions};
use avc_lang::compile::Compiled;
use grid::{Grid, GridError, PlannedRun};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use table::{ResultRow, RunStatus};
use task::{LockState, TaskLock};
use tch::Device;

/// The sweep directory's record of what it sweeps.
pub const RECORD: &str = "sweep.json";
/// Written into a run directory whose run failed in a way that would recur.
pub const FAILED: &str = "failed.txt";

/// What a sweep directory records: enough to continue it and to tell it from another sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub avc_version: String,
    /// The command line that started the sweep, for people.
    pub command: String,
    /// The architecture file as given.
    pub architecture: String,
    /// Its copy inside the sweep directory (what continuing compiles).
    pub architecture_copy: String,
    /// SHA-256 of the architecture text, as in each run's `manifest.json`.
    #[serde(default)]
    pub architecture_sha256: String,
    pub grid: Grid,
    /// The runs' directory names in task order: a Slurm array index or a line of the GNU
    /// parallel commands file is a position in this list.
    #[serde(default)]
    pub runs: Vec<String>,
    pub data_source: DataSource,
    pub max_batches: Option<usize>,
    /// How the sweep is handed to a scheduler (`--emit`); absent when it trains in process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<crate::sweep::plan::EnginePlan>,
}

impl SweepRecord {
    /// The record of a new sweep of `grid` over `compiled` (no scheduler plan).
    pub fn new(compiled: &Compiled, grid: &Grid, arch_path: &Path, data_source: &DataSource, command: &str) -> Self {
        let ext = arch_path.extension().and_then(|e| e.to_str()).unwrap_or("yaml");
        SweepRecord {
            avc_version: env!("CARGO_PKG_VERSION").to_string(),
            command: command.to_string(),
            architecture: arch_path.display().to_string(),
            architecture_copy: format!("architecture.{ext}"),
            architecture_sha256: crate::run::manifest::sha256(&[compiled.graph.source.text()]),
            grid: grid.clone(),
            runs: grid.runs().into_iter().map(|r| r.name).collect(),
            data_source: data_source.clone(),
            max_batches: None,
            plan: None,
        }
    }
}

/// How to run a sweep, as opposed to what it sweeps (the [`Grid`]).
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub device: Device,
    /// Parent of the sweep directory (`runs/`).
    pub runs_dir: PathBuf,
    /// A fixed sweep directory name instead of `sweep-<arch>-<NNN>`; an existing sweep of
    /// that name with the same grid is continued.
    pub name: Option<String>,
    pub arch_path: PathBuf,
    pub verbose: bool,
    pub data_source: DataSource,
    /// Stop each epoch of each run after this many batches (smoke runs).
    pub max_batches: Option<usize>,
    /// The command line, recorded in sweep.json and summary.md.
    pub command: String,
    pub limits: SweepLimits,
}

/// Where to stop a sweep before its end (it can be continued).
#[derive(Debug, Clone, Copy, Default)]
pub struct SweepLimits {
    /// Train at most this many runs in this call (finished runs that are skipped do not count).
    pub max_runs: Option<usize>,
    /// Stop the run of this index (grid order) at this (epoch, batch), as Ctrl-C would (tests).
    pub stop_at: Option<(usize, (i64, usize))>,
}

/// Why a sweep call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepEnding {
    /// Every run is done or failed.
    Completed,
    /// Ctrl-C (or a test's stop): the run in progress saved its `last` checkpoint.
    Interrupted,
    /// `max_runs` runs were trained.
    Paused,
}

/// What a sweep call reports.
#[derive(Debug, Clone)]
pub struct SweepReport {
    pub dir: PathBuf,
    /// Every run of the grid, as results.csv lists them.
    pub rows: Vec<ResultRow>,
    /// Runs trained (or resumed) by this call.
    pub trained: usize,
    pub ending: SweepEnding,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Grid(#[from] GridError),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Settings(Vec<ConfigError>),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("run {run}: {error}")]
    Run { run: String, error: Box<TrainError> },
    #[error(transparent)]
    Dir(#[from] RunDirError),
    /// A sweep directory whose record or architecture copy cannot be used.
    #[error("{dir}: {source}")]
    Record {
        dir: String,
        #[source]
        source: crate::report::Cause,
    },
    /// A plan that cannot be written as asked (a template, a flag that does not fit).
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    /// A run that failed in a way that would recur (it diverged).
    #[error("run {run} failed earlier: {why}")]
    Failed { run: String, why: String },
    /// The ranks of a multi-rank task could not agree (one failed, or stopped answering).
    #[error(transparent)]
    Dist(#[from] crate::dist::DistError),
    /// Another process trains this run now (it holds the task's lock).
    #[error("{run} is being trained by another process{holder}; nothing to do")]
    Busy { run: String, holder: String },
}

impl crate::report::Report for SweepError {
    /// 1 for the model, settings or data, 2 for usage and I/O.
    fn exit_code(&self) -> u8 {
        match self {
            SweepError::Settings(_)
            | SweepError::Train(_)
            | SweepError::Run { .. }
            | SweepError::Failed { .. }
            | SweepError::Dist(_) => 1,
            _ => 2,
        }
    }
}

/// Starts a sweep, or continues the one named `opts.name` when it sweeps the same grid;
/// silent (see [`sweep_observed`]).
pub fn sweep(compiled: &Compiled, grid: &Grid, opts: &SweepOptions) -> Result<SweepReport, SweepError> {
    sweep_observed(compiled, grid, opts, &mut Silent)
}

/// [`sweep`], telling `observer` what happens to each run.
pub fn sweep_observed(
    compiled: &Compiled,
    grid: &Grid,
    opts: &SweepOptions,
    observer: &mut dyn SweepObserver,
) -> Result<SweepReport, SweepError> {
    let cfgs = settle_all(compiled, grid, opts.device)?;
    let data = crate::data::expect::load(compiled, &opts.data_source).map_err(crate::train::TrainError::from)?;
    crate::data::expect::check(compiled, &data).map_err(crate::train::TrainError::from)?;
    let mut record = SweepRecord::new(compiled, grid, &opts.arch_path, &opts.data_source, &opts.command);
    record.max_batches = opts.max_batches;
    let existing = opts.name.as_ref().map(|n| opts.runs_dir.join(n)).filter(|d| d.join(RECORD).is_file());
    let (dir, record) = match existing {
        Some(dir) => {
            let recorded = read_sweep_record(&dir)?;
            check_same(&dir, &recorded, &record, compiled)?;
            (RunDir { path: dir }, recorded)
        }
        None => {
            let stem = opts.arch_path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
            let dir = RunDir::create(&opts.runs_dir, &format!("sweep-{stem}"), opts.name.as_deref())?;
            write_record(&dir, &record, compiled)?;
            (dir, record)
        }
    };
    let job = Job { dir, compiled, record: &record, data: &data, cfgs, device: opts.device, verbose: opts.verbose };
    job.run(opts.limits, observer)
}

/// Writes `sweep.json` and the architecture copy into a sweep directory.
pub(crate) fn write_record(dir: &RunDir, record: &SweepRecord, compiled: &Compiled) -> Result<(), SweepError> {
    dir.write(&record.architecture_copy, compiled.graph.source.text().as_bytes())?;
    let json = serde_json::to_string_pretty(record).map_err(|e| RunDirError::new(&dir.file(RECORD), e))?;
    dir.write(RECORD, json.as_bytes())?;
    Ok(())
}

/// A sweep directory read back: its record and its architecture copy, compiled again.
pub(crate) fn open(dir: &Path) -> Result<(SweepRecord, Compiled), SweepError> {
    let record = read_sweep_record(dir)?;
    let bad = |source: crate::report::Cause| SweepError::Record { dir: dir.display().to_string(), source };
    let compiled = avc_lang::compile::compile_file(&dir.join(&record.architecture_copy))
        .map_err(|e| bad(e.into()))?
        .map_err(|failed| {
            let copy = &record.architecture_copy;
            bad(format!("its {copy} no longer compiles:\n{}", avc_lang::compile::explain(&failed)).into())
        })?;
    Ok((record, compiled))
}

/// Continues the sweep in `dir` from its `sweep.json`, silently (see [`resume_sweep_observed`]).
pub fn resume_sweep(dir: &Path, device: Device, verbose: bool, limits: SweepLimits) -> Result<SweepReport, SweepError> {
    resume_sweep_observed(dir, device, verbose, limits, &mut Silent)
}

/// [`resume_sweep`], telling `observer` what happens to each run.
pub fn resume_sweep_observed(
    dir: &Path,
    device: Device,
    verbose: bool,
    limits: SweepLimits,
    observer: &mut dyn SweepObserver,
) -> Result<SweepReport, SweepError> {
    let (record, compiled) = open(dir)?;
    let cfgs = settle_all(&compiled, &record.grid, device)?;
    let data = crate::data::expect::load(&compiled, &record.data_source).map_err(crate::train::TrainError::from)?;
    crate::data::expect::check(&compiled, &data).map_err(crate::train::TrainError::from)?;
    let job = Job {
        dir: RunDir { path: dir.to_path_buf() },
        compiled: &compiled,
        record: &record,
        data: &data,
        cfgs,
        device,
        verbose,
    };
    job.run(limits, observer)
}

/// Every run's settings, checked before anything trains (see [`crate::train::settle`]);
/// each bad value is reported once. Without a device, the checks that need none.
pub(crate) fn resolve_all(compiled: &Compiled, grid: &Grid) -> Result<Vec<TrainConfig>, SweepError> {
    let mut cfgs = Vec::new();
    let mut errors: Vec<ConfigError> = Vec::new();
    for run in grid.runs() {
        match crate::train::settle::resolve(compiled, &run.overrides) {
            Ok(cfg) => cfgs.push(cfg),
            Err(SettleError::Settings(errs)) => {
                for e in errs {
                    if !errors.iter().any(|f| f.origin == e.origin) {
                        errors.push(e);
                    }
                }
            }
            Err(e) => return Err(TrainError::from(e).into()),
        }
    }
    if errors.is_empty() { Ok(cfgs) } else { Err(SweepError::Settings(errors)) }
}

/// [`resolve_all`], and each run's model fitted to `device`'s memory.
pub(crate) fn settle_all(compiled: &Compiled, grid: &Grid, device: Device) -> Result<Vec<Settled>, SweepError> {
    resolve_all(compiled, grid)?;
    let settled = grid.runs().into_iter().map(|run| crate::train::settle(compiled, &run.overrides, device));
    settled.collect::<Result<_, _>>().map_err(|e| TrainError::from(e).into())
}

pub fn read_sweep_record(dir: &Path) -> Result<SweepRecord, SweepError> {
    let path = dir.join(RECORD);
    let bad = |source: crate::report::Cause| SweepError::Record { dir: dir.display().to_string(), source };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(format!("{RECORD}: {e}").into()))?;
    serde_json::from_str(&text).map_err(|e| bad(format!("{RECORD}: {e}").into()))
}

/// A sweep is continued by name (or planned again into its directory) only when it is the
/// same sweep.
pub(crate) fn check_same(
    dir: &Path,
    recorded: &SweepRecord,
    new: &SweepRecord,
    compiled: &Compiled,
) -> Result<(), SweepError> {
    let mut differences = Vec::new();
    if recorded.grid != new.grid {
        differences.push("the grid (--set lists or --seeds)");
    }
    if recorded.data_source != new.data_source {
        differences.push("the data");
    }
    if recorded.max_batches != new.max_batches {
        differences.push("--max-batches");
    }
    let copy = std::fs::read_to_string(dir.join(&recorded.architecture_copy)).unwrap_or_default();
    if copy != compiled.graph.source.text() {
        differences.push("the architecture");
    }
    if differences.is_empty() {
        return Ok(());
    }
    Err(SweepError::Record {
        dir: dir.display().to_string(),
        source: format!(
            "a sweep of that name exists and differs in {}; give another --name, or continue it with \
             `avc sweep --resume {}`",
            differences.join(", "),
            dir.display()
        )
        .into(),
    })
}

/// A run's state, read from its directory.
pub fn run_status(dir: &Path, cfg: &TrainConfig) -> RunStatus {
    if let Ok(why) = std::fs::read_to_string(dir.join(FAILED)) {
        return RunStatus::Failed(why.trim().to_string());
    }
    match Checkpoint::locate(dir, "last").and_then(|d| Checkpoint::read_state(&d)) {
        Ok(s) if s.epoch_complete && s.epoch >= cfg.epochs => RunStatus::Done,
        Ok(s) if s.epoch_complete && cfg.early_stopping > 0 && s.early_stopping.stale >= cfg.early_stopping => {
            RunStatus::Done
        }
        Ok(_) => RunStatus::Interrupted,
        Err(_) => RunStatus::Pending,
    }
}

/// What training one run of a sweep needs besides the run and its settings.
pub(crate) struct SweepContext<'a> {
    pub dir: &'a Path,
    pub compiled: &'a Compiled,
    pub record: &'a SweepRecord,
    pub data: &'a TrainingData,
    pub device: Device,
    pub verbose: bool,
}

/// Trains one run of a sweep: resumes a run stopped part-way from its `last` checkpoint, or
/// starts it (clearing a directory left by a start that never reached its first checkpoint).
/// A run that diverges gets its `failed.txt`. In-process sweeps and scheduler tasks both
/// train through here.
pub(crate) fn train_run(
    ctx: &SweepContext,
    run: &PlannedRun,
    cfg: &Settled,
    status: &RunStatus,
    stop_at: Option<(i64, usize)>,
) -> Result<crate::train::RunReport, TrainError> {
    let run_dir = ctx.dir.join(&run.name);
    // The other ranks of a multi-rank task train without touching the run directory.
    let leader = crate::dist::is_leader();
    let result = if *status == RunStatus::Interrupted {
        crate::train::resume(&run_dir, &[], ctx.device, ctx.verbose)
    } else {
        if leader && run_dir.exists() {
            std::fs::remove_dir_all(&run_dir).map_err(|e| RunDirError::new(&run_dir, e))?;
        }
        let opts = TrainOptions {
            device: ctx.device,
            runs_dir: ctx.dir.to_path_buf(),
            run_name: Some(run.name.clone()),
            arch_path: PathBuf::from(&ctx.record.architecture),
            verbose: ctx.verbose,
            max_batches: ctx.record.max_batches,
            stop_at,
            data_source: ctx.record.data_source.clone(),
            overrides: run.overrides.clone(),
            init: None,
            profile: false,
        };
        crate::train::train(ctx.compiled, ctx.data, cfg, &opts)
    };
    if let Err(e @ TrainError::Diverged { .. }) = &result
        && leader
    {
        RunDir { path: run_dir }.write(FAILED, e.to_string().as_bytes())?;
    }
    result
}

/// Every run's row of results.csv, its status read from its directory.
pub(crate) fn rows<C: Borrow<TrainConfig>>(dir: &Path, runs: &[PlannedRun], cfgs: &[C]) -> Vec<ResultRow> {
    runs.iter()
        .zip(cfgs)
        .map(|(run, cfg)| {
            let run_dir = dir.join(&run.name);
            ResultRow {
                name: run.name.clone(),
                point: run.point.clone(),
                seed: run.seed,
                status: run_status(&run_dir, cfg.borrow()),
                best: crate::run::runs::read(&run_dir).best,
            }
        })
        .collect()
}

/// Rewrites results.csv, summary.csv, summary.md and sweep.png from the rows. Returns why
/// sweep.png could not be drawn when there were results to draw (the tables are written).
pub(crate) fn write_tables(
    dir: &RunDir,
    record: &SweepRecord,
    rows: &[ResultRow],
) -> Result<Option<String>, SweepError> {
    let axes = &record.grid.axes;
    let keys: Vec<&str> = axes.iter().map(|a| a.short_key()).collect();
    let summaries = table::summarize(rows);
    dir.write("results.csv", table::results_csv(&keys, rows).as_bytes())?;
    dir.write("summary.csv", table::summary_csv(&keys, &summaries).as_bytes())?;
    let title = dir.path.file_name().and_then(|n| n.to_str()).unwrap_or("sweep").to_string();
    let png = dir.file("sweep.png");
    let caption = format!("{title}: mean test top-1 of the best epoch by validation");
    let (picture, no_picture) = match crate::sweep::plot::plot_sweep(axes, &summaries, &caption, &png) {
        Ok(()) => (Some("sweep.png"), None),
        Err(e) => (None, summaries.iter().any(|s| s.n > 0).then(|| e.to_string())),
    };
    let header =
        table::SweepHeader { title: &title, command: &record.command, axes, seeds: &record.grid.seeds, picture };
    let md = table::summary_markdown(&header, rows, &summaries);
    dir.write("summary.md", md.as_bytes())?;
    Ok(no_picture)
}

/// What an in-process sweep tells its caller as it goes: the library prints nothing, the
/// CLI prints each event's line ([`std::fmt::Display`]).
#[derive(Debug, Clone, PartialEq)]
pub enum SweepEvent {
    /// Run `index` of `total` (from 0) is left alone: done, failed, or trained elsewhere.
    Skipped { index: usize, total: usize, run: String, why: String },
    /// Run `index` starts, or resumes from its `last` checkpoint.
    Started { index: usize, total: usize, run: String, resuming: bool },
    /// Run `index` finished; its best epoch by validation and that epoch's test metrics.
    Finished { index: usize, total: usize, run: String, best_epoch: i64, top1: f64, top5: f64 },
    /// A run diverged (its failed.txt says why); the sweep goes on.
    RunFailed { run: String, error: String },
    /// sweep.png could not be drawn; the tables are written.
    NoPicture { reason: String },
}

impl std::fmt::Display for SweepEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepEvent::Skipped { index, total, run, why } => write!(f, "[{}/{total}] {run}: {why}", index + 1),
            SweepEvent::Started { index, total, run, resuming: true } => {
                write!(f, "[{}/{total}] {run}: resuming from its last checkpoint", index + 1)
            }
            SweepEvent::Started { index, total, run, resuming: false } => write!(f, "[{}/{total}] {run}", index + 1),
            SweepEvent::Finished { index, total, run, best_epoch, top1, top5 } => write!(
                f,
                "[{}/{total}] {run}: best epoch {best_epoch}, test top-1 {:.1}%, top-5 {:.1}%",
                index + 1,
                100.0 * top1,
                100.0 * top5
            ),
            SweepEvent::RunFailed { run, error } => write!(f, "warning: run {run} failed, the sweep goes on: {error}"),
            SweepEvent::NoPicture { reason } => write!(f, "warning: {reason}"),
        }
    }
}

/// Receives a sweep's [`SweepEvent`]s.
pub trait SweepObserver {
    fn event(&mut self, event: SweepEvent);
}

/// Ignores every event (tests, and callers that read only the report).
pub struct Silent;

impl SweepObserver for Silent {
    fn event(&mut self, _event: SweepEvent) {}
}

/// A sweep being trained in this process.
struct Job<'a> {
    dir: RunDir,
    compiled: &'a Compiled,
    record: &'a SweepRecord,
    data: &'a TrainingData,
    /// Each planned run's settings, in grid order.
    cfgs: Vec<Settled>,
    device: Device,
    verbose: bool,
}

impl Job<'_> {
    fn run(&self, limits: SweepLimits, obs: &mut dyn SweepObserver) -> Result<SweepReport, SweepError> {
        let runs = self.record.grid.runs();
        let mut trained = 0;
        let mut ending = SweepEnding::Completed;
        for (i, (run, cfg)) in runs.iter().zip(&self.cfgs).enumerate() {
            if interrupt::requested() {
                ending = SweepEnding::Interrupted;
                break;
            }
            let run_dir = self.dir.path.join(&run.name);
            let status = run_status(&run_dir, cfg);
            if matches!(status, RunStatus::Done | RunStatus::Failed(_)) {
                let why = format!("{}, skipped", status.word());
                obs.event(SweepEvent::Skipped { index: i, total: runs.len(), run: run.name.clone(), why });
                continue;
            }
            if limits.max_runs.is_some_and(|m| trained >= m) {
                ending = SweepEnding::Paused;
                break;
            }
            // A scheduler's task may be training this run right now.
            let _lock = match TaskLock::acquire_patiently(&self.dir.path, i)? {
                LockState::Busy => {
                    let why = "trained by another process, skipped".to_string();
                    obs.event(SweepEvent::Skipped { index: i, total: runs.len(), run: run.name.clone(), why });
                    continue;
                }
                LockState::Held(lock) => Some(lock),
                LockState::Unsupported => None,
            };
            let stop_at = limits.stop_at.filter(|(at, _)| *at == i).map(|(_, pos)| pos);
            let resuming = status == RunStatus::Interrupted;
            obs.event(SweepEvent::Started { index: i, total: runs.len(), run: run.name.clone(), resuming });
            let ctx = SweepContext {
                dir: &self.dir.path,
                compiled: self.compiled,
                record: self.record,
                data: self.data,
                device: self.device,
                verbose: self.verbose,
            };
            let outcome = train_run(&ctx, run, cfg, &status, stop_at);
            trained += 1;
            match outcome {
                Ok(report) if report.ending == Ending::Interrupted => {
                    ending = SweepEnding::Interrupted;
                    break;
                }
                Ok(report) => obs.event(SweepEvent::Finished {
                    index: i,
                    total: runs.len(),
                    run: run.name.clone(),
                    best_epoch: report.best_epoch,
                    top1: report.best_test.top1,
                    top5: report.best_test.top5,
                }),
                Err(e @ TrainError::Diverged { .. }) => {
                    obs.event(SweepEvent::RunFailed { run: run.name.clone(), error: e.to_string() });
                }
                Err(e) => {
                    self.write_tables(&runs, obs)?;
                    return Err(SweepError::Run { run: run.name.clone(), error: Box::new(e) });
                }
            }
            self.write_tables(&runs, obs)?;
        }
        let rows = self.write_tables(&runs, obs)?;
        Ok(SweepReport { dir: self.dir.path.clone(), rows, trained, ending })
    }

    fn write_tables(&self, runs: &[PlannedRun], obs: &mut dyn SweepObserver) -> Result<Vec<ResultRow>, SweepError> {
        let rows = rows(&self.dir.path, runs, &self.cfgs);
        if let Some(reason) = write_tables(&self.dir, self.record, &rows)? {
            obs.event(SweepEvent::NoPicture { reason });
        }
        Ok(rows)
    }
}
