//! Resizing with fast_image_resize (SIMD: AVX2/SSE4.1 on x86_64, NEON on aarch64), turning by
//! EXIF orientation, and raw YUV planes straight to output-size YCbCr.
//!
//! Every function reads a part of its source and writes only output-sized buffers.

use super::frame::{PixelFormat, RawFrame};
use super::geometry::{Orientation, Rect};
use super::yuv::RangeLut;
use fast_image_resize as fr;
use std::borrow::Cow;

/// Catmull-Rom: as sharp as the image crate's default and as fast as bilinear with SIMD
/// (measured in docs/PERFORMANCE.md); Lanczos3 costs a third more for no visible gain at 1080 px.
const FILTER: fr::FilterType = fr::FilterType::CatmullRom;

/// A part of a source image in (possibly fractional) source pixels: a crop computed on the
/// full-size image and then scaled to a DCT-reduced decode is not a whole number of pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Area {
    /// `r` on a `from`-sized image, as the same part of a `to`-sized version of it.
    pub fn scaled(r: Rect, from: (u32, u32), to: (u32, u32)) -> Self {
        let sx = f64::from(to.0) / f64::from(from.0.max(1));
        let sy = f64::from(to.1) / f64::from(from.1.max(1));
        Self {
            x: f64::from(r.x) * sx,
            y: f64::from(r.y) * sy,
            w: f64::from(r.w) * sx,
            h: f64::from(r.h) * sy,
        }
    }
}

/// Resizes `area` of a `w x h` image of `pixel` pixels (tightly packed rows) to `out`.
pub fn resize(
    src: &[u8],
    (w, h): (u32, u32),
    pixel: fr::PixelType,
    area: Area,
    out: (u32, u32),
) -> Vec<u8> {
    let src = fr::images::ImageRef::new(w, h, src, pixel)
        .expect("source buffer matches its size (checked by the caller)");
    let mut dst = fr::images::Image::new(out.0, out.1, pixel);
    // Scaled rectangles can overshoot the edge by a rounding error; FIR rejects that.
    let (x, y) = (
        area.x.clamp(0.0, f64::from(w)),
        area.y.clamp(0.0, f64::from(h)),
    );
    let area = Area {
        x,
        y,
        w: area.w.min(f64::from(w) - x),
        h: area.h.min(f64::from(h) - y),
    };
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(FILTER))
        .crop(area.x, area.y, area.w, area.h)
        .use_alpha(pixel == fr::PixelType::U8x4);
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("same pixel type on both sides, non-empty sizes");
    dst.into_vec()
}

/// A 3-channel stored image turned upright.
pub fn orient(px: Vec<u8>, (sw, sh): (u32, u32), o: Orientation) -> (Vec<u8>, u32, u32) {
    if o == Orientation::UPRIGHT {
        return (px, sw, sh);
    }
    let (dw, dh) = o.display_size(sw, sh);
    let mut out = vec![0u8; px.len()];
    for dy in 0..dh {
        let row = &mut out[(dy * dw * 3) as usize..((dy + 1) * dw * 3) as usize];
        for (dx, dst) in row.chunks_exact_mut(3).enumerate() {
            let (sx, sy) = o.stored_pixel(dx as u32, dy, sw, sh);
            let i = ((sy * sw + sx) * 3) as usize;
            dst.copy_from_slice(&px[i..i + 3]);
        }
    }
    (out, dw, dh)
}

/// The `rect` part of a raw YUV frame at `out` size, as full-range YCbCr (3 bytes a pixel).
/// Luma and chroma planes are resized separately at their own resolution, then interleaved
/// through the range table: no full-size RGB or YCbCr image is ever made.
///
/// Chroma is resized to half the output size and each value serves a 2x2 block: the JPEG is
/// 4:2:0, so the encoder averages every 2x2 block of chroma anyway, and resizing to full size
/// only to average it back cost a third of this function's time.
pub fn raw_to_ycbcr(raw: &RawFrame, rect: Rect, out: (u32, u32)) -> Vec<u8> {
    let (w, h) = (raw.width(), raw.height());
    let (luma, chroma, chroma_size) = planes(raw);
    let y = resize(
        &luma,
        (w, h),
        fr::PixelType::U8,
        Area::scaled(rect, (w, h), (w, h)),
        out,
    );
    drop(luma);
    let half = (out.0.div_ceil(2), out.1.div_ceil(2));
    let c = resize(
        &chroma,
        chroma_size,
        fr::PixelType::U8x2,
        Area::scaled(rect, (w, h), chroma_size),
        half,
    );
    drop(chroma);
    let lut = RangeLut::new(raw.range());
    let (ow, hw) = (out.0 as usize, half.0 as usize);
    let mut px = vec![0u8; y.len() * 3];
    for (row, (dst, luma)) in px
        .chunks_exact_mut(ow * 3)
        .zip(y.chunks_exact(ow))
        .enumerate()
    {
        let uv = &c[(row / 2) * hw * 2..][..hw * 2];
        // Two pixels share a Cb Cr pair; an odd width's last pixel has one of its own.
        for (dst, (luma, uv)) in dst
            .chunks_mut(6)
            .zip(luma.chunks(2).zip(uv.chunks_exact(2)))
        {
            let (cb, cr) = (lut.c[usize::from(uv[0])], lut.c[usize::from(uv[1])]);
            for (dst, &yy) in dst.chunks_exact_mut(3).zip(luma) {
                (dst[0], dst[1], dst[2]) = (lut.y[usize::from(yy)], cb, cr);
            }
        }
    }
    px
}

/// Luma plane, interleaved chroma plane, chroma plane size.
type Planes<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>, (u32, u32));

/// The luma plane (width x height) and the interleaved Cb Cr plane with its size, borrowed
/// where the frame already has that layout.
fn planes(raw: &RawFrame) -> Planes<'_> {
    let (w, h) = (raw.width() as usize, raw.height() as usize);
    let (d, s) = (raw.data(), raw.stride());
    let (cw, ch) = (w / 2, h.div_ceil(2));
    // Rows of `row` bytes, `stride` apart, starting at `at`: borrowed when there is no padding.
    let rows = |at: usize, row: usize, stride: usize, n: usize| -> Cow<'_, [u8]> {
        if row == stride {
            Cow::Borrowed(&d[at..at + row * n])
        } else {
            let mut v = Vec::with_capacity(row * n);
            for r in 0..n {
                v.extend_from_slice(&d[at + r * stride..at + r * stride + row]);
            }
            Cow::Owned(v)
        }
    };
    match raw.format() {
        PixelFormat::Yuyv => {
            // Y0 U Y1 V: two luma and one Cb Cr pair per 4 bytes (the width is even). Writing
            // into sized buffers, not pushing, lets the compiler vectorise the split.
            let (mut luma, mut chroma) = (vec![0u8; w * h], vec![0u8; w * h]);
            for ((src, l), c) in d
                .chunks(s)
                .take(h)
                .zip(luma.chunks_exact_mut(w))
                .zip(chroma.chunks_exact_mut(w))
            {
                for ((q, l), c) in src[..w * 2]
                    .chunks_exact(4)
                    .zip(l.chunks_exact_mut(2))
                    .zip(c.chunks_exact_mut(2))
                {
                    (l[0], c[0], l[1], c[1]) = (q[0], q[1], q[2], q[3]);
                }
            }
            (luma.into(), chroma.into(), (cw as u32, h as u32))
        }
        PixelFormat::Nv12 => (
            rows(0, w, s, h),
            rows(s * h, cw * 2, s, ch),
            (cw as u32, ch as u32),
        ),
        PixelFormat::Yuv420 => {
            let cs = s.div_ceil(2);
            let (u_at, v_at) = (s * h, s * h + cs * ch);
            let mut chroma = Vec::with_capacity(cw * ch * 2);
            for r in 0..ch {
                let u = &d[u_at + r * cs..u_at + r * cs + cw];
                let v = &d[v_at + r * cs..v_at + r * cs + cw];
                for (&u, &v) in u.iter().zip(v) {
                    chroma.extend_from_slice(&[u, v]);
                }
            }
            (rows(0, w, s, h), chroma.into(), (cw as u32, ch as u32))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orient_turns_pixels_like_the_geometry_says() {
        // 3x2 stored, pixel value = index.
        let px: Vec<u8> = (0..6u8).flat_map(|i| [i, i, i]).collect();
        let (out, w, h) = orient(px, (3, 2), Orientation::from_exif(6));
        assert_eq!((w, h), (2, 3));
        let firsts: Vec<u8> = out.chunks(3).map(|p| p[0]).collect();
        assert_eq!(firsts, [3, 0, 4, 1, 5, 2]);
    }

    #[test]
    fn resize_crops_the_asked_area() {
        // Left quarter 0, the rest 200: resizing only the right half gives only 200 (the
        // filter also reads a few pixels beyond the area, still 200 here).
        let (w, h) = (64u32, 16u32);
        let src: Vec<u8> = (0..w * h)
            .map(|i| if i % w < w / 4 { 0 } else { 200 })
            .collect();
        let out = resize(
            &src,
            (w, h),
            fr::PixelType::U8,
            Area {
                x: 32.0,
                y: 0.0,
                w: 32.0,
                h: 16.0,
            },
            (8, 4),
        );
        assert!(out.iter().all(|&v| v == 200), "{out:?}");
    }
}
