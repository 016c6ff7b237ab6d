//! The front half of the pipeline in one call: read a file, parse it, build the IR and
//! check it. Used by every command that starts from an architecture file.

use crate::check::{self, Checked};
use crate::diag::Diagnostic;
use crate::front;
use crate::ir::{self, Graph};
use crate::source::SourceFile;
use std::path::Path;

/// Reading the file failed before compiling could start (exit code 2, not 1).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}:{line}:{column}: the file is not UTF-8 text (byte 0x{byte:02x} at offset {offset})")]
    NotUtf8 { path: String, offset: usize, line: usize, column: usize, byte: u8 },
    #[error(
        "{path}: the file is larger than {} MiB, the most avc reads as an architecture (docs/language.md, \"Limits\")",
        MAX_FILE_BYTES >> 20
    )]
    TooLarge { path: String },
    #[error("{path}: {what}, not an architecture file")]
    NotAFile { path: String, what: &'static str },
}

/// The largest architecture file read, in bytes: 16 MiB, some eight times a file that
/// writes out the [`MAX_VALUES`](crate::front::MAX_VALUES) a model may hold. Reading stops
/// there, so a mistaken path (`/dev/zero`, a data file) costs 16 MiB, not all memory.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// A graph that passed the checks (it may carry warnings).
pub struct Compiled {
    pub graph: Graph,
    pub checked: Checked,
}

/// Everything known after a failed compile: the diagnostics, and as much of the graph as
/// was built (so the summary can show the nodes up to the failure).
pub struct Failed {
    pub source: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
    pub partial: Option<(Graph, Checked)>,
}

/// Reads an architecture file: a regular file or a pipe (`<(...)`, `/dev/stdin` fed by one)
/// of at most [`MAX_FILE_BYTES`]; a directory or a device is refused before reading.
pub fn read_source(path: &Path) -> Result<SourceFile, ReadError> {
    let bytes = read_capped(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..offset];
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        ReadError::NotUtf8 {
            path: path.display().to_string(),
            offset,
            line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
            column: 1 + String::from_utf8_lossy(&before[line_start..]).chars().count(),
            byte: e.as_bytes()[offset],
        }
    })?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

fn read_capped(path: &Path) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let shown = || path.display().to_string();
    let io = |error| ReadError::Io { path: shown(), error };
    let file = std::fs::File::open(path).map_err(io)?;
    let kind = file.metadata().map_err(io)?.file_type();
    if let Some(what) = not_a_file(&kind) {
        return Err(ReadError::NotAFile { path: shown(), what });
    }
    let mut bytes = Vec::new();
    // One byte past the cap tells a file of exactly the cap from a larger one.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge { path: shown() });
    }
    Ok(bytes)
}

/// What a path is when it is neither a regular file nor a pipe.
fn not_a_file(kind: &std::fs::FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return None;
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("a device");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
    }
    if kind.is_dir() {
        Some("a directory")
    } else if kind.is_file() {
        None
    } else {
        Some("not a regular file")
    }
}

/// Parses, builds and checks a source. Warnings come back inside `Compiled`.
pub fn compile(source: &SourceFile) -> Result<Compiled, Box<Failed>> {
    let fail = |diagnostics, partial| Box::new(Failed { source: source.clone(), diagnostics, partial });
    let module = front::parse(source).map_err(|errs| fail(errs.iter().map(|e| e.to_diagnostic()).collect(), None))?;
    let graph = ir::build(&module)
        .map_err(|errs| fail(crate::diag::merge_repeats(errs.iter().map(|e| e.to_diagnostic()).collect()), None))?;
    let checked = check::check(&graph);
    let settings = crate::settings::check(&graph);
    if !checked.ok() || !settings.is_empty() {
        let mut diagnostics = checked.diagnostics();
        diagnostics.extend(settings);
        return Err(fail(diagnostics, Some((graph, checked))));
    }
    Ok(Compiled { graph, checked })
}

/// Reads and compiles a file; a read error becomes a diagnostic-free failure message.
/// What a failed compile says, rendered without colour: for messages about a file that
/// was compiled on the user's behalf (a run's architecture copy, say).
pub fn explain(failed: &Failed) -> String {
    crate::diag::render_all(&failed.diagnostics, &failed.source, false)
}

pub fn compile_file(path: &Path) -> Result<Result<Compiled, Box<Failed>>, ReadError> {
    let source = read_source(path)?;
    Ok(compile(&source))
}
