//! `avc-lang`: the language tools alone, with no libtorch to install: `avc-lang check FILE`,
//! `fmt`, `graph`, `ops` and `lsp`, with the flags, output and exit codes of `avc`'s
//! commands of the same names (both run [`avc_lang::cli`]). Install it with
//! `cargo install --path crates/avc-lang`.

use avc_lang::cli::LangCommand;
use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "avc-lang",
    version,
    about = "Check, format and draw audio-visual matching architecture files (avc's language tools, without libtorch)"
)]
struct Cli {
    #[command(subcommand)]
    command: LangCommand,
}

fn main() -> ExitCode {
    avc_lang::cli::restore_default_sigpipe();
    match Cli::parse().command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}
