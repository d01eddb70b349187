//! Status displays. Every display is a [`Panel`] that shows a whole [`Canvas`]; the
//! [`run`] loop draws the current status with [`screens`](crate::ui::screens) and sends it
//! when it changes. A panel that fails (unplugged, an I2C NACK, a loose wire) never stops the
//! booth: the error is logged once, the panel is reopened every `retry` until it answers, and
//! the log says when it is back.

pub mod oled;
pub mod png;

use crate::config::{DisplayConfig, DisplayKind};
use crate::ui::canvas::Canvas;
use crate::ui::{screens, Status};
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DisplayError {
    /// The bus device is missing or not allowed: with the fix.
    #[error("{0}")]
    Bus(String),
    /// The bus is there but the display does not answer.
    #[error("{0}")]
    NoAnswer(String),
    #[error("{0}")]
    Io(String),
}

/// Something that shows 128×64 one-bit frames.
pub trait Panel: Send {
    fn show(&mut self, frame: &Canvas) -> Result<(), DisplayError>;
}

/// Opens (and initialises) the panel; called again after a failure.
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn Panel>, DisplayError> + Send>;

/// What the loop has seen, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub frames: u64,
    pub failures: u64,
    /// Failures written to the log: one per outage, however long it lasts.
    pub logged: u64,
}

/// Shows each new status on the panel until the status sender goes away. Blocking panel calls
/// run on the blocking pool.
pub async fn run(mut open: Opener, mut rx: watch::Receiver<Status>, retry: Duration) -> Counts {
    let mut panel: Option<Box<dyn Panel>> = None;
    let mut shown: Option<Canvas> = None;
    let mut failing = false;
    let mut counts = Counts::default();
    loop {
        let mut frame = Canvas::default();
        let status = rx.borrow_and_update().clone();
        let _ = screens::draw(&status, &mut frame);
        if shown.as_ref() != Some(&frame) {
            let result;
            (open, panel, result) = tokio::task::spawn_blocking(move || {
                let result = show(&mut open, &mut panel, &frame).map(|()| frame);
                (open, panel, result)
            })
            .await
            .expect("the display does not panic");
            match result {
                Ok(frame) => {
                    counts.frames += 1;
                    if failing {
                        tracing::info!("display is back");
                        failing = false;
                    }
                    shown = Some(frame);
                }
                Err(e) => {
                    counts.failures += 1;
                    if !failing {
                        counts.logged += 1;
                        tracing::warn!(error = %e, retry_secs = retry.as_secs_f32(), "display not working; the booth goes on without it and retries");
                        failing = true;
                    }
                    panel = None;
                    shown = None;
                }
            }
        }
        if failing {
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return counts },
                _ = tokio::time::sleep(retry) => {}
            }
        } else if rx.changed().await.is_err() {
            return counts;
        }
    }
}

fn show(
    open: &mut Opener,
    panel: &mut Option<Box<dyn Panel>>,
    frame: &Canvas,
) -> Result<(), DisplayError> {
    if panel.is_none() {
        *panel = Some(open()?);
    }
    panel.as_mut().expect("opened above").show(frame)
}

/// The opener for an OLED on a Linux I2C bus. Each call opens the bus device afresh, so a
/// display that was unplugged and plugged back in is initialised again.
pub fn i2c_opener(cfg: &DisplayConfig) -> Opener {
    let (bus, address, kind) = (cfg.i2c_bus.clone(), cfg.address, cfg.kind.clone());
    Box::new(move || {
        let i2c = open_bus(&bus)?;
        let no_answer = |e: DisplayError| {
            DisplayError::NoAnswer(format!(
                "no display answers at {address:#04x} on {} ({e}): check the wiring and \
                 display.address (i2cdetect -y {} lists what is on the bus)",
                bus.display(),
                bus_number(&bus)
            ))
        };
        Ok(match kind {
            DisplayKind::Sh1106 => {
                Box::new(oled::Sh1106Panel::new(i2c, address).map_err(no_answer)?) as Box<dyn Panel>
            }
            _ => Box::new(oled::Ssd1306Panel::new(i2c, address).map_err(no_answer)?),
        })
    })
}

fn bus_number(bus: &Path) -> String {
    bus.to_string_lossy()
        .rsplit('-')
        .next()
        .unwrap_or("1")
        .to_string()
}

/// Opens `/dev/i2c-N`, saying what to do when it is missing or not allowed.
pub fn open_bus(bus: &Path) -> Result<linux_embedded_hal::I2cdev, DisplayError> {
    let shown = bus.display();
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(bus) {
        return Err(DisplayError::Bus(match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => format!(
                "I2C bus {shown} is missing ({e}): enable I2C (sudo raspi-config → Interface \
                 Options → I2C, or dtparam=i2c_arm=on in config.txt) or set display.i2c_bus"
            ),
            Some(libc::EACCES | libc::EPERM) => format!(
                "I2C bus {shown} cannot be opened ({e}): add the user running postbooth to the \
                 i2c group (sudo usermod -aG i2c $USER) and log in again"
            ),
            _ => format!("I2C bus {shown}: {e}"),
        }));
    }
    linux_embedded_hal::I2cdev::new(bus)
        .map_err(|e| DisplayError::Bus(format!("I2C bus {shown}: {e}")))
}

/// A display for people watching in a terminal: the panel in Unicode Braille patterns
/// (66×18 characters, see [`Canvas::to_braille`]).
pub struct TerminalPanel<W: std::io::Write + Send> {
    pub out: W,
}

impl<W: std::io::Write + Send> Panel for TerminalPanel<W> {
    fn show(&mut self, frame: &Canvas) -> Result<(), DisplayError> {
        self.out
            .write_all(frame.to_braille().as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| DisplayError::Io(format!("terminal: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::Screen;
    use std::sync::{Arc, Mutex};

    /// A panel that fails while `broken` is set (like an unplugged OLED: opens fail too) and
    /// records what it showed.
    #[derive(Clone, Default)]
    struct Flaky {
        broken: Arc<Mutex<bool>>,
        opens: Arc<Mutex<u32>>,
        shown: Arc<Mutex<Vec<Canvas>>>,
    }

    impl Panel for Flaky {
        fn show(&mut self, frame: &Canvas) -> Result<(), DisplayError> {
            if *self.broken.lock().unwrap() {
                return Err(DisplayError::Bus("I2C write NACK".into()));
            }
            self.shown.lock().unwrap().push(frame.clone());
            Ok(())
        }
    }

    fn opener(f: &Flaky) -> Opener {
        let f = f.clone();
        Box::new(move || {
            *f.opens.lock().unwrap() += 1;
            if *f.broken.lock().unwrap() {
                return Err(DisplayError::NoAnswer("no display answers at 0x3c".into()));
            }
            Ok(Box::new(f.clone()))
        })
    }

    fn status(screen: Screen) -> Status {
        Status {
            screen,
            waiting: 0,
            notice: None,
        }
    }

    fn drawn(screen: Screen) -> Canvas {
        let mut c = Canvas::default();
        screens::draw(&status(screen), &mut c).unwrap();
        c
    }

    /// Waits until `cond` holds (the loop retries every 5 ms in these tests); no assertion
    /// depends on how long anything took.
    async fn until(cond: impl Fn() -> bool) {
        for _ in 0..6000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("condition never held");
    }

    #[tokio::test]
    async fn a_failing_display_is_logged_once_retried_and_comes_back() {
        let flaky = Flaky::default();
        let (tx, rx) = watch::channel(status(Screen::Idle));
        let task = tokio::spawn(run(opener(&flaky), rx, Duration::from_millis(5)));
        until(|| flaky.shown.lock().unwrap().len() == 1).await;

        // Unplugged: the booth goes on changing screens.
        *flaky.broken.lock().unwrap() = true;
        tx.send(status(Screen::Saving)).unwrap();
        tx.send(status(Screen::Saved)).unwrap();
        until(|| *flaky.opens.lock().unwrap() >= 4).await;
        tx.send(status(Screen::Publishing { n: 1, of: 1 })).unwrap();
        until(|| *flaky.opens.lock().unwrap() >= 6).await;

        // Plugged back: the current screen appears without any new status.
        *flaky.broken.lock().unwrap() = false;
        until(|| flaky.shown.lock().unwrap().len() == 2).await;
        assert_eq!(
            flaky.shown.lock().unwrap()[1],
            drawn(Screen::Publishing { n: 1, of: 1 })
        );
        drop(tx);
        let counts = task.await.unwrap();
        assert_eq!(counts.logged, 1, "one log line per outage: {counts:?}");
        assert!(counts.failures >= 5, "{counts:?}");
        assert_eq!(counts.frames, 2);
    }

    #[tokio::test]
    async fn unchanged_screens_are_not_resent() {
        let flaky = Flaky::default();
        let (tx, rx) = watch::channel(status(Screen::Idle));
        let task = tokio::spawn(run(opener(&flaky), rx, Duration::from_millis(5)));
        until(|| flaky.shown.lock().unwrap().len() == 1).await;
        // Same picture (the queue length is not on the idle screen).
        tx.send(Status {
            screen: Screen::Idle,
            waiting: 3,
            notice: None,
        })
        .unwrap();
        tx.send(status(Screen::Saved)).unwrap();
        until(|| flaky.shown.lock().unwrap().len() == 2).await;
        drop(tx);
        assert_eq!(task.await.unwrap().frames, 2);
        assert_eq!(*flaky.opens.lock().unwrap(), 1);
    }

    #[test]
    fn missing_bus_names_the_device_and_raspi_config() {
        let e = open_bus(Path::new("/dev/i2c-9")).err().unwrap().to_string();
        assert!(
            e.contains("I2C bus /dev/i2c-9 is missing") && e.contains("raspi-config"),
            "{e}"
        );
    }

    #[test]
    fn terminal_panel_writes_braille_that_fits_80_columns() {
        let mut panel = TerminalPanel { out: Vec::new() };
        panel.show(&drawn(Screen::Idle)).unwrap();
        let text = String::from_utf8(panel.out).unwrap();
        assert_eq!(text.lines().count(), 18);
        assert!(text.lines().all(|l| l.chars().count() <= 80));
        assert!(text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)));
    }
}
