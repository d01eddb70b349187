//! Cameras: where frames come from.
//!
//! - [`TestPattern`]: generated frames (colour bars, shot counter, time) for demos and tests.
//! - [`DirCamera`]: takes the oldest image file from a folder (for tethered cameras, phones, or
//!   feeding a booth by hand), and moves it aside only once the photo is durably saved.
//! - V4L2 cameras live in [`crate::hw::camera`] (streaming, unplug recovery).

use crate::config::{CameraConfig, CameraKind};
use crate::hw::camera::preview::{PreviewTap, Pull, Pulled, PREVIEW_WIDTH};
use embedded_graphics::mono_font::{ascii::FONT_10X20, MonoTextStyle};
use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Point, Size};
use embedded_graphics::text::{Baseline, Text};
use embedded_graphics::{Drawable, Pixel};
use image::{Rgb, RgbImage};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use super::frame::Frame;

/// A source of frames. Implementations are blocking but local (files, devices): run them off
/// the async runtime.
pub trait Camera: Send {
    /// Takes one frame. Never blocks on the network.
    fn capture(&mut self) -> Result<Frame, CaptureError>;
    /// Called once the photo from the last capture is durably saved. The dir camera moves the
    /// source file into `<dir>/taken/` here (not before: a crash between capture and save must
    /// not lose it). Without a capture since the last commit it does nothing.
    fn commit(&mut self) -> Result<(), CaptureError>;
    /// Called instead of [`commit`](Camera::commit) when the last frame can never become a
    /// photo (it does not decode). The dir camera moves the file into `<dir>/rejected/`, so one
    /// bad file does not block the folder forever. Cameras without stored frames do nothing.
    fn reject(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }
    /// How many more frames to take when a frame cannot be decoded: a stream's next frame is
    /// the same scene a moment later (an MJPEG frame damaged on the USB cable is common), a
    /// folder's next file is someone else's photo. Streaming cameras say so; the default is 0.
    fn frame_retries(&self) -> u32 {
        0
    }
    /// One line for logs and `doctor`, e.g. "test pattern 1920x1080" or "folder /x (3 waiting)".
    fn describe(&self) -> String;
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("no photo waiting in folder {dir}: put a .jpg, .jpeg or .png file there")]
    NothingWaiting { dir: PathBuf },
    #[error("{what} is missing: {fix}")]
    Missing { what: String, fix: String },
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "camera size {width}x{height} cannot be used: set camera.width and camera.height \
         (1..={max} each, e.g. 1920 and 1080)",
        max = MAX_PATTERN_SIDE
    )]
    BadSize { width: u32, height: u32 },
    #[error(
        "{path} is {bytes} bytes, too large to be a photo (limit {limit} bytes): move it out of \
         the folder",
        limit = MAX_FILE_BYTES
    )]
    TooLarge { path: PathBuf, bytes: u64 },
    #[error("{action} {path}: {source} (check the path and its permissions)")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Largest test-pattern side: keeps a typo in the config from allocating gigabytes.
const MAX_PATTERN_SIDE: u32 = 8192;
/// Larger files are not photos (or would need more memory than a Pi has to decode).
const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// Opens the camera the config asks for. Does not touch hardware or files yet, so the daemon
/// can start (and `doctor` can explain) even when the camera is not ready.
/// `tap` receives its preview frames.
pub fn open(cfg: &CameraConfig, tap: &PreviewTap) -> Result<Box<dyn Camera>, CaptureError> {
    match cfg.kind {
        CameraKind::TestPattern => {
            let camera = TestPattern::new(cfg.width, cfg.height)?;
            tap.set_pull(camera.preview_pull());
            Ok(Box::new(camera))
        }
        CameraKind::Dir => {
            let camera = DirCamera::new(&cfg.dir);
            tap.set_pull(camera.preview_pull());
            Ok(Box::new(camera))
        }
        // Streams on its own thread; see crate::hw::camera (the daemon passes a hook that
        // shows "camera missing" on the display).
        CameraKind::V4l2 => Ok(Box::new(crate::hw::camera::open(
            cfg,
            Box::new(|_| {}),
            tap.clone(),
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Test pattern

/// Generated frames: colour bars, a gradient, and a big "#n" and HH:MM:SS label, so every shot
/// is different (different bytes, different sha256) and recognisable on Instagram.
pub struct TestPattern {
    width: u32,
    height: u32,
    shots: u64,
}

impl TestPattern {
    pub fn new(width: u32, height: u32) -> Result<Self, CaptureError> {
        if !(1..=MAX_PATTERN_SIDE).contains(&width) || !(1..=MAX_PATTERN_SIDE).contains(&height) {
            return Err(CaptureError::BadSize { width, height });
        }
        Ok(Self {
            width,
            height,
            shots: 0,
        })
    }

    /// Draws shot `n` with the time label `clock` (pure, for tests).
    fn render(&self, n: u64, clock: &str) -> RgbImage {
        let (w, h) = (self.width, self.height);
        let mut frame = bars(w, h);
        // Text is drawn small with a bitmap font, then scaled up nearest-neighbour: crisp,
        // large, and no font rasteriser needed.
        let label = Canvas::label(&[&format!("#{n}"), clock]);
        let (lw, lh) = label.0.dimensions();
        let scale = (w * 3 / 5 / lw).min(h / 2 / lh).max(1);
        let (x0, y0) = (
            (w.saturating_sub(lw * scale)) / 2,
            (h.saturating_sub(lh * scale)) / 2,
        );
        for y in 0..(lh * scale).min(h) {
            for x in 0..(lw * scale).min(w) {
                let p = *label.0.get_pixel(x / scale, y / scale);
                frame.put_pixel(x0 + x, y0 + y, p);
            }
        }
        frame
    }
}

impl TestPattern {
    /// Preview frames: the pattern drawn at preview size, with a running frame number.
    fn preview_pull(&self) -> Pull {
        let height = (u64::from(self.height) * u64::from(PREVIEW_WIDTH) / u64::from(self.width))
            .clamp(1, u64::from(MAX_PATTERN_SIDE)) as u32;
        let small = TestPattern {
            width: PREVIEW_WIDTH,
            height,
            shots: 0,
        };
        let mut n = 0;
        Box::new(move || {
            n += 1;
            Pulled::Frame(Frame::Rgb(small.render(n, &local_hms())))
        })
    }
}

impl Camera for TestPattern {
    fn capture(&mut self) -> Result<Frame, CaptureError> {
        self.shots += 1;
        let mut frame = self.render(self.shots, &local_hms());
        // The counter restarts with the process and the clock has one-second steps: a random
        // corner patch keeps two shots from ever being the same image (same sha256), as two
        // real photos never are.
        let [r, g, b, _] = rand::random::<u32>().to_le_bytes();
        let side = 16.min(self.width).min(self.height);
        for y in self.height - side..self.height {
            for x in self.width - side..self.width {
                frame.put_pixel(x, y, Rgb([r, g, b]));
            }
        }
        Ok(Frame::Rgb(frame))
    }

    fn commit(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }

    fn describe(&self) -> String {
        format!("test pattern {}x{}", self.width, self.height)
    }
}

/// Seven colour bars over the top two thirds, a grey ramp below.
fn bars(w: u32, h: u32) -> RgbImage {
    const BARS: [[u8; 3]; 7] = [
        [192, 192, 192],
        [192, 192, 0],
        [0, 192, 192],
        [0, 192, 0],
        [192, 0, 192],
        [192, 0, 0],
        [0, 0, 192],
    ];
    let split = h * 2 / 3;
    RgbImage::from_fn(w, h, |x, y| {
        if y < split {
            Rgb(BARS[(x as usize * BARS.len()) / w as usize])
        } else {
            let v = (u64::from(x) * 255 / u64::from(w.max(2) - 1)) as u8;
            Rgb([v, v, v])
        }
    })
}

/// A small RGB canvas that embedded-graphics can draw on.
struct Canvas(RgbImage);

impl Canvas {
    /// White text lines on a black panel with a one-character margin.
    fn label(lines: &[&str]) -> Self {
        let font = &FONT_10X20;
        let (cw, ch) = (font.character_size.width, font.character_size.height);
        let cols = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
        let w = (cols + 2) * cw;
        let h = (lines.len() as u32) * ch + ch;
        let mut canvas = Canvas(RgbImage::new(w, h));
        let style = MonoTextStyle::new(font, Rgb888::WHITE);
        for (i, line) in lines.iter().enumerate() {
            // Centre each line in the panel.
            let lx = (w - line.chars().count() as u32 * cw) / 2;
            let pos = Point::new(lx as i32, (ch / 2 + i as u32 * ch) as i32);
            // Drawing on an in-memory canvas cannot fail (Error = Infallible).
            let _ = Text::with_baseline(line, pos, style, Baseline::Top).draw(&mut canvas);
        }
        canvas
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let (w, h) = self.0.dimensions();
        for Pixel(p, c) in pixels {
            // embedded-graphics may hand out pixels outside the canvas; clip them.
            if let (Ok(x), Ok(y)) = (u32::try_from(p.x), u32::try_from(p.y)) {
                if x < w && y < h {
                    self.0.put_pixel(x, y, Rgb([c.r(), c.g(), c.b()]));
                }
            }
        }
        Ok(())
    }
}

/// HH:MM:SS in the booth's local time.
fn local_hms() -> String {
    let t = crate::clock::now();
    format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second)
}

// ---------------------------------------------------------------------------------------------
// Folder camera

/// Takes photos from a folder: the oldest `*.jpg`/`*.jpeg`/`*.png` (by modification time, then
/// name). Files starting with "." are skipped, so copy files in under a dot-name and rename
/// them when complete (as rsync does); `taken/` and `rejected/` are where used files go.
pub struct DirCamera {
    dir: PathBuf,
    /// The file handed out by the last capture, not yet committed or rejected.
    pending: Option<PathBuf>,
}

impl DirCamera {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            pending: None,
        }
    }

    /// The waiting image files, oldest first.
    fn waiting(&self) -> Result<Vec<PathBuf>, CaptureError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CaptureError::Missing {
                    what: format!("the camera folder {}", self.dir.display()),
                    fix: "create it or set camera.dir".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(CaptureError::Missing {
                    what: format!("the camera folder {} (it is a file)", self.dir.display()),
                    fix: "set camera.dir to a folder".into(),
                })
            }
            Err(source) => return Err(self.io("cannot read folder", &self.dir, source)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io("cannot read folder", &self.dir, e))?;
            let path = entry.path();
            if !is_image_name(&path) {
                continue;
            }
            // fs::metadata follows symlinks; a dangling link or a vanished file is skipped.
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            found.push((mtime, entry.file_name(), path));
        }
        found.sort();
        Ok(found.into_iter().map(|(_, _, p)| p).collect())
    }

    /// Moves the pending file into `<dir>/<sub>/`, never overwriting an earlier file there.
    fn move_pending(&mut self, sub: &str) -> Result<(), CaptureError> {
        let Some(src) = self.pending.clone() else {
            return Ok(());
        };
        let dest_dir = self.dir.join(sub);
        fs::create_dir_all(&dest_dir).map_err(|e| self.io("cannot create", &dest_dir, e))?;
        let name = src.file_name().unwrap_or_default().to_os_string();
        let mut dest = dest_dir.join(&name);
        let mut n = 1;
        while dest.exists() {
            // The same name dropped twice: keep both.
            let stem = Path::new(&name)
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy();
            let ext = Path::new(&name)
                .extension()
                .unwrap_or_default()
                .to_string_lossy();
            dest = dest_dir.join(format!("{stem}-{n}.{ext}"));
            n += 1;
        }
        match fs::rename(&src, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !src.exists() => {
                // Someone removed it already; it cannot be taken twice, which is all we need.
                tracing::warn!(file = %src.display(), "photo file vanished before it was moved to {sub}/");
                self.pending = None;
                return Ok(());
            }
            Err(e) => return Err(self.io("cannot move", &src, e)),
        }
        self.pending = None;
        // Make the move durable: a move lost in a power cut would offer the same file again,
        // i.e. post it twice. Both directory entries changed.
        for d in [&dest_dir, &self.dir] {
            fs::File::open(d)
                .and_then(|f| f.sync_all())
                .map_err(|e| self.io("cannot sync folder", d, e))?;
        }
        Ok(())
    }

    fn io(&self, action: &'static str, path: &Path, source: std::io::Error) -> CaptureError {
        CaptureError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

fn is_image_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name.starts_with('.') {
        return false;
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(ext.as_str(), "jpg" | "jpeg" | "png")
}

impl DirCamera {
    /// Preview frames: the photo the next press would take, read again only when it changes;
    /// an empty folder shows nothing.
    fn preview_pull(&self) -> Pull {
        let folder = DirCamera::new(&self.dir);
        let mut shown: Option<(PathBuf, SystemTime, u64)> = None;
        Box::new(move || {
            let Some(path) = folder.waiting().ok().and_then(|w| w.into_iter().next()) else {
                shown = None;
                return Pulled::Nothing;
            };
            let Ok(meta) = fs::metadata(&path) else {
                return Pulled::Same;
            };
            let key = (
                path.clone(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
            );
            if shown.as_ref() == Some(&key) || meta.len() > MAX_FILE_BYTES {
                return Pulled::Same;
            }
            let Ok(bytes) = fs::read(&path) else {
                return Pulled::Same;
            };
            shown = Some(key);
            Pulled::Frame(Frame::Encoded(bytes))
        })
    }
}

impl Camera for DirCamera {
    fn capture(&mut self) -> Result<Frame, CaptureError> {
        // Always rescan: if the last frame was neither committed nor rejected (e.g. the save
        // failed), the same file is still the oldest and is simply offered again.
        let Some(path) = self.waiting()?.into_iter().next() else {
            return Err(CaptureError::NothingWaiting {
                dir: self.dir.clone(),
            });
        };
        let len = fs::metadata(&path)
            .map_err(|e| self.io("cannot read", &path, e))?
            .len();
        if len > MAX_FILE_BYTES {
            self.pending = Some(path.clone());
            return Err(CaptureError::TooLarge { path, bytes: len });
        }
        let bytes = fs::read(&path).map_err(|e| self.io("cannot read", &path, e))?;
        self.pending = Some(path);
        Ok(Frame::Encoded(bytes))
    }

    fn commit(&mut self) -> Result<(), CaptureError> {
        self.move_pending("taken")
    }

    fn reject(&mut self) -> Result<(), CaptureError> {
        self.move_pending("rejected")
    }

    fn describe(&self) -> String {
        match self.waiting() {
            Ok(files) => format!("folder {} ({} waiting)", self.dir.display(), files.len()),
            Err(e) => format!("folder {} ({e})", self.dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(kind: CameraKind, dir: &Path) -> CameraConfig {
        CameraConfig {
            kind,
            device: "/dev/video0".into(),
            dir: dir.to_path_buf(),
            width: 1920,
            height: 1080,
            warmup_frames: 0,
            verify_frames: true,
        }
    }

    fn rgb(frame: Frame) -> RgbImage {
        match frame {
            Frame::Rgb(img) => img,
            other => panic!("expected pixels, got {other:?}"),
        }
    }

    fn bytes(frame: Frame) -> Vec<u8> {
        match frame {
            Frame::Encoded(b) => b,
            other => panic!("expected bytes, got {other:?}"),
        }
    }

    #[test]
    fn test_pattern_has_the_size_and_differs_per_shot() {
        let mut cam = open(
            &cfg(CameraKind::TestPattern, Path::new("/nonexistent")),
            &PreviewTap::none(),
        )
        .unwrap();
        assert_eq!(cam.describe(), "test pattern 1920x1080");
        let a = rgb(cam.capture().unwrap());
        let b = rgb(cam.capture().unwrap());
        assert_eq!(a.dimensions(), (1920, 1080));
        assert_eq!(b.dimensions(), (1920, 1080));
        assert_ne!(a.as_raw(), b.as_raw());
        cam.commit().unwrap();
    }

    #[test]
    fn test_pattern_text_is_large_and_visible() {
        let cam = TestPattern::new(1920, 1080).unwrap();
        let a = cam.render(7, "12:34:56");
        let b = cam.render(8, "12:34:56");
        // The counter alone changes a large area: at least the glyph difference times scale².
        let changed = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
        assert!(changed > 2_000, "only {changed} pixels differ");
        // White text pixels exist in the centre panel.
        let white = a.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert!(white > 10_000, "{white} white pixels");
    }

    #[test]
    fn test_pattern_handles_odd_sizes() {
        for (w, h) in [(1, 1), (16, 9), (64, 64), (640, 480), (100, 2000)] {
            let mut cam = TestPattern::new(w, h).unwrap();
            assert_eq!(rgb(cam.capture().unwrap()).dimensions(), (w, h));
        }
        assert!(matches!(
            TestPattern::new(0, 1080),
            Err(CaptureError::BadSize { .. })
        ));
        assert!(matches!(
            TestPattern::new(100_000, 1080),
            Err(CaptureError::BadSize { .. })
        ));
    }

    #[test]
    fn local_time_is_hh_mm_ss() {
        let t = local_hms();
        assert_eq!(t.len(), 8, "{t}");
        assert_eq!(&t[2..3], ":");
        assert_eq!(&t[5..6], ":");
    }

    /// A V4L2 camera whose device is not there: the booth starts, and a shot says the
    /// camera is missing, naming the device and the fix.
    #[test]
    fn v4l2_missing_device_is_camera_missing() {
        let mut c = cfg(CameraKind::V4l2, Path::new("/x"));
        c.device = "/dev/video-not-here".into();
        let mut camera = open(&c, &PreviewTap::none()).expect("opening never touches the device");
        let err = camera.capture().unwrap_err();
        assert!(matches!(err, CaptureError::Missing { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("/dev/video-not-here is missing") && msg.contains("cable"),
            "{msg}"
        );
    }

    fn write_aged(path: &Path, contents: &[u8], age_secs: u64) {
        fs::write(path, contents).unwrap();
        // A fixed base, so files given the same age get exactly the same mtime.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 - age_secs);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn dir_camera_takes_the_oldest_and_commit_moves_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_aged(&dir.join("new.jpg"), b"new", 10);
        write_aged(&dir.join("old.PNG"), b"old", 100);
        write_aged(&dir.join("b.jpeg"), b"b", 50);
        write_aged(&dir.join("a.jpeg"), b"a", 50); // same age as b: name decides
        write_aged(&dir.join("oldest.txt"), b"not an image", 1000);
        write_aged(&dir.join(".partial.jpg"), b"still copying", 1000);
        fs::create_dir(dir.join("taken")).unwrap();
        write_aged(&dir.join("taken/ancient.jpg"), b"done", 5000);

        let mut cam = open(&cfg(CameraKind::Dir, dir), &PreviewTap::none()).unwrap();
        assert_eq!(
            cam.describe(),
            format!("folder {} (4 waiting)", dir.display())
        );
        assert_eq!(bytes(cam.capture().unwrap()), b"old");
        // Not committed: a second capture offers the same file again.
        assert_eq!(bytes(cam.capture().unwrap()), b"old");
        assert!(dir.join("old.PNG").exists(), "not moved before commit");
        cam.commit().unwrap();
        assert!(!dir.join("old.PNG").exists());
        assert_eq!(fs::read(dir.join("taken/old.PNG")).unwrap(), b"old");
        cam.commit().unwrap(); // nothing pending: no-op

        for expected in [&b"a"[..], b"b", b"new"] {
            assert_eq!(bytes(cam.capture().unwrap()), expected);
            cam.commit().unwrap();
        }
        assert!(matches!(
            cam.capture(),
            Err(CaptureError::NothingWaiting { .. })
        ));
        assert_eq!(
            cam.describe(),
            format!("folder {} (0 waiting)", dir.display())
        );
        assert!(dir.join("oldest.txt").exists());
    }

    #[test]
    fn dir_camera_keeps_both_when_a_name_repeats_and_rejects_bad_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut cam = DirCamera::new(dir);
        for content in [&b"one"[..], b"two"] {
            fs::write(dir.join("photo.jpg"), content).unwrap();
            cam.capture().unwrap();
            cam.commit().unwrap();
        }
        assert_eq!(fs::read(dir.join("taken/photo.jpg")).unwrap(), b"one");
        assert_eq!(fs::read(dir.join("taken/photo-1.jpg")).unwrap(), b"two");

        fs::write(dir.join("broken.jpg"), b"garbage").unwrap();
        cam.capture().unwrap();
        cam.reject().unwrap();
        assert!(dir.join("rejected/broken.jpg").exists());
        assert!(matches!(
            cam.capture(),
            Err(CaptureError::NothingWaiting { .. })
        ));
    }

    #[test]
    fn dir_camera_errors_name_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let mut empty = DirCamera::new(tmp.path());
        let err = empty.capture().unwrap_err();
        assert!(matches!(err, CaptureError::NothingWaiting { .. }));
        assert!(err.to_string().contains(&tmp.path().display().to_string()));

        let gone = tmp.path().join("nope");
        let mut missing = DirCamera::new(&gone);
        let err = missing.capture().unwrap_err();
        assert!(matches!(err, CaptureError::Missing { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("nope") && msg.contains("create it or set camera.dir"),
            "{msg}"
        );
        assert!(missing.describe().contains("missing"));

        // A vanished file at commit time is not an error: it can no longer be taken twice.
        fs::write(tmp.path().join("x.jpg"), b"x").unwrap();
        empty.capture().unwrap();
        fs::remove_file(tmp.path().join("x.jpg")).unwrap();
        empty.commit().unwrap();
    }
}
