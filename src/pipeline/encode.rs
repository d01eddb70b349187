//! Frame to compliant JPEG: decode (at reduced scale when the frame is much larger) → crop or
//! pad to an allowed aspect → resize → orient → mirror → overlay → JPEG within 8 MiB.
//!
//! [`make_compliant`] makes the feed photo, [`make_story`] the 9:16 Stories variant. The
//! geometry ([`super::geometry`]) guarantees Instagram's width and aspect rules by construction;
//! the final [`check_jpeg`] is a guard that turns a bug here into an error instead of a post
//! Instagram would reject.

use super::compliance::{check_jpeg, MAX_BYTES};
use super::compose::{self, Canvas, Overlay};
use super::decode::{self, Space};
use super::frame::Frame;
use super::geometry::{self, Fit, Layout};
use super::resize::{self, Area};
use fast_image_resize::PixelType;
use std::path::PathBuf;
use std::sync::Arc;

pub use super::geometry::target_size;

/// Quality is stepped down by this much while the JPEG is too large ...
const QUALITY_STEP: u8 = 10;
/// ... but never below this: further down, faces turn into blocks.
const MIN_QUALITY: u8 = 30;

/// How the output should look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Wanted output width in pixels (clamped into 320..=1440).
    pub width: u32,
    /// JPEG quality to start from (clamped into 1..=100).
    pub quality: u8,
    /// Crop to the allowed aspect ratios, or pad with a colour.
    pub fit: Fit,
    /// Mirror left to right (selfie view).
    pub mirror: bool,
    /// Drawn over the photo before encoding.
    pub overlay: Option<Arc<Overlay>>,
    /// Walk a JPEG's entropy-coded data and refuse a damaged one ([`super::scan`]): for MJPEG
    /// frames from a USB camera, where bit errors and lost packets decode to garbage without
    /// an error. Costs about 2/3 of a decode's CPU (on a second thread, beside the decode,
    /// resize and encode), so files, which arrive whole, are not walked.
    pub verify_scan: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            width: 1080,
            quality: 90,
            fit: Fit::Crop,
            mirror: false,
            overlay: None,
            verify_scan: false,
        }
    }
}

/// A JPEG that passes [`check_jpeg`] (or, from [`make_story`], is 1080x1920 and <= 8 MiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompliantJpeg {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The frame is corrupt, cut short, empty or not a JPEG/PNG.
    #[error("the photo cannot be read (corrupt, cut short or not a JPEG/PNG): {0}")]
    Decode(String),
    #[error("cannot write the JPEG: {0}")]
    Encode(String),
    #[error("the overlay {path} (image.overlay) cannot be used: {why}")]
    Overlay { path: PathBuf, why: String },
    #[error(
        "even at JPEG quality {quality} the photo is {bytes} bytes, over Instagram's 8 MiB limit; \
         lower image.width"
    )]
    TooLarge { bytes: usize, quality: u8 },
    /// A bug in this module: the output failed the compliance check it should pass by construction.
    #[error("internal error: the encoded photo is not Instagram-compliant: {0}")]
    NotCompliant(#[from] super::compliance::ComplianceError),
}

/// Makes an Instagram-compliant feed JPEG from a camera frame. CPU-bound: run it off the async
/// runtime.
pub fn make_compliant(frame: &Frame, opts: &EncodeOptions) -> Result<CompliantJpeg, EncodeError> {
    verified(frame, opts, || {
        let canvas = render(frame, opts, |w, h| {
            geometry::feed_layout(w, h, opts.width, opts.fit)
        })?;
        let bytes = encode_within(&canvas, opts.quality, MAX_BYTES)?;
        drop(canvas);
        let checked = check_jpeg(&bytes)?;
        Ok(CompliantJpeg {
            bytes,
            width: checked.width,
            height: checked.height,
        })
    })
}

/// Runs `work` while, with `opts.verify_scan` and a JPEG frame, a second thread walks the
/// frame's scan ([`super::scan`]): bit errors and lost USB packets decode to garbage without
/// an error from either decoder. The walk overlaps the whole decode-resize-encode; a damaged
/// scan turns the result into a decode error, so the camera's next frame is taken.
fn verified<T>(
    frame: &Frame,
    opts: &EncodeOptions,
    work: impl FnOnce() -> Result<T, EncodeError>,
) -> Result<T, EncodeError> {
    let bytes = match frame {
        // A cut-short frame is refused by the decoder with its own message.
        Frame::Encoded(b) if opts.verify_scan && jpeg_is_complete(b) => b,
        _ => return work(),
    };
    let (walked, result) = std::thread::scope(|s| {
        let walk = s.spawn(|| super::scan::check(bytes));
        let result = work();
        (walk.join(), result)
    });
    match walked {
        Ok(Ok(())) => result,
        Ok(Err(e)) => Err(EncodeError::Decode(format!(
            "the JPEG data is corrupt ({e}); for a camera, take the next frame"
        ))),
        Err(_) => Err(EncodeError::Decode("checking the JPEG data failed".into())),
    }
}

/// Makes the 1080x1920 (9:16) Stories variant: cropped or padded as `opts.fit` says; the width
/// option does not apply. The overlay keeps its own aspect ratio (centred), since it was drawn
/// for the feed's shape. A baseline JPEG within 8 MiB, like the feed photo.
pub fn make_story(frame: &Frame, opts: &EncodeOptions) -> Result<CompliantJpeg, EncodeError> {
    verified(frame, opts, || {
        let plain = EncodeOptions {
            overlay: None,
            ..opts.clone()
        };
        let mut canvas = render(frame, &plain, |w, h| geometry::story_layout(w, h, opts.fit))?;
        if let Some(overlay) = &opts.overlay {
            overlay.apply_fitted(&mut canvas);
        }
        let (width, height) = (canvas.width, canvas.height);
        let bytes = encode_within(&canvas, opts.quality, MAX_BYTES)?;
        Ok(CompliantJpeg {
            bytes,
            width,
            height,
        })
    })
}

/// Frame to output canvas. `layout` gets the upright (display) size of the frame.
fn render(
    frame: &Frame,
    opts: &EncodeOptions,
    layout: impl Fn(u32, u32) -> Layout,
) -> Result<Canvas, EncodeError> {
    let (inner, space, layout) = match frame {
        Frame::Rgb(img) => {
            let (w, h) = img.dimensions();
            if w == 0 || h == 0 {
                return Err(EncodeError::Decode(format!("the image is {w}x{h} pixels")));
            }
            let l = layout(w, h);
            let inner = resize::resize(
                img.as_raw(),
                (w, h),
                PixelType::U8x3,
                Area::scaled(l.crop, (w, h), (w, h)),
                (l.inner.w, l.inner.h),
            );
            (inner, Space::Rgb, l)
        }
        Frame::Raw(raw) => {
            let l = layout(raw.width(), raw.height());
            let inner = resize::raw_to_ycbcr(raw, l.crop, (l.inner.w, l.inner.h));
            (inner, Space::Ycbcr, l)
        }
        Frame::Encoded(bytes) => {
            let mut planned = None;
            let dec = decode::decode(bytes, |w, h, o| {
                let (dw, dh) = o.display_size(w, h);
                let l = layout(dw, dh);
                planned = Some(l);
                // The smallest decode that still has a source pixel for each output pixel.
                let sx = f64::from(l.inner.w) / f64::from(l.crop.w.max(1));
                let sy = f64::from(l.inner.h) / f64::from(l.crop.h.max(1));
                sx.max(sy)
            })?;
            let l = planned.expect("decode calls plan before returning pixels");
            let o = dec.orientation;
            let crop = o.stored_rect(l.crop, dec.full.0, dec.full.1);
            let size = o.display_size(l.inner.w, l.inner.h);
            let resized = resize::resize(
                &dec.data,
                (dec.width, dec.height),
                PixelType::U8x3,
                Area::scaled(crop, dec.full, (dec.width, dec.height)),
                size,
            );
            let space = dec.space;
            drop(dec);
            let (inner, _, _) = resize::orient(resized, size, o);
            (inner, space, l)
        }
    };
    let mut canvas = compose::place(inner, space, &layout, opts.fit);
    if opts.mirror {
        compose::mirror(&mut canvas);
    }
    if let Some(overlay) = &opts.overlay {
        overlay.apply(&mut canvas);
    }
    Ok(canvas)
}

/// Baseline JPEG, 4:2:0, at `quality`.
fn encode_jpeg(c: &Canvas, quality: u8) -> Result<Vec<u8>, EncodeError> {
    let (w, h) = (
        u16::try_from(c.width).map_err(|_| EncodeError::Encode("too wide".into()))?,
        u16::try_from(c.height).map_err(|_| EncodeError::Encode("too tall".into()))?,
    );
    let mut out = Vec::with_capacity(c.data.len() / 6);
    // jpeg-encoder writes a baseline JPEG with a JFIF header and nothing else: no EXIF, GPS or
    // camera serial from the source is ever published.
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    // 4:2:0 like cameras and libjpeg's default; Instagram re-encodes to 4:2:0 anyway.
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    match c.space {
        // jpeg-encoder converts RGB rows with AVX2 where the CPU has it.
        Space::Rgb => enc.encode(&c.data, w, h, jpeg_encoder::ColorType::Rgb),
        Space::Ycbcr => enc.encode_image(YcbcrRows {
            data: &c.data,
            width: w,
            height: h,
        }),
    }
    .map_err(|e| EncodeError::Encode(e.to_string()))?;
    Ok(out)
}

/// Interleaved YCbCr rows for jpeg-encoder, split into its three component rows in bulk. Its
/// own YCbCr input pushes pixel by pixel: that was a sixth of a raw camera frame's time.
struct YcbcrRows<'a> {
    data: &'a [u8],
    width: u16,
    height: u16,
}

impl jpeg_encoder::ImageBuffer for YcbcrRows<'_> {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        jpeg_encoder::JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let w = usize::from(self.width);
        let row = &self.data[usize::from(y) * w * 3..][..w * 3];
        for (component, buffer) in buffers.iter_mut().take(3).enumerate() {
            let start = buffer.len();
            buffer.resize(start + w, 0);
            for (dst, px) in buffer[start..].iter_mut().zip(row.chunks_exact(3)) {
                *dst = px[component];
            }
        }
    }
}

/// Baseline JPEG at `quality`, stepping down by 10 (not below 30) until it fits in `max_bytes`.
fn encode_within(c: &Canvas, quality: u8, max_bytes: usize) -> Result<Vec<u8>, EncodeError> {
    let mut q = quality.clamp(1, 100);
    loop {
        let out = encode_jpeg(c, q)?;
        if out.len() <= max_bytes {
            return Ok(out);
        }
        if q <= MIN_QUALITY {
            return Err(EncodeError::TooLarge {
                bytes: out.len(),
                quality: q,
            });
        }
        let next = q.saturating_sub(QUALITY_STEP).max(MIN_QUALITY);
        tracing::debug!(
            bytes = out.len(),
            quality = q,
            next,
            "JPEG too large, lowering quality"
        );
        q = next;
    }
}

/// Does the JPEG reach its end-of-image marker? Walks the marker segments (skipping their
/// payloads, so an EXIF thumbnail's own FFD9 is not mistaken for the end) and the entropy-coded
/// scans. Data after the EOI (phones append motion-photo videos there) is allowed.
pub fn jpeg_is_complete(data: &[u8]) -> bool {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    loop {
        // Expect a marker: 0xFF, optional 0xFF fill bytes, then the marker code.
        if data.get(i) != Some(&0xFF) {
            return false;
        }
        while data.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = data.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = data
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return false;
        };
        if len < 2 || i + len > data.len() {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data runs until a marker that is not byte stuffing (FF00) or a restart.
            // memchr jumps to the next 0xFF with SIMD: walking byte by byte cost 4 % of a 12 MP
            // photo's whole pipeline.
            loop {
                match memchr::memchr(0xFF, &data[i..]) {
                    Some(skip) => i += skip,
                    None => return false,
                }
                match data.get(i + 1) {
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(0xFF) => i += 1,
                    Some(_) => break,
                    None => return false,
                }
            }
        }
    }
}

/// The centred crop `(x, y, width, height)` that brings `width x height` inside 4:5 ..= 1.91:1,
/// or the whole image if it already is.
pub fn crop_rect(width: u32, height: u32) -> (u32, u32, u32, u32) {
    let r = geometry::crop_rect_in(width, height, &geometry::FEED);
    (r.x, r.y, r.w, r.h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::compliance::{aspect_ok, MAX_WIDTH, MIN_WIDTH};
    use image::{imageops, Rgb, RgbImage};
    use std::io::Cursor;

    fn opts(width: u32) -> EncodeOptions {
        EncodeOptions {
            width,
            ..EncodeOptions::default()
        }
    }

    fn jpeg_of(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(img)
            .unwrap();
        out
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 255 / w.max(2).saturating_sub(1).max(1)) as u8,
                (y * 255 / h.max(2).saturating_sub(1).max(1)) as u8,
                ((x + y) * 255 / (w + h)) as u8,
            ])
        })
    }

    fn decode_out(j: &CompliantJpeg) -> RgbImage {
        image::load_from_memory_with_format(&j.bytes, image::ImageFormat::Jpeg)
            .unwrap()
            .into_rgb8()
    }

    #[test]
    fn crop_keeps_images_already_in_range() {
        assert_eq!(crop_rect(1080, 1350), (0, 0, 1080, 1350)); // exactly 4:5
        assert_eq!(crop_rect(1910, 1000), (0, 0, 1910, 1000)); // exactly 1.91:1
        assert_eq!(crop_rect(64, 64), (0, 0, 64, 64));
        assert_eq!(crop_rect(1920, 1080), (0, 0, 1920, 1080));
    }

    #[test]
    fn crop_cuts_just_outside_the_edges() {
        // One pixel too tall / too wide: trimmed back to the exact edge, centred.
        assert_eq!(crop_rect(1080, 1351), (0, 0, 1080, 1350));
        assert_eq!(crop_rect(1080, 1353), (0, 1, 1080, 1350));
        assert_eq!(crop_rect(1911, 1000), (0, 0, 1910, 1000));
        assert_eq!(crop_rect(3000, 1000), (545, 0, 1910, 1000));
    }

    #[test]
    fn crop_handles_extremes() {
        assert_eq!(crop_rect(8000, 100), (3904, 0, 191, 100));
        assert_eq!(crop_rect(100, 8000), (0, 3937, 100, 125));
        assert_eq!(crop_rect(8000, 1), (3999, 0, 1, 1));
        assert_eq!(crop_rect(1, 8000), (0, 3999, 1, 1));
        assert_eq!(crop_rect(0, 10), (0, 0, 0, 10));
        for (w, h) in [
            (8000, 100),
            (100, 8000),
            (65535, 1),
            (1, 65535),
            (7, 3),
            (3, 7),
        ] {
            let (x, y, cw, ch) = crop_rect(w, h);
            assert!(aspect_ok(cw, ch), "{w}x{h} -> {cw}x{ch}");
            assert!(x + cw <= w && y + ch <= h);
        }
    }

    #[test]
    fn target_size_rules() {
        assert_eq!(target_size(1920, 1080, 1080), (1080, 608)); // 607.5 rounds up
        assert_eq!(target_size(1080, 1350, 1080), (1080, 1350));
        assert_eq!(target_size(2160, 2700, 1080), (1080, 1350)); // 4:5 stays 4:5
        assert_eq!(target_size(1910, 1000, 1080), (1080, 566)); // 565.4 would be wider than 1.91
        assert_eq!(target_size(800, 600, 1080), (800, 600)); // never upscaled
        assert_eq!(target_size(64, 64, 1080), (320, 320)); // tiny: up to the minimum
        assert_eq!(target_size(191, 100, 1080), (320, 168));
        assert_eq!(target_size(100, 125, 1080), (320, 400));
        assert_eq!(target_size(4000, 3000, 5000), (1440, 1080)); // wanted clamped to 1440
        assert_eq!(target_size(4000, 3000, 10), (320, 240)); // and to 320
    }

    #[test]
    fn target_size_always_compliant() {
        for w in (1..3000).step_by(37) {
            for h in (1..3000).step_by(41) {
                let (_, _, cw, ch) = crop_rect(w, h);
                for wanted in [320, 1080, 1440] {
                    let (ow, oh) = target_size(cw, ch, wanted);
                    assert!((MIN_WIDTH..=MAX_WIDTH).contains(&ow), "{w}x{h}");
                    assert!(aspect_ok(ow, oh), "{w}x{h} -> {cw}x{ch} -> {ow}x{oh}");
                }
            }
        }
    }

    #[test]
    fn outputs_pass_the_compliance_check_for_many_sizes() {
        let sizes = [
            (64, 64),
            (8000, 100),
            (100, 8000),
            (1, 1),
            (319, 400),
            (320, 400),
            (640, 480),
            (1080, 1350),
            (1080, 1351),
            (1910, 1000),
            (1911, 1000),
            (1920, 1080),
            (2000, 3000),
            (3000, 1000),
        ];
        for (w, h) in sizes {
            for frame in [
                Frame::Rgb(gradient(w, h)),
                Frame::Encoded(jpeg_of(&gradient(w, h))),
            ] {
                for width in [320, 1080, 1440] {
                    let out = make_compliant(&frame, &opts(width)).unwrap();
                    let c = check_jpeg(&out.bytes).unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
                    assert_eq!((c.width, c.height), (out.width, out.height));
                }
            }
        }
    }

    #[test]
    fn portrait_4_5_is_kept() {
        let out = make_compliant(&Frame::Rgb(gradient(1080, 1350)), &opts(1080)).unwrap();
        assert_eq!((out.width, out.height), (1080, 1350));
    }

    #[test]
    fn panorama_is_cropped_to_1_91() {
        let out = make_compliant(&Frame::Rgb(gradient(3000, 1000)), &opts(1080)).unwrap();
        assert_eq!((out.width, out.height), (1080, 566));
        assert!(aspect_ok(out.width, out.height));
        assert!(
            !aspect_ok(out.width, out.height - 1),
            "cropped no more than needed"
        );
    }

    #[test]
    fn png_with_alpha_is_flattened_on_white() {
        let img = image::RgbaImage::from_pixel(400, 400, image::Rgba([0, 0, 0, 0]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let out = make_compliant(&Frame::Encoded(png), &opts(1080)).unwrap();
        assert_eq!((out.width, out.height), (400, 400));
        assert!(decode_out(&out)
            .get_pixel(200, 200)
            .0
            .iter()
            .all(|&c| c > 250));
    }

    #[test]
    fn exif_orientation_6_is_applied() {
        // Landscape sensor data, left half red, right half blue; orientation 6 means "rotate
        // 90° clockwise to view", so the viewer sees a portrait with red on top.
        let src = RgbImage::from_fn(800, 600, |x, _| {
            if x < 400 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let jpeg = crate::pipeline::tests::with_orientation(&jpeg_of(&src), 6, false);
        assert!(jpeg_is_complete(&jpeg));
        let out = make_compliant(&Frame::Encoded(jpeg), &opts(1080)).unwrap();
        // 600x800 is taller than 4:5, so it is also cropped to 600x750.
        assert_eq!((out.width, out.height), (600, 750));
        let img = decode_out(&out);
        let top = img.get_pixel(300, 50).0;
        let bottom = img.get_pixel(300, 700).0;
        assert!(top[0] > 200 && top[2] < 60, "top is red: {top:?}");
        assert!(
            bottom[2] > 200 && bottom[0] < 60,
            "bottom is blue: {bottom:?}"
        );
        // And the EXIF block is not carried over (no APP1 in the output).
        assert!(!out.bytes.windows(2).any(|w| w == [0xFF, 0xE1]));
    }

    #[test]
    fn truncated_or_corrupt_frames_are_decode_errors() {
        let full = jpeg_of(&gradient(800, 600));
        for cut in [
            3,
            20,
            full.len() / 3,
            full.len() / 2,
            full.len() - 2,
            full.len() - 1,
        ] {
            let r = make_compliant(&Frame::Encoded(full[..cut].to_vec()), &opts(1080));
            assert!(matches!(r, Err(EncodeError::Decode(_))), "cut at {cut}");
        }
        // Truncated, then zero-padded (what a half-flushed file looks like): still rejected.
        let mut padded = full[..full.len() / 2].to_vec();
        padded.resize(full.len(), 0);
        assert!(matches!(
            make_compliant(&Frame::Encoded(padded), &opts(1080)),
            Err(EncodeError::Decode(_))
        ));
        let mut png = Vec::new();
        gradient(300, 300)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let bad = [
            Vec::new(),
            b"hello".to_vec(),
            png[..png.len() / 2].to_vec(),
            vec![0xFF, 0xD8, 0xFF, 0xD9],
            // Headers that reach EOI but describe no image.
            vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x03, 0x01, 0xFF, 0xD9],
        ];
        for bytes in bad {
            let r = make_compliant(&Frame::Encoded(bytes), &opts(1080));
            assert!(matches!(r, Err(EncodeError::Decode(_))), "{r:?}");
        }
        let empty = make_compliant(&Frame::Rgb(RgbImage::new(0, 0)), &opts(1080));
        assert!(matches!(empty, Err(EncodeError::Decode(_))));
    }

    #[test]
    fn trailing_zeros_and_data_after_eoi_are_accepted() {
        let mut jpeg = jpeg_of(&gradient(400, 400));
        jpeg.extend_from_slice(&[0; 64]);
        assert!(make_compliant(&Frame::Encoded(jpeg.clone()), &opts(1080)).is_ok());
        jpeg.extend_from_slice(b"ftypmp42 a motion photo video would be here");
        assert!(make_compliant(&Frame::Encoded(jpeg), &opts(1080)).is_ok());
    }

    #[test]
    fn quality_steps_down_until_it_fits() {
        // Noise compresses badly; find its size at 90 and at 30, then ask for a limit in between.
        let noise = RgbImage::from_fn(500, 500, |x, y| {
            let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(97);
            Rgb([(v >> 3) as u8, (v >> 11) as u8, (v >> 19) as u8])
        });
        let noise = Canvas {
            width: 500,
            height: 500,
            data: noise.into_raw(),
            space: Space::Rgb,
        };
        let at90 = encode_within(&noise, 90, usize::MAX).unwrap().len();
        let at30 = encode_within(&noise, 30, usize::MAX).unwrap().len();
        assert!(at30 < at90);
        let fitted = encode_within(&noise, 90, (at30 + at90) / 2).unwrap();
        assert!(fitted.len() <= (at30 + at90) / 2);
        match encode_within(&noise, 90, at30 - 1) {
            Err(EncodeError::TooLarge { quality: 30, .. }) => {}
            other => panic!(
                "expected TooLarge at quality 30, got {:?}",
                other.map(|v| v.len())
            ),
        }
    }

    #[test]
    fn smooth_gradient_keeps_its_quality() {
        let src = gradient(1600, 1200);
        let out = make_compliant(&Frame::Rgb(src.clone()), &opts(1080)).unwrap();
        assert_eq!((out.width, out.height), (1080, 810));
        let reference = imageops::resize(&src, 1080, 810, imageops::FilterType::CatmullRom);
        let got = decode_out(&out);
        let mse = reference
            .as_raw()
            .iter()
            .zip(got.as_raw())
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum::<f64>()
            / reference.as_raw().len() as f64;
        let psnr = 10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10();
        assert!(psnr >= 30.0, "PSNR {psnr:.1} dB");
    }
}
