//! Instagram's rules for a feed photo, as one check. The encoder's output passes it by
//! construction; the Graph API simulator uses the same function to accept or reject media.

/// Instagram's limits for a feed JPEG.
pub const MIN_WIDTH: u32 = 320;
pub const MAX_WIDTH: u32 = 1440;
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Narrowest (portrait) aspect ratio, width / height = 4 / 5.
pub const MIN_ASPECT: (u32, u32) = (4, 5);
/// Widest (landscape) aspect ratio, 1.91 : 1.
pub const MAX_ASPECT: (u32, u32) = (191, 100);

/// What a compliant JPEG measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compliant {
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ComplianceError {
    #[error("not a JPEG file")]
    NotJpeg,
    #[error("the JPEG cannot be read: {0}")]
    Unreadable(String),
    #[error("{bytes} bytes is larger than Instagram's 8 MiB limit")]
    TooLarge { bytes: usize },
    #[error("{width} px wide is outside Instagram's 320..1440 px")]
    BadWidth { width: u32 },
    #[error("{width}x{height} is outside Instagram's aspect ratios 4:5 to 1.91:1")]
    BadAspect { width: u32, height: u32 },
}

impl ComplianceError {
    /// The Graph API error (code, subcode) Instagram answers for this problem.
    pub fn graph_code(&self) -> (i64, i64) {
        match self {
            Self::TooLarge { .. } => (36000, 2207004),
            Self::NotJpeg | Self::Unreadable(_) => (36001, 2207005),
            Self::BadWidth { .. } | Self::BadAspect { .. } => (36003, 2207009),
        }
    }
}

/// Is `(width, height)` inside 4:5 ..= 1.91:1? Integer maths, so the edges are exact.
pub fn aspect_ok(width: u32, height: u32) -> bool {
    let (w, h) = (u64::from(width), u64::from(height));
    let (min_n, min_d) = (u64::from(MIN_ASPECT.0), u64::from(MIN_ASPECT.1));
    let (max_n, max_d) = (u64::from(MAX_ASPECT.0), u64::from(MAX_ASPECT.1));
    h > 0 && w * min_d >= h * min_n && w * max_d <= h * max_n
}

/// Checks JPEG bytes against Instagram's feed rules, reading only the header.
pub fn check_jpeg(bytes: &[u8]) -> Result<Compliant, ComplianceError> {
    if bytes.len() > MAX_BYTES {
        return Err(ComplianceError::TooLarge { bytes: bytes.len() });
    }
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(ComplianceError::NotJpeg);
    }
    let reader =
        image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Jpeg);
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| ComplianceError::Unreadable(e.to_string()))?;
    if !(MIN_WIDTH..=MAX_WIDTH).contains(&width) {
        return Err(ComplianceError::BadWidth { width });
    }
    if !aspect_ok(width, height) {
        return Err(ComplianceError::BadAspect { width, height });
    }
    Ok(Compliant {
        width,
        height,
        bytes: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 100, 50]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&img)
            .unwrap();
        out
    }

    #[test]
    fn aspect_edges_are_inclusive() {
        assert!(aspect_ok(1080, 1350)); // 4:5 exactly
        assert!(!aspect_ok(1080, 1351));
        assert!(aspect_ok(1910, 1000)); // 1.91:1 exactly
        assert!(!aspect_ok(1911, 1000));
        assert!(aspect_ok(1080, 1080));
        assert!(!aspect_ok(1080, 0));
    }

    #[test]
    fn accepts_a_compliant_jpeg() {
        let c = check_jpeg(&jpeg(1080, 1080)).unwrap();
        assert_eq!((c.width, c.height), (1080, 1080));
    }

    #[test]
    fn rejects_each_rule_with_its_graph_code() {
        let narrow = check_jpeg(&jpeg(200, 200)).unwrap_err();
        assert_eq!(narrow.graph_code(), (36003, 2207009));
        let tall = check_jpeg(&jpeg(400, 1000)).unwrap_err();
        assert!(matches!(tall, ComplianceError::BadAspect { .. }));
        let png = b"\x89PNG\r\n\x1a\n";
        assert_eq!(check_jpeg(png).unwrap_err(), ComplianceError::NotJpeg);
        let huge = vec![0u8; MAX_BYTES + 1];
        assert_eq!(
            check_jpeg(&huge).unwrap_err().graph_code(),
            (36000, 2207004)
        );
        let truncated = &jpeg(1080, 1080)[..10];
        assert!(matches!(
            check_jpeg(truncated).unwrap_err(),
            ComplianceError::Unreadable(_)
        ));
    }
}
