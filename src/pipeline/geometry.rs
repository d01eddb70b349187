//! Where each output pixel comes from: which part of the source is shown, how large the output
//! is, and where the shown part lands (centre crop, or fitted inside a padded canvas). Pure
//! integer maths, so Instagram's width and aspect rules hold by construction.
//!
//! Everything here is in display coordinates (after EXIF orientation); [`Orientation`] maps a
//! rectangle back to the stored pixels, so the expensive resize reads the source as stored and
//! only the small output is turned.

use super::compliance::{MAX_ASPECT, MAX_WIDTH, MIN_ASPECT, MIN_WIDTH};

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn full(w: u32, h: u32) -> Self {
        Self { x: 0, y: 0, w, h }
    }
}

/// How a photo outside the allowed aspect ratios is brought inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fit {
    /// Cut the long side, centred (nothing added, a little lost).
    #[default]
    Crop,
    /// Keep the whole photo and fill the rest of the canvas with this RGB colour.
    Pad([u8; 3]),
}

/// An inclusive range of width:height ratios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AspectRange {
    /// The narrowest ratio (width, height).
    pub min: (u32, u32),
    /// The widest ratio (width, height).
    pub max: (u32, u32),
}

/// Instagram feed photos: 4:5 ..= 1.91:1.
pub const FEED: AspectRange = AspectRange {
    min: MIN_ASPECT,
    max: MAX_ASPECT,
};
/// Instagram Stories: exactly 9:16, shown at 1080x1920.
pub const STORY: AspectRange = AspectRange {
    min: (9, 16),
    max: (9, 16),
};
pub const STORY_SIZE: (u32, u32) = (1080, 1920);

impl AspectRange {
    /// Is `w x h` inside the range? Integer maths, so the edges are exact.
    pub fn contains(&self, w: u32, h: u32) -> bool {
        let (w, h) = (u64::from(w), u64::from(h));
        h > 0 && !self.too_tall(w, h) && !self.too_wide(w, h)
    }
    fn too_tall(&self, w: u64, h: u64) -> bool {
        w * u64::from(self.min.1) < h * u64::from(self.min.0)
    }
    fn too_wide(&self, w: u64, h: u64) -> bool {
        w * u64::from(self.max.1) > h * u64::from(self.max.0)
    }
}

/// What to draw: `crop` of the (display-oriented) source, resized to `inner`'s size and put at
/// `inner`'s position on an `out`-sized canvas. When cropping, `inner` is the whole canvas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub crop: Rect,
    pub out: (u32, u32),
    pub inner: Rect,
}

/// The centred crop that brings `width x height` inside `range`, or the whole image if it is.
/// Rounds the kept side down, which keeps the result inside.
pub fn crop_rect_in(width: u32, height: u32, range: &AspectRange) -> Rect {
    let (w, h) = (u64::from(width), u64::from(height));
    if width == 0 || height == 0 || range.contains(width, height) {
        return Rect::full(width, height);
    }
    if range.too_tall(w, h) {
        // Keep the full width; the tallest allowed height.
        let keep = (w * u64::from(range.min.1) / u64::from(range.min.0)).max(1) as u32;
        Rect {
            x: 0,
            y: (height - keep) / 2,
            w: width,
            h: keep,
        }
    } else {
        let keep = (h * u64::from(range.max.0) / u64::from(range.max.1)).max(1) as u32;
        Rect {
            x: (width - keep) / 2,
            y: 0,
            w: keep,
            h: height,
        }
    }
}

/// Feed output width for a source (or canvas) `width` px wide when `wanted` is asked for: never
/// wider than the source (upscaling adds bytes, not detail), except that a source under 320 px
/// is scaled up to Instagram's minimum.
fn feed_width(width: u32, wanted: u32) -> u32 {
    let wanted = wanted.clamp(MIN_WIDTH, MAX_WIDTH);
    if width < MIN_WIDTH {
        MIN_WIDTH
    } else {
        wanted.min(width)
    }
}

/// Feed output size for an in-aspect image of `width x height`: the height follows the aspect
/// ratio, nudged by at most one pixel of rounding so the result stays inside 4:5 ..= 1.91:1.
pub fn target_size(width: u32, height: u32, wanted: u32) -> (u32, u32) {
    let out_w = feed_width(width, wanted);
    let (ow, w, h) = (u64::from(out_w), u64::from(width.max(1)), u64::from(height));
    let rounded = (ow * h + w / 2) / w;
    // Inclusive bounds for the height at this width: w/h <= 1.91 and w/h >= 4/5.
    let min_h = (ow * u64::from(MAX_ASPECT.1)).div_ceil(u64::from(MAX_ASPECT.0));
    let max_h = ow * u64::from(MIN_ASPECT.1) / u64::from(MIN_ASPECT.0);
    (out_w, rounded.clamp(min_h, max_h) as u32)
}

/// `n * num / den` rounded, at least 1 and at most `max`.
fn scaled(n: u32, num: u32, den: u32, max: u32) -> u32 {
    let v = (u64::from(n) * u64::from(num) + u64::from(den) / 2) / u64::from(den.max(1));
    (v as u32).clamp(1, max.max(1))
}

/// The image fitted inside an `out` canvas, centred.
pub fn fitted(width: u32, height: u32, out: (u32, u32)) -> Rect {
    let (ow, oh) = out;
    // Compare aspect ratios: is the image relatively wider than the canvas?
    let (iw, ih) = if u64::from(width) * u64::from(oh) >= u64::from(height) * u64::from(ow) {
        (ow, scaled(height, ow, width, oh))
    } else {
        (scaled(width, oh, height, ow), oh)
    };
    Rect {
        x: (ow - iw) / 2,
        y: (oh - ih) / 2,
        w: iw,
        h: ih,
    }
}

/// Layout of a feed photo `wanted` px wide from a `width x height` (display) source.
pub fn feed_layout(width: u32, height: u32, wanted: u32, fit: Fit) -> Layout {
    if matches!(fit, Fit::Crop) || FEED.contains(width, height) || width == 0 || height == 0 {
        let crop = crop_rect_in(width, height, &FEED);
        let out = target_size(crop.w, crop.h, wanted);
        return Layout {
            crop,
            out,
            inner: Rect::full(out.0, out.1),
        };
    }
    let (w, h) = (u64::from(width), u64::from(height));
    let out = if FEED.too_tall(w, h) {
        // A 4:5 canvas as tall as the photo; its width decides the output width.
        let canvas_w = (h * u64::from(MIN_ASPECT.0)).div_ceil(u64::from(MIN_ASPECT.1)) as u32;
        let ow = feed_width(canvas_w, wanted);
        (ow, ow * MIN_ASPECT.1 / MIN_ASPECT.0)
    } else {
        let ow = feed_width(width, wanted);
        let oh = (u64::from(ow) * u64::from(MAX_ASPECT.1)).div_ceil(u64::from(MAX_ASPECT.0));
        (ow, oh as u32)
    };
    Layout {
        crop: Rect::full(width, height),
        out,
        inner: fitted(width, height, out),
    }
}

/// Layout of a 1080x1920 Stories image from a `width x height` (display) source.
pub fn story_layout(width: u32, height: u32, fit: Fit) -> Layout {
    let out = STORY_SIZE;
    match fit {
        Fit::Crop => Layout {
            crop: crop_rect_in(width, height, &STORY),
            out,
            inner: Rect::full(out.0, out.1),
        },
        Fit::Pad(_) => Layout {
            crop: Rect::full(width, height),
            out,
            inner: fitted(width, height, out),
        },
    }
}

/// EXIF orientation (1..=8): how the stored pixels must be turned to be seen upright.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Orientation(u8);

impl Default for Orientation {
    fn default() -> Self {
        Self::UPRIGHT
    }
}

impl Orientation {
    pub const UPRIGHT: Self = Self(1);

    /// The EXIF value; anything outside 1..=8 (a broken tag) is treated as upright.
    pub fn from_exif(v: u16) -> Self {
        if (1..=8).contains(&v) {
            Self(v as u8)
        } else {
            Self::UPRIGHT
        }
    }

    pub fn exif(self) -> u8 {
        self.0
    }

    /// Do width and height swap (the 90° and 270° cases)?
    pub fn swaps(self) -> bool {
        self.0 >= 5
    }

    /// Display size of a stored `w x h` image.
    pub fn display_size(self, w: u32, h: u32) -> (u32, u32) {
        if self.swaps() {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// The stored pixel shown at display position (dx, dy), for a stored `sw x sh` image.
    #[inline]
    pub fn stored_pixel(self, dx: u32, dy: u32, sw: u32, sh: u32) -> (u32, u32) {
        match self.0 {
            2 => (sw - 1 - dx, dy),
            3 => (sw - 1 - dx, sh - 1 - dy),
            4 => (dx, sh - 1 - dy),
            // Transpose.
            5 => (dy, dx),
            // Stored image turned 90° clockwise for display.
            6 => (dy, sh - 1 - dx),
            // Transverse.
            7 => (sw - 1 - dy, sh - 1 - dx),
            // Turned 90° anticlockwise.
            8 => (sw - 1 - dy, dx),
            _ => (dx, dy),
        }
    }

    /// The stored rectangle shown as display rectangle `r`, for a stored `sw x sh` image.
    pub fn stored_rect(self, r: Rect, sw: u32, sh: u32) -> Rect {
        // Map two opposite corners and take the box around them.
        let (ax, ay) = self.stored_pixel(r.x, r.y, sw, sh);
        let (bx, by) = self.stored_pixel(r.x + r.w - 1, r.y + r.h - 1, sw, sh);
        Rect {
            x: ax.min(bx),
            y: ay.min(by),
            w: ax.abs_diff(bx) + 1,
            h: ay.abs_diff(by) + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::compliance::aspect_ok;

    #[test]
    fn crop_matches_the_range() {
        assert_eq!(crop_rect_in(1920, 1080, &FEED), Rect::full(1920, 1080));
        assert_eq!(
            crop_rect_in(3000, 1000, &FEED),
            Rect {
                x: 545,
                y: 0,
                w: 1910,
                h: 1000
            }
        );
        assert_eq!(
            crop_rect_in(1920, 1080, &STORY),
            Rect {
                x: 656,
                y: 0,
                w: 607,
                h: 1080
            }
        );
        assert_eq!(
            crop_rect_in(1080, 3000, &STORY),
            Rect {
                x: 0,
                y: 540,
                w: 1080,
                h: 1920
            }
        );
    }

    #[test]
    fn pad_keeps_the_whole_photo_inside_a_compliant_canvas() {
        // A tall 1:3 strip: 4:5 canvas, photo centred at full canvas height.
        let l = feed_layout(1000, 3000, 1080, Fit::Pad([0; 3]));
        assert_eq!(l.crop, Rect::full(1000, 3000));
        assert!(aspect_ok(l.out.0, l.out.1), "{l:?}");
        assert_eq!(l.out, (1080, 1350));
        assert_eq!(
            l.inner,
            Rect {
                x: 315,
                y: 0,
                w: 450,
                h: 1350
            }
        );
        // A wide 4:1 panorama: 1.91:1 canvas, photo across the full width.
        let l = feed_layout(4000, 1000, 1080, Fit::Pad([0; 3]));
        assert!(aspect_ok(l.out.0, l.out.1), "{l:?}");
        assert_eq!(l.out, (1080, 566));
        assert_eq!((l.inner.w, l.inner.h, l.inner.x), (1080, 270, 0));
        assert_eq!(l.inner.y, (566 - 270) / 2);
        // In range: padding changes nothing.
        assert_eq!(
            feed_layout(1920, 1080, 1080, Fit::Pad([0; 3])),
            feed_layout(1920, 1080, 1080, Fit::Crop)
        );
        // Extremes still give a compliant canvas and a visible photo.
        for (w, h) in [(1, 10_000), (10_000, 1), (64, 64), (100, 8000), (8000, 100)] {
            for fit in [Fit::Crop, Fit::Pad([1, 2, 3])] {
                let l = feed_layout(w, h, 1080, fit);
                assert!(aspect_ok(l.out.0, l.out.1), "{w}x{h} {fit:?}: {l:?}");
                assert!((320..=1440).contains(&l.out.0));
                assert!(l.inner.w >= 1 && l.inner.h >= 1);
                assert!(l.inner.x + l.inner.w <= l.out.0 && l.inner.y + l.inner.h <= l.out.1);
            }
        }
    }

    #[test]
    fn story_is_1080x1920_either_way() {
        for (w, h) in [
            (1920, 1080),
            (1080, 1920),
            (4056, 3040),
            (1, 10_000),
            (100, 100),
        ] {
            for fit in [Fit::Crop, Fit::Pad([0; 3])] {
                let l = story_layout(w, h, fit);
                assert_eq!(l.out, (1080, 1920));
                assert!(l.crop.x + l.crop.w <= w && l.crop.y + l.crop.h <= h);
                assert!(l.inner.x + l.inner.w <= 1080 && l.inner.y + l.inner.h <= 1920);
            }
        }
        let l = story_layout(1920, 1080, Fit::Pad([0; 3]));
        assert_eq!(
            l.inner,
            Rect {
                x: 0,
                y: 656,
                w: 1080,
                h: 608
            }
        );
    }

    #[test]
    fn orientation_maps_display_pixels_back_to_the_stored_ones() {
        // A stored 3x2 image with pixels numbered row by row, and how each orientation shows it
        // (EXIF spec: the displayed image, row by row).
        let shown: [(u16, &[&[u32]]); 8] = [
            (1, &[&[0, 1, 2], &[3, 4, 5]]),
            (2, &[&[2, 1, 0], &[5, 4, 3]]),
            (3, &[&[5, 4, 3], &[2, 1, 0]]),
            (4, &[&[3, 4, 5], &[0, 1, 2]]),
            (5, &[&[0, 3], &[1, 4], &[2, 5]]),
            (6, &[&[3, 0], &[4, 1], &[5, 2]]),
            (7, &[&[5, 2], &[4, 1], &[3, 0]]),
            (8, &[&[2, 5], &[1, 4], &[0, 3]]),
        ];
        for (v, rows) in shown {
            let o = Orientation::from_exif(v);
            let (dw, dh) = o.display_size(3, 2);
            assert_eq!((dw as usize, dh as usize), (rows[0].len(), rows.len()));
            for (dy, row) in rows.iter().enumerate() {
                for (dx, &want) in row.iter().enumerate() {
                    let (sx, sy) = o.stored_pixel(dx as u32, dy as u32, 3, 2);
                    assert_eq!(sy * 3 + sx, want, "orientation {v} at ({dx},{dy})");
                }
            }
            let all = o.stored_rect(Rect::full(dw, dh), 3, 2);
            assert_eq!(all, Rect::full(3, 2), "orientation {v}");
        }
        assert_eq!(Orientation::from_exif(0), Orientation::UPRIGHT);
        assert_eq!(Orientation::from_exif(9), Orientation::UPRIGHT);
    }
}
