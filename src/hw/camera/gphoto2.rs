//! DSLR and mirrorless cameras over USB through the `gphoto2` command-line tool.
//!
//! Why the tool and not libgphoto2 bindings: failure isolation. libgphoto2 calls block in USB
//! I/O with no timeout of ours; a confused camera can hang them for minutes. In a child
//! process a hang is killed after `camera.capture_timeout_secs` and the port reset, while the
//! daemon, its button and the systemd watchdog go on. It also needs no libclang or
//! libgphoto2-dev at build time. The cost, a process start per photo (tens of ms), is small
//! next to the camera's own focus and shutter time.
//!
//! - A photo: `gphoto2 --capture-image-and-download --stdout` (`--stdout` makes gphoto2 quiet
//!   and writes the file to stdout: main.c ARG_STDOUT), so the JPEG goes straight into memory;
//!   `--no-keep` deletes it from the card unless `camera.keep_on_card` (`--keep`).
//! - Live view for the preview stream (not when `camera.preview` names another camera, nor in
//!   `doctor`): `gphoto2 --capture-movie --stdout` writes the camera's preview JPEGs one after
//!   another (MJPEG), run under the same grabber as the webcam, only while someone watches
//!   the preview (and [`LIVE_VIEW_LINGER`] after the last viewer goes: live view keeps the
//!   mirror up and the sensor busy); it is stopped (and reaped) before each photo and started
//!   again after if still watched, so one process at a time talks to the camera.
//! - The errors DSLR owners meet are said in plain words ([`classify`]) and retried where that
//!   helps: busy and focus a few times, "no camera found" with backoff until it wakes up.

use super::child::{self, Proc, RunError};
use super::v4l2::live::{
    DeviceError, Health as LiveHealth, Opener, RawFrame, Settings, VideoDevice,
};
use super::v4l2::negotiate::{Format, FormatDesc, FourCc, Sizes};
use super::v4l2::{Demand, LiveCamera, LIVE_VIEW_LINGER};
use super::{Camera, CameraTrouble, CaptureError, Context, Frame, Health, HealthHook};
use crate::config::CameraConfig;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const TOOL: &[&str] = &["gphoto2"];
/// A 24 MP JPEG is 8-15 MB; RAW files are refused anyway.
const MAX_PHOTO: usize = 128 * 1024 * 1024;
/// Busy and focus failures: tries in all before the guest is asked to press again.
const TRIES: u32 = 3;

/// `camera.kind = "gphoto2"`. Never fails: a missing tool or camera is said when a photo is
/// asked for (and `doctor` says it too).
pub fn open(cfg: &CameraConfig, ctx: Context) -> Result<Box<dyn Camera>, CaptureError> {
    // Live view only where there is a preview to feed (not for doctor, nor when another camera
    // shows the preview: camera.preview).
    let live = (!ctx.preview.is_closed()).then(|| {
        let health = ctx.health.clone();
        let hook = Box::new(move |h: &LiveHealth| health(&live_health(h)));
        LiveCamera::start_with(
            MovieOpener,
            Settings {
                // Nominal: the camera decides its preview size, the pipeline reads each JPEG's.
                width: 640,
                height: 480,
                warmup_frames: 0,
                frame_timeout: Duration::from_secs(5),
                frame_interval: Duration::from_millis(100),
                retry_base: Duration::from_secs(1),
                retry_cap: Duration::from_secs(30),
            },
            hook,
            ctx.preview.clone(),
            // Only while someone watches: live view keeps the mirror up and the sensor busy,
            // which slows the next capture and drains the camera's battery.
            Demand::WhileWatched {
                linger: LIVE_VIEW_LINGER,
            },
        )
        .labelled("gphoto2 live view")
    });
    Ok(Box::new(Gphoto2 {
        keep: cfg.keep_on_card,
        timeout: Duration::from_secs(cfg.capture_timeout_secs),
        live,
        health: ctx.health,
        last: None,
    }))
}

/// The arguments of one photo.
pub fn capture_args(keep_on_card: bool) -> Vec<String> {
    let keep = if keep_on_card { "--keep" } else { "--no-keep" };
    ["--capture-image-and-download", keep, "--stdout"]
        .map(String::from)
        .to_vec()
}

/// The arguments of live view: preview frames until stopped.
pub fn movie_args() -> Vec<String> {
    ["--capture-movie", "--stdout"].map(String::from).to_vec()
}

pub struct Gphoto2 {
    keep: bool,
    timeout: Duration,
    live: Option<LiveCamera>,
    health: HealthHook,
    /// How the last photo went, for `describe`.
    last: Option<String>,
}

impl Gphoto2 {
    fn one_photo(&self, tool: &std::path::Path) -> Result<Vec<u8>, Failure> {
        match child::run(tool, &capture_args(self.keep), self.timeout, MAX_PHOTO) {
            Ok(ran) if ran.status.success() && ran.stdout.starts_with(&[0xFF, 0xD8]) => {
                tracing::info!(
                    took_ms = ran.took.as_millis() as u64,
                    bytes = ran.stdout.len(),
                    "DSLR photo downloaded"
                );
                Ok(ran.stdout)
            }
            Ok(ran) if ran.status.success() => Err(Failure {
                trouble: Some(CameraTrouble::TryAgain),
                retry: false,
                message: if ran.stdout.is_empty() {
                    "gphoto2 finished without a photo: check the camera's screen".into()
                } else {
                    "the camera sent a file that is not a JPEG (RAW?): set its image quality to \
                     JPEG only (not RAW or RAW+JPEG)"
                        .into()
                },
            }),
            Ok(ran) => Err(classify(&ran.stderr)),
            Err(RunError::TimedOut { after, stderr, .. }) => {
                // A hung capture: the process is killed; reset the USB port so the next press
                // finds the camera answering.
                let reset = child::run(
                    tool,
                    &["--reset".to_string()],
                    Duration::from_secs(10),
                    4096,
                );
                tracing::warn!(after_s = after.as_secs(), reset_ok = reset.as_ref().is_ok_and(|r| r.status.success()), stderr = %stderr.lines().last().unwrap_or(""), "DSLR capture hung: gphoto2 killed, port reset");
                Err(Failure {
                    trouble: Some(CameraTrouble::Stuck),
                    retry: false,
                    message: format!(
                        "the camera did not deliver the photo within {} s: gphoto2 was stopped \
                         and the USB port reset; press again (if it keeps happening, switch the \
                         camera off and on, or raise camera.capture_timeout_secs)",
                        after.as_secs()
                    ),
                })
            }
            Err(e @ RunError::Spawn { .. }) => Err(Failure {
                trouble: None,
                retry: false,
                message: e.to_string(),
            }),
        }
    }
}

impl Camera for Gphoto2 {
    fn capture(&mut self) -> Result<Frame, CaptureError> {
        let Some(tool) = child::find_tool(TOOL) else {
            return Err(CaptureError::Missing {
                what: "gphoto2".into(),
                fix: "install it (sudo apt install gphoto2), or check PATH".into(),
            });
        };
        // One process per camera: live view lets go first.
        if let Some(live) = &self.live {
            if !live.pause(Duration::from_secs(10)) {
                tracing::warn!("live view did not stop within 10 s");
            }
        }
        let began = Instant::now();
        let mut tries = 0;
        let result = loop {
            tries += 1;
            match self.one_photo(&tool) {
                Ok(jpeg) => break Ok(jpeg),
                Err(f) if f.retry && tries < TRIES => {
                    tracing::warn!(try_no = tries, error = %f.message, "DSLR photo failed, trying again");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(f) => break Err(f),
            }
        };
        if let Some(live) = &self.live {
            live.resume();
        }
        match result {
            Ok(jpeg) => {
                self.last = Some(format!("last photo in {} ms", began.elapsed().as_millis()));
                (self.health)(&Health::Ready("gphoto2".into()));
                Ok(Frame::Encoded(jpeg))
            }
            Err(f) => {
                self.last = Some(f.message.clone());
                Err(match f.trouble {
                    Some(trouble) => {
                        (self.health)(&Health::Trouble(trouble, f.message.clone()));
                        CaptureError::Trouble {
                            trouble,
                            message: f.message,
                        }
                    }
                    None => CaptureError::Missing {
                        what: "the camera".into(),
                        fix: f.message,
                    },
                })
            }
        }
    }

    fn commit(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }

    fn describe(&self) -> String {
        let live = match &self.live {
            Some(l) => format!(", {}", l.describe()),
            None => String::new(),
        };
        let card = if self.keep {
            "kept on the card"
        } else {
            "not kept on the card"
        };
        match &self.last {
            Some(last) => format!("gphoto2 DSLR (photos {card}{live}; {last})"),
            None => format!("gphoto2 DSLR (photos {card}{live})"),
        }
    }
}

/// One failed gphoto2 run, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What the display shows; `None` for "camera missing".
    pub trouble: Option<CameraTrouble>,
    /// Worth trying again at once (busy, focus).
    pub retry: bool,
    pub message: String,
}

/// The gvfs fix, said wherever "Could not claim the USB device" is.
pub const GVFS_FIX: &str = "the desktop's gvfs-gphoto2-volume-monitor usually takes the camera: \
    systemctl --user stop gvfs-gphoto2-volume-monitor.service && systemctl --user mask \
    gvfs-gphoto2-volume-monitor.service (or sudo chmod -x \
    /usr/lib/gvfs/gvfs-gphoto2-volume-monitor), then unplug and plug the camera";

/// What gphoto2 printed on stderr, in plain words with the recovery. Texts as gphoto2 and
/// libgphoto2 print them: main.c report_failure ("*** Error: No camera found. ***",
/// "*** Error (-53: 'Could not claim the USB device') ***"), ptp2/ptp.c ("PTP Device Busy",
/// Nikon "Out of Focus"), ptp2/library.c (Canon "... Perhaps no focus?").
pub fn classify(stderr: &str) -> Failure {
    let s = stderr.to_lowercase();
    let said = stderr
        .lines()
        .rev()
        .find(|l| l.contains("Error") && l.contains('('))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
        .trim();
    if s.contains("could not claim the usb device") {
        Failure {
            trouble: Some(CameraTrouble::InUse),
            retry: false,
            message: format!("another program has the camera (gphoto2: {said}): {GVFS_FIX}"),
        }
    } else if s.contains("no camera found") || s.contains("could not find the requested device") {
        Failure {
            trouble: Some(CameraTrouble::Asleep),
            retry: false,
            message: "no camera found (gphoto2: No camera found): the camera is off, asleep or \
                      unplugged: switch it on, turn off its auto power-off, check the USB cable; \
                      postbooth keeps looking"
                .into(),
        }
    } else if s.contains("out of focus") || s.contains("perhaps no focus") {
        Failure {
            trouble: Some(CameraTrouble::TryAgain),
            retry: true,
            message: format!(
                "the camera could not focus (gphoto2: {said}): more light or contrast helps, or \
                 switch the lens to manual focus; press again"
            ),
        }
    } else if s.contains("device busy") || s.contains("i/o in progress") {
        Failure {
            trouble: Some(CameraTrouble::TryAgain),
            retry: true,
            message: format!("the camera was busy (gphoto2: {said}): press again"),
        }
    } else if s.contains("usage:") {
        Failure {
            trouble: None,
            retry: false,
            message: format!(
                "gphoto2 refused its options ({said}): update it (sudo apt install gphoto2)"
            ),
        }
    } else {
        Failure {
            trouble: Some(CameraTrouble::TryAgain),
            retry: false,
            message: if said.is_empty() {
                "gphoto2 failed without saying why: run `gphoto2 --auto-detect --summary`".into()
            } else {
                format!("gphoto2 failed: {said}")
            },
        }
    }
}

/// The display's view of live view: a camera asleep or claimed says so.
fn live_health(h: &LiveHealth) -> Health {
    match h {
        LiveHealth::Ready(_) => Health::Ready("gphoto2 live view".into()),
        LiveHealth::Missing(why) => match classify(why).trouble {
            Some(t @ (CameraTrouble::InUse | CameraTrouble::Asleep)) => {
                Health::Trouble(t, why.clone())
            }
            _ => Health::Missing(why.clone()),
        },
    }
}

/// `gphoto2 --auto-detect`: one line per camera ("Canon EOS 600D  usb:001,004"), for `auto`
/// and `doctor`. `Err` says why it could not ask.
pub fn detect() -> Result<Vec<String>, String> {
    let Some(tool) = child::find_tool(TOOL) else {
        return Err("gphoto2 is not installed (sudo apt install gphoto2)".into());
    };
    let ran = child::run(
        &tool,
        &["--auto-detect".to_string()],
        Duration::from_secs(10),
        1 << 20,
    )
    .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&ran.stdout);
    Ok(text
        .lines()
        .skip_while(|l| !l.starts_with("----"))
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect())
}

/// Starts live view (gphoto2 is looked up at each start).
struct MovieOpener;

impl Opener for MovieOpener {
    fn open(&mut self) -> Result<Box<dyn VideoDevice>, DeviceError> {
        let Some(tool) = child::find_tool(TOOL) else {
            return Err(DeviceError::Gone(
                "gphoto2 is not installed: sudo apt install gphoto2".into(),
            ));
        };
        Ok(Box::new(Movie {
            tool,
            format: None,
            running: None,
        }))
    }

    fn name(&self) -> String {
        "gphoto2".into()
    }
}

struct Running {
    frames: mpsc::Receiver<Vec<u8>>,
    proc: Proc,
}

struct Movie {
    tool: PathBuf,
    format: Option<Format>,
    running: Option<Running>,
}

impl VideoDevice for Movie {
    fn formats(&mut self) -> Result<Vec<FormatDesc>, DeviceError> {
        // The camera decides the preview size; the pipeline reads it from each JPEG.
        Ok(vec![FormatDesc {
            fourcc: FourCc::MJPG,
            sizes: Sizes::Discrete(vec![(640, 480)]),
        }])
    }

    fn set_format(&mut self, want: Format) -> Result<Format, DeviceError> {
        self.format = Some(want);
        Ok(want)
    }

    fn start(&mut self) -> Result<(), DeviceError> {
        let mut proc = Proc::spawn(&self.tool, &movie_args())
            .map_err(|e| DeviceError::Gone(format!("gphoto2 cannot be started: {e}")))?;
        let stdout = proc.take_stdout();
        let rx = child::read_frames("gphoto2-stdout", stdout)
            .map_err(|e| DeviceError::Other(format!("cannot start a reader thread: {e}")))?;
        self.running = Some(Running { frames: rx, proc });
        Ok(())
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Option<RawFrame>, DeviceError> {
        let format = self.format.expect("format set before streaming");
        let Some(running) = self.running.as_mut() else {
            return Err(DeviceError::Other("live view is not running".into()));
        };
        match running.frames.recv_timeout(timeout) {
            Ok(data) => Ok(Some(RawFrame {
                format,
                bytes_per_line: 0,
                full_range: false,
                data,
            })),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let mut running = self.running.take().expect("running");
                running.proc.wait_for(Duration::from_secs(2));
                let failure = classify(&running.proc.stderr_text());
                Err(match failure.trouble {
                    Some(CameraTrouble::Asleep) => DeviceError::Gone(failure.message),
                    _ => DeviceError::Other(format!("live view stopped: {}", failure.message)),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_go_to_stdout_and_leave_the_card_unless_asked() {
        assert_eq!(
            capture_args(false).join(" "),
            "--capture-image-and-download --no-keep --stdout"
        );
        assert_eq!(
            capture_args(true).join(" "),
            "--capture-image-and-download --keep --stdout"
        );
    }

    /// Each error DSLR owners meet, as gphoto2 prints it, in plain words with what to do.
    #[test]
    fn dslr_errors_are_said_in_plain_words() {
        let claim = classify(
            "\n*** Error ***              \nAn error occurred in the io-library ('Could not claim the USB device'): Could not claim interface 0 (Device or resource busy). Make sure no other program (gvfs-gphoto2-volume-monitor) or kernel module (such as sdc2xx, stv680, spca50x) is using the device and you have read/write access to the device.\n*** Error (-53: 'Could not claim the USB device') ***       \n",
        );
        assert_eq!(claim.trouble, Some(CameraTrouble::InUse));
        assert!(
            claim.message.contains("gvfs-gphoto2-volume-monitor"),
            "{claim:?}"
        );
        assert!(claim.message.contains("mask"), "{claim:?}");
        let asleep = classify("*** Error: No camera found. ***\n\n");
        assert_eq!(asleep.trouble, Some(CameraTrouble::Asleep));
        assert!(asleep.message.contains("switch it on"));
        let busy = classify("\n*** Error ***              \nPTP Device Busy\nERROR: Could not capture.\n*** Error (-110: 'I/O in progress') ***       \n");
        assert_eq!(
            (busy.trouble, busy.retry),
            (Some(CameraTrouble::TryAgain), true)
        );
        let canon = classify("\n*** Error ***              \nCanon EOS Capture failed to release: Perhaps no focus?\nERROR: Could not capture.\n*** Error (-1: 'Unspecified error') ***       \n");
        assert_eq!(
            (canon.trouble, canon.retry),
            (Some(CameraTrouble::TryAgain), true)
        );
        assert!(canon.message.contains("could not focus"), "{canon:?}");
        let nikon =
            classify("*** Error ***\nOut of Focus\n*** Error (-1: 'Unspecified error') ***");
        assert!(nikon.message.contains("could not focus"));
    }
}
