//! `avc train`: its arguments, a new run or a resumed one, and how a run is shown: a
//! progress bar per epoch on a terminal, a line per epoch (unless `-q`), warnings always.
//! The training loop itself prints nothing.

use super::data::SourceArgs;
use avc::report::{report, usage};
use avc::train::events::{Event, Observer};
use avc::train::{self, TrainOptions};
use avc::train::{format_epoch_line, init};
use avc_lang::cli::{MessageFormat, compile_or_report, print_diagnostics};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// `avc train`'s arguments.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// The architecture file (not needed with --resume).
    #[arg(required_unless_present = "resume")]
    pub file: Option<PathBuf>,
    /// Continue a run directory from its `last` checkpoint, with its recorded settings
    /// (plus any --set, e.g. more epochs).
    #[arg(long, value_name = "RUN", conflicts_with_all = ["file", "data", "name"])]
    pub resume: Option<PathBuf>,
    /// Override a setting of the file's `train:` section, e.g. `--set train.lr=0.001`.
    #[arg(long = "set", value_name = "train.KEY=VALUE")]
    pub overrides: Vec<String>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Parent directory of run directories.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Name of the run directory (default: <architecture>-<NNN>).
    #[arg(long)]
    pub name: Option<String>,
    /// Stop every epoch after this many batches (smoke tests).
    #[arg(long, value_parser = super::at_least_one)]
    pub max_batches: Option<usize>,
    /// No per-epoch lines or progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Show libtorch's whole message when it fails (its C++ backtrace), not only its
    /// first line.
    #[arg(long, short, conflicts_with = "quiet")]
    pub verbose: bool,
    #[command(flatten)]
    pub init: InitArgs,
    /// Time each training step's phases (data, forward, backward, in a data-parallel job the
    /// gradient all-reduce, optimiser step): a table at the end (per epoch too unless -q) and
    /// profile.json in the run directory.
    #[arg(long)]
    pub profile: bool,
    #[command(flatten)]
    pub dist: super::dist::DistArgs,
}

/// Starting a run from another run's weights.
#[derive(clap::Args)]
pub struct InitArgs {
    /// Start from the weights of this run directory (or checkpoint directory) where they fit
    /// by name and shape; prints what was loaded, skipped (another shape) and missing.
    #[arg(long, value_name = "RUN", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// Which checkpoint of --init-from: best or last.
    #[arg(long, default_value = "best", value_parser = ["best", "last"], requires = "init_from")]
    pub checkpoint: String,
    /// Load only the tensors of these nodes (dotted names as in the weights, e.g. `arnn` or
    /// `arnn.rnn`); repeat for several.
    #[arg(long, value_name = "NODE_PREFIX", requires = "init_from")]
    pub only: Vec<String>,
    /// Keep the loaded variables fixed: no gradients, not in the optimiser.
    #[arg(long, requires = "init_from")]
    pub freeze: bool,
}

impl InitArgs {
    pub fn into_init(self) -> Option<train::init::InitFrom> {
        let InitArgs { init_from, checkpoint, only, freeze } = self;
        init_from.map(|run| train::init::InitFrom { run, checkpoint, only, freeze })
    }
}

/// `avc train`: a new run, or `--resume RUN`.
pub fn train_cmd(args: TrainArgs) -> Result<(), u8> {
    if let Some(n) = args.dist.nproc.filter(|&n| n > 1) {
        return super::dist::launch_local(n);
    }
    super::dist::name_rank();
    let result = train_rank(args);
    if let Err(code) = result {
        // A rank that stops before the others wait for it in a collective (a compile or
        // settings error, bad data) says so, or they would wait for it until the timeout.
        avc::dist::announce_failure(&format!("it stopped with exit status {code}"), false);
    }
    result
}

/// This process's part of `avc train`: the whole run alone, or one rank of a job.
fn train_rank(args: TrainArgs) -> Result<(), u8> {
    let TrainArgs { file, resume, overrides, source, runs, name, max_batches, quiet, verbose, init, profile, dist } =
        args;
    let device = match avc::device::choose(&source.device) {
        Ok(device) => Ok(super::dist::join_job(device, dist.dist_timeout)?),
        Err(e) => Err(e),
    };
    // Only rank 0 (or a process alone) prints progress and results.
    let quiet = quiet || !avc::dist::is_leader();
    match (device, resume, file, source.data_source()) {
        (Err(e), ..) => Err(report(&e)),
        (_, _, _, Err(code)) => Err(code),
        (Ok(device), Some(run), ..) => resume_cmd(&run, &overrides, device, quiet, profile, verbose),
        (Ok(device), None, Some(file), Ok(data_source)) => {
            let opts = TrainOptions {
                device,
                runs_dir: runs,
                run_name: name,
                arch_path: file.clone(),
                verbose: !quiet,
                max_batches,
                stop_at: None,
                data_source,
                overrides,
                init: init.into_init(),
                profile,
            };
            train_new(&file, &opts, verbose)
        }
        (Ok(_), None, None, _) => Err(usage("give an architecture file, or --resume RUN")),
    }
}

/// How many ranks train on which engine, for the first line: `, 2 ranks (Gloo)`; empty for
/// a process alone.
fn job_line() -> String {
    avc::dist::group().map_or(String::new(), |g| format!(", {} ranks ({})", g.world, g.backend.name()))
}

fn train_new(file: &Path, opts: &TrainOptions, verbose: bool) -> Result<(), u8> {
    let compiled = compile_or_report(file, MessageFormat::Human)?;
    // Settled once, before the data are loaded; shown against the file's source.
    let cfg = train::settle(&compiled, &opts.overrides, opts.device).map_err(|e| settle_failed(&e, &compiled))?;
    let dataset = avc::data::expect::load(&compiled, &opts.data_source).map_err(|e| report(&e))?;
    for warning in &dataset.provenance.warnings {
        eprint!("{}", avc::report::prefixed(&format!("warning: {warning}\n")));
    }
    if opts.verbose {
        let ranks = job_line();
        println!(
            "training {} on {} ({} train / {} test clips) on {}{ranks}; {} parameters",
            file.display(),
            dataset.origin,
            dataset.train.len(),
            dataset.test.len(),
            avc::device::device_name(opts.device),
            avc_lang::check::render_count(compiled.checked.total_params()),
        );
    }
    avc::interrupt::install();
    let result = train::train_observed(&compiled, &dataset, &cfg, opts, observer(opts.verbose).as_mut());
    finish(result, verbose)
}

/// Prints why the settings cannot train this model: located in the file where they come from
/// it, else naming the flag.
fn settle_failed(e: &train::SettleError, compiled: &avc_lang::compile::Compiled) -> u8 {
    for d in e.diagnostics() {
        if d.labels.is_empty() {
            let help = d.help.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default();
            eprint!("{}", avc::report::prefixed(&format!("error: {}{help}\n", d.message)));
        } else {
            print_diagnostics(std::slice::from_ref(&d), &compiled.graph.source, MessageFormat::Human);
        }
    }
    1
}

fn resume_cmd(
    run: &Path,
    overrides: &[String],
    device: tch::Device,
    quiet: bool,
    profile: bool,
    verbose: bool,
) -> Result<(), u8> {
    if !quiet {
        println!("resuming {} on {}{}", run.display(), avc::device::device_name(device), job_line());
    }
    avc::interrupt::install();
    let result = train::resume_with(run, overrides, device, !quiet, profile, observer(!quiet).as_mut());
    finish(result, verbose)
}

/// How a run is shown: on the terminal, or (another rank than 0 of a job) not at all.
fn observer(verbose: bool) -> Box<dyn Observer> {
    if avc::dist::is_leader() { Box::new(Terminal::new(verbose)) } else { Box::new(avc::train::events::Silent) }
}

/// Reports how a run ended; a libtorch failure in one line, its whole text with `-v`.
fn finish(result: Result<train::RunReport, train::TrainError>, verbose: bool) -> Result<(), u8> {
    let report = result.map_err(|e| {
        let code = avc::report::report(&e);
        avc::dist::announce_failure(&e.to_string(), matches!(e, train::TrainError::Dist(_)));
        match avc::lower::torch_details(&e) {
            Some(details) if verbose => eprintln!("libtorch's message:\n{details}"),
            Some(_) => eprintln!("  (run with -v for libtorch's whole message and C++ backtrace)"),
            None => {}
        }
        code
    })?;
    if !avc::dist::is_leader() {
        return if report.ending == train::Ending::Interrupted { Err(130) } else { Ok(()) };
    }
    let dir = report.dir.display();
    if let Some(profile) = &report.profile {
        print!("{}", train::profile::render(profile));
    }
    if report.ending == train::Ending::Interrupted {
        println!("stopped; the run directory keeps a checkpoint. Resume with: avc train --resume {dir}");
        return Err(130);
    }
    println!(
        "best epoch {} (by validation): test top-1 {:.1}%, top-5 {:.1}%, MRR {:.3}; run directory {dir}",
        report.best_epoch,
        100.0 * report.best_test.top1,
        100.0 * report.best_test.top5,
        report.best_test.mrr,
    );
    Ok(())
}

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
            Event::Note(text) if self.verbose => println!("{text}"),
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
