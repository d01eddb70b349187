//! The V4L2 camera: format choice ([`negotiate`]), a stream that survives unplugging
//! ([`live`]), and the device backend (`v4l2`, behind the `v4l` cargo feature because its
//! bindings need libclang at build time). [`LiveCamera`] runs a grabber on its own thread and
//! is the booth's [`Camera`].

pub mod live;
pub mod negotiate;
#[cfg(feature = "v4l")]
pub mod v4l2;

use crate::pipeline::capture::{Camera, CaptureError, Frame};
use live::{DeviceError, Grabber, Health, Opener, RawFrame, Settings, Step, VideoDevice};
use negotiate::FourCc;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Called on the grabber thread whenever the camera goes missing or comes back.
pub type HealthHook = Box<dyn Fn(&Health) + Send>;

#[derive(Default)]
struct State {
    newest: Option<RawFrame>,
    health: Option<Health>,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// A streaming camera: a thread keeps the newest frame; [`Camera::capture`] takes it.
pub struct LiveCamera {
    shared: Arc<Shared>,
    name: String,
    wait: Duration,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveCamera {
    pub fn start<O: Opener + 'static>(opener: O, settings: Settings, hook: HealthHook) -> Self {
        let name = opener.name();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || grab(Grabber::new(opener, settings), &thread_shared, hook))
            .expect("spawning the camera thread");
        Self {
            shared,
            name,
            // A press waits at most this long for a frame before saying the camera is missing.
            wait: settings.frame_timeout,
            thread: Some(thread),
        }
    }
}

fn grab<O: Opener>(mut grabber: Grabber<O>, shared: &Shared, hook: HealthHook) {
    let mut last_health: Option<Health> = None;
    loop {
        let step = grabber.step();
        let health = grabber.health().cloned();
        if health != last_health {
            if let Some(h) = &health {
                match h {
                    Health::Ready(format) => tracing::info!(%format, "camera streaming"),
                    Health::Missing(why) => tracing::warn!(error = %why, "camera missing"),
                }
                hook(h);
            }
            last_health = health.clone();
        }
        let mut state = shared.state.lock().expect("camera state");
        state.health = health;
        if let Some(frame) = grabber.take_newest() {
            state.newest = Some(frame);
        }
        if let Step::Retry { after, .. } = step {
            state.newest = None;
            shared.changed.notify_all();
            // Wait, but wake at once for shutdown.
            let (s, _) = shared
                .changed
                .wait_timeout_while(state, after, |s| !s.stop)
                .expect("camera state");
            state = s;
        } else {
            shared.changed.notify_all();
        }
        if state.stop {
            return;
        }
    }
}

impl Camera for LiveCamera {
    fn capture(&mut self) -> Result<Frame, CaptureError> {
        let missing = |why: &str| CaptureError::Missing {
            what: "the camera".into(),
            fix: why.to_string(),
        };
        let state = self.shared.state.lock().expect("camera state");
        if let Some(Health::Missing(why)) = &state.health {
            return Err(missing(why));
        }
        // The newest frame, or the next one if the last was just taken.
        let (mut state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, self.wait, |s| {
                s.newest.is_none() && !matches!(s.health, Some(Health::Missing(_)))
            })
            .expect("camera state");
        match state.newest.take() {
            Some(raw) => to_frame(raw),
            None => Err(match &state.health {
                Some(Health::Missing(why)) => missing(why),
                _ => missing(&format!(
                    "{} sent no frame within {} s: check the camera",
                    self.name,
                    self.wait.as_secs()
                )),
            }),
        }
    }

    fn commit(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }

    fn describe(&self) -> String {
        let state = self.shared.state.lock().expect("camera state");
        match &state.health {
            Some(Health::Ready(format)) => format!("V4L2 {} ({format})", self.name),
            Some(Health::Missing(why)) => format!("V4L2 {} (missing: {why})", self.name),
            None => format!("V4L2 {} (opening)", self.name),
        }
    }
}

impl Drop for LiveCamera {
    fn drop(&mut self) {
        self.shared.state.lock().expect("camera state").stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            // The thread may sit in a read for up to the frame timeout; do not wait for it.
            drop(t);
        }
    }
}

/// Turns what the device delivered into a frame for the pipeline. MJPEG frames go to the
/// pipeline as they are (it decodes JPEG); YUYV and NV12 are converted to RGB here.
pub fn to_frame(raw: RawFrame) -> Result<Frame, CaptureError> {
    let (w, h) = (raw.format.width, raw.format.height);
    let bad = |what: &str| {
        CaptureError::Unsupported(format!(
            "the camera sent a {} frame that is too short ({} bytes){what}",
            raw.format,
            raw.data.len()
        ))
    };
    match raw.format.fourcc {
        FourCc::MJPG => Ok(Frame::Encoded(raw.data)),
        FourCc::YUYV => {
            let stride = if raw.bytes_per_line >= w * 2 {
                raw.bytes_per_line
            } else {
                w * 2
            } as usize;
            if raw.data.len() < stride * (h as usize - 1) + w as usize * 2 {
                return Err(bad(""));
            }
            Ok(Frame::Rgb(image::RgbImage::from_fn(w, h, |x, y| {
                let row = y as usize * stride;
                let pair = row + (x as usize / 2) * 4;
                let luma = raw.data[pair + if x % 2 == 0 { 0 } else { 2 }];
                yuv_to_rgb(luma, raw.data[pair + 1], raw.data[pair + 3])
            })))
        }
        FourCc::NV12 => {
            let stride = raw.bytes_per_line.max(w) as usize;
            let chroma = stride * h as usize;
            if raw.data.len() < chroma + stride * (h as usize / 2 - 1) + w as usize {
                return Err(bad(""));
            }
            Ok(Frame::Rgb(image::RgbImage::from_fn(w, h, |x, y| {
                let luma = raw.data[y as usize * stride + x as usize];
                let c = chroma + (y as usize / 2) * stride + (x as usize / 2) * 2;
                yuv_to_rgb(luma, raw.data[c], raw.data[c + 1])
            })))
        }
        other => Err(CaptureError::Unsupported(format!(
            "the camera sent {other} frames, which postbooth cannot decode"
        ))),
    }
}

/// BT.601 limited range, as webcams send it.
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> image::Rgb<u8> {
    let c = (i32::from(y) - 16).max(0) * 298;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    image::Rgb([
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ])
}

/// The booth's V4L2 camera from its config: streaming on its own thread, reporting going
/// missing and coming back through `hook`. Never fails: a missing device is reported (and
/// retried), so the booth starts without its camera and takes photos once it is plugged in.
pub fn open(cfg: &crate::config::CameraConfig, hook: HealthHook) -> LiveCamera {
    LiveCamera::start(
        opener(&cfg.device),
        Settings {
            width: cfg.width,
            height: cfg.height,
            warmup_frames: cfg.warmup_frames,
            frame_timeout: Duration::from_secs(5),
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(10),
        },
        hook,
    )
}

/// Opens `path` with the V4L2 backend when this build has it (cargo feature `v4l`). Without
/// it, a missing device still reads as "camera missing" and a present one says how to get a
/// build that can use it.
pub fn opener(path: &Path) -> Box<dyn Opener> {
    #[cfg(feature = "v4l")]
    {
        Box::new(v4l2::V4lOpener {
            path: path.to_path_buf(),
        })
    }
    #[cfg(not(feature = "v4l"))]
    {
        Box::new(NoV4l {
            path: path.to_path_buf(),
        })
    }
}

/// One line per V4L2 device on this machine, with the formats it offers where this build
/// can ask (feature `v4l`), for `postbooth doctor`.
pub fn survey() -> Vec<String> {
    #[cfg(feature = "v4l")]
    {
        v4l2::list()
            .into_iter()
            .map(|(path, formats)| match formats {
                Ok(formats) => format!("{path}: {}", describe_formats(&formats)),
                Err(e) => format!("{path}: {e}"),
            })
            .collect()
    }
    #[cfg(not(feature = "v4l"))]
    {
        let mut found: Vec<String> = std::fs::read_dir("/dev")
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("video"))
                    .map(|n| format!("/dev/{n}"))
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        if !found.is_empty() {
            found.push("(formats shown by a build with --features v4l)".into());
        }
        found
    }
}

/// "MJPG 1920x1080 1280x720, YUYV 640x480", for `doctor`.
pub fn describe_formats(formats: &[negotiate::FormatDesc]) -> String {
    if formats.is_empty() {
        return "no capture formats".into();
    }
    formats
        .iter()
        .map(|d| match &d.sizes {
            negotiate::Sizes::Discrete(sizes) => {
                let sizes: Vec<String> = sizes.iter().map(|(w, h)| format!("{w}x{h}")).collect();
                format!("{} {}", d.fourcc, sizes.join(" "))
            }
            negotiate::Sizes::Stepwise { min, max, .. } => {
                format!("{} {}x{}..{}x{}", d.fourcc, min.0, min.1, max.0, max.1)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The opener of a build without V4L2 support.
#[cfg_attr(feature = "v4l", allow(dead_code))]
struct NoV4l {
    path: PathBuf,
}

impl Opener for NoV4l {
    fn open(&mut self) -> Result<Box<dyn VideoDevice>, DeviceError> {
        let name = self.name();
        std::fs::metadata(&self.path).map_err(|e| DeviceError::from_io(&name, &e))?;
        Err(DeviceError::Other(format!(
            "{name} is there, but this postbooth was built without V4L2 support: build it with \
             `cargo build --release --features v4l` (needs clang), or set camera.kind = \"dir\""
        )))
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

impl Opener for Box<dyn Opener> {
    fn open(&mut self) -> Result<Box<dyn VideoDevice>, DeviceError> {
        (**self).open()
    }
    fn name(&self) -> String {
        (**self).name()
    }
}

#[cfg(test)]
mod tests {
    use super::live::fake::{FakeOpener, Script};
    use super::negotiate::{Format, FormatDesc, Sizes};
    use super::*;

    fn settings() -> Settings {
        Settings {
            width: 64,
            height: 48,
            warmup_frames: 2,
            frame_timeout: Duration::from_secs(5),
            retry_base: Duration::from_millis(1),
            retry_cap: Duration::from_millis(4),
        }
    }

    #[test]
    fn yuyv_and_nv12_become_rgb() {
        let format = |fourcc| Format {
            fourcc,
            width: 2,
            height: 2,
        };
        // Mid-grey and white: Y=126/235, U=V=128.
        let yuyv = RawFrame {
            format: format(FourCc::YUYV),
            bytes_per_line: 4,
            data: vec![126, 128, 235, 128, 235, 128, 126, 128],
        };
        let Frame::Rgb(img) = to_frame(yuyv).unwrap() else {
            panic!("rgb")
        };
        assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(0, 0).0, [128, 128, 128]);
        let nv12 = RawFrame {
            format: format(FourCc::NV12),
            bytes_per_line: 2,
            data: vec![235, 16, 16, 235, 128, 128],
        };
        let Frame::Rgb(img) = to_frame(nv12).unwrap() else {
            panic!("rgb")
        };
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(1, 0).0, [0, 0, 0]);
        let short = RawFrame {
            format: format(FourCc::NV12),
            bytes_per_line: 2,
            data: vec![1, 2],
        };
        assert!(to_frame(short).is_err());
    }

    /// The threaded camera against the fake: a press gets a streamed frame; unplugged, the
    /// press says "camera missing" and the hook told the display; replugged, it works again.
    #[test]
    fn live_camera_goes_missing_and_comes_back() {
        let script = Arc::new(Mutex::new(Script {
            offered: vec![FormatDesc {
                fourcc: FourCc::MJPG,
                sizes: Sizes::Discrete(vec![(64, 48)]),
            }],
            ..Script::default()
        }));
        let seen = Arc::new(Mutex::new(Vec::<bool>::new()));
        let hook_seen = seen.clone();
        let mut cam = LiveCamera::start(
            FakeOpener(script.clone()),
            settings(),
            Box::new(move |h| {
                hook_seen
                    .lock()
                    .unwrap()
                    .push(matches!(h, Health::Ready(_)))
            }),
        );
        let Frame::Encoded(bytes) = cam.capture().unwrap() else {
            panic!("MJPEG frames stay encoded")
        };
        let n = u32::from_le_bytes(bytes[2..6].try_into().unwrap());
        assert!(n > 2, "warm-up frames (1 and 2) are never photos, got {n}");
        assert!(cam.describe().contains("MJPG 64x48"), "{}", cam.describe());

        // Unplug: the current stream fails on its next read and opens fail for a while.
        {
            let mut s = script.lock().unwrap();
            s.opens = std::iter::repeat_with(|| {
                Err(DeviceError::Gone("/dev/video-fake is missing".into()))
            })
            .take(1_000_000)
            .collect();
        }
        drop(cam);
        // A fresh camera on a device that is gone: the press says so, in words.
        let seen2 = Arc::new(Mutex::new(Vec::<bool>::new()));
        let hook_seen2 = seen2.clone();
        let mut cam = LiveCamera::start(
            FakeOpener(script.clone()),
            settings(),
            Box::new(move |h| {
                hook_seen2
                    .lock()
                    .unwrap()
                    .push(matches!(h, Health::Ready(_)))
            }),
        );
        let Err(e) = cam.capture() else {
            panic!("no device, no frame")
        };
        assert!(e.to_string().contains("missing"), "{e}");
        // Plugged back in: the next opens succeed and presses work again.
        script.lock().unwrap().opens.clear();
        let frame = loop {
            if let Ok(f) = cam.capture() {
                break f;
            }
            std::thread::yield_now();
        };
        assert!(matches!(frame, Frame::Encoded(_)));
        let seen2 = seen2.lock().unwrap().clone();
        assert_eq!(seen2.first(), Some(&false), "the display heard 'missing'");
        assert_eq!(seen2.last(), Some(&true), "and then 'ready'");
        assert_eq!(seen.lock().unwrap().first(), Some(&true));
    }
}
