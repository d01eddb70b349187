//! `postbooth sim --report FILE`: what the simulator saw, as one JSON file, for checks that
//! run outside its process (scripts/board-test.sh runs the booth on an emulated board and the
//! simulator on the host). Rewritten atomically whenever something new was published.
//!
//! Each published image is described too (size, Instagram's compliance check, and how much
//! its brightness varies), so a check can tell a camera's picture from a blank frame.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::SimMedia;
use crate::pipeline::compliance::check_jpeg;

/// What a published JPEG looks like, measured on its pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    /// `None` when Instagram's rules accept it, else why not.
    pub refused: Option<String>,
    /// Standard deviation of the luma (0..255): near 0 for a blank (one-colour) frame.
    pub luma_stddev: f64,
    /// How many of the 256 luma levels occur.
    pub luma_levels: usize,
}

/// Measures a JPEG. Pure: bytes in, figures out.
pub fn picture(bytes: &[u8]) -> Result<Picture, String> {
    let refused = check_jpeg(bytes).err().map(|e| e.to_string());
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .map_err(|e| format!("not a JPEG that decodes: {e}"))?
        .to_luma8();
    let mut histogram = [0u64; 256];
    for p in img.pixels() {
        histogram[p.0[0] as usize] += 1;
    }
    let n = (img.width() as u64 * img.height() as u64).max(1) as f64;
    let mean = histogram
        .iter()
        .enumerate()
        .map(|(v, c)| v as f64 * *c as f64)
        .sum::<f64>()
        / n;
    let variance = histogram
        .iter()
        .enumerate()
        .map(|(v, c)| (v as f64 - mean).powi(2) * *c as f64)
        .sum::<f64>()
        / n;
    Ok(Picture {
        width: img.width(),
        height: img.height(),
        refused,
        luma_stddev: variance.sqrt(),
        luma_levels: histogram.iter().filter(|c| **c > 0).count(),
    })
}

/// The report: publishes per image, every post, and each published image measured
/// (`pictures` holds what [`picture`] said, or why it could not look).
pub fn render(
    publishes: &BTreeMap<String, u32>,
    media: &[SimMedia],
    pictures: &BTreeMap<String, Result<Picture, String>>,
) -> Value {
    let media: Vec<Value> = media
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "container_id": m.container_id,
                "media_type": m.media_type,
                "product_type": m.product_type,
                "caption": m.caption,
                "images": m.images.iter().map(|i| i.sha256.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let pictures: BTreeMap<&String, Value> = pictures
        .iter()
        .map(|(sha, p)| {
            let v = match p {
                Ok(p) => json!({
                    "width": p.width,
                    "height": p.height,
                    "refused": p.refused,
                    "luma_stddev": (p.luma_stddev * 100.0).round() / 100.0,
                    "luma_levels": p.luma_levels,
                }),
                Err(e) => json!({"error": e}),
            };
            (sha, v)
        })
        .collect();
    json!({"publishes_by_image": publishes, "media": media, "pictures": pictures})
}

/// Measures the kept copy of each published image not measured yet.
pub fn measure_new(
    keep_dir: &Path,
    publishes: &BTreeMap<String, u32>,
    pictures: &mut BTreeMap<String, Result<Picture, String>>,
) {
    for sha in publishes.keys() {
        if pictures.contains_key(sha) {
            continue;
        }
        let path = keep_dir.join(format!("{sha}.jpg"));
        let measured = std::fs::read(&path)
            .map_err(|e| format!("no kept copy at {}: {e}", path.display()))
            .and_then(|bytes| picture(&bytes));
        pictures.insert(sha.clone(), measured);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(img: image::RgbImage) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_blank_frame_and_a_picture_measure_apart() {
        let blank = picture(&jpeg(image::RgbImage::from_pixel(
            1080,
            1080,
            image::Rgb([40, 40, 40]),
        )))
        .unwrap();
        assert!(blank.luma_stddev < 1.0, "{blank:?}");
        assert!(blank.luma_levels <= 3, "{blank:?}");
        assert_eq!(blank.refused, None);
        let bars = picture(&jpeg(image::RgbImage::from_fn(1080, 1080, |x, _| {
            let v = (x / 135 * 36) as u8;
            image::Rgb([v, 255 - v, v / 2])
        })))
        .unwrap();
        assert!(bars.luma_stddev > 20.0, "{bars:?}");
        assert!(bars.luma_levels > 8, "{bars:?}");
    }

    #[test]
    fn a_picture_instagram_refuses_says_why() {
        // 200 px wide: below Instagram's 320.
        let small = picture(&jpeg(image::RgbImage::from_pixel(
            200,
            200,
            image::Rgb([1, 2, 3]),
        )))
        .unwrap();
        assert!(small.refused.is_some());
        assert!(picture(b"not a jpeg").is_err());
    }
}
