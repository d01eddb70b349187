//! Encoded frames (MJPEG, JPEG and PNG files) to pixels, doing as little work as the output
//! needs: a JPEG much larger than the output is decoded at 1/2, 1/4 or 1/8 scale in the DCT
//! domain (jpeg-decoder), which skips most of the inverse DCT and keeps the buffers small; one
//! that is not goes through zune-jpeg (the faster full-size decoder, SIMD) straight to YCbCr,
//! so no colour conversion happens until the output size.

use super::encode::EncodeError;
use super::geometry::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use std::io::Cursor;

/// Largest image decoded, in pixels: 100 MP is beyond any camera a booth uses, and at 3 bytes a
/// pixel it is the most a Pi should ever be asked to hold.
const MAX_PIXELS: u64 = 100_000_000;

/// Pixel colour model of a 3-bytes-a-pixel buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    Rgb,
    /// Full-range BT.601 YCbCr, as JPEG stores it.
    Ycbcr,
}

/// Decoded pixels, as stored (not yet turned by `orientation`).
pub struct Decoded {
    /// 3 bytes a pixel, `width * height` pixels.
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub space: Space,
    /// The stored size before any DCT scaling (what crop rectangles refer to).
    pub full: (u32, u32),
    pub orientation: Orientation,
}

fn err(what: impl std::fmt::Display) -> EncodeError {
    EncodeError::Decode(what.to_string())
}

/// Decodes a JPEG or PNG. `plan` gets the stored size and orientation and returns the smallest
/// scale (0 < s <= 1) of the stored image that still has enough pixels for the output.
pub fn decode(
    bytes: &[u8],
    plan: impl FnOnce(u32, u32, Orientation) -> f64,
) -> Result<Decoded, EncodeError> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        // Decoders fill a cut-off JPEG with grey; a half-grey photo must never be posted.
        if !super::encode::jpeg_is_complete(bytes) {
            return Err(err(
                "the JPEG data is cut short (no end-of-image marker); for a camera, take the next frame",
            ));
        }
        decode_jpeg(bytes, plan)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes, plan)
    } else if bytes.is_empty() {
        Err(err("the frame is empty (0 bytes)"))
    } else {
        Err(err("not a JPEG or PNG file"))
    }
}

fn check_size(w: u32, h: u32) -> Result<(), EncodeError> {
    if w == 0 || h == 0 {
        return Err(err(format!("the image is {w}x{h} pixels")));
    }
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(err(format!(
            "the image is {w}x{h} pixels, more than the {} megapixels a booth photo can be",
            MAX_PIXELS / 1_000_000
        )));
    }
    Ok(())
}

fn decode_jpeg(
    bytes: &[u8],
    plan: impl FnOnce(u32, u32, Orientation) -> f64,
) -> Result<Decoded, EncodeError> {
    let marked;
    let bytes = if has_huffman_tables(bytes) {
        bytes
    } else {
        // Many USB webcams leave the Huffman tables out of MJPEG frames: the standard tables
        // are implied. Both decoders fill them in for frames marked as MJPEG the way AVI files
        // mark them (an "AVI1" APP0 segment), so mark the frame.
        marked = [&bytes[..2], b"\xFF\xE0\x00\x07AVI1\x00", &bytes[2..]].concat();
        &marked[..]
    };
    let mut dec = jpeg_decoder::Decoder::new(bytes);
    dec.read_info().map_err(err)?;
    let info = dec
        .info()
        .ok_or_else(|| err("the JPEG has no image header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    check_size(w, h)?;
    let orientation = dec
        .exif_data()
        .and_then(image::metadata::Orientation::from_exif_chunk)
        .map(exif_value)
        .map(Orientation::from_exif)
        .unwrap_or_default();
    let scale = plan(w, h, orientation);
    if scale <= 0.5 && info.pixel_format == jpeg_decoder::PixelFormat::RGB24 {
        // Ask for the scaled size (rounded up): jpeg-decoder picks the smallest of 1/8, 1/4,
        // 1/2 that is at least that large.
        let want = |v: u32| ((f64::from(v) * scale).ceil() as u32).clamp(1, 65_535) as u16;
        let (sw, sh) = dec.scale(want(w), want(h)).map_err(err)?;
        let data = dec.decode().map_err(err)?;
        let (sw, sh) = (u32::from(sw), u32::from(sh));
        if data.len() != sw as usize * sh as usize * 3 {
            return Err(err("the JPEG decoded to an unexpected size"));
        }
        return Ok(Decoded {
            data,
            width: sw,
            height: sh,
            space: Space::Rgb,
            full: (w, h),
            orientation,
        });
    }
    decode_jpeg_full(bytes, (w, h), orientation)
}

/// Full-size decode with zune-jpeg, to YCbCr when the JPEG holds YCbCr (no colour conversion
/// now, none later: the encoder takes YCbCr), otherwise to RGB.
fn decode_jpeg_full(
    bytes: &[u8],
    (w, h): (u32, u32),
    orientation: Orientation,
) -> Result<Decoded, EncodeError> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .set_max_width(65_535)
        .set_max_height(65_535);
    let mut probe = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
    probe.decode_headers().map_err(err)?;
    let ycbcr = probe.get_input_colorspace() == Some(ColorSpace::YCbCr);
    let (out, space) = if ycbcr {
        (ColorSpace::YCbCr, Space::Ycbcr)
    } else {
        (ColorSpace::RGB, Space::Rgb)
    };
    let mut dec =
        zune_jpeg::JpegDecoder::new_with_options(bytes, options.jpeg_set_out_colorspace(out));
    let data = dec.decode().map_err(err)?;
    let (dw, dh) = dec
        .dimensions()
        .map(|(a, b)| (a as u32, b as u32))
        .ok_or_else(|| err("the JPEG has no image header"))?;
    if (dw, dh) != (w, h) || data.len() != w as usize * h as usize * 3 {
        return Err(err("the JPEG decoded to an unexpected size"));
    }
    Ok(Decoded {
        data,
        width: w,
        height: h,
        space,
        full: (w, h),
        orientation,
    })
}

/// PNGs come from the folder camera only (phones, tethering): full-size decode with `image`.
/// Does the JPEG define Huffman tables (a DHT segment) before its first scan?
fn has_huffman_tables(data: &[u8]) -> bool {
    let mut i = 2;
    while let (Some(&0xFF), Some(&marker)) = (data.get(i), data.get(i + 1)) {
        match marker {
            0xC4 => return true,
            0xDA | 0xD9 => return false,
            // Fill bytes.
            0xFF => i += 1,
            _ => {
                let Some(len) = data.get(i + 2..i + 4) else {
                    return false;
                };
                i += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
            }
        }
    }
    false
}

fn decode_png(
    bytes: &[u8],
    plan: impl FnOnce(u32, u32, Orientation) -> f64,
) -> Result<Decoded, EncodeError> {
    let dec_err = |e: image::ImageError| err(e);
    // ImageReader's default limits (512 MiB allocation) stop decompression bombs.
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::Png)
        .into_decoder()
        .map_err(dec_err)?;
    let (w, h) = decoder.dimensions();
    check_size(w, h)?;
    // A broken EXIF block is not worth losing the photo over: treat it as upright.
    let orientation = decoder
        .orientation()
        .map(exif_value)
        .map(Orientation::from_exif)
        .unwrap_or_default();
    plan(w, h, orientation);
    let img = DynamicImage::from_decoder(decoder).map_err(dec_err)?;
    let rgb = flatten(img);
    Ok(Decoded {
        width: rgb.width(),
        height: rgb.height(),
        full: rgb.dimensions(),
        data: rgb.into_raw(),
        space: Space::Rgb,
        orientation,
    })
}

fn exif_value(o: image::metadata::Orientation) -> u16 {
    use image::metadata::Orientation as O;
    match o {
        O::NoTransforms => 1,
        O::FlipHorizontal => 2,
        O::Rotate180 => 3,
        O::FlipVertical => 4,
        O::Rotate90FlipH => 5,
        O::Rotate90 => 6,
        O::Rotate270FlipH => 7,
        O::Rotate270 => 8,
    }
}

/// RGB8 from any colour type (palette, grey, 16-bit, alpha); transparent pixels become white
/// rather than black, as they would look on a page.
pub fn flatten(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let mut rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    // In place, then dropping the alpha bytes: one RGBA buffer alive, not two images.
    for p in rgba.pixels_mut() {
        let a = u32::from(p[3]);
        for c in &mut p.0[..3] {
            *c = ((u32::from(*c) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    let raw = rgba.into_raw();
    let rgb: Vec<u8> = raw
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    RgbImage::from_raw(w, h, rgb).expect("3 bytes per pixel")
}
