//! `avc sweep`: train a grid in this process, or write it as a plan for Slurm or GNU parallel
//! (`--emit`), run one of its tasks (`--task`), and see or collect where it stands
//! (`--status`, `--collect`). The work is in `avc::sweep`.

use super::data::SourceArgs;
use avc::device::DeviceChoice;
use avc::interrupt;
use avc::report::{report, usage};
use avc::sweep::grid::Grid;
use avc::sweep::plan::{self, Engine, PlanOptions, TaskResources};
use avc::sweep::status;
use avc::sweep::table::RunStatus;
use avc::sweep::task::{self, TaskOptions, TaskResult};
use avc::sweep::{self, SweepEnding, SweepError, SweepEvent, SweepLimits, SweepObserver, SweepOptions, SweepReport};
use avc::train::Ending;
use avc_lang::cli::{MessageFormat, compile_or_report};
use std::path::{Path, PathBuf};

/// Everything after `avc sweep`.
#[derive(clap::Args)]
pub struct SweepArgs {
    /// The architecture file (not needed with --resume, --status, --collect or --task).
    #[arg(required_unless_present_any = ["resume", "status", "collect", "task"])]
    file: Option<PathBuf>,
    /// Continue a sweep directory in this process: finished runs are skipped, a stopped run
    /// resumes from its `last` checkpoint, the rest start.
    #[arg(long, value_name = "SWEEP_DIR", conflicts_with_all = ["file", "data", "name", "overrides", "seeds", "emit"])]
    resume: Option<PathBuf>,
    /// A setting, or a list of values to sweep: `--set train.lr=1e-1,5e-2,1e-2`. The grid is
    /// the product of all lists.
    #[arg(long = "set", value_name = "train.KEY=V1,V2,...")]
    overrides: Vec<String>,
    /// N (seeds 1..=N) or a list of seeds (`1,5,9`): every grid point is trained once per seed.
    #[arg(long, default_value = "1")]
    seeds: String,
    #[command(flatten)]
    source: SourceArgs,
    /// Parent directory of the sweep directory.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Name of the sweep directory (default: sweep-<architecture>-<NNN>). Running the same
    /// command with the same name again continues it.
    #[arg(long)]
    name: Option<String>,
    /// Stop every epoch of every run after this many batches (smoke tests).
    #[arg(long, value_parser = crate::cli::at_least_one)]
    max_batches: Option<usize>,
    /// Train at most this many runs now, then stop (continue later with --resume).
    #[arg(long, conflicts_with = "emit")]
    max_runs: Option<usize>,
    /// Only the per-run result lines and the summary, no per-epoch lines.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    plan: PlanArgs,
    #[command(flatten)]
    inspect: InspectArgs,
}

/// Handing the sweep to a scheduler (docs/sweeps.md).
#[derive(clap::Args)]
struct PlanArgs {
    /// Write the sweep as a plan instead of training it: an sbatch array script (slurm) or a
    /// commands file for GNU parallel (parallel), one task per run.
    #[arg(long, value_name = "ENGINE", value_parser = ["slurm", "parallel"])]
    emit: Option<String>,
    /// The sweep directory to plan into (default: --runs/--name, or runs/sweep-<arch>-<NNN>).
    #[arg(long, value_name = "DIR", requires = "emit", conflicts_with = "name")]
    out: Option<PathBuf>,
    /// Slurm partition (#SBATCH --partition).
    #[arg(long, requires = "emit")]
    partition: Option<String>,
    /// Slurm time limit per task, e.g. 02:00:00 (#SBATCH --time).
    #[arg(long, requires = "emit")]
    time: Option<String>,
    /// CPUs per task: Slurm's --cpus-per-task; with parallel, each job's threads.
    #[arg(long, requires = "emit")]
    cpus_per_task: Option<usize>,
    /// GPUs: per task for Slurm (--gres=gpu:N); with parallel, the machine's GPUs, one per job
    /// slot in turn (CUDA_VISIBLE_DEVICES).
    #[arg(long, requires = "emit")]
    gpus: Option<usize>,
    /// Slurm memory per task, e.g. 8G (#SBATCH --mem).
    #[arg(long, requires = "emit")]
    mem: Option<String>,
    /// Jobs at once: GNU parallel's --jobs (default: the cores over --cpus-per-task); for
    /// Slurm the most array tasks running at once.
    #[arg(long, requires = "emit")]
    jobs: Option<usize>,
    /// Slurm: a job script template of your own ({{placeholders}}; docs/sweeps.md).
    #[arg(long, value_name = "FILE", requires = "emit")]
    template: Option<PathBuf>,
    /// Slurm: train each run as N data-parallel ranks, started by srun inside its array task
    /// (#SBATCH --ntasks=N; --cpus-per-task is per rank).
    #[arg(long, value_name = "N", requires = "emit", value_parser = crate::cli::at_least_one)]
    ntasks_per_run: Option<usize>,
}

/// Looking at a sweep, and the scheduler's side of it.
#[derive(clap::Args)]
struct InspectArgs {
    /// Where every run of a sweep stands (running, failed with its log's tail, stopped,
    /// missing) and the command that resubmits only those that need it.
    #[arg(long, value_name = "SWEEP_DIR", conflicts_with_all = ["file", "resume", "collect", "task", "emit"])]
    status: Option<PathBuf>,
    /// --status, and write results.csv, summary.csv, summary.md and sweep.png from the runs
    /// that finished.
    #[arg(long, value_name = "SWEEP_DIR", conflicts_with_all = ["file", "resume", "task", "emit"])]
    collect: Option<PathBuf>,
    /// Run one task of a planned sweep (what the job script and commands file call): train
    /// run --index, resume it from `last`, or do nothing when it is finished.
    #[arg(long, value_name = "SWEEP_DIR", requires = "index", conflicts_with_all = ["file", "resume", "emit"])]
    task: Option<PathBuf>,
    /// The task's index: its position in sweep.json's `runs` (Slurm's array index).
    #[arg(long, requires = "task")]
    index: Option<usize>,
}

pub fn sweep_cmd(args: SweepArgs) -> Result<(), u8> {
    let SweepArgs { file, resume, overrides, seeds, source, runs, name, max_batches, max_runs, quiet, plan, inspect } =
        args;
    if let (Some(dir), Some(index)) = (&inspect.task, inspect.index) {
        return task_cmd(dir, index, quiet);
    }
    if let Some(dir) = &inspect.collect {
        // --collect writes its tables into the sweep directory: only into one.
        claim("--collect", dir, &[])?;
    }
    if let Some(dir) = inspect.collect.as_ref().or(inspect.status.as_ref()) {
        return status_cmd(dir, inspect.collect.is_some());
    }
    if let (Some(engine), Some(file)) = (plan.emit.clone(), &file) {
        let (runs_dir, name) = match &plan.out {
            Some(out) => split_out(out)?,
            None => (runs, name),
        };
        if let Some(name) = &name {
            let mut inputs = vec![avc::outputs::Input::Path(file.clone())];
            if let Ok(data) = source.data_source() {
                inputs.extend(avc::outputs::of_source(source.data.as_deref(), &data));
            }
            claim(if plan.out.is_some() { "--out" } else { "--name" }, &runs_dir.join(name), &inputs)?;
        }
        return plan_cmd(file, &engine, &overrides, &seeds, source, runs_dir, name, max_batches, plan);
    }
    let device = avc::device::choose(&source.device).map_err(usage)?;
    let limits = SweepLimits { max_runs, stop_at: None };
    match (resume, file) {
        (Some(dir), _) => {
            interrupt::install();
            finish(sweep::resume_sweep_observed(&dir, device, !quiet, limits, &mut Lines { quiet }), quiet)
        }
        (None, Some(file)) => {
            let opts = SweepOptions {
                device,
                runs_dir: runs,
                name,
                arch_path: file.clone(),
                verbose: !quiet,
                data_source: source.data_source()?,
                max_batches,
                command: command_line(),
                limits,
            };
            run_cmd(&file, &overrides, &seeds, &opts, quiet)
        }
        (None, None) => Err(usage("give an architecture file, or --resume SWEEP_DIR")),
    }
}

/// Claims a sweep directory for writing (docs/safety.md): a new or empty directory, or a
/// sweep's own (its `sweep.json`); printing why not.
fn claim(flag: &str, dir: &Path, inputs: &[avc::outputs::Input]) -> Result<(), u8> {
    use avc::outputs::{Kind, SWEEP};
    avc::outputs::claim(flag, dir, Kind::Dir(SWEEP), inputs, false).map(drop).map_err(usage)
}

/// `--out DIR` as the parent and the name of the sweep directory.
fn split_out(out: &Path) -> Result<(PathBuf, Option<String>), u8> {
    let name = out.file_name().and_then(|n| n.to_str()).map(String::from);
    match name {
        Some(name) => Ok((out.parent().map(Path::to_path_buf).unwrap_or_default(), Some(name))),
        None => Err(usage(format!("--out {}: expected a directory path ending in its name", out.display()))),
    }
}

fn sweep_error(e: SweepError) -> u8 {
    report(&e)
}

fn run_cmd(file: &Path, sets: &[String], seeds: &str, opts: &SweepOptions, quiet: bool) -> Result<(), u8> {
    let grid = Grid::parse(sets, seeds).map_err(usage)?;
    let compiled = compile_or_report(file, MessageFormat::Human)?;
    if opts.verbose {
        let runs = grid.runs().len();
        println!("sweeping {} over {runs} run{}", file.display(), if runs == 1 { "" } else { "s" });
    }
    interrupt::install();
    finish(sweep::sweep_observed(&compiled, &grid, opts, &mut Lines { quiet }), quiet)
}

/// Prints a sweep's events, one line each: progress on standard output (not with `-q`),
/// warnings on standard error.
struct Lines {
    quiet: bool,
}

impl SweepObserver for Lines {
    fn event(&mut self, event: SweepEvent) {
        match event {
            SweepEvent::RunFailed { .. } | SweepEvent::NoPicture { .. } => eprintln!("{event}"),
            _ if !self.quiet => println!("{event}"),
            _ => {}
        }
    }
}

/// Reports how an in-process sweep call ended: where the tables are, or how to continue.
fn finish(result: Result<SweepReport, SweepError>, quiet: bool) -> Result<(), u8> {
    let report = result.map_err(sweep_error)?;
    let dir = report.dir.display();
    let done = report.rows.iter().filter(|r| r.status == RunStatus::Done).count();
    match report.ending {
        SweepEnding::Interrupted => {
            println!(
                "stopped; finished runs are kept and the stopped one has a checkpoint. Continue with: avc sweep --resume {dir}"
            );
            Err(130)
        }
        SweepEnding::Paused => {
            println!("{done} of {} runs done; continue with: avc sweep --resume {dir}", report.rows.len());
            Ok(())
        }
        SweepEnding::Completed => {
            if !quiet {
                print!("{}", std::fs::read_to_string(report.dir.join("summary.csv")).unwrap_or_default());
            }
            println!("{done} of {} runs done; results.csv, summary.md and sweep.png in {dir}", report.rows.len());
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_cmd(
    file: &Path,
    engine: &str,
    sets: &[String],
    seeds: &str,
    source: SourceArgs,
    runs_dir: PathBuf,
    name: Option<String>,
    max_batches: Option<usize>,
    plan: PlanArgs,
) -> Result<(), u8> {
    let engine: Engine = engine.parse().map_err(sweep_error)?;
    source.device.parse::<DeviceChoice>().map_err(usage)?;
    let grid = Grid::parse(sets, seeds).map_err(usage)?;
    let avc = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map(|exe| avc_next_to(&exe))
        .map_err(|e| usage(format!("cannot find this avc binary's path for the scripts: {e}")))?;
    let compiled = compile_or_report(file, MessageFormat::Human)?;
    let opts = PlanOptions {
        engine,
        runs_dir,
        name,
        arch_path: file.to_path_buf(),
        device: source.device.clone(),
        data_source: source.data_source()?,
        max_batches,
        command: command_line(),
        avc,
        resources: TaskResources {
            partition: plan.partition,
            time: plan.time,
            cpus_per_task: plan.cpus_per_task,
            gpus: plan.gpus,
            mem: plan.mem,
        },
        jobs: plan.jobs,
        template: plan.template,
        ntasks_per_run: plan.ntasks_per_run.unwrap_or(1),
    };
    let written = plan::plan(&compiled, &grid, &opts).map_err(sweep_error)?;
    let dir = written.dir.display();
    let (what, how) = match engine {
        Engine::Slurm => ("a Slurm array job", "submit"),
        Engine::Parallel => ("GNU parallel", "run them"),
    };
    let again =
        if written.replanned { " (the same sweep was there: its scripts are rewritten, its runs kept)" } else { "" };
    println!("planned {} runs of {} for {what} in {dir}{again}", written.runs, file.display());
    println!("  sweep.json, {}, tasks/ (logs)", written.engine.script);
    println!("{how}:   {}", written.engine.submit);
    println!("progress:   avc sweep --status {dir}");
    println!("tables:     avc sweep --collect {dir}");
    Ok(())
}

/// One task of a planned sweep: prints what it does (the scheduler keeps it as the task's log).
/// Started by srun as one rank of several (`--ntasks-per-run`), it first joins the run's
/// group; every rank prints its first line, only rank 0 the rest.
fn task_cmd(dir: &Path, index: usize, quiet: bool) -> Result<(), u8> {
    super::dist::name_rank();
    let result = task_rank(dir, index, quiet);
    if let Err(code) = result {
        // The other ranks may be waiting for this one's word on the run (src/sweep/ranks.rs).
        avc::dist::announce_failure(&format!("it stopped with exit status {code}"), false);
    }
    result
}

fn task_rank(dir: &Path, index: usize, quiet: bool) -> Result<(), u8> {
    let record = sweep::read_sweep_record(dir).map_err(sweep_error)?;
    let run = task::run_name(&record, dir, index).map_err(sweep_error)?;
    let launch = avc::dist::Launch::from_env().map_err(|e| report(&e))?;
    let job = avc::device::slurm_job().map(|j| format!(", slurm job {j}")).unwrap_or_default();
    let rank = launch.as_ref().map(|l| format!("rank {} of {}, ", l.rank, l.world)).unwrap_or_default();
    println!(
        "task {index} of {}: {run} ({rank}on {}, pid {}{job})",
        dir.display(),
        avc::device::host_name(),
        std::process::id()
    );
    let device = match launch {
        Some(_) => {
            let choice = record.plan.as_ref().map_or("auto", |p| p.device.as_str());
            let device = avc::device::choose(choice).map_err(|e| report(&e))?;
            Some(super::dist::join_job(device, avc::dist::DEFAULT_TIMEOUT)?)
        }
        None => None,
    };
    let leader = avc::dist::is_leader();
    // Installed first so a SIGTERM during the data load is already a clean stop.
    interrupt::install();
    let opts = TaskOptions { verbose: !quiet && leader, stop_at: None, device };
    let report = task::run_task(dir, index, opts).map_err(sweep_error)?;
    let stopped = matches!(&report.result, TaskResult::Trained(r) if r.ending == Ending::Interrupted);
    if !leader {
        return if stopped { Err(130) } else { Ok(()) };
    }
    match report.result {
        TaskResult::AlreadyDone => {
            println!("{run}: finished before; nothing to do");
            Ok(())
        }
        TaskResult::Trained(_) if stopped => {
            println!("{run}: stopped; its `last` checkpoint is saved and the task resumes it when run again");
            Err(130)
        }
        TaskResult::Trained(r) => {
            println!(
                "{run}: best epoch {} (by validation), test top-1 {:.1}%, top-5 {:.1}%; run directory {}",
                r.best_epoch,
                100.0 * r.best_test.top1,
                100.0 * r.best_test.top5,
                r.dir.display()
            );
            Ok(())
        }
    }
}

fn status_cmd(dir: &Path, collect: bool) -> Result<(), u8> {
    let status = if collect { status::collect(dir) } else { status::status(dir) };
    let status = status.map_err(sweep_error)?;
    print!("{}", status::render(&status));
    if collect {
        let done = status.rows.iter().filter(|r| r.status == RunStatus::Done).count();
        let picture = if dir.join("sweep.png").is_file() { " and sweep.png" } else { "" };
        println!(
            "wrote results.csv, summary.csv, summary.md{picture} in {} ({done} of {} runs done)",
            dir.display(),
            status.rows.len()
        );
    }
    Ok(())
}

/// The `avc` that users type, beside this `avc-torch` (it hands the scripts' commands to this
/// program); this program itself where there is none.
fn avc_next_to(exe: &Path) -> PathBuf {
    let light = exe.with_file_name(format!("avc{}", std::env::consts::EXE_SUFFIX));
    if light.is_file() { light } else { exe.to_path_buf() }
}

/// The command line as typed (arguments with spaces quoted), for the sweep's record.
fn command_line() -> String {
    let words: Vec<String> = std::env::args()
        .enumerate()
        .map(|(i, a)| if i == 0 { "avc".to_string() } else { a })
        .map(|a| if a.contains([' ', '\'', '"']) { format!("'{}'", a.replace('\'', "'\\''")) } else { a })
        .collect();
    words.join(" ")
}
