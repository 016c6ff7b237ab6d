//! The evaluation directory: metrics.json, a CSV per direction with every query's rank and
//! best candidates, the score matrix (.npy) with its ids, and two pictures.
//!
//! The files hold nothing that changes from one invocation to the next (no times, no
//! absolute paths), so the same checkpoint on the same data gives byte-identical files. The
//! directory is written under a temporary name and renamed into place at the end: a
//! directory with the final name is always complete.

use super::EvalError;
use super::apply::Evaluation;
use super::metrics::{Bootstrap, Metrics};
use super::plots::{self, PlotError};
use super::protocol::Direction;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Candidates listed per query in the CSV.
pub const TOP_LISTED: usize = 5;

/// Where the scores came from, recorded in metrics.json.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// The run directory's name.
    pub run: String,
    pub checkpoint: String,
    pub epoch: i64,
    /// The data's origin (a directory or the synthetic set's seed).
    pub data: String,
}

#[derive(Serialize)]
struct MetricsFile<'a> {
    #[serde(flatten)]
    provenance: &'a Provenance,
    output_kind: &'static str,
    /// "higher" or "lower": which way the scores sort.
    better_scores: &'static str,
    clips: usize,
    bootstrap: &'a Bootstrap,
    v2a: DirectionMetrics,
    a2v: DirectionMetrics,
}

#[derive(Serialize)]
struct DirectionMetrics {
    full: Metrics,
    groups: Metrics,
}

/// Writes the evaluation directory `dir` (replacing an older one whole; the caller has
/// claimed `dir` through [`crate::outputs::claim`]).
pub fn write(eval: &Evaluation, provenance: &Provenance, boot: &Bootstrap, dir: &Path) -> Result<PathBuf, EvalError> {
    let io = |path: &Path, e: std::io::Error| EvalError::write(path.display(), e);
    avc_lang::output::write_dir(dir, crate::outputs::EVALUATION, |tmp| write_files(eval, provenance, boot, tmp), io)?;
    Ok(dir.to_path_buf())
}

fn write_files(eval: &Evaluation, provenance: &Provenance, boot: &Bootstrap, dir: &Path) -> Result<(), EvalError> {
    let put = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| EvalError::write(path.display(), e))
    };
    let direction = |d: Direction| {
        let r = eval.directions.iter().find(|r| r.direction == d).ok_or(EvalError::NoOutput)?;
        Ok::<_, EvalError>(DirectionMetrics { full: r.full, groups: r.groups })
    };
    let file = MetricsFile {
        provenance,
        output_kind: eval.kind.keyword(),
        better_scores: if eval.kind.higher_is_better() { "higher" } else { "lower" },
        clips: eval.n,
        bootstrap: boot,
        v2a: direction(Direction::VideoToAudio)?,
        a2v: direction(Direction::AudioToVideo)?,
    };
    let json = serde_json::to_string_pretty(&file).map_err(|e| EvalError::Input(e.to_string()))?;
    put("metrics.json", format!("{json}\n").as_bytes())?;
    for r in &eval.directions {
        put(&format!("queries_{}.csv", r.direction.name()), per_query_csv(eval, r.direction).as_bytes())?;
    }
    let npy = npy_f32(&eval.scores, eval.n, eval.n).map_err(|e| EvalError::write("scores.npy", e))?;
    put("scores.npy", &npy)?;
    put("video_ids.txt", lines(&eval.video_ids).as_bytes())?;
    put("audio_ids.txt", lines(&eval.audio_ids).as_bytes())?;
    let picture = |name: &str, draw: &dyn Fn(&Path) -> Result<(), PlotError>| {
        let path = dir.join(name);
        draw(&path).map_err(|e| EvalError::write(path.display(), e.reason))
    };
    picture("heatmap.png", &|p| plots::heatmap(eval, p))?;
    picture("ranks.png", &|p| plots::rank_histogram(eval, p))?;
    Ok(())
}

/// One row per query: its id, its true candidate's id, its rank among all candidates and
/// within its group, then the best candidates with their scores.
fn per_query_csv(eval: &Evaluation, direction: Direction) -> String {
    let (queries, candidates) = match direction {
        Direction::VideoToAudio => (&eval.video_ids, &eval.audio_ids),
        Direction::AudioToVideo => (&eval.audio_ids, &eval.video_ids),
    };
    let Some(result) = eval.directions.iter().find(|r| r.direction == direction) else { return String::new() };
    let m = eval.oriented(direction);
    let mut out = String::from("query_id,true_id,rank,group_rank");
    for k in 1..=TOP_LISTED.min(eval.n) {
        let _ = write!(out, ",top{k}_id,top{k}_score");
    }
    out.push('\n');
    for q in 0..eval.n {
        let _ = write!(
            out,
            "{},{},{},{}",
            csv_field(&queries[q]),
            csv_field(&candidates[q]),
            result.full_ranks[q],
            result.group_ranks[q]
        );
        for (c, score) in m.top(q, TOP_LISTED) {
            let _ = write!(out, ",{},{score}", csv_field(&candidates[c]));
        }
        out.push('\n');
    }
    out
}

/// Quotes a CSV field when it holds a comma, a quote or a line break.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// One id a line, encoded as the course layout's lists are ([`crate::data::ids`]), so an id
/// with a line break or a leading `#` reads back as itself.
pub(crate) fn lines(ids: &[String]) -> String {
    ids.iter().map(|id| format!("{}\n", crate::data::ids::encode(id))).collect()
}

/// A float32 `.npy` of a row-major `[rows, cols]` matrix.
pub(crate) fn npy_f32(values: &[f32], rows: usize, cols: usize) -> Result<Vec<u8>, std::io::Error> {
    use npyz::WriterBuilder;
    let mut out = Vec::with_capacity(128 + 4 * values.len());
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[rows as u64, cols as u64])
        .writer(&mut out)
        .begin_nd()?;
    w.extend(values.iter().copied())?;
    w.finish()?;
    Ok(out)
}

/// A short name for a data source, for a default directory name (`eval-best-<name>`): the
/// directory or file it names, without a glob, a generic `data.yaml` or characters a shell
/// would read (`yt/data.yaml` and `yt8m:yt/*.tfrecord` are both `yt`; `synth:3` is `synth-3`).
pub fn data_name(source: &str) -> String {
    let (scheme, rest) = match source.split_once(':') {
        Some((s, r)) if matches!(s, "yt8m" | "synth") => (s, r),
        _ => ("", source),
    };
    if scheme == "synth" {
        return sanitized(&format!("synth-{rest}")).unwrap_or_else(|| "synth".into());
    }
    let path = Path::new(rest);
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = || path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
    let stem = Path::new(&file).file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let generic = matches!(stem.as_str(), "data" | "*") || file.contains(['*', '?', '[']);
    let name = if generic { parent().unwrap_or_default() } else { stem };
    sanitized(&name).unwrap_or_else(|| if scheme.is_empty() { "data".into() } else { scheme.into() })
}

/// `name` with every character but letters, digits, `.`, `_` and `-` made a `-`; `None` if
/// nothing is left.
fn sanitized(name: &str) -> Option<String> {
    let out: String = name.chars().map(|c| if c.is_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    let out = out.trim_matches(['-', '.']).to_string();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_sources_get_short_names() {
        for (source, name) in [
            ("yt/data.yaml", "yt"),
            ("yt8m:yt/*.tfrecord", "yt"),
            ("yt8m:shards/train-00000.tfrecord", "train-00000"),
            ("yt8m:*.tfrecord", "yt8m"),
            ("/data/course/", "course"),
            ("course", "course"),
            ("sets/big.yaml", "big"),
            ("synth:3", "synth-3"),
            ("synth", "synth"),
            ("my data (v2)", "my-data--v2"),
        ] {
            assert_eq!(super::data_name(source), name, "{source}");
        }
    }

    use super::*;

    #[test]
    fn npy_header_is_aligned_and_readable() {
        let bytes = npy_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 3]);
        let data: Vec<f32> = npy.into_vec().unwrap();
        assert_eq!(data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("-abc_1"), "-abc_1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
