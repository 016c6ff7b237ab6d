//! What training and evaluation read: a training split (in memory or streamed), the test
//! pairs (in memory: every test clip is scored against every other), how validation clips
//! are chosen, and the provenance a run records.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::crop::Crop;
use super::split::Split;
use super::{Clips, Dataset};

/// The data a run trains and is tested on.
#[derive(Debug)]
pub struct TrainingData {
    /// Training clips, validation clips included (see [`TrainingData::split`]).
    pub train: Split,
    pub test: Clips,
    /// Human-readable origin, e.g. "synthetic (seed 1)" or a directory.
    pub origin: String,
    pub validation: Validation,
    pub provenance: Provenance,
}

/// How the validation clips are taken out of [`TrainingData::train`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// A seeded shuffle; `train.validation` of the clips.
    Seeded,
    /// By a hash of each clip's id; `train.validation` of the clips, stable across seeds and
    /// shard orders.
    Hash,
    /// Clips from `first` on came from a validation list.
    Listed { first: usize },
}

/// What a run records about its data, so that it says exactly what it saw and `--resume`
/// can refuse data that changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Digest of the index: for TFRecords every record's shard, offset, CRC, id and length;
    /// for a course directory every clip's id and shape; for the synthetic set its settings.
    pub index_sha256: String,
    /// Digest of each list file's bytes, by role (`train`, `test_video`, `test_audio`, `val`).
    pub lists_sha256: BTreeMap<String, String>,
    /// Records skipped as unreadable (`--skip-corrupt`).
    pub skipped: Skipped,
    /// How clips were fitted to the model's length, when any needed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted: Option<Fitted>,
    /// Whether the training split is read per batch.
    pub streamed: bool,
    /// What is suspicious but not fatal about the data (test ids among the training clips):
    /// said before training and recorded, so a surprising result can be traced to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Unreadable records skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub records: usize,
    pub empty_shards: usize,
    /// The first few, as `shard: record N: reason`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

/// Clips cropped or padded to the declared length (training and validation clips).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fitted {
    /// The video's length (and the audio's, unless `audio_steps` says otherwise).
    pub steps: usize,
    /// The audio's length, where it differs from the video's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_steps: Option<usize>,
    pub crop: Crop,
    pub pad: u8,
    pub cropped: usize,
    pub padded: usize,
}

impl From<Dataset> for TrainingData {
    /// An in-memory data set (the synthetic one, or one a test built); validation is a
    /// seeded shuffle.
    fn from(ds: Dataset) -> TrainingData {
        let mut lists = BTreeMap::new();
        lists.insert("train".to_string(), digest_lines(&ds.train.video_ids));
        lists.insert("test_video".to_string(), digest_lines(&ds.test.video_ids));
        lists.insert("test_audio".to_string(), digest_lines(&ds.test.audio_ids));
        let index = digest_lines(
            &[
                ds.origin.clone(),
                format!("{} {} {} {}", ds.train.len(), ds.train.video_steps, ds.train.video_dim, ds.train.audio_dim),
            ]
            .into_iter()
            // Only where the streams differ, so that equal-length sets keep their digests.
            .chain((ds.train.audio_steps != ds.train.video_steps).then(|| format!("audio {}", ds.train.audio_steps)))
            .collect::<Vec<_>>(),
        );
        TrainingData {
            origin: ds.origin,
            train: Split::Memory(ds.train),
            test: ds.test,
            validation: Validation::Seeded,
            provenance: Provenance { index_sha256: index, lists_sha256: lists, ..Provenance::default() },
        }
    }
}

impl TrainingData {
    /// Splits the training clips into (train, validation) indices: `share` of them for
    /// validation (at least 2, leaving at least 2), or the listed ones.
    pub fn split(&self, share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let n = self.train.len();
        match self.validation {
            Validation::Seeded => seeded_split(n, share, seed),
            Validation::Hash => hash_split(self.train.video_ids(), share),
            Validation::Listed { first } => ((0..first.min(n)).collect(), (first.min(n)..n).collect()),
        }
    }
}

/// Splits `n` clips into (train, validation) indices by a seeded shuffle.
pub fn seeded_split(n: usize, share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ SPLIT_SALT));
    let val = validation_count(n, share);
    let train = idx.split_off(val);
    (train, idx)
}

/// A fixed salt so the split's random stream differs from the batch order's.
const SPLIT_SALT: u64 = 0x5eed_5b11;

fn validation_count(n: usize, share: f64) -> usize {
    ((n as f64 * share).round() as usize).clamp(2, n.saturating_sub(2).max(2))
}

/// A clip is in validation when the hash of its id, as a fraction of 2^64, is below `share`;
/// at least 2 and at most n - 2 clips (the lowest hashes) keep the split usable.
pub fn hash_split(ids: &[String], share: f64) -> (Vec<usize>, Vec<usize>) {
    let n = ids.len();
    let mut by_hash: Vec<(u64, usize)> = ids.iter().enumerate().map(|(i, id)| (id_hash(id), i)).collect();
    by_hash.sort_unstable();
    let threshold = (share.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
    let below = by_hash.iter().take_while(|(h, _)| *h < threshold).count();
    let val = below.clamp(2.min(n), n.saturating_sub(2).max(2.min(n)));
    let mut validation: Vec<usize> = by_hash[..val].iter().map(|&(_, i)| i).collect();
    validation.sort_unstable();
    let mut in_val = vec![false; n];
    validation.iter().for_each(|&i| in_val[i] = true);
    ((0..n).filter(|&i| !in_val[i]).collect(), validation)
}

/// A stable 64-bit hash of an id (the first 8 bytes of its SHA-256): the same on every
/// machine and in every version.
pub fn id_hash(id: &str) -> u64 {
    let d = Sha256::digest(id.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// SHA-256 of lines joined with newlines (each line ended by one).
pub fn digest_lines(lines: &[String]) -> String {
    let mut h = Sha256::new();
    for l in lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    super::index::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_split_is_stable_and_sized() {
        let ids: Vec<String> = (0..1000).map(|i| format!("-id_{i}")).collect();
        let (train, val) = hash_split(&ids, 0.1);
        assert_eq!(train.len() + val.len(), 1000);
        assert!((60..140).contains(&val.len()), "{}", val.len());
        // Membership depends on the id only: reversing the order keeps the same ids.
        let reversed: Vec<String> = ids.iter().rev().cloned().collect();
        let (_, val_rev) = hash_split(&reversed, 0.1);
        let mut a: Vec<&String> = val.iter().map(|&i| &ids[i]).collect();
        let mut b: Vec<&String> = val_rev.iter().map(|&i| &reversed[i]).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        let (t, v) = hash_split(&ids[..5], 0.0);
        assert_eq!((t.len(), v.len()), (3, 2));
    }

    #[test]
    fn seeded_split_matches_the_old_rule() {
        let (t, v) = seeded_split(100, 0.2, 3);
        assert_eq!((t.len(), v.len()), (80, 20));
        assert_eq!(seeded_split(100, 0.2, 3), (t, v));
    }
}
