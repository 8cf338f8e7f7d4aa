//! PNG pictures to look at after a run: heat maps (an R-LoRA layer's N × N head cosine
//! similarity, or a stack of them) and line charts (training loss or head similarity against
//! the step, one line per run).
//!
//! Dependency-light: the pictures are drawn into an RGB buffer with an embedded 5 × 9 bitmap
//! font (ASCII 32..=126, other characters show as a box; no system fonts, no runtime files),
//! encoded with the `png` crate and written atomically with [`rlora::write_atomically`].
//!
//! ```no_run
//! use std::path::Path;
//! use rlora_train::plot::{Series, heat_map_png, line_chart_png};
//!
//! let labels: Vec<String> = (0..2).map(|i| format!("head {i}")).collect();
//! let similarity = vec![vec![1.0, 0.12], vec![0.12, 1.0]];
//! heat_map_png(Path::new("sim.png"), "layer 0 q_proj", &similarity, &labels, &labels, (-1.0, 1.0))?;
//!
//! let loss = Series { name: "r-lora".into(), points: vec![(0.0, 2.3), (100.0, 1.1)] };
//! line_chart_png(Path::new("loss.png"), "training loss", "step", "loss", &[loss])?;
//! # Ok::<(), rlora_train::plot::PlotError>(())
//! ```

mod canvas;
mod font;

use std::path::{Path, PathBuf};

use canvas::{BLACK, Canvas, Rect, Rgb, WHITE, cap_height, text_height, text_width, truncate};

/// Why a picture could not be drawn or written; every variant names the picture's file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The heat map's matrix has no rows, or its first row has no values.
    #[error("{file}: cannot draw a heat map of an empty matrix ({rows} rows, {cols} columns)")]
    EmptyMatrix {
        /// The picture that was to be written.
        file: PathBuf,
        /// Rows of the matrix.
        rows: usize,
        /// Values in its first row (0 when there is no row).
        cols: usize,
    },
    /// A row of the heat map's matrix is not as long as the first.
    #[error("{file}: matrix row {row} has {len} values but row 0 has {expected}")]
    RaggedRows {
        /// The picture that was to be written.
        file: PathBuf,
        /// Index of the first row of the wrong length.
        row: usize,
        /// Its length.
        len: usize,
        /// The first row's length.
        expected: usize,
    },
    /// There is not exactly one label per row (or per column).
    #[error("{file}: {found} {axis} labels for a matrix with {expected} {axis}s")]
    LabelCount {
        /// The picture that was to be written.
        file: PathBuf,
        /// `"row"` or `"column"`.
        axis: &'static str,
        /// Labels given.
        found: usize,
        /// Rows (or columns) of the matrix.
        expected: usize,
    },
    /// The heat map's color range is not finite, or its minimum is not below its maximum.
    #[error("{file}: color range ({min}, {max}) must be finite with min < max")]
    InvalidRange {
        /// The picture that was to be written.
        file: PathBuf,
        /// The range's low end, mapped to the colormap's first color.
        min: f64,
        /// The range's high end, mapped to the colormap's last color.
        max: f64,
    },
    /// The `png` encoder failed.
    #[error("{file}: cannot encode the PNG: {source}")]
    Encode {
        /// The picture that was to be written.
        file: PathBuf,
        /// The encoder's error.
        source: Box<png::EncodingError>,
    },
    /// The encoded picture could not be written.
    #[error("cannot write the picture {file}: {source}")]
    Write {
        /// The picture that was to be written.
        file: PathBuf,
        /// The cause.
        source: Box<rlora::RLoraError>,
    },
}

/// One line of a [`line_chart_png`]: a named list of (x, y) points, drawn in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The name the legend shows.
    pub name: String,
    /// The points, joined in this order; points with a NaN or infinite coordinate are skipped.
    pub points: Vec<(f64, f64)>,
}

/// Margin around every picture, in pixels.
const PAD: i64 = 16;
/// Scale of titles, axis names, legends and color-bar labels (10 × 18 pixel glyphs).
const BIG: u32 = 2;

/// Control points of the heat map's colormap, a viridis-like ramp from dark purple through blue
/// and green to yellow whose luminance rises steadily, so that order reads without a legend and
/// survives grayscale printing.
const RAMP: [Rgb; 11] = [
    [68, 1, 84],
    [72, 36, 117],
    [65, 68, 135],
    [53, 95, 141],
    [42, 120, 142],
    [33, 145, 140],
    [34, 168, 132],
    [68, 191, 112],
    [122, 209, 81],
    [189, 223, 38],
    [253, 231, 37],
];

/// Heat-map cells whose value is NaN.
const NAN_CELL: Rgb = [200, 200, 200];

/// The colormap at `t` in [0, 1] (clamped; NaN maps to 0), linear between [`RAMP`]'s points.
fn colormap(t: f64) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (RAMP.len() - 1) as f64;
    let i = (pos.floor() as usize).min(RAMP.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (RAMP[i], RAMP[i + 1]);
    std::array::from_fn(|k| {
        (f64::from(a[k]) + (f64::from(b[k]) - f64::from(a[k])) * f).round() as u8
    })
}

/// Relative luminance (Rec. 709 weights on the sRGB values), 0..=255.
fn luminance(c: Rgb) -> f64 {
    0.2126 * f64::from(c[0]) + 0.7152 * f64::from(c[1]) + 0.0722 * f64::from(c[2])
}

/// Color of a heat-map value in `range`.
fn cell_color(value: f64, (min, max): (f64, f64)) -> Rgb {
    if value.is_nan() {
        NAN_CELL
    } else {
        colormap((value - min) / (max - min))
    }
}

/// A value as a heat-map cell prints it: two decimals, never `-0.00`.
fn cell_text(value: f64) -> String {
    let text = format!("{value:.2}");
    if text == "-0.00" { "0.00".into() } else { text }
}

/// A number in few characters, for the color bar: an integer as one, others with up to four
/// significant digits, huge or tiny magnitudes in exponent notation.
fn short_number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs();
    if !(1e-3..1e7).contains(&mag) {
        return format!("{v:.2e}");
    }
    if v.fract() == 0.0 {
        return format!("{v:.0}");
    }
    let decimals = (3 - mag.log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{v:.decimals$}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Where everything of a heat map goes.
#[derive(Debug, Clone, PartialEq)]
struct HeatLayout {
    width: u32,
    height: u32,
    /// The cells, row 0 at the top.
    grid: Rect,
    cell_w: i64,
    cell_h: i64,
    /// The color bar, its outline included; maximum at the top.
    bar: Rect,
    title_y: i64,
    /// Scale of the row and column labels.
    label_scale: u32,
    /// Every how many rows a row label is drawn (more than 1 when rows are thinner than text).
    row_label_every: usize,
    /// Column labels read bottom to top when they are wider than a column.
    col_labels_turned: bool,
    /// Every how many columns a column label is drawn.
    col_label_every: usize,
    /// Scale of the values printed in the cells; `None` when cells are too small.
    value_scale: Option<u32>,
}

/// Gap between labels and what they label.
const LABEL_GAP: i64 = 8;
/// Width of the color bar.
const BAR_W: i64 = 20;
/// Gap between the grid and the color bar.
const BAR_GAP: i64 = 28;
/// Length of the color bar's tick marks.
const TICK: i64 = 5;

fn max_width<'a>(texts: impl IntoIterator<Item = &'a str>, scale: u32) -> i64 {
    texts
        .into_iter()
        .map(|t| i64::from(text_width(t, scale)))
        .max()
        .unwrap_or(0)
}

/// The color bar's labels (value, text), top to bottom; the middle one only on a tall bar.
fn bar_labels((min, max): (f64, f64), bar_h: i64) -> Vec<(f64, String)> {
    let mut labels = vec![(max, short_number(max))];
    if bar_h >= 120 {
        let mid = min + (max - min) / 2.0;
        labels.push((mid, short_number(mid)));
    }
    labels.push((min, short_number(min)));
    labels
}

fn heat_layout(
    title: &str,
    matrix: &[Vec<f64>],
    row_labels: &[String],
    col_labels: &[String],
    range: (f64, f64),
) -> HeatLayout {
    let (rows, cols) = (matrix.len() as i64, matrix[0].len() as i64);
    let row_w = |scale| max_width(row_labels.iter().map(String::as_str), scale);
    let bar_label_w = max_width(bar_labels(range, 200).iter().map(|(_, t)| t.as_str()), BIG);
    let bar_block = BAR_GAP + BAR_W + TICK + 4 + bar_label_w;

    // Cells of at most 96 px, narrower as columns add up, so that the whole picture stays
    // within ~1200 px; rows may get thinner than columns (down to 10 px, room for a label)
    // when there are many.
    let fit = |cell_w: i64| cell_w.min((1400 / rows).max(10)).max(1);
    let provisional = (800 / cols).clamp(1, 96);
    let scale_for = |w: i64, h: i64| if w >= 20 && h >= 20 { BIG } else { 1 };
    let label_w = row_w(scale_for(provisional, fit(provisional)));
    let budget = (1200 - 2 * PAD - label_w - LABEL_GAP - bar_block).clamp(200, 800);
    let cell_w = (budget / cols).clamp(1, 96);
    let cell_h = fit(cell_w);
    let label_scale = scale_for(cell_w, cell_h);
    let label_w = row_w(label_scale);
    let line_h = i64::from(text_height(label_scale)) + 2;
    let row_label_every = ((line_h + cell_h - 1) / cell_h).max(1) as usize;
    let col_w = max_width(col_labels.iter().map(String::as_str), label_scale);
    let col_labels_turned = col_w > cell_w - 4;
    let col_label_every = if col_labels_turned {
        ((line_h + cell_w - 1) / cell_w).max(1) as usize
    } else {
        1
    };
    let value_scale = if cell_w >= 28 && cell_h >= 28 {
        let widest = |scale| {
            let texts = matrix.iter().flatten().map(|&v| cell_text(v));
            texts
                .map(|t| i64::from(text_width(&t, scale)))
                .max()
                .unwrap_or(0)
        };
        if widest(BIG) + 8 <= cell_w && i64::from(text_height(BIG)) + 8 <= cell_h {
            Some(BIG)
        } else if widest(1) + 2 <= cell_w {
            Some(1)
        } else {
            None
        }
    } else {
        None
    };

    let (grid_w, grid_h) = (cols * cell_w, rows * cell_h);
    let title_w = i64::from(text_width(title, BIG));
    let content_w = if label_w > 0 { label_w + LABEL_GAP } else { 0 } + grid_w + bar_block;
    let width = (content_w + 2 * PAD).max(title_w + 2 * PAD).max(300);
    let left = (width - content_w) / 2;
    let grid_x = left + if label_w > 0 { label_w + LABEL_GAP } else { 0 };
    let title_y = PAD;
    let grid_y = if title.is_empty() {
        PAD + i64::from(cap_height(BIG))
    } else {
        title_y + i64::from(text_height(BIG)) + 16
    };
    let grid = Rect {
        x: grid_x,
        y: grid_y,
        w: grid_w,
        h: grid_h,
    };
    let bar = Rect {
        x: grid_x + grid_w + BAR_GAP,
        y: grid_y,
        w: BAR_W,
        h: grid_h.max(160),
    };
    let col_block = if col_w == 0 {
        0
    } else if col_labels_turned {
        LABEL_GAP + col_w
    } else {
        LABEL_GAP + i64::from(text_height(label_scale))
    };
    let bottom = (grid.y + grid.h + col_block).max(bar.y + bar.h + i64::from(cap_height(BIG)) / 2);
    HeatLayout {
        width: width as u32,
        height: (bottom + PAD) as u32,
        grid,
        cell_w,
        cell_h,
        bar,
        title_y,
        label_scale,
        row_label_every,
        col_labels_turned,
        col_label_every,
        value_scale,
    }
}

/// Checks a heat map's inputs, naming `path` in the error.
fn check_heat_map(
    path: &Path,
    matrix: &[Vec<f64>],
    row_labels: &[String],
    col_labels: &[String],
    (min, max): (f64, f64),
) -> Result<(), PlotError> {
    let file = || path.to_path_buf();
    let cols = matrix.first().map_or(0, Vec::len);
    if cols == 0 {
        return Err(PlotError::EmptyMatrix {
            file: file(),
            rows: matrix.len(),
            cols,
        });
    }
    if let Some((row, r)) = matrix.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(PlotError::RaggedRows {
            file: file(),
            row,
            len: r.len(),
            expected: cols,
        });
    }
    for (axis, found, expected) in [
        ("row", row_labels.len(), matrix.len()),
        ("column", col_labels.len(), cols),
    ] {
        if found != expected {
            return Err(PlotError::LabelCount {
                file: file(),
                axis,
                found,
                expected,
            });
        }
    }
    if !(min.is_finite() && max.is_finite() && min < max) {
        return Err(PlotError::InvalidRange {
            file: file(),
            min,
            max,
        });
    }
    Ok(())
}

/// Draws a checked heat map.
fn draw_heat_map(
    title: &str,
    matrix: &[Vec<f64>],
    row_labels: &[String],
    col_labels: &[String],
    range: (f64, f64),
) -> Canvas {
    let l = heat_layout(title, matrix, row_labels, col_labels, range);
    let mut canvas = Canvas::new(l.width, l.height, WHITE);
    let title_w = i64::from(text_width(title, BIG));
    canvas.text(
        (i64::from(l.width) - title_w) / 2,
        l.title_y,
        title,
        BIG,
        BLACK,
    );

    for (i, row) in matrix.iter().enumerate() {
        for (j, &value) in row.iter().enumerate() {
            let cell = Rect {
                x: l.grid.x + j as i64 * l.cell_w,
                y: l.grid.y + i as i64 * l.cell_h,
                w: l.cell_w,
                h: l.cell_h,
            };
            let color = cell_color(value, range);
            canvas.fill_rect(cell, color);
            if let Some(scale) = l.value_scale {
                let text = cell_text(value);
                let ink = if luminance(color) > 128.0 {
                    BLACK
                } else {
                    WHITE
                };
                let x = cell.x + (cell.w - i64::from(text_width(&text, scale))) / 2;
                let y = cell.y + (cell.h - i64::from(cap_height(scale))) / 2;
                canvas.text(x, y, &text, scale, ink);
            }
        }
    }

    let s = l.label_scale;
    for (i, label) in row_labels.iter().enumerate().step_by(l.row_label_every) {
        let center = l.grid.y + i as i64 * l.cell_h + l.cell_h / 2;
        let x = l.grid.x - LABEL_GAP - i64::from(text_width(label, s));
        canvas.text(x, center - i64::from(cap_height(s)) / 2, label, s, BLACK);
    }
    let below = l.grid.y + l.grid.h + LABEL_GAP;
    for (j, label) in col_labels.iter().enumerate().step_by(l.col_label_every) {
        let center = l.grid.x + j as i64 * l.cell_w + l.cell_w / 2;
        if l.col_labels_turned {
            canvas.text_up(
                center - i64::from(cap_height(s)) / 2,
                below,
                label,
                s,
                BLACK,
            );
        } else {
            let x = center - i64::from(text_width(label, s)) / 2;
            canvas.text(x, below, label, s, BLACK);
        }
    }

    // The color bar: the range's maximum at the top, outlined, with a tick and a label at
    // the maximum, the minimum and (on a tall bar) the middle.
    let bar = l.bar;
    let inner = bar.h - 2;
    for k in 0..inner {
        let t = 1.0 - k as f64 / (inner - 1).max(1) as f64;
        let row = Rect {
            x: bar.x + 1,
            y: bar.y + 1 + k,
            w: bar.w - 2,
            h: 1,
        };
        canvas.fill_rect(row, colormap(t));
    }
    canvas.stroke_rect(bar, BLACK);
    let (min, max) = range;
    for (value, text) in bar_labels(range, bar.h) {
        let y = bar.y + 1 + ((max - value) / (max - min) * (inner - 1) as f64).round() as i64;
        canvas.fill_rect(
            Rect {
                x: bar.x + bar.w,
                y,
                w: TICK,
                h: 1,
            },
            BLACK,
        );
        let text_y = y - i64::from(cap_height(BIG)) / 2;
        canvas.text(bar.x + bar.w + TICK + 4, text_y, &text, BIG, BLACK);
    }
    canvas
}

/// Writes a heat map of `matrix` to the PNG `path`: one colored cell per value, row 0 at the
/// top, `row_labels` at the left, `col_labels` below (turned to read upwards when wider than a
/// column), `title` above, and a color bar at the right.
///
/// Colors follow a viridis-like ramp (dark purple → yellow) over `range`, values outside it
/// clamped to its ends and NaN cells gray. Cells are square, 96 px at most and narrower as
/// columns add up so that the picture stays between ~300 and ~1200 px wide (rows get thinner
/// when there are many); cells of at least 28 px print their value with 2 decimals. Typical
/// use: an R-LoRA layer's N × N head cosine-similarity matrix with `range` (-1, 1), or a stack
/// of them (rows = layers · modules, columns = heads).
///
/// # Errors
/// [`PlotError::EmptyMatrix`], [`PlotError::RaggedRows`], [`PlotError::LabelCount`] (one label
/// per row and per column), [`PlotError::InvalidRange`] (finite, min < max), or the encoding or
/// writing error.
pub fn heat_map_png(
    path: &Path,
    title: &str,
    matrix: &[Vec<f64>],
    row_labels: &[String],
    col_labels: &[String],
    range: (f64, f64),
) -> Result<(), PlotError> {
    check_heat_map(path, matrix, row_labels, col_labels, range)?;
    let canvas = draw_heat_map(title, matrix, row_labels, col_labels, range);
    write_png(path, &canvas)
}

/// Encodes `canvas` and writes it to `path` atomically.
fn write_png(path: &Path, canvas: &Canvas) -> Result<(), PlotError> {
    let bytes = canvas.encode_png().map_err(|source| PlotError::Encode {
        file: path.to_path_buf(),
        source: Box::new(source),
    })?;
    rlora::write_atomically(path, &bytes).map_err(|source| PlotError::Write {
        file: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Line colors, one per series (cycling after eight): a qualitative palette whose colors stay
/// apart from each other, from the black axes and from the gray grid.
const PALETTE: [Rgb; 8] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [23, 190, 207],
];

/// Grid lines of a line chart.
const GRID: Rgb = [228, 228, 228];

/// The color of series number `i`.
fn series_color(i: usize) -> Rgb {
    PALETTE[i % PALETTE.len()]
}

/// An axis of a line chart: its limits and its ticks with their labels.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
}

/// A step of 1, 2 or 5 times a power of ten near `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// An axis covering `min..=max` (finite, `min <= max`) with about five ticks at round numbers;
/// the limits are the outermost ticks.
fn nice_axis(min: f64, max: f64) -> Axis {
    let (min, max) = if min < max {
        (min, max)
    } else {
        let d = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
        (min - d, max + d)
    };
    let step = nice_step(max / 4.0 - min / 4.0);
    let first = (min / step + 1e-9).floor();
    let last = (max / step - 1e-9).ceil();
    if !(step.is_finite() && step > 0.0 && first.is_finite() && last.is_finite())
        || last - first > 20.0
    {
        // Degenerate magnitudes: just the two ends.
        return Axis {
            lo: min,
            hi: max,
            ticks: vec![(min, short_number(min)), (max, short_number(max))],
        };
    }
    let exponent = step.log10().floor() as i32;
    let magnitude = (first * step).abs().max((last * step).abs());
    let scientific = magnitude >= 1e7 || exponent < -4;
    let label = |v: f64| {
        if v == 0.0 && scientific {
            "0".to_string()
        } else if scientific {
            let digits = (v.abs().log10().floor() as i32 - exponent).max(0) as usize;
            // As few mantissa digits as the value needs: `1e-4`, `2.5e-5`.
            let text = format!("{v:.digits$e}");
            match text.split_once('e') {
                Some((mantissa, exp)) if mantissa.contains('.') => {
                    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
                    format!("{mantissa}e{exp}")
                }
                _ => text,
            }
        } else {
            let decimals = (-exponent).max(0) as usize;
            format!("{v:.decimals$}")
        }
    };
    let ticks = (0..=(last - first) as i64)
        .map(|k| {
            let v = (first + k as f64) * step;
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            (v, label(v))
        })
        .collect();
    Axis {
        lo: first * step,
        hi: last * step,
        ticks,
    }
}

/// Where everything of a line chart goes.
#[derive(Debug, Clone, PartialEq)]
struct ChartLayout {
    width: u32,
    height: u32,
    /// The framed plot area, its one-pixel frame included.
    frame: Rect,
    /// Where data maps: the frame inset by a margin so that lines never hide under it.
    data: Rect,
    x: Axis,
    y: Axis,
    /// Left edge of the legend and the top of its first entry.
    legend: (i64, i64),
    /// Legend text, one per series.
    legend_names: Vec<String>,
}

/// Size of the plot area.
const PLOT_W: i64 = 640;
const PLOT_H: i64 = 400;
/// Gap between the frame and the data.
const DATA_MARGIN: i64 = 10;
/// Height of a legend entry.
const LEGEND_ROW: i64 = 26;
/// Length of a legend's color swatch.
const SWATCH: i64 = 28;

/// The finite points of `series`.
fn finite_points(series: &Series) -> impl Iterator<Item = (f64, f64)> + '_ {
    series
        .points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
}

fn chart_layout(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> ChartLayout {
    let mut bounds: Option<(f64, f64, f64, f64)> = None;
    for (x, y) in series.iter().flat_map(finite_points) {
        bounds = Some(match bounds {
            None => (x, x, y, y),
            Some((x0, x1, y0, y1)) => (x0.min(x), x1.max(x), y0.min(y), y1.max(y)),
        });
    }
    let (x0, x1, y0, y1) = bounds.unwrap_or((0.0, 1.0, 0.0, 1.0));
    let (x, y) = (nice_axis(x0, x1), nice_axis(y0, y1));

    let line = i64::from(text_height(BIG));
    let y_tick_w = max_width(y.ticks.iter().map(|(_, t)| t.as_str()), BIG);
    let y_label_w = if y_label.is_empty() { 0 } else { line + 12 };
    let left = PAD + y_label_w + y_tick_w + TICK + 6;
    let top = if title.is_empty() {
        PAD + 8
    } else {
        PAD + line + 16
    };
    let frame = Rect {
        x: left,
        y: top,
        w: PLOT_W,
        h: PLOT_H,
    };
    let data = Rect {
        x: frame.x + DATA_MARGIN,
        y: frame.y + DATA_MARGIN,
        w: frame.w - 2 * DATA_MARGIN,
        h: frame.h - 2 * DATA_MARGIN,
    };
    let x_label_h = if x_label.is_empty() { 0 } else { line + 10 };
    let bottom = frame.y + frame.h + TICK + 6 + line + x_label_h;

    let legend_names: Vec<String> = series
        .iter()
        .map(|s| {
            let name = truncate(&s.name, 28);
            if finite_points(s).next().is_none() {
                format!("{name} (no data)")
            } else {
                name
            }
        })
        .collect();
    let legend = (frame.x + frame.w + 28, frame.y);
    let legend_w = match max_width(legend_names.iter().map(String::as_str), BIG) {
        0 if series.is_empty() => 0,
        w => SWATCH + 8 + w,
    };
    // Room at the right for the last x tick label, which is centered on the frame's edge.
    let last_tick_w = x
        .ticks
        .last()
        .map_or(0, |(_, t)| i64::from(text_width(t, BIG)));
    let right = (legend.0 + legend_w).max(frame.x + frame.w + last_tick_w / 2);
    let legend_bottom = legend.1 + series.len() as i64 * LEGEND_ROW;
    let title_w = i64::from(text_width(title, BIG));
    ChartLayout {
        width: (right + PAD).max(title_w + 2 * PAD) as u32,
        height: (bottom.max(legend_bottom) + PAD) as u32,
        frame,
        data,
        x,
        y,
        legend,
        legend_names,
    }
}

impl ChartLayout {
    /// The pixel of data point (`x`, `y`).
    fn to_pixel(&self, (x, y): (f64, f64)) -> (i64, i64) {
        let fx = (x - self.x.lo) / (self.x.hi - self.x.lo);
        let fy = (y - self.y.lo) / (self.y.hi - self.y.lo);
        let px = self.data.x as f64 + fx * (self.data.w - 1) as f64;
        let py = (self.data.y + self.data.h - 1) as f64 - fy * (self.data.h - 1) as f64;
        (px.round() as i64, py.round() as i64)
    }
}

fn draw_line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Canvas {
    let l = chart_layout(title, x_label, y_label, series);
    let mut canvas = Canvas::new(l.width, l.height, WHITE);
    let f = l.frame;
    let inside = Rect {
        x: f.x + 1,
        y: f.y + 1,
        w: f.w - 2,
        h: f.h - 2,
    };
    let line = i64::from(text_height(BIG));
    let cap = i64::from(cap_height(BIG));

    // Grid lines and ticks with their labels.
    for (v, text) in &l.x.ticks {
        let (px, _) = l.to_pixel((*v, l.y.lo));
        canvas.fill_rect(
            Rect {
                x: px,
                y: inside.y,
                w: 1,
                h: inside.h,
            },
            GRID,
        );
        canvas.fill_rect(
            Rect {
                x: px,
                y: f.y + f.h,
                w: 1,
                h: TICK,
            },
            BLACK,
        );
        let x = px - i64::from(text_width(text, BIG)) / 2;
        canvas.text(x, f.y + f.h + TICK + 6, text, BIG, BLACK);
    }
    for (v, text) in &l.y.ticks {
        let (_, py) = l.to_pixel((l.x.lo, *v));
        canvas.fill_rect(
            Rect {
                x: inside.x,
                y: py,
                w: inside.w,
                h: 1,
            },
            GRID,
        );
        canvas.fill_rect(
            Rect {
                x: f.x - TICK,
                y: py,
                w: TICK,
                h: 1,
            },
            BLACK,
        );
        let x = f.x - TICK - 6 - i64::from(text_width(text, BIG));
        canvas.text(x, py - cap / 2, text, BIG, BLACK);
    }
    canvas.stroke_rect(f, BLACK);

    // The series, in order, so that later ones draw over earlier ones.
    for (i, s) in series.iter().enumerate() {
        let color = series_color(i);
        let pixels: Vec<(i64, i64)> = finite_points(s).map(|p| l.to_pixel(p)).collect();
        match pixels.as_slice() {
            [] => {}
            [only] => canvas.disc(*only, 3, color, inside),
            _ => {
                for pair in pixels.windows(2) {
                    canvas.line(pair[0], pair[1], 2, color, inside);
                }
            }
        }
    }
    if series.iter().all(|s| finite_points(s).next().is_none()) {
        let text = "no data";
        let x = f.x + (f.w - i64::from(text_width(text, BIG))) / 2;
        canvas.text(x, f.y + (f.h - cap) / 2, text, BIG, [120, 120, 120]);
    }

    // Title over the plot area, axis names centered on their axes, legend at the right.
    let title_w = i64::from(text_width(title, BIG));
    let title_x =
        (f.x + (f.w - title_w) / 2).clamp(PAD, (i64::from(l.width) - PAD - title_w).max(PAD));
    canvas.text(title_x, PAD, title, BIG, BLACK);
    if !x_label.is_empty() {
        let x = f.x + (f.w - i64::from(text_width(x_label, BIG))) / 2;
        canvas.text(x, f.y + f.h + TICK + 6 + line + 10, x_label, BIG, BLACK);
    }
    if !y_label.is_empty() {
        let y = f.y + (f.h - i64::from(text_width(y_label, BIG))) / 2;
        canvas.text_up(PAD, y.max(PAD), y_label, BIG, BLACK);
    }
    let (lx, ly) = l.legend;
    for (i, name) in l.legend_names.iter().enumerate() {
        let top = ly + i as i64 * LEGEND_ROW;
        let swatch = Rect {
            x: lx,
            y: top + cap / 2 - 2,
            w: SWATCH,
            h: 4,
        };
        canvas.fill_rect(swatch, series_color(i));
        canvas.text(lx + SWATCH + 8, top, name, BIG, BLACK);
    }
    canvas
}

/// Writes a line chart of `series` to the PNG `path`: one 2-px line per series in its own
/// color (8 distinct colors, then they repeat), a legend at the right, about five ticks at
/// round numbers on each axis, `title` above, `x_label` below and `y_label` at the left.
///
/// Points with a NaN or infinite coordinate are skipped; a series with one point shows as a
/// dot, an empty one only in the legend. Typical use: training loss against the step for
/// several runs, or mean head similarity against the step.
///
/// # Errors
/// The encoding or writing error.
pub fn line_chart_png(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), PlotError> {
    write_png(path, &draw_line_chart(title, x_label, y_label, series))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh path for a test's picture.
    fn temp_png(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rlora-plot-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// The decoded PNG at `path`: width, height and a pixel reader.
    struct Decoded {
        width: u32,
        height: u32,
        data: Vec<u8>,
    }

    impl Decoded {
        fn read(path: &Path) -> Self {
            let bytes = std::fs::read(path).unwrap();
            let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
            let mut reader = decoder.read_info().unwrap();
            let mut data = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut data).unwrap();
            assert_eq!(info.color_type, png::ColorType::Rgb);
            assert_eq!(info.bit_depth, png::BitDepth::Eight);
            data.truncate(info.buffer_size());
            Self {
                width: info.width,
                height: info.height,
                data,
            }
        }

        fn pixel(&self, x: i64, y: i64) -> Rgb {
            let i = (y as usize * self.width as usize + x as usize) * 3;
            [self.data[i], self.data[i + 1], self.data[i + 2]]
        }

        fn count(&self, area: Rect, color: Rgb) -> usize {
            let mut n = 0;
            for y in area.y..area.y + area.h {
                for x in area.x..area.x + area.w {
                    n += usize::from(self.pixel(x, y) == color);
                }
            }
            n
        }
    }

    fn labels(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix} {i}")).collect()
    }

    /// A symmetric N × N similarity-like matrix with a unit diagonal.
    fn similarity(n: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        if i == j {
                            1.0
                        } else {
                            ((i * 7 + j * 7) % 11) as f64 / 5.5 - 1.0
                        }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn colormap_runs_dark_to_light_and_clamps() {
        assert_eq!(colormap(0.0), RAMP[0]);
        assert_eq!(colormap(1.0), RAMP[10]);
        assert_eq!(colormap(-3.0), RAMP[0]);
        assert_eq!(colormap(7.0), RAMP[10]);
        assert_eq!(colormap(0.5), RAMP[5]);
        // Rounding each channel to 8 bits can lower the luminance of the next shade by at most
        // 1 (0.5 per color); beyond that it only rises, and clearly at any visible distance.
        let shades: Vec<f64> = (0..=1000)
            .map(|k| luminance(colormap(k as f64 / 1000.0)))
            .collect();
        for (k, w) in shades.windows(2).enumerate() {
            assert!(w[1] >= w[0] - 1.0, "luminance falls at {k}: {w:?}");
        }
        for (k, w) in shades
            .iter()
            .step_by(20)
            .collect::<Vec<_>>()
            .windows(2)
            .enumerate()
        {
            assert!(w[1] > w[0], "luminance does not rise at {}: {w:?}", 20 * k);
        }
    }

    #[test]
    fn heat_map_png_has_the_layout_size_and_colormap_cells() {
        let path = temp_png("heat.png");
        let (matrix, names) = (similarity(5), labels("head", 5));
        heat_map_png(
            &path,
            "layer 3 mlp.up_proj",
            &matrix,
            &names,
            &names,
            (-1.0, 1.0),
        )
        .unwrap();
        let png = Decoded::read(&path);
        let l = heat_layout("layer 3 mlp.up_proj", &matrix, &names, &names, (-1.0, 1.0));
        assert_eq!((png.width, png.height), (l.width, l.height));
        assert!((300..=1200).contains(&png.width), "{}", png.width);
        assert!(l.cell_w >= 28 && l.value_scale.is_some(), "{l:?}");
        // Away from the printed value, each cell has its value's color.
        for (i, row) in matrix.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let (x, y) = (
                    l.grid.x + j as i64 * l.cell_w,
                    l.grid.y + i as i64 * l.cell_h,
                );
                assert_eq!(
                    png.pixel(x + 2, y + 2),
                    colormap((v + 1.0) / 2.0),
                    "cell ({i}, {j})"
                );
            }
        }
        // The printed values are there: a diagonal cell (1.00, yellow) holds black text.
        let diag = Rect {
            x: l.grid.x,
            y: l.grid.y,
            w: l.cell_w,
            h: l.cell_h,
        };
        assert!(png.count(diag, BLACK) > 20);
        // Labels and title are drawn in black outside the grid.
        let left = Rect {
            x: 0,
            y: l.grid.y,
            w: l.grid.x,
            h: l.grid.h,
        };
        assert!(png.count(left, BLACK) > 50);
        let top = Rect {
            x: 0,
            y: 0,
            w: i64::from(l.width),
            h: l.grid.y,
        };
        assert!(png.count(top, BLACK) > 50);
    }

    #[test]
    fn small_cells_show_the_colormap_color_at_their_center() {
        let path = temp_png("heat-small.png");
        let matrix = vec![
            (0..40)
                .map(|j| j as f64 / 39.0 * 4.0 - 2.0)
                .collect::<Vec<_>>();
            3
        ];
        let (rows, cols) = (labels("layer", 3), labels("h", 40));
        heat_map_png(&path, "", &matrix, &rows, &cols, (-1.0, 1.0)).unwrap();
        let png = Decoded::read(&path);
        let l = heat_layout("", &matrix, &rows, &cols, (-1.0, 1.0));
        assert_eq!((png.width, png.height), (l.width, l.height));
        assert!(l.value_scale.is_none() && l.col_labels_turned, "{l:?}");
        for (j, &v) in matrix[1].iter().enumerate() {
            let x = l.grid.x + j as i64 * l.cell_w + l.cell_w / 2;
            let y = l.grid.y + l.cell_h + l.cell_h / 2;
            // Values outside the range are clamped to its ends.
            assert_eq!(png.pixel(x, y), colormap((v + 1.0) / 2.0), "column {j}");
        }
    }

    #[test]
    fn color_bar_is_monotone_in_luminance_from_bottom_to_top() {
        let path = temp_png("heat-bar.png");
        let matrix = similarity(4);
        let names = labels("head", 4);
        heat_map_png(&path, "bar", &matrix, &names, &names, (-1.0, 1.0)).unwrap();
        let png = Decoded::read(&path);
        let bar = heat_layout("bar", &matrix, &names, &names, (-1.0, 1.0)).bar;
        let x = bar.x + bar.w / 2;
        let column: Vec<f64> = (bar.y + 1..bar.y + bar.h - 1)
            .map(|y| luminance(png.pixel(x, y)))
            .collect();
        // Brighter upwards: never darker by more than 8-bit rounding from one pixel row to
        // the next, and darker over every ten rows.
        assert!(column.windows(2).all(|w| w[0] >= w[1] - 1.0), "{column:?}");
        let coarse: Vec<f64> = column.iter().copied().step_by(10).collect();
        assert!(coarse.windows(2).all(|w| w[0] > w[1]), "{coarse:?}");
        assert_eq!(png.pixel(x, bar.y + 1), RAMP[10]);
        assert_eq!(png.pixel(x, bar.y + bar.h - 2), RAMP[0]);
        assert_eq!(png.pixel(x, bar.y), BLACK);
    }

    #[test]
    fn heat_map_sizes_adapt_to_the_matrix() {
        for (rows, cols) in [
            (1, 1),
            (5, 5),
            (8, 8),
            (3, 64),
            (224, 5),
            (64, 64),
            (2, 300),
        ] {
            let matrix = vec![vec![0.5; cols]; rows];
            let (r, c) = (labels("layer 12 mlp.up_proj", rows), labels("head", cols));
            let l = heat_layout("stack", &matrix, &r, &c, (-1.0, 1.0));
            assert!((300..=1250).contains(&l.width), "{rows}x{cols}: {l:?}");
            assert!(l.cell_w >= 1 && l.cell_h >= 1 && l.cell_h <= l.cell_w);
            assert!(l.grid.x >= PAD && l.bar.x + l.bar.w < i64::from(l.width));
        }
        let names = labels("head", 5);
        let l = heat_layout("t", &similarity(5), &names, &names, (-1.0, 1.0));
        assert_eq!((l.cell_w, l.cell_h), (96, 96));
        assert!(!l.col_labels_turned);
    }

    #[test]
    fn line_chart_draws_every_series_in_its_color() {
        let path = temp_png("lines.png");
        let series: Vec<Series> = (0..8)
            .map(|k| Series {
                name: format!("run {k}"),
                points: (0..50)
                    .map(|i| (i as f64 * 10.0, (k as f64 + 1.0) / (1.0 + i as f64 * 0.1)))
                    .collect(),
            })
            .collect();
        line_chart_png(&path, "loss", "step", "loss", &series).unwrap();
        let png = Decoded::read(&path);
        let l = chart_layout("loss", "step", "loss", &series);
        assert_eq!((png.width, png.height), (l.width, l.height));
        for (k, s) in series.iter().enumerate() {
            let n = png.count(l.frame, series_color(k));
            assert!(n > 100, "series {} has {n} pixels", s.name);
        }
        assert!((3..=8).contains(&l.x.ticks.len()) && (3..=8).contains(&l.y.ticks.len()));
        assert_eq!((l.x.lo, l.x.hi), (0.0, 500.0));
    }

    #[test]
    fn line_chart_skips_non_finite_points_and_takes_odd_series() {
        let path = temp_png("lines-odd.png");
        let series = vec![
            Series {
                name: "empty".into(),
                points: vec![],
            },
            Series {
                name: "one".into(),
                points: vec![(3.0, 2.0)],
            },
            Series {
                name: "gappy".into(),
                points: vec![
                    (0.0, 1.0),
                    (1.0, f64::NAN),
                    (f64::INFINITY, 2.0),
                    (4.0, 5.0),
                ],
            },
        ];
        line_chart_png(&path, "odd", "x", "y", &series).unwrap();
        let png = Decoded::read(&path);
        let l = chart_layout("odd", "x", "y", &series);
        assert_eq!((png.width, png.height), (l.width, l.height));
        // Limits come from finite points only.
        assert_eq!((l.x.lo, l.x.hi, l.y.lo, l.y.hi), (0.0, 4.0, 1.0, 5.0));
        assert_eq!(png.count(l.frame, series_color(0)), 0);
        let (cx, cy) = l.to_pixel((3.0, 2.0));
        assert_eq!(png.pixel(cx, cy), series_color(1));
        assert!(
            png.count(l.frame, series_color(1)) >= 20,
            "the one point is a dot"
        );
        assert!(png.count(l.frame, series_color(2)) > 100);
        assert_eq!(l.legend_names[0], "empty (no data)");

        line_chart_png(&path, "nothing", "", "", &[]).unwrap();
        let png = Decoded::read(&path);
        let l = chart_layout("nothing", "", "", &[]);
        assert_eq!((png.width, png.height), (l.width, l.height));
    }

    #[test]
    fn nice_axes_have_round_ticks() {
        let a = nice_axis(0.0, 1000.0);
        let texts: Vec<&str> = a.ticks.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["0", "200", "400", "600", "800", "1000"]);
        let a = nice_axis(2.13, 7.31);
        assert_eq!((a.lo, a.hi), (2.0, 8.0));
        let a = nice_axis(0.31, 0.52);
        let texts: Vec<&str> = a.ticks.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["0.30", "0.35", "0.40", "0.45", "0.50", "0.55"]);
        let a = nice_axis(-1.0, 1.0);
        let texts: Vec<&str> = a.ticks.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["-1.0", "-0.5", "0.0", "0.5", "1.0"]);
        let a = nice_axis(3.0, 3.0);
        assert!(a.lo < 3.0 && a.hi > 3.0);
        let a = nice_axis(0.0, 3e8);
        assert_eq!(a.ticks.last().unwrap().1, "3e8");
        let a = nice_axis(-5e-5, 9e-5);
        let texts: Vec<&str> = a.ticks.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["-5e-5", "0", "5e-5", "1e-4"]);
        let a = nice_axis(-1e308, 1e308);
        assert!(a.ticks.len() >= 2 && a.lo.is_finite() && a.hi.is_finite());
    }

    #[test]
    fn short_numbers_stay_short() {
        assert_eq!(short_number(1.0), "1");
        assert_eq!(short_number(-1.0), "-1");
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(0.5), "0.5");
        assert_eq!(short_number(0.123456), "0.1235");
        assert_eq!(short_number(12.5), "12.5");
        assert_eq!(short_number(1e-5), "1.00e-5");
        assert_eq!(cell_text(-0.001), "0.00");
        assert_eq!(cell_text(-0.5), "-0.50");
    }

    #[test]
    fn bad_heat_map_inputs_are_rejected_naming_the_file() {
        let path = temp_png("never-written.png");
        let names = labels("head", 2);
        let ok = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
        let err = |m: &[Vec<f64>], r: &[String], c: &[String], range| {
            heat_map_png(&path, "t", m, r, c, range).unwrap_err()
        };

        let e = err(&[], &[], &names, (-1.0, 1.0));
        assert!(
            matches!(
                e,
                PlotError::EmptyMatrix {
                    rows: 0,
                    cols: 0,
                    ..
                }
            ),
            "{e}"
        );
        let e = err(&[vec![], vec![]], &names, &[], (-1.0, 1.0));
        assert!(
            matches!(
                e,
                PlotError::EmptyMatrix {
                    rows: 2,
                    cols: 0,
                    ..
                }
            ),
            "{e}"
        );
        let e = err(&[vec![0.0, 1.0], vec![1.0]], &names, &names, (-1.0, 1.0));
        assert!(
            matches!(
                e,
                PlotError::RaggedRows {
                    row: 1,
                    len: 1,
                    expected: 2,
                    ..
                }
            ),
            "{e}"
        );
        let e = err(&ok, &names[..1], &names, (-1.0, 1.0));
        assert!(matches!(
            e,
            PlotError::LabelCount {
                axis: "row",
                found: 1,
                expected: 2,
                ..
            }
        ));
        let three = labels("head", 3);
        let e = err(&ok, &names, &three, (-1.0, 1.0));
        assert!(matches!(
            e,
            PlotError::LabelCount {
                axis: "column",
                found: 3,
                expected: 2,
                ..
            }
        ));
        for range in [
            (1.0, 1.0),
            (1.0, -1.0),
            (f64::NAN, 1.0),
            (0.0, f64::INFINITY),
        ] {
            let e = err(&ok, &names, &names, range);
            assert!(
                matches!(e, PlotError::InvalidRange { .. }),
                "{range:?}: {e}"
            );
        }

        let e = err(&ok, &names, &three, (-1.0, 1.0));
        let message = e.to_string();
        assert!(message.contains("never-written.png"), "{message}");
        assert!(
            message.contains("3 column labels for a matrix with 2 columns"),
            "{message}"
        );
        let message = err(&ok, &names, &names, (1.0, 1.0)).to_string();
        assert!(message.contains("never-written.png") && message.contains("min < max"));
        assert!(!path.exists());
    }

    #[test]
    fn write_errors_name_the_file() {
        // A path under an existing regular file cannot be created.
        let blocker = temp_png("blocker");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("chart.png");
        let e = line_chart_png(&path, "t", "x", "y", &[]).unwrap_err();
        assert!(matches!(e, PlotError::Write { .. }));
        assert!(e.to_string().contains("chart.png"), "{e}");
    }

    /// Draws every kind of picture (small and large heat maps, odd series) without error, and
    /// leaves them in `$TMPDIR/plot-samples` for a person to look at.
    #[test]
    fn samples() {
        let dir = std::env::temp_dir().join("plot-samples");
        let dir = dir.as_path();
        let names = labels("head", 5);
        let mut m = similarity(5);
        m[0][1] = -0.93;
        m[1][0] = -0.93;
        heat_map_png(
            &dir.join("heat-5x5.png"),
            "layer 3 mlp.up_proj",
            &m,
            &names,
            &names,
            (-1.0, 1.0),
        )
        .unwrap();
        let modules = [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        ];
        let rows: Vec<String> = (0..4)
            .flat_map(|l| modules.iter().map(move |m| format!("layer {l} {m}")))
            .collect();
        let stack: Vec<Vec<f64>> = (0..rows.len())
            .map(|i| {
                (0..8)
                    .map(|j| ((i * 3 + j * 5) % 17) as f64 / 8.5 - 1.0)
                    .collect()
            })
            .collect();
        heat_map_png(
            &dir.join("heat-stack.png"),
            "mean |cos| per head",
            &stack,
            &rows,
            &labels("head", 8),
            (-1.0, 1.0),
        )
        .unwrap();
        let big = similarity(24);
        let names = labels("head", 24);
        heat_map_png(
            &dir.join("heat-24x24.png"),
            "24 heads",
            &big,
            &names,
            &names,
            (-1.0, 1.0),
        )
        .unwrap();
        let curve = |name: &str, scale: f64, noise: u64| Series {
            name: name.into(),
            points: (0..=200)
                .map(|i| {
                    let step = i as f64 * 5.0;
                    let wiggle = ((i as u64 * noise) % 13) as f64 / 13.0 - 0.5;
                    (step, 0.4 + scale * (-step / 250.0).exp() + 0.08 * wiggle)
                })
                .collect(),
        };
        let series = [
            curve("lora", 2.2, 7),
            curve("hydralora", 2.0, 5),
            curve("r-lora (5 heads)", 1.8, 3),
        ];
        line_chart_png(
            &dir.join("loss.png"),
            "training loss",
            "step",
            "loss",
            &series,
        )
        .unwrap();
        let odd = [
            Series {
                name: "empty".into(),
                points: vec![],
            },
            Series {
                name: "one point".into(),
                points: vec![(-3e-5, 120.0)],
            },
            Series {
                name: "a very long run name that goes on and on".into(),
                points: vec![(-5e-5, -40.0), (0.0, f64::NAN), (2e-5, 250.0), (9e-5, 10.0)],
            },
        ];
        line_chart_png(
            &dir.join("lines-odd.png"),
            "odd series ±",
            "lr",
            "value",
            &odd,
        )
        .unwrap();
        let one = [vec![0.25]];
        let label = ["only".to_string()];
        heat_map_png(
            &dir.join("heat-1x1.png"),
            "one",
            &one,
            &label,
            &label,
            (0.0, 0.5),
        )
        .unwrap();
    }
}
