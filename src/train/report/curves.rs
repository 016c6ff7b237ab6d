//! Training curves as a PNG: losses, top-k accuracy and the learning rate against the epoch
//! (font, style and writing: [`crate::plot`]).

pub use crate::plot::PlotError;
use crate::plot::{DrawError, FONT, format_tick, house_style, log_tick, padded_range, write_png};
use crate::train::EpochMetrics;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordi64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::path::Path;

/// The picture's size in pixels.
pub const CURVES_SIZE: (u32, u32) = (1200, 900);

const TRAIN: RGBColor = RGBColor(60, 60, 60);
const VAL: RGBColor = RGBColor(31, 119, 180);
const TEST: RGBColor = RGBColor(214, 39, 40);
const LR: RGBColor = RGBColor(44, 160, 44);

/// The width of the legend column right of each chart.
const LEGEND_WIDTH: u32 = 190;

/// Draws the curves of a run into a PNG at `path` ([`CURVES_SIZE`]), in three panels against
/// the epoch: the losses (train, validation, test), top-1 and top-5 accuracy in % (validation
/// and test) and the learning rate on a log scale. Non-finite values are left out of the
/// lines. The file is written whole or not at all (through a temporary file beside it).
/// An empty `metrics` writes nothing and is an error.
pub fn plot_curves(metrics: &[EpochMetrics], title: &str, path: &Path) -> Result<(), PlotError> {
    if metrics.is_empty() {
        return Err(PlotError { picture: path.to_path_buf(), reason: DrawError::Nothing("no epoch to plot") });
    }
    let mut sorted = metrics.to_vec();
    sorted.sort_by_key(|m| m.epoch);
    write_png(path, |tmp| draw(&sorted, title, tmp))
}

/// One line: a label, a colour, dashed or not, and its finite points.
struct Line {
    label: &'static str,
    color: RGBColor,
    dashed: bool,
    points: Vec<(i64, f64)>,
}

impl Line {
    fn new(
        label: &'static str,
        color: RGBColor,
        dashed: bool,
        metrics: &[EpochMetrics],
        value: impl Fn(&EpochMetrics) -> f64,
    ) -> Line {
        let points = metrics.iter().map(|m| (m.epoch, value(m))).filter(|(_, v)| v.is_finite()).collect();
        Line { label, color, dashed, points }
    }
}

fn draw(metrics: &[EpochMetrics], title: &str, path: &Path) -> Result<(), DrawError> {
    let root = BitMapBackend::new(path, CURVES_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let body = root.titled(title, (FONT, 28).into_font().color(&BLACK))?;
    // Three rows, each a chart and its legend column.
    let chart_width = CURVES_SIZE.0 - LEGEND_WIDTH;
    let panels: Vec<_> = body.split_evenly((3, 1)).iter().map(|p| p.split_horizontally(chart_width)).collect();
    let first = metrics.first().map_or(0, |m| m.epoch);
    let last = metrics.last().map_or(0, |m| m.epoch);
    let epochs = first.saturating_sub(1)..last.saturating_add(1);
    // Markers on every point while they do not crowd the lines (and so one epoch shows).
    let marker = if metrics.len() <= 40 { 3 } else { 0 };

    let losses = [
        Line::new("train", TRAIN, false, metrics, |m| m.train_loss),
        Line::new("validation", VAL, false, metrics, |m| m.val_loss),
        Line::new("test", TEST, false, metrics, |m| m.test_loss),
    ];
    let (lo, hi) = padded_range(losses.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    linear_panel(&panels[0].0, "Loss", "loss", epochs.clone(), lo..hi, &losses, marker)?;
    legend(&panels[0].1, &losses)?;

    let pct = |v: f64| 100.0 * v;
    let accuracy = [
        Line::new("validation top-1", VAL, false, metrics, |m| pct(m.val.top1)),
        Line::new("validation top-5", VAL, true, metrics, |m| pct(m.val.top5)),
        Line::new("test top-1", TEST, false, metrics, |m| pct(m.test.top1)),
        Line::new("test top-5", TEST, true, metrics, |m| pct(m.test.top5)),
    ];
    linear_panel(&panels[1].0, "Retrieval accuracy", "accuracy (%)", epochs.clone(), 0.0..102.0, &accuracy, marker)?;
    legend(&panels[1].1, &accuracy)?;

    let lr = Line::new("learning rate", LR, false, metrics, |m| m.lr);
    lr_panel(&panels[2].0, epochs, &lr, marker)?;
    Ok(root.present()?)
}

fn epoch_label(e: &i64) -> String {
    e.to_string()
}

fn linear_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    caption: &str,
    y_desc: &str,
    epochs: std::ops::Range<i64>,
    y: std::ops::Range<f64>,
    lines: &[Line],
    marker: u32,
) -> Result<(), DrawError> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 20))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(44)
        .y_label_area_size(76)
        .build_cartesian_2d(epochs, y)?;
    house_style(&mut chart.configure_mesh())
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_label_formatter(&epoch_label)
        .y_label_formatter(&|v| format_tick(*v))
        .draw()?;
    for line in lines {
        draw_line(&mut chart, line, marker)?;
    }
    Ok(())
}

/// The legend, in its own column right of the chart so it never hides a line.
fn legend(area: &DrawingArea<BitMapBackend<'_>, Shift>, lines: &[Line]) -> Result<(), DrawError> {
    let font = (FONT, 15).into_font().color(&BLACK);
    for (i, line) in lines.iter().enumerate() {
        let y = 62 + 26 * i as i32;
        let style = line.color.stroke_width(2);
        if line.dashed {
            area.draw(&DashedPathElement::new(vec![(4, y), (34, y)], 8, 5, style))?;
        } else {
            area.draw(&PathElement::new(vec![(4, y), (34, y)], style))?;
        }
        let fill = if line.dashed { WHITE.filled() } else { line.color.filled() };
        area.draw(&Circle::new((19, y), 3, fill))?;
        area.draw(&Circle::new((19, y), 3, line.color.stroke_width(1)))?;
        area.draw_text(line.label, &font, (42, y - 8))?;
    }
    Ok(())
}

fn lr_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    epochs: std::ops::Range<i64>,
    lr: &Line,
    marker: u32,
) -> Result<(), DrawError> {
    let positive: Vec<(i64, f64)> = lr.points.iter().copied().filter(|p| p.1 > 0.0).collect();
    let (lo, hi) = positive.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    // Whole decades, so the axis always has labelled powers of ten.
    let (mut lo_exp, mut hi_exp) = if lo <= hi { (lo.log10().floor(), hi.log10().ceil()) } else { (-4.0, -1.0) };
    if hi_exp <= lo_exp {
        hi_exp = lo_exp + 1.0;
    }
    lo_exp = lo_exp.clamp(-300.0, 299.0);
    hi_exp = hi_exp.clamp(lo_exp + 1.0, 300.0);
    // Slightly outside the decades, so float rounding cannot drop their ticks.
    let y = (10f64.powf(lo_exp) * 0.999)..(10f64.powf(hi_exp) * 1.001);
    let mut chart = ChartBuilder::on(area)
        .caption("Learning rate", (FONT, 20))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(44)
        .y_label_area_size(76)
        .build_cartesian_2d(epochs, y.log_scale())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("learning rate (log)")
        .x_label_formatter(&epoch_label)
        .y_label_formatter(&log_tick)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    if positive.is_empty() {
        let (w, h) = area.dim_in_pixel();
        let style = (FONT, 18).into_font().color(&RGBColor(120, 120, 120));
        area.draw_text("no positive learning rate to show", &style, (w as i32 / 2 - 140, h as i32 / 2))?;
        return Ok(());
    }
    draw_line(&mut chart, &Line { points: positive, ..*lr }, marker)
}

fn draw_line<'a, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordi64, Y>>,
    line: &Line,
    marker: u32,
) -> Result<(), DrawError>
where
    Y: Ranged<ValueType = f64>,
{
    let style = line.color.stroke_width(2);
    if line.dashed {
        chart.draw_series(DashedLineSeries::new(line.points.iter().copied(), 8, 5, style))?;
    } else {
        chart.draw_series(LineSeries::new(line.points.iter().copied(), style))?;
    }
    if marker > 0 {
        let fill = if line.dashed { WHITE.filled() } else { line.color.filled() };
        chart.draw_series(line.points.iter().map(|&p| Circle::new(p, marker, fill)))?;
        chart.draw_series(line.points.iter().map(|&p| Circle::new(p, marker, line.color.stroke_width(1))))?;
    }
    Ok(())
}
