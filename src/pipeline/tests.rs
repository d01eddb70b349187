//! End-to-end tests of the image pipeline: every input path against an independent reference
//! (the `image` crate's decoder and resizer), every bad input, and property tests over sizes.

use super::compliance::{aspect_ok, check_jpeg};
use super::encode::{make_compliant, make_story, EncodeError, EncodeOptions};
use super::frame::Frame;
use super::frame::{PixelFormat, RawFrame};
use super::geometry::{feed_layout, Fit, Layout};
use super::yuv;
use image::{DynamicImage, Rgb, RgbImage};
use proptest::prelude::*;

fn opts() -> EncodeOptions {
    EncodeOptions::default()
}

/// As the booth encodes a USB camera's frames: scans walked.
fn camera_opts() -> EncodeOptions {
    EncodeOptions {
        verify_scan: true,
        ..opts()
    }
}

/// Photo-like content: smooth colour waves, a soft vignette and some hard edges, so both
/// resampling and JPEG blocks show if they go wrong.
fn photo(w: u32, h: u32) -> RgbImage {
    let (fw, fh) = (w as f32, h as f32);
    RgbImage::from_fn(w, h, |x, y| {
        let (u, v) = (x as f32 / fw, y as f32 / fh);
        let r = 128.0 + 80.0 * (u * 9.0 + v * 4.0).sin();
        let g = 128.0 + 80.0 * (v * 11.0 - u * 3.0).cos();
        let d = ((u - 0.5).powi(2) + (v - 0.5).powi(2)).sqrt();
        let b = 220.0 - 200.0 * d;
        // A dark bar and a bright square: edges.
        let edge = if (0.3..0.35).contains(&u) {
            -90.0
        } else if (0.6..0.7).contains(&u) && (0.2..0.3).contains(&v) {
            90.0
        } else {
            0.0
        };
        let c = |f: f32| (f + edge).clamp(0.0, 255.0) as u8;
        Rgb([c(r), c(g), c(b)])
    })
}

fn jpeg(img: &RgbImage, sampling: jpeg_encoder::SamplingFactor) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 92);
    enc.set_sampling_factor(sampling);
    enc.encode(
        img.as_raw(),
        img.width() as u16,
        img.height() as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .unwrap();
    out
}

fn png(img: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Limited-range BT.601 raw frame of `img` (chroma averaged over each 2x1 or 2x2 block), as a
/// camera's ISP would deliver it.
fn raw(img: &RgbImage, format: PixelFormat) -> RawFrame {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let lim = |p: &Rgb<u8>| -> [f32; 3] {
        let [y, cb, cr] = yuv::rgb_to_ycbcr(p.0).map(f32::from);
        [
            16.0 + y * 219.0 / 255.0,
            128.0 + (cb - 128.0) * 224.0 / 255.0,
            128.0 + (cr - 128.0) * 224.0 / 255.0,
        ]
    };
    let px: Vec<[f32; 3]> = img.pixels().map(lim).collect();
    let at = |x: usize, y: usize| px[y.min(h - 1) * w + x.min(w - 1)];
    let b = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    // Average chroma over the block starting at (x, y), `rows` high.
    let chroma = |x: usize, y: usize, rows: usize, c: usize| {
        let mut sum = 0.0;
        for dy in 0..rows {
            sum += at(x, y + dy)[c] + at(x + 1, y + dy)[c];
        }
        b(sum / (2 * rows) as f32)
    };
    let mut data = Vec::new();
    match format {
        PixelFormat::Yuyv => {
            for y in 0..h {
                for x in (0..w).step_by(2) {
                    data.extend_from_slice(&[
                        b(at(x, y)[0]),
                        chroma(x, y, 1, 1),
                        b(at(x + 1, y)[0]),
                        chroma(x, y, 1, 2),
                    ]);
                }
            }
        }
        PixelFormat::Nv12 | PixelFormat::Yuv420 => {
            data.extend(px.iter().map(|p| b(p[0])));
            let (mut u, mut v) = (Vec::new(), Vec::new());
            for y in (0..h).step_by(2) {
                for x in (0..w).step_by(2) {
                    u.push(chroma(x, y, 2, 1));
                    v.push(chroma(x, y, 2, 2));
                }
            }
            if format == PixelFormat::Nv12 {
                data.extend(u.iter().zip(&v).flat_map(|(&a, &b)| [a, b]));
            } else {
                data.extend(u);
                data.extend(v);
            }
        }
    }
    RawFrame::new(format, w as u32, h as u32, data).unwrap()
}

/// What the output should look like: the layout's crop of the upright source, resized by the
/// `image` crate (an independent implementation).
fn reference(upright: &RgbImage, layout: &Layout) -> RgbImage {
    let c = layout.crop;
    let cropped = image::imageops::crop_imm(upright, c.x, c.y, c.w, c.h).to_image();
    DynamicImage::ImageRgb8(cropped)
        .resize_exact(
            layout.inner.w,
            layout.inner.h,
            image::imageops::FilterType::CatmullRom,
        )
        .into_rgb8()
}

fn decode(bytes: &[u8]) -> RgbImage {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .unwrap()
        .into_rgb8()
}

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

/// Runs `frame` through the pipeline and compares it with the reference resize of `upright`.
fn assert_quality(name: &str, frame: &Frame, upright: &RgbImage, min_db: f64) {
    let out = make_compliant(frame, &opts()).unwrap_or_else(|e| panic!("{name}: {e}"));
    check_jpeg(&out.bytes).unwrap();
    let layout = feed_layout(upright.width(), upright.height(), 1080, Fit::Crop);
    assert_eq!((out.width, out.height), layout.out, "{name}");
    let db = psnr(&decode(&out.bytes), &reference(upright, &layout));
    println!("{name}: PSNR {db:.2} dB against the reference resize");
    assert!(db >= min_db, "{name}: PSNR {db:.1} dB < {min_db} dB");
}

#[test]
fn every_input_path_keeps_the_picture() {
    // Quality 90 output against the reference: >= 35 dB on each path.
    let hd = photo(1920, 1080);
    assert_quality("RGB frame", &Frame::Rgb(hd.clone()), &hd, 35.0);
    let mjpeg = jpeg(&hd, jpeg_encoder::SamplingFactor::F_2_1);
    assert_quality(
        "1080p MJPEG",
        &Frame::Encoded(mjpeg.clone()),
        &decode(&mjpeg),
        35.0,
    );
    for format in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Yuv420] {
        let frame = raw(&hd, format);
        let upright = yuv::to_rgb(&frame);
        assert_quality(&format!("{format:?}"), &Frame::Raw(frame), &upright, 35.0);
    }
    // Large enough for the 1/2-scale DCT decode.
    let big = jpeg(&photo(2600, 1950), jpeg_encoder::SamplingFactor::F_2_2);
    assert_quality(
        "large JPEG (scaled decode)",
        &Frame::Encoded(big.clone()),
        &decode(&big),
        35.0,
    );
    let p = photo(1200, 900);
    assert_quality(
        "PNG",
        &Frame::Encoded(png(&DynamicImage::ImageRgb8(p.clone()))),
        &p,
        35.0,
    );
}

/// Inserts an APP1 Exif segment holding only an Orientation tag right after SOI.
pub(super) fn with_orientation(jpeg: &[u8], orientation: u16, little_endian: bool) -> Vec<u8> {
    let u16b = |v: u16| {
        if little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    };
    let u32b = |v: u32| {
        if little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    };
    let mut tiff = Vec::new();
    tiff.extend_from_slice(if little_endian {
        b"II\x2A\x00"
    } else {
        b"MM\x00\x2A"
    });
    tiff.extend_from_slice(&u32b(8));
    tiff.extend_from_slice(&u16b(1));
    tiff.extend_from_slice(&u16b(0x0112));
    tiff.extend_from_slice(&u16b(3));
    tiff.extend_from_slice(&u32b(1));
    tiff.extend_from_slice(&u16b(orientation));
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&u32b(0));
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
fn each_exif_orientation_is_applied() {
    // Four coloured quadrants, so any wrong turn or flip moves a colour.
    let colours = [[230, 20, 20], [20, 200, 20], [20, 20, 230], [230, 230, 20]];
    for (w, h) in [(640, 480), (2400, 1800)] {
        let stored = RgbImage::from_fn(w, h, |x, y| {
            Rgb(colours[usize::from(x >= w / 2) + 2 * usize::from(y >= h / 2)])
        });
        let bytes = jpeg(&stored, jpeg_encoder::SamplingFactor::F_1_1);
        for v in 1..=8u16 {
            let tagged = with_orientation(&bytes, v, v % 2 == 0);
            let mut upright = DynamicImage::ImageRgb8(decode(&bytes));
            upright.apply_orientation(image::metadata::Orientation::from_exif(v as u8).unwrap());
            assert_quality(
                &format!("{w}x{h} orientation {v}"),
                &Frame::Encoded(tagged),
                &upright.into_rgb8(),
                30.0,
            );
        }
    }
}

#[test]
fn bad_frames_are_clear_errors() {
    let msg = |r: Result<super::encode::CompliantJpeg, EncodeError>| match r {
        Err(EncodeError::Decode(m)) => m,
        other => panic!("expected a decode error, got {:?}", other.map(|j| j.width)),
    };
    assert!(msg(make_compliant(&Frame::Encoded(Vec::new()), &opts())).contains("empty"));
    let full = jpeg(&photo(800, 600), jpeg_encoder::SamplingFactor::F_2_1);
    for cut in [full.len() / 2, full.len() - 2] {
        let m = msg(make_compliant(
            &Frame::Encoded(full[..cut].to_vec()),
            &opts(),
        ));
        assert!(m.contains("cut short") && m.contains("next frame"), "{m}");
    }
    // A wrong YUYV length never becomes a frame.
    let e = RawFrame::new(PixelFormat::Yuyv, 1920, 1080, vec![0; 1920 * 1080 * 3 / 2]).unwrap_err();
    assert!(
        e.to_string()
            .contains("needs 4147200 bytes but has 3110400"),
        "{e}"
    );
}

/// A webcam-like MJPEG frame: [`camera_jpeg`] without its Huffman tables (the standard ones
/// are implied).
fn mjpeg_frame(w: u32, h: u32, restart: u16) -> Vec<u8> {
    strip_huffman_tables(&camera_jpeg(w, h, restart))
}

/// Photo content with sensor noise (so most blocks carry AC coefficients, as real frames do),
/// 4:2:2, quality 85, the standard Huffman tables, restart markers every `restart` MCUs.
fn camera_jpeg(w: u32, h: u32, restart: u16) -> Vec<u8> {
    let mut img = photo(w, h);
    for (i, p) in img.pixels_mut().enumerate() {
        let n = ((i as u32).wrapping_mul(2_654_435_761) >> 27) as i16 - 16;
        for c in &mut p.0 {
            *c = (i16::from(*c) + n).clamp(0, 255) as u8;
        }
    }
    let mut full = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut full, 85);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_1);
    enc.set_restart_interval(restart);
    enc.encode(
        img.as_raw(),
        w as u16,
        h as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .unwrap();
    full
}

fn strip_huffman_tables(full: &[u8]) -> Vec<u8> {
    let mut stripped = full[..2].to_vec();
    let mut i = 2;
    while full[i + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([full[i + 2], full[i + 3]]));
        if full[i + 1] != 0xC4 {
            stripped.extend_from_slice(&full[i..i + 2 + len]);
        }
        i += 2 + len;
    }
    stripped.extend_from_slice(&full[i..]);
    stripped
}

/// Where the entropy-coded data of the (first) scan runs.
fn scan_data(jpeg: &[u8]) -> std::ops::Range<usize> {
    let mut i = 2;
    loop {
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if jpeg[i + 1] == 0xDA {
            return i + 2 + len..jpeg.len() - 2;
        }
        i += 2 + len;
    }
}

/// Every JPEG a camera or encoder makes in good order passes the scan check.
#[test]
fn whole_jpegs_pass_the_scan_check() {
    use jpeg_encoder::SamplingFactor as S;
    let img = photo(333, 250);
    for sampling in [S::F_1_1, S::F_2_1, S::F_2_2, S::F_1_2, S::F_4_1] {
        for restart in [0, 1, 7] {
            let mut out = Vec::new();
            let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
            enc.set_sampling_factor(sampling);
            enc.set_restart_interval(restart);
            enc.encode(img.as_raw(), 333, 250, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            super::scan::check(&out).unwrap_or_else(|e| panic!("{sampling:?} {restart}: {e}"));
            super::scan::check(&strip_huffman_tables(&out)).unwrap();
        }
    }
    // Optimized tables, greyscale, the image crate's encoder, quality 100 (quantizer 1:
    // the coefficient bounds are tightest), and progressive (not checked, passes).
    let mut variants = Vec::new();
    for (q, optimize, progressive, colour) in [
        (100, false, false, jpeg_encoder::ColorType::Rgb),
        (75, true, false, jpeg_encoder::ColorType::Rgb),
        (90, false, true, jpeg_encoder::ColorType::Rgb),
    ] {
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, q);
        enc.set_optimized_huffman_tables(optimize);
        enc.set_progressive(progressive);
        enc.encode(img.as_raw(), 333, 250, colour).unwrap();
        variants.push(out);
    }
    let grey: Vec<u8> = img.pixels().map(|p| p[1]).collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 100)
        .encode(&grey, 333, 250, jpeg_encoder::ColorType::Luma)
        .unwrap();
    variants.push(out);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(&img)
        .unwrap();
    variants.push(out);
    // Extremes: black and white blocks (largest DC both ways) and a checkerboard (largest AC).
    let extreme = RgbImage::from_fn(64, 64, |x, y| {
        let v = if x < 16 {
            0
        } else if x < 32 {
            255
        } else if (x + y) % 2 == 0 {
            0
        } else {
            255
        };
        Rgb([v, 255 - v, v])
    });
    variants.push(jpeg(&extreme, jpeg_encoder::SamplingFactor::F_1_1));
    for q in [100, 50] {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
            .encode_image(&extreme)
            .unwrap();
        variants.push(out);
    }
    variants.push(mjpeg_frame(640, 480, 0));
    for (i, v) in variants.iter().enumerate() {
        super::scan::check(v).unwrap_or_else(|e| panic!("variant {i}: {e}"));
    }
    for name in ["gradient-64x48.jpg", "green-40x40.jpg", "tall-30x60.jpg"] {
        let path = format!(
            "{}/fuzz/corpus/frame_decode/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        super::scan::check(&std::fs::read(path).unwrap()).unwrap();
    }
}

/// Frames with lost or zeroed USB packets (1 KiB, 3 KiB) inside the scan: both decoders turn
/// them into a picture with garbage from there down and no error. Every one is refused.
#[test]
fn mjpeg_frames_with_lost_data_are_refused() {
    for restart in [0, 8] {
        let frame = mjpeg_frame(640, 480, restart);
        let scan = scan_data(&frame);
        for k in 0..12 {
            let at = scan.start + (scan.len() - 4000) * k / 12 + k;
            for (what, bad) in [
                ("1 KiB lost", [&frame[..at], &frame[at + 1024..]].concat()),
                ("3 KiB lost", [&frame[..at], &frame[at + 3072..]].concat()),
                ("1 KiB zeroed", {
                    let mut b = frame.clone();
                    b[at..at + 1024].fill(0);
                    b
                }),
            ] {
                assert!(super::encode::jpeg_is_complete(&bad), "still ends in EOI");
                let r = make_compliant(&Frame::Encoded(bad), &camera_opts());
                let Err(EncodeError::Decode(m)) = r else {
                    panic!("{what} at {at} (restart {restart}): accepted")
                };
                assert!(m.contains("corrupt") && m.contains("next frame"), "{m}");
            }
        }
    }
}

/// Single flipped bits and bytes in the scan. Some only change one coefficient (a faint
/// blemish in one 8x8 block); the rest throw the decoder off. Most frames a flip visibly
/// damages (over 0.1 % of the pixels off by more than 24) must be refused; the measured
/// fraction is printed (on real photos: docs/PERFORMANCE.md).
#[test]
fn mjpeg_frames_with_flipped_bits_are_mostly_refused() {
    let (w, h) = (640u32, 480u32);
    // With its (standard) tables, so the image crate can show what a decoder makes of it.
    let frame = camera_jpeg(w, h, 0);
    let clean = decode(&frame);
    let scan = scan_data(&frame);
    let (mut damaged, mut refused_damaged, mut refused, mut total) = (0, 0, 0, 0);
    for k in 0..80 {
        let at = scan.start + (scan.len() - 8) * k / 80 + k % 5;
        for flip in [1u8 << (k % 8), 0x5A] {
            let mut bad = frame.clone();
            bad[at] ^= flip;
            total += 1;
            // Through the whole pipeline: refused, or a photo (never a panic).
            let is_refused = match make_compliant(&Frame::Encoded(bad.clone()), &camera_opts()) {
                Err(EncodeError::Decode(_)) => true,
                Ok(_) => false,
                Err(e) => panic!("{e}"),
            };
            // What a decoder would have made of it.
            let off = image::load_from_memory_with_format(&bad, image::ImageFormat::Jpeg)
                .map(|img| {
                    let img = img.into_rgb8();
                    img.pixels()
                        .zip(clean.pixels())
                        .filter(|(a, b)| a.0.iter().zip(b.0).any(|(&x, y)| x.abs_diff(y) > 24))
                        .count()
                })
                .unwrap_or(usize::MAX);
            refused += usize::from(is_refused);
            if off > (w * h / 1000) as usize {
                damaged += 1;
                refused_damaged += usize::from(is_refused);
            }
        }
    }
    eprintln!(
        "flipped bits: {refused}/{total} frames refused; of {damaged} visibly damaged, {refused_damaged} refused"
    );
    assert!(damaged >= 20, "the test must damage frames: {damaged}");
    assert!(
        refused_damaged * 100 >= damaged * 85,
        "only {refused_damaged} of {damaged} damaged frames refused"
    );
}

#[test]
fn mjpeg_without_huffman_tables_decodes() {
    // Many UVC webcams leave out DHT and rely on the standard tables.
    for (w, h) in [(1280, 720), (2600, 1950)] {
        let full = jpeg(&photo(w, h), jpeg_encoder::SamplingFactor::F_2_1);
        let stripped = strip_huffman_tables(&full);
        assert!(stripped.len() < full.len());
        let out = make_compliant(&Frame::Encoded(stripped), &opts()).unwrap();
        let want = make_compliant(&Frame::Encoded(full), &opts()).unwrap();
        assert!(psnr(&decode(&out.bytes), &decode(&want.bytes)) > 45.0);
    }
}

#[test]
fn one_by_ten_thousand_gives_a_compliant_photo() {
    let strip = RgbImage::from_pixel(1, 10_000, Rgb([10, 100, 200]));
    let enc = jpeg(&strip, jpeg_encoder::SamplingFactor::F_1_1);
    for frame in [Frame::Rgb(strip.clone()), Frame::Encoded(enc)] {
        let crop = make_compliant(&frame, &opts()).unwrap();
        assert_eq!((crop.width, crop.height), (320, 320));
        let pad = EncodeOptions {
            fit: Fit::Pad([255, 255, 255]),
            ..opts()
        };
        let padded = make_compliant(&frame, &pad).unwrap();
        // The 4:5 canvas around 1x10000 is 8000 px wide: the usual 1080 px output.
        assert_eq!((padded.width, padded.height), (1080, 1350));
        let img = decode(&padded.bytes);
        // White canvas, the strip a thin centre line.
        assert!(img.get_pixel(10, 675).0.iter().all(|&c| c > 240));
        // One pixel wide: 4:2:0 chroma spreads its colour, its darkness stays.
        let mid = img.get_pixel(539, 675).0;
        assert!(mid.iter().all(|&c| c < 150), "{mid:?}");
    }
}

#[test]
fn palette_png_with_alpha_is_flattened_on_white() {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 400, 300);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![255, 0, 0, 0, 0, 255]);
        enc.set_trns(vec![255, 0]); // red opaque, blue fully transparent
        let mut w = enc.write_header().unwrap();
        let data: Vec<u8> = (0..400 * 300).map(|i| u8::from(i % 400 >= 200)).collect();
        w.write_image_data(&data).unwrap();
    }
    let jpeg = make_compliant(&Frame::Encoded(out), &opts()).unwrap();
    assert_eq!((jpeg.width, jpeg.height), (400, 300));
    let img = decode(&jpeg.bytes);
    let left = img.get_pixel(100, 150).0;
    let right = img.get_pixel(300, 150).0;
    assert!(
        left[0] > 230 && left[1] < 30,
        "opaque red stays red: {left:?}"
    );
    assert!(
        right.iter().all(|&c| c > 240),
        "transparent is white: {right:?}"
    );
}

#[test]
fn output_is_baseline_jfif_without_metadata() {
    let tagged = with_orientation(
        &jpeg(&photo(800, 600), jpeg_encoder::SamplingFactor::F_2_1),
        1,
        false,
    );
    let out = make_compliant(&Frame::Encoded(tagged), &opts())
        .unwrap()
        .bytes;
    assert_eq!(&out[..4], [0xFF, 0xD8, 0xFF, 0xE0]);
    assert_eq!(&out[6..11], b"JFIF\0");
    // Walk the header segments: baseline SOF0, no EXIF/XMP (APP1), ICC (APP2), IPTC (APP13)
    // or comments.
    let mut i = 2;
    let mut markers = Vec::new();
    while out[i + 1] != 0xDA {
        markers.push(out[i + 1]);
        i += 2 + usize::from(u16::from_be_bytes([out[i + 2], out[i + 3]]));
    }
    assert!(markers.contains(&0xC0), "{markers:x?}");
    for m in [0xC1, 0xC2, 0xE1, 0xE2, 0xED, 0xFE] {
        assert!(!markers.contains(&m), "marker {m:x} in {markers:x?}");
    }
}

#[test]
fn story_is_1080x1920_cropped_or_padded() {
    let hd = photo(1920, 1080);
    for frame in [
        Frame::Rgb(hd.clone()),
        Frame::Raw(raw(&hd, PixelFormat::Nv12)),
    ] {
        for fit in [Fit::Crop, Fit::Pad([0, 0, 0])] {
            let s = make_story(&frame, &EncodeOptions { fit, ..opts() }).unwrap();
            assert_eq!((s.width, s.height), (1080, 1920));
            let img = decode(&s.bytes);
            assert_eq!(img.dimensions(), (1080, 1920));
            let top = img.get_pixel(540, 100).0;
            if let Fit::Pad(_) = fit {
                assert!(top.iter().all(|&c| c < 20), "padding is black: {top:?}");
            } else {
                assert!(
                    top.iter().any(|&c| c > 40),
                    "photo reaches the top: {top:?}"
                );
            }
        }
    }
}

/// A feed overlay (4:5, white band along its top) on the 9:16 Story keeps its shape: fitted
/// to the width and centred (1080x1350 at y = 285), not stretched to 1080x1920.
#[test]
fn story_overlay_keeps_its_aspect_ratio() {
    let mut band = image::RgbaImage::new(100, 125);
    for y in 0..10 {
        for x in 0..100 {
            band.put_pixel(x, y, image::Rgba([255, 255, 255, 255]));
        }
    }
    let dark = RgbImage::from_pixel(1920, 1080, Rgb([20, 30, 40]));
    let o = EncodeOptions {
        overlay: Some(std::sync::Arc::new(super::compose::Overlay::from_rgba(
            band,
        ))),
        ..opts()
    };
    let img = decode(&make_story(&Frame::Rgb(dark), &o).unwrap().bytes);
    let white = |y: u32| img.get_pixel(540, y).0.iter().all(|&c| c > 230);
    assert!(!white(100), "nothing drawn above the fitted overlay");
    assert!(
        white(285 + 50),
        "the band's top part, where a fitted overlay puts it"
    );
    assert!(!white(285 + 120), "the band is 108 px high on the story");
    assert!(!white(1900));
}

#[test]
fn overlay_and_mirror_are_applied() {
    // Left half red, right half blue; an overlay with an opaque white top band.
    let src = RgbImage::from_fn(1000, 800, |x, _| {
        Rgb(if x < 500 {
            [230, 10, 10]
        } else {
            [10, 10, 230]
        })
    });
    let mut band = image::RgbaImage::new(100, 80);
    for y in 0..8 {
        for x in 0..100 {
            band.put_pixel(x, y, image::Rgba([255, 255, 255, 255]));
        }
    }
    let o = EncodeOptions {
        mirror: true,
        overlay: Some(std::sync::Arc::new(super::compose::Overlay::from_rgba(
            band,
        ))),
        ..opts()
    };
    for frame in [
        Frame::Rgb(src.clone()),
        Frame::Raw(raw(&src, PixelFormat::Yuyv)),
    ] {
        let out = make_compliant(&frame, &o).unwrap();
        let img = decode(&out.bytes);
        let (w, h) = img.dimensions();
        let left = img.get_pixel(w / 4, h / 2).0;
        let right = img.get_pixel(3 * w / 4, h / 2).0;
        assert!(
            left[2] > 180 && left[0] < 60,
            "mirrored: blue on the left {left:?}"
        );
        assert!(
            right[0] > 180 && right[2] < 60,
            "red on the right {right:?}"
        );
        let top = img.get_pixel(w / 2, h / 40).0;
        assert!(top.iter().all(|&c| c > 230), "overlay band on top {top:?}");
    }
}

/// A JPEG of any size, encoded row by row: a 48 MP test frame without a 144 MB buffer.
struct Striped {
    w: u16,
    h: u16,
}

impl jpeg_encoder::ImageBuffer for Striped {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        jpeg_encoder::JpegColorType::Ycbcr
    }
    fn width(&self) -> u16 {
        self.w
    }
    fn height(&self) -> u16 {
        self.h
    }
    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        for x in 0..self.w {
            let v = ((u32::from(x) / 16 + u32::from(y) / 16) % 2 * 120 + 60) as u8;
            buffers[0].push(v);
            buffers[1].push(128 + (x % 64) as u8);
            buffers[2].push(100);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Jpeg,
    Yuyv,
    Nv12,
    Rgb,
}

fn frame_of(kind: Kind, w: u32, h: u32) -> Frame {
    let (ew, eh) = (w & !1, h);
    match kind {
        Kind::Jpeg => {
            let mut out = Vec::new();
            let mut enc = jpeg_encoder::Encoder::new(&mut out, 80);
            enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
            enc.encode_image(Striped {
                w: w as u16,
                h: h as u16,
            })
            .unwrap();
            Frame::Encoded(out)
        }
        Kind::Yuyv => {
            let data: Vec<u8> = (0..ew as usize * eh as usize * 2)
                .map(|i| (i % 251) as u8)
                .collect();
            Frame::Raw(RawFrame::new(PixelFormat::Yuyv, ew, eh, data).unwrap())
        }
        Kind::Nv12 => {
            let len = PixelFormat::Nv12.frame_len(eh, ew as usize).unwrap();
            let mut data = vec![90u8; len];
            data[..ew as usize].fill(200);
            Frame::Raw(RawFrame::new(PixelFormat::Nv12, ew, eh, data).unwrap())
        }
        Kind::Rgb => Frame::Rgb(RgbImage::from_pixel(w, h, Rgb([1, 2, 3]))),
    }
}

proptest! {
    // Each case may handle a 48 MP frame: few cases, so debug test runs stay fast.
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_size_and_aspect_gives_a_compliant_jpeg(
        w in 64u32..=8000,
        h in 64u32..=6000,
        kind in prop_oneof![Just(Kind::Jpeg), Just(Kind::Yuyv), Just(Kind::Nv12), Just(Kind::Rgb)],
        pad in any::<bool>(),
        width in 320u32..=1440,
    ) {
        // Plain RGB frames only come from the test pattern: keep those small.
        let (w, h) = if matches!(kind, Kind::Rgb) { (w.min(2000), h.min(2000)) } else { (w, h) };
        let frame = frame_of(kind, w, h);
        let fit = if pad { Fit::Pad([0, 0, 0]) } else { Fit::Crop };
        let out = make_compliant(&frame, &EncodeOptions { width, fit, ..opts() }).unwrap();
        let c = check_jpeg(&out.bytes).unwrap();
        prop_assert_eq!((c.width, c.height), (out.width, out.height));
        prop_assert!(aspect_ok(c.width, c.height));
        prop_assert!(c.width <= width.max(320));
    }
}
