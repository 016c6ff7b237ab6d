//! `sweep.png`: mean test top-1 against a swept setting, the sample standard deviation over
//! seeds as error bars, one line per combination of the other swept settings.
//!
//! The x-axis is the first swept setting whose values are all numbers (on a log scale when
//! the setting is a rate or a decay, or its values span more than a decade); when no swept
//! setting is numeric, the first one's values are evenly spaced categories, and a sweep of
//! seeds only shows one point.

use crate::plot::{DrawError, FONT, PlotError, format_tick, house_style, log_tick, padded_range, write_png};
use crate::sweep::grid::Axis;
use crate::sweep::table::PointSummary;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// The picture's size in pixels.
pub const SWEEP_SIZE: (u32, u32) = (1100, 650);

/// The width of the legend column right of the chart.
const LEGEND_WIDTH: u32 = 260;

/// At most this many lines get a legend entry; the rest are counted.
const LEGEND_ROWS: usize = 18;

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// How the swept values sit on the x-axis.
#[derive(Debug, Clone, PartialEq)]
pub enum XAxis {
    /// A numeric setting (axis index); log scale or not.
    Numeric { axis: usize, log: bool },
    /// A non-numeric setting: its values at 0, 1, 2, ...
    Categories { axis: usize },
    /// No swept setting (seeds only).
    None,
}

/// Chooses the x-axis for a grid (see the module docs).
pub fn choose_x(axes: &[Axis]) -> XAxis {
    let numbers = |a: &Axis| -> Option<Vec<f64>> {
        a.values.iter().map(|v| v.parse::<f64>().ok().filter(|x| x.is_finite())).collect()
    };
    let numeric = axes.iter().enumerate().find_map(|(i, a)| numbers(a).map(|xs| (i, xs)));
    match (numeric, axes.is_empty()) {
        (Some((axis, xs)), _) => XAxis::Numeric { axis, log: wants_log(axes[axis].short_key(), &xs) },
        (None, false) => XAxis::Categories { axis: 0 },
        (None, true) => XAxis::None,
    }
}

/// Rates and decays are swept in decades; so is anything whose values span more than one.
fn wants_log(key: &str, xs: &[f64]) -> bool {
    let positive = xs.iter().all(|x| *x > 0.0);
    let rate_like = key.ends_with("lr") || key.ends_with("weight_decay") || key.ends_with("eps");
    let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    positive && (rate_like || hi / lo > 10.0)
}

/// One line: the other settings' values, and its (x, mean %, std %) points.
struct Series {
    label: String,
    points: Vec<(f64, f64, Option<f64>)>,
}

fn series(axes: &[Axis], x: &XAxis, summaries: &[PointSummary]) -> Vec<Series> {
    let x_axis = match x {
        XAxis::Numeric { axis, .. } | XAxis::Categories { axis } => Some(*axis),
        XAxis::None => None,
    };
    let mut out: Vec<Series> = Vec::new();
    for s in summaries {
        let Some((mean, std)) = s.test_top1 else { continue };
        let position = match (x, x_axis) {
            (XAxis::Numeric { .. }, Some(a)) => s.point[a].1.parse::<f64>().unwrap_or(f64::NAN),
            (_, Some(a)) => axes[a].values.iter().position(|v| *v == s.point[a].1).unwrap_or(0) as f64,
            _ => 0.0,
        };
        let others: Vec<String> = s
            .point
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != x_axis)
            .map(|(_, (k, v))| format!("{k}={v}"))
            .collect();
        let label = if others.is_empty() { "all runs".to_string() } else { others.join(", ") };
        let point = (position, 100.0 * mean, std.map(|sd| 100.0 * sd));
        match out.iter_mut().find(|l| l.label == label) {
            Some(line) => line.points.push(point),
            None => out.push(Series { label, points: vec![point] }),
        }
    }
    for line in &mut out {
        line.points.retain(|p| p.0.is_finite() && p.1.is_finite());
        line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// Draws the picture at `path` ([`SWEEP_SIZE`]), written whole or not at all. A grid with
/// no finished run draws nothing and is an error.
pub fn plot_sweep(axes: &[Axis], summaries: &[PointSummary], title: &str, path: &Path) -> Result<(), PlotError> {
    let x = choose_x(axes);
    let lines = series(axes, &x, summaries);
    if lines.iter().all(|l| l.points.is_empty()) {
        return Err(PlotError { picture: path.to_path_buf(), reason: DrawError::Nothing("no finished run to plot") });
    }
    write_png(path, |tmp| draw(axes, &x, &lines, title, tmp))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn draw(axes: &[Axis], x: &XAxis, lines: &[Series], title: &str, path: &Path) -> Result<(), DrawError> {
    let root = BitMapBackend::new(path, SWEEP_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let body = root.titled(title, (FONT, 26).into_font().color(&BLACK))?;
    let (chart_area, legend_area) = body.split_horizontally(SWEEP_SIZE.0 - LEGEND_WIDTH);
    let ys =
        lines.iter().flat_map(|l| l.points.iter().flat_map(|p| [p.1 - p.2.unwrap_or(0.0), p.1 + p.2.unwrap_or(0.0)]));
    let (lo, hi) = padded_range(ys);
    let y = lo.max(0.0)..hi.max(lo + 1.0);
    let xs: Vec<f64> = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).collect();
    let (x_lo, x_hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let lines = &dodge(lines, x, x_hi - x_lo);
    match x {
        XAxis::Numeric { axis, log: true } => {
            // A third of a decade beyond the outermost values.
            let range = (x_lo / 10f64.powf(0.33))..(x_hi * 10f64.powf(0.33));
            let mut chart = builder(&chart_area).build_cartesian_2d(range.log_scale(), y)?;
            let desc = format!("{} (log scale)", axes[*axis].short_key());
            house_style(&mut chart.configure_mesh())
                .x_desc(desc)
                .y_desc("test top-1 (%), mean ± std over seeds")
                .x_label_formatter(&log_tick)
                .y_label_formatter(&|v| format_tick(*v))
                .draw()?;
            draw_lines(&mut chart, lines)?;
        }
        _ => {
            let (range, labels): (std::ops::Range<f64>, Vec<String>) = match x {
                XAxis::Numeric { .. } => {
                    let (a, b) = padded_range(xs.iter().copied());
                    let pad = if x_hi > x_lo { 0.08 * (x_hi - x_lo) } else { 1.0 };
                    ((x_lo - pad).min(a)..(x_hi + pad).max(b), Vec::new())
                }
                XAxis::Categories { axis } => {
                    let values = &axes[*axis].values;
                    (-0.5..values.len() as f64 - 0.5, values.clone())
                }
                XAxis::None => (-0.5..0.5, vec!["all runs".to_string()]),
            };
            let desc = match x {
                XAxis::Numeric { axis, .. } | XAxis::Categories { axis } => axes[*axis].short_key().to_string(),
                XAxis::None => "seeds only".to_string(),
            };
            let categorical = !labels.is_empty();
            let label = |v: &f64| {
                if !categorical {
                    return format_tick(*v);
                }
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            };
            let mut chart = builder(&chart_area).build_cartesian_2d(range, y)?;
            let mut mesh = chart.configure_mesh();
            if categorical {
                mesh.x_labels(labels.len().max(1));
            }
            house_style(&mut mesh)
                .x_desc(desc)
                .y_desc("test top-1 (%), mean ± std over seeds")
                .x_label_formatter(&label)
                .y_label_formatter(&|v| format_tick(*v))
                .draw()?;
            draw_lines(&mut chart, lines)?;
        }
    }
    legend(&legend_area, lines)?;
    Ok(root.present()?)
}

/// Shifts the lines slightly apart along x, so error bars at the same value stay apart:
/// by a small share of a decade on a log axis, of the values' span otherwise.
fn dodge(lines: &[Series], x: &XAxis, span: f64) -> Vec<Series> {
    let centre = (lines.len() as f64 - 1.0) / 2.0;
    let step = match x {
        XAxis::Numeric { log: true, .. } => 0.012,
        XAxis::Numeric { log: false, .. } if span > 0.0 => 0.006 * span,
        _ => 0.04,
    };
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let shift = step * (i as f64 - centre);
            let moved = |x_value: f64| match x {
                XAxis::Numeric { log: true, .. } => x_value * 10f64.powf(shift),
                _ => x_value + shift,
            };
            Series { label: l.label.clone(), points: l.points.iter().map(|p| (moved(p.0), p.1, p.2)).collect() }
        })
        .collect()
}

fn builder<'a, 'b>(area: &'a Area<'b>) -> ChartBuilder<'a, 'b, BitMapBackend<'b>> {
    let mut b = ChartBuilder::on(area);
    b.margin(16).margin_right(24).x_label_area_size(48).y_label_area_size(80);
    b
}

/// The lines, their markers and, where a point has a spread, its error bar (mean ± std,
/// with caps).
fn draw_lines<'a, X>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    lines: &[Series],
) -> Result<(), DrawError>
where
    X: Ranged<ValueType = f64>,
{
    for (i, line) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let style = color.stroke_width(2);
        chart.draw_series(LineSeries::new(line.points.iter().map(|p| (p.0, p.1)), style))?;
        chart.draw_series(line.points.iter().map(|p| Circle::new((p.0, p.1), 4, color.filled())))?;
        for &(x, mean, std) in &line.points {
            let Some(sd) = std.filter(|sd| *sd > 0.0) else { continue };
            let (lo, hi) = (mean - sd, mean + sd);
            chart.draw_series(std::iter::once(PathElement::new(vec![(x, lo), (x, hi)], color.stroke_width(1))))?;
            let cap =
                |y: f64| EmptyElement::at((x, y)) + PathElement::new(vec![(-6, 0), (6, 0)], color.stroke_width(1));
            chart.draw_series([cap(lo), cap(hi)])?;
        }
    }
    Ok(())
}

/// The legend, in its own column so it never hides a point.
fn legend(area: &Area<'_>, lines: &[Series]) -> Result<(), DrawError> {
    let font = (FONT, 14).into_font().color(&BLACK);
    for (i, line) in lines.iter().take(LEGEND_ROWS).enumerate() {
        let y = 40 + 26 * i as i32;
        let color = PALETTE[i % PALETTE.len()];
        area.draw(&PathElement::new(vec![(4, y), (34, y)], color.stroke_width(2)))?;
        area.draw(&Circle::new((19, y), 4, color.filled()))?;
        let label: String = line.label.chars().take(30).collect();
        area.draw_text(&label, &font, (42, y - 8))?;
    }
    if lines.len() > LEGEND_ROWS {
        let y = 40 + 26 * LEGEND_ROWS as i32;
        let more = format!("… and {} more (summary.csv)", lines.len() - LEGEND_ROWS);
        area.draw_text(&more, &font, (4, y - 8))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(key: &str, values: &[&str]) -> Axis {
        Axis { key: key.into(), values: values.iter().map(|v| v.to_string()).collect() }
    }

    #[test]
    fn the_x_axis_is_the_first_numeric_setting() {
        let lr = axis("train.lr", &["1e-1", "5e-2"]);
        let opt = axis("train.optimizer", &["adam", "sgd"]);
        let bs = axis("train.batch_size", &["32", "64"]);
        assert_eq!(choose_x(&[opt.clone(), lr.clone()]), XAxis::Numeric { axis: 1, log: true });
        assert_eq!(choose_x(&[bs.clone(), lr]), XAxis::Numeric { axis: 0, log: false });
        assert_eq!(choose_x(&[axis("train.batch_size", &["8", "512"])]), XAxis::Numeric { axis: 0, log: true });
        assert_eq!(choose_x(&[opt]), XAxis::Categories { axis: 0 });
        assert_eq!(choose_x(&[]), XAxis::None);
        assert_eq!(choose_x(&[axis("train.clip_norm", &["0", "100"])]), XAxis::Numeric { axis: 0, log: false });
    }
}
