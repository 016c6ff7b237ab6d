//! The commands' argument handling and terminal output, one file per command family.

pub mod compare;
pub mod data;
pub mod dist;
pub mod doctor;
pub mod eval;
pub mod export;
pub mod sweep;
pub mod train;

/// A count that must be at least 1 (`--max-batches`, `--shard-clips`, `--clips`,
/// `--sample`): 0 would train nothing, write empty shards forever or sample nothing.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("expected a whole number: {e}")),
    }
}

/// `avc runs DIR`: the run directories with their best epoch's numbers.
pub fn runs_cmd(dir: &std::path::Path) -> Result<(), u8> {
    let rows = avc::run::runs::list(dir).map_err(|e| avc::report::usage(format!("{}: {e}", dir.display())))?;
    print!("{}", avc::run::runs::render(&rows));
    Ok(())
}
