//! An RGB pixel buffer with the few drawing operations the plots need: rectangles, thick
//! lines, discs and bitmap text (horizontal or turned to read upwards), and PNG encoding.

use super::font::{CAP_HEIGHT, GLYPH_HEIGHT, glyph, glyph_span};

/// An 8-bit sRGB color.
pub(crate) type Rgb = [u8; 3];

/// White, the background of every plot.
pub(crate) const WHITE: Rgb = [255, 255, 255];
/// Black, for axes and text.
pub(crate) const BLACK: Rgb = [0, 0, 0];

/// A rectangle of pixels: `x..x + w` by `y..y + h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

impl Rect {
    /// Whether pixel (`x`, `y`) lies inside.
    pub fn contains(&self, x: i64, y: i64) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }
}

/// A `width × height` RGB image, row by row, three bytes a pixel.
#[derive(Debug, Clone)]
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

/// Gap between two glyphs, in font pixels.
const GLYPH_GAP: u32 = 1;

/// Pixel width of `text` drawn at `scale` (0 for an empty string).
pub(crate) fn text_width(text: &str, scale: u32) -> u32 {
    let font_px: u32 = text.chars().map(|c| glyph_span(c).1 + GLYPH_GAP).sum();
    font_px.saturating_sub(GLYPH_GAP) * scale
}

/// Pixel height of a line of text at `scale`, descenders included.
pub(crate) fn text_height(scale: u32) -> u32 {
    GLYPH_HEIGHT * scale
}

/// Pixel height of a capital letter at `scale`: what to center when centering text on a point.
pub(crate) fn cap_height(scale: u32) -> u32 {
    CAP_HEIGHT * scale
}

/// `text` cut to at most `max_chars` characters, ending in `...` when cut.
pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let kept: String = text.chars().take(max_chars.saturating_sub(3)).collect();
        format!("{kept}...")
    }
}

impl Canvas {
    /// A canvas filled with `background`.
    pub fn new(width: u32, height: u32, background: Rgb) -> Self {
        let pixels = width as usize * height as usize;
        let mut data = Vec::with_capacity(pixels * 3);
        for _ in 0..pixels {
            data.extend_from_slice(&background);
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// The color of pixel (`x`, `y`), `None` outside the canvas.
    #[cfg(test)]
    pub fn pixel(&self, x: i64, y: i64) -> Option<Rgb> {
        let i = self.index(x, y)?;
        Some([self.data[i], self.data[i + 1], self.data[i + 2]])
    }

    fn index(&self, x: i64, y: i64) -> Option<usize> {
        let inside = x >= 0 && y >= 0 && x < i64::from(self.width) && y < i64::from(self.height);
        inside.then(|| (y as usize * self.width as usize + x as usize) * 3)
    }

    /// Paints pixel (`x`, `y`); pixels outside the canvas are ignored.
    pub fn put(&mut self, x: i64, y: i64, color: Rgb) {
        if let Some(i) = self.index(x, y) {
            self.data[i..i + 3].copy_from_slice(&color);
        }
    }

    /// Fills `rect`.
    pub fn fill_rect(&mut self, rect: Rect, color: Rgb) {
        let x0 = rect.x.max(0);
        let x1 = (rect.x + rect.w).min(i64::from(self.width));
        let y0 = rect.y.max(0);
        let y1 = (rect.y + rect.h).min(i64::from(self.height));
        for y in y0..y1 {
            for x in x0..x1 {
                self.put(x, y, color);
            }
        }
    }

    /// Draws the one-pixel outline of `rect`, inside it.
    pub fn stroke_rect(&mut self, rect: Rect, color: Rgb) {
        let Rect { x, y, w, h } = rect;
        self.fill_rect(Rect { x, y, w, h: 1 }, color);
        self.fill_rect(
            Rect {
                x,
                y: y + h - 1,
                w,
                h: 1,
            },
            color,
        );
        self.fill_rect(Rect { x, y, w: 1, h }, color);
        self.fill_rect(
            Rect {
                x: x + w - 1,
                y,
                w: 1,
                h,
            },
            color,
        );
    }

    /// A line from (`x0`, `y0`) to (`x1`, `y1`), `thickness` pixels wide, painting only pixels
    /// inside `clip`.
    pub fn line(
        &mut self,
        (x0, y0): (i64, i64),
        (x1, y1): (i64, i64),
        thickness: u32,
        color: Rgb,
        clip: Rect,
    ) {
        // Bresenham, stamping a `thickness`-wide square at every step, centered on the path.
        let t = i64::from(thickness.max(1));
        let off = (t - 1) / 2;
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            for py in y - off..y - off + t {
                for px in x - off..x - off + t {
                    if clip.contains(px, py) {
                        self.put(px, py, color);
                    }
                }
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// A filled disc of `radius` pixels around (`cx`, `cy`), painting only pixels inside `clip`.
    pub fn disc(&mut self, (cx, cy): (i64, i64), radius: i64, color: Rgb, clip: Rect) {
        for y in cy - radius..=cy + radius {
            for x in cx - radius..=cx + radius {
                let (ddx, ddy) = (x - cx, y - cy);
                if ddx * ddx + ddy * ddy <= radius * radius + radius && clip.contains(x, y) {
                    self.put(x, y, color);
                }
            }
        }
    }

    /// Draws `text` left to right with its box's top-left corner at (`x`, `y`), each font
    /// pixel a `scale × scale` square.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: u32, color: Rgb) {
        self.glyphs(text, scale, color, |along, across| (x + along, y + across));
    }

    /// Draws `text` turned a quarter turn counter-clockwise, reading bottom to top, inside the
    /// box whose top-left corner is (`x`, `y`): the box is [`text_height`] wide and
    /// [`text_width`] tall, and the text starts at its bottom.
    pub fn text_up(&mut self, x: i64, y: i64, text: &str, scale: u32, color: Rgb) {
        let bottom = y + i64::from(text_width(text, scale)) - 1;
        self.glyphs(text, scale, color, |along, across| {
            (x + across, bottom - along)
        })
    }

    /// Paints the pixels of `text`: `place` maps (offset along the line, offset across it,
    /// from the top of the glyphs) to a canvas position.
    fn glyphs(
        &mut self,
        text: &str,
        scale: u32,
        color: Rgb,
        place: impl Fn(i64, i64) -> (i64, i64),
    ) {
        let s = i64::from(scale);
        let mut pen = 0i64;
        for c in text.chars() {
            let (first, width) = glyph_span(c);
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..width {
                    if bits & (1 << (4 - (first + col))) == 0 {
                        continue;
                    }
                    let along = pen + i64::from(col) * s;
                    let across = row as i64 * s;
                    for dy in 0..s {
                        for dx in 0..s {
                            let (px, py) = place(along + dx, across + dy);
                            self.put(px, py, color);
                        }
                    }
                }
            }
            pen += i64::from(width + GLYPH_GAP) * s;
        }
    }

    /// The image as an 8-bit RGB PNG.
    pub fn encode_png(&self) -> Result<Vec<u8>, png::EncodingError> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.data)?;
        writer.finish()?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_width_sums_glyph_spans_and_gaps() {
        assert_eq!(text_width("", 2), 0);
        assert_eq!(text_width("0", 1), 5);
        assert_eq!(text_width("-0.99", 1), 4 + 1 + 5 + 1 + 2 + 1 + 5 + 1 + 5);
        assert_eq!(text_width("00", 2), 22);
    }

    #[test]
    fn text_paints_inside_its_box_only() {
        let mut canvas = Canvas::new(40, 40, WHITE);
        canvas.text(3, 4, "Hg", 2, BLACK);
        let (w, h) = (i64::from(text_width("Hg", 2)), i64::from(text_height(2)));
        let mut inked = 0;
        for y in 0..40 {
            for x in 0..40 {
                if canvas.pixel(x, y) == Some(BLACK) {
                    inked += 1;
                    assert!(
                        (3..3 + w).contains(&x) && (4..4 + h).contains(&y),
                        "({x}, {y})"
                    );
                }
            }
        }
        assert!(inked > 0);
        // Turned text: the box is as wide as a line is tall and as tall as the text is wide.
        let mut canvas = Canvas::new(40, 40, WHITE);
        canvas.text_up(5, 2, "Hg", 1, BLACK);
        for y in 0..40 {
            for x in 0..40 {
                if canvas.pixel(x, y) == Some(BLACK) {
                    let (w, h) = (i64::from(text_height(1)), i64::from(text_width("Hg", 1)));
                    assert!(
                        (5..5 + w).contains(&x) && (2..2 + h).contains(&y),
                        "({x}, {y})"
                    );
                }
            }
        }
    }

    #[test]
    fn lines_stay_inside_their_clip() {
        let mut canvas = Canvas::new(20, 20, WHITE);
        let clip = Rect {
            x: 5,
            y: 5,
            w: 10,
            h: 10,
        };
        canvas.line((0, 0), (19, 19), 2, BLACK, clip);
        for y in 0..20 {
            for x in 0..20 {
                if canvas.pixel(x, y) == Some(BLACK) {
                    assert!(clip.contains(x, y));
                }
            }
        }
        assert_eq!(canvas.pixel(10, 10), Some(BLACK));
    }
}
