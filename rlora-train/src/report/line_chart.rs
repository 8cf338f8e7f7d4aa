//! [`line_chart_png`]: lines of `(x, y)` points against shared axes (training loss or head
//! similarity against the step, one line per run), with a legend.

use std::ops::Range;
use std::path::Path;

use plotters::prelude::*;

use super::plot::{Canvas, DrawResult, FONT, PlotError, draw_png, drawing, short_number};

/// One line of a [`line_chart_png`]: a named list of (x, y) points, drawn in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The name the legend shows.
    pub name: String,
    /// The points, joined in this order; points with a NaN or infinite coordinate are skipped.
    pub points: Vec<(f64, f64)>,
}

/// Width and height of a line chart.
const SIZE: (u32, u32) = (960, 600);

/// Line colors, one per series (cycling after eight): a qualitative palette (matplotlib's
/// "tab10" without its gray and olive) whose colors stay apart from each other and from the axes.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The color of series number `i`.
pub fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Draws `series` into a PNG at `path`, titled `title`, with axis names `x_label`, `y_label`. An
/// empty series is named "(no data)" in the legend; a series of one point is a dot.
pub fn line_chart_png(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), PlotError> {
    draw_png(path, SIZE, |canvas| {
        draw_line_chart(canvas, title, (x_label, y_label), series)
    })
}

/// Draws the chart: the axes, each series in its color, the legend.
fn draw_line_chart(
    canvas: &Canvas,
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[Series],
) -> DrawResult<()> {
    drawing(canvas.fill(&WHITE))?;
    let (x, y) = data_ranges(series);
    let mut chart = drawing(
        ChartBuilder::on(canvas)
            .caption(title, (FONT, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x, y),
    )?;
    drawing(
        chart
            .configure_mesh()
            .x_desc(x_label)
            .x_label_formatter(&|v| short_number(*v))
            .y_label_formatter(&|v| short_number(*v))
            .y_desc(y_label)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw(),
    )?;
    for (i, one) in series.iter().enumerate() {
        let color = series_color(i);
        let points: Vec<(f64, f64)> = finite_points(one).collect();
        let name = if points.is_empty() {
            format!("{} (no data)", one.name)
        } else {
            one.name.clone()
        };
        drawing(chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2))))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(2)));
        if let [point] = points[..] {
            drawing(chart.draw_series([Circle::new(point, 5, color.filled())]))?;
        }
    }
    if !series.is_empty() {
        drawing(
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FONT, 15))
                .draw(),
        )?;
    }
    Ok(())
}

fn finite_points(series: &Series) -> impl Iterator<Item = (f64, f64)> + '_ {
    series
        .points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
}

/// The x and y ranges that hold every finite point (y with 5% room at each end); a range of one
/// value is widened around it, and no points at all show `0..1`.
fn data_ranges(series: &[Series]) -> (Range<f64>, Range<f64>) {
    let points = || series.iter().flat_map(finite_points);
    let span = |values: Vec<f64>, room: f64| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        match (lo.is_finite(), hi - lo) {
            (false, _) => 0.0..1.0,
            (true, width) if width <= 0.0 => {
                let pad = (lo.abs() * 0.1).max(0.5);
                lo - pad..hi + pad
            }
            (true, width) if width.is_finite() => lo - room * width..hi + room * width,
            (true, _) => lo..hi,
        }
    };
    (
        span(points().map(|p| p.0).collect(), 0.0),
        span(points().map(|p| p.1).collect(), 0.05),
    )
}
