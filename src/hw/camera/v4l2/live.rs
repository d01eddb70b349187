//! A streaming camera that survives being unplugged.
//!
//! A [`Grabber`] owns the device: it opens it, negotiates a format, starts the stream, drops
//! the warm-up frames (auto-exposure settles in the first few), then keeps dequeuing so the
//! newest frame is always at hand: a press takes it with no shutter lag from re-opening. When
//! the device goes away (ENODEV, EIO: unplugged, or a USB hub browned out) it reports
//! "missing", drops the device and reopens it with backoff until it comes back.
//!
//! The grabber does one step at a time and returns how long to wait, instead of sleeping, so
//! tests drive it through unplug/replug scripts with a fake device and no clock.

use super::negotiate::{candidates, Format, FormatDesc};
use crate::pipeline::frame::PixelFormat;
use std::time::Duration;

/// One frame as the device delivered it.
#[derive(Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub format: Format,
    /// Bytes per line for packed/planar formats (0 for MJPEG).
    pub bytes_per_line: u32,
    /// The driver said its YUV is full range (0..255), not video range (16..235).
    pub full_range: bool,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for RawFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawFrame({}, {} bytes)", self.format, self.data.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// Unplugged or not there (ENOENT, ENODEV, ENXIO, EIO): reopen later.
    #[error("{0}")]
    Gone(String),
    /// Not allowed to open it: waiting will not help until someone fixes the permissions.
    #[error("{0}")]
    Permission(String),
    /// Opened, but it offers nothing we can turn into a photo.
    #[error("{0}")]
    NoUsableFormat(String),
    /// Anything else (busy, a driver hiccup): also retried with backoff.
    #[error("{0}")]
    Other(String),
}

impl DeviceError {
    /// Sorts an OS error from `what` (e.g. "/dev/video0") into the cases above, with the fix.
    pub fn from_io(what: &str, e: &std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO | libc::EIO) => DeviceError::Gone(
                format!("{what} is missing ({e}): check the camera's cable, or set camera.device"),
            ),
            Some(libc::EACCES | libc::EPERM) => DeviceError::Permission(format!(
                "{what} cannot be opened ({e}): add the user running postbooth to the video \
                 group (sudo usermod -aG video $USER) and log in again"
            )),
            Some(libc::EBUSY) => DeviceError::Other(format!(
                "{what} is busy ({e}): another program is using the camera"
            )),
            _ => DeviceError::Other(format!("{what}: {e}")),
        }
    }
}

/// A video device with a running stream. The V4L2 backend and the test fake implement it.
pub trait VideoDevice: Send {
    fn formats(&mut self) -> Result<Vec<FormatDesc>, DeviceError>;
    /// Asks for `want`; returns what the driver actually set (it may change the size).
    fn set_format(&mut self, want: Format) -> Result<Format, DeviceError>;
    /// Starts streaming (mmap buffers).
    fn start(&mut self) -> Result<(), DeviceError>;
    /// The next frame, waiting at most `timeout`; `Ok(None)` on timeout.
    fn next_frame(&mut self, timeout: Duration) -> Result<Option<RawFrame>, DeviceError>;
}

/// Opens the device: a path for V4L2, a script for the fake.
pub trait Opener: Send {
    fn open(&mut self) -> Result<Box<dyn VideoDevice>, DeviceError>;
    /// What is opened, for messages ("/dev/video0").
    fn name(&self) -> String;
}

#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub width: u32,
    pub height: u32,
    /// Frames dropped after each open while exposure settles.
    pub warmup_frames: u32,
    pub frame_timeout: Duration,
    /// Time between frames (1 / frame rate), nominal: how old a fallback frame may be.
    pub frame_interval: Duration,
    pub retry_base: Duration,
    pub retry_cap: Duration,
}

/// What one [`Grabber::step`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Opened and streaming in this format.
    Opened(Format),
    /// A warm-up frame was dropped.
    WarmingUp,
    /// A frame is the newest now.
    Frame,
    /// A frame arrived damaged (an MJPEG frame cut short by a USB hiccup) and was dropped.
    Damaged,
    /// No frame within the timeout (the device is still there).
    Idle,
    /// The device is missing or failed: wait this long, then step again (it reopens).
    Retry { after: Duration, error: String },
}

/// The camera's state as the booth sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Ready(Format),
    Missing(String),
}

pub struct Grabber<O: Opener> {
    opener: O,
    settings: Settings,
    device: Option<Box<dyn VideoDevice>>,
    warmup_left: u32,
    /// Failed opens in a row, for the backoff.
    failures: u32,
    newest: Option<RawFrame>,
    health: Option<Health>,
}

impl<O: Opener> Grabber<O> {
    pub fn new(opener: O, settings: Settings) -> Self {
        Self {
            opener,
            settings,
            device: None,
            warmup_left: 0,
            failures: 0,
            newest: None,
            health: None,
        }
    }

    /// The newest frame since the last take, if any.
    pub fn take_newest(&mut self) -> Option<RawFrame> {
        self.newest.take()
    }

    /// Whether the device is open (a step reads frames rather than opening it).
    pub fn is_open(&self) -> bool {
        self.device.is_some()
    }

    /// Closes the device (it is opened again by the next step).
    pub fn close(&mut self) {
        self.device = None;
        self.newest = None;
    }

    /// The current state; changes are what the display shows.
    pub fn health(&self) -> Option<&Health> {
        self.health.as_ref()
    }

    /// Does one thing: open the device if it is closed, else read one frame.
    pub fn step(&mut self) -> Step {
        match self.device.as_mut() {
            None => match self.open() {
                Ok(format) => {
                    self.failures = 0;
                    self.warmup_left = self.settings.warmup_frames;
                    self.health = Some(Health::Ready(format));
                    Step::Opened(format)
                }
                Err(e) => self.fail(e),
            },
            Some(device) => match device.next_frame(self.settings.frame_timeout) {
                Ok(Some(frame)) if !is_whole(&frame) => Step::Damaged,
                Ok(Some(frame)) => {
                    if self.warmup_left > 0 {
                        self.warmup_left -= 1;
                        Step::WarmingUp
                    } else {
                        self.newest = Some(frame);
                        Step::Frame
                    }
                }
                Ok(None) => Step::Idle,
                Err(e) => {
                    // Close it: a device that failed a read is reopened from scratch.
                    self.device = None;
                    self.newest = None;
                    self.fail(e)
                }
            },
        }
    }

    fn open(&mut self) -> Result<Format, DeviceError> {
        let mut device = self.opener.open()?;
        let want = (self.settings.width, self.settings.height);
        let offered = device.formats()?;
        let mut last_err = None;
        for candidate in candidates(&offered, want) {
            match device.set_format(candidate) {
                // The driver may adjust the size, never to a format we did not ask for.
                Ok(got) if got.fourcc == candidate.fourcc => {
                    device.start()?;
                    self.device = Some(device);
                    return Ok(got);
                }
                Ok(got) => last_err = Some(format!("asked for {candidate}, the driver gave {got}")),
                Err(e @ DeviceError::Gone(_)) => return Err(e),
                Err(e) => last_err = Some(e.to_string()),
            }
        }
        let offered: Vec<String> = offered.iter().map(|d| d.fourcc.to_string()).collect();
        Err(DeviceError::NoUsableFormat(format!(
            "{} offers no format postbooth can use (it has {}; postbooth needs MJPG, YUYV, \
             NV12 or YU12){}",
            self.opener.name(),
            if offered.is_empty() {
                "none".to_string()
            } else {
                offered.join(", ")
            },
            last_err.map(|e| format!(": {e}")).unwrap_or_default()
        )))
    }

    fn fail(&mut self, e: DeviceError) -> Step {
        self.failures += 1;
        let error = e.to_string();
        self.health = Some(Health::Missing(error.clone()));
        Step::Retry {
            after: reopen_delay(
                self.failures,
                self.settings.retry_base,
                self.settings.retry_cap,
            ),
            error,
        }
    }
}

/// Whether a frame can become a photo: an MJPEG frame must run from its start-of-image marker
/// to its end-of-image marker (drivers pad the buffer, so zeros may follow); a frame cut short
/// would decode grey at the bottom, or not at all. A raw frame must be as long as its format
/// and bytesperline say (a short one is a USB hiccup too: take the next frame).
pub fn is_whole(frame: &RawFrame) -> bool {
    let data = &frame.data;
    if frame.format.fourcc != super::negotiate::FourCc::MJPG {
        let Some(pixels) = PixelFormat::from_fourcc(&frame.format.fourcc.0) else {
            // Not ours to judge: the pipeline says what it cannot read.
            return true;
        };
        let stride = (frame.bytes_per_line as usize).max(pixels.min_stride(frame.format.width));
        return pixels
            .frame_len(frame.format.height, stride)
            .is_some_and(|len| data.len() >= len);
    }
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    data.starts_with(&[0xFF, 0xD8]) && end >= 4 && data[..end].ends_with(&[0xFF, 0xD9])
}

/// Waits between reopen attempts: doubling from `base`, capped. No jitter: one booth, one
/// camera, and the operator replugging it wants it back within a few seconds.
pub fn reopen_delay(failures: u32, base: Duration, cap: Duration) -> Duration {
    base.saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(cap)
}

#[cfg(test)]
pub(crate) mod fake {
    //! A scripted camera: offers formats, produces numbered frames, and unplugs on cue.
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// What happens on each open and each read, shared with the test.
    #[derive(Default)]
    pub struct Script {
        /// Results of successive opens: `Err` = not there (yet). Once empty, opens succeed.
        pub opens: VecDeque<Result<(), DeviceError>>,
        pub offered: Vec<FormatDesc>,
        /// Reads before the device is "unplugged" (returns ENODEV), per open; `None`: never.
        pub unplug_after: VecDeque<Option<u32>>,
        /// Every frame made so far, across opens (frame n's data is n as bytes).
        pub made: u32,
        pub set_calls: Vec<Format>,
        /// Sizes the driver forces, like real drivers that round to what the sensor does.
        pub driver_size: Option<(u32, u32)>,
        /// Frame numbers delivered cut short (no end-of-image marker).
        pub damaged: Vec<u32>,
        /// Devices opened and closed (dropped) so far.
        pub opened: u32,
        pub closed: u32,
    }

    #[derive(Clone, Default)]
    pub struct FakeOpener(pub Arc<Mutex<Script>>);

    struct FakeDevice {
        script: Arc<Mutex<Script>>,
        reads_left: Option<u32>,
        format: Option<Format>,
    }

    impl Opener for FakeOpener {
        fn open(&mut self) -> Result<Box<dyn VideoDevice>, DeviceError> {
            let mut s = self.0.lock().unwrap();
            if let Some(result) = s.opens.pop_front() {
                result?;
            }
            let reads_left = s.unplug_after.pop_front().flatten();
            s.opened += 1;
            Ok(Box::new(FakeDevice {
                script: self.0.clone(),
                reads_left,
                format: None,
            }))
        }
        fn name(&self) -> String {
            "/dev/video-fake".into()
        }
    }

    impl Drop for FakeDevice {
        fn drop(&mut self) {
            self.script.lock().unwrap().closed += 1;
        }
    }

    impl VideoDevice for FakeDevice {
        fn formats(&mut self) -> Result<Vec<FormatDesc>, DeviceError> {
            Ok(self.script.lock().unwrap().offered.clone())
        }
        fn set_format(&mut self, want: Format) -> Result<Format, DeviceError> {
            let mut s = self.script.lock().unwrap();
            s.set_calls.push(want);
            let got = match s.driver_size {
                Some((width, height)) => Format {
                    width,
                    height,
                    ..want
                },
                None => want,
            };
            self.format = Some(got);
            Ok(got)
        }
        fn start(&mut self) -> Result<(), DeviceError> {
            Ok(())
        }
        fn next_frame(&mut self, _timeout: Duration) -> Result<Option<RawFrame>, DeviceError> {
            if let Some(left) = self.reads_left.as_mut() {
                if *left == 0 {
                    return Err(DeviceError::from_io(
                        "/dev/video-fake",
                        &std::io::Error::from_raw_os_error(libc::ENODEV),
                    ));
                }
                *left -= 1;
            }
            let mut s = self.script.lock().unwrap();
            s.made += 1;
            // Frame n: SOI, n as 4 bytes, EOI (and driver padding); cut short on cue.
            let mut data = vec![0xFF, 0xD8];
            data.extend(s.made.to_le_bytes());
            if !s.damaged.contains(&s.made) {
                data.extend([0xFF, 0xD9, 0, 0]);
            }
            Ok(Some(RawFrame {
                format: self.format.expect("format set before streaming"),
                bytes_per_line: 0,
                full_range: false,
                data,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;
    use crate::hw::camera::v4l2::negotiate::{Format, FourCc, Sizes};

    const S: Settings = Settings {
        width: 1920,
        height: 1080,
        warmup_frames: 3,
        frame_timeout: Duration::from_secs(2),
        frame_interval: Duration::from_millis(33),
        retry_base: Duration::from_millis(500),
        retry_cap: Duration::from_secs(8),
    };

    fn camera(script: Script) -> (Grabber<FakeOpener>, FakeOpener) {
        let opener = FakeOpener(std::sync::Arc::new(std::sync::Mutex::new(script)));
        (Grabber::new(opener.clone(), S), opener)
    }

    fn mjpeg_hd() -> Vec<FormatDesc> {
        vec![
            FormatDesc {
                fourcc: FourCc::YUYV,
                sizes: Sizes::Discrete(vec![(1920, 1080)]),
            },
            FormatDesc {
                fourcc: FourCc::MJPG,
                sizes: Sizes::Discrete(vec![(1280, 720), (1920, 1080)]),
            },
        ]
    }

    fn frame_no(f: &RawFrame) -> u32 {
        u32::from_le_bytes(f.data[2..6].try_into().unwrap())
    }

    fn gone() -> DeviceError {
        DeviceError::from_io(
            "/dev/video-fake",
            &std::io::Error::from_raw_os_error(libc::ENOENT),
        )
    }

    #[test]
    fn opens_in_mjpeg_drops_warmup_and_keeps_the_newest() {
        let (mut g, _) = camera(Script {
            offered: mjpeg_hd(),
            ..Script::default()
        });
        let fmt = Format {
            fourcc: FourCc::MJPG,
            width: 1920,
            height: 1080,
        };
        assert_eq!(g.step(), Step::Opened(fmt));
        assert_eq!(g.health(), Some(&Health::Ready(fmt)));
        for _ in 0..3 {
            assert_eq!(g.step(), Step::WarmingUp);
        }
        assert!(g.take_newest().is_none(), "warm-up frames are never photos");
        for _ in 0..5 {
            assert_eq!(g.step(), Step::Frame);
        }
        // Frames 1-3 were warm-up; 4..8 streamed; the press gets 8, the newest.
        let f = g.take_newest().unwrap();
        assert_eq!(frame_no(&f), 8);
        assert_eq!(f.format, fmt);
        assert!(g.take_newest().is_none(), "a frame is taken once");
    }

    #[test]
    fn driver_adjusted_size_is_accepted() {
        let (mut g, _) = camera(Script {
            offered: mjpeg_hd(),
            driver_size: Some((1920, 1088)),
            ..Script::default()
        });
        assert_eq!(
            g.step(),
            Step::Opened(Format {
                fourcc: FourCc::MJPG,
                width: 1920,
                height: 1088
            })
        );
    }

    /// Unplugged mid-stream: "missing" with a doubling wait, then it comes back, warms up
    /// again and streams.
    #[test]
    fn unplug_then_replug_recovers_with_backoff() {
        let (mut g, opener) = camera(Script {
            offered: mjpeg_hd(),
            unplug_after: [Some(5), None].into(),
            ..Script::default()
        });
        assert!(matches!(g.step(), Step::Opened(_)));
        for _ in 0..5 {
            g.step();
        }
        assert_eq!(frame_no(&g.take_newest().unwrap()), 5);
        // Unplugged: the read fails, the device is closed.
        let Step::Retry { after, error } = g.step() else {
            panic!("expected a retry")
        };
        assert_eq!(after, Duration::from_millis(500));
        assert!(error.contains("missing"), "{error}");
        assert!(matches!(g.health(), Some(Health::Missing(_))));
        // Still unplugged for three tries: the waits double.
        opener.0.lock().unwrap().opens = [Err(gone()), Err(gone()), Err(gone())].into();
        let waits: Vec<Duration> = (0..3)
            .map(|_| match g.step() {
                Step::Retry { after, .. } => after,
                other => panic!("expected a retry, got {other:?}"),
            })
            .collect();
        assert_eq!(
            waits,
            [1000, 2000, 4000].map(Duration::from_millis).to_vec()
        );
        // Back: opens, warms up again (fresh exposure), streams.
        assert!(matches!(g.step(), Step::Opened(_)));
        assert_eq!(
            g.health().map(|h| matches!(h, Health::Ready(_))),
            Some(true)
        );
        for _ in 0..3 {
            assert_eq!(g.step(), Step::WarmingUp);
        }
        assert_eq!(g.step(), Step::Frame);
        assert_eq!(frame_no(&g.take_newest().unwrap()), 5 + 3 + 1);
    }

    /// A frame cut short is never the newest: the press gets the last whole one.
    #[test]
    fn damaged_mjpeg_frames_are_dropped() {
        let (mut g, _) = camera(Script {
            offered: mjpeg_hd(),
            damaged: vec![6, 7],
            ..Script::default()
        });
        g.step();
        for _ in 0..3 {
            g.step();
        }
        assert_eq!(g.step(), Step::Frame); // 4
        assert_eq!(g.step(), Step::Frame); // 5
        assert_eq!(g.step(), Step::Damaged); // 6
        assert_eq!(g.step(), Step::Damaged); // 7
        assert_eq!(frame_no(&g.take_newest().unwrap()), 5);
        assert_eq!(g.step(), Step::Frame);
        assert_eq!(frame_no(&g.take_newest().unwrap()), 8);
    }

    #[test]
    fn whole_mjpeg_means_soi_to_eoi_with_padding_allowed() {
        let f = |data: &[u8]| RawFrame {
            format: Format {
                fourcc: FourCc::MJPG,
                width: 2,
                height: 2,
            },
            bytes_per_line: 0,
            full_range: false,
            data: data.to_vec(),
        };
        assert!(is_whole(&f(&[0xFF, 0xD8, 1, 0xFF, 0xD9])));
        assert!(is_whole(&f(&[0xFF, 0xD8, 1, 0xFF, 0xD9, 0, 0, 0])));
        assert!(!is_whole(&f(&[0xFF, 0xD8, 1, 2, 3])));
        assert!(!is_whole(&f(&[0, 0, 0, 0])));
        assert!(!is_whole(&f(&[])));
    }

    #[test]
    fn whole_raw_frames_are_as_long_as_their_format() {
        let f = |fourcc, bytes_per_line, len| RawFrame {
            format: Format {
                fourcc,
                width: 4,
                height: 2,
            },
            bytes_per_line,
            full_range: false,
            data: vec![0; len],
        };
        assert!(is_whole(&f(FourCc::YUYV, 8, 16)));
        assert!(is_whole(&f(FourCc::YUYV, 0, 16)));
        assert!(!is_whole(&f(FourCc::YUYV, 8, 15)));
        assert!(is_whole(&f(FourCc::NV12, 4, 12)));
        assert!(!is_whole(&f(FourCc::NV12, 8, 12)), "padded rows need more");
        assert!(is_whole(&f(FourCc::YU12, 4, 12)));
        assert!(!is_whole(&f(FourCc::YU12, 4, 11)));
    }

    #[test]
    fn backoff_is_capped() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(8);
        assert_eq!(reopen_delay(1, base, cap), base);
        assert_eq!(reopen_delay(5, base, cap), cap);
        assert_eq!(reopen_delay(u32::MAX, base, cap), cap);
    }

    #[test]
    fn a_camera_with_no_usable_format_says_what_it_has() {
        let (mut g, _) = camera(Script {
            offered: vec![FormatDesc {
                fourcc: FourCc(*b"H264"),
                sizes: Sizes::Discrete(vec![(1920, 1080)]),
            }],
            ..Script::default()
        });
        let Step::Retry { error, .. } = g.step() else {
            panic!("expected a retry")
        };
        assert!(
            error.contains("H264") && error.contains("MJPG, YUYV, NV12 or YU12"),
            "{error}"
        );
    }

    #[test]
    fn os_errors_are_sorted_with_their_fix() {
        let e = |n| DeviceError::from_io("/dev/video9", &std::io::Error::from_raw_os_error(n));
        assert!(matches!(e(libc::ENOENT), DeviceError::Gone(_)));
        assert!(matches!(e(libc::EIO), DeviceError::Gone(_)));
        let p = e(libc::EACCES).to_string();
        assert!(
            p.contains("/dev/video9") && p.contains("video group"),
            "{p}"
        );
        assert!(matches!(e(libc::EBUSY), DeviceError::Other(_)));
    }
}
