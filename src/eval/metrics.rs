//! Retrieval metrics with honest error bars. With 30 test clips one clip is 3.3 points, so
//! every number comes with a 95% confidence interval from a bootstrap over queries: the
//! queries are resampled with replacement, the metric recomputed on each resample, and the
//! 2.5th and 97.5th percentiles of those values bound the interval. The resampling is
//! seeded, so the same ranks always give the same interval.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How the intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Resamples drawn.
    pub resamples: usize,
    /// Seed of the resampling.
    pub seed: u64,
    /// Coverage of the interval (0.95).
    pub level: f64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap { resamples: 1000, seed: 0, level: 0.95 }
    }
}

/// A metric and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Retrieval metrics of one direction under one protocol. Accuracies and MRR are
/// fractions in [0, 1]; ranks start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub top1: Interval,
    pub top5: Interval,
    pub top10: Interval,
    pub mrr: Interval,
    pub median_rank: Interval,
    pub mean_rank: Interval,
    /// Queries ranked.
    pub queries: usize,
    /// Candidates each query was ranked against (the largest group for grouped protocols).
    pub candidates: usize,
}

/// The six point values, in [`Metrics`]'s order.
fn point(ranks: &[usize]) -> [f64; 6] {
    let n = ranks.len() as f64;
    let within = |k: usize| ranks.iter().filter(|&&r| r <= k).count() as f64 / n;
    let mut sorted = ranks.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 { sorted[mid] as f64 } else { (sorted[mid - 1] + sorted[mid]) as f64 / 2.0 };
    let mrr = ranks.iter().map(|&r| 1.0 / r as f64).sum::<f64>() / n;
    let mean = ranks.iter().sum::<usize>() as f64 / n;
    [within(1), within(5), within(10), mrr, median, mean]
}

/// Metrics of `ranks` (each query's true rank among `candidates`) with bootstrap intervals.
/// No ranks give zeros.
pub fn metrics(ranks: &[usize], candidates: usize, boot: &Bootstrap) -> Metrics {
    let [top1, top5, top10, mrr, median_rank, mean_rank] = bootstrap(ranks, point, boot);
    Metrics { top1, top5, top10, mrr, median_rank, mean_rank, queries: ranks.len(), candidates }
}

/// How a second set of ranks differs from a first on the same queries (second less first),
/// each difference with a paired bootstrap interval: every resample draws the same queries
/// for both, so what the two share (the easy and the hard queries) cancels and what is left
/// is the models' difference. Two runs 6 points apart on 30 clips often overlap in their own
/// intervals yet differ clearly here, or not at all: this is the interval to read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub top1: Interval,
    pub top5: Interval,
    pub top10: Interval,
    pub mrr: Interval,
    pub median_rank: Interval,
    pub mean_rank: Interval,
    pub queries: usize,
    /// Queries whose true candidate the second ranks better (nearer 1) than the first.
    pub better: usize,
    /// Queries whose true candidate the second ranks worse.
    pub worse: usize,
}

/// [`Difference`] of `(first, second)` rank pairs, one per query.
pub fn paired(ranks: &[(usize, usize)], boot: &Bootstrap) -> Difference {
    let better = ranks.iter().filter(|(a, b)| b < a).count();
    let worse = ranks.iter().filter(|(a, b)| b > a).count();
    let delta = |pairs: &[(usize, usize)]| {
        let (a, b): (Vec<usize>, Vec<usize>) = pairs.iter().copied().unzip();
        let (pa, pb) = (point(&a), point(&b));
        std::array::from_fn::<f64, 6, _>(|k| pb[k] - pa[k])
    };
    let [top1, top5, top10, mrr, median_rank, mean_rank] = bootstrap(ranks, delta, boot);
    Difference { top1, top5, top10, mrr, median_rank, mean_rank, queries: ranks.len(), better, worse }
}

/// The six values of `stat` on `items` with their bootstrap intervals: `boot.resamples`
/// resamples of the items with replacement (seeded), the `level` interval read from the
/// percentiles of `stat` over them. No items: zeros; no resamples: NaN bounds.
fn bootstrap<T: Copy + Default>(items: &[T], stat: impl Fn(&[T]) -> [f64; 6], boot: &Bootstrap) -> [Interval; 6] {
    if items.is_empty() {
        return [Interval { value: 0.0, low: 0.0, high: 0.0 }; 6];
    }
    let values = stat(items);
    let mut rng = ChaCha8Rng::seed_from_u64(boot.seed);
    let mut samples: [Vec<f64>; 6] = Default::default();
    let mut resample = vec![T::default(); items.len()];
    for _ in 0..boot.resamples {
        for r in resample.iter_mut() {
            *r = items[rng.random_range(0..items.len())];
        }
        for (k, v) in stat(&resample).into_iter().enumerate() {
            samples[k].push(v);
        }
    }
    let tail = (1.0 - boot.level) / 2.0;
    std::array::from_fn(|k| {
        let s = &mut samples[k];
        s.sort_by(f64::total_cmp);
        Interval { value: values[k], low: percentile(s, tail), high: percentile(s, 1.0 - tail) }
    })
}

/// The `q` quantile of sorted values, interpolating linearly between neighbours (numpy's
/// default); the only value when there is one, NaN when there is none.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos.fract());
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_values_follow_their_definitions() {
        let m = metrics(&[1, 2, 6, 1, 12], 30, &Bootstrap { resamples: 0, ..Default::default() });
        assert_eq!(m.top1.value, 0.4);
        assert_eq!(m.top5.value, 0.6);
        assert_eq!(m.top10.value, 0.8);
        assert_eq!(m.median_rank.value, 2.0);
        assert_eq!(m.mean_rank.value, 22.0 / 5.0);
        assert!((m.mrr.value - (1.0 + 0.5 + 1.0 / 6.0 + 1.0 + 1.0 / 12.0) / 5.0).abs() < 1e-12);
    }

    #[test]
    fn intervals_contain_the_value_and_shrink_with_more_queries() {
        let boot = Bootstrap::default();
        let few: Vec<usize> = (0..30).map(|i| if i % 2 == 0 { 1 } else { 7 }).collect();
        let many: Vec<usize> = (0..3000).map(|i| if i % 2 == 0 { 1 } else { 7 }).collect();
        let (a, b) = (metrics(&few, 30, &boot), metrics(&many, 30, &boot));
        for m in [a, b] {
            assert!(m.top1.low <= m.top1.value && m.top1.value <= m.top1.high);
        }
        assert!(a.top1.high - a.top1.low > 5.0 * (b.top1.high - b.top1.low));
        // Half the queries hit: the interval of 30 is about +-18 points.
        assert!(a.top1.low < 0.4 && a.top1.high > 0.6, "{:?}", a.top1);
    }

    #[test]
    fn the_same_seed_gives_the_same_interval() {
        let ranks: Vec<usize> = (1..50).collect();
        let boot = Bootstrap::default();
        assert_eq!(metrics(&ranks, 50, &boot), metrics(&ranks, 50, &boot));
        let other = metrics(&ranks, 50, &Bootstrap { seed: 1, ..boot });
        assert_ne!(metrics(&ranks, 50, &boot).mrr, other.mrr);
    }

    #[test]
    fn a_paired_difference_cancels_what_both_share() {
        let boot = Bootstrap::default();
        // The same ranks: a zero difference with a zero-width interval.
        let same: Vec<(usize, usize)> = (1..31).map(|r| (r, r)).collect();
        let d = paired(&same, &boot);
        assert_eq!((d.top1.value, d.top1.low, d.top1.high, d.better, d.worse), (0.0, 0.0, 0.0, 0, 0));
        // Queries of every difficulty, the second model one rank better on 6 of 30: its
        // top-1 gain (+6.7 points, 4 of them 2 -> 1) is clear when paired, although each
        // model's own interval spans about +-17 points.
        let ranks: Vec<(usize, usize)> = (0..30)
            .map(|q| {
                if q < 4 {
                    (2, 1)
                } else if q < 6 {
                    (7, 6)
                } else {
                    (1 + q % 3, 1 + q % 3)
                }
            })
            .collect();
        let d = paired(&ranks, &boot);
        assert!((d.top1.value - 4.0 / 30.0).abs() < 1e-12, "{:?}", d.top1);
        assert!(d.top1.low > 0.0 && d.mrr.low > 0.0 && d.mean_rank.high < 0.0, "{d:?}");
        assert_eq!((d.better, d.worse, d.queries), (6, 0, 30));
        let (a, b): (Vec<usize>, Vec<usize>) = ranks.iter().copied().unzip();
        let (ma, mb) = (metrics(&a, 30, &boot), metrics(&b, 30, &boot));
        assert!(mb.top1.low < ma.top1.high, "unpaired, the two intervals overlap");
        // Reversed, the same difference with the opposite sign.
        let back: Vec<(usize, usize)> = ranks.iter().map(|&(a, b)| (b, a)).collect();
        assert_eq!(paired(&back, &boot).top1.value, -d.top1.value);
        assert_eq!(paired(&[], &boot).queries, 0);
    }

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(percentile(&[5.0], 0.9), 5.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
