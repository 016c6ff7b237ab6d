//! Comparing evaluations of several runs on the same clips: for each direction and
//! protocol, how much better or worse each run ranks than a baseline, with paired
//! bootstrap intervals ([`metrics::paired`]). Reads only evaluation directories (their
//! score matrix and ids), so it needs no model, no data and no libtorch.

use super::EvalError;
use super::metrics::{self, Bootstrap, Difference};
use super::protocol::{self, Direction, Oriented};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The score matrix of an evaluation directory, with what it needs to be ranked.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The evaluation directory read.
    pub dir: PathBuf,
    /// `run/checkpoint` from its metrics.json (the directory's name without them), for people.
    pub label: String,
    pub video_ids: Vec<String>,
    pub audio_ids: Vec<String>,
    /// Row-major `[videos, audios]`.
    pub scores: Vec<f32>,
    pub higher_is_better: bool,
}

/// One direction's differences under both protocols.
#[derive(Debug, Clone, Serialize)]
pub struct DirectionDifference {
    pub direction: Direction,
    pub full: Difference,
    pub groups: Difference,
}

/// How one run ranks against the baseline on the same clips.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub other: String,
    pub clips: usize,
    pub bootstrap: Bootstrap,
    pub directions: Vec<DirectionDifference>,
}

/// Reads an evaluation directory; a run directory stands for its `eval-best` (what `avc
/// eval RUN` writes).
pub fn open(path: &Path) -> Result<Scored, EvalError> {
    let dir = if path.join("metrics.json").is_file() { path.to_path_buf() } else { path.join("eval-best") };
    if !dir.join("metrics.json").is_file() {
        return Err(EvalError::Input(format!(
            "{}: expected an evaluation directory (with metrics.json, scores.npy and the id lists) or a run \
             directory evaluated with `avc eval`",
            path.display()
        )));
    }
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| EvalError::Input(format!("{}: {e}", dir.join(name).display())))
    };
    let bad = |name: &str, why: String| EvalError::Input(format!("{}: {why}", dir.join(name).display()));
    let meta: serde_json::Value =
        serde_json::from_slice(&read("metrics.json")?).map_err(|e| bad("metrics.json", e.to_string()))?;
    let higher_is_better = match meta["better_scores"].as_str() {
        Some("higher") => true,
        Some("lower") => false,
        other => {
            return Err(bad("metrics.json", format!("`better_scores` is {other:?}, expected \"higher\" or \"lower\"")));
        }
    };
    let label = match (meta["run"].as_str(), meta["checkpoint"].as_str()) {
        (Some(run), Some(checkpoint)) => format!("{run}/{checkpoint}"),
        // Another program's scores: the directory's own name.
        _ => dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned()),
    };
    let ids = |name: &str| -> Result<Vec<String>, EvalError> {
        let text = String::from_utf8(read(name)?).map_err(|e| bad(name, e.to_string()))?;
        let decoded = text
            .lines()
            .enumerate()
            .map(|(k, line)| crate::data::ids::decode(line).map_err(|why| bad(name, format!("line {}: {why}", k + 1))));
        decoded.collect()
    };
    let (video_ids, audio_ids) = (ids("video_ids.txt")?, ids("audio_ids.txt")?);
    let bytes = read("scores.npy")?;
    let (scores, shape) = read_scores(&bytes).map_err(|why| bad("scores.npy", why))?;
    let expected = [video_ids.len() as u64, audio_ids.len() as u64];
    if shape != expected || video_ids.len() != audio_ids.len() || video_ids.is_empty() {
        return Err(bad(
            "scores.npy",
            format!("shape {shape:?}, expected a square [{}, {}] matching the id lists", expected[0], expected[1]),
        ));
    }
    if let Some(k) = scores.iter().position(|s| !s.is_finite()) {
        let (row, col) = (k / expected[1] as usize, k % expected[1] as usize);
        return Err(bad(
            "scores.npy",
            format!(
                "the score of video {row} ('{}') and audio {col} ('{}') is {}: ranks cannot be read from it \
                 (rows and columns counted from 0; {} non-finite scores in all)",
                video_ids[row],
                audio_ids[col],
                scores[k],
                scores.iter().filter(|s| !s.is_finite()).count()
            ),
        ));
    }
    Ok(Scored { dir, label, video_ids, audio_ids, scores, higher_is_better })
}

/// A score matrix from `.npy` bytes, row-major whatever the file's order, with its shape:
/// float32 or float64 (numpy's default, for scores written by other programs), either byte
/// order; anything else is refused.
fn read_scores(bytes: &[u8]) -> Result<(Vec<f32>, Vec<u64>), String> {
    use npyz::{DType, Order, TypeChar};
    let npy = npyz::NpyFile::new(bytes).map_err(|e| e.to_string())?;
    let shape = npy.shape().to_vec();
    let order = npy.order();
    let values: Vec<f32> = match npy.dtype() {
        DType::Plain(t) if t.type_char() == TypeChar::Float && t.size_field() == 8 => {
            npy.into_vec::<f64>().map(|v| v.into_iter().map(|x| x as f32).collect())
        }
        DType::Plain(t) if t.type_char() == TypeChar::Float && t.size_field() == 4 => npy.into_vec::<f32>(),
        other => return Err(format!("dtype {}, expected float32 or float64 scores", other.descr())),
    }
    .map_err(|e| format!("{e} (expected float32 or float64 scores)"))?;
    match (order, shape.as_slice()) {
        (Order::Fortran, &[rows, cols]) => {
            let (rows, cols) = (rows as usize, cols as usize);
            let row_major = (0..rows * cols).map(|k| values[(k % cols) * rows + k / cols]).collect();
            Ok((row_major, shape))
        }
        _ => Ok((values, shape)),
    }
}

/// How `other` ranks against `baseline`: both must score the same clips in the same order.
pub fn compare(baseline: &Scored, other: &Scored, boot: &Bootstrap) -> Result<Comparison, EvalError> {
    for (what, a, b) in
        [("video", &baseline.video_ids, &other.video_ids), ("audio", &baseline.audio_ids, &other.audio_ids)]
    {
        if a.len() != b.len() {
            return Err(EvalError::Input(format!(
                "{} has {} {what} clips and {} has {}: compare evaluations of the same clips",
                baseline.dir.display(),
                a.len(),
                other.dir.display(),
                b.len()
            )));
        }
        if let Some((i, (x, y))) = a.iter().zip(b.iter()).enumerate().find(|(_, (x, y))| x != y) {
            return Err(EvalError::Input(format!(
                "{what} clip {} is '{x}' in {} but '{y}' in {}: compare evaluations of the same clips, in the same order",
                i + 1,
                baseline.dir.display(),
                other.dir.display()
            )));
        }
    }
    let n = baseline.video_ids.len();
    let directions = [Direction::VideoToAudio, Direction::AudioToVideo]
        .into_iter()
        .map(|direction| {
            let (af, ag) = protocol::ranks(&oriented(baseline, n, direction));
            let (bf, bg) = protocol::ranks(&oriented(other, n, direction));
            let zip = |a: Vec<usize>, b: Vec<usize>| a.into_iter().zip(b).collect::<Vec<_>>();
            DirectionDifference {
                direction,
                full: metrics::paired(&zip(af, bf), boot),
                groups: metrics::paired(&zip(ag, bg), boot),
            }
        })
        .collect();
    Ok(Comparison {
        baseline: baseline.label.clone(),
        other: other.label.clone(),
        clips: n,
        bootstrap: *boot,
        directions,
    })
}

/// Writes the comparisons as one JSON document (a list), atomically.
pub fn write_json(comparisons: &[Comparison], path: &Path) -> Result<PathBuf, EvalError> {
    let json = serde_json::to_string_pretty(comparisons).map_err(|e| EvalError::write(path.display(), e))?;
    super::retrieve::write_atomic(path, format!("{json}\n").as_bytes())
}

fn oriented(s: &Scored, n: usize, direction: Direction) -> Oriented<'_> {
    Oriented { scores: &s.scores, n, direction, higher_is_better: s.higher_is_better }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(scores: Vec<f32>, ids: &[&str]) -> Scored {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        Scored {
            dir: PathBuf::from("e"),
            label: "r/best".into(),
            video_ids: ids.clone(),
            audio_ids: ids,
            scores,
            higher_is_better: true,
        }
    }

    #[test]
    fn a_run_compared_with_itself_differs_by_nothing_and_other_clips_are_refused() {
        let s = scored(vec![1.0, 0.5, 0.9, 0.9, 0.8, 0.1, 0.3, 0.4, 0.7], &["a", "b", "c"]);
        let c = compare(&s, &s, &Bootstrap::default()).unwrap();
        assert_eq!(c.directions.len(), 2);
        for d in &c.directions {
            assert_eq!((d.full.top1.value, d.full.better, d.full.worse, d.full.queries), (0.0, 0, 0, 3));
        }
        // A perfect second model: video 1's truth (rank 2 in the first) moves to rank 1.
        let perfect = scored(vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], &["a", "b", "c"]);
        let c = compare(&s, &perfect, &Bootstrap::default()).unwrap();
        assert_eq!((c.directions[0].full.better, c.directions[0].full.worse), (1, 0));
        assert!((c.directions[0].full.top1.value - 1.0 / 3.0).abs() < 1e-12);
        let other = scored(vec![0.0; 9], &["a", "x", "c"]);
        let err = compare(&s, &other, &Bootstrap::default()).unwrap_err().to_string();
        assert!(err.contains("video clip 2 is 'b'") && err.contains("but 'x'"), "{err}");
    }

    /// Scores written by another program (numpy's default float64) are read too, and a
    /// distance's scores sort ascending.
    #[test]
    fn float64_scores_and_distances_are_read() {
        use npyz::WriterBuilder;
        let dir = tempfile::TempDir::new().unwrap();
        let mut npy = Vec::new();
        let mut w =
            npyz::WriteOptions::<f64>::new().default_dtype().shape(&[2, 2]).writer(&mut npy).begin_nd().unwrap();
        w.extend([0.1f64, 0.9, 0.8, 0.2]).unwrap();
        w.finish().unwrap();
        std::fs::write(dir.path().join("scores.npy"), npy).unwrap();
        std::fs::write(dir.path().join("metrics.json"), r#"{"better_scores": "lower"}"#).unwrap();
        std::fs::write(dir.path().join("video_ids.txt"), "a\nb\n").unwrap();
        std::fs::write(dir.path().join("audio_ids.txt"), "a\nb\n").unwrap();
        let s = open(dir.path()).unwrap();
        let name = dir.path().file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            (s.scores, s.higher_is_better, s.label.as_str()),
            (vec![0.1f32, 0.9, 0.8, 0.2], false, name.as_str())
        );
    }

    fn npy_bytes<T: npyz::Serialize + Copy>(descr: &str, order: npyz::Order, shape: &[u64], values: &[T]) -> Vec<u8> {
        use npyz::WriterBuilder;
        let dtype = npyz::DType::Plain(descr.parse::<npyz::TypeStr>().unwrap());
        let mut npy = Vec::new();
        let options = npyz::WriteOptions::<T>::new().dtype(dtype).order(order).shape(shape);
        let mut w = options.writer(&mut npy).begin_nd().unwrap();
        w.extend(values.iter().copied()).unwrap();
        w.finish().unwrap();
        npy
    }

    /// numpy writes `np.asfortranarray(m)` column by column and big-endian files byte-swapped:
    /// both read as the same row-major matrix.
    #[test]
    fn fortran_order_and_byte_order_are_honoured() {
        let row_major = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let column_major = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        let c = npy_bytes("<f8", npyz::Order::C, &[2, 3], &row_major);
        let f = npy_bytes("<f8", npyz::Order::Fortran, &[2, 3], &column_major);
        let big = npy_bytes(">f4", npyz::Order::C, &[2, 3], &row_major.map(|x| x as f32));
        for bytes in [c, f, big] {
            let (values, shape) = read_scores(&bytes).unwrap();
            assert_eq!((values, shape), (vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], vec![2, 3]));
        }
        let ints = npy_bytes("<i8", npyz::Order::C, &[1, 1], &[1i64]);
        assert!(read_scores(&ints).unwrap_err().contains("expected float32 or float64"));
    }

    #[test]
    fn non_finite_scores_are_refused_with_their_place() {
        let dir = tempfile::TempDir::new().unwrap();
        let npy = npy_bytes("<f4", npyz::Order::C, &[2, 2], &[0.1f32, 0.9, f32::NAN, 0.2]);
        std::fs::write(dir.path().join("scores.npy"), npy).unwrap();
        std::fs::write(dir.path().join("metrics.json"), r#"{"better_scores": "higher"}"#).unwrap();
        std::fs::write(dir.path().join("video_ids.txt"), "a\nb\n").unwrap();
        std::fs::write(dir.path().join("audio_ids.txt"), "x\ny\n").unwrap();
        let err = open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("video 1 ('b') and audio 0 ('x') is NaN"), "{err}");
    }
}
