//! `avc sweep --emit slurm|parallel`: a sweep written as a plan for a scheduler instead of
//! trained in this process. The plan is the sweep directory an in-process sweep would make
//! (`sweep.json`, the architecture copy) plus, per engine:
//!
//! * Slurm: `sweep.sbatch`, an array job with one task per run (index = position in
//!   `sweep.json`'s `runs`), its resources from flags or a template ([`crate::sweep::slurm`]);
//!   each task's output goes to `tasks/<index>.log`.
//! * GNU parallel: `parallel.tasks`, one command line per run (line I + 1 is task I), each
//!   with its thread count (`OMP_NUM_THREADS`), optionally a GPU per job slot, and its output
//!   appended to `tasks/<index>.log`; and the command that runs the file with N jobs.
//!
//! Every task is `avc sweep --task DIR --index I` ([`crate::sweep::task`]): it trains one
//! ordinary run directory, resumes it when run again, and leaves a finished run alone.
//! Paths in the scripts are absolute, so tasks may start anywhere.

use crate::run::rundir::RunDir;
use crate::sweep::grid::Grid;
use crate::sweep::slurm::{self, ScriptValues};
use crate::sweep::task::TASKS;
use crate::sweep::{self, RECORD, SweepError, SweepRecord};
use crate::train::DataSource;
use avc_lang::compile::Compiled;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The schedulers avc writes plans for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    Slurm,
    Parallel,
}

impl std::str::FromStr for Engine {
    type Err = SweepError;
    fn from_str(s: &str) -> Result<Engine, SweepError> {
        match s {
            "slurm" => Ok(Engine::Slurm),
            "parallel" => Ok(Engine::Parallel),
            other => Err(SweepError::Plan(format!("--emit {other}: expected slurm or parallel"))),
        }
    }
}

impl Engine {
    /// The file the plan writes into the sweep directory.
    pub fn script(self) -> &'static str {
        match self {
            Engine::Slurm => "sweep.sbatch",
            Engine::Parallel => "parallel.tasks",
        }
    }
}

/// What each task may use. Slurm: the `#SBATCH` resources. GNU parallel: `cpus_per_task` is
/// each job's thread count and `gpus` the machine's GPUs, handed out one per job slot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
}

/// How a sweep was handed to a scheduler: `sweep.json`'s `plan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnginePlan {
    pub engine: Engine,
    /// The sweep directory as the scripts name it (absolute).
    pub dir: String,
    /// The avc binary the tasks run.
    pub avc: String,
    /// Every task's `--device` (`auto`: the GPU the scheduler makes visible, else the CPU).
    pub device: String,
    pub resources: TaskResources,
    /// GNU parallel: jobs at once. Slurm: the most array tasks running at once (`%N`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<usize>,
    /// Slurm: the job's name, by which `--status` finds the sweep's tasks in `squeue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Slurm: the processes (data-parallel ranks) that train each run, started by `srun`
    /// inside its array task (`--ntasks-per-run`). Plans written before it existed had one.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ntasks_per_run: usize,
    /// The job script or commands file, in the sweep directory.
    pub script: String,
    /// The command that submits every task.
    pub submit: String,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// What to plan, besides the grid.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub engine: Engine,
    /// Parent of the sweep directory, and its name (default `sweep-<arch>-<NNN>`). A
    /// directory that holds the same sweep already is planned again (new scripts, same runs).
    pub runs_dir: PathBuf,
    pub name: Option<String>,
    pub arch_path: PathBuf,
    pub data_source: DataSource,
    pub max_batches: Option<usize>,
    /// The command line, recorded in sweep.json.
    pub command: String,
    /// The avc binary the tasks run (the one planning, normally).
    pub avc: PathBuf,
    pub device: String,
    pub resources: TaskResources,
    pub jobs: Option<usize>,
    /// Slurm: the user's job script template instead of avc's.
    pub template: Option<PathBuf>,
    /// Slurm: data-parallel ranks per run (1: one process per run, as before).
    pub ntasks_per_run: usize,
}

/// A written plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub dir: PathBuf,
    /// What sweep.json records of it.
    pub engine: EnginePlan,
    pub runs: usize,
    /// Whether the directory held this sweep already (its scripts were rewritten).
    pub replanned: bool,
}

/// Writes the plan: checks every run's settings and the data first (so no task fails on
/// what planning could see), then the sweep directory, `sweep.json` and the engine's script.
pub fn plan(compiled: &Compiled, grid: &Grid, opts: &PlanOptions) -> Result<Plan, SweepError> {
    check_flags(opts)?;
    sweep::resolve_all(compiled, grid)?;
    let data_source = absolute_data(&opts.data_source)?;
    let data = crate::data::expect::load(compiled, &data_source).map_err(crate::train::TrainError::from)?;
    crate::data::expect::check(compiled, &data).map_err(crate::train::TrainError::from)?;
    let mut record = SweepRecord::new(compiled, grid, &opts.arch_path, &data_source, &opts.command);
    record.max_batches = opts.max_batches;
    let (dir, replanned) = sweep_dir(compiled, &record, opts)?;
    let written = write_plan(&dir, record, compiled, opts);
    if written.is_err() && !replanned {
        // Nothing half-planned is left to be mistaken for a sweep.
        let _ = std::fs::remove_dir_all(&dir.path);
    }
    let (engine, runs) = written?;
    Ok(Plan { dir: dir.path, engine, runs, replanned })
}

/// The engine's script and `sweep.json` (written last: a directory with it is a whole plan).
fn write_plan(
    dir: &RunDir,
    mut record: SweepRecord,
    compiled: &Compiled,
    opts: &PlanOptions,
) -> Result<(EnginePlan, usize), SweepError> {
    let abs = std::path::absolute(&dir.path).map_err(|e| SweepError::Plan(format!("{}: {e}", dir.path.display())))?;
    std::fs::create_dir_all(abs.join(TASKS)).map_err(|e| SweepError::Plan(format!("{}: {e}", abs.display())))?;
    let (engine_plan, script) = match opts.engine {
        Engine::Slurm => slurm_plan(&abs, &record, opts)?,
        Engine::Parallel => parallel_plan(&abs, &record, opts),
    };
    dir.write(opts.engine.script(), script.as_bytes())?;
    if opts.engine == Engine::Slurm {
        make_executable(&dir.file(opts.engine.script()));
    }
    record.plan = Some(engine_plan.clone());
    sweep::write_record(dir, &record, compiled)?;
    Ok((engine_plan, record.runs.len()))
}

/// Flags that do not fit the engine are refused rather than silently ignored.
fn check_flags(opts: &PlanOptions) -> Result<(), SweepError> {
    let res = &opts.resources;
    if opts.engine == Engine::Parallel {
        let slurm_only = [
            ("--partition", res.partition.is_some()),
            ("--time", res.time.is_some()),
            ("--mem", res.mem.is_some()),
            ("--ntasks-per-run", opts.ntasks_per_run != 1),
        ];
        let given: Vec<&str> = slurm_only.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
        if !given.is_empty() || opts.template.is_some() {
            let mut flags = given;
            if opts.template.is_some() {
                flags.push("--template");
            }
            return Err(SweepError::Plan(format!(
                "{} {} for --emit slurm",
                flags.join(", "),
                if flags.len() == 1 { "is" } else { "are" }
            )));
        }
    }
    type Check = fn(&str) -> Result<(), String>;
    let checks: [(&Option<String>, Check); 3] =
        [(&res.partition, slurm::check_partition), (&res.time, slurm::check_time), (&res.mem, slurm::check_mem)];
    for (value, check) in checks {
        if let Some(v) = value {
            check(v).map_err(SweepError::Plan)?;
        }
    }
    let ranks = Some(opts.ntasks_per_run);
    for (flag, value) in [
        ("--cpus-per-task", res.cpus_per_task),
        ("--gpus", res.gpus),
        ("--jobs", opts.jobs),
        ("--ntasks-per-run", ranks),
    ] {
        if value == Some(0) {
            return Err(SweepError::Plan(format!("{flag} 0: expected at least 1")));
        }
    }
    Ok(())
}

/// A data directory is recorded absolute: tasks may start in any directory.
fn absolute_data(source: &DataSource) -> Result<DataSource, SweepError> {
    source.absolute().map_err(|e| SweepError::Plan(format!("--data: {e}")))
}

/// The sweep directory: new, or one that holds the same sweep (planned again).
fn sweep_dir(compiled: &Compiled, record: &SweepRecord, opts: &PlanOptions) -> Result<(RunDir, bool), SweepError> {
    if let Some(name) = &opts.name {
        let path = opts.runs_dir.join(name);
        if path.join(RECORD).is_file() {
            let recorded = sweep::read_sweep_record(&path)?;
            sweep::check_same(&path, &recorded, record, compiled)?;
            return Ok((RunDir { path }, true));
        }
        if path.exists() {
            return Err(SweepError::Plan(format!(
                "{} exists and holds no sweep ({RECORD}); give another directory",
                path.display()
            )));
        }
    }
    let stem = opts.arch_path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    Ok((RunDir::create(&opts.runs_dir, &format!("sweep-{stem}"), opts.name.as_deref())?, false))
}

fn slurm_plan(dir: &Path, record: &SweepRecord, opts: &PlanOptions) -> Result<(EnginePlan, String), SweepError> {
    if dir.display().to_string().chars().any(char::is_whitespace) {
        return Err(SweepError::Plan(format!(
            "{}: #SBATCH lines cannot name a path with spaces; plan the sweep into another directory",
            dir.display()
        )));
    }
    let (template, origin) = match &opts.template {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| SweepError::Plan(format!("--template {}: {e}", path.display())))?,
            path.display().to_string(),
        ),
        None => (slurm::DEFAULT_TEMPLATE.to_string(), "avc's template".to_string()),
    };
    let script = dir.join(Engine::Slurm.script());
    let avc = shell_word(&opts.avc.display().to_string());
    let dir_word = shell_word(&dir.display().to_string());
    let n = record.runs.len();
    let throttle = opts.jobs.map(|j| format!("%{j}")).unwrap_or_default();
    let job_name = slurm::job_name(dir);
    let ranks = opts.ntasks_per_run;
    let task = format!("{avc} sweep --task {dir_word} --index \"$SLURM_ARRAY_TASK_ID\"");
    let values = ScriptValues::new(
        [
            ("task", slurm::task_command(&task, ranks, opts.resources.cpus_per_task)),
            ("avc", avc),
            ("dir", dir_word),
            ("script", shell_word(&script.display().to_string())),
            ("sweep", dir.file_name().and_then(|n| n.to_str()).unwrap_or("sweep").to_string()),
            ("runs", n.to_string()),
            ("job_name", job_name.clone()),
            ("array", format!("0-{}{throttle}", n.saturating_sub(1))),
            ("log", format!("{}/%a.log", dir.join(TASKS).display())),
        ],
        &opts.resources,
        ranks,
    );
    let text = slurm::render(&template, &origin, &values)?;
    let plan = EnginePlan {
        engine: Engine::Slurm,
        dir: dir.display().to_string(),
        avc: opts.avc.display().to_string(),
        device: opts.device.clone(),
        resources: opts.resources.clone(),
        jobs: opts.jobs,
        job_name: Some(job_name),
        ntasks_per_run: ranks,
        script: Engine::Slurm.script().to_string(),
        submit: format!("sbatch {}", shell_word(&script.display().to_string())),
    };
    Ok((plan, text))
}

/// Jobs at once and threads per job: what was asked, the rest filled in so that jobs times
/// threads is about the machine's cores (by default one job per run up to the cores).
fn jobs_and_threads(jobs: Option<usize>, threads: Option<usize>, runs: usize, cores: usize) -> (usize, usize) {
    match (jobs, threads) {
        (Some(j), Some(t)) => (j, t),
        (Some(j), None) => (j, (cores / j).max(1)),
        (None, Some(t)) => ((cores / t).max(1), t),
        (None, None) => {
            let j = cores.min(runs).max(1);
            (j, (cores / j).max(1))
        }
    }
}

fn parallel_plan(dir: &Path, record: &SweepRecord, opts: &PlanOptions) -> (EnginePlan, String) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (jobs, threads) = jobs_and_threads(opts.jobs, opts.resources.cpus_per_task, record.runs.len(), cores);
    let avc = shell_word(&opts.avc.display().to_string());
    let dir_word = shell_word(&dir.display().to_string());
    // GNU parallel numbers its job slots from 1 in $PARALLEL_JOBSLOT.
    let gpu = opts.resources.gpus.map(|g| format!("CUDA_VISIBLE_DEVICES=$(( (PARALLEL_JOBSLOT - 1) % {g} )) "));
    let mut text = String::new();
    for index in 0..record.runs.len() {
        let log = shell_word(&dir.join(TASKS).join(format!("{index}.log")).display().to_string());
        text.push_str(&format!(
            "{}OMP_NUM_THREADS={threads} {avc} sweep --task {dir_word} --index {index} >> {log} 2>&1\n",
            gpu.as_deref().unwrap_or("")
        ));
    }
    let script = dir.join(Engine::Parallel.script());
    let resources = TaskResources { cpus_per_task: Some(threads), ..opts.resources.clone() };
    let plan = EnginePlan {
        engine: Engine::Parallel,
        dir: dir.display().to_string(),
        avc: opts.avc.display().to_string(),
        device: opts.device.clone(),
        resources,
        jobs: Some(jobs),
        job_name: None,
        ntasks_per_run: 1,
        script: Engine::Parallel.script().to_string(),
        submit: format!("parallel --jobs {jobs} < {}", shell_word(&script.display().to_string())),
    };
    (plan, text)
}

/// The command that (re)submits the tasks `indices` of a sweep in `dir`: all of them when
/// `indices` is every task, only those otherwise. Without a plan: `avc sweep --resume DIR`.
pub fn resubmit_command(record: &SweepRecord, dir: &Path, indices: &[usize]) -> String {
    let all = indices.len() == record.grid.runs().len();
    let Some(plan) = &record.plan else {
        return format!("avc sweep --resume {}", shell_word(&dir.display().to_string()));
    };
    let script = std::path::absolute(dir.join(&plan.script)).unwrap_or_else(|_| dir.join(&plan.script));
    let script = shell_word(&script.display().to_string());
    match plan.engine {
        _ if all => plan.submit.clone(),
        Engine::Slurm => {
            let throttle = plan.jobs.map(|j| format!("%{j}")).unwrap_or_default();
            format!("sbatch --array={}{throttle} {script}", index_ranges(indices))
        }
        Engine::Parallel => {
            let lines: Vec<String> = indices.iter().map(|i| format!("{}p", i + 1)).collect();
            let jobs = plan.jobs.unwrap_or(1).min(indices.len()).max(1);
            format!("sed -n '{}' {script} | parallel --jobs {jobs}", lines.join(";"))
        }
    }
}

/// `0-3,5,7-8`: sorted indices with runs folded, as `sbatch --array` takes them.
pub fn index_ranges(indices: &[usize]) -> String {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start { start.to_string() } else { format!("{start}-{}", sorted[i]) });
        i += 1;
    }
    parts.join(",")
}

/// A word for a POSIX shell: as it is when it has only safe characters, else single-quoted.
pub fn shell_word(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./=,:@%+".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The job script may also be run by hand (`bash` is what sbatch uses either way).
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mut perms = meta.permissions();
        perms.set_mode(perms.mode() | 0o111);
        let _ = std::fs::set_permissions(path, perms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_fold_neighbours() {
        assert_eq!(index_ranges(&[7, 0, 1, 2, 3, 5, 8]), "0-3,5,7-8");
        assert_eq!(index_ranges(&[4]), "4");
        assert_eq!(index_ranges(&[]), "");
    }

    #[test]
    fn shell_words_quote_only_when_needed() {
        assert_eq!(shell_word("/runs/sweep-a-001"), "/runs/sweep-a-001");
        assert_eq!(shell_word("/my runs/it's"), "'/my runs/it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn jobs_times_threads_fits_the_cores() {
        assert_eq!(jobs_and_threads(None, None, 8, 16), (8, 2));
        assert_eq!(jobs_and_threads(None, None, 100, 16), (16, 1));
        assert_eq!(jobs_and_threads(Some(4), None, 8, 16), (4, 4));
        assert_eq!(jobs_and_threads(None, Some(8), 8, 16), (2, 8));
        assert_eq!(jobs_and_threads(None, Some(32), 8, 16), (1, 32));
        assert_eq!(jobs_and_threads(Some(3), Some(1), 8, 2), (3, 1));
    }
}
