//! The command line of the language tools: `check`, `fmt`, `graph`, `ops` and `lsp`, their
//! flags and their output, shared by every binary that offers them (the light `avc`, the
//! libtorch-linked `avc-torch` and the stand-alone `avc-lang`), so all three behave alike.
//! Exit codes: 0 ok, 1 the model has errors, 2 usage or I/O errors.

use crate::check::memory::Budget;
use crate::compile::{self, Compiled, Failed};
use crate::diag::{self, Diagnostic};
use crate::output::{self, FileKind, Input, Kind, Output};
use crate::source::SourceFile;
use clap::{Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// The subcommands that need no libtorch; [`LangCommand::NAMES`] lists them.
#[derive(Subcommand)]
pub enum LangCommand {
    /// Parse and shape-check an architecture; print its summary table or its errors.
    Check {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        message_format: MessageFormat,
        /// The device whose memory the model must fit in: auto, cpu, cuda or cuda:N.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Measure the model against this much memory instead (e.g. 512M, 4G).
        #[arg(long, value_name = "SIZE")]
        max_memory: Option<String>,
    },
    /// Draw the graph: SVG (written by avc itself), DOT or Mermaid.
    Graph {
        file: PathBuf,
        /// Output file; its extension picks the format (.svg, .dot, .mmd). Default: <name>.svg here.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// svg, dot or mermaid (overrides the extension).
        #[arg(long)]
        format: Option<String>,
        /// Draw each top-level block instance as one box.
        #[arg(long)]
        collapse: bool,
        /// Replace an existing file that avc did not draw (docs/safety.md).
        #[arg(long)]
        force: bool,
    },
    /// Print an architecture in the YAML or the DSL language (comments kept where possible).
    Fmt {
        file: PathBuf,
        /// The language to print: dsl or yaml (default: the file's own).
        #[arg(long)]
        to: Option<String>,
        /// Write the result to this file instead of standard output (never the input itself;
        /// an existing file only with --force).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Replace an existing output file (docs/safety.md).
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// A language server for editors (LSP over standard input and output): diagnostics,
    /// hover with shapes and costs, go to definition, completion, outline. docs/editors.md.
    Lsp,
    /// List the ops, their parameters and shape rules.
    Ops {
        /// Print the Markdown reference embedded in docs/language.md.
        #[arg(long)]
        markdown: bool,
    },
}

impl LangCommand {
    /// The subcommands' names as typed on the command line.
    pub const NAMES: [&'static str; 5] = ["check", "graph", "fmt", "lsp", "ops"];

    /// Runs the command; `Err` carries the exit code (the message is already printed).
    pub fn run(self) -> Result<(), u8> {
        match self {
            LangCommand::Check { file, message_format, device, max_memory } => {
                check(&file, message_format, &device, max_memory.as_deref())
            }
            LangCommand::Graph { file, output, format, collapse, force } => {
                let drawing = crate::graph::Drawing { collapse };
                graph_cmd(&file, output, format.as_deref(), drawing, force)
            }
            LangCommand::Fmt { file, to, output, force } => fmt_cmd(&file, to.as_deref(), output.as_deref(), force),
            LangCommand::Lsp => crate::lsp::server::run_stdio().map_err(fail_io),
            LangCommand::Ops { markdown } => {
                let text =
                    if markdown { crate::ops::docs::reference_markdown() } else { crate::ops::docs::reference_text() };
                print!("{text}");
                Ok(())
            }
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum MessageFormat {
    Human,
    Json,
}

/// Makes a closed standard output end the process the way it ends `cat` or `grep`: killed
/// by SIGPIPE, quietly, exit status 128 + 13 in a shell (`avc check big.avc | head -2`).
/// Rust's runtime ignores SIGPIPE, so without this every `print!` to a closed pipe panics
/// ("failed printing to stdout"). Call it first thing in `main`; every binary that runs
/// [`LangCommand`]s does. Nothing on Windows, which has no SIGPIPE.
pub fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default, before any thread starts;
    // no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// What every line this module prints to standard error starts with (`rank N: ` in one
/// process of a data-parallel job, so that interleaved messages say whose they are).
static LINE_PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the prefix of the messages printed here (once per process; later calls do nothing).
pub fn set_line_prefix(prefix: String) {
    let _ = LINE_PREFIX.set(prefix);
}

/// `text` with the line prefix before each of its lines, if one is set.
pub fn prefixed(text: &str) -> String {
    match LINE_PREFIX.get() {
        Some(prefix) => text.lines().map(|l| format!("{prefix}{l}\n")).collect(),
        None => text.to_string(),
    }
}

/// Prints a usage or I/O error and returns exit code 2.
pub fn fail_io(message: impl std::fmt::Display) -> u8 {
    eprint!("{}", prefixed(&format!("error: {message}\n")));
    2
}

/// Whether messages on standard error get colours.
pub fn color() -> bool {
    std::io::stderr().is_terminal()
}

pub fn print_diagnostics(diags: &[Diagnostic], src: &SourceFile, format: MessageFormat) {
    match format {
        MessageFormat::Human => eprint!("{}", prefixed(&diag::render_all(diags, src, color()))),
        MessageFormat::Json => {
            for d in diags {
                println!("{}", d.to_json(src));
            }
        }
    }
}

/// Compiles a file, printing diagnostics; Err carries the exit code.
pub fn compile_or_report(file: &Path, format: MessageFormat) -> Result<Compiled, u8> {
    match compile::compile_file(file) {
        Err(e) => Err(fail_io(e)),
        Ok(Err(failed)) => {
            report_failure(&failed, format);
            Err(1)
        }
        Ok(Ok(c)) => {
            print_diagnostics(&c.checked.diagnostics(), &c.graph.source, format);
            Ok(c)
        }
    }
}

fn report_failure(failed: &Failed, format: MessageFormat) {
    if let (Some((graph, checked)), MessageFormat::Human) = (&failed.partial, format) {
        println!("{}", crate::check::render_table(graph, checked));
    }
    print_diagnostics(&failed.diagnostics, &failed.source, format);
}

fn check(file: &Path, format: MessageFormat, device: &str, max_memory: Option<&str>) -> Result<(), u8> {
    use crate::host::{budget_for, parse_size};
    let budget = match max_memory {
        Some(size) => Some(Budget {
            bytes: parse_size(size).map_err(|e| fail_io(format!("--max-memory {e}")))?,
            source: "--max-memory".into(),
        }),
        None => budget_for(device).map_err(fail_io)?,
    };
    let c = compile_or_report(file, format)?;
    if format == MessageFormat::Human {
        print!("{}", crate::check::render_table(&c.graph, &c.checked));
        print!("{}", crate::check::memory::activations_line(&c.graph, &c.checked, batch_size(&c)));
    }
    refuse_oversized(&c, batch_size(&c), budget.as_ref(), format)
}

/// The architecture's own `batch_size` (the train settings' default, 64, otherwise): what
/// `avc check` measures one batch of activations with.
fn batch_size(c: &Compiled) -> u64 {
    let setting = c.graph.train.iter().find(|s| s.key.name == "batch_size");
    match setting.map(|s| &s.value.kind) {
        Some(crate::ast::ValueKind::Int(n)) if *n >= 1 => *n as u64,
        _ => 64,
    }
}

/// Refuses a model that cannot fit in `budget` (exit code 1), printing the diagnostic.
pub fn refuse_oversized(c: &Compiled, batch: u64, budget: Option<&Budget>, format: MessageFormat) -> Result<(), u8> {
    match budget.and_then(|b| crate::check::memory::refuse_oversized(&c.graph, &c.checked, batch, b)) {
        Some(e) => {
            print_diagnostics(&[e.to_diagnostic()], &c.graph.source, format);
            Err(1)
        }
        None => Ok(()),
    }
}

fn graph_cmd(
    file: &Path,
    output: Option<PathBuf>,
    format: Option<&str>,
    drawing: crate::graph::Drawing,
    force: bool,
) -> Result<(), u8> {
    use crate::graph::PictureFormat;
    let format = match (format, &output) {
        (Some(f), _) => f.parse::<PictureFormat>().map_err(fail_io)?,
        (None, Some(path)) => match (PictureFormat::from_path(path), path.extension()) {
            (Some(format), _) => format,
            (None, None) => PictureFormat::Svg,
            (None, Some(ext)) => {
                return Err(fail_io(format!(
                    "-o {}: avc graph draws .svg, .dot (or .gv) and .mmd (or .mermaid) files, not .{}; \
                     for a PNG, convert the SVG (e.g. `rsvg-convert g.svg -o g.png`), or give --format",
                    path.display(),
                    ext.to_string_lossy()
                )));
            }
        },
        (None, None) => PictureFormat::Svg,
    };
    let stem = file.file_stem().map_or_else(|| PathBuf::from("graph"), PathBuf::from);
    let flag = if output.is_some() { "-o" } else { "the default output" };
    let output = output.unwrap_or_else(|| stem.with_extension(format.extension()));
    let claimed = Output { flag, path: &output, kind: Kind::File(crate::graph::PICTURE) };
    output::claim(&claimed, &[Input::Path(file.to_path_buf())], force).map_err(fail_io)?;
    let compiled = compile_or_report(file, MessageFormat::Human)?;
    let text = crate::graph::render_with(&compiled.graph, &compiled.checked, format, drawing);
    let signed = format!("{}\n{text}", format.signature());
    crate::atomic::write(&output, signed.as_bytes()).map_err(|e| fail_io(format!("{}: {e}", output.display())))?;
    println!("wrote {}", output.display());
    Ok(())
}

/// An architecture file written by `avc fmt -o`: never recognised as replaceable, since it
/// may be the only copy of someone's edits.
const FORMATTED: FileKind = FileKind { name: "a file", recognise: None };

fn fmt_cmd(file: &Path, to: Option<&str>, output: Option<&Path>, force: bool) -> Result<(), u8> {
    if let Some(path) = output {
        let claimed = Output { flag: "-o", path, kind: Kind::File(FORMATTED) };
        output::claim(&claimed, &[Input::Path(file.to_path_buf())], force).map_err(fail_io)?;
    }
    let to = match to {
        None => crate::front::format_of(file),
        Some("dsl" | "avc") => crate::front::Format::Dsl,
        Some("yaml" | "yml") => crate::front::Format::Yaml,
        Some(other) => return Err(fail_io(format!("--to {other}: expected dsl or yaml"))),
    };
    let source = compile::read_source(file).map_err(fail_io)?;
    let module = crate::front::parse(&source).map_err(|errs| {
        let diags: Vec<Diagnostic> = errs.iter().map(|e| e.to_diagnostic()).collect();
        print_diagnostics(&diags, &source, MessageFormat::Human);
        1
    })?;
    let formatted = crate::fmt::format(&module, to);
    for note in &formatted.moved_comments {
        eprintln!("note: {note}");
    }
    match output {
        Some(path) => crate::atomic::write(path, formatted.text.as_bytes())
            .map_err(|e| fail_io(format!("{}: {e}", path.display()))),
        None => {
            print!("{}", formatted.text);
            Ok(())
        }
    }
}

/// What a light binary does with its arguments: run a language command itself, or hand the
/// whole command line to the libtorch-linked program.
#[derive(Debug, PartialEq)]
pub enum Dispatch {
    /// A language command (or `--version`): parse and run it here.
    Here,
    /// Anything else (train, eval, `--help`, a typo): the torch-linked CLI knows it.
    Torch,
}

/// Decides from the first argument after the program's name: the CLI has no global
/// options, so it is the subcommand (or `--version`, `--help`).
pub fn dispatch(args: &[std::ffi::OsString]) -> Dispatch {
    match args.get(1).and_then(|a| a.to_str()) {
        Some(cmd) if LangCommand::NAMES.contains(&cmd) => Dispatch::Here,
        Some("-V" | "--version") => Dispatch::Here,
        _ => Dispatch::Torch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        list.iter().map(Into::into).collect()
    }

    #[test]
    fn language_commands_run_here_and_everything_else_goes_to_torch() {
        for cmd in LangCommand::NAMES {
            assert_eq!(dispatch(&args(&["avc", cmd, "x.avc"])), Dispatch::Here, "{cmd}");
        }
        assert_eq!(dispatch(&args(&["avc", "--version"])), Dispatch::Here);
        for other in [&["avc", "train", "x.avc"][..], &["avc"], &["avc", "--help"], &["avc", "help", "check"]] {
            assert_eq!(dispatch(&args(other)), Dispatch::Torch, "{other:?}");
        }
    }

    /// Every subcommand clap knows is listed in `NAMES`, so none falls through to torch.
    #[test]
    fn names_match_the_subcommands() {
        use clap::Subcommand;
        let cmd = LangCommand::augment_subcommands(clap::Command::new("avc"));
        let mut known: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
        let mut names = LangCommand::NAMES.to_vec();
        known.sort();
        names.sort();
        assert_eq!(known, names);
    }
}
