//! Pictures of an evaluation: the score matrix as a heatmap (a model that works shows a
//! bright diagonal) and a histogram of the true candidates' ranks in both directions.

use super::apply::Evaluation;
use super::protocol::Direction;
pub use crate::plot::PlotError;
use crate::plot::{DrawError, FONT, house_style, write_png};
use plotters::prelude::*;
use std::path::Path;

/// Cells drawn per side at most: larger matrices are averaged over square blocks, which
/// keeps the diagonal visible as the block diagonal.
const MAX_CELLS: usize = 300;

/// Draws the score matrix, rows = videos, columns = audios. Each row is scaled to [0, 1]
/// from its worst to its best score (oriented so that bright = a better match), so one
/// video with large scores does not wash out the others.
pub fn heatmap(eval: &Evaluation, path: &Path) -> Result<(), PlotError> {
    let n = eval.n;
    let block = n.div_ceil(MAX_CELLS).max(1);
    let cells = n.div_ceil(block);
    let sign = if eval.kind.higher_is_better() { 1.0 } else { -1.0 };
    let mut scaled = vec![0f64; n * n];
    for v in 0..n {
        let row = &eval.scores[v * n..(v + 1) * n];
        let finite = row.iter().map(|&s| sign * s as f64).filter(|s| s.is_finite());
        let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), s| (l.min(s), h.max(s)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        for a in 0..n {
            let s = sign * row[a] as f64;
            scaled[v * n + a] = if s.is_finite() { (s - lo) / span } else { 0.0 };
        }
    }
    let mut grid = vec![0f64; cells * cells];
    let mut counts = vec![0u32; cells * cells];
    for v in 0..n {
        for a in 0..n {
            let k = (v / block) * cells + a / block;
            grid[k] += scaled[v * n + a];
            counts[k] += 1;
        }
    }
    draw_safely(path, |root| {
        root.fill(&WHITE)?;
        let title = format!(
            "scores, {n} videos x {n} audios{} (rows scaled; bright = better; true pairs on the diagonal)",
            if block > 1 { format!(", {block}x{block} blocks averaged") } else { String::new() }
        );
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0..n, 0..n)?;
        house_style(&mut chart.configure_mesh())
            .disable_mesh()
            .x_desc("audio (candidate)")
            .y_desc("video (query)")
            .y_label_formatter(&|y| (n - y).to_string())
            .draw()?;
        chart.draw_series((0..cells * cells).map(|k| {
            let (r, c) = (k / cells, k % cells);
            let value = if counts[k] > 0 { grid[k] / counts[k] as f64 } else { 0.0 };
            let (x0, y0) = (c * block, n - ((r + 1) * block).min(n));
            let (x1, y1) = (((c + 1) * block).min(n), n - r * block);
            Rectangle::new([(x0, y0), (x1, y1)], ramp(value).filled())
        }))?;
        // The true pairs: a thin white outline around each diagonal cell, where cells are
        // large enough for an outline not to hide them.
        let outlined = if cells <= 60 { cells } else { 0 };
        chart.draw_series((0..outlined).map(|d| {
            let (x0, y0) = (d * block, n - ((d + 1) * block).min(n));
            let (x1, y1) = (((d + 1) * block).min(n), n - d * block);
            Rectangle::new([(x0, y0), (x1, y1)], WHITE.stroke_width(1))
        }))?;
        Ok(())
    })
}

/// A dark-blue to yellow ramp (viridis-like) for a value in [0, 1].
fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, (f64, f64, f64)); 5] = [
        (0.0, (68.0, 1.0, 84.0)),
        (0.25, (59.0, 82.0, 139.0)),
        (0.5, (33.0, 145.0, 140.0)),
        (0.75, (94.0, 201.0, 98.0)),
        (1.0, (253.0, 231.0, 37.0)),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let i = STOPS.iter().rposition(|(s, _)| *s <= t).unwrap_or(0).min(STOPS.len() - 2);
    let ((s0, a), (s1, b)) = (STOPS[i], STOPS[i + 1]);
    let f = (t - s0) / (s1 - s0);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Rank bins: 1, 2, 3-5, 6-10, 11-20, 21-50, 51-100, ... up to `n`.
fn bins(n: usize) -> Vec<(usize, usize)> {
    let mut edges = vec![1usize, 2, 3, 6, 11, 21];
    let mut step = 50usize;
    while *edges.last().unwrap_or(&1) <= n {
        edges.push(step + 1);
        step = if step.to_string().starts_with('5') { step * 2 } else { step * 5 / 2 };
    }
    edges.windows(2).map(|w| (w[0], (w[1] - 1).min(n))).filter(|(lo, hi)| lo <= hi).collect()
}

/// Draws how many queries found their true candidate at each rank (binned), both directions
/// side by side, under the full N-way ranking.
pub fn rank_histogram(eval: &Evaluation, path: &Path) -> Result<(), PlotError> {
    let bins = bins(eval.n.max(1));
    let series: Vec<(Direction, Vec<usize>, RGBColor)> =
        [(Direction::VideoToAudio, RGBColor(31, 119, 180)), (Direction::AudioToVideo, RGBColor(255, 127, 14))]
            .into_iter()
            .filter_map(|(d, color)| {
                let r = eval.directions.iter().find(|r| r.direction == d)?;
                let counts =
                    bins.iter().map(|&(lo, hi)| r.full_ranks.iter().filter(|&&x| x >= lo && x <= hi).count()).collect();
                Some((d, counts, color))
            })
            .collect();
    let top = series.iter().flat_map(|(_, c, _)| c.iter().copied()).max().unwrap_or(1).max(1);
    draw_safely(path, |root| {
        root.fill(&WHITE)?;
        let labels: Vec<String> =
            bins.iter().map(|&(lo, hi)| if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") }).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(format!("rank of the true candidate among {} (full ranking)", eval.n), (FONT, 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..bins.len() as f64, 0.0..top as f64 * 1.1)?;
        house_style(&mut chart.configure_mesh())
            .disable_x_mesh()
            .x_labels(bins.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let k = x.floor() as usize;
                if (x - k as f64 - 0.5).abs() < 0.01 {
                    labels.get(k).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc("rank (binned)")
            .y_desc("queries")
            .draw()?;
        for (s, (direction, counts, color)) in series.iter().enumerate() {
            let offset = 0.1 + 0.4 * s as f64;
            chart
                .draw_series(counts.iter().enumerate().map(|(k, &c)| {
                    let x = k as f64 + offset;
                    Rectangle::new([(x, 0.0), (x + 0.38, c as f64)], color.filled())
                }))?
                .label(direction_label(*direction))
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    })
}

fn direction_label(d: Direction) -> &'static str {
    match d {
        Direction::VideoToAudio => "video -> audio",
        Direction::AudioToVideo => "audio -> video",
    }
}

/// Draws into a 1000x800 PNG at `path`, whole or not at all; a panic inside the plotting
/// library becomes an error ([`write_png`]).
fn draw_safely(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), DrawError>,
) -> Result<(), PlotError> {
    write_png(path, |tmp| {
        let root = BitMapBackend::new(tmp, (1000, 800)).into_drawing_area();
        draw(&root)?;
        Ok(root.present()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_rank_once() {
        for n in [1, 2, 5, 30, 1270, 10_000] {
            let b = bins(n);
            assert_eq!(b.first().map(|x| x.0), Some(1));
            assert_eq!(b.last().map(|x| x.1), Some(n), "{b:?}");
            assert!(b.windows(2).all(|w| w[1].0 == w[0].1 + 1), "{b:?}");
        }
    }

    #[test]
    fn the_ramp_runs_dark_to_bright() {
        let (lo, hi) = (ramp(0.0), ramp(1.0));
        assert_eq!(lo, RGBColor(68, 1, 84));
        assert_eq!(hi, RGBColor(253, 231, 37));
        assert_eq!(ramp(f64::NAN), lo);
    }
}
