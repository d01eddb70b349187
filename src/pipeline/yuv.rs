//! YUV (BT.601) to the JPEG colour model, for raw camera frames.
//!
//! JPEG (JFIF) stores full-range BT.601 YCbCr, the same matrix cameras use, so a raw frame
//! never needs to become RGB: its planes are resized as they are and only the range is
//! expanded ([`RangeLut`]) at the output size. [`to_rgb`] is the straightforward full-size
//! conversion, kept as the reference the fast path is tested against.

use super::frame::{PixelFormat, RawFrame, YuvRange};
use image::RgbImage;

/// Maps camera Y/Cb/Cr values to full-range (JFIF) values.
pub struct RangeLut {
    pub y: [u8; 256],
    pub c: [u8; 256],
}

impl RangeLut {
    pub fn new(range: YuvRange) -> Self {
        let mut y = [0u8; 256];
        let mut c = [0u8; 256];
        for v in 0..256usize {
            let (fy, fc) = match range {
                YuvRange::Full => (v as f64, v as f64),
                // Video range: Y 16..=235, Cb/Cr 16..=240 centred on 128.
                YuvRange::Limited => (
                    (v as f64 - 16.0) * 255.0 / 219.0,
                    (v as f64 - 128.0) * 255.0 / 224.0 + 128.0,
                ),
            };
            y[v] = fy.round().clamp(0.0, 255.0) as u8;
            c[v] = fc.round().clamp(0.0, 255.0) as u8;
        }
        Self { y, c }
    }
}

/// Full-range YCbCr (JFIF) to RGB.
#[inline]
pub fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (f32::from(y), f32::from(cb) - 128.0, f32::from(cr) - 128.0);
    let c = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [
        c(y + 1.402 * cr),
        c(y - 0.344_136 * cb - 0.714_136 * cr),
        c(y + 1.772 * cb),
    ]
}

/// RGB to full-range YCbCr (JFIF).
#[inline]
pub fn rgb_to_ycbcr(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(f32::from);
    let c = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [
        c(0.299 * r + 0.587 * g + 0.114 * b),
        c(128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b),
        c(128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b),
    ]
}

/// The (Y, Cb, Cr) camera values of pixel (x, y); chroma is shared by 2 (YUYV) or 2x2 pixels.
fn sample(raw: &RawFrame, x: usize, y: usize) -> (u8, u8, u8) {
    let d = raw.data();
    let s = raw.stride();
    let h = raw.height() as usize;
    match raw.format() {
        PixelFormat::Yuyv => {
            let pair = y * s + (x / 2) * 4;
            (d[pair + (x % 2) * 2], d[pair + 1], d[pair + 3])
        }
        PixelFormat::Nv12 => {
            let uv = s * h + (y / 2) * s + (x / 2) * 2;
            (d[y * s + x], d[uv], d[uv + 1])
        }
        PixelFormat::Yuv420 => {
            let cs = s.div_ceil(2);
            let u_plane = s * h;
            let v_plane = u_plane + cs * h.div_ceil(2);
            let c = (y / 2) * cs + x / 2;
            (d[y * s + x], d[u_plane + c], d[v_plane + c])
        }
    }
}

/// The whole frame as RGB at full size: simple and slow, the reference for tests.
pub fn to_rgb(raw: &RawFrame) -> RgbImage {
    let lut = RangeLut::new(raw.range());
    RgbImage::from_fn(raw.width(), raw.height(), |x, y| {
        let (yy, u, v) = sample(raw, x as usize, y as usize);
        image::Rgb(ycbcr_to_rgb(
            lut.y[usize::from(yy)],
            lut.c[usize::from(u)],
            lut.c[usize::from(v)],
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limited-range Y, Cb, Cr for an RGB colour (the inverse of what a camera's ISP does).
    fn limited(rgb: [u8; 3]) -> [u8; 3] {
        let [y, cb, cr] = rgb_to_ycbcr(rgb).map(f64::from);
        [
            (16.0 + y * 219.0 / 255.0).round() as u8,
            (128.0 + (cb - 128.0) * 224.0 / 255.0).round() as u8,
            (128.0 + (cr - 128.0) * 224.0 / 255.0).round() as u8,
        ]
    }

    fn close(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 3)
    }

    #[test]
    fn each_format_decodes_known_colours() {
        // 4x2 frame: left half red, right half blue (chroma pairs never straddle colours).
        let colours = [[200u8, 30, 40], [20, 40, 220]];
        let at = |x: usize| colours[x / 2];
        let (w, h) = (4usize, 2usize);
        let mut yuyv = Vec::new();
        for _ in 0..h {
            for pair in 0..w / 2 {
                let [y, u, v] = limited(at(pair * 2));
                yuyv.extend_from_slice(&[y, u, y, v]);
            }
        }
        let mut nv12: Vec<u8> = (0..h)
            .flat_map(|_| (0..w).map(|x| limited(at(x))[0]))
            .collect();
        let mut yu12 = nv12.clone();
        for pair in 0..w / 2 {
            let [_, u, v] = limited(at(pair * 2));
            nv12.extend_from_slice(&[u, v]);
        }
        yu12.extend((0..w / 2).map(|p| limited(at(p * 2))[1]));
        yu12.extend((0..w / 2).map(|p| limited(at(p * 2))[2]));
        for (format, data) in [
            (PixelFormat::Yuyv, yuyv),
            (PixelFormat::Nv12, nv12),
            (PixelFormat::Yuv420, yu12),
        ] {
            let raw = RawFrame::new(format, w as u32, h as u32, data).unwrap();
            let rgb = to_rgb(&raw);
            for y in 0..h as u32 {
                for x in 0..w as u32 {
                    let got = rgb.get_pixel(x, y).0;
                    assert!(close(got, at(x as usize)), "{format:?} ({x},{y}): {got:?}");
                }
            }
        }
    }

    #[test]
    fn range_expansion_maps_video_black_and_white() {
        let lut = RangeLut::new(YuvRange::Limited);
        assert_eq!(
            (lut.y[16], lut.y[235], lut.y[0], lut.y[255]),
            (0, 255, 0, 255)
        );
        assert_eq!((lut.c[16] <= 1, lut.c[128], lut.c[240]), (true, 128, 255));
        let full = RangeLut::new(YuvRange::Full);
        assert!((0..=255u8).all(|v| full.y[usize::from(v)] == v && full.c[usize::from(v)] == v));
        for rgb in [[0, 0, 0], [255, 255, 255], [255, 0, 0], [12, 200, 99]] {
            let [y, cb, cr] = rgb_to_ycbcr(rgb);
            assert!(close(ycbcr_to_rgb(y, cb, cr), rgb), "{rgb:?}");
        }
    }
}
