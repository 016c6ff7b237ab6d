//! The commands' argument handling and terminal output, one file per command family.

pub mod compare;
pub mod data;
pub mod eval;
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

/// `avc export`'s outputs, claimed before anything is read: never the run's own files (its
/// checkpoint, its records), nor each other.
pub fn export_claims(
    run: &std::path::Path,
    checkpoint: &str,
    (flag, out): (&str, &std::path::Path),
    sample: Option<&std::path::Path>,
    force: bool,
) -> Result<(), u8> {
    use avc::outputs::{self, Kind};
    // Everything in the run directory but export's own earlier files.
    let own =
        |p: &std::path::Path| outputs::is_own_file(p, outputs::EXPORTED) || outputs::is_own_file(p, outputs::SAMPLE);
    let mut inputs = outputs::of_run(run, checkpoint);
    let entries = std::fs::read_dir(run).into_iter().flatten().flatten().map(|e| e.path());
    inputs.extend(entries.filter(|p| !own(p)).map(outputs::Input::Path));
    let refused = |e: outputs::OutputError| {
        eprintln!("error: {e}");
        e.exit_code()
    };
    outputs::claim(flag, out, Kind::File(outputs::EXPORTED), &inputs, force).map_err(refused)?;
    if let Some(sample) = sample {
        inputs.push(outputs::Input::Path(out.to_path_buf()));
        outputs::claim("--sample", sample, Kind::File(outputs::SAMPLE), &inputs, force).map_err(refused)?;
    }
    Ok(())
}
