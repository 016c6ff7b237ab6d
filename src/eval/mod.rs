//! Evaluation: the course's retrieval protocol. Every video of a group is scored against
//! every audio of the group; the true audio's rank gives top-1, top-5, MRR and the median
//! rank. Groups hold 30 clips (the course's 30-way test); larger splits are cut into
//! groups of at least 30.
//!
//! Which way scores sort comes from the output kind (a `distance` ascends, a `logit` or
//! cosine similarity descends), never from a convention the user must remember.

pub mod apply;
pub mod compare;
pub mod engine;
mod error;
pub mod evaldir;
pub mod metrics;
mod plots;
pub mod protocol;
pub mod retrieve;
pub mod summary;

pub use error::EvalError;

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The course's test size: ranks are out of 30 candidates.
pub const GROUP: usize = 30;

/// Retrieval metrics over a set of queries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Ranking {
    pub top1: f64,
    pub top5: f64,
    pub mrr: f64,
    pub median_rank: f64,
    /// How many queries these numbers average over.
    pub queries: usize,
}

/// The rank (1 = best) of the true match for each row of a square score matrix
/// (`scores[i * n + j]` scores video i against audio j; the true audio of video i is j = i).
/// Ties count against the model: a constant scorer ranks every true match last; so does a
/// NaN true score ([`protocol::Oriented::rank_within`] ranks both ways).
pub fn true_ranks(scores: &[f32], n: usize, higher_is_better: bool) -> Vec<usize> {
    let m = protocol::Oriented { scores, n, direction: protocol::Direction::VideoToAudio, higher_is_better };
    (0..n).map(|i| m.rank_within(i, 0..n)).collect()
}

/// Top-1, top-5, MRR and median rank from a list of ranks.
pub fn ranking(ranks: &[usize]) -> Ranking {
    if ranks.is_empty() {
        return Ranking::default();
    }
    let n = ranks.len() as f64;
    let within = |k: usize| ranks.iter().filter(|&&r| r <= k).count() as f64 / n;
    let mut sorted = ranks.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 { sorted[mid] as f64 } else { (sorted[mid - 1] + sorted[mid]) as f64 / 2.0 };
    Ranking {
        top1: within(1),
        top5: within(5),
        mrr: ranks.iter().map(|&r| 1.0 / r as f64).sum::<f64>() / n,
        median_rank: median,
        queries: ranks.len(),
    }
}

/// Cuts `0..n` into consecutive groups of at least `GROUP` clips (one smaller group when
/// `n < GROUP`); the remainder is spread over the groups so none is much larger.
pub fn groups(n: usize) -> Vec<Range<usize>> {
    let count = (n / GROUP).max(1);
    let (base, extra) = (n / count, n % count);
    let mut start = 0;
    (0..count)
        .map(|g| {
            let len = base + usize::from(g < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .filter(|r| !r.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_output_direction() {
        // video 0 prefers audio 0, video 1 prefers audio 0 too.
        let scores = [0.9, 0.1, 0.8, 0.2];
        assert_eq!(true_ranks(&scores, 2, true), vec![1, 2]);
        assert_eq!(true_ranks(&scores, 2, false), vec![2, 1]);
    }

    #[test]
    fn ties_count_against_the_model() {
        assert_eq!(true_ranks(&[0.5; 9], 3, true), vec![3, 3, 3]);
    }

    #[test]
    fn metrics_from_ranks() {
        let r = ranking(&[1, 2, 6, 1]);
        assert_eq!(r.top1, 0.5);
        assert_eq!(r.top5, 0.75);
        assert!((r.mrr - (1.0 + 0.5 + 1.0 / 6.0 + 1.0) / 4.0).abs() < 1e-12);
        assert_eq!(r.median_rank, 1.5);
    }

    #[test]
    fn groups_hold_at_least_thirty() {
        assert_eq!(groups(30), vec![0..30]);
        assert_eq!(groups(127), vec![0..32, 32..64, 64..96, 96..127]);
        assert_eq!(groups(12), vec![0..12]);
        assert!(groups(0).is_empty());
    }
}
