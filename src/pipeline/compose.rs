//! The output canvas: the resized photo placed on it (padding with a colour where the layout
//! says so), mirrored for a selfie view, and a branded overlay (PNG with alpha) on top.
//! Works in whichever colour model the photo arrived in (RGB or YCbCr): alpha blending is
//! linear and the JFIF RGB↔YCbCr transform is affine, so blending in YCbCr gives the same
//! picture without converting the photo.

use super::decode::Space;
use super::encode::EncodeError;
use super::geometry::{fitted, Fit, Layout, Rect};
use super::resize::{resize, Area};
use super::yuv::rgb_to_ycbcr;
use fast_image_resize::PixelType;
use std::path::Path;

/// 3 bytes a pixel, ready for the JPEG encoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canvas {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub space: Space,
}

/// A frame or logo drawn over every photo, stretched to the photo's size (draw it at the
/// output's aspect ratio, e.g. 1080x1350 for 4:5 portraits). On the 9:16 Story it keeps its
/// own aspect ratio, centred.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlay {
    rgba: Vec<u8>,
    width: u32,
    height: u32,
}

/// Largest overlay side: a booth frame is output-sized, a bigger file is a mistake.
const MAX_OVERLAY_SIDE: u32 = 8192;

impl Overlay {
    /// Reads a PNG (or JPEG, without transparency) overlay file.
    pub fn load(path: &Path) -> Result<Self, EncodeError> {
        let bad = |why: String| EncodeError::Overlay {
            path: path.to_path_buf(),
            why,
        };
        let img = image::ImageReader::open(path)
            .map_err(|e| bad(e.to_string()))?
            .with_guessed_format()
            .map_err(|e| bad(e.to_string()))?
            .decode()
            .map_err(|e| bad(e.to_string()))?;
        if img.width() > MAX_OVERLAY_SIDE || img.height() > MAX_OVERLAY_SIDE {
            return Err(bad(format!(
                "it is {}x{} pixels; make it the output size (e.g. 1080x1350)",
                img.width(),
                img.height()
            )));
        }
        Ok(Self::from_rgba(img.into_rgba8()))
    }

    pub fn from_rgba(img: image::RgbaImage) -> Self {
        Self {
            width: img.width(),
            height: img.height(),
            rgba: img.into_raw(),
        }
    }

    /// Blends the overlay, stretched to the canvas, over it.
    pub fn apply(&self, canvas: &mut Canvas) {
        self.apply_in(canvas, Rect::full(canvas.width, canvas.height));
    }

    /// Blends the overlay over the canvas at its own aspect ratio, as large as fits and
    /// centred: for the 9:16 Story, whose shape is not the one a feed overlay was drawn for
    /// (stretched, a round logo would be an egg).
    pub fn apply_fitted(&self, canvas: &mut Canvas) {
        let r = fitted(self.width, self.height, (canvas.width, canvas.height));
        self.apply_in(canvas, r);
    }

    /// Blends the overlay, resized to `r`, over that part of the canvas.
    fn apply_in(&self, canvas: &mut Canvas, r: Rect) {
        let scaled;
        let rgba = if (self.width, self.height) == (r.w, r.h) {
            &self.rgba
        } else {
            scaled = resize(
                &self.rgba,
                (self.width, self.height),
                PixelType::U8x4,
                Area {
                    x: 0.0,
                    y: 0.0,
                    w: f64::from(self.width),
                    h: f64::from(self.height),
                },
                (r.w, r.h),
            );
            &scaled
        };
        let (row, cw) = (r.w as usize * 4, canvas.width as usize);
        for (y, src_row) in rgba.chunks_exact(row).enumerate() {
            let at = ((r.y as usize + y) * cw + r.x as usize) * 3;
            let dst_row = &mut canvas.data[at..at + r.w as usize * 3];
            for (dst, src) in dst_row.chunks_exact_mut(3).zip(src_row.chunks_exact(4)) {
                let a = u32::from(src[3]);
                if a == 0 {
                    continue;
                }
                let colour = match canvas.space {
                    Space::Rgb => [src[0], src[1], src[2]],
                    Space::Ycbcr => rgb_to_ycbcr([src[0], src[1], src[2]]),
                };
                for (d, s) in dst.iter_mut().zip(colour) {
                    *d = ((u32::from(s) * a + u32::from(*d) * (255 - a) + 127) / 255) as u8;
                }
            }
        }
    }
}

/// Places `inner` (the resized photo, `layout.inner` sized, upright) on the output canvas.
pub fn place(inner: Vec<u8>, space: Space, layout: &Layout, fit: Fit) -> Canvas {
    let (ow, oh) = layout.out;
    let r = layout.inner;
    if (r.x, r.y, r.w, r.h) == (0, 0, ow, oh) {
        return Canvas {
            data: inner,
            width: ow,
            height: oh,
            space,
        };
    }
    let rgb = match fit {
        Fit::Pad(c) => c,
        Fit::Crop => [0, 0, 0],
    };
    let colour = match space {
        Space::Rgb => rgb,
        Space::Ycbcr => rgb_to_ycbcr(rgb),
    };
    let mut data = Vec::with_capacity((ow * oh * 3) as usize);
    for _ in 0..ow * oh {
        data.extend_from_slice(&colour);
    }
    let row = (r.w * 3) as usize;
    for (y, src) in inner.chunks_exact(row).enumerate() {
        let at = (((r.y + y as u32) * ow + r.x) * 3) as usize;
        data[at..at + row].copy_from_slice(src);
    }
    Canvas {
        data,
        width: ow,
        height: oh,
        space,
    }
}

/// Mirrors the canvas left to right (what a selfie screen shows).
pub fn mirror(canvas: &mut Canvas) {
    let row = (canvas.width * 3) as usize;
    for line in canvas.data.chunks_exact_mut(row) {
        let n = canvas.width as usize;
        for x in 0..n / 2 {
            let (a, b) = (x * 3, (n - 1 - x) * 3);
            for c in 0..3 {
                line.swap(a + c, b + c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::geometry::Rect;

    #[test]
    fn pad_fills_around_the_photo() {
        let layout = Layout {
            crop: Rect::full(2, 1),
            out: (4, 2),
            inner: Rect {
                x: 1,
                y: 1,
                w: 2,
                h: 1,
            },
        };
        let c = place(vec![9; 6], Space::Rgb, &layout, Fit::Pad([1, 2, 3]));
        let px: Vec<&[u8]> = c.data.chunks(3).collect();
        assert_eq!(px[0], [1, 2, 3]);
        assert_eq!(px[5], [9, 9, 9]);
        assert_eq!(px[6], [9, 9, 9]);
        assert_eq!(px[7], [1, 2, 3]);
        // In YCbCr the pad colour is converted: white stays white.
        let c = place(vec![9; 6], Space::Ycbcr, &layout, Fit::Pad([255; 3]));
        assert_eq!(&c.data[..3], [255, 128, 128]);
    }

    #[test]
    fn mirror_swaps_left_and_right() {
        let mut c = Canvas {
            data: vec![1, 1, 1, 2, 2, 2, 3, 3, 3],
            width: 3,
            height: 1,
            space: Space::Rgb,
        };
        mirror(&mut c);
        assert_eq!(c.data, [3, 3, 3, 2, 2, 2, 1, 1, 1]);
    }

    #[test]
    fn overlay_blends_by_alpha_in_either_space() {
        let mut ov = image::RgbaImage::new(2, 1);
        ov.put_pixel(0, 0, image::Rgba([255, 0, 0, 255])); // opaque red
        ov.put_pixel(1, 0, image::Rgba([255, 255, 255, 0])); // transparent
        let ov = Overlay::from_rgba(ov);
        let mut rgb = Canvas {
            data: vec![0, 0, 200, 0, 0, 200],
            width: 2,
            height: 1,
            space: Space::Rgb,
        };
        ov.apply(&mut rgb);
        assert_eq!(rgb.data, [255, 0, 0, 0, 0, 200]);
        let blue = rgb_to_ycbcr([0, 0, 200]);
        let mut ycc = Canvas {
            data: [blue, blue].concat(),
            width: 2,
            height: 1,
            space: Space::Ycbcr,
        };
        ov.apply(&mut ycc);
        assert_eq!(&ycc.data[..3], rgb_to_ycbcr([255, 0, 0]));
        assert_eq!(&ycc.data[3..], blue);
        // Half-transparent black over white is mid grey; a stretched overlay covers all.
        let half = Overlay::from_rgba(image::RgbaImage::from_pixel(
            1,
            1,
            image::Rgba([0, 0, 0, 128]),
        ));
        let mut white = Canvas {
            data: vec![255; 4 * 4 * 3],
            width: 4,
            height: 4,
            space: Space::Rgb,
        };
        half.apply(&mut white);
        assert!(
            white.data.iter().all(|&v| (126..=128).contains(&v)),
            "{:?}",
            white.data
        );
    }
}
