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

/// Where each of a Braille cell's eight dots sits in its 2×4 pixels, in Unicode's bit order
/// (dots 1-3 down the left, 4-6 down the right, then 7 and 8 on the bottom row).
const BRAILLE_DOTS: [(u32, u32); 8] = [
    (0, 0),
    (0, 1),
    (0, 2),
    (1, 0),
    (1, 1),
    (1, 2),
    (0, 3),
    (1, 3),
];

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

    /// The frame in Unicode Braille patterns: one character holds 2×4 pixels exactly (16
    /// lines of 64 characters), framed so the dark edges show. 66 columns and 18 lines fit a
    /// default 80×24 terminal and keep the OLED's proportions (terminal cells are about twice
    /// as tall as wide); half blocks needed 130 columns and wrapped into garbage.
    pub fn to_braille(&self) -> String {
        let (cols, rows) = (WIDTH / 2, HEIGHT / 4);
        let mut out = String::with_capacity(((cols + 3) * (rows + 2) * 3) as usize);
        let rule: String = "\u{2500}".repeat(cols as usize);
        out.push('\u{250c}');
        out.push_str(&rule);
        out.push_str("\u{2510}\n");
        for row in 0..rows {
            out.push('\u{2502}');
            for col in 0..cols {
                let mut dots = 0u32;
                for (bit, (dx, dy)) in BRAILLE_DOTS.iter().enumerate() {
                    if self.get(col * 2 + dx, row * 4 + dy) {
                        dots |= 1 << bit;
                    }
                }
                // An empty cell is a plain space, so a frame copies well as text.
                out.push(match dots {
                    0 => ' ',
                    d => char::from_u32(0x2800 + d).expect("Braille patterns are chars"),
                });
            }
            out.push_str("\u{2502}\n");
        }
        out.push('\u{2514}');
        out.push_str(&rule);
        out.push_str("\u{2518}\n");
        out
    }

    /// Reads back one frame written by [`to_braille`](Self::to_braille) (its 18 lines, frame
    /// included). `None` when the text is not such a frame.
    pub fn from_braille(text: &str) -> Option<Self> {
        let (cols, rows) = (WIDTH / 2, HEIGHT / 4);
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() != rows as usize + 2 {
            return None;
        }
        let mut c = Canvas::default();
        for (row, line) in lines[1..lines.len() - 1].iter().enumerate() {
            let cells: Vec<char> = line.chars().collect();
            if cells.len() != cols as usize + 2 {
                return None;
            }
            for (col, cell) in cells[1..=cols as usize].iter().enumerate() {
                let dots = match *cell {
                    ' ' => 0,
                    ch @ '\u{2800}'..='\u{28ff}' => ch as u32 - 0x2800,
                    _ => return None,
                };
                for (bit, (dx, dy)) in BRAILLE_DOTS.iter().enumerate() {
                    let (x, y) = (col as u32 * 2 + dx, row as u32 * 4 + dy);
                    c.pixels[(y * WIDTH + x) as usize] = dots & (1 << bit) != 0;
                }
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
    fn braille_cells_hold_two_by_four_pixels_and_fit_80_columns() {
        let mut c = Canvas::default();
        // Cell 0: dot 1 (0,0) and dot 8 (1,3); cell 1: dot 4 (3,0); cell 2: all eight.
        let mut on = vec![Point::new(0, 0), Point::new(1, 3), Point::new(3, 0)];
        for y in 0..4 {
            on.extend([Point::new(4, y), Point::new(5, y)]);
        }
        c.draw_iter(on.into_iter().map(|p| Pixel(p, BinaryColor::On)))
            .unwrap();
        let text = c.to_braille();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 18);
        assert!(
            lines[1].starts_with("\u{2502}\u{2881}\u{2808}\u{28ff} "),
            "{}",
            lines[1]
        );
        assert!(lines.iter().all(|l| l.chars().count() == 66));
        assert_eq!(Canvas::from_braille(&text), Some(c));
        assert_eq!(Canvas::from_braille("not a frame"), None);
    }
}
