//! What every picture avc draws shares (training curves, evaluation heatmaps and rank
//! histograms, sweep charts): the embedded font, the house style of a chart, tick labels and
//! ranges, the way a picture is written (whole or not at all, a panic inside plotters turned
//! into an error), and one error type for drawing.
//!
//! Text is drawn with DejaVu Sans embedded in the binary (assets/fonts, with its license),
//! so a picture needs no system fonts.

use plotters::chart::MeshStyle;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub(crate) const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Why a picture could not be drawn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DrawError {
    /// plotters' own error, as its text (its type is generic over the drawing backend).
    #[error("{0}")]
    Plotters(String),
    #[error("the embedded font does not load")]
    Font,
    #[error("the plotting library panicked")]
    Panicked,
    /// Nothing to draw: what is missing.
    #[error("{0}")]
    Nothing(&'static str),
    #[error("{0}")]
    Io(String),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawError::Plotters(e.to_string())
    }
}

/// A picture that could not be drawn (the run or evaluation goes on without it, or reports
/// it): which file, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot draw {}: {reason}", picture.display())]
pub struct PlotError {
    pub picture: PathBuf,
    #[source]
    pub reason: DrawError,
}

/// Registers the embedded font once per process.
pub(crate) fn register_font() -> Result<(), DrawError> {
    static REGISTERED: OnceLock<Result<(), DrawError>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).map_err(|_| DrawError::Font)
        })
        .clone()
}

/// Writes the picture at `path` through `draw` (which gets a temporary path beside it):
/// the file is complete or absent, and a panic inside plotters is an error, not the end of
/// the run that asked for the picture.
pub(crate) fn write_png(path: &Path, draw: impl FnOnce(&Path) -> Result<(), DrawError>) -> Result<(), PlotError> {
    let error = |reason| PlotError { picture: path.to_path_buf(), reason };
    register_font().map_err(error)?;
    let mut failure = None;
    let written = avc_lang::atomic::write_with(path, |tmp| {
        let drawn =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| draw(tmp))).unwrap_or(Err(DrawError::Panicked));
        drawn.map_err(|e| {
            let text = e.to_string();
            failure = Some(e);
            std::io::Error::other(text)
        })
    });
    written.map_err(|io| error(failure.take().unwrap_or_else(|| DrawError::Io(io.to_string()))))
}

/// The range of the finite values, padded by 5% of its width (10% of the value when they are
/// all equal); [0, 1] when there are none. A range of non-negative values does not start
/// below 0.
pub(crate) fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { (0.1 * lo.abs()).max(1e-3) };
    let bottom = if lo >= 0.0 { (lo - pad).max(0.0) } else { lo - pad };
    let top = hi + pad;
    if bottom.is_finite() && top.is_finite() && top > bottom { (bottom, top) } else { (0.0, 1.0) }
}

/// The look every chart avc draws shares: one font, a light major grid, no minor lines.
pub(crate) fn house_style<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
}

/// A log-axis tick label: `1e-3`, `2e-3` and `5e-3` for each decade; the other ticks (whose
/// grid lines show the scale) stay unlabelled so the labels do not crowd.
pub(crate) fn log_tick(v: &f64) -> String {
    if *v <= 0.0 || !v.is_finite() {
        return String::new();
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    let near = |m: f64| (mantissa - m).abs() < 0.05 || (m == 1.0 && (mantissa - 10.0).abs() < 0.5);
    if near(1.0) || near(2.0) || near(5.0) { format!("{v:.0e}") } else { String::new() }
}

/// A tick label: as few digits as the value needs.
pub(crate) fn format_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
