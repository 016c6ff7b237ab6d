//! `avc lsp`: a language server for `.avc` and avc YAML files. Diagnostics on open and on
//! every change (the same codes, spans and hints as `avc check`), hover with a node's op,
//! shape, parameters and multiply-adds, go to definition, completion of op names and
//! parameters, and the document outline. [`analysis`] answers from the compiler's stages;
//! [`server`] speaks the protocol.

pub mod analysis;
pub mod server;
pub mod transport;
