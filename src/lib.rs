//! avc: a declarative model-graph compiler and trainer for audio-visual matching.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! text (.yaml | .avc) --front--> ast::Module --ir::build--> ir::Graph --check--> Checked
//!     --lower--> lower::Model (tch) --train/eval--> run directory, metrics
//! ```
//!
//! The language (front-ends to checks, settings, and fmt, graph, lsp) is the `avc-lang`
//! crate, which needs no libtorch; this crate names it as `avc_lang::...`. This crate is the
//! torch side: the lowering of every op, the harness and the CLI.
//!
//! * `avc_lang::front` parses a file into the AST, keeping a span for every piece.
//! * `avc_lang::ir::build` expands blocks, resolves names and type-checks op arguments into
//!   an immutable petgraph DAG of typed [`ops::Op`] nodes.
//! * `avc_lang::check` infers every shape (symbolic batch and sequence lengths), counts
//!   parameters and multiply-adds, and reports unused nodes and ill-typed outputs, as side
//!   tables keyed by node id.
//! * [`lower`] builds one tch layer per node ([`lower::ops`], one file per op family) and
//!   runs them in topological order.
//! * [`data`], [`train`] and [`eval`] are the shared harness.
//!
//! Every stage has its own error type; all of them convert into [`avc_lang::diag::Diagnostic`],
//! which renders like a compiler's message.

/// The op registry (`avc_lang::ops`) with the lowering's traits beside it, so that
/// `avc::ops::{Op, Layer, LowerOp}` name an op and what it becomes.
pub mod ops {
    pub use crate::lower::ops::{FactorInput, Layer, LowerOp, ProjectedPart};
    pub use avc_lang::ops::*;
}

pub mod data;
pub mod device;
pub mod dist;
pub mod eval;
pub mod export;
pub mod interrupt;
pub mod lower;
pub mod outputs;
pub mod plot;
pub mod random;
pub mod report;
pub mod run;
pub mod sweep;
pub mod train;
