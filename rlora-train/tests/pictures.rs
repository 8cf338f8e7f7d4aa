//! The pictures show what they are given, read back from their PNG files: a heat map's cells
//! have their values' colors and print the values, its color bar runs dark to light; a line
//! chart has every series in its color and a lone point as a dot; bad inputs are refused naming
//! the file. Nothing here depends on how the font draws a glyph.

use std::path::{Path, PathBuf};

use plotters::prelude::RGBColor;
use rlora_train::report::{
    PlotError, Series, colormap, heat_map_png, line_chart_png, series_color,
};

/// A fresh path for a test's picture.
fn temp_png(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-pictures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A decoded RGB PNG.
struct Picture {
    width: i32,
    height: i32,
    data: Vec<u8>,
}

impl Picture {
    fn read(path: &Path) -> Self {
        let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut data = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut data).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        data.truncate(info.buffer_size());
        Self {
            width: info.width as i32,
            height: info.height as i32,
            data,
        }
    }

    fn pixel(&self, x: i32, y: i32) -> RGBColor {
        let i = (y * self.width + x) as usize * 3;
        RGBColor(self.data[i], self.data[i + 1], self.data[i + 2])
    }

    /// How many pixels of the area `xs × ys` match `keep`.
    fn count(
        &self,
        xs: std::ops::Range<i32>,
        ys: std::ops::Range<i32>,
        keep: impl Fn(RGBColor) -> bool,
    ) -> usize {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| keep(self.pixel(x, y)))
            .count()
    }

    fn count_all(&self, color: RGBColor) -> usize {
        self.count(0..self.width, 0..self.height, |c| c == color)
    }

    /// The first pixel of `color` in reading order (top row first, then leftmost).
    fn first(&self, color: RGBColor) -> (i32, i32) {
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .find(|&(x, y)| self.pixel(x, y) == color)
            .expect("the color is in the picture")
    }

    /// How many pixels from `(x, y)` rightwards keep that pixel's color.
    fn run(&self, x: i32, y: i32) -> i32 {
        let color = self.pixel(x, y);
        (x..self.width)
            .take_while(|&x| self.pixel(x, y) == color)
            .count() as i32
    }
}

fn luminance(RGBColor(r, g, b): RGBColor) -> f64 {
    0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b)
}

fn labels(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i}")).collect()
}

/// A symmetric N × N similarity-like matrix with a unit diagonal and off-diagonal values below
/// 0.9.
fn similarity(n: usize) -> Vec<Vec<f64>> {
    let value = |i: usize, j: usize| ((i * 7 + j * 7) % 11) as f64 / 5.5 - 1.0;
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| if i == j { 1.0 } else { value(i, j) })
                .collect()
        })
        .collect()
}

#[test]
fn heat_map_cells_have_their_values_colors_and_print_the_values() {
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
    let png = Picture::read(&path);
    assert!((300..=1300).contains(&png.width), "{}", png.width);
    // Cell (0, 0), on the diagonal, is where its color first shows; cells are square.
    let yellow = colormap(1.0, (-1.0, 1.0));
    let (x0, y0) = png.first(yellow);
    let cell = png.run(x0, y0);
    assert_eq!(cell, 96);
    for (i, row) in matrix.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let (x, y) = (x0 + j as i32 * cell, y0 + i as i32 * cell);
            assert_eq!(
                png.pixel(x + 2, y + 2),
                colormap(v, (-1.0, 1.0)),
                "cell ({i}, {j})"
            );
        }
    }
    // The printed value: dark ink in the middle of the cell, none near its corner.
    let dark = |c: RGBColor| luminance(c) < 100.0;
    assert!(png.count(x0 + 20..x0 + 76, y0 + 30..y0 + 66, dark) > 20);
    assert_eq!(png.count(x0..x0 + 12, y0..y0 + 12, dark), 0);
    // Row labels and the title, left of and above the grid.
    assert!(png.count(0..x0, y0..y0 + 5 * cell, dark) > 50);
    assert!(png.count(0..png.width, 0..y0, dark) > 50);

    // The color bar, right of the grid, runs from the maximum at the top to the minimum at the
    // bottom, brighter upwards, outlined in black.
    let bar_x = (x0 + 5 * cell..png.width)
        .find(|&x| png.pixel(x, y0) == yellow)
        .unwrap()
        + 10;
    let bottom = (y0..png.height).take_while(|&y| png.pixel(bar_x, y) != RGBColor(0, 0, 0));
    let column: Vec<f64> = bottom.map(|y| luminance(png.pixel(bar_x, y))).collect();
    assert!(column.len() >= 100, "{}", column.len());
    assert!(column.windows(2).all(|w| w[0] >= w[1] - 1.0), "{column:?}");
    let coarse: Vec<f64> = column.iter().copied().step_by(10).collect();
    assert!(coarse.windows(2).all(|w| w[0] > w[1]), "{coarse:?}");
    let last = y0 + column.len() as i32 - 1;
    assert_eq!(png.pixel(bar_x, last), colormap(-1.0, (-1.0, 1.0)));
    assert_eq!(png.pixel(bar_x, y0 - 1), RGBColor(0, 0, 0));
}

#[test]
fn small_cells_show_their_clamped_colors_and_nan_is_gray() {
    let path = temp_png("heat-small.png");
    // Columns 0..=9 are below the range's minimum: they all take its color.
    let row: Vec<f64> = (0..40).map(|j| j as f64 / 39.0 * 4.0 - 2.0).collect();
    let matrix = vec![row.clone(), row.clone(), row];
    heat_map_png(
        &path,
        "",
        &matrix,
        &labels("layer", 3),
        &labels("h", 40),
        (-1.0, 1.0),
    )
    .unwrap();
    let png = Picture::read(&path);
    let (x0, y0) = png.first(colormap(-1.0, (-1.0, 1.0)));
    let cell = png.run(x0, y0) / 10;
    assert!((2..=20).contains(&cell), "{cell}");
    for (j, &v) in matrix[1].iter().enumerate() {
        let (x, y) = (x0 + j as i32 * cell + cell / 2, y0 + cell + cell / 2);
        assert_eq!(png.pixel(x, y), colormap(v, (-1.0, 1.0)), "column {j}");
    }

    let nan = [vec![f64::NAN]];
    heat_map_png(
        &path,
        "nan",
        &nan,
        &labels("r", 1),
        &labels("c", 1),
        (0.0, 1.0),
    )
    .unwrap();
    assert!(Picture::read(&path).count_all(RGBColor(200, 200, 200)) > 80 * 80);
}

#[test]
fn heat_map_sizes_adapt_to_the_matrix() {
    for (rows, cols) in [(1, 1), (8, 8), (3, 64), (224, 5), (64, 64), (2, 300)] {
        let matrix: Vec<Vec<f64>> = (0..rows)
            .map(|i| (0..cols).map(|j| ((i + j) % 3) as f64 / 2.0).collect())
            .collect();
        let path = temp_png("heat-size.png");
        let (r, c) = (labels("layer 12 mlp.up_proj", rows), labels("head", cols));
        heat_map_png(&path, "stack", &matrix, &r, &c, (0.0, 1.0)).unwrap();
        let png = Picture::read(&path);
        assert!(
            (300..=1300).contains(&png.width),
            "{rows}x{cols}: {}",
            png.width
        );
        assert!(png.height <= 1000, "{rows}x{cols}: {}", png.height);
        for value in [0.0, 0.5, 1.0].iter().take(rows * cols) {
            assert!(
                png.count_all(colormap(*value, (0.0, 1.0))) > 0,
                "{rows}x{cols}"
            );
        }
    }
}

#[test]
fn every_series_is_drawn_in_its_color() {
    let series: Vec<Series> = (0..8)
        .map(|k| Series {
            name: format!("run {k}"),
            points: (0..50)
                .map(|i| (i as f64 * 10.0, (k as f64 + 1.0) / (1.0 + i as f64 * 0.1)))
                .collect(),
        })
        .collect();
    let path = temp_png("lines.png");
    line_chart_png(&path, "loss", "step", "loss", &series).unwrap();
    let png = Picture::read(&path);
    assert_eq!((png.width, png.height), (960, 600));
    for k in 0..8 {
        let n = png.count_all(series_color(k));
        assert!(n > 300, "series {k} has {n} pixels");
    }
}

#[test]
fn a_lone_point_is_a_dot_an_empty_series_only_a_legend_entry() {
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
    let path = temp_png("lines-odd.png");
    line_chart_png(&path, "odd", "x", "y", &series).unwrap();
    let png = Picture::read(&path);
    // The legend shows a short line of each color; the dot and the line add to it.
    let counts: Vec<usize> = (0..3).map(|k| png.count_all(series_color(k))).collect();
    let (empty, dot, line) = (counts[0], counts[1], counts[2]);
    assert!(empty > 0 && empty < 80, "{empty}");
    assert!(dot > empty + 40, "{dot} vs {empty}");
    assert!(line > 300, "{line}");
    line_chart_png(&path, "nothing", "", "", &[]).unwrap();
    assert_eq!(Picture::read(&path).width, 960);
}

#[test]
fn bad_heat_map_inputs_are_rejected_naming_the_file() {
    let path = temp_png("never-written.png");
    let (names, three) = (labels("head", 2), labels("head", 3));
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
    let ragged = PlotError::RaggedRows {
        file: path.clone(),
        row: 1,
        len: 1,
        expected: 2,
    };
    assert_eq!(e.to_string(), ragged.to_string());
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
    let message = err(&ok, &names, &three, (-1.0, 1.0)).to_string();
    assert!(message.contains("never-written.png"), "{message}");
    assert!(
        message.contains("3 column labels for a matrix with 2 columns"),
        "{message}"
    );
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
        assert!(e.to_string().contains("min < max"));
    }
    assert!(!path.exists());

    // A path under an existing regular file cannot be created.
    let blocker = temp_png("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let e = line_chart_png(&blocker.join("chart.png"), "t", "x", "y", &[]).unwrap_err();
    assert!(matches!(e, PlotError::Write { .. }));
    assert!(e.to_string().contains("chart.png"), "{e}");
}
