//! `avc data stats`: what a source holds before anything trains on it: clips per split, a
//! histogram of lengths, how many clips a model of a given length would crop or pad, duplicate
//! ids, unreadable records, and per-dimension mean and standard deviation of the
//! dequantized features over a sample of clips.

use std::collections::HashMap;

use serde::Serialize;

use super::open::{Plan, describe};
use super::source::DataSource;
use super::split::Stream;
use super::training::Skipped;
use super::{DataError, dequantize, synth};

/// What `avc data stats` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub origin: String,
    pub train_clips: usize,
    pub val_clips: usize,
    pub test_pairs: usize,
    /// Length (frames) -> clips, over training and validation clips, in buckets.
    pub lengths: Vec<Bucket>,
    pub min_frames: usize,
    pub max_frames: usize,
    /// The length the counts below refer to.
    pub steps: usize,
    pub cropped: usize,
    pub padded: usize,
    pub duplicates: Duplicates,
    pub unreadable: Skipped,
    pub index_sha256: String,
    /// Clips the feature statistics were computed on (evenly spaced over the training clips).
    pub sample: usize,
    pub video: Moments,
    pub audio: Moments,
    /// What training on the source would warn about (test ids among the training clips).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Clips whose length falls in `[from, to)`.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub from: usize,
    pub to: usize,
    pub clips: usize,
}

/// Ids that appear more than once.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Duplicates {
    pub within_train: usize,
    pub within_test: usize,
    pub train_and_test: usize,
    /// A few of them.
    pub examples: Vec<String>,
}

/// Per-dimension mean and standard deviation of the dequantized features.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Moments {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Moments {
    /// (smallest, average, largest) of a per-dimension vector.
    pub fn range(v: &[f64]) -> (f64, f64, f64) {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, v.iter().sum::<f64>() / v.len().max(1) as f64, hi)
    }
}

/// Sums for [`Moments`].
struct Accumulator {
    sum: Vec<f64>,
    squares: Vec<f64>,
    rows: usize,
}

impl Accumulator {
    fn new(dim: usize) -> Accumulator {
        Accumulator { sum: vec![0.0; dim], squares: vec![0.0; dim], rows: 0 }
    }

    fn add(&mut self, data: &[u8]) {
        let dim = self.sum.len().max(1);
        for row in data.chunks_exact(dim) {
            for (k, &q) in row.iter().enumerate() {
                let x = f64::from(dequantize(q));
                self.sum[k] += x;
                self.squares[k] += x * x;
            }
            self.rows += 1;
        }
    }

    fn finish(self) -> Moments {
        let n = self.rows.max(1) as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let std = self.squares.iter().zip(&mean).map(|(q, m)| (q / n - m * m).max(0.0).sqrt()).collect();
        Moments { mean, std }
    }
}

/// Bucket width of the length histogram, in frames (seconds).
const BUCKET: usize = 30;

/// Computes the statistics of `source` for a model of `steps` steps, sampling up to
/// `sample` clips for the feature moments. Unreadable records and clips are counted, not
/// fatal; clips of any length are described (see [`describe`]).
pub fn stats(source: &DataSource, steps: usize, sample: usize) -> Result<Stats, DataError> {
    if let DataSource::Synth { seed, knobs } = source {
        let ds = synth::try_generate(&synth::config(*seed, knobs)?)?;
        let frames = vec![ds.train.video_steps; ds.train.len()];
        let rows = sample_rows(ds.train.len(), sample);
        let (mut v, mut a) = (Accumulator::new(ds.train.video_dim), Accumulator::new(ds.train.audio_dim));
        for &i in &rows {
            v.add(ds.train.video_clip(i));
            a.add(ds.train.audio_clip(i));
        }
        let dup = duplicates(&ds.train.video_ids, &ds.test.video_ids);
        return Ok(assemble(
            ds.origin.clone(),
            &frames,
            ds.test.len(),
            0,
            steps,
            dup,
            Skipped::default(),
            String::new(),
            rows.len(),
            v,
            a,
        ));
    }
    let p: Plan = describe(source)?;
    let mut frames: Vec<usize> = p.train.items.iter().map(|i| i.frames()).collect();
    let val = p.val.as_ref().map_or(0, |v| v.items.len());
    if let Some(v) = &p.val {
        frames.extend(v.items.iter().map(|i| i.frames()));
    }
    let rows = sample_rows(p.train.items.len(), sample);
    let (v, a) = moments(&p.train, &rows)?;
    let dup = duplicates(&p.train.video_ids, &p.test.video_ids);
    let mut stats = assemble(
        p.origin.clone(),
        &frames,
        p.test.items.len(),
        val,
        steps,
        dup,
        p.provenance.skipped.clone(),
        p.provenance.index_sha256.clone(),
        rows.len(),
        v,
        a,
    );
    stats.warnings = p.provenance.warnings;
    Ok(stats)
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    origin: String,
    frames: &[usize],
    test_pairs: usize,
    val_clips: usize,
    steps: usize,
    duplicates: Duplicates,
    unreadable: Skipped,
    index_sha256: String,
    sample: usize,
    video: Accumulator,
    audio: Accumulator,
) -> Stats {
    let max_frames = frames.iter().copied().max().unwrap_or(0);
    let mut lengths: Vec<Bucket> =
        (0..=max_frames / BUCKET).map(|b| Bucket { from: b * BUCKET, to: (b + 1) * BUCKET, clips: 0 }).collect();
    for &f in frames {
        lengths[f / BUCKET].clips += 1;
    }
    lengths.retain(|b| b.clips > 0);
    Stats {
        origin,
        train_clips: frames.len() - val_clips,
        val_clips,
        test_pairs,
        lengths,
        min_frames: frames.iter().copied().min().unwrap_or(0),
        max_frames,
        steps,
        cropped: frames.iter().filter(|&&f| f > steps).count(),
        padded: frames.iter().filter(|&&f| f < steps).count(),
        duplicates,
        unreadable,
        index_sha256,
        sample,
        video: video.finish(),
        audio: audio.finish(),
        warnings: Vec::new(),
    }
}

/// Up to `n` rows evenly spaced over `len`.
fn sample_rows(len: usize, n: usize) -> Vec<usize> {
    let n = n.min(len);
    (0..n).map(|k| k * len / n.max(1)).collect()
}

fn moments(stream: &Stream, rows: &[usize]) -> Result<(Accumulator, Accumulator), DataError> {
    let (mut v, mut a) = (Accumulator::new(stream.video_dim), Accumulator::new(stream.audio_dim));
    let mut payload = Vec::new();
    for &row in rows {
        let (video, audio, _) = stream.read(row, &mut payload)?;
        v.add(&video);
        a.add(&audio);
    }
    Ok((v, a))
}

fn duplicates(train: &[String], test: &[String]) -> Duplicates {
    fn count(ids: &[String]) -> HashMap<&str, usize> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        ids.iter().for_each(|id| *seen.entry(id).or_default() += 1);
        seen
    }
    let (tr, te) = (count(train), count(test));
    let mut d = Duplicates::default();
    for (id, n) in &tr {
        if *n > 1 {
            d.within_train += 1;
            d.examples.push(format!("{id} ({n} times in train)"));
        }
        if te.contains_key(id) {
            d.train_and_test += 1;
            d.examples.push(format!("{id} (train and test)"));
        }
    }
    d.within_test = te.values().filter(|&&n| n > 1).count();
    d.examples.sort();
    d.examples.truncate(10);
    d
}

/// The report as text, for the terminal.
pub fn render(s: &Stats) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{}", s.origin);
    let _ = writeln!(
        out,
        "clips: {} train, {} validation (listed), {} test pairs",
        s.train_clips, s.val_clips, s.test_pairs
    );
    let _ = writeln!(out, "lengths: {} to {} frames", s.min_frames, s.max_frames);
    let widest = s.lengths.iter().map(|b| b.clips).max().unwrap_or(1).max(1);
    for b in &s.lengths {
        let bar = "#".repeat((40 * b.clips).div_ceil(widest));
        let _ = writeln!(out, "  {:>4}-{:<4} {:>8}  {bar}", b.from, b.to - 1, b.clips);
    }
    let _ = writeln!(out, "at {} steps: {} clips cropped, {} padded", s.steps, s.cropped, s.padded);
    let d = &s.duplicates;
    let _ = writeln!(
        out,
        "duplicate ids: {} within train, {} within test, {} in both{}",
        d.within_train,
        d.within_test,
        d.train_and_test,
        if d.examples.is_empty() { String::new() } else { format!(" (e.g. {})", d.examples.join(", ")) }
    );
    if s.origin.starts_with("yt8m:") {
        let u = &s.unreadable;
        let _ = writeln!(out, "unreadable: {} records, {} empty shards", u.records, u.empty_shards);
    } else {
        let _ = writeln!(out, "unreadable: {} clips", s.unreadable.records);
    }
    for e in &s.unreadable.examples {
        let _ = writeln!(out, "  {e}");
    }
    for (name, m) in [("video", &s.video), ("audio", &s.audio)] {
        let (mlo, mavg, mhi) = Moments::range(&m.mean);
        let (slo, savg, shi) = Moments::range(&m.std);
        let _ = writeln!(
            out,
            "{name} ({} dims, {} clips sampled): mean {mavg:+.3} (per dim {mlo:+.3} to {mhi:+.3}), std {savg:.3} ({slo:.3} to {shi:.3})",
            m.mean.len(),
            s.sample
        );
    }
    if !s.index_sha256.is_empty() {
        let _ = writeln!(out, "index sha256 {}", s.index_sha256);
    }
    for w in &s.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
