//! avc: a declarative model-graph compiler and trainer for audio-visual matching.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! text (.yaml | .avc) --front--> ast::Module --ir::build--> ir::Graph --check--> Checked
//!     --lower--> lower::Model (tch) --train/eval--> run directory, metrics
//! ```
//!
//! * [`front`] parses a file into the [`ast`], keeping a span for every piece.
//! * [`ir::build`] expands blocks, resolves names and type-checks op arguments into an
//!   immutable petgraph DAG ([`ir::Graph`]) of typed [`ops::Op`] nodes.
//! * [`check`] infers every shape (symbolic batch and sequence lengths), counts parameters
//!   and multiply-adds, and reports unused nodes and ill-typed outputs, as side tables
//!   keyed by node id.
//! * [`lower`] builds one tch layer per node and runs them in topological order.
//! * [`data`], [`train`] and [`eval`] are the shared harness.
//!
//! Every stage has its own error type; all of them convert into [`diag::Diagnostic`],
//! which renders like a compiler's message.

pub mod ast;
pub mod atomic;
pub mod check;
pub mod compile;
pub mod data;
pub mod device;
pub mod diag;
pub mod eval;
pub mod export;
pub mod fmt;
pub mod front;
pub mod graph;
pub mod ir;
pub mod lower;
pub mod lsp;
pub mod ops;
pub mod shape;
pub mod source;
pub mod train;
