//! Frame to compliant JPEG: decode → orient → crop to aspect → resize → JPEG within 8 MiB.
//!
//! One entry point, [`make_compliant`], so a faster implementation can replace it later. The
//! geometry ([`crop_rect`], [`target_size`]) is pure and guarantees Instagram's width and aspect
//! rules by construction; the final [`check_jpeg`] is a guard that turns a bug here into an error
//! instead of a post Instagram would reject.

use super::capture::Frame;
use super::compliance::{
    aspect_ok, check_jpeg, MAX_ASPECT, MAX_BYTES, MAX_WIDTH, MIN_ASPECT, MIN_WIDTH,
};
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use std::io::Cursor;

/// Resampling filter. Catmull-Rom keeps photos sharp; the performance issue may swap it.
const FILTER: FilterType = FilterType::CatmullRom;
/// Quality is stepped down by this much while the JPEG is too large ...
const QUALITY_STEP: u8 = 10;
/// ... but never below this: further down, faces turn into blocks.
const MIN_QUALITY: u8 = 30;

/// How the output should look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Wanted output width in pixels (clamped into 320..=1440).
    pub width: u32,
    /// JPEG quality to start from (clamped into 1..=100).
    pub quality: u8,
}

impl From<&crate::config::ImageConfig> for EncodeOptions {
    fn from(cfg: &crate::config::ImageConfig) -> Self {
        Self {
            width: cfg.width,
            quality: cfg.quality,
        }
    }
}

/// A JPEG that passes [`check_jpeg`].
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
    #[error(
        "even at JPEG quality {quality} the photo is {bytes} bytes, over Instagram's 8 MiB limit; \
         lower image.width"
    )]
    TooLarge { bytes: usize, quality: u8 },
    /// A bug in this module: the output failed the compliance check it should pass by construction.
    #[error("internal error: the encoded photo is not Instagram-compliant: {0}")]
    NotCompliant(#[from] super::compliance::ComplianceError),
}

/// Makes an Instagram-compliant JPEG from a camera frame. CPU-bound: run it off the async runtime.
pub fn make_compliant(frame: &Frame, opts: &EncodeOptions) -> Result<CompliantJpeg, EncodeError> {
    let decoded;
    let rgb: &RgbImage = match frame {
        Frame::Rgb(img) => img,
        Frame::Encoded(bytes) => {
            decoded = decode(bytes)?;
            &decoded
        }
        Frame::Raw(raw) => {
            decoded = super::yuv::to_rgb(raw);
            &decoded
        }
    };
    let (src_w, src_h) = rgb.dimensions();
    if src_w == 0 || src_h == 0 {
        return Err(EncodeError::Decode(format!(
            "the image is {src_w}x{src_h} pixels"
        )));
    }
    let (x, y, cw, ch) = crop_rect(src_w, src_h);
    let (out_w, out_h) = target_size(cw, ch, opts.width);
    let cropped = imageops::crop_imm(rgb, x, y, cw, ch);
    let out = if (out_w, out_h) == (cw, ch) {
        cropped.to_image()
    } else {
        imageops::resize(&*cropped, out_w, out_h, FILTER)
    };
    let bytes = encode_within(&out, opts.quality, MAX_BYTES)?;
    let checked = check_jpeg(&bytes)?;
    Ok(CompliantJpeg {
        bytes,
        width: checked.width,
        height: checked.height,
    })
}

/// Decodes JPEG or PNG bytes to upright RGB8.
fn decode(bytes: &[u8]) -> Result<RgbImage, EncodeError> {
    let format = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        // zune-jpeg (non-strict, as image configures it) decodes a cut-off JPEG and fills the
        // missing part with grey; a half-grey photo must never be posted, so check first.
        if !jpeg_is_complete(bytes) {
            return Err(EncodeError::Decode(
                "the JPEG data is cut short (no end-of-image marker)".into(),
            ));
        }
        image::ImageFormat::Jpeg
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        image::ImageFormat::Png
    } else {
        return Err(EncodeError::Decode("not a JPEG or PNG file".into()));
    };
    let dec_err = |e: image::ImageError| EncodeError::Decode(e.to_string());
    // ImageReader's default limits (512 MiB allocation) stop decompression bombs.
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(dec_err)?;
    // A broken EXIF block is not worth losing the photo over: treat it as upright.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(dec_err)?;
    img.apply_orientation(orientation);
    Ok(flatten(img))
}

/// RGB8 from any colour type; transparent pixels (PNG) become white rather than black, as they
/// would look on a page.
fn flatten(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    RgbImage::from_fn(w, h, |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u32::from(p[3]);
        let over_white = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([over_white(p[0]), over_white(p[1]), over_white(p[2])])
    })
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
            loop {
                match (data.get(i), data.get(i + 1)) {
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
                    (Some(0xFF), Some(0xFF)) => i += 1,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => i += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

/// The centred crop `(x, y, width, height)` that brings `width x height` inside 4:5 ..= 1.91:1,
/// or the whole image if it already is. Rounds the kept side down, which keeps the result inside.
pub fn crop_rect(width: u32, height: u32) -> (u32, u32, u32, u32) {
    if width == 0 || height == 0 || aspect_ok(width, height) {
        return (0, 0, width, height);
    }
    let (w, h) = (u64::from(width), u64::from(height));
    if w * u64::from(MIN_ASPECT.1) < h * u64::from(MIN_ASPECT.0) {
        // Too tall: keep the full width, height = width * 5/4.
        let keep = (w * u64::from(MIN_ASPECT.1) / u64::from(MIN_ASPECT.0)).max(1) as u32;
        (0, (height - keep) / 2, width, keep)
    } else {
        // Too wide: keep the full height, width = height * 1.91.
        let keep = (h * u64::from(MAX_ASPECT.0) / u64::from(MAX_ASPECT.1)).max(1) as u32;
        ((width - keep) / 2, 0, keep, height)
    }
}

/// Output size for a (cropped, in-aspect) image of `width x height` when `wanted` px wide is
/// asked for. Never wider than the source (upscaling adds bytes, not detail), except that a
/// source under 320 px is scaled up to Instagram's minimum. The height follows the aspect ratio,
/// nudged by at most one pixel of rounding so the result stays inside 4:5 ..= 1.91:1.
pub fn target_size(width: u32, height: u32, wanted: u32) -> (u32, u32) {
    let wanted = wanted.clamp(MIN_WIDTH, MAX_WIDTH);
    let out_w = if width < MIN_WIDTH {
        MIN_WIDTH
    } else {
        wanted.min(width)
    };
    let (ow, w, h) = (u64::from(out_w), u64::from(width.max(1)), u64::from(height));
    let rounded = (ow * h + w / 2) / w;
    // Inclusive bounds for the height at this width: w/h <= 1.91 and w/h >= 4/5.
    let min_h = (ow * u64::from(MAX_ASPECT.1)).div_ceil(u64::from(MAX_ASPECT.0));
    let max_h = ow * u64::from(MIN_ASPECT.1) / u64::from(MIN_ASPECT.0);
    (out_w, rounded.clamp(min_h, max_h) as u32)
}

/// Baseline JPEG at `quality`, stepping down by 10 (not below 30) until it fits in `max_bytes`.
fn encode_within(img: &RgbImage, quality: u8, max_bytes: usize) -> Result<Vec<u8>, EncodeError> {
    let mut q = quality.clamp(1, 100);
    loop {
        let mut out = Vec::new();
        // image's JpegEncoder writes baseline JPEG with a JFIF header and no EXIF or other
        // metadata, so nothing from the source (GPS position, camera serial) is published.
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
            .encode_image(img)
            .map_err(|e| EncodeError::Encode(e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn opts(width: u32) -> EncodeOptions {
        EncodeOptions { width, quality: 90 }
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

    /// Inserts an APP1 Exif segment holding only an Orientation tag right after SOI.
    fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\x00\x2A"); // big-endian TIFF header
        tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 right after the header
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]); // value padded to 4 bytes
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut payload = b"Exif\x00\x00".to_vec();
        payload.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&jpeg[2..]);
        out
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
        let jpeg = with_orientation(&jpeg_of(&src), 6);
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
        let reference = imageops::resize(&src, 1080, 810, FILTER);
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
