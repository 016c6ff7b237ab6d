//! The torch side's part of the one rule for every output (docs/safety.md,
//! [`avc_lang::output`]): the kinds of output its commands write, and what each command
//! reads, which no output may replace.

use crate::data::source::{DataSource, Lists};
use avc_lang::output::{self, Output, recognise};
pub use avc_lang::output::{DirKind, FileKind, Input, Kind, OutputError, is_own_file};
use std::path::{Path, PathBuf};

/// An evaluation directory; one from before markers is known by its eight files (another
/// system's scores for `avc compare`, which need only four, are not).
pub const EVALUATION: DirKind = DirKind {
    name: "evaluation",
    own_marker: None,
    files: &[
        "metrics.json",
        "scores.npy",
        "video_ids.txt",
        "audio_ids.txt",
        "queries_v2a.csv",
        "queries_a2v.csv",
        "heatmap.png",
        "ranks.png",
    ],
    optional: &[],
};
pub const RANKING: DirKind = DirKind {
    name: "ranking",
    own_marker: None,
    files: &["ranking.csv", "ranking.jsonl"],
    optional: &["shortlist.json"],
};
pub const EMBEDDINGS: DirKind = DirKind {
    name: "embeddings",
    own_marker: None,
    files: &["video_embeddings.npy", "audio_embeddings.npy", "video_ids.txt", "audio_ids.txt"],
    optional: &[],
};
/// Data directories are never recognised by their files: a set avc did not write looks the
/// same, and may be the only copy.
pub const COURSE_DATA: DirKind = DirKind { name: "course-layout data", own_marker: None, files: &[], optional: &[] };
pub const YT8M_DATA: DirKind = DirKind { name: "TFRecord data", own_marker: None, files: &[], optional: &[] };
/// A sweep directory is marked by its plan, `sweep.json`.
pub const SWEEP: DirKind = DirKind { name: "sweep", own_marker: Some("sweep.json"), files: &[], optional: &[] };

pub const COMPARISON: FileKind = FileKind {
    name: "a comparison (avc compare --json)",
    recognise: Some(|h| recognise::json_with_key(h, "baseline")),
};
pub const DATA_STATS: FileKind = FileKind {
    name: "data statistics (avc data stats --json)",
    recognise: Some(|h| recognise::json_with_key(h, "test_pairs")),
};
pub const EXPORTED: FileKind = FileKind {
    name: "exported weights (avc export)",
    recognise: Some(|h| recognise::safetensors_with(h, "avc.written_by", "avc export")),
};
pub const SAMPLE: FileKind = FileKind {
    name: "an export sample (avc export --sample)",
    recognise: Some(|h| recognise::safetensors_with(h, "avc.written_by", "avc export --sample")),
};
/// An ONNX graph `avc::export::onnx` wrote: a `ModelProto` whose `ir_version` (field 1)
/// comes first and whose producer (field 2) is `avc export`.
pub const ONNX_MODEL: FileKind =
    FileKind { name: "an ONNX model (avc export --to onnx)", recognise: Some(onnx_by_avc) };
/// The split ONNX graphs of `avc export --to onnx --split`, marked as their kind.
pub const ONNX_SPLIT: DirKind = DirKind {
    name: "ONNX towers",
    own_marker: None,
    files: &["video_tower.onnx", "audio_tower.onnx", "joint.onnx"],
    optional: &[],
};

fn onnx_by_avc(head: &[u8]) -> bool {
    const PRODUCER: &[u8] = b"\x12\x0aavc export";
    head.first() == Some(&0x08) && head[..head.len().min(24)].windows(PRODUCER.len()).any(|w| w == PRODUCER)
}

/// Claims `path` (named by `flag`) for writing by a command reading `inputs`.
pub fn claim(flag: &str, path: &Path, kind: Kind, inputs: &[Input], force: bool) -> Result<bool, OutputError> {
    output::claim(&Output { flag, path, kind }, inputs, force)
}

/// Everything a data source reads: its directory (all of it), lists, shards (each match of
/// a glob, and the directory the glob lists) and index cache, plus the `--data` text itself
/// when it names a file (a data file).
pub fn of_source(text: Option<&str>, source: &DataSource) -> Vec<Input> {
    let mut inputs: Vec<Input> = text.map(PathBuf::from).filter(|p| p.is_file()).map(Input::Path).into_iter().collect();
    match source {
        DataSource::Synth { .. } => {}
        DataSource::Dir { path, lists, options } => {
            inputs.push(Input::Tree(path.clone()));
            inputs.extend(of_lists(lists));
            inputs.extend(options.index_cache.clone().map(Input::Tree));
        }
        DataSource::Yt8m { pattern, test_shards, lists, options } => {
            for pattern in std::iter::once(pattern).chain(test_shards) {
                inputs.extend(of_glob(pattern).into_iter().map(Input::Path));
            }
            inputs.extend(of_lists(lists));
            inputs.extend(options.index_cache.clone().map(Input::Tree));
        }
    }
    inputs
}

fn of_lists(lists: &Lists) -> impl Iterator<Item = Input> + '_ {
    [&lists.train, &lists.test_video, &lists.test_audio, &lists.val].into_iter().flatten().cloned().map(Input::Path)
}

/// A glob's matches and the directory before its first wildcard.
fn of_glob(pattern: &str) -> Vec<PathBuf> {
    let wild = |c: &std::path::Component| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
    let literal: PathBuf = Path::new(pattern).components().take_while(|c| !wild(c)).collect();
    let dir = if literal.as_os_str() == pattern { literal.parent().map(Path::to_path_buf) } else { Some(literal) };
    let mut paths: Vec<PathBuf> = dir.filter(|d| !d.as_os_str().is_empty()).into_iter().collect();
    if let Ok(matches) = glob::glob(pattern) {
        paths.extend(matches.flatten());
    }
    paths
}

/// A run directory and the checkpoint a command reads from it (all of it).
pub fn of_run(run: &Path, checkpoint: &str) -> Vec<Input> {
    vec![Input::Path(run.to_path_buf()), Input::Tree(run.join(checkpoint))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_reads_its_directory_and_matches() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.tfrecord"), b"").unwrap();
        let pattern = format!("{}/*.tfrecord", dir.path().display());
        let paths = of_glob(&pattern);
        assert_eq!(paths, [dir.path().to_path_buf(), dir.path().join("a.tfrecord")]);
        let single = format!("{}/a.tfrecord", dir.path().display());
        assert_eq!(of_glob(&single), [dir.path().to_path_buf(), dir.path().join("a.tfrecord")]);
    }
}
