//! What the pictures share: [`PlotError`], the embedded font, the colormap, and drawing into an
//! RGB buffer with `plotters` that is then written as a PNG, atomically.
//!
//! The text is set in DejaVu Sans (`assets/fonts`, Bitstream Vera license), compiled into the
//! binary and handed to plotters through `ab_glyph`: no system font is looked up, no file is
//! read at run time.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::{FontStyle, register_font};

/// The font family every picture's text uses.
pub(super) const FONT: &str = "sans-serif";

/// DejaVu Sans, as Debian's `fonts-dejavu-core` ships it.
const FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Heat-map cells whose value is NaN.
pub(super) const NAN_CELL: RGBColor = RGBColor(200, 200, 200);

/// The drawing surface of a picture: plotters' bitmap backend over an RGB buffer.
pub(super) type Canvas<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// A drawing failure of plotters, with its message.
pub(super) type DrawResult<T> = Result<T, String>;

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
    /// plotters could not draw the picture (or load the embedded font).
    #[error("{file}: cannot draw the picture: {message}")]
    Draw {
        /// The picture that was to be written.
        file: PathBuf,
        /// plotters' message.
        message: String,
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

/// The colormap (viridis: dark purple through blue and green to yellow, its luminance rising
/// steadily) at `value` in `(min, max)`, clamped to the ends; NaN is light gray.
pub fn colormap(value: f64, (min, max): (f64, f64)) -> RGBColor {
    if value.is_nan() {
        NAN_CELL
    } else {
        ViridisRGB::get_color_normalized(value.clamp(min, max), min, max)
    }
}

/// Draws a `width × height` picture with `draw` and writes it to `path` as an RGB PNG.
pub(super) fn draw_png<T>(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Canvas) -> DrawResult<T>,
) -> Result<T, PlotError> {
    let failed = |message: String| PlotError::Draw {
        file: path.to_path_buf(),
        message,
    };
    register_embedded_font().map_err(failed)?;
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    let drawn = {
        let canvas = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        let drawn = draw(&canvas).map_err(failed)?;
        canvas.present().map_err(|e| failed(e.to_string()))?;
        drawn
    };
    write_png(path, &pixels, (width, height))?;
    Ok(drawn)
}

/// Registers [`FONT_BYTES`] as [`FONT`], once per process.
fn register_embedded_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    ok.then_some(())
        .ok_or_else(|| "the embedded font does not parse".to_string())
}

/// Encodes RGB `pixels` as a PNG and writes it atomically.
fn write_png(path: &Path, pixels: &[u8], (width, height): (u32, u32)) -> Result<(), PlotError> {
    let encode_error = |source| PlotError::Encode {
        file: path.to_path_buf(),
        source: Box::new(source),
    };
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(pixels).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    rlora::io::write_atomically(path, &bytes).map_err(|source| PlotError::Write {
        file: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// plotters' error as text.
pub(super) fn drawing<T, E: std::fmt::Display>(result: Result<T, E>) -> DrawResult<T> {
    result.map_err(|e| e.to_string())
}

/// The width and height in pixels of `text` in [`FONT`] at `size` (nothing for empty text).
pub(super) fn text_size(text: &str, size: u32) -> (i32, i32) {
    if text.is_empty() || register_embedded_font().is_err() {
        return (0, 0);
    }
    (FONT, size)
        .into_font()
        .box_size(text)
        .map_or((0, 0), |(w, h)| (w as i32, h as i32))
}

/// A number in few characters, for ticks and the color bar: an integer as one, others with up to four
/// significant digits, huge or tiny magnitudes in exponent notation.
pub(super) fn short_number(v: f64) -> String {
    let magnitude = v.abs();
    if v == 0.0 || (v.fract() == 0.0 && magnitude < 1e7) {
        return format!("{v:.0}");
    }
    if !(1e-3..1e7).contains(&magnitude) {
        return format!("{v:.2e}");
    }
    let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{v:.decimals$}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
