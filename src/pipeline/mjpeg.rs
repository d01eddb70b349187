//! Splits an MJPEG byte stream (JPEG images one after another, as `rpicam-vid --codec mjpeg
//! -o -` and `gphoto2 --capture-movie --stdout` write them) into frames.
//!
//! Frames arrive in pieces of any size (a pipe read ends anywhere), so the splitter keeps what
//! it has not finished and is fed again. It walks the JPEG structure instead of searching for
//! the end-of-image bytes: marker segments are skipped by their length (an EXIF thumbnail in
//! APP1 has its own SOI/EOI), and in the entropy-coded data only `FF` followed by a byte that
//! is neither `00` nor a restart marker ends the scan. Bytes before a start-of-image (a stream
//! joined mid-frame) are dropped. Whether a frame's coded data is intact is not judged here:
//! [`super::scan`] does that when the photo is made.

/// Largest frame accepted: a frame growing past it is garbage (a stream without an end
/// marker), dropped rather than kept in memory.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

#[derive(Default)]
pub struct Splitter {
    buf: Vec<u8>,
    /// Where the walk of the frame at the start of `buf` stopped (resumed on the next feed).
    pos: usize,
    state: Walk,
    /// Bytes dropped because they were not part of a frame (for logs and tests).
    pub skipped: u64,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum Walk {
    /// Looking for FF D8.
    #[default]
    Start,
    /// Between segments: expecting a marker.
    Markers,
    /// Inside entropy-coded data after SOS.
    Scan,
}

impl Splitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `data` and returns every frame it completed, oldest first.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(data);
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame() {
            frames.push(frame);
        }
        if self.buf.len() > MAX_FRAME {
            self.skipped += self.buf.len() as u64;
            self.buf.clear();
            self.pos = 0;
            self.state = Walk::Start;
        }
        frames
    }

    /// Bytes held for a frame not yet complete.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.state {
                Walk::Start => {
                    let at = self.buf.windows(2).position(|w| w == [0xFF, 0xD8]);
                    match at {
                        Some(i) => {
                            self.skipped += i as u64;
                            self.buf.drain(..i);
                            self.pos = 2;
                            self.state = Walk::Markers;
                        }
                        None => {
                            // Keep a trailing FF: it may be the first half of the next SOI.
                            let keep = usize::from(self.buf.last() == Some(&0xFF));
                            self.skipped += (self.buf.len() - keep) as u64;
                            self.buf.drain(..self.buf.len() - keep);
                            return None;
                        }
                    }
                }
                Walk::Markers => {
                    let b = &self.buf;
                    let p = self.pos;
                    if p + 2 > b.len() {
                        return None;
                    }
                    if b[p] != 0xFF {
                        return self.restart();
                    }
                    let marker = b[p + 1];
                    match marker {
                        // Fill bytes before a marker.
                        0xFF => self.pos += 1,
                        // EOI right after the headers (no scan): still a whole image.
                        0xD9 => return Some(self.take(p + 2)),
                        // Standalone markers without a length.
                        0x01 | 0xD0..=0xD7 => self.pos += 2,
                        // A second SOI before the first image ended: that image was cut.
                        0xD8 => return self.restart(),
                        _ => {
                            if p + 4 > b.len() {
                                return None;
                            }
                            let len = usize::from(u16::from_be_bytes([b[p + 2], b[p + 3]]));
                            if len < 2 {
                                return self.restart();
                            }
                            if p + 2 + len > b.len() {
                                return None;
                            }
                            self.pos = p + 2 + len;
                            if marker == 0xDA {
                                self.state = Walk::Scan;
                            }
                        }
                    }
                }
                Walk::Scan => {
                    let b = &self.buf;
                    let from = self.pos;
                    let Some(off) = memchr::memchr(0xFF, &b[from..]) else {
                        self.pos = b.len();
                        return None;
                    };
                    let p = from + off;
                    if p + 2 > b.len() {
                        self.pos = p;
                        return None;
                    }
                    match b[p + 1] {
                        // Stuffed zero, restart markers, fill bytes: still the scan.
                        0x00 | 0xD0..=0xD7 => self.pos = p + 2,
                        0xFF => self.pos = p + 1,
                        0xD9 => return Some(self.take(p + 2)),
                        // A new SOI inside a scan: the frame was cut short; keep the new one.
                        0xD8 => return self.restart_at(p),
                        // Another segment (a progressive JPEG's next scan, DHT...).
                        _ => {
                            self.pos = p;
                            self.state = Walk::Markers;
                        }
                    }
                }
            }
        }
    }

    /// Hands out `buf[..end]` as a frame and starts looking for the next one.
    fn take(&mut self, end: usize) -> Vec<u8> {
        let rest = self.buf.split_off(end);
        let frame = std::mem::replace(&mut self.buf, rest);
        self.pos = 0;
        self.state = Walk::Start;
        frame
    }

    /// The frame being walked is broken: drop its first byte and look for the next SOI.
    fn restart(&mut self) -> Option<Vec<u8>> {
        self.restart_at(1)
    }

    fn restart_at(&mut self, at: usize) -> Option<Vec<u8>> {
        self.skipped += at as u64;
        self.buf.drain(..at);
        self.pos = 0;
        self.state = Walk::Start;
        self.next_frame()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x as u8).wrapping_mul(seed), y as u8, seed])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&img)
            .unwrap();
        out
    }

    /// An APP1 segment holding a whole JPEG (as an EXIF thumbnail does), put after SOI.
    fn with_thumbnail(outer: &[u8], thumb: &[u8]) -> Vec<u8> {
        let mut seg = vec![0xFF, 0xE1];
        seg.extend(((thumb.len() + 2) as u16).to_be_bytes());
        seg.extend_from_slice(thumb);
        [&outer[..2], &seg[..], &outer[2..]].concat()
    }

    /// Frames come out whole and in order however the stream is cut into reads, with garbage
    /// before the first frame, an embedded thumbnail, and a frame cut short by a new one.
    #[test]
    fn frames_are_split_at_jpeg_boundaries_whatever_the_reads() {
        let a = jpeg(64, 48, 3);
        let b = with_thumbnail(&jpeg(80, 60, 7), &jpeg(16, 12, 9));
        let c = jpeg(32, 32, 11);
        let whole = jpeg(64, 48, 5);
        // Cut inside its coded data (as a camera process killed mid-write leaves it).
        let cut = &whole[..whole.len() - 100];
        let stream = [&b"garbage"[..], &a, &b, cut, &c, &a].concat();
        for chunk in [1, 2, 3, 7, 64, 1000, stream.len()] {
            let mut s = Splitter::new();
            let mut frames = Vec::new();
            for piece in stream.chunks(chunk) {
                frames.extend(s.feed(piece));
            }
            assert_eq!(frames.len(), 4, "chunk {chunk}");
            assert_eq!(frames[0], a, "chunk {chunk}");
            assert_eq!(
                frames[1], b,
                "chunk {chunk}: the thumbnail did not end the frame"
            );
            assert_eq!(frames[2], c, "chunk {chunk}: the cut frame was dropped");
            assert_eq!(frames[3], a);
            assert_eq!(s.pending(), 0);
            assert_eq!(s.skipped, (7 + cut.len()) as u64, "chunk {chunk}");
            for f in &frames {
                image::load_from_memory(f).expect("every frame decodes");
            }
        }
    }

    /// A frame whose end has not arrived yet is held, not handed out.
    #[test]
    fn an_unfinished_frame_waits() {
        let a = jpeg(64, 48, 3);
        let mut s = Splitter::new();
        assert!(s.feed(&a[..a.len() - 1]).is_empty());
        assert_eq!(s.feed(&a[a.len() - 1..]), vec![a.clone()]);
    }
}
