//! Pi Camera Modules (v2, v3, HQ, Global Shutter) through rpicam-apps, the tools Raspberry Pi
//! OS installs by default (older releases name them `libcamera-vid`/`libcamera-still`; both
//! names are looked up on `PATH`).
//!
//! One long-running `rpicam-vid -t 0 -n --codec mjpeg -o -` streams MJPEG to stdout; the stream
//! is split into frames at JPEG boundaries ([`crate::pipeline::mjpeg`]) and handed to the same
//! grabber the V4L2 camera uses ([`super::v4l2::live`]: warm-up frames, newest frame kept,
//! restart with backoff when the process dies), so a press takes the newest complete frame
//! with no shutter lag, and damaged frames are refused by the scan check as for a webcam (a
//! press whose frame is refused takes the whole frame just before it: [`super::v4l2::recent`]).
//!
//! With `camera.still = "full"` a press stops the stream (libcamera lets one process hold a
//! camera: a second one fails with "failed to acquire camera"), runs `rpicam-still`, and starts
//! the stream again. rpicam-still's `--immediate` skips the viewfinder and with it the
//! autofocus scan of `--autofocus-on-capture` (rpicam_still.cpp), so stills run a short
//! viewfinder (`-t`) instead: exposure settles, the lens focuses, then the still is taken.
//!
//! A press with a countdown hides that gap inside it ([`Camera::prepare`]): when the countdown
//! starts, the stream stops and rpicam-still starts in its signal mode (`-t 0 -s`: viewfinder
//! until SIGUSR1, rpicam_still.cpp `get_key_or_signal`); at the end of the countdown SIGUSR1
//! takes the still: only the autofocus scan and the switch to the full-resolution mode are
//! left after the shutter. The process is stopped after its still. Measured in
//! docs/PERFORMANCE.md.

use super::child::{self, Proc, RunError};
use super::preview::PreviewTap;
use super::v4l2::live::{
    DeviceError, Health as LiveHealth, Opener, RawFrame, Settings, VideoDevice,
};
use super::v4l2::negotiate::{Format, FormatDesc, FourCc, Sizes};
use super::v4l2::{frame_interval, LiveCamera, FRAME_RETRIES};
use super::{Camera, CameraTrouble, CaptureError, Context, Frame, Health};
use crate::config::{CameraConfig, StillMode};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The stream tool, current name first.
pub const VID: &[&str] = &["rpicam-vid", "libcamera-vid"];
/// The still tool, current name first.
pub const STILL: &[&str] = &["rpicam-still", "libcamera-still"];
/// A stream that sends nothing for this long is restarted.
const STALL: Duration = Duration::from_secs(10);
/// Largest still accepted (a 64 MP JPEG is far smaller).
const MAX_STILL: usize = 64 * 1024 * 1024;
/// Viewfinder time before a full still: exposure and white balance settle, then autofocus.
const STILL_VIEWFINDER_MS: u32 = 1000;

/// `camera.kind = "libcamera"`. Never fails: a missing tool or camera is reported (display,
/// log, `doctor`) and retried, as an unplugged webcam is.
pub fn open(cfg: &CameraConfig, ctx: Context) -> Result<Box<dyn Camera>, CaptureError> {
    Ok(Box::new(Libcamera::start(cfg, ctx)))
}

/// The arguments of the stream: MJPEG at the configured size, rate and quality, continuous
/// autofocus (ignored by modules without it), no preview window, forever, to stdout.
pub fn stream_args(cfg: &CameraConfig) -> Vec<String> {
    [
        "-t",
        "0",
        "-n",
        "--codec",
        "mjpeg",
        "-q",
        &cfg.quality.to_string(),
        "--width",
        &cfg.width.to_string(),
        "--height",
        &cfg.height.to_string(),
        "--framerate",
        &cfg.framerate.to_string(),
        "--autofocus-mode",
        "continuous",
        "--flush",
        "-o",
        "-",
    ]
    .map(String::from)
    .to_vec()
}

/// The arguments of a still taken on a signal: the sensor's full size, the viewfinder until
/// SIGUSR1 (`-t 0 -s`: exposure and white balance settle during the countdown), then an
/// autofocus scan that rpicam-still waits for before the capture (continuous autofocus alone
/// would let the still be taken whatever the lens is doing), JPEG to stdout.
pub fn signal_still_args(cfg: &CameraConfig) -> Vec<String> {
    full_still_args(cfg, &["-t", "0", "-s"])
}

/// The arguments of a full-resolution still: the sensor's full size (no --width/--height),
/// a short viewfinder, an autofocus scan just before the capture, JPEG to stdout.
pub fn still_args(cfg: &CameraConfig) -> Vec<String> {
    full_still_args(cfg, &["-t", &STILL_VIEWFINDER_MS.to_string()])
}

/// What both kinds of still share, after `when` (how the viewfinder ends).
fn full_still_args(cfg: &CameraConfig, when: &[&str]) -> Vec<String> {
    let quality = cfg.quality.to_string();
    let mut args = vec!["-n"];
    args.extend_from_slice(when);
    args.extend([
        "--autofocus-on-capture",
        "-q",
        &quality,
        "-e",
        "jpg",
        "-o",
        "-",
    ]);
    args.into_iter().map(String::from).collect()
}

pub struct Libcamera {
    live: LiveCamera,
    still: StillMode,
    still_args: Vec<String>,
    signal_args: Vec<String>,
    timeout: Duration,
    /// rpicam-still waiting for its signal (a countdown runs), the stream stopped.
    ready: Option<Waiting>,
}

/// rpicam-still in signal mode. Field order: the receiver goes first, so the reader thread
/// stops; then the process is stopped and reaped.
struct Waiting {
    frames: mpsc::Receiver<Vec<u8>>,
    proc: Proc,
    since: Instant,
}

impl Libcamera {
    pub fn start(cfg: &CameraConfig, ctx: Context) -> Libcamera {
        Self::start_streaming(cfg, ctx.health, ctx.preview)
    }

    fn start_streaming(cfg: &CameraConfig, health: super::HealthHook, tap: PreviewTap) -> Self {
        let settings = Settings {
            width: cfg.width,
            height: cfg.height,
            warmup_frames: cfg.warmup_frames,
            frame_timeout: Duration::from_secs(5),
            frame_interval: frame_interval(cfg.framerate),
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(10),
        };
        let hook = Box::new(move |h: &LiveHealth| health(&live_health(h)));
        let opener = RpicamOpener {
            args: stream_args(cfg),
        };
        Libcamera {
            live: LiveCamera::start(opener, settings, hook, tap).labelled("libcamera"),
            still: cfg.still,
            still_args: still_args(cfg),
            signal_args: signal_still_args(cfg),
            timeout: Duration::from_secs(cfg.capture_timeout_secs),
            ready: None,
        }
    }

    /// Stops the stream and starts rpicam-still waiting for its signal.
    fn get_ready(&mut self) -> Result<Waiting, String> {
        let tool = child::find_tool(STILL).ok_or("rpicam-still is not installed")?;
        if !self.live.pause(Duration::from_secs(10)) {
            self.live.resume();
            return Err("the stream did not stop within 10 s".into());
        }
        let mut proc = match Proc::spawn(&tool, &self.signal_args) {
            Ok(p) => p,
            Err(e) => {
                self.live.resume();
                return Err(format!("{} cannot be started: {e}", tool.display()));
            }
        };
        let frames = match child::read_frames("rpicam-still-stdout", proc.take_stdout()) {
            Ok(rx) => rx,
            Err(e) => {
                drop(proc);
                self.live.resume();
                return Err(format!("cannot start a reader thread: {e}"));
            }
        };
        tracing::info!(pid = proc.id(), args = %self.signal_args.join(" "), "rpicam-still waiting for the end of the countdown");
        Ok(Waiting {
            frames,
            proc,
            since: Instant::now(),
        })
    }

    /// The shutter of a prepared still: SIGUSR1, its JPEG, the process stopped, the stream
    /// started again.
    fn signal_still(&mut self, waiting: Waiting) -> Result<Frame, CaptureError> {
        let began = Instant::now();
        let ready_ms = waiting.since.elapsed().as_millis() as u64;
        let Waiting {
            frames, mut proc, ..
        } = waiting;
        // SAFETY: kill(2) on our own child, not reaped yet (Proc reaps it only in stop/drop).
        unsafe { libc::kill(proc.id() as libc::pid_t, libc::SIGUSR1) };
        let result = match frames.recv_timeout(self.timeout) {
            Ok(jpeg) => Ok(Frame::Encoded(jpeg)),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(CaptureError::Trouble {
                trouble: CameraTrouble::Stuck,
                message: format!(
                    "rpicam-still sent no still within {} s of its signal and was stopped{}: \
                     the stream restarts, press again",
                    self.timeout.as_secs(),
                    last_line(&proc.stderr_text())
                        .map(|l| format!(" (it said: {l})"))
                        .unwrap_or_default()
                ),
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // It exited before its still (camera taken, or gone): its last words say why.
                let status = proc.wait_for(Duration::from_secs(2));
                Err(still_error(&classify(
                    "rpicam-still",
                    &proc.stderr_text(),
                    status,
                )))
            }
        };
        drop(frames);
        drop(proc);
        self.live.resume();
        tracing::info!(
            ready_ms,
            shutter_to_still_ms = began.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "full-resolution still taken at the end of the countdown, stream restarting"
        );
        result
    }

    /// Stream stopped, a full still, stream started again.
    fn full_still(&mut self) -> Result<Frame, CaptureError> {
        let began = Instant::now();
        if !self.live.pause(Duration::from_secs(10)) {
            self.live.resume();
            return Err(CaptureError::Trouble {
                trouble: CameraTrouble::Stuck,
                message: "the libcamera stream did not stop within 10 s for the still: it is \
                          being restarted, press again"
                    .into(),
            });
        }
        let stream_stopped = began.elapsed();
        let result = take_still(&self.still_args, self.timeout);
        self.live.resume();
        tracing::info!(
            stream_stop_ms = stream_stopped.as_millis() as u64,
            gap_ms = began.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "full-resolution still taken, stream restarting"
        );
        result
    }
}

/// Runs rpicam-still (the stream is stopped) and returns its JPEG.
fn take_still(args: &[String], timeout: Duration) -> Result<Frame, CaptureError> {
    let Some(tool) = child::find_tool(STILL) else {
        return Err(CaptureError::Missing {
            what: "rpicam-still (or libcamera-still)".into(),
            fix: "install rpicam-apps (sudo apt install rpicam-apps), or set camera.still = \
                  \"stream\""
                .into(),
        });
    };
    match child::run(&tool, args, timeout, MAX_STILL) {
        Ok(ran) if ran.status.success() && ran.stdout.starts_with(&[0xFF, 0xD8]) => {
            tracing::debug!(
                took_ms = ran.took.as_millis() as u64,
                bytes = ran.stdout.len(),
                "rpicam-still"
            );
            Ok(Frame::Encoded(ran.stdout))
        }
        Ok(ran) => Err(still_error(&classify(
            "rpicam-still",
            &ran.stderr,
            Some(ran.status),
        ))),
        Err(RunError::TimedOut { after, stderr, .. }) => Err(CaptureError::Trouble {
            trouble: CameraTrouble::Stuck,
            message: format!(
                "rpicam-still took longer than {} s and was stopped{}: the stream restarts; \
                 raise camera.capture_timeout_secs if the camera needs longer to focus",
                after.as_secs(),
                last_line(&stderr)
                    .map(|l| format!(" (it said: {l})"))
                    .unwrap_or_default()
            ),
        }),
        Err(e @ RunError::Spawn { .. }) => Err(CaptureError::Missing {
            what: "rpicam-still".into(),
            fix: e.to_string(),
        }),
    }
}

fn still_error(e: &DeviceError) -> CaptureError {
    match e {
        DeviceError::Other(m) if m.contains(IN_USE) => CaptureError::Trouble {
            trouble: CameraTrouble::InUse,
            message: m.clone(),
        },
        other => CaptureError::Missing {
            what: "the camera".into(),
            fix: other.to_string(),
        },
    }
}

/// The words that mark "another program has the camera" (mapped to the in-use screen).
pub const IN_USE: &str = "used by another program";

/// The display's view of the grabber's health.
fn live_health(h: &LiveHealth) -> Health {
    match h {
        LiveHealth::Ready(format) => Health::Ready(format!("libcamera ({format})")),
        LiveHealth::Missing(why) if why.contains(IN_USE) => {
            Health::Trouble(CameraTrouble::InUse, why.clone())
        }
        LiveHealth::Missing(why) => Health::Missing(why.clone()),
    }
}

impl Camera for Libcamera {
    fn capture(&mut self) -> Result<Frame, CaptureError> {
        match (self.still, self.ready.take()) {
            (StillMode::Stream, _) => self.live.capture(),
            (StillMode::Full, Some(waiting)) => self.signal_still(waiting),
            (StillMode::Full, None) => self.full_still(),
        }
    }

    fn prepare(&mut self) {
        if self.still != StillMode::Full || self.ready.is_some() {
            return;
        }
        match self.get_ready() {
            Ok(waiting) => self.ready = Some(waiting),
            // The press still gets its photo, the usual way (stream stopped at the shutter).
            Err(e) => tracing::warn!(error = %e, "could not start the still during the countdown"),
        }
    }

    fn commit(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }

    fn reject(&mut self) -> Result<(), CaptureError> {
        // A stream frame refused by the scan walk: the retry may take the whole frame just
        // before it.
        self.live.reject()
    }

    fn frame_retries(&self) -> u32 {
        match self.still {
            // A damaged stream frame: the next one is 1/30 s away.
            StillMode::Stream => FRAME_RETRIES,
            // A still arrives whole through a pipe; another would take seconds.
            StillMode::Full => 0,
        }
    }

    fn describe(&self) -> String {
        let mode = match self.still {
            StillMode::Stream => "photos from the stream",
            StillMode::Full => "full-resolution stills",
        };
        format!("{}, {mode}", self.live.describe())
    }
}

/// What rpicam-apps printed, in words with the fix. The tools end with
/// `ERROR: *** <what> ***` on stderr (rpicam_vid.cpp, rpicam_still.cpp) and exit non-zero.
pub fn classify(tool: &str, stderr: &str, status: Option<std::process::ExitStatus>) -> DeviceError {
    let said = stderr
        .lines()
        .rev()
        .find(|l| l.contains("ERROR"))
        .or_else(|| last_line(stderr))
        .unwrap_or("")
        .trim()
        .to_string();
    let lower = said.to_lowercase();
    if lower.contains("no cameras available") {
        DeviceError::Gone(format!(
            "libcamera finds no camera ({tool}: {said}): power off, check the ribbon cable \
             (contacts the right way round, fully seated), and that /boot/firmware/config.txt \
             has camera_auto_detect=1; `rpicam-hello --list-cameras` lists what it sees"
        ))
    } else if lower.contains("failed to acquire camera") {
        DeviceError::Other(format!(
            "the Pi camera is {IN_USE} ({tool}: {said}): stop the other camera program \
             (another rpicam-* or libcamera-* command, motion, a browser tab)"
        ))
    } else if lower.contains("unrecognised option") || lower.contains("unrecognized option") {
        DeviceError::Other(format!(
            "{tool} does not know an option postbooth gives it ({said}): update rpicam-apps \
             (sudo apt update && sudo apt full-upgrade)"
        ))
    } else {
        let how = match status {
            Some(s) => format!("stopped ({s})"),
            None => "stopped".to_string(),
        };
        DeviceError::Other(if said.is_empty() {
            format!("{tool} {how} without saying why: run it by hand to see (rpicam-hello)")
        } else {
            format!("{tool} {how}: {said}")
        })
    }
}

/// `rpicam-vid --list-cameras` (any rpicam app lists; it does not hold the camera): one line
/// per camera ("0 : imx708 [4608x2592 10-bit RGGB] (/base/soc/...)") with its modes, for
/// `auto` and `doctor`. `Err` says why it could not ask.
pub fn detect() -> Result<Vec<String>, String> {
    let Some(tool) = child::find_tool(VID) else {
        return Err("rpicam-apps is not installed (sudo apt install rpicam-apps)".into());
    };
    let ran = child::run(
        &tool,
        &["--list-cameras".to_string()],
        Duration::from_secs(10),
        1 << 20,
    )
    .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&ran.stdout);
    let mut cams: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.chars().next().is_some_and(|c| c.is_ascii_digit()) && t.contains(" : ") {
            cams.push(t.to_string());
        } else if let Some(cam) = cams.last_mut() {
            // Mode lines: keep the sizes.
            for word in t.split_whitespace() {
                let is_size = word
                    .split_once('x')
                    .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
                if is_size {
                    cam.push_str(if cam.contains(" sizes ") {
                        " "
                    } else {
                        " sizes "
                    });
                    cam.push_str(word);
                }
            }
        }
    }
    Ok(cams)
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().rev().find(|l| !l.trim().is_empty())
}

/// Starts rpicam-vid (found on `PATH` at each start: installing it fixes a running booth).
struct RpicamOpener {
    args: Vec<String>,
}

impl Opener for RpicamOpener {
    fn open(&mut self) -> Result<Box<dyn VideoDevice>, DeviceError> {
        let Some(tool) = child::find_tool(VID) else {
            return Err(DeviceError::Gone(
                "rpicam-vid is not installed (nor the older libcamera-vid): install rpicam-apps \
                 (sudo apt install rpicam-apps; Raspberry Pi OS Bookworm has it), or check PATH"
                    .into(),
            ));
        };
        Ok(Box::new(RpicamStream {
            tool,
            args: self.args.clone(),
            format: None,
            running: None,
        }))
    }

    fn name(&self) -> String {
        "rpicam-vid".into()
    }
}

struct Running {
    // Field order: the receiver goes first, so the reader thread stops sending; then the
    // process is stopped and reaped.
    frames: mpsc::Receiver<Vec<u8>>,
    proc: Proc,
    last_frame: Instant,
}

struct RpicamStream {
    tool: PathBuf,
    args: Vec<String>,
    format: Option<Format>,
    running: Option<Running>,
}

impl VideoDevice for RpicamStream {
    fn formats(&mut self) -> Result<Vec<FormatDesc>, DeviceError> {
        // rpicam-vid scales to any size asked; the configured one is what is offered.
        let (w, h) = arg_size(&self.args);
        Ok(vec![FormatDesc {
            fourcc: FourCc::MJPG,
            sizes: Sizes::Discrete(vec![(w, h)]),
        }])
    }

    fn set_format(&mut self, want: Format) -> Result<Format, DeviceError> {
        self.format = Some(want);
        Ok(want)
    }

    fn start(&mut self) -> Result<(), DeviceError> {
        let mut proc = Proc::spawn(&self.tool, &self.args).map_err(|e| {
            DeviceError::Gone(format!("{} cannot be started: {e}", self.tool.display()))
        })?;
        tracing::info!(tool = %self.tool.display(), pid = proc.id(), args = %self.args.join(" "), "camera stream started");
        let stdout = proc.take_stdout();
        let rx = child::read_frames("rpicam-vid-stdout", stdout)
            .map_err(|e| DeviceError::Other(format!("cannot start a reader thread: {e}")))?;
        self.running = Some(Running {
            frames: rx,
            proc,
            last_frame: Instant::now(),
        });
        Ok(())
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Option<RawFrame>, DeviceError> {
        let format = self.format.expect("format set before streaming");
        let Some(running) = self.running.as_mut() else {
            return Err(DeviceError::Other("the stream is not running".into()));
        };
        match running.frames.recv_timeout(timeout) {
            Ok(data) => {
                running.last_frame = Instant::now();
                Ok(Some(RawFrame {
                    format,
                    bytes_per_line: 0,
                    full_range: false,
                    data,
                }))
            }
            Err(mpsc::RecvTimeoutError::Timeout) if running.last_frame.elapsed() < STALL => {
                Ok(None)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let running = self.running.take().expect("running");
                let stderr = running.proc.stderr_text();
                drop(running);
                Err(DeviceError::Other(format!(
                    "rpicam-vid sent no frame for {} s and was restarted{}",
                    STALL.as_secs(),
                    last_line(&stderr)
                        .map(|l| format!(" (it said: {l})"))
                        .unwrap_or_default()
                )))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Its stdout closed: it exited (or is about to). Its last words say why.
                let mut running = self.running.take().expect("running");
                let status = running.proc.wait_for(Duration::from_secs(2));
                drop(running.frames);
                let stderr = running.proc.stderr_text();
                let e = classify("rpicam-vid", &stderr, status);
                tracing::warn!(error = %e, "camera stream ended");
                Err(e)
            }
        }
    }
}

/// The --width and --height given to rpicam-vid.
fn arg_size(args: &[String]) -> (u32, u32) {
    let get = |key: &str| {
        args.iter()
            .position(|a| a == key)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("--width"), get("--height"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CameraKind;

    #[test]
    fn the_stream_asks_for_mjpeg_at_the_configured_size_rate_and_quality() {
        let mut cfg = super::super::test_config(CameraKind::Libcamera, "/x".as_ref());
        cfg.quality = 85;
        cfg.framerate = 25;
        let args = stream_args(&cfg).join(" ");
        assert_eq!(
            args,
            "-t 0 -n --codec mjpeg -q 85 --width 1920 --height 1080 --framerate 25 \
             --autofocus-mode continuous --flush -o -"
        );
        assert_eq!(arg_size(&stream_args(&cfg)), (1920, 1080));
        let still = still_args(&cfg).join(" ");
        assert!(still.contains("--autofocus-on-capture"), "{still}");
        assert!(
            !still.contains("--immediate"),
            "immediate skips the autofocus scan"
        );
        assert!(still.ends_with("-o -"), "{still}");
        assert_eq!(
            still, "-n -t 1000 --autofocus-on-capture -q 85 -e jpg -o -",
            "a short viewfinder, then the autofocus scan and the still"
        );
        assert_eq!(
            signal_still_args(&cfg).join(" "),
            "-n -t 0 -s --autofocus-on-capture -q 85 -e jpg -o -",
            "the viewfinder runs until SIGUSR1"
        );
    }

    #[test]
    fn rpicam_errors_are_said_in_words() {
        let gone = classify(
            "rpicam-vid",
            "[0:00:01] INFO Camera camera_manager.cpp:327 libcamera v0.3.0\nERROR: *** no cameras available ***",
            None,
        );
        assert!(matches!(gone, DeviceError::Gone(_)));
        assert!(gone.to_string().contains("ribbon cable"), "{gone}");
        let busy = classify(
            "rpicam-vid",
            "ERROR: *** failed to acquire camera /base/soc/i2c0mux/i2c@1/imx708@1a ***",
            None,
        );
        assert!(busy.to_string().contains(IN_USE), "{busy}");
        assert_eq!(
            live_health(&LiveHealth::Missing(busy.to_string())),
            Health::Trouble(CameraTrouble::InUse, busy.to_string())
        );
        let old = classify(
            "rpicam-vid",
            "ERROR: *** unrecognised option '--flush' ***",
            None,
        );
        assert!(old.to_string().contains("update rpicam-apps"), "{old}");
        let quiet = classify("rpicam-vid", "", None);
        assert!(quiet.to_string().contains("without saying why"), "{quiet}");
    }
}
