//! `avc`, the command people type: it links only the language crate, so `avc check`, `fmt`,
//! `graph`, `ops` and `lsp` start in milliseconds without loading libtorch (about 500 MiB).
//! Every other command (train, eval, export, `--help`, ...) is the libtorch-linked
//! `avc-torch` next to this binary: on Unix this process becomes it (exec), with the same
//! arguments and name, so its output, exit code and signals (Ctrl-C, SIGTERM) are those
//! of the program that runs; elsewhere it runs as a child and its exit code is returned.

use avc_lang::cli::{Dispatch, LangCommand, dispatch, fail_io};
use clap::Parser;
use std::ffi::OsString;
use std::process::{Command, ExitCode};

#[derive(Parser)]
#[command(
    name = "avc",
    version,
    about = "Compile, check and train audio-visual matching models from architecture files"
)]
struct Cli {
    #[command(subcommand)]
    command: LangCommand,
}

fn main() -> ExitCode {
    avc_lang::cli::restore_default_sigpipe();
    let args: Vec<OsString> = std::env::args_os().collect();
    let result = match dispatch(&args) {
        Dispatch::Here => Cli::parse_from(&args).command.run(),
        Dispatch::Torch => Err(run_torch(&args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}

/// Runs `avc-torch` with these arguments; returns only on failure to start it (exit code 2)
/// or, where there is no exec, with its exit code.
fn run_torch(args: &[OsString]) -> u8 {
    let torch = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(format!("avc-torch{}", std::env::consts::EXE_SUFFIX)),
        Err(e) => return fail_io(format!("cannot find this avc binary's path: {e}")),
    };
    let mut cmd = Command::new(&torch);
    cmd.args(args.iter().skip(1));
    match hand_over(cmd, args.first()) {
        Ok(code) => code,
        Err(err) => fail_io(format!(
            "cannot run {}: {err}; it is built with avc (`cargo build --release` or `cargo install --path .` \
             in the repository); `avc check`, `fmt`, `graph`, `ops` and `lsp` work without it",
            torch.display()
        )),
    }
}

/// Replaces this process with `cmd`, named `name` (so its messages say `avc`); returns
/// only the error that kept it from starting.
#[cfg(unix)]
fn hand_over(mut cmd: Command, name: Option<&OsString>) -> std::io::Result<u8> {
    use std::os::unix::process::CommandExt;
    if let Some(name) = name {
        cmd.arg0(name);
    }
    Err(cmd.exec())
}

/// Runs `cmd` as a child and returns its exit code.
#[cfg(not(unix))]
fn hand_over(mut cmd: Command, _name: Option<&OsString>) -> std::io::Result<u8> {
    cmd.status().map(|status| status.code().map_or(1, |c| c as u8))
}
