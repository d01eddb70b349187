//! The V4L2 camera: format choice ([`negotiate`]), a stream that survives unplugging
//! ([`live`]), and the device backend (`v4l2`, behind the `v4l` cargo feature because its
//! bindings need libclang at build time). [`LiveCamera`] runs a grabber on its own thread and
//! is the booth's [`Camera`].

#[cfg(feature = "v4l")]
pub mod device;
pub mod live;
pub mod negotiate;
pub mod recent;

use super::preview::PreviewTap;
use super::{Camera, CaptureError, Context, Frame};
use crate::pipeline::frame::{PixelFormat, RawFrame as PixelFrame, YuvRange};
use live::{
    DeviceError, Grabber, Health as LiveHealth, Opener, RawFrame, Settings, Step, VideoDevice,
};
use negotiate::{Format, FourCc};
use recent::Recent;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Frames taken after one that cannot be decoded, before the press fails.
pub const FRAME_RETRIES: u32 = 3;

/// When a live camera runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Demand {
    /// Always (unless paused): photos come from the stream.
    Always,
    /// Only while someone watches the preview, and `linger` after the last viewer went: the
    /// stream is only for the preview (a DSLR's live view keeps its mirror up and sensor busy).
    WhileWatched { linger: Duration },
}

/// How often an idle live view looks for a viewer (the preview has no wake-up for that).
const VIEWER_POLL: Duration = Duration::from_millis(200);
/// How long a DSLR's live view keeps running after its last viewer: a page reload or a
/// /preview.jpg poller comes back within that, and each start costs the camera a mirror flip
/// and about a second before its first frame.
pub const LIVE_VIEW_LINGER: Duration = Duration::from_secs(3);

/// Whether the device should be open: not while paused (the camera is lent out for a photo);
/// on demand, only if someone watched no longer than `linger` ago (`watched_ago`: `None` if
/// nobody ever did).
pub fn should_run(paused: bool, demand: Demand, watched_ago: Option<Duration>) -> bool {
    !paused
        && match demand {
            Demand::Always => true,
            Demand::WhileWatched { linger } => watched_ago.is_some_and(|ago| ago <= linger),
        }
}

/// Called on the grabber thread whenever the camera goes missing or comes back.
pub type HealthHook = Box<dyn Fn(&LiveHealth) + Send>;

struct State {
    /// The newest frame, and briefly a few before it for a press whose frame was refused.
    recent: Recent,
    health: Option<LiveHealth>,
    stop: bool,
    /// Asked to let go of the device (a full-resolution still needs the camera).
    paused: bool,
    /// The grabber has let go: the device is closed (a camera tool stopped and reaped).
    released: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// A streaming camera: a thread keeps the newest frame; [`Camera::capture`] takes it.
pub struct LiveCamera {
    shared: Arc<Shared>,
    name: String,
    /// What kind of camera, for `describe` ("V4L2", "libcamera").
    label: &'static str,
    wait: Duration,
    /// The shooter refused the last frame: the next capture is a retry of the same press.
    refused: bool,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveCamera {
    pub fn start<O: Opener + 'static>(
        opener: O,
        settings: Settings,
        hook: HealthHook,
        tap: PreviewTap,
    ) -> Self {
        Self::start_with(opener, settings, hook, tap, Demand::Always)
    }

    /// [`start`](Self::start), running only as `demand` says.
    pub fn start_with<O: Opener + 'static>(
        opener: O,
        settings: Settings,
        hook: HealthHook,
        tap: PreviewTap,
        demand: Demand,
    ) -> Self {
        let name = opener.name();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                recent: Recent::new(settings.frame_interval),
                health: None,
                stop: false,
                paused: false,
                released: false,
            }),
            changed: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || {
                grab(
                    Grabber::new(opener, settings),
                    &thread_shared,
                    hook,
                    &tap,
                    demand,
                )
            })
            .expect("spawning the camera thread");
        Self {
            shared,
            name,
            label: "V4L2",
            // A press waits at most this long for a frame before saying the camera is missing.
            wait: settings.frame_timeout,
            refused: false,
            thread: Some(thread),
        }
    }

    /// Names the kind of camera in [`describe`](Camera::describe).
    pub fn labelled(mut self, label: &'static str) -> Self {
        self.label = label;
        self
    }

    /// Closes the device and keeps it closed until [`resume`](Self::resume); returns once it
    /// is closed (false if that took longer than `timeout`).
    pub fn pause(&self, timeout: Duration) -> bool {
        let mut state = self.shared.state.lock().expect("camera state");
        state.paused = true;
        self.shared.changed.notify_all();
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, timeout, |s| !s.released && !s.stop)
            .expect("camera state");
        state.released
    }

    /// Opens the device again after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.shared.state.lock().expect("camera state").paused = false;
        self.shared.changed.notify_all();
    }
}

fn grab<O: Opener>(
    mut grabber: Grabber<O>,
    shared: &Shared,
    hook: HealthHook,
    tap: &PreviewTap,
    demand: Demand,
) {
    let mut last_health: Option<LiveHealth> = None;
    let mut last_watched: Option<std::time::Instant> = None;
    // Closed for want of viewers (an on-demand stream starts so).
    let mut idle = demand != Demand::Always;
    loop {
        {
            let mut state = shared.state.lock().expect("camera state");
            // Idle while paused or (on demand) unwatched: the device closed, the tool stopped.
            loop {
                if state.stop {
                    return;
                }
                let watched_ago = if demand != Demand::Always && tap.has_viewers() {
                    last_watched = Some(std::time::Instant::now());
                    Some(Duration::ZERO)
                } else {
                    last_watched.map(|t| t.elapsed())
                };
                if should_run(state.paused, demand, watched_ago) {
                    if std::mem::take(&mut idle) {
                        tracing::info!("live view starting: someone watches the preview");
                    }
                    break;
                }
                if !state.paused && !idle {
                    // Nobody watches: stop, and show nothing stale to the next viewer.
                    tracing::info!("live view stopped: nobody watches the preview");
                    tap.clear();
                    idle = true;
                }
                grabber.close();
                state.recent.clear();
                if state.paused && !state.released {
                    state.released = true;
                    shared.changed.notify_all();
                }
                state = match demand {
                    Demand::Always => shared.changed.wait(state).expect("camera state"),
                    // Resumes and stops wake it at once; viewers are looked for.
                    Demand::WhileWatched { .. } => {
                        shared
                            .changed
                            .wait_timeout(state, VIEWER_POLL)
                            .expect("camera state")
                            .0
                    }
                };
            }
            state.released = false;
        }
        let step = grabber.step();
        let health = grabber.health().cloned();
        if health != last_health {
            if let Some(h) = &health {
                match h {
                    LiveHealth::Ready(format) => tracing::info!(%format, "camera streaming"),
                    LiveHealth::Missing(why) => {
                        tracing::warn!(error = %why, "camera missing");
                        tap.clear();
                    }
                }
                hook(h);
            }
            last_health = health.clone();
        }
        let newest = grabber.take_newest();
        if let Some(frame) = newest.as_ref().filter(|_| tap.wants()) {
            // A copy only while someone watches, a few times a second; the preview thread
            // makes it small.
            if let Ok(frame) = to_frame(frame.clone()) {
                tap.offer(frame);
            }
        }
        let mut state = shared.state.lock().expect("camera state");
        state.health = health;
        if let Some(frame) = newest {
            state.recent.push(frame, std::time::Instant::now());
        }
        if let Step::Retry { after, .. } = step {
            state.recent.clear();
            shared.changed.notify_all();
            // Wait, but wake at once for shutdown, and for a photo that needs the camera (a
            // DSLR whose live view cannot open must not hold its photo for the backoff).
            let (s, _) = shared
                .changed
                .wait_timeout_while(state, after, |s| !s.stop && !s.paused)
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
        let retry = std::mem::take(&mut self.refused);
        let mut state = self.shared.state.lock().expect("camera state");
        if let Some(LiveHealth::Missing(why)) = &state.health {
            return Err(missing(why));
        }
        state.recent.begin(retry);
        // The newest frame, or the next one if the last was just taken; a retry may take a
        // slightly older whole frame (see `recent`).
        let (mut state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, self.wait, |s| {
                !s.recent.ready() && !matches!(s.health, Some(LiveHealth::Missing(_)))
            })
            .expect("camera state");
        match state.recent.take() {
            Some(raw) => to_frame(raw),
            None => Err(match &state.health {
                Some(LiveHealth::Missing(why)) => missing(why),
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

    fn reject(&mut self) -> Result<(), CaptureError> {
        self.refused = true;
        Ok(())
    }

    /// A damaged MJPEG frame is followed by a good one 33 ms later at 30 fps; four bad frames
    /// in a row is a cable or camera problem worth showing.
    fn frame_retries(&self) -> u32 {
        FRAME_RETRIES
    }

    fn describe(&self) -> String {
        let state = self.shared.state.lock().expect("camera state");
        match &state.health {
            Some(LiveHealth::Ready(format)) => format!("{} {} ({format})", self.label, self.name),
            Some(LiveHealth::Missing(why)) => {
                format!("{} {} (missing: {why})", self.label, self.name)
            }
            None => format!("{} {} (opening)", self.label, self.name),
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

/// The time between frames at `framerate` (nominal: the camera may deliver fewer).
pub fn frame_interval(framerate: u32) -> Duration {
    Duration::from_secs(1) / framerate.max(1)
}

/// Turns what the device delivered into a frame for the pipeline, without touching the pixels:
/// MJPEG frames stay encoded (the pipeline decodes them, at reduced scale when it can) and
/// YUYV, NV12 and YU12 frames go as they are (the pipeline resizes their planes straight to the
/// output size, so no full-size RGB copy is ever made).
pub fn to_frame(raw: RawFrame) -> Result<Frame, CaptureError> {
    if raw.format.fourcc == FourCc::MJPG {
        return Ok(Frame::Encoded(raw.data));
    }
    let Some(pixels) = PixelFormat::from_fourcc(&raw.format.fourcc.0) else {
        return Err(CaptureError::Unsupported(format!(
            "the camera sent {} frames, which postbooth cannot decode",
            raw.format.fourcc
        )));
    };
    let Format { width, height, .. } = raw.format;
    // Some drivers leave bytesperline at 0 (or too small) for packed rows: rows are then
    // tightly packed, as is_whole assumed when it let the frame through.
    let stride = (raw.bytes_per_line as usize).max(pixels.min_stride(width));
    let range = if raw.full_range {
        YuvRange::Full
    } else {
        YuvRange::Limited
    };
    PixelFrame::with_stride(pixels, width, height, stride, raw.data)
        .map(|f| Frame::Raw(f.with_range(range)))
        .map_err(|e| CaptureError::Unsupported(format!("the camera sent a damaged frame: {e}")))
}

/// The booth's V4L2 camera (`camera.kind = "v4l2"`): streaming on its own thread, telling the
/// context when it goes missing and comes back. Never fails: a missing device is reported
/// (and retried), so the booth starts without its camera and takes photos once it is plugged in.
pub fn open(
    cfg: &crate::config::CameraConfig,
    ctx: Context,
) -> Result<Box<dyn Camera>, CaptureError> {
    let health = ctx.health.clone();
    let hook: HealthHook = Box::new(move |h| {
        health(&match h {
            LiveHealth::Ready(format) => super::Health::Ready(format!("V4L2 ({format})")),
            LiveHealth::Missing(why) => super::Health::Missing(why.clone()),
        })
    });
    Ok(Box::new(start(cfg, hook, ctx.preview)))
}

/// Starts streaming from `camera.device`, reporting health changes through `hook`.
pub fn start(cfg: &crate::config::CameraConfig, hook: HealthHook, tap: PreviewTap) -> LiveCamera {
    LiveCamera::start(
        opener(&cfg.device),
        Settings {
            width: cfg.width,
            height: cfg.height,
            warmup_frames: cfg.warmup_frames,
            frame_timeout: Duration::from_secs(5),
            frame_interval: frame_interval(cfg.framerate),
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(10),
        },
        hook,
        tap,
    )
}

/// Opens `path` with the V4L2 backend when this build has it (cargo feature `v4l`). Without
/// it, a missing device still reads as "camera missing" and a present one says how to get a
/// build that can use it.
pub fn opener(path: &Path) -> Box<dyn Opener> {
    #[cfg(feature = "v4l")]
    {
        Box::new(device::V4lOpener {
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
        device::list()
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
            frame_interval: Duration::from_millis(33),
            retry_base: Duration::from_millis(1),
            retry_cap: Duration::from_millis(4),
        }
    }

    fn raw(
        fourcc: FourCc,
        width: u32,
        height: u32,
        bytes_per_line: u32,
        data: Vec<u8>,
    ) -> RawFrame {
        RawFrame {
            format: Format {
                fourcc,
                width,
                height,
            },
            bytes_per_line,
            full_range: false,
            data,
        }
    }

    /// Raw frames reach the pipeline untouched: same format, size, stride and bytes.
    #[test]
    fn raw_frames_go_to_the_pipeline_as_they_are() {
        let cases = [
            (FourCc::YUYV, PixelFormat::Yuyv, 8, 8 * 2),
            (FourCc::NV12, PixelFormat::Nv12, 4, 4 * 2 + 4),
            (FourCc::YU12, PixelFormat::Yuv420, 4, 4 * 2 + 2 * 2),
            // Driver padding: rows 8 bytes apart for 4 pixels of NV12, data past the end.
            (FourCc::NV12, PixelFormat::Nv12, 8, 8 * 3 + 5),
        ];
        for (fourcc, format, stride, len) in cases {
            let data: Vec<u8> = (0..len as u8).collect();
            let frame = to_frame(raw(fourcc, 4, 2, stride as u32, data.clone())).unwrap();
            let Frame::Raw(f) = frame else {
                panic!("{fourcc} stays raw")
            };
            assert_eq!(f.format(), format);
            assert_eq!((f.width(), f.height()), (4, 2));
            assert_eq!(f.stride(), stride);
            assert_eq!(f.data(), &data[..]);
            assert_eq!(f.range(), YuvRange::Limited);
        }
        // bytesperline 0 means tightly packed; full range is passed on.
        let mut full = raw(FourCc::YUYV, 4, 2, 0, vec![0; 16]);
        full.full_range = true;
        let Frame::Raw(f) = to_frame(full).unwrap() else {
            panic!("raw")
        };
        assert_eq!((f.stride(), f.range()), (8, YuvRange::Full));
    }

    /// A raw frame the pipeline could not read is an error naming what is wrong, not a panic.
    #[test]
    fn short_or_odd_raw_frames_are_clear_errors() {
        let short = to_frame(raw(FourCc::NV12, 4, 2, 4, vec![1, 2])).unwrap_err();
        let msg = short.to_string();
        assert!(msg.contains("needs 12 bytes but has 2"), "{msg}");
        assert!(to_frame(raw(FourCc::YU12, 3, 2, 3, vec![0; 100])).is_err());
        let h264 = to_frame(raw(FourCc(*b"H264"), 4, 2, 0, vec![0; 100])).unwrap_err();
        assert!(h264.to_string().contains("H264"), "{h264}");
    }

    /// A YUYV frame from the "camera" becomes a photo whose colours match the frame's.
    #[test]
    fn a_yuyv_frame_becomes_a_photo() {
        use crate::pipeline::encode::{make_compliant, EncodeOptions};
        // 640x480, left half white (Y=235), right half limited-range black (Y=16), grey chroma.
        let (w, h) = (640u32, 480u32);
        let mut data = Vec::with_capacity((w * h * 2) as usize);
        for _ in 0..h {
            for x in (0..w).step_by(2) {
                let y = if x < w / 2 { 235 } else { 16 };
                data.extend_from_slice(&[y, 128, y, 128]);
            }
        }
        let frame = to_frame(raw(FourCc::YUYV, w, h, w * 2, data)).unwrap();
        let jpeg = make_compliant(&frame, &EncodeOptions::default()).unwrap();
        let img = image::load_from_memory(&jpeg.bytes).unwrap().into_rgb8();
        assert_eq!(img.dimensions(), (640, 480));
        assert!(img.get_pixel(100, 240).0.iter().all(|&c| c > 245));
        assert!(img.get_pixel(540, 240).0.iter().all(|&c| c < 10));
    }

    /// A V4L2 camera whose device is not there: the booth starts, and a shot says the
    /// camera is missing, naming the device and the fix.
    #[test]
    fn v4l2_missing_device_is_camera_missing() {
        let mut c =
            crate::hw::camera::test_config(crate::config::CameraKind::V4l2, Path::new("/x"));
        c.device = "/dev/video-not-here".into();
        let mut camera = open(&c, Context::quiet()).expect("opening never touches the device");
        let err = camera.capture().unwrap_err();
        assert!(matches!(err, CaptureError::Missing { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("/dev/video-not-here is missing") && msg.contains("cable"),
            "{msg}"
        );
    }

    /// A streaming camera feeds the preview while someone watches: frames leave the camera
    /// thread as they are and arrive small, as JPEGs.
    #[test]
    fn live_camera_feeds_the_preview() {
        use crate::hw::camera::preview::{self, Preview};
        let script = Arc::new(Mutex::new(Script {
            // A tiny YUYV frame: the fake's 10 bytes are a whole 2x1 frame.
            offered: vec![FormatDesc {
                fourcc: FourCc::YUYV,
                sizes: Sizes::Discrete(vec![(2, 1)]),
            }],
            ..Script::default()
        }));
        let preview = Preview::with_rate(&Default::default(), 50);
        let mut rx = preview.subscribe();
        let mut cam = LiveCamera::start(
            FakeOpener(script.clone()),
            settings(),
            Box::new(|_| {}),
            preview.tap(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        for _ in 0..2 {
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(20), rx.changed())
                    .await
                    .expect("a preview frame")
                    .unwrap()
            });
            let frame = rx.borrow_and_update().clone().unwrap();
            // Never wider than the preview width (a 2x1 frame is not made 640 wide, but
            // Instagram's 320 minimum of the photo path applies).
            let img = image::load_from_memory(&frame.jpeg).expect("a JPEG");
            assert_eq!((img.width(), img.height()), (frame.width, frame.height));
            assert!(frame.width <= preview::PREVIEW_WIDTH, "{}", frame.width);
        }
        // Presses still get frames while the preview runs.
        assert!(matches!(cam.capture().unwrap(), Frame::Raw(_)));
        preview.close();
    }

    #[test]
    fn on_demand_streams_run_only_while_watched_or_lingering() {
        let linger = Duration::from_secs(3);
        let on_demand = Demand::WhileWatched { linger };
        let s = Duration::from_secs;
        assert!(!should_run(false, on_demand, None), "never watched");
        assert!(should_run(false, on_demand, Some(s(0))), "watched now");
        assert!(
            should_run(false, on_demand, Some(s(3))),
            "within the linger"
        );
        assert!(!should_run(false, on_demand, Some(s(4))));
        assert!(
            !should_run(true, on_demand, Some(s(0))),
            "lent out for a photo"
        );
        assert!(should_run(false, Demand::Always, None));
        assert!(!should_run(true, Demand::Always, None));
    }

    /// An on-demand camera (a DSLR's live view) opens its device for the first viewer, lends
    /// it out for a photo, and closes it when the last viewer goes.
    #[test]
    fn on_demand_live_camera_opens_for_viewers_only() {
        use crate::hw::camera::preview::Preview;
        let script = Arc::new(Mutex::new(Script {
            offered: vec![FormatDesc {
                fourcc: FourCc::MJPG,
                sizes: Sizes::Discrete(vec![(64, 48)]),
            }],
            ..Script::default()
        }));
        let preview = Preview::with_rate(&Default::default(), 50);
        let cam = LiveCamera::start_with(
            FakeOpener(script.clone()),
            settings(),
            Box::new(|_| {}),
            preview.tap(),
            Demand::WhileWatched {
                linger: Duration::ZERO,
            },
        );
        let counts = || {
            let s = script.lock().unwrap();
            (s.opened, s.closed)
        };
        let until = |want: (u32, u32)| {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while counts() != want {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{:?} != {want:?}",
                    counts()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        // The camera thread went through its idle loop (a pause is answered there) without
        // opening anything: nobody watches.
        assert!(cam.pause(Duration::from_secs(30)));
        cam.resume();
        assert_eq!(counts(), (0, 0));
        let rx = preview.subscribe();
        until((1, 0));
        // A photo: the device is closed while lent out, opened again after.
        assert!(cam.pause(Duration::from_secs(30)));
        assert_eq!(counts(), (1, 1));
        cam.resume();
        until((2, 1));
        drop(rx);
        until((2, 2));
        preview.close();
    }

    /// A camera waiting out its reopen backoff lets go at once when a photo needs the device
    /// (it holds nothing then): the backoff here is an hour.
    #[test]
    fn a_pause_is_answered_during_the_reopen_backoff() {
        let script = Arc::new(Mutex::new(Script {
            opens: std::iter::repeat_with(|| Err(DeviceError::Gone("asleep".into())))
                .take(100)
                .collect(),
            ..Script::default()
        }));
        let cam = LiveCamera::start(
            FakeOpener(script.clone()),
            Settings {
                retry_base: Duration::from_secs(3600),
                retry_cap: Duration::from_secs(3600),
                ..settings()
            },
            Box::new(|_| {}),
            PreviewTap::none(),
        );
        while script.lock().unwrap().opens.len() == 100 {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            cam.pause(Duration::from_secs(30)),
            "the pause waited out the backoff"
        );
        cam.resume();
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
                    .push(matches!(h, LiveHealth::Ready(_)))
            }),
            PreviewTap::none(),
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
                    .push(matches!(h, LiveHealth::Ready(_)))
            }),
            PreviewTap::none(),
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
