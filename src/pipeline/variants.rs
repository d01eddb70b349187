//! Other shapes of a photo that is already compliant: the 9:16 copy for Stories, and a
//! carousel photo brought to the size of the first (Instagram crops every carousel image to
//! the first one's ratio, so the booth makes them equal rather than letting it crop).
//!
//! The booth makes its Stories with [`super::encode::make_story`] from the camera frame (more
//! pixels to crop a 9:16 picture from); [`story`] is the same from a saved photo.

use super::compliance::MAX_BYTES;
use super::encode::{make_story, CompliantJpeg, EncodeError, EncodeOptions};
use super::frame::Frame;
use image::imageops::{self, FilterType};
use image::RgbImage;

/// The centred crop of `width x height` with aspect `num:den`, as `(x, y, w, h)`.
pub fn centred_crop(width: u32, height: u32, (num, den): (u32, u32)) -> (u32, u32, u32, u32) {
    let (w, h) = (u64::from(width), u64::from(height));
    let (n, d) = (u64::from(num), u64::from(den));
    if w * d > h * n {
        // Too wide: keep the height.
        let keep = (h * n / d).max(1) as u32;
        ((width - keep) / 2, 0, keep, height)
    } else {
        let keep = (w * d / n).max(1) as u32;
        (0, (height - keep) / 2, width, keep)
    }
}

/// The 9:16 Story copy of a saved photo (its overlay and mirror are already in it):
/// 1080x1920, centred crop, baseline JPEG within 8 MiB.
pub fn story(jpeg: &[u8], quality: u8) -> Result<CompliantJpeg, EncodeError> {
    make_story(
        &Frame::Encoded(jpeg.to_vec()),
        &EncodeOptions {
            quality,
            ..EncodeOptions::default()
        },
    )
}

/// A compliant JPEG brought to exactly `width x height` (centred crop to that ratio, then
/// resize). Returns the input unchanged when it already is that size.
pub fn same_size(
    jpeg: CompliantJpeg,
    width: u32,
    height: u32,
    quality: u8,
) -> Result<CompliantJpeg, EncodeError> {
    if (jpeg.width, jpeg.height) == (width, height) {
        return Ok(jpeg);
    }
    let rgb = decode(&jpeg.bytes)?;
    let (x, y, cw, ch) = centred_crop(rgb.width(), rgb.height(), (width, height));
    let cropped = imageops::crop_imm(&rgb, x, y, cw, ch).to_image();
    let out = imageops::resize(&cropped, width, height, FilterType::CatmullRom);
    let made = encode(&out, quality)?;
    // The first photo was compliant and this one has its size: so is this one.
    super::compliance::check_jpeg(&made.bytes)?;
    Ok(made)
}

fn decode(jpeg: &[u8]) -> Result<RgbImage, EncodeError> {
    image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .map(|i| i.into_rgb8())
        .map_err(|e| EncodeError::Decode(e.to_string()))
}

/// JPEG at `quality`, stepping down by 10 (not below 30) until it is within 8 MiB.
fn encode(img: &RgbImage, quality: u8) -> Result<CompliantJpeg, EncodeError> {
    let mut q = quality.clamp(1, 100);
    loop {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
            .encode_image(img)
            .map_err(|e| EncodeError::Encode(e.to_string()))?;
        if out.len() <= MAX_BYTES {
            return Ok(CompliantJpeg {
                bytes: out,
                width: img.width(),
                height: img.height(),
            });
        }
        if q <= 30 {
            return Err(EncodeError::TooLarge {
                bytes: out.len(),
                quality: q,
            });
        }
        q = q.saturating_sub(10).max(30);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    #[test]
    fn centred_crops_keep_the_middle_at_the_asked_ratio() {
        assert_eq!(centred_crop(1600, 900, (9, 16)), (547, 0, 506, 900));
        assert_eq!(centred_crop(900, 1600, (9, 16)), (0, 0, 900, 1600));
        assert_eq!(centred_crop(1000, 1000, (4, 5)), (100, 0, 800, 1000));
        assert_eq!(centred_crop(1000, 1000, (2, 1)), (0, 250, 1000, 500));
    }

    #[test]
    fn a_story_is_9_by_16_and_within_instagrams_limits() {
        for (w, h) in [(1080, 608), (1080, 1350), (320, 400)] {
            let s = story(&jpeg(w, h), 90).unwrap();
            assert_eq!((s.width, s.height), (1080, 1920), "from {w}x{h}");
            assert!(s.bytes.len() <= MAX_BYTES);
            let info = crate::pipeline::compliance::check_jpeg(&s.bytes);
            // Baseline JPEG; only its 9:16 aspect is outside the feed's rules.
            assert!(
                matches!(
                    info,
                    Err(crate::pipeline::compliance::ComplianceError::BadAspect { .. })
                ),
                "{info:?}"
            );
            // Baseline (SOF0), never progressive (SOF2).
            assert!(s.bytes.windows(2).any(|m| m == [0xFF, 0xC0]));
            assert!(!s.bytes.windows(2).any(|m| m == [0xFF, 0xC2]));
            let img = image::load_from_memory(&s.bytes).unwrap();
            assert_eq!((img.width(), img.height()), (1080, 1920));
        }
    }

    #[test]
    fn carousel_photos_are_brought_to_the_first_ones_size() {
        let bytes = jpeg(1080, 1350);
        let other = CompliantJpeg {
            bytes,
            width: 1080,
            height: 1350,
        };
        let same = same_size(other.clone(), 1080, 1350, 90).unwrap();
        assert_eq!(same, other, "already that size: untouched");
        let made = same_size(other, 1080, 608, 90).unwrap();
        assert_eq!((made.width, made.height), (1080, 608));
    }
}
