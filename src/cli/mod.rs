//! The commands' argument handling and terminal output, one file per command family.

pub mod compare;
pub mod data;
pub mod eval;
pub mod sweep;
pub mod train;

/// A count that must be at least 1 (`--max-batches`): 0 would run epochs that train
/// nothing and still report a loss.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (0 batches would train nothing)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("expected a whole number: {e}")),
    }
}
