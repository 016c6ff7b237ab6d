//! The commands' argument handling and terminal output, one file per command family.

pub mod data;
pub mod eval;
pub mod sweep;
pub mod train;
