//! The push button: edge events from a GPIO line (never polling, never the removed sysfs
//! interface), turned into presses by the pure [`debounce`] logic, plus optional "ready" and
//! "busy" LEDs. Backends: [`gpio::CdevLine`] (any board with a GPIO character device) and
//! [`gpio::RppalLine`] (every Raspberry Pi, Pi 5 included).

pub mod debounce;
pub mod gpio;

use debounce::{Debouncer, Decision, Settings};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One edge of the line, already in "pressed" terms (active-low resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Milliseconds on the monotonic clock the kernel stamps events with.
    pub at_ms: u64,
    pub pressed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ButtonError {
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Permission(String),
    #[error("{0}")]
    Other(String),
}

impl ButtonError {
    /// Sorts an OS error about `what` (e.g. "GPIO chip /dev/gpiochip0") with the usual fix.
    pub fn from_io(what: &str, e: &std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => ButtonError::Missing(format!(
                "{what} is missing ({e}): check trigger.gpio_chip (ls /dev/gpiochip*), or remove \
                 \"gpio\" from trigger.kinds"
            )),
            Some(libc::EACCES | libc::EPERM) => ButtonError::Permission(format!(
                "{what} cannot be opened ({e}): add the user running postbooth to the gpio group \
                 (sudo usermod -aG gpio $USER) and log in again"
            )),
            Some(libc::EBUSY) => ButtonError::Other(format!(
                "{what} is busy ({e}): another program holds the line (see gpioinfo)"
            )),
            _ => ButtonError::Other(format!("{what}: {e}")),
        }
    }
}

/// A GPIO input delivering edge events.
pub trait EdgeSource: Send {
    /// The next edge, waiting at most `timeout`; `Ok(None)` when none came.
    fn wait(&mut self, timeout: Duration) -> Result<Option<Edge>, ButtonError>;
    /// Now, on the clock edges are stamped with.
    fn now_ms(&self) -> u64;
    /// Whether the button is pressed right now (at start-up).
    fn pressed(&mut self) -> Result<bool, ButtonError>;
    fn describe(&self) -> String;
}

/// An output line driving an LED.
pub trait Led: Send {
    fn set(&mut self, on: bool) -> Result<(), ButtonError>;
}

/// How often the loop looks at `stop` while the line is quiet.
const QUIET_WAIT: Duration = Duration::from_millis(250);

/// Counts of what the debouncer decided, for the log and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub presses: u64,
    pub locked: u64,
    pub ghosts: u64,
}

/// Watches the line until `stop` is set, calling `on_press` for each real press. Blocking: run
/// it on its own thread.
pub fn watch(
    source: &mut dyn EdgeSource,
    settings: Settings,
    stop: &AtomicBool,
    on_press: &mut dyn FnMut(),
) -> Result<Counts, ButtonError> {
    let mut debouncer = Debouncer::new(settings, source.pressed()?);
    let mut counts = Counts::default();
    while !stop.load(Ordering::Relaxed) {
        let timeout = match debouncer.deadline() {
            Some(due) => Duration::from_millis(due.saturating_sub(source.now_ms())),
            None => QUIET_WAIT,
        };
        let decision = match source.wait(timeout)? {
            Some(edge) => debouncer.edge(edge.at_ms, edge.pressed),
            None => debouncer.tick(source.now_ms()),
        };
        match decision {
            Some(Decision::Press { at_ms }) => {
                counts.presses += 1;
                tracing::debug!(at_ms, "button pressed");
                on_press();
            }
            Some(Decision::Locked { at_ms }) => {
                counts.locked += 1;
                tracing::info!(
                    at_ms,
                    ignored = counts.locked,
                    "button press ignored: within the lockout after the last photo"
                );
            }
            Some(Decision::Ghost { at_ms, width_ms }) => {
                counts.ghosts += 1;
                tracing::debug!(
                    at_ms,
                    width_ms,
                    rejected = counts.ghosts,
                    "button pulse too short, ignored"
                );
            }
            None => {}
        }
    }
    Ok(counts)
}

/// Now on CLOCK_MONOTONIC, the clock GPIO edge events are stamped with by default.
pub fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

#[cfg(test)]
pub(crate) mod fake {
    //! A scripted line on a virtual clock: waiting advances the clock, so tests take no time.
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Arc;

    pub struct FakeLine {
        pub now: u64,
        pub edges: VecDeque<Edge>,
        /// Set when the script has run out and the clock passed `end_ms`.
        pub stop: Arc<AtomicBool>,
        pub end_ms: u64,
    }

    impl EdgeSource for FakeLine {
        fn wait(&mut self, timeout: Duration) -> Result<Option<Edge>, ButtonError> {
            let until = self.now + timeout.as_millis() as u64;
            match self.edges.front() {
                Some(e) if e.at_ms <= until => {
                    self.now = self.now.max(e.at_ms);
                    Ok(self.edges.pop_front())
                }
                _ => {
                    self.now = until;
                    if self.edges.is_empty() && self.now >= self.end_ms {
                        self.stop.store(true, Ordering::Relaxed);
                    }
                    Ok(None)
                }
            }
        }
        fn now_ms(&self) -> u64 {
            self.now
        }
        fn pressed(&mut self) -> Result<bool, ButtonError> {
            Ok(false)
        }
        fn describe(&self) -> String {
            "fake line".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeLine;
    use super::*;
    use std::sync::Arc;

    fn run(edges: &[(u64, bool)], end_ms: u64) -> Counts {
        let stop = Arc::new(AtomicBool::new(false));
        let mut line = FakeLine {
            now: 0,
            edges: edges
                .iter()
                .map(|&(at_ms, pressed)| Edge { at_ms, pressed })
                .collect(),
            stop: stop.clone(),
            end_ms,
        };
        let mut presses = 0;
        let counts = watch(
            &mut line,
            Settings {
                debounce_ms: 30,
                lockout_ms: 1500,
            },
            &stop,
            &mut || presses += 1,
        )
        .unwrap();
        assert_eq!(counts.presses, presses);
        counts
    }

    /// The loop wakes at the debounce deadline by itself: a press held still (no further
    /// edge) is reported without waiting for the release.
    #[test]
    fn press_is_reported_at_the_deadline_without_another_edge() {
        let c = run(&[(100, true)], 5_000);
        assert_eq!(c.presses, 1);
    }

    #[test]
    fn storm_lockout_and_ghosts_through_the_loop() {
        let mut edges = vec![];
        // A bounce storm settling into a press at 1010, released at 1200.
        for i in 0..5 {
            edges.push((1000 + 2 * i, true));
            edges.push((1001 + 2 * i, false));
        }
        edges.push((1010, true));
        edges.push((1200, false));
        // Pressed again in the lockout, then a spike, then a real press later.
        edges.extend([(1500, true), (1700, false), (4000, true), (4005, false)]);
        edges.extend([(6000, true), (6100, false)]);
        let c = run(&edges, 10_000);
        assert_eq!(
            c,
            Counts {
                presses: 2,
                locked: 1,
                ghosts: 6
            }
        );
    }

    #[test]
    fn errors_name_the_chip_and_the_fix() {
        let e = |n| {
            ButtonError::from_io(
                "GPIO chip /dev/gpiochip9",
                &std::io::Error::from_raw_os_error(n),
            )
            .to_string()
        };
        assert!(e(libc::ENOENT).contains("/dev/gpiochip9 is missing"));
        assert!(e(libc::EACCES).contains("gpio group"));
        assert!(e(libc::EBUSY).contains("busy"));
    }
}
