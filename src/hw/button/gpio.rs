//! GPIO backends: `gpiocdev` (the GPIO character device, any Linux board) and `rppal`
//! (Raspberry Pi). Both deliver kernel-stamped edge events; both ask the kernel to debounce
//! where it can, and the software debouncer runs on top either way.

use super::{ButtonError, Edge, EdgeSource, Led};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bias {
    PullUp,
    PullDown,
    None,
}

/// How the button is wired.
#[derive(Clone, Debug)]
pub struct LineSettings {
    pub chip: PathBuf,
    pub line: u32,
    pub bias: Bias,
    /// Pressed pulls the line low (a button to ground with a pull-up: the usual wiring).
    pub active_low: bool,
    pub debounce: Duration,
}

/// Fails with a clear message when the chip device is missing or not accessible, before a
/// backend turns that into something vaguer.
pub fn check_chip(chip: &Path) -> Result<(), ButtonError> {
    let what = format!("GPIO chip {}", chip.display());
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(chip)
        .map(drop)
        .map_err(|e| ButtonError::from_io(&what, &e))
}

// ---------------------------------------------------------------------------------------------
// gpiocdev

pub struct CdevLine {
    request: gpiocdev::Request,
    name: String,
}

impl CdevLine {
    pub fn open(s: &LineSettings) -> Result<Self, ButtonError> {
        check_chip(&s.chip)?;
        let name = format!("{} line {}", s.chip.display(), s.line);
        let request = |kernel_debounce: bool| {
            let mut builder = gpiocdev::Request::builder();
            builder
                .on_chip(&s.chip)
                .with_consumer("postbooth-button")
                .with_line(s.line)
                .as_input()
                .with_edge_detection(gpiocdev::line::EdgeDetection::BothEdges)
                .with_bias(match s.bias {
                    Bias::PullUp => gpiocdev::line::Bias::PullUp,
                    Bias::PullDown => gpiocdev::line::Bias::PullDown,
                    Bias::None => gpiocdev::line::Bias::Disabled,
                });
            if s.active_low {
                builder.as_active_low();
            }
            if kernel_debounce {
                // In hardware where the chip has it, else emulated by the kernel.
                builder.with_debounce_period(s.debounce);
            }
            builder.request()
        };
        let request = match request(!s.debounce.is_zero()) {
            Ok(r) => r,
            // Old kernels (GPIO uAPI v1) have no debounce: the software debouncer is enough.
            Err(e) if !s.debounce.is_zero() => {
                tracing::info!(line = %name, error = %e, "no kernel debounce; debouncing in software only");
                request(false).map_err(|e| ButtonError::Other(format!("cannot use {name}: {e}")))?
            }
            Err(e) => return Err(ButtonError::Other(format!("cannot use {name}: {e}"))),
        };
        Ok(Self { request, name })
    }
}

impl EdgeSource for CdevLine {
    fn wait(&mut self, timeout: Duration) -> Result<Option<Edge>, ButtonError> {
        let err = |e: gpiocdev::Error| ButtonError::Other(format!("{}: {e}", self.name));
        if !self.request.wait_edge_event(timeout).map_err(err)? {
            return Ok(None);
        }
        let event = self.request.read_edge_event().map_err(err)?;
        Ok(Some(Edge {
            at_ms: event.timestamp_ns / 1_000_000,
            // Active-low is applied by the kernel: "rising" means "became active".
            pressed: event.kind == gpiocdev::line::EdgeKind::Rising,
        }))
    }
    fn now_ms(&self) -> u64 {
        super::monotonic_ms()
    }
    fn pressed(&mut self) -> Result<bool, ButtonError> {
        self.request
            .lone_value()
            .map(|v| v == gpiocdev::line::Value::Active)
            .map_err(|e| ButtonError::Other(format!("{}: {e}", self.name)))
    }
    fn describe(&self) -> String {
        format!("gpiocdev {}", self.name)
    }
}

/// An LED on a chip line, through the character device.
pub struct CdevLed {
    request: gpiocdev::Request,
    name: String,
}

impl CdevLed {
    pub fn open(chip: &Path, line: u32) -> Result<Self, ButtonError> {
        check_chip(chip)?;
        let name = format!("LED {} line {line}", chip.display());
        let request = gpiocdev::Request::builder()
            .on_chip(chip)
            .with_consumer("postbooth-led")
            .with_line(line)
            .as_output(gpiocdev::line::Value::Inactive)
            .request()
            .map_err(|e| ButtonError::Other(format!("cannot use {name}: {e}")))?;
        Ok(Self { request, name })
    }
}

impl Led for CdevLed {
    fn set(&mut self, on: bool) -> Result<(), ButtonError> {
        let v = if on {
            gpiocdev::line::Value::Active
        } else {
            gpiocdev::line::Value::Inactive
        };
        self.request
            .set_lone_value(v)
            .map_err(|e| ButtonError::Other(format!("{}: {e}", self.name)))
    }
}

// ---------------------------------------------------------------------------------------------
// rppal

fn rppal_err(what: &str, e: rppal::gpio::Error) -> ButtonError {
    match e {
        rppal::gpio::Error::Io(io) => ButtonError::from_io(what, &io),
        rppal::gpio::Error::PermissionDenied(path) => ButtonError::Permission(format!(
            "{what}: permission denied on {path}: add the user running postbooth to the gpio \
             group (sudo usermod -aG gpio $USER) and log in again"
        )),
        rppal::gpio::Error::UnknownModel => ButtonError::Missing(format!(
            "{what}: this is not a Raspberry Pi rppal knows: set trigger.gpio_driver = \"gpiocdev\""
        )),
        other => ButtonError::Other(format!("{what}: {other}")),
    }
}

pub struct RppalLine {
    pin: rppal::gpio::InputPin,
    active_low: bool,
    name: String,
}

impl RppalLine {
    pub fn open(s: &LineSettings) -> Result<Self, ButtonError> {
        let name = format!("Raspberry Pi GPIO {}", s.line);
        let gpio = rppal::gpio::Gpio::new().map_err(|e| rppal_err(&name, e))?;
        let line =
            u8::try_from(s.line).map_err(|_| ButtonError::Other(format!("{name}: no such pin")))?;
        let pin = gpio.get(line).map_err(|e| rppal_err(&name, e))?;
        let mut pin = match s.bias {
            Bias::PullUp => pin.into_input_pullup(),
            Bias::PullDown => pin.into_input_pulldown(),
            Bias::None => pin.into_input(),
        };
        let debounce = (!s.debounce.is_zero()).then_some(s.debounce);
        pin.set_interrupt(rppal::gpio::Trigger::Both, debounce)
            .map_err(|e| rppal_err(&name, e))?;
        Ok(Self {
            pin,
            active_low: s.active_low,
            name,
        })
    }
}

impl EdgeSource for RppalLine {
    fn wait(&mut self, timeout: Duration) -> Result<Option<Edge>, ButtonError> {
        let event = self
            .pin
            .poll_interrupt(false, Some(timeout))
            .map_err(|e| rppal_err(&self.name, e))?;
        Ok(event.map(|e| Edge {
            at_ms: e.timestamp.as_millis() as u64,
            pressed: (e.trigger == rppal::gpio::Trigger::RisingEdge) != self.active_low,
        }))
    }
    fn now_ms(&self) -> u64 {
        super::monotonic_ms()
    }
    fn pressed(&mut self) -> Result<bool, ButtonError> {
        Ok(self.pin.is_high() != self.active_low)
    }
    fn describe(&self) -> String {
        format!("rppal {}", self.name)
    }
}

pub struct RppalLed {
    pin: rppal::gpio::OutputPin,
}

impl RppalLed {
    pub fn open(line: u32) -> Result<Self, ButtonError> {
        let name = format!("LED on Raspberry Pi GPIO {line}");
        let gpio = rppal::gpio::Gpio::new().map_err(|e| rppal_err(&name, e))?;
        let line =
            u8::try_from(line).map_err(|_| ButtonError::Other(format!("{name}: no such pin")))?;
        let pin = gpio.get(line).map_err(|e| rppal_err(&name, e))?;
        Ok(Self {
            pin: pin.into_output_low(),
        })
    }
}

impl Led for RppalLed {
    fn set(&mut self, on: bool) -> Result<(), ButtonError> {
        self.pin.write(rppal::gpio::Level::from(on));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_chip_is_named_with_the_fix() {
        let e = CdevLine::open(&LineSettings {
            chip: "/dev/gpiochip-not-here".into(),
            line: 17,
            bias: Bias::PullUp,
            active_low: true,
            debounce: Duration::from_millis(30),
        })
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("GPIO chip /dev/gpiochip-not-here is missing") && e.contains("gpio_chip"),
            "{e}"
        );
    }

    /// Not a GPIO chip at all (a wrong path in the config): refused with the path named.
    #[test]
    fn a_file_that_is_not_a_chip_is_refused() {
        let e = CdevLine::open(&LineSettings {
            chip: "/dev/null".into(),
            line: 17,
            bias: Bias::PullUp,
            active_low: true,
            debounce: Duration::from_millis(30),
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("/dev/null"), "{e}");
    }
}
