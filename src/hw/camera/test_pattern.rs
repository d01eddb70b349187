//! The test pattern: generated frames (colour bars, shot counter, time) for demos and tests.

use super::preview::{Pull, Pulled, PREVIEW_WIDTH};
use super::{Camera, CaptureError, Context, Frame};
use crate::config::CameraConfig;
use embedded_graphics::mono_font::{ascii::FONT_10X20, MonoTextStyle};
use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Point, Size};
use embedded_graphics::text::{Baseline, Text};
use embedded_graphics::{Drawable, Pixel};
use image::{Rgb, RgbImage};

/// Largest test-pattern side: keeps a typo in the config from allocating gigabytes.
pub const MAX_PATTERN_SIDE: u32 = 8192;

/// The test pattern at `camera.width` x `camera.height`; its preview is drawn at preview size.
pub fn open(cfg: &CameraConfig, ctx: Context) -> Result<Box<dyn Camera>, CaptureError> {
    let camera = TestPattern::new(cfg.width, cfg.height)?;
    ctx.preview.set_pull(camera.preview_pull());
    Ok(Box::new(camera))
}

/// Generated frames: colour bars, a gradient, and a big "#n" and HH:MM:SS label, so every shot
/// is different (different bytes, different sha256) and recognisable on Instagram.
pub struct TestPattern {
    width: u32,
    height: u32,
    shots: u64,
}

impl TestPattern {
    pub fn new(width: u32, height: u32) -> Result<Self, CaptureError> {
        if !(1..=MAX_PATTERN_SIDE).contains(&width) || !(1..=MAX_PATTERN_SIDE).contains(&height) {
            return Err(CaptureError::BadSize { width, height });
        }
        Ok(Self {
            width,
            height,
            shots: 0,
        })
    }

    /// Draws shot `n` with the time label `clock` (pure, for tests).
    fn render(&self, n: u64, clock: &str) -> RgbImage {
        let (w, h) = (self.width, self.height);
        let mut frame = bars(w, h);
        // Text is drawn small with a bitmap font, then scaled up nearest-neighbour: crisp,
        // large, and no font rasteriser needed.
        let label = Canvas::label(&[&format!("#{n}"), clock]);
        let (lw, lh) = label.0.dimensions();
        let scale = (w * 3 / 5 / lw).min(h / 2 / lh).max(1);
        let (x0, y0) = (
            (w.saturating_sub(lw * scale)) / 2,
            (h.saturating_sub(lh * scale)) / 2,
        );
        for y in 0..(lh * scale).min(h) {
            for x in 0..(lw * scale).min(w) {
                let p = *label.0.get_pixel(x / scale, y / scale);
                frame.put_pixel(x0 + x, y0 + y, p);
            }
        }
        frame
    }
}

impl TestPattern {
    /// Preview frames: the pattern drawn at preview size, with a running frame number.
    fn preview_pull(&self) -> Pull {
        let height = (u64::from(self.height) * u64::from(PREVIEW_WIDTH) / u64::from(self.width))
            .clamp(1, u64::from(MAX_PATTERN_SIDE)) as u32;
        let small = TestPattern {
            width: PREVIEW_WIDTH,
            height,
            shots: 0,
        };
        let mut n = 0;
        Box::new(move || {
            n += 1;
            Pulled::Frame(Frame::Rgb(small.render(n, &local_hms())))
        })
    }
}

impl Camera for TestPattern {
    fn capture(&mut self) -> Result<Frame, CaptureError> {
        self.shots += 1;
        let mut frame = self.render(self.shots, &local_hms());
        // The counter restarts with the process and the clock has one-second steps: a random
        // corner patch keeps two shots from ever being the same image (same sha256), as two
        // real photos never are.
        let [r, g, b, _] = rand::random::<u32>().to_le_bytes();
        let side = 16.min(self.width).min(self.height);
        for y in self.height - side..self.height {
            for x in self.width - side..self.width {
                frame.put_pixel(x, y, Rgb([r, g, b]));
            }
        }
        Ok(Frame::Rgb(frame))
    }

    fn commit(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }

    fn describe(&self) -> String {
        format!("test pattern {}x{}", self.width, self.height)
    }
}

/// Seven colour bars over the top two thirds, a grey ramp below.
fn bars(w: u32, h: u32) -> RgbImage {
    const BARS: [[u8; 3]; 7] = [
        [192, 192, 192],
        [192, 192, 0],
        [0, 192, 192],
        [0, 192, 0],
        [192, 0, 192],
        [192, 0, 0],
        [0, 0, 192],
    ];
    let split = h * 2 / 3;
    RgbImage::from_fn(w, h, |x, y| {
        if y < split {
            Rgb(BARS[(x as usize * BARS.len()) / w as usize])
        } else {
            let v = (u64::from(x) * 255 / u64::from(w.max(2) - 1)) as u8;
            Rgb([v, v, v])
        }
    })
}

/// A small RGB canvas that embedded-graphics can draw on.
struct Canvas(RgbImage);

impl Canvas {
    /// White text lines on a black panel with a one-character margin.
    fn label(lines: &[&str]) -> Self {
        let font = &FONT_10X20;
        let (cw, ch) = (font.character_size.width, font.character_size.height);
        let cols = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
        let w = (cols + 2) * cw;
        let h = (lines.len() as u32) * ch + ch;
        let mut canvas = Canvas(RgbImage::new(w, h));
        let style = MonoTextStyle::new(font, Rgb888::WHITE);
        for (i, line) in lines.iter().enumerate() {
            // Centre each line in the panel.
            let lx = (w - line.chars().count() as u32 * cw) / 2;
            let pos = Point::new(lx as i32, (ch / 2 + i as u32 * ch) as i32);
            // Drawing on an in-memory canvas cannot fail (Error = Infallible).
            let _ = Text::with_baseline(line, pos, style, Baseline::Top).draw(&mut canvas);
        }
        canvas
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let (w, h) = self.0.dimensions();
        for Pixel(p, c) in pixels {
            // embedded-graphics may hand out pixels outside the canvas; clip them.
            if let (Ok(x), Ok(y)) = (u32::try_from(p.x), u32::try_from(p.y)) {
                if x < w && y < h {
                    self.0.put_pixel(x, y, Rgb([c.r(), c.g(), c.b()]));
                }
            }
        }
        Ok(())
    }
}

/// HH:MM:SS in the booth's local time.
fn local_hms() -> String {
    let t = crate::clock::now();
    format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb(frame: Frame) -> RgbImage {
        match frame {
            Frame::Rgb(img) => img,
            other => panic!("expected pixels, got {other:?}"),
        }
    }

    #[test]
    fn test_pattern_has_the_size_and_differs_per_shot() {
        let cfg = super::super::test_config(crate::config::CameraKind::TestPattern, "/x".as_ref());
        let mut cam = open(&cfg, Context::quiet()).unwrap();
        assert_eq!(cam.describe(), "test pattern 1920x1080");
        let a = rgb(cam.capture().unwrap());
        let b = rgb(cam.capture().unwrap());
        assert_eq!(a.dimensions(), (1920, 1080));
        assert_eq!(b.dimensions(), (1920, 1080));
        assert_ne!(a.as_raw(), b.as_raw());
        cam.commit().unwrap();
    }

    #[test]
    fn test_pattern_text_is_large_and_visible() {
        let cam = TestPattern::new(1920, 1080).unwrap();
        let a = cam.render(7, "12:34:56");
        let b = cam.render(8, "12:34:56");
        // The counter alone changes a large area: at least the glyph difference times scale².
        let changed = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
        assert!(changed > 2_000, "only {changed} pixels differ");
        // White text pixels exist in the centre panel.
        let white = a.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert!(white > 10_000, "{white} white pixels");
    }

    #[test]
    fn test_pattern_handles_odd_sizes() {
        for (w, h) in [(1, 1), (16, 9), (64, 64), (640, 480), (100, 2000)] {
            let mut cam = TestPattern::new(w, h).unwrap();
            assert_eq!(rgb(cam.capture().unwrap()).dimensions(), (w, h));
        }
        assert!(matches!(
            TestPattern::new(0, 1080),
            Err(CaptureError::BadSize { .. })
        ));
        assert!(matches!(
            TestPattern::new(100_000, 1080),
            Err(CaptureError::BadSize { .. })
        ));
    }

    #[test]
    fn local_time_is_hh_mm_ss() {
        let t = local_hms();
        assert_eq!(t.len(), 8, "{t}");
        assert_eq!(&t[2..3], ":");
        assert_eq!(&t[5..6], ":");
    }
}
