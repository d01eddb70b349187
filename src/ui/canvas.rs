//! A 128×64 one-bit frame: what every display shows. Screens draw on it (it is an
//! embedded-graphics `DrawTarget`); the OLED drivers, the PNG writer and the terminal all take
//! their pixels from it, so they can never disagree.

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Size};
use embedded_graphics::Pixel;

pub const WIDTH: u32 = 128;
pub const HEIGHT: u32 = 64;

#[derive(Clone, PartialEq, Eq)]
pub struct Canvas {
    /// Row-major, true = lit.
    pixels: Vec<bool>,
}

impl Default for Canvas {
    fn default() -> Self {
        Self {
            pixels: vec![false; (WIDTH * HEIGHT) as usize],
        }
    }
}

impl std::fmt::Debug for Canvas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Canvas({} lit)",
            self.pixels.iter().filter(|p| **p).count()
        )
    }
}

impl Canvas {
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < WIDTH && y < HEIGHT && self.pixels[(y * WIDTH + x) as usize]
    }

    /// Lit pixels as embedded-graphics pixels (on and off), to copy onto a driver's buffer.
    pub fn pixels(&self) -> impl Iterator<Item = Pixel<BinaryColor>> + '_ {
        self.pixels.iter().enumerate().map(|(i, &on)| {
            let (x, y) = (i as u32 % WIDTH, i as u32 / WIDTH);
            Pixel(
                embedded_graphics::prelude::Point::new(x as i32, y as i32),
                BinaryColor::from(on),
            )
        })
    }

    /// The frame as a PNG, each pixel `scale`×`scale`, lit pixels white on black (as an OLED
    /// looks).
    pub fn to_png(&self, scale: u32) -> Vec<u8> {
        let scale = scale.max(1);
        let img = image::GrayImage::from_fn(WIDTH * scale, HEIGHT * scale, |x, y| {
            image::Luma([if self.get(x / scale, y / scale) {
                255
            } else {
                0
            }])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("encoding a PNG in memory cannot fail");
        out.into_inner()
    }

    /// Reads a frame back from a PNG written by [`to_png`](Self::to_png) at `scale`. `None`
    /// when the PNG is not such a frame.
    pub fn from_png(bytes: &[u8], scale: u32) -> Option<Self> {
        let img = image::load_from_memory(bytes).ok()?.to_luma8();
        if img.dimensions() != (WIDTH * scale, HEIGHT * scale) {
            return None;
        }
        let mut c = Canvas::default();
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                c.pixels[(y * WIDTH + x) as usize] = img.get_pixel(x * scale, y * scale).0[0] > 127;
            }
        }
        Some(c)
    }

    /// The frame in Unicode half blocks: one character per column, two pixel rows per line
    /// (32 lines of 128 characters), framed so the dark edges show.
    pub fn to_half_blocks(&self) -> String {
        let mut out = String::with_capacity(((WIDTH + 3) * (HEIGHT / 2 + 2) * 3) as usize);
        let rule: String = "\u{2500}".repeat(WIDTH as usize);
        out.push('\u{250c}');
        out.push_str(&rule);
        out.push_str("\u{2510}\n");
        for row in 0..HEIGHT / 2 {
            out.push('\u{2502}');
            for x in 0..WIDTH {
                out.push(match (self.get(x, row * 2), self.get(x, row * 2 + 1)) {
                    (false, false) => ' ',
                    (true, false) => '\u{2580}',
                    (false, true) => '\u{2584}',
                    (true, true) => '\u{2588}',
                });
            }
            out.push_str("\u{2502}\n");
        }
        out.push('\u{2514}');
        out.push_str(&rule);
        out.push_str("\u{2518}\n");
        out
    }

    /// Reads back one frame written by [`to_half_blocks`](Self::to_half_blocks) (its 34
    /// lines, frame included). `None` when the text is not such a frame.
    pub fn from_half_blocks(text: &str) -> Option<Self> {
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() != (HEIGHT / 2 + 2) as usize {
            return None;
        }
        let mut c = Canvas::default();
        for (row, line) in lines[1..lines.len() - 1].iter().enumerate() {
            let cells: Vec<char> = line.chars().collect();
            if cells.len() != WIDTH as usize + 2 {
                return None;
            }
            for (x, cell) in cells[1..=WIDTH as usize].iter().enumerate() {
                let (top, bottom) = match cell {
                    ' ' => (false, false),
                    '\u{2580}' => (true, false),
                    '\u{2584}' => (false, true),
                    '\u{2588}' => (true, true),
                    _ => return None,
                };
                let i = row * 2 * WIDTH as usize + x;
                c.pixels[i] = top;
                c.pixels[i + WIDTH as usize] = bottom;
            }
        }
        Some(c)
    }

    /// Pixels that differ from `other` (for snapshot failure messages).
    pub fn diff_count(&self, other: &Canvas) -> usize {
        self.pixels
            .iter()
            .zip(&other.pixels)
            .filter(|(a, b)| a != b)
            .count()
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(WIDTH, HEIGHT)
    }
}

impl DrawTarget for Canvas {
    type Color = BinaryColor;
    type Error = std::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, c) in pixels {
            // Clip: text and shapes may reach past the edge.
            if let (Ok(x), Ok(y)) = (u32::try_from(p.x), u32::try_from(p.y)) {
                if x < WIDTH && y < HEIGHT {
                    self.pixels[(y * WIDTH + x) as usize] = c.is_on();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::prelude::Point;

    #[test]
    fn png_round_trips() {
        let mut c = Canvas::default();
        c.draw_iter([
            Pixel(Point::new(0, 0), BinaryColor::On),
            Pixel(Point::new(127, 63), BinaryColor::On),
            Pixel(Point::new(500, 3), BinaryColor::On),
        ])
        .unwrap();
        for scale in [1, 3] {
            let back = Canvas::from_png(&c.to_png(scale), scale).unwrap();
            assert_eq!(back, c);
        }
        assert!(Canvas::from_png(&c.to_png(2), 3).is_none());
    }

    #[test]
    fn half_blocks_pair_rows() {
        let mut c = Canvas::default();
        c.draw_iter([
            Pixel(Point::new(0, 0), BinaryColor::On),
            Pixel(Point::new(1, 1), BinaryColor::On),
            Pixel(Point::new(2, 0), BinaryColor::On),
            Pixel(Point::new(2, 1), BinaryColor::On),
        ])
        .unwrap();
        let text = c.to_half_blocks();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 34);
        assert!(lines[1].starts_with("\u{2502}\u{2580}\u{2584}\u{2588} "));
        assert_eq!(lines[1].chars().count(), 130);
        assert_eq!(Canvas::from_half_blocks(&text), Some(c));
        assert_eq!(Canvas::from_half_blocks("not a frame"), None);
    }
}
