//! `avc-torch`: the whole command line, linked with libtorch. Users type `avc` (src/bin/avc.rs),
//! which runs the language commands (check, fmt, graph, ops, lsp: `avc_lang::cli`) itself and
//! becomes this program for the others. Thin by design: it parses arguments, calls the
//! library and renders results; exit codes are 0 (ok), 1 (the model or data has errors), 2
//! (usage or I/O errors), 130 (stopped by Ctrl-C after saving a checkpoint).

use avc::train::{self, DataSource, TrainConfig, TrainOptions};
use avc_lang::cli::{LangCommand, MessageFormat, color, compile_or_report, fail_io, print_diagnostics};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "avc",
    version,
    about = "Compile, check and train audio-visual matching models from architecture files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

mod cli;

/// The language commands come first in `--help`, as `check` did before they moved to
/// `avc_lang::cli`.
#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Lang(LangCommand),
    /// Train an architecture on the embedded default data or on a course-layout directory.
    Train {
        /// The architecture file (not needed with --resume).
        #[arg(required_unless_present = "resume")]
        file: Option<PathBuf>,
        /// Continue a run directory from its `last` checkpoint, with its recorded settings
        /// (plus any --set, e.g. more epochs).
        #[arg(long, value_name = "RUN", conflicts_with_all = ["file", "data", "name"])]
        resume: Option<PathBuf>,
        /// Override a setting of the file's `train:` section, e.g. `--set train.lr=0.001`.
        #[arg(long = "set", value_name = "train.KEY=VALUE")]
        overrides: Vec<String>,
        #[command(flatten)]
        source: SourceArgs,
        /// Parent directory of run directories.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Name of the run directory (default: <architecture>-<NNN>).
        #[arg(long)]
        name: Option<String>,
        /// Stop every epoch after this many batches (smoke tests).
        #[arg(long, value_parser = cli::at_least_one)]
        max_batches: Option<usize>,
        /// No per-epoch lines or progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Show libtorch's whole message when it fails (its C++ backtrace), not only its
        /// first line.
        #[arg(long, short, conflicts_with = "quiet")]
        verbose: bool,
        #[command(flatten)]
        init: InitArgs,
        /// Time each training step's phases (data, forward, backward, optimiser step): a table at
        /// the end (per epoch too unless -q) and profile.json in the run directory.
        #[arg(long)]
        profile: bool,
    },
    /// Train an architecture over a grid of settings and seeds, one run directory each, and
    /// tabulate and plot the results (mean and std over seeds); or hand the grid to Slurm or
    /// GNU parallel (--emit) and collect it (--status, --collect). docs/sweeps.md.
    Sweep(Box<cli::sweep::SweepArgs>),
    /// Evaluate a trained run on its test split or other data: both directions, the 30-way
    /// and the full N-way protocol, 95% intervals; writes an evaluation directory.
    Eval(cli::eval::EvalArgs),
    /// Rank candidates for every query with a trained run: the best K audios of each video
    /// (or videos of each audio), as CSV and JSON lines.
    Retrieve(cli::eval::RetrieveArgs),
    /// Compare runs evaluated on the same clips: each against the first, per direction and
    /// protocol, with paired bootstrap intervals of the differences. docs/eval.md.
    Compare(cli::compare::CompareArgs),
    /// List run directories with their best (by validation) numbers.
    Runs {
        #[arg(default_value = "runs")]
        dir: PathBuf,
    },
    /// Data set tools.
    Data {
        #[command(subcommand)]
        command: cli::data::DataCommand,
    },
    /// Write a run's trained weights for PyTorch: safetensors with `state_dict` names
    /// (docs/export.md).
    Export {
        /// The run directory.
        run: PathBuf,
        /// Output file (default: <RUN>/model.safetensors).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Which checkpoint: best (by validation) or last.
        #[arg(long, default_value = "best", value_parser = ["best", "last"])]
        checkpoint: String,
        /// Also write test clips and avc's outputs on them, to check a PyTorch port.
        #[arg(long, value_name = "FILE")]
        sample: Option<PathBuf>,
        /// How many test clips the sample holds.
        #[arg(long, default_value_t = 8, value_parser = cli::at_least_one)]
        sample_clips: usize,
        /// Replace an existing output file that avc export did not write (never the run's
        /// own files: docs/safety.md).
        #[arg(long)]
        force: bool,
    },
    /// Print the libtorch version, CUDA availability, GPU count and thread count.
    Doctor,
}

/// Starting a run from another run's weights.
#[derive(clap::Args)]
struct InitArgs {
    /// Start from the weights of this run directory (or checkpoint directory) where they fit
    /// by name and shape; prints what was loaded, skipped (another shape) and missing.
    #[arg(long, value_name = "RUN", conflicts_with = "resume")]
    init_from: Option<PathBuf>,
    /// Which checkpoint of --init-from: best or last.
    #[arg(long, default_value = "best", value_parser = ["best", "last"], requires = "init_from")]
    checkpoint: String,
    /// Load only the tensors of these nodes (dotted names as in the weights, e.g. `arnn` or
    /// `arnn.rnn`); repeat for several.
    #[arg(long, value_name = "NODE_PREFIX", requires = "init_from")]
    only: Vec<String>,
    /// Keep the loaded variables fixed: no gradients, not in the optimiser.
    #[arg(long, requires = "init_from")]
    freeze: bool,
}

impl InitArgs {
    fn into_init(self) -> Option<train::init::InitFrom> {
        let InitArgs { init_from, checkpoint, only, freeze } = self;
        init_from.map(|run| train::init::InitFrom { run, checkpoint, only, freeze })
    }
}

/// Where the data come from and where the model runs: the same for `train` and `sweep`.
#[derive(clap::Args)]
struct SourceArgs {
    /// A course-layout directory (<id>/vfeat.npy, <id>/afeat.npy, train.txt, test_video.txt,
    /// test_audio.txt), yt8m:PATH_OR_GLOB (YouTube-8M TFRecords), a data file (.yaml) or
    /// synth[:SEED] (docs/data.md). Without it: the embedded synthetic data set.
    #[arg(long, value_name = "SOURCE")]
    data: Option<String>,
    #[command(flatten)]
    lists: cli::data::ListArgs,
    /// Seed of the embedded synthetic data set.
    #[arg(long, default_value_t = 1)]
    data_seed: u64,
    /// Change a knob of the embedded synthetic data, e.g. `--synth noise=0.5`
    /// (`avc data synth --help` lists them).
    #[arg(long = "synth", value_name = "KEY=VALUE")]
    synth: Vec<String>,
    /// auto (the GPU when there is one), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
}

impl SourceArgs {
    fn data_source(&self) -> Result<DataSource, u8> {
        let source = cli::data::source(self.data.as_deref(), &self.lists, &self.synth, Some(self.data_seed));
        source.map(|s| s.unwrap_or(DataSource::synth(self.data_seed))).map_err(fail_io)
    }
}

fn main() -> ExitCode {
    avc_lang::cli::restore_default_sigpipe();
    avc::device::keep_freed_tensor_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lang(command) => command.run(),
        Command::Train { file, resume, overrides, source, runs, name, max_batches, quiet, verbose, init, profile } => {
            let device = avc::device::choose(&source.device);
            match (device, resume, file, source.data_source()) {
                (Err(e), ..) => Err(fail_io(e)),
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
                    train_cmd(&file, &opts, verbose)
                }
                (Ok(_), None, None, _) => Err(fail_io("give an architecture file, or --resume RUN")),
            }
        }
        Command::Sweep(args) => cli::sweep::sweep_cmd(*args),
        Command::Eval(args) => cli::eval::eval_cmd(args),
        Command::Retrieve(args) => cli::eval::retrieve_cmd(args),
        Command::Compare(args) => cli::compare::compare_cmd(args),
        Command::Runs { dir } => match avc::run::runs::list(&dir) {
            Ok(rows) => {
                print!("{}", avc::run::runs::render(&rows));
                Ok(())
            }
            Err(e) => Err(fail_io(format!("{}: {e}", dir.display()))),
        },
        Command::Data { command } => cli::data::run(command),
        Command::Export { run, output, checkpoint, sample, sample_clips, force } => {
            let flag = if output.is_some() { "-o" } else { "the default output" };
            let out = output.unwrap_or_else(|| run.join("model.safetensors"));
            cli::export_claims(&run, &checkpoint, (flag, &out), sample.as_deref(), force)
                .and_then(|()| export_cmd(&run, &checkpoint, &out, sample.as_deref().map(|p| (p, sample_clips))))
        }
        Command::Doctor => doctor(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}

fn export_cmd(run: &Path, which: &str, out: &Path, sample: Option<(&Path, usize)>) -> Result<(), u8> {
    let done = avc::export::export(run, which, out, sample).map_err(fail_io)?;
    let values: i64 = done.tensors.iter().map(|(_, s)| s.iter().product::<i64>()).sum();
    println!("wrote {} ({} tensors, {values} values, checkpoint `{which}`)", done.path.display(), done.tensors.len());
    if let Some(sample) = done.sample {
        println!("wrote {} (test clips and avc's outputs on them)", sample.display());
    }
    Ok(())
}

fn train_cmd(file: &Path, opts: &TrainOptions, verbose: bool) -> Result<(), u8> {
    let compiled = compile_or_report(file, MessageFormat::Human)?;
    let cfg = TrainConfig::resolve(&compiled.graph.train, &opts.overrides)
        .and_then(|cfg| match train::loss::check(&compiled.graph, &cfg.loss, &opts.overrides) {
            Ok(()) => Ok(cfg),
            Err(e) => Err(vec![e]),
        })
        .map_err(|errs| {
            for e in &errs {
                if e.span.is_some() {
                    eprint!("{}", e.to_diagnostic().render(&compiled.graph.source, color()));
                } else {
                    eprintln!("error: {e}{}", e.help.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default());
                }
            }
            1
        })?;
    // train() refuses it too; checked here as well to fail before the data are loaded, and
    // to show the node in its source.
    if let Err(train::TrainError::TooLarge(e)) = train::fits_device(&compiled, &cfg, opts.device) {
        print_diagnostics(&[e.to_diagnostic()], &compiled.graph.source, MessageFormat::Human);
        return Err(1);
    }
    let dataset = avc::data::expect::load(&compiled, &opts.data_source).map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    for warning in &dataset.provenance.warnings {
        eprintln!("warning: {warning}");
    }
    if opts.verbose {
        println!(
            "training {} on {} ({} train / {} test clips) on {}; {} parameters",
            file.display(),
            dataset.origin,
            dataset.train.len(),
            dataset.test.len(),
            avc::device::device_name(opts.device),
            avc_lang::check::render_count(compiled.checked.total_params()),
        );
    }
    avc::interrupt::install();
    let result = train::train_observed(&compiled, &dataset, &cfg, opts, &mut cli::train::Terminal::new(opts.verbose));
    finish(result, verbose)
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
        println!("resuming {} on {}", run.display(), avc::device::device_name(device));
    }
    avc::interrupt::install();
    let result = train::resume_with(run, overrides, device, !quiet, profile, &mut cli::train::Terminal::new(!quiet));
    finish(result, verbose)
}

/// Reports how a run ended; a libtorch failure in one line, its whole text with `-v`.
fn finish(result: Result<train::RunReport, train::TrainError>, verbose: bool) -> Result<(), u8> {
    let report = result.map_err(|e| {
        eprintln!("error: {e}");
        match avc::lower::torch_details(&e) {
            Some(details) if verbose => eprintln!("libtorch's message:\n{details}"),
            Some(_) => eprintln!("  (run with -v for libtorch's whole message and C++ backtrace)"),
            None => {}
        }
        1
    })?;
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

fn doctor() -> Result<(), u8> {
    let env = avc::device::environment();
    println!("avc {}", env.avc_version);
    println!("libtorch {}", env.libtorch_version);
    println!("cuda available: {} ({} GPU{})", env.cuda_available, env.gpus, if env.gpus == 1 { "" } else { "s" });
    println!("cudnn available: {}", env.cudnn_available);
    println!("threads: {}", env.threads);
    println!("default device (--device auto): {}", env.default_device);
    for device in std::iter::once(tch::Device::Cpu).chain((0..env.gpus.max(0) as usize).map(tch::Device::Cuda)) {
        if let Some(budget) = avc::device::memory_budget(device) {
            let size = avc_lang::check::memory::bytes(budget.bytes);
            println!("memory models are checked against: {size} ({})", budget.source);
        }
    }
    if !env.cuda_available {
        println!("note: no usable GPU; avc runs on the CPU (CUDA 13 needs a recent NVIDIA driver)");
    }
    Ok(())
}
