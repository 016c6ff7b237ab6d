//! Front-ends: an architecture file's text -> [`ast::Module`], with a span for every name
//! and value. The format follows the file name: `.avc` is the text DSL, anything else YAML
//! (see [`yaml`] for the YAML language).
//!
//! Errors are [`FrontError`]s, data with the span of the offending text; the CLI turns them
//! into [`Diagnostic`](crate::diag::Diagnostic)s with [`FrontError::to_diagnostic`].

pub mod dsl;
mod error;
mod expr;
pub mod parts;
pub mod yaml;

pub use dsl::error::DslError;
pub use error::FrontError;
pub use expr::ExprError;

use crate::ast;
use crate::source::SourceFile;
use std::path::Path;

/// The most values a file may hold, in either language: YAML scalars, lists and mappings
/// (aliases count as the values they stand for), DSL names, numbers, strings, booleans and
/// lists. Enough for a model of some 200,000 nodes written out; it bounds the memory and
/// time a file can cost (an alias bomb stops here). docs/language.md, "Limits".
pub const MAX_VALUES: usize = 2_000_000;

/// What the too-large error of both front-ends suggests.
pub(crate) const TOO_LARGE_HELP: &str = "avc reads at most 2,000,000 values per file (docs/language.md, \"Limits\"); \
    write repeated structure as a block used several times: a block's nodes count once, however often it is used";

/// The two surface syntaxes of an architecture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Dsl,
}

/// `.avc` files are the DSL; everything else (`.yaml`, `.yml`, no extension) is YAML.
pub fn format_of(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("avc") => Format::Dsl,
        _ => Format::Yaml,
    }
}

/// Parses a source file into the AST, choosing the front-end by the file's name.
/// On failure returns every independent error found, in file order.
pub fn parse(source: &SourceFile) -> Result<ast::Module, Vec<FrontError>> {
    match format_of(Path::new(source.name())) {
        Format::Yaml => yaml::parse(source),
        Format::Dsl => dsl::parse(source),
    }
}
