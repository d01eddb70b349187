//! The V4L2 backend (cargo feature `v4l`): the `v4l` crate's mmap stream behind
//! [`VideoDevice`]. Everything it decides (format, warm-up, recovery) lives in
//! [`negotiate`](super::negotiate) and [`live`](super::live), tested with a fake.

use super::live::{DeviceError, Opener, RawFrame, VideoDevice};
use super::negotiate::{FormatDesc, FourCc, Sizes};
use std::path::PathBuf;
use std::time::Duration;
use v4l::buffer::Type;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::Capture;

/// Buffers in the mmap ring: enough that the driver never waits for us.
const BUFFERS: u32 = 4;

pub struct V4lOpener {
    pub path: PathBuf,
}

impl Opener for V4lOpener {
    fn open(&mut self) -> Result<Box<dyn VideoDevice>, DeviceError> {
        let name = self.name();
        let device =
            v4l::Device::with_path(&self.path).map_err(|e| DeviceError::from_io(&name, &e))?;
        Ok(Box::new(V4lDevice {
            name,
            device,
            stream: None,
            format: None,
            bytes_per_line: 0,
            full_range: false,
            failed_errno: None,
        }))
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

struct V4lDevice {
    name: String,
    // Field order matters: the stream (its mmap buffers) goes before the device.
    stream: Option<Stream<'static>>,
    device: v4l::Device,
    format: Option<super::negotiate::Format>,
    bytes_per_line: u32,
    /// The driver's YUV quantization is full range (see `set_format`).
    full_range: bool,
    /// The OS error that ended the stream, if one did.
    failed_errno: Option<i32>,
}

impl V4lDevice {
    fn err(&self, e: std::io::Error) -> DeviceError {
        DeviceError::from_io(&self.name, &e)
    }
}

impl VideoDevice for V4lDevice {
    fn formats(&mut self) -> Result<Vec<FormatDesc>, DeviceError> {
        let mut out = Vec::new();
        for desc in self.device.enum_formats().map_err(|e| self.err(e))? {
            let fourcc = FourCc(desc.fourcc.repr);
            let mut discrete = Vec::new();
            let mut stepwise = None;
            for size in self
                .device
                .enum_framesizes(desc.fourcc)
                .map_err(|e| self.err(e))?
            {
                match size.size {
                    FrameSizeEnum::Discrete(d) => discrete.push((d.width, d.height)),
                    FrameSizeEnum::Stepwise(s) => {
                        stepwise = Some(Sizes::Stepwise {
                            min: (s.min_width, s.min_height),
                            max: (s.max_width, s.max_height),
                            step: (s.step_width, s.step_height),
                        })
                    }
                }
            }
            let sizes = stepwise.unwrap_or(Sizes::Discrete(discrete));
            out.push(FormatDesc { fourcc, sizes });
        }
        Ok(out)
    }

    fn set_format(
        &mut self,
        want: super::negotiate::Format,
    ) -> Result<super::negotiate::Format, DeviceError> {
        let fmt = v4l::Format::new(want.width, want.height, v4l::FourCC::new(&want.fourcc.0));
        let got = self.device.set_format(&fmt).map_err(|e| self.err(e))?;
        let got_fmt = super::negotiate::Format {
            fourcc: FourCc(got.fourcc.repr),
            width: got.width,
            height: got.height,
        };
        self.bytes_per_line = got.stride;
        // V4L2: "default" quantization is full range for the JPEG colorspace, limited (video)
        // range for the others a camera reports (sRGB, SMPTE 170M, Rec. 709).
        self.full_range = match got.quantization {
            v4l::format::Quantization::FullRange => true,
            v4l::format::Quantization::LimitedRange => false,
            v4l::format::Quantization::Default => {
                matches!(got.colorspace, v4l::format::Colorspace::JPEG)
            }
        };
        self.format = Some(got_fmt);
        Ok(got_fmt)
    }

    fn start(&mut self) -> Result<(), DeviceError> {
        let stream = Stream::with_buffers(&self.device, Type::VideoCapture, BUFFERS)
            .map_err(|e| self.err(e))?;
        self.stream = Some(stream);
        Ok(())
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Option<RawFrame>, DeviceError> {
        let format = self
            .format
            .ok_or_else(|| DeviceError::Other("format not set".into()))?;
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| DeviceError::Other("stream not started".into()))?;
        // A timed-out dequeue leaves the v4l stream unable to go on: a camera silent for the
        // whole timeout is treated as failed and reopened.
        stream.set_timeout(timeout);
        match stream.next() {
            Ok((buf, meta)) => {
                let used = (meta.bytesused as usize).min(buf.len());
                let used = if used == 0 { buf.len() } else { used };
                Ok(Some(RawFrame {
                    format,
                    bytes_per_line: self.bytes_per_line,
                    full_range: self.full_range,
                    data: buf[..used].to_vec(),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(DeviceError::Other(format!(
                "{} sent no frame for {} s",
                self.name,
                timeout.as_secs()
            ))),
            Err(e) => {
                self.failed_errno = Some(e.raw_os_error().unwrap_or(libc::EIO));
                Err(self.err(e))
            }
        }
    }
}

impl Drop for V4lDevice {
    fn drop(&mut self) {
        // The v4l stream panics in its Drop when STREAMOFF or freeing the buffers fails with
        // anything but ENODEV (an unplugged camera can answer EIO), and a panic aborts the
        // daemon. After such an error, leak the buffers rather than crash the booth.
        if let Some(mut stream) = self.stream.take() {
            if self.failed_errno.is_some_and(|e| e != libc::ENODEV) {
                tracing::warn!(device = %self.name, "camera failed; its stream buffers are leaked, not freed");
                std::mem::forget(stream);
            } else if let Err(e) = stream.stop() {
                if e.raw_os_error() != Some(libc::ENODEV) {
                    tracing::warn!(device = %self.name, error = %e, "camera stream did not stop cleanly; its buffers are leaked");
                    std::mem::forget(stream);
                }
            }
        }
    }
}

/// The V4L2 devices on this machine and the formats each offers, for `postbooth doctor`.
pub fn list() -> Vec<(String, Result<Vec<FormatDesc>, DeviceError>)> {
    let mut out = Vec::new();
    for node in v4l::context::enum_devices() {
        let path = node.path().display().to_string();
        let formats = V4lOpener {
            path: node.path().to_path_buf(),
        }
        .open()
        .and_then(|mut d| d.formats());
        out.push((path, formats));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
