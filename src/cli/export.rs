//! `avc export`: a run's weights for PyTorch, and a sample to check a port against. The
//! work is in `avc::export`; the outputs go through the one rule for outputs first.

use avc::outputs::{self, Kind};
use avc::report::report;
use std::path::{Path, PathBuf};

/// `avc export`'s arguments.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The run directory.
    pub run: PathBuf,
    /// Output file (default: <RUN>/model.safetensors).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Which checkpoint: best (by validation) or last.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    pub checkpoint: String,
    /// Also write test clips and avc's outputs on them, to check a PyTorch port.
    #[arg(long, value_name = "FILE")]
    pub sample: Option<PathBuf>,
    /// How many test clips the sample holds.
    #[arg(long, default_value_t = 8, value_parser = super::at_least_one)]
    pub sample_clips: usize,
    /// Replace an existing output file that avc export did not write (never the run's
    /// own files: docs/safety.md).
    #[arg(long)]
    pub force: bool,
}

/// `avc export`.
pub fn export_cmd(args: ExportArgs) -> Result<(), u8> {
    let ExportArgs { run, output, checkpoint, sample, sample_clips, force } = args;
    let flag = if output.is_some() { "-o" } else { "the default output" };
    let out = output.unwrap_or_else(|| run.join("model.safetensors"));
    claims(&run, &checkpoint, (flag, &out), sample.as_deref(), force)?;
    write(&run, &checkpoint, &out, sample.as_deref().map(|p| (p, sample_clips)))
}

fn write(run: &Path, which: &str, out: &Path, sample: Option<(&Path, usize)>) -> Result<(), u8> {
    let done = avc::export::export(run, which, out, sample).map_err(|e| report(&e))?;
    let values: i64 = done.tensors.iter().map(|(_, s)| s.iter().product::<i64>()).sum();
    println!("wrote {} ({} tensors, {values} values, checkpoint `{which}`)", done.path.display(), done.tensors.len());
    if let Some(sample) = done.sample {
        println!("wrote {} (test clips and avc's outputs on them)", sample.display());
    }
    Ok(())
}

/// `avc export`'s outputs, claimed before anything is read: never the run's own files (its
/// checkpoint, its records), nor each other.
fn claims(
    run: &Path,
    checkpoint: &str,
    (flag, out): (&str, &Path),
    sample: Option<&Path>,
    force: bool,
) -> Result<(), u8> {
    // Everything in the run directory but export's own earlier files.
    let own = |p: &Path| outputs::is_own_file(p, outputs::EXPORTED) || outputs::is_own_file(p, outputs::SAMPLE);
    let mut inputs = outputs::of_run(run, checkpoint);
    let entries = std::fs::read_dir(run).into_iter().flatten().flatten().map(|e| e.path());
    inputs.extend(entries.filter(|p| !own(p)).map(outputs::Input::Path));
    let refused = |e: outputs::OutputError| report(&e);
    outputs::claim(flag, out, Kind::File(outputs::EXPORTED), &inputs, force).map_err(refused)?;
    if let Some(sample) = sample {
        inputs.push(outputs::Input::Path(out.to_path_buf()));
        outputs::claim("--sample", sample, Kind::File(outputs::SAMPLE), &inputs, force).map_err(refused)?;
    }
    Ok(())
}
