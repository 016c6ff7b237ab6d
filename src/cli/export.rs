//! `avc export`: a run's weights for PyTorch, a sample to check a port against, a
//! generated PyTorch module (`--to torch`) or an ONNX model (`--to onnx`, `--split`). The work is in `avc::export`; the outputs go
//! through the one rule for outputs first.

use avc::outputs::{self, Kind};
use avc::report::{report, usage};
use std::path::{Path, PathBuf};

/// What `avc export` writes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The weights as safetensors, named as a torch.nn module's `state_dict`.
    Weights,
    /// A PyTorch module generated from the model's graph (a .py file).
    Torch,
    /// An ONNX model (opset 17) built from the model's graph, for ONNX Runtime and other
    /// serving runtimes.
    Onnx,
}

/// `avc export`'s arguments.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The run directory.
    pub run: PathBuf,
    /// What to write: the weights, a PyTorch module generated from the graph, or ONNX.
    #[arg(long, value_enum, default_value = "weights")]
    pub to: Format,
    /// Output file (default: <RUN>/model.safetensors, <RUN>/model.py with `--to torch`,
    /// <RUN>/model.onnx with `--to onnx`, the directory <RUN>/onnx with `--split`).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// With `--to onnx`: write a directory of three graphs, video_tower.onnx,
    /// audio_tower.onnx and joint.onnx, split as `avc eval` runs the model (towers once per
    /// clip, the joint part per pair).
    #[arg(long)]
    pub split: bool,
    /// With `--to torch`: also write the weights beside the module (same name, .safetensors).
    #[arg(long)]
    pub with_weights: bool,
    /// Which checkpoint: best (by validation) or last.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    pub checkpoint: String,
    /// Also write test clips and avc's outputs on them, to check a PyTorch port (with the
    /// weights: `--to weights`, or `--to torch --with-weights`).
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
    let ExportArgs { run, to, output, split, with_weights, checkpoint, sample, sample_clips, force } = args;
    let flag = if output.is_some() { "-o" } else { "the default output" };
    if to == Format::Weights && with_weights {
        return Err(usage("--with-weights goes with --to torch (--to weights writes the weights alone)"));
    }
    if to != Format::Onnx && split {
        return Err(usage("--split goes with --to onnx (it splits the ONNX graph into towers and a joint part)"));
    }
    if to == Format::Onnx && (with_weights || sample.is_some()) {
        return Err(usage(
            "--to onnx writes the weights inside the graph: --with-weights and --sample go with --to weights or --to torch",
        ));
    }
    if to == Format::Torch && sample.is_some() && !with_weights {
        return Err(usage("--sample needs the weights it was computed with: add --with-weights to --to torch"));
    }
    let sample = sample.as_deref().map(|p| (p, sample_clips));
    match to {
        Format::Weights => {
            let out = output.unwrap_or_else(|| run.join("model.safetensors"));
            let planned = Planned { source: None, weights: Some((flag, &out)), sample: sample.map(|s| s.0) };
            claims(&run, &checkpoint, &planned, force)?;
            write_weights(&run, &checkpoint, &out, sample)
        }
        Format::Torch => {
            let out = output.unwrap_or_else(|| run.join("model.py"));
            let weights = with_weights.then(|| out.with_extension("safetensors"));
            let planned = Planned {
                source: Some((flag, &out)),
                weights: weights.as_deref().map(|w| ("--with-weights", w)),
                sample: sample.map(|s| s.0),
            };
            claims(&run, &checkpoint, &planned, force)?;
            write_torch(&run, &checkpoint, &out, weights.as_deref(), sample)
        }
        Format::Onnx => {
            let out = output.unwrap_or_else(|| run.join(if split { "onnx" } else { "model.onnx" }));
            write_onnx(&run, &checkpoint, &out, split, force)
        }
    }
}

/// The ONNX back-end claims its output itself before it reads the run (the same rule).
fn write_onnx(run: &Path, which: &str, out: &Path, split: bool, force: bool) -> Result<(), u8> {
    let done = avc::export::onnx::export_onnx(run, which, out, split, force).map_err(|e| report(&e))?;
    for file in &done.files {
        println!("wrote {}", file.display());
    }
    println!(
        "({} ONNX nodes, {} initializers, opset {}, checkpoint `{which}`)",
        done.nodes,
        done.initializers,
        avc::export::onnx::OPSET
    );
    Ok(())
}

fn write_weights(run: &Path, which: &str, out: &Path, sample: Option<(&Path, usize)>) -> Result<(), u8> {
    let done = avc::export::export(run, which, out, sample).map_err(|e| report(&e))?;
    let values: i64 = done.tensors.iter().map(|(_, s)| s.iter().product::<i64>()).sum();
    println!("wrote {} ({} tensors, {values} values, checkpoint `{which}`)", done.path.display(), done.tensors.len());
    if let Some(sample) = done.sample {
        println!("wrote {} (test clips and avc's outputs on them)", sample.display());
    }
    Ok(())
}

fn write_torch(
    run: &Path,
    which: &str,
    out: &Path,
    weights: Option<&Path>,
    sample: Option<(&Path, usize)>,
) -> Result<(), u8> {
    let done = avc::export::torch::export_torch(run, which, out, weights, sample).map_err(|e| report(&e))?;
    println!("wrote {} (a PyTorch module generated from the model's graph)", done.path.display());
    if let Some(exported) = done.weights {
        println!("wrote {} ({} tensors, checkpoint `{which}`)", exported.path.display(), exported.tensors.len());
        if let Some(sample) = exported.sample {
            println!("wrote {} (test clips and avc's outputs on them)", sample.display());
        }
    }
    Ok(())
}

/// The files one `avc export` writes, each with the flag that named it.
struct Planned<'a> {
    source: Option<(&'a str, &'a Path)>,
    weights: Option<(&'a str, &'a Path)>,
    sample: Option<&'a Path>,
}

/// `avc export`'s outputs, claimed before anything is read: never the run's own files (its
/// checkpoint, its records), nor each other.
fn claims(run: &Path, checkpoint: &str, planned: &Planned, force: bool) -> Result<(), u8> {
    // Everything in the run directory but export's own earlier files.
    let own = |p: &Path| {
        [outputs::EXPORTED, outputs::SAMPLE, outputs::TORCH_SOURCE].into_iter().any(|k| outputs::is_own_file(p, k))
    };
    let mut inputs = outputs::of_run(run, checkpoint);
    let entries = std::fs::read_dir(run).into_iter().flatten().flatten().map(|e| e.path());
    inputs.extend(entries.filter(|p| !own(p)).map(outputs::Input::Path));
    let refused = |e: outputs::OutputError| report(&e);
    if let Some((flag, source)) = planned.source {
        outputs::claim(flag, source, Kind::File(outputs::TORCH_SOURCE), &inputs, force).map_err(refused)?;
        inputs.push(outputs::Input::Path(source.to_path_buf()));
    }
    if let Some((flag, weights)) = planned.weights {
        outputs::claim(flag, weights, Kind::File(outputs::EXPORTED), &inputs, force).map_err(refused)?;
        inputs.push(outputs::Input::Path(weights.to_path_buf()));
    }
    if let Some(sample) = planned.sample {
        outputs::claim("--sample", sample, Kind::File(outputs::SAMPLE), &inputs, force).map_err(refused)?;
    }
    Ok(())
}
