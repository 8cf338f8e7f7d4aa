//! [`heat_map_png`]: a matrix as colored cells (an R-LoRA layer's `N × N` head cosine
//! similarity, or accuracy per arm and task), with row and column labels and a color bar.
//!
//! Cells are at most 96 pixels and shrink so the grid stays within about 720 pixels; values are
//! printed in cells large enough for them, and labels are thinned where rows or columns are
//! narrower than their text.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::{
    Canvas, DrawResult, FONT, PlotError, colormap, draw_png, drawing, short_number, text_size,
};

/// Margin around the picture, in pixels.
const PAD: i32 = 16;
/// Font sizes of the title and of the labels and values.
const TITLE: u32 = 22;
const LABEL: u32 = 14;
/// Width of the color bar.
const BAR_WIDTH: i32 = 20;

/// Where everything of a heat map goes, in pixels.
struct HeatLayout {
    /// The picture's width and height.
    size: (u32, u32),
    /// The top-left corner of cell (0, 0); row 0 is at the top.
    grid: (i32, i32),
    /// A cell's width and height.
    cell: (i32, i32),
    /// The color bar's top-left corner and height (maximum at the top), inside its outline.
    bar: (i32, i32, i32),
    /// Every how many rows, and columns, a label is drawn.
    label_every: (usize, usize),
    /// Whether the values are printed in the cells.
    values: bool,
}

/// Draws `matrix` (rows of equal length, one label per row and per column) as a heat map at
/// `path`, the colormap spanning `range` (values outside it take its end colors, NaN is gray).
pub fn heat_map_png(
    path: &Path,
    title: &str,
    matrix: &[Vec<f64>],
    row_labels: &[String],
    col_labels: &[String],
    range: (f64, f64),
) -> Result<(), PlotError> {
    check(path, matrix, row_labels, col_labels, range)?;
    let layout = heat_layout(title, matrix, row_labels, col_labels);
    draw_png(path, layout.size, |canvas| {
        draw_heat_map(
            canvas,
            &layout,
            title,
            matrix,
            (row_labels, col_labels),
            range,
        )
    })
}

/// Rejects a matrix that is empty or ragged, labels that do not match it, and a bad range.
fn check(
    path: &Path,
    matrix: &[Vec<f64>],
    row_labels: &[String],
    col_labels: &[String],
    (min, max): (f64, f64),
) -> Result<(), PlotError> {
    let file = path.to_path_buf();
    let cols = matrix.first().map_or(0, Vec::len);
    if cols == 0 {
        return Err(PlotError::EmptyMatrix {
            file,
            rows: matrix.len(),
            cols,
        });
    }
    if let Some((row, values)) = matrix.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(PlotError::RaggedRows {
            file,
            row,
            len: values.len(),
            expected: cols,
        });
    }
    for (axis, found, expected) in [
        ("row", row_labels.len(), matrix.len()),
        ("column", col_labels.len(), cols),
    ] {
        if found != expected {
            return Err(PlotError::LabelCount {
                file,
                axis,
                found,
                expected,
            });
        }
    }
    if !(min.is_finite() && max.is_finite() && min < max) {
        return Err(PlotError::InvalidRange { file, min, max });
    }
    Ok(())
}

/// The layout of a (checked) heat map.
fn heat_layout(
    title: &str,
    matrix: &[Vec<f64>],
    row_labels: &[String],
    col_labels: &[String],
) -> HeatLayout {
    let (rows, cols) = (matrix.len() as i32, matrix[0].len() as i32);
    let cell_w = (720 / cols).clamp(1, 96);
    let cell = (cell_w, (720 / rows).clamp(1, cell_w));
    let widest = |labels: &[String]| labels.iter().map(|l| text_size(l, LABEL).0).max();
    let label_h = text_size("Hg", LABEL).1.max(1);
    let row_label_w = widest(row_labels).unwrap_or(0);
    let col_label_w = widest(col_labels).unwrap_or(0) + 6;
    let title_h = if title.is_empty() {
        0
    } else {
        text_size(title, TITLE).1 + PAD
    };
    let grid = (PAD + row_label_w + 8, PAD + title_h);
    let (grid_w, grid_h) = (cols * cell.0, rows * cell.1);
    let bar = (grid.0 + grid_w + 24, grid.1, grid_h.max(100));
    let bar_label_w = text_size("-0.000", LABEL).0;
    let width = bar.0 + BAR_WIDTH + 8 + bar_label_w + PAD;
    let height = grid.1 + grid_h.max(bar.2) + label_h + 8 + PAD;
    let title_w = grid.0 + text_size(title, TITLE).0 + PAD;
    HeatLayout {
        size: (width.max(title_w).max(300) as u32, height as u32),
        grid,
        cell,
        bar,
        label_every: (
            (label_h as usize).div_ceil(cell.1 as usize),
            (col_label_w as usize).div_ceil(cell.0 as usize),
        ),
        values: cell.0 >= 44 && cell.1 >= 20,
    }
}

/// Draws the title, the cells (with their values), the labels and the color bar.
fn draw_heat_map(
    canvas: &Canvas,
    layout: &HeatLayout,
    title: &str,
    matrix: &[Vec<f64>],
    (row_labels, col_labels): (&[String], &[String]),
    range: (f64, f64),
) -> DrawResult<()> {
    drawing(canvas.fill(&WHITE))?;
    let title_style =
        TextStyle::from((FONT, TITLE).into_font()).pos(Pos::new(HPos::Left, VPos::Top));
    drawing(canvas.draw(&Text::new(title, (layout.grid.0, PAD), title_style)))?;
    let ((x0, y0), (w, h)) = (layout.grid, layout.cell);
    for (i, row) in matrix.iter().enumerate() {
        let y = y0 + i as i32 * h;
        for (j, &value) in row.iter().enumerate() {
            let x = x0 + j as i32 * w;
            let color = colormap(value, range);
            drawing(canvas.draw(&Rectangle::new([(x, y), (x + w, y + h)], color.filled())))?;
            if layout.values {
                let ink = if luminance(color) > 128.0 {
                    BLACK
                } else {
                    WHITE
                };
                let label = Text::new(
                    cell_text(value),
                    (x + w / 2, y + h / 2),
                    label_style((HPos::Center, VPos::Center), &ink),
                );
                drawing(canvas.draw(&label))?;
            }
        }
        if i % layout.label_every.0 == 0 {
            let style = label_style((HPos::Right, VPos::Center), &BLACK);
            let at = (x0 - 8, y + h / 2);
            drawing(canvas.draw(&Text::new(row_labels[i].as_str(), at, style)))?;
        }
    }
    let below = y0 + matrix.len() as i32 * h + 6;
    for (j, label) in col_labels.iter().enumerate().step_by(layout.label_every.1) {
        let style = label_style((HPos::Center, VPos::Top), &BLACK);
        let at = (x0 + j as i32 * w + w / 2, below);
        drawing(canvas.draw(&Text::new(label.as_str(), at, style)))?;
    }
    draw_color_bar(canvas, layout.bar, range)
}

/// The color bar at `(x, y)`, `height` pixels tall, from `max` at the top to `min` at the bottom,
/// outlined, with the ends and the middle labeled.
fn draw_color_bar(
    canvas: &Canvas,
    (x, y, height): (i32, i32, i32),
    (min, max): (f64, f64),
) -> DrawResult<()> {
    let at = |row: i32| max - (max - min) * f64::from(row) / f64::from((height - 1).max(1));
    for row in 0..height {
        let color = colormap(at(row), (min, max));
        let line = Rectangle::new([(x, y + row), (x + BAR_WIDTH, y + row + 1)], color.filled());
        drawing(canvas.draw(&line))?;
    }
    let outline = [(x - 1, y - 1), (x + BAR_WIDTH, y + height)];
    drawing(canvas.draw(&Rectangle::new(outline, BLACK)))?;
    for value in [max, (min + max) / 2.0, min] {
        let row = ((max - value) / (max - min) * f64::from(height - 1)).round() as i32;
        let style = label_style((HPos::Left, VPos::Center), &BLACK);
        let label = Text::new(short_number(value), (x + BAR_WIDTH + 8, y + row), style);
        drawing(canvas.draw(&label))?;
    }
    Ok(())
}

/// The labels' and values' text, anchored at `(h, v)`.
fn label_style((h, v): (HPos, VPos), color: &RGBColor) -> TextStyle<'_> {
    TextStyle::from((FONT, LABEL).into_font())
        .pos(Pos::new(h, v))
        .color(color)
}

/// Relative luminance (Rec. 709 weights on the sRGB values), 0..=255.
fn luminance(color: RGBColor) -> f64 {
    let RGBColor(r, g, b) = color;
    0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b)
}

/// A value as a heat-map cell prints it: two decimals, never `-0.00`.
fn cell_text(value: f64) -> String {
    let text = format!("{value:.2}");
    if text == "-0.00" { "0.00".into() } else { text }
}
