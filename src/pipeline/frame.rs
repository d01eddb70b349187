//! What a camera hands to the encoder: an encoded image (MJPEG frame, JPEG or PNG file), raw
//! YUV pixels as V4L2 delivers them (YUYV, NV12, YUV420), or RGB pixels (the test pattern).
//!
//! [`RawFrame`] checks its length against its format when it is made, so the encoder never
//! reads past a short buffer and a mismatched format is reported where it happens.

use image::RgbImage;

/// A frame as a camera delivers it.
pub enum Frame {
    /// An encoded image: an MJPEG frame from a webcam, or a JPEG/PNG file from a folder.
    Encoded(Vec<u8>),
    /// Raw YUV pixels from a V4L2 capture.
    Raw(RawFrame),
    /// Decoded RGB pixels.
    Rgb(RgbImage),
}

/// Sizes only: a frame's bytes would flood a log line.
impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Frame::Encoded(b) => write!(f, "Frame::Encoded({} bytes)", b.len()),
            Frame::Raw(r) => write!(f, "Frame::Raw({r:?})"),
            Frame::Rgb(img) => write!(f, "Frame::Rgb({}x{})", img.width(), img.height()),
        }
    }
}

/// Raw pixel layouts, named as V4L2 names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// V4L2 `YUYV` (YUY2): packed 4:2:2, bytes Y0 U Y1 V per two pixels. USB webcams.
    Yuyv,
    /// V4L2 `NV12`: a Y plane, then one plane of interleaved U V at half width and height.
    /// The Pi camera stack (libcamera, bcm2835 ISP).
    Nv12,
    /// V4L2 `YU12` (I420): a Y plane, then a U plane, then a V plane, both at half width and
    /// height.
    Yuv420,
}

impl PixelFormat {
    /// The V4L2 fourcc code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Nv12 => *b"NV12",
            PixelFormat::Yuv420 => *b"YU12",
        }
    }

    /// The format for a V4L2 fourcc, if it is one the encoder reads.
    pub fn from_fourcc(code: &[u8; 4]) -> Option<Self> {
        match code {
            b"YUYV" | b"YUY2" => Some(PixelFormat::Yuyv),
            b"NV12" => Some(PixelFormat::Nv12),
            b"YU12" | b"I420" => Some(PixelFormat::Yuv420),
            _ => None,
        }
    }

    /// Bytes per row of a tightly packed `width`-pixel frame (of the Y plane for planar formats).
    pub fn min_stride(self, width: u32) -> usize {
        match self {
            PixelFormat::Yuyv => width as usize * 2,
            PixelFormat::Nv12 | PixelFormat::Yuv420 => width as usize,
        }
    }

    /// Bytes a frame needs with rows `stride` bytes apart (V4L2's `bytesperline`; for YUV420 the
    /// chroma planes use half of it, as V4L2 specifies). `None` on overflow.
    pub fn frame_len(self, height: u32, stride: usize) -> Option<usize> {
        let h = height as usize;
        match self {
            PixelFormat::Yuyv => stride.checked_mul(h),
            // Y plane plus one interleaved UV row per two image rows, each `stride` bytes.
            PixelFormat::Nv12 => stride.checked_mul(h)?.checked_add(stride * h.div_ceil(2)),
            // Y plane plus two chroma planes with rows of stride/2 (rounded up).
            PixelFormat::Yuv420 => stride
                .checked_mul(h)?
                .checked_add(2 * stride.div_ceil(2) * h.div_ceil(2)),
        }
    }
}

/// How the YUV values map to light: cameras send video ("limited", 16..235) range unless they say
/// otherwise; JPEG stores full range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum YuvRange {
    #[default]
    Limited,
    Full,
}

/// Raw YUV pixels, checked against their format. BT.601 coefficients (what UVC webcams and the
/// Pi's ISP use for SD and still captures).
#[derive(Clone)]
pub struct RawFrame {
    format: PixelFormat,
    width: u32,
    height: u32,
    stride: usize,
    range: YuvRange,
    data: Vec<u8>,
}

/// A raw frame that does not match its format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a {format:?} frame of {width}x{height} pixels is empty or has an odd width: check the camera's format (camera.width/height)")]
    BadSize {
        format: PixelFormat,
        width: u32,
        height: u32,
    },
    #[error("a {format:?} frame with rows of {stride} bytes is narrower than its {width} pixels need ({min} bytes): the driver's bytesperline does not match the format")]
    BadStride {
        format: PixelFormat,
        width: u32,
        stride: usize,
        min: usize,
    },
    #[error("a {format:?} frame of {width}x{height} pixels needs {expected} bytes but has {actual}: the camera sent a different size or format than asked for (check camera.width/height), or the frame was cut short")]
    BadLength {
        format: PixelFormat,
        width: u32,
        height: u32,
        expected: usize,
        actual: usize,
    },
}

/// Largest side accepted: bigger is a garbled header, not a camera.
const MAX_SIDE: u32 = 16_384;

/// Sizes only: the pixels would flood a log line.
impl std::fmt::Debug for RawFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} {}x{} stride {} ({} bytes, {:?} range)",
            self.format,
            self.width,
            self.height,
            self.stride,
            self.data.len(),
            self.range
        )
    }
}

impl RawFrame {
    /// A tightly packed frame: the length must be exactly what the format needs, which catches
    /// a camera delivering another size or format than was asked for.
    pub fn new(
        format: PixelFormat,
        width: u32,
        height: u32,
        data: Vec<u8>,
    ) -> Result<Self, FrameError> {
        let stride = format.min_stride(width);
        let frame = Self::with_stride(format, width, height, stride, data)?;
        let expected = format.frame_len(height, stride).unwrap_or(usize::MAX);
        if frame.data.len() != expected {
            return Err(FrameError::BadLength {
                format,
                width,
                height,
                expected,
                actual: frame.data.len(),
            });
        }
        Ok(frame)
    }

    /// A frame with rows `stride` bytes apart (V4L2's `bytesperline`). Drivers may pad the
    /// buffer, so extra bytes at the end are allowed; too few are an error.
    pub fn with_stride(
        format: PixelFormat,
        width: u32,
        height: u32,
        stride: usize,
        data: Vec<u8>,
    ) -> Result<Self, FrameError> {
        // 4:2:x formats share chroma between pixel pairs: an odd width has no defined layout.
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE || width % 2 == 1 {
            return Err(FrameError::BadSize {
                format,
                width,
                height,
            });
        }
        let min = format.min_stride(width);
        if stride < min {
            return Err(FrameError::BadStride {
                format,
                width,
                stride,
                min,
            });
        }
        let expected = format.frame_len(height, stride).unwrap_or(usize::MAX);
        if data.len() < expected {
            return Err(FrameError::BadLength {
                format,
                width,
                height,
                expected,
                actual: data.len(),
            });
        }
        Ok(Self {
            format,
            width,
            height,
            stride,
            range: YuvRange::Limited,
            data,
        })
    }

    /// The same frame, with its YUV range set (default: limited).
    pub fn with_range(mut self, range: YuvRange) -> Self {
        self.range = range;
        self
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }
    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Bytes between the starts of two rows (of the Y plane for planar formats).
    pub fn stride(&self) -> usize {
        self.stride
    }
    pub fn range(&self) -> YuvRange {
        self.range
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_the_format() {
        assert_eq!(
            PixelFormat::Yuyv.frame_len(1080, 3840),
            Some(1920 * 1080 * 2)
        );
        assert_eq!(
            PixelFormat::Nv12.frame_len(1080, 1920),
            Some(1920 * 1080 * 3 / 2)
        );
        assert_eq!(
            PixelFormat::Yuv420.frame_len(1080, 1920),
            Some(1920 * 1080 * 3 / 2)
        );
        // Odd heights round the chroma rows up.
        assert_eq!(PixelFormat::Nv12.frame_len(3, 4), Some(4 * 3 + 4 * 2));
        assert_eq!(PixelFormat::Yuv420.frame_len(3, 4), Some(4 * 3 + 2 * 2 * 2));
        assert_eq!(PixelFormat::Yuyv.frame_len(u32::MAX, usize::MAX), None);
        for f in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Yuv420] {
            assert_eq!(PixelFormat::from_fourcc(&f.fourcc()), Some(f));
        }
        assert_eq!(PixelFormat::from_fourcc(b"MJPG"), None);
    }

    #[test]
    fn wrong_lengths_are_clear_errors() {
        let ok = RawFrame::new(PixelFormat::Yuyv, 4, 2, vec![0; 16]).unwrap();
        assert_eq!((ok.width(), ok.height(), ok.stride()), (4, 2, 8));
        let short = RawFrame::new(PixelFormat::Yuyv, 4, 2, vec![0; 15]).unwrap_err();
        assert!(matches!(
            short,
            FrameError::BadLength {
                expected: 16,
                actual: 15,
                ..
            }
        ));
        let msg = short.to_string();
        assert!(msg.contains("needs 16 bytes but has 15"), "{msg}");
        // Tightly packed means exact: 1.5x the bytes is another format (e.g. NV12 sent as YUYV).
        assert!(RawFrame::new(PixelFormat::Yuyv, 4, 2, vec![0; 24]).is_err());
        assert!(RawFrame::new(PixelFormat::Yuyv, 4, 2, Vec::new()).is_err());
        // With an explicit stride, driver padding at the end is fine, too little is not.
        assert!(RawFrame::with_stride(PixelFormat::Nv12, 4, 2, 8, vec![0; 24 + 100]).is_ok());
        assert!(RawFrame::with_stride(PixelFormat::Nv12, 4, 2, 8, vec![0; 23]).is_err());
        assert!(matches!(
            RawFrame::with_stride(PixelFormat::Yuyv, 4, 2, 7, vec![0; 100]),
            Err(FrameError::BadStride { .. })
        ));
        for (w, h) in [(0, 2), (2, 0), (3, 2), (20_000, 2)] {
            assert!(matches!(
                RawFrame::new(PixelFormat::Yuv420, w, h, vec![0; 1000]),
                Err(FrameError::BadSize { .. })
            ));
        }
    }
}
