//! avc: a declarative model-graph compiler and trainer for audio-visual matching.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! text (.yaml | .avc) --front--> ast::Module --ir::build--> ir::Graph --check--> Checked
//!     --lower--> lower::Model (tch) --train/eval--> run directory, metrics
//! ```
//!
//! The language (front-ends to checks, and fmt, graph, lsp) is the `avc-lang` crate, which
//! needs no libtorch; its modules are re-exported here under their old paths. This crate is
//! the torch side: the lowering of every op, the harness and the CLI.
//!
//! * [`front`] parses a file into the [`ast`], keeping a span for every piece.
//! * [`ir::build`] expands blocks, resolves names and type-checks op arguments into an
//!   immutable petgraph DAG ([`ir::Graph`]) of typed [`ops::Op`] nodes.
//! * [`check`] infers every shape (symbolic batch and sequence lengths), counts parameters
//!   and multiply-adds, and reports unused nodes and ill-typed outputs, as side tables
//!   keyed by node id.
//! * [`lower`] builds one tch layer per node ([`lower::ops`], one file per op family) and
//!   runs them in topological order.
//! * [`data`], [`train`] and [`eval`] are the shared harness.
//!
//! Every stage has its own error type; all of them convert into [`diag::Diagnostic`],
//! which renders like a compiler's message.

pub use avc_lang::{ast, atomic, check, compile, diag, fmt, front, graph, ir, lsp, shape, source};

/// The op registry (`avc_lang::ops`) with the lowering's traits beside it, so that
/// `avc::ops::{Op, Layer, LowerOp}` name an op and what it becomes.
pub mod ops {
    pub use crate::lower::ops::{Layer, LowerOp, ProjectedPart, SplitInput};
    pub use avc_lang::ops::*;
}

pub mod data;
pub mod device;
pub mod eval;
pub mod export;
pub mod interrupt;
pub mod lower;
pub mod outputs;
pub mod random;
pub mod run;
pub mod sweep;
pub mod train;
