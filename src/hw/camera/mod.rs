//! Cameras: where frames come from. The [`Camera`] trait is what the shooter takes photos
//! with; [`open`] picks the backend the config names. Each backend is one module here:
//!
//! - [`test_pattern`]: generated frames for demos and tests.
//! - [`dir`]: the oldest image file in a folder.
//! - [`v4l2`]: a USB webcam, streaming on its own thread, surviving unplugging.
//! - [`libcamera`]: a Pi Camera Module through rpicam-vid / rpicam-still ([`child`] runs
//!   camera tools as child processes with deadlines).
//! - [`gphoto2`]: a DSLR or mirrorless camera through the gphoto2 tool.
//!
//! `camera.preview` may name a second camera for the live view ([`open`] pairs them), and
//! `kind = "auto"` takes the first camera that answers ([`auto`]).
//!
//! The layers are one-way: backends use the image types of [`crate::pipeline::frame`] and the
//! config; [`crate::pipeline`] knows nothing of cameras, devices or the config, so image code
//! can be tested (and fuzzed) alone and a new backend is one new file plus one line in
//! [`open`]. Every backend feeds the one live-frame stream ([`preview`]).

pub mod child;
pub mod dir;
pub mod gphoto2;
pub mod libcamera;
pub mod preview;
pub mod test_pattern;
pub mod v4l2;

use crate::config::{CameraConfig, CameraKind, PreviewSource};
pub use crate::pipeline::frame::Frame;
pub use crate::ui::CameraTrouble;
use preview::PreviewTap;
use std::path::PathBuf;
use std::sync::Arc;

/// A source of frames. Implementations are blocking but local (files, devices, child
/// processes with timeouts): run them off the async runtime.
pub trait Camera: Send {
    /// Takes one frame. Never blocks on the network.
    fn capture(&mut self) -> Result<Frame, CaptureError>;
    /// A countdown began: the next [`capture`](Camera::capture) comes at its end. A camera
    /// that needs time before its shutter (a full-resolution still) gets ready now, so the
    /// exposure lands at the end of the countdown rather than after it. The default does
    /// nothing; a camera that cannot get ready takes its photo the usual way.
    fn prepare(&mut self) {}
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
        max = test_pattern::MAX_PATTERN_SIDE
    )]
    BadSize { width: u32, height: u32 },
    #[error(
        "{path} is {bytes} bytes, too large to be a photo (limit {limit} bytes): move it out of \
         the folder",
        limit = dir::MAX_FILE_BYTES
    )]
    TooLarge { path: PathBuf, bytes: u64 },
    #[error("{action} {path}: {source} (check the path and its permissions)")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The camera is there but cannot take this photo now; `message` says why and what to do.
    #[error("{message}")]
    Trouble {
        trouble: CameraTrouble,
        message: String,
    },
}

impl CaptureError {
    /// What the display shows for this error: `None` means "camera missing".
    pub fn trouble(&self) -> Option<CameraTrouble> {
        match self {
            CaptureError::Trouble { trouble, .. } => Some(*trouble),
            _ => None,
        }
    }
}

/// The camera's state as the display shows it, told by backends that watch their camera.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Working; the text says what it is ("V4L2 /dev/video0 (MJPG 1920x1080)").
    Ready(String),
    /// Not there (unplugged, no driver); the text says what to check.
    Missing(String),
    /// There, but not usable now (claimed by another program, asleep, stuck).
    Trouble(CameraTrouble, String),
}

/// Called (on the camera's own thread) whenever a watched camera's [`Health`] changes.
pub type HealthHook = Arc<dyn Fn(&Health) + Send + Sync>;

/// What a backend gets besides its config: where to say how the camera is, and where its
/// preview frames go.
#[derive(Clone)]
pub struct Context {
    pub health: HealthHook,
    pub preview: PreviewTap,
}

impl Context {
    /// Tells nobody and feeds no preview (`doctor`, tests).
    pub fn quiet() -> Context {
        Context {
            health: Arc::new(|_| {}),
            preview: PreviewTap::none(),
        }
    }
}

/// A backend's constructor: its config and context in, a camera out. Opening does not touch
/// hardware yet where it can avoid it, so the daemon starts (and `doctor` can explain) even
/// when the camera is not ready.
pub type OpenFn = fn(&CameraConfig, Context) -> Result<Box<dyn Camera>, CaptureError>;

/// The backend for each `camera.kind`: the one place a new backend is added.
fn backend(kind: &CameraKind) -> OpenFn {
    match kind {
        CameraKind::TestPattern => test_pattern::open,
        CameraKind::Dir => dir::open,
        CameraKind::V4l2 => v4l2::open,
        CameraKind::Libcamera => libcamera::open,
        CameraKind::Gphoto2 => gphoto2::open,
        CameraKind::Auto => auto,
    }
}

/// Opens the camera the config asks for; with `camera.preview`, a second camera feeds the
/// live view while this one takes the photos.
pub fn open(cfg: &CameraConfig, ctx: Context) -> Result<Box<dyn Camera>, CaptureError> {
    let preview_kind = match cfg.preview {
        PreviewSource::Same => return backend(&cfg.kind)(cfg, ctx),
        PreviewSource::Libcamera => CameraKind::Libcamera,
        PreviewSource::V4l2 => CameraKind::V4l2,
    };
    // The photo camera feeds no preview (a DSLR then runs no live view at all).
    let main = backend(&cfg.kind)(
        cfg,
        Context {
            health: ctx.health.clone(),
            preview: PreviewTap::none(),
        },
    )?;
    let preview_cfg = CameraConfig {
        kind: preview_kind.clone(),
        still: crate::config::StillMode::Stream,
        preview: PreviewSource::Same,
        ..cfg.clone()
    };
    tracing::info!(photo = ?cfg.kind, preview = ?preview_kind, "two cameras: one for the photo, one for the live view");
    let preview = backend(&preview_kind)(
        &preview_cfg,
        Context {
            // The photo camera's state is what the display shows.
            health: Arc::new(|h| tracing::debug!(health = ?h, "preview camera")),
            preview: ctx.preview,
        },
    )?;
    Ok(Box::new(Hybrid { main, preview }))
}

/// A photo camera and a live-view camera.
struct Hybrid {
    main: Box<dyn Camera>,
    preview: Box<dyn Camera>,
}

impl Camera for Hybrid {
    fn capture(&mut self) -> Result<Frame, CaptureError> {
        self.main.capture()
    }
    fn prepare(&mut self) {
        self.main.prepare()
    }
    fn commit(&mut self) -> Result<(), CaptureError> {
        self.main.commit()
    }
    fn reject(&mut self) -> Result<(), CaptureError> {
        self.main.reject()
    }
    fn frame_retries(&self) -> u32 {
        self.main.frame_retries()
    }
    fn describe(&self) -> String {
        format!(
            "{}; live view from {}",
            self.main.describe(),
            self.preview.describe()
        )
    }
}

/// `kind = "auto"`: the first camera that answers, gphoto2 (a DSLR is there on purpose), then
/// libcamera, then V4L2, said in the log.
fn auto(cfg: &CameraConfig, ctx: Context) -> Result<Box<dyn Camera>, CaptureError> {
    let (kind, why) = if let Some(cam) = gphoto2::detect().ok().and_then(|c| c.into_iter().next()) {
        (CameraKind::Gphoto2, cam)
    } else if let Some(cam) = libcamera::detect().ok().and_then(|c| c.into_iter().next()) {
        (CameraKind::Libcamera, cam)
    } else {
        (
            CameraKind::V4l2,
            "no DSLR (gphoto2) and no Pi camera (libcamera) answered".to_string(),
        )
    };
    tracing::info!(kind = ?kind, found = %why, "camera.kind = \"auto\" chose");
    backend(&kind)(
        &CameraConfig {
            kind,
            ..cfg.clone()
        },
        ctx,
    )
}

/// Every camera this machine shows, by kind, for `doctor`: (kind, what it sees or why not).
pub fn survey() -> Vec<(&'static str, Result<Vec<String>, String>)> {
    vec![
        ("gphoto2", gphoto2::detect()),
        ("libcamera", libcamera::detect()),
        ("v4l2", Ok(v4l2::survey())),
    ]
}

/// A camera config for unit tests: the defaults, with `kind` and `dir`.
#[cfg(test)]
pub(crate) fn test_config(kind: CameraKind, dir: &std::path::Path) -> CameraConfig {
    CameraConfig {
        kind,
        device: "/dev/video0".into(),
        dir: dir.to_path_buf(),
        width: 1920,
        height: 1080,
        warmup_frames: 0,
        verify_frames: true,
        framerate: 30,
        quality: 90,
        still: crate::config::StillMode::Stream,
        keep_on_card: false,
        preview: crate::config::PreviewSource::Same,
        capture_timeout_secs: 20,
    }
}

#[cfg(test)]
mod tests {
    /// Image code never reaches into devices or the config: the layers stay one-way.
    #[test]
    fn pipeline_imports_neither_cameras_nor_config() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pipeline");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for forbidden in [
                "crate::hw",
                "crate::config",
                "crate::shoot",
                "crate::daemon",
            ] {
                assert!(
                    !text.contains(forbidden),
                    "{} uses {forbidden}: pipeline code must not depend on it",
                    path.display()
                );
            }
        }
    }
}
