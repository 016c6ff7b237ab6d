//! In-memory data sets of paired audio/visual feature sequences.
//!
//! Features stay quantized (`u8`, one byte per value) in memory, exactly as the course stores
//! them on disk: the default set is 1300 clips x 120 steps x 1152 values, 180 MB as bytes but
//! 720 MB as `f32`. The harness dequantizes per batch on the device with [`dequantize`]'s
//! formula.
//!
//! Sources ([`source::DataSource`]): the synthetic set, the course layout and YouTube-8M
//! TFRecord shards ([`yt8m`], [`tfrecord`], [`index`]); [`open()`] turns one into the
//! [`TrainingData`] a run reads, whose training split is held in memory or streamed per batch
//! ([`split`], [`prefetch`]), fitted to the model's length ([`crop`]). [`sink`] writes either
//! layout clip by clip.
//!
//! Two sources fill an in-memory [`Dataset`]:
//! * [`synth`]: the embedded default set, generated deterministically from a seed, so that
//!   `avc train` works with no download;
//! * [`course`]: the course's on-disk layout (`DIR/<id>/vfeat.npy`, `afeat.npy` and three
//!   list files), which can also be written back, e.g. to export the synthetic set.

use std::path::PathBuf;

use thiserror::Error;

pub mod convert;
pub mod course;
pub mod crop;
pub mod expect;
pub mod ids;
pub mod index;
pub mod npy;
pub mod open;
pub mod prefetch;
pub mod probe;
pub mod sink;
pub mod source;
pub mod split;
pub mod stats;
pub mod synth;
pub mod tfrecord;
pub mod training;
pub mod yt8m;

pub use course::{Layout, load, write};
pub use open::{Expect, open};
pub use source::DataSource;
pub use split::Split;
pub use synth::{SynthConfig, generate};
pub use training::{Provenance, TrainingData};

/// The names of the two feature streams, as model inputs refer to them.
pub const STREAMS: [&str; 2] = ["video", "audio"];

/// Feature sequences of paired clips, kept quantized (uint8) in memory; row-major
/// `[n, video_steps, video_dim]` and `[n, audio_steps, audio_dim]`.
///
/// Clip `i`'s video and audio match. For training data `video_ids == audio_ids`; for test
/// data the ids come from two lists whose line `i` is a matching pair, so they may differ.
/// Every clip has the same number of steps within a stream, which is what lets a batch be
/// one dense tensor per stream; the two streams may have different lengths (audio at twice
/// the video's frame rate has twice its steps for the same seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clips {
    pub video_ids: Vec<String>,
    pub audio_ids: Vec<String>,
    /// `len() * video_steps * video_dim` bytes.
    pub video: Vec<u8>,
    /// `len() * audio_steps * audio_dim` bytes.
    pub audio: Vec<u8>,
    /// Steps per clip of the video stream.
    pub video_steps: usize,
    /// Steps per clip of the audio stream (the same seconds as the video's).
    pub audio_steps: usize,
    pub video_dim: usize,
    pub audio_dim: usize,
    /// Per stream (video, audio), each clip's own steps, the rest of its `*_steps` being
    /// padding (the mask value), when some clip of the set was padded; both empty when every
    /// clip fills its steps. A model's pooling over time leaves padded steps out
    /// (`lower::PairBatch`).
    pub lengths: [Vec<u32>; 2],
}

impl Clips {
    /// No clips, with the given per-clip shapes (useful to fill clip by clip): `steps` is
    /// `[video_steps, audio_steps]`.
    pub fn empty(steps: [usize; 2], video_dim: usize, audio_dim: usize) -> Clips {
        Clips {
            video_ids: Vec::new(),
            audio_ids: Vec::new(),
            video: Vec::new(),
            audio: Vec::new(),
            video_steps: steps[0],
            audio_steps: steps[1],
            video_dim,
            audio_dim,
            lengths: [Vec::new(), Vec::new()],
        }
    }

    /// Each clip's own steps per stream as `[N]` int64 tensors (video, audio), when some
    /// clip of the set is padded.
    pub fn length_tensors(&self, device: tch::Device) -> Result<Option<[tch::Tensor; 2]>, tch::TchError> {
        if self.lengths.iter().any(Vec::is_empty) {
            return Ok(None);
        }
        let stream = |k: usize| {
            let values: Vec<i64> = self.lengths[k].iter().map(|&l| i64::from(l)).collect();
            tch::Tensor::f_from_slice(&values)?.f_to_device(device)
        };
        Ok(Some([stream(0)?, stream(1)?]))
    }

    /// The number of clips (pairs).
    pub fn len(&self) -> usize {
        self.video_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.video_ids.is_empty()
    }

    /// Steps per clip of each stream, `[video_steps, audio_steps]`.
    pub fn steps(&self) -> [usize; 2] {
        [self.video_steps, self.audio_steps]
    }

    /// Bytes per clip in the video stream (`video_steps * video_dim`).
    pub fn video_clip_len(&self) -> usize {
        self.video_steps * self.video_dim
    }

    /// Bytes per clip in the audio stream (`audio_steps * audio_dim`).
    pub fn audio_clip_len(&self) -> usize {
        self.audio_steps * self.audio_dim
    }

    /// Clip `i`'s video features, `[video_steps, video_dim]` row-major.
    ///
    /// Panics if `i >= len()`: indices come from the harness, never from a user.
    pub fn video_clip(&self, i: usize) -> &[u8] {
        let n = self.video_clip_len();
        &self.video[i * n..(i + 1) * n]
    }

    /// Clip `i`'s audio features, `[audio_steps, audio_dim]` row-major.
    ///
    /// Panics if `i >= len()`: indices come from the harness, never from a user.
    pub fn audio_clip(&self, i: usize) -> &[u8] {
        let n = self.audio_clip_len();
        &self.audio[i * n..(i + 1) * n]
    }

    /// The clips at `idx`, in that order (a split, a fold, a shuffled copy).
    ///
    /// Panics if an index is out of range: indices come from the harness, never from a user.
    pub fn subset(&self, idx: &[usize]) -> Clips {
        let mut out = Clips::empty(self.steps(), self.video_dim, self.audio_dim);
        out.video.reserve(idx.len() * self.video_clip_len());
        out.audio.reserve(idx.len() * self.audio_clip_len());
        for &i in idx {
            out.video_ids.push(self.video_ids[i].clone());
            out.audio_ids.push(self.audio_ids[i].clone());
            out.video.extend_from_slice(self.video_clip(i));
            out.audio.extend_from_slice(self.audio_clip(i));
            for k in 0..2 {
                if let Some(&l) = self.lengths[k].get(i) {
                    out.lengths[k].push(l);
                }
            }
        }
        out
    }

    /// Per-clip shape of a stream by name: `"video"` -> `[video_steps, video_dim]`,
    /// `"audio"` -> `[audio_steps, audio_dim]`, anything else `None` (the caller reports the
    /// unknown stream).
    pub fn stream_shape(&self, stream: &str) -> Option<[usize; 2]> {
        match stream {
            "video" => Some([self.video_steps, self.video_dim]),
            "audio" => Some([self.audio_steps, self.audio_dim]),
            _ => None,
        }
    }

    /// Checks that ids and byte buffers agree with the declared shapes; `what` names the
    /// clips in the message (e.g. "train clips of synthetic (seed 1)").
    ///
    /// The fields are public, so code can build inconsistent values; writers call this first
    /// so that such a value becomes an error, not a panic or a corrupt file.
    pub fn validate(&self, what: &str) -> Result<(), DataError> {
        let n = self.len();
        let problem = if self.audio_ids.len() != n {
            Some(format!("{} video ids but {} audio ids", n, self.audio_ids.len()))
        } else if self.video.len() != n * self.video_clip_len() {
            Some(format!(
                "video holds {} bytes, expected {} clips x {} steps x {} = {}",
                self.video.len(),
                n,
                self.video_steps,
                self.video_dim,
                n * self.video_clip_len()
            ))
        } else if self.audio.len() != n * self.audio_clip_len() {
            Some(format!(
                "audio holds {} bytes, expected {} clips x {} steps x {} = {}",
                self.audio.len(),
                n,
                self.audio_steps,
                self.audio_dim,
                n * self.audio_clip_len()
            ))
        } else {
            None
        };
        match problem {
            Some(reason) => Err(DataError::Inconsistent { what: what.to_string(), reason }),
            None => Ok(()),
        }
    }
}

/// A training set and a test set, with where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub train: Clips,
    pub test: Clips,
    /// Human-readable origin, e.g. "synthetic (seed 1)" or a directory; error messages and run
    /// summaries quote it.
    pub origin: String,
}

/// Step between two quantization levels: 256 levels span [-2, 2].
const QUANT_STEP: f32 = 4.0 / 255.0;
/// Offset of level 0: the course's formula centres each level with `4 / 512`.
const QUANT_BASE: f32 = 4.0 / 512.0 - 2.0;

/// `x = q * (4 / 255) + (4 / 512) - 2`, the course's dequantization (range [-2, 2]).
///
/// The harness applies the same formula to whole tensors on the device; this scalar form is
/// the reference for tests and CPU code.
pub fn dequantize(q: u8) -> f32 {
    f32::from(q) * QUANT_STEP + QUANT_BASE
}

/// The inverse of [`dequantize`]: the nearest level, clamped to [0, 255]; NaN maps to 0.
///
/// `quantize(dequantize(q)) == q` for every `q`. The synthetic generator calls this for every
/// value it makes, so it avoids `f32::round` (a libm call on baseline x86-64): after the
/// clamp the level is non-negative, where adding 0.5 and truncating rounds to nearest.
#[inline]
pub fn quantize(x: f32) -> u8 {
    let level = (x - QUANT_BASE) * (255.0 / 4.0);
    // `clamp` keeps NaN, and `as` maps NaN to 0 and saturates at 255.
    (level.clamp(0.0, 255.0) + 0.5) as u8
}

/// Everything that can go wrong reading, writing or configuring a data set.
///
/// Each file-related variant names the file and says what was expected and what was found,
/// because the usual fix is in the data directory, not in the code.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("missing {what}: {} does not exist", path.display())]
    Missing { path: PathBuf, what: String },

    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is not a readable .npy file: {reason}", path.display())]
    Npy { path: PathBuf, reason: String },

    #[error("{} has dtype {found}, expected uint8 (numpy '|u1', the course's quantized features)", path.display())]
    Dtype { path: PathBuf, found: String },

    #[error("{} has shape {found}, expected {expected}", path.display())]
    Shape { path: PathBuf, expected: String, found: String },

    #[error(
        "clips of different lengths: {} has {video_steps} steps but {} has {audio_steps}; \
         the video and audio of a pair must have the same number of steps",
        video.display(),
        audio.display()
    )]
    Steps { video: PathBuf, video_steps: usize, audio: PathBuf, audio_steps: usize },

    #[error("list file {} is missing: expected one clip id per line", path.display())]
    MissingList { path: PathBuf },

    #[error("list file {} is empty: expected at least one clip id (one per line)", path.display())]
    EmptyList { path: PathBuf },

    #[error(
        "test lists differ in length: {} has {video_len} ids but {} has {audio_len}; \
         line i of both lists must be a matching pair",
        video_list.display(),
        audio_list.display()
    )]
    ListLengths { video_list: PathBuf, video_len: usize, audio_list: PathBuf, audio_len: usize },

    #[error("{}:{line}: duplicate clip id '{id}' (first on line {first_line}); each id must appear once", path.display())]
    DuplicateId { path: PathBuf, id: String, line: usize, first_line: usize },

    #[error("{}:{line}: clip id '{id}': {reason}", path.display())]
    BadId { path: PathBuf, id: String, line: usize, reason: String },

    #[error("{} is too large for {what}: {size} bytes, more than the limit of {limit}", path.display())]
    TooLarge { path: PathBuf, what: String, size: u64, limit: u64 },

    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {}: {reason}", path.display())]
    Conflict { path: PathBuf, reason: String },

    #[error("{what} are inconsistent: {reason}")]
    Inconsistent { what: String, reason: String },

    #[error("data setting '{key}': {reason}")]
    Setting { key: String, reason: String },

    #[error("{}: record {index}: {reason}", shard.display())]
    Record { shard: PathBuf, index: usize, reason: String },

    #[error("{pattern}: {reason}")]
    Pattern { pattern: String, reason: String },

    #[error("{}{at}: {reason}", path.display())]
    DataFile { path: PathBuf, at: String, reason: String },

    #[error("{}:{line}: clip '{id}' is not in {origin}", list.display())]
    UnknownId { list: PathBuf, line: usize, id: String, origin: String },
}

impl crate::report::Report for DataError {
    /// A file or directory that cannot be read or written is an I/O problem (2), anything
    /// about the data's content a data error (1).
    fn exit_code(&self) -> u8 {
        use DataError as E;
        match self {
            E::Read { .. } | E::Write { .. } | E::Missing { .. } | E::MissingList { .. } | E::Pattern { .. } => 2,
            _ => 1,
        }
    }

    fn place(&self) -> Option<crate::report::Place> {
        use crate::report::Place;
        use DataError as E;
        match self {
            E::Missing { path, .. }
            | E::Read { path, .. }
            | E::Npy { path, .. }
            | E::Dtype { path, .. }
            | E::Shape { path, .. }
            | E::MissingList { path }
            | E::EmptyList { path }
            | E::TooLarge { path, .. }
            | E::Write { path, .. }
            | E::Conflict { path, .. }
            | E::DataFile { path, .. } => Some(Place::Path(path.clone())),
            E::Steps { audio, .. } => Some(Place::Path(audio.clone())),
            E::ListLengths { audio_list, .. } => Some(Place::Path(audio_list.clone())),
            E::DuplicateId { path, line, .. } | E::BadId { path, line, .. } => {
                Some(Place::Line { path: path.clone(), line: *line })
            }
            E::UnknownId { list, line, .. } => Some(Place::Line { path: list.clone(), line: *line }),
            E::Record { shard, index, .. } => Some(Place::Record { shard: shard.clone(), index: *index }),
            E::Setting { key, .. } => Some(Place::Setting(key.clone())),
            E::Inconsistent { .. } | E::Pattern { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_round_trip_and_range() {
        for q in 0..=255u8 {
            assert_eq!(quantize(dequantize(q)), q, "level {q}");
        }
        assert!((dequantize(0) - (-2.0 + 4.0 / 512.0)).abs() < 1e-6);
        assert!((dequantize(255) - (2.0 + 4.0 / 512.0)).abs() < 1e-6);
        assert!(dequantize(0) >= -2.0 && dequantize(255) <= 2.01);
        assert_eq!(quantize(-10.0), 0);
        assert_eq!(quantize(10.0), 255);
        assert_eq!(quantize(f32::NAN), 0);
        assert_eq!(quantize(f32::INFINITY), 255);
        // Rounds to the nearest level: the error is at most half a step inside the range.
        for k in 0..=400 {
            let x = -2.0 + 4.0 * k as f32 / 400.0;
            let err = (dequantize(quantize(x)) - x).abs();
            assert!(err <= QUANT_STEP / 2.0 + 1e-5, "x {x} err {err}");
        }
    }

    fn tiny() -> Clips {
        Clips {
            video_ids: vec!["a".into(), "b".into(), "c".into()],
            audio_ids: vec!["a".into(), "b".into(), "c".into()],
            video: (0..3 * 2 * 3).map(|v| v as u8).collect(),
            audio: (0..3 * 2).map(|v| 100 + v as u8).collect(),
            video_steps: 2,
            audio_steps: 2,
            video_dim: 3,
            audio_dim: 1,
            lengths: [Vec::new(), Vec::new()],
        }
    }

    #[test]
    fn clip_access_and_subset() {
        let c = tiny();
        assert_eq!(c.len(), 3);
        assert!(!c.is_empty());
        assert_eq!(c.video_clip(1), &[6, 7, 8, 9, 10, 11]);
        assert_eq!(c.audio_clip(2), &[104, 105]);
        let s = c.subset(&[2, 0]);
        assert_eq!(s.video_ids, vec!["c", "a"]);
        assert_eq!(s.video_clip(0), c.video_clip(2));
        assert_eq!(s.audio_clip(1), c.audio_clip(0));
        assert_eq!(s.stream_shape("video"), Some([2, 3]));
        assert_eq!(s.stream_shape("audio"), Some([2, 1]));
        assert_eq!(s.stream_shape("text"), None);
        assert!(s.validate("subset").is_ok());
        assert!(Clips::empty([2, 2], 3, 1).is_empty());
    }

    #[test]
    fn validate_reports_inconsistency() {
        let mut c = tiny();
        c.video.pop();
        let msg = c.validate("train clips").map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("train clips") && msg.contains("17 bytes") && msg.contains("18"), "{msg}");
    }

    #[test]
    fn streams_of_different_lengths() {
        // Audio at twice the video's rate: 2 video and 4 audio steps per clip.
        let c = Clips { audio: (0..3 * 4).map(|v| v as u8).collect(), audio_steps: 4, ..tiny() };
        assert!(c.validate("clips").is_ok());
        assert_eq!(c.steps(), [2, 4]);
        assert_eq!(c.audio_clip(1), &[4, 5, 6, 7]);
        assert_eq!(c.stream_shape("audio"), Some([4, 1]));
        assert_eq!(c.subset(&[2]).audio, [8, 9, 10, 11]);
        let short = Clips { audio_steps: 5, ..c };
        let msg = short.validate("test clips").map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("audio holds 12 bytes, expected 3 clips x 5 steps x 1 = 15"), "{msg}");
    }
}
