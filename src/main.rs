//! `avc-torch`: the whole command line, linked with libtorch. Users type `avc` (src/bin/avc.rs),
//! which runs the language commands (check, fmt, graph, ops, lsp: `avc_lang::cli`) itself and
//! becomes this program for the others. Thin by design: the clap types and one `match`; each
//! command's argument handling and output are in `cli/`, its work in the library. Exit codes are 0 (ok), 1 (the model or data has errors), 2
//! (usage or I/O errors), 130 (stopped by Ctrl-C after saving a checkpoint).

use avc_lang::cli::LangCommand;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
    Train(Box<cli::train::TrainArgs>),
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
    Export(cli::export::ExportArgs),
    /// Print the libtorch version, CUDA availability, GPU count and thread count.
    Doctor,
}

fn main() -> ExitCode {
    avc_lang::cli::restore_default_sigpipe();
    avc::device::keep_freed_tensor_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lang(command) => command.run(),
        Command::Train(args) => cli::train::train_cmd(*args),
        Command::Sweep(args) => cli::sweep::sweep_cmd(*args),
        Command::Eval(args) => cli::eval::eval_cmd(args),
        Command::Retrieve(args) => cli::eval::retrieve_cmd(args),
        Command::Compare(args) => cli::compare::compare_cmd(args),
        Command::Runs { dir } => cli::runs_cmd(&dir),
        Command::Data { command } => cli::data::run(command),
        Command::Export(args) => cli::export::export_cmd(args),
        Command::Doctor => cli::doctor::doctor(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}
