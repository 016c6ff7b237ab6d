//! The two ways of reading a square score matrix whose row i (video i) and column i
//! (audio i) are a true pair, in both directions: the course's 30-way groups, and the full
//! N-way ranking of every query against every candidate.

use super::metrics::{Bootstrap, Metrics, metrics};
use serde::Serialize;

/// Which way queries go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// A silent video asks for its audio (the course's task).
    #[serde(rename = "v2a")]
    VideoToAudio,
    /// An audio asks for its video.
    #[serde(rename = "a2v")]
    AudioToVideo,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::VideoToAudio => "v2a",
            Direction::AudioToVideo => "a2v",
        }
    }

    pub fn parse(word: &str) -> Option<Direction> {
        match word {
            "v2a" => Some(Direction::VideoToAudio),
            "a2v" => Some(Direction::AudioToVideo),
            _ => None,
        }
    }
}

/// A square score matrix, row-major (`scores[v * n + a]`), read in one direction.
pub struct Oriented<'a> {
    pub scores: &'a [f32],
    pub n: usize,
    pub direction: Direction,
    pub higher_is_better: bool,
}

impl Oriented<'_> {
    /// The score of query `q` against candidate `c`.
    pub fn get(&self, q: usize, c: usize) -> f32 {
        match self.direction {
            Direction::VideoToAudio => self.scores[q * self.n + c],
            Direction::AudioToVideo => self.scores[c * self.n + q],
        }
    }

    /// Whether `s` is at least as good as `truth` (ties count against the model; NaN is
    /// never good, so it ranks above the truth too).
    fn beats(&self, s: f32, truth: f32) -> bool {
        s.is_nan() || if self.higher_is_better { s >= truth } else { s <= truth }
    }

    /// Query `q`'s true rank among candidates `range` (which must hold `q`). A NaN true
    /// score ranks last: a model that produced no number found nothing.
    pub fn rank_within(&self, q: usize, range: std::ops::Range<usize>) -> usize {
        let truth = self.get(q, q);
        if truth.is_nan() {
            return range.len();
        }
        1 + range.filter(|&c| c != q && self.beats(self.get(q, c), truth)).count()
    }

    /// Query `q`'s best `k` candidates, best first (ties by candidate index).
    pub fn top(&self, q: usize, k: usize) -> Vec<(usize, f32)> {
        let mut all: Vec<(usize, f32)> = (0..self.n).map(|c| (c, self.get(q, c))).collect();
        let better = |a: &(usize, f32), b: &(usize, f32)| {
            let ord = if self.higher_is_better { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) };
            ord.then(a.0.cmp(&b.0))
        };
        let k = k.min(all.len());
        if k > 0 && k < all.len() {
            all.select_nth_unstable_by(k - 1, better);
            all.truncate(k);
        }
        all.sort_by(better);
        all
    }
}

/// One direction's results: every query's rank under both protocols, and the metrics.
#[derive(Debug, Clone, Serialize)]
pub struct DirectionResult {
    pub direction: Direction,
    /// Each query's rank among all N candidates.
    #[serde(skip)]
    pub full_ranks: Vec<usize>,
    /// Each query's rank within its group of about 30.
    #[serde(skip)]
    pub group_ranks: Vec<usize>,
    /// The full N-way ranking.
    pub full: Metrics,
    /// The course's groups of 30 (see [`super::groups`]).
    pub groups: Metrics,
}

/// Every query's true rank among all candidates, and within its group (see
/// [`super::groups`]), in query order.
pub fn ranks(m: &Oriented) -> (Vec<usize>, Vec<usize>) {
    let full: Vec<usize> = (0..m.n).map(|q| m.rank_within(q, 0..m.n)).collect();
    let grouped = super::groups(m.n)
        .into_iter()
        .flat_map(|g| g.clone().map(move |q| (q, g.clone())))
        .map(|(q, g)| m.rank_within(q, g));
    (full, grouped.collect())
}

/// Ranks and metrics of a square score matrix in one direction.
pub fn read_direction(m: &Oriented, boot: &Bootstrap) -> DirectionResult {
    let (full_ranks, group_ranks) = ranks(m);
    let largest = super::groups(m.n).iter().map(|g| g.len()).max().unwrap_or(0);
    DirectionResult {
        direction: m.direction,
        full: metrics(&full_ranks, m.n, boot),
        groups: metrics(&group_ranks, largest, boot),
        full_ranks,
        group_ranks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oriented(scores: &[f32], n: usize, direction: Direction) -> Oriented<'_> {
        Oriented { scores, n, direction, higher_is_better: true }
    }

    #[test]
    fn the_two_directions_read_rows_and_columns() {
        // Video 0 prefers audio 1, video 1 its own; audio 0 prefers video 0, audio 1 video 0.
        let s = [0.5, 0.9, 0.1, 0.8];
        let v2a = oriented(&s, 2, Direction::VideoToAudio);
        let a2v = oriented(&s, 2, Direction::AudioToVideo);
        assert_eq!((v2a.rank_within(0, 0..2), v2a.rank_within(1, 0..2)), (2, 1));
        assert_eq!((a2v.rank_within(0, 0..2), a2v.rank_within(1, 0..2)), (1, 2));
        assert_eq!(v2a.top(0, 2), vec![(1, 0.9), (0, 0.5)]);
        assert_eq!(a2v.top(1, 1), vec![(0, 0.9)]);
    }

    #[test]
    fn a_nan_truth_ranks_last_and_a_nan_rival_beats_the_truth() {
        let s = [f32::NAN, 0.9, 0.1, f32::NAN];
        let v2a = oriented(&s, 2, Direction::VideoToAudio);
        assert_eq!(v2a.rank_within(0, 0..2), 2, "NaN truth");
        assert_eq!(v2a.rank_within(1, 0..2), 2, "NaN truth again");
        let s = [0.5, f32::NAN, 0.1, 0.8];
        assert_eq!(oriented(&s, 2, Direction::VideoToAudio).rank_within(0, 0..2), 2, "NaN rival");
    }

    #[test]
    fn a_distance_sorts_ascending_and_ties_count_against() {
        let s = [0.2, 0.2, 0.9, 0.1];
        let d = Oriented { scores: &s, n: 2, direction: Direction::VideoToAudio, higher_is_better: false };
        assert_eq!(d.rank_within(0, 0..2), 2);
        assert_eq!(d.rank_within(1, 0..2), 1);
        assert_eq!(d.top(1, 2), vec![(1, 0.1), (0, 0.9)]);
    }

    #[test]
    fn groups_rank_within_their_group_only() {
        // 60 clips: a perfect scorer within groups, but every query's best wrong candidate
        // sits in the other group.
        let n = 60;
        let mut s = vec![0.0f32; n * n];
        for q in 0..n {
            s[q * n + q] = 1.0;
            s[q * n + (q + 30) % n] = 2.0;
        }
        let r = read_direction(&oriented(&s, n, Direction::VideoToAudio), &Bootstrap::default());
        assert!(r.group_ranks.iter().all(|&x| x == 1));
        assert!(r.full_ranks.iter().all(|&x| x == 2));
        assert_eq!((r.groups.top1.value, r.full.top1.value), (1.0, 0.0));
        assert_eq!((r.groups.candidates, r.full.candidates), (30, 60));
    }
}
