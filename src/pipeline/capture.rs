//! Cameras: where frames come from. (Being written: test-pattern and dir sources.)

/// A frame as a camera delivers it.
pub enum Frame {
    /// An encoded image file (JPEG or PNG), e.g. an MJPEG frame or a file from a folder.
    Encoded(Vec<u8>),
    /// Decoded pixels.
    Rgb(image::RgbImage),
}
