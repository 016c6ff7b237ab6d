//! avc's architecture language, without libtorch: everything from a file's text to a
//! checked graph with its shapes and costs, and the tools that need no tensor.
//!
//! ```text
//! text (.yaml | .avc) --front--> ast::Module --ir::build--> ir::Graph --check--> Checked
//! ```
//!
//! * [`front`] parses a file into the [`ast`], keeping a span for every piece.
//! * [`ir::build`] expands blocks, resolves names and type-checks op arguments into an
//!   immutable petgraph DAG ([`ir::Graph`]) of typed [`ops::Op`] nodes.
//! * [`check`] infers every shape (symbolic batch and sequence lengths), counts parameters
//!   and multiply-adds, and reports unused nodes and ill-typed outputs, as side tables
//!   keyed by node id.
//! * [`fmt`] prints a module in either language, [`graph`] draws it, [`lsp`] serves editors,
//!   and [`cli`] is the command line of these tools (shared by `avc` and `avc-lang`).
//!
//! The op registry ([`ops`]) holds each op's parameters, shape rule and costs; its lowering
//! into tensors lives in the `avc` package (`avc::lower`), the only part that links libtorch.
//! Every stage has its own error type; all of them convert into [`diag::Diagnostic`],
//! which renders like a compiler's message.

pub mod ast;
pub mod atomic;
pub mod check;
pub mod cli;
pub mod compile;
pub mod device;
pub mod diag;
pub mod fmt;
pub mod front;
pub mod graph;
pub mod host;
pub mod ir;
pub mod lsp;
pub mod ops;
pub mod output;
pub mod settings;
pub mod shape;
pub mod source;
