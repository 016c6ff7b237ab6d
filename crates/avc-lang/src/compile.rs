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
}

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

pub fn read_source(path: &Path) -> Result<SourceFile, ReadError> {
    let bytes = std::fs::read(path).map_err(|error| ReadError::Io { path: path.display().to_string(), error })?;
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

/// Parses, builds and checks a source. Warnings come back inside `Compiled`.
pub fn compile(source: &SourceFile) -> Result<Compiled, Box<Failed>> {
    let fail = |diagnostics, partial| Box::new(Failed { source: source.clone(), diagnostics, partial });
    let module = front::parse(source).map_err(|errs| fail(errs.iter().map(|e| e.to_diagnostic()).collect(), None))?;
    let graph = ir::build(&module).map_err(|errs| fail(errs.iter().map(|e| e.to_diagnostic()).collect(), None))?;
    let checked = check::check(&graph);
    if !checked.ok() {
        return Err(fail(checked.diagnostics(), Some((graph, checked))));
    }
    Ok(Compiled { graph, checked })
}

/// Reads and compiles a file; a read error becomes a diagnostic-free failure message.
pub fn compile_file(path: &Path) -> Result<Result<Compiled, Box<Failed>>, ReadError> {
    let source = read_source(path)?;
    Ok(compile(&source))
}
