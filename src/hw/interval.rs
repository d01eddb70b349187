//! Interval shots (`trigger.kinds = ["interval"]`): a photo every `trigger.interval_secs`,
//! only inside `trigger.interval_windows` (local time), for storefront time-lapses and booths
//! with no guest.
//!
//! Two rules shape it:
//! - A shot that falls due while the previous one is still being taken or saved is **skipped
//!   and counted** (`postbooth_shots_skipped_total`), never queued behind it: a slow disk
//!   must not turn into a backlog of shots.
//! - **No burst after a clock jump.** A Pi without a real-time clock boots with an old time
//!   and jumps when NTP answers. The cadence runs on the monotonic clock (tokio's), which
//!   does not jump; the wall clock is read only to ask "inside a window now?". Ticks missed
//!   while the runtime stalled are skipped, not fired in a row.

use crate::publish::window::{self, Window};
use crate::shoot::Shooter;
use crate::telemetry::Telemetry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{info, warn};

/// What to do when a shot falls due. Pure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Shoot,
    /// The previous shot is still being taken or saved: skip this one (and count it).
    Busy,
    /// Outside `interval_windows`: nothing to do.
    OutsideWindows,
}

pub fn decide(windows: &[Window], minute: u32, second: u32, busy: bool) -> Due {
    if window::wait_until_open(windows, minute, second).is_some() {
        Due::OutsideWindows
    } else if busy {
        Due::Busy
    } else {
        Due::Shoot
    }
}

/// What takes the interval's photos: the booth's [`Shooter`], or a stand-in in tests.
pub trait Shots: Send + Sync + 'static {
    /// Is a shot being taken or saved right now?
    fn busy(&self) -> bool;
    /// Starts a shot and returns at once (it runs on its own task).
    fn start(&self);
}

impl Shots for Arc<Shooter> {
    fn busy(&self) -> bool {
        Shooter::busy(self)
    }

    fn start(&self) {
        let shooter = Arc::clone(self);
        tokio::spawn(async move {
            // The shooter logs and shows a failure itself.
            if let Ok(job) = shooter.shoot().await {
                info!(job = %job.id, "interval photo saved");
            }
        });
    }
}

/// The local wall-clock minute of the day and second, read at each tick.
pub type WallClock = Box<dyn Fn() -> (u32, u32) + Send + Sync>;

/// The system's local time.
pub fn local_clock() -> WallClock {
    Box::new(|| {
        let t = crate::clock::now();
        (
            u32::from(t.hour) * 60 + u32::from(t.minute),
            u32::from(t.second),
        )
    })
}

/// What the loop did, for tests and the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub taken: u64,
    pub skipped: u64,
    pub outside: u64,
}

/// Takes a photo every `every` inside `windows` until `shutdown`.
pub async fn run(
    every: Duration,
    windows: Vec<Window>,
    shots: impl Shots,
    wall: WallClock,
    telemetry: Arc<Telemetry>,
    mut shutdown: watch::Receiver<bool>,
) -> Counts {
    let mut counts = Counts::default();
    // The first shot one interval after start: the camera has settled by then.
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    info!(every_secs = every.as_secs(), windows = %window::describe(&windows), "interval photos on");
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return counts,
            _ = ticker.tick() => {}
        }
        let (minute, second) = wall();
        match decide(&windows, minute, second, shots.busy()) {
            Due::Shoot => {
                counts.taken += 1;
                shots.start();
            }
            Due::Busy => {
                counts.skipped += 1;
                telemetry.skipped("the previous photo was still being saved");
                warn!(
                    skipped = counts.skipped,
                    "interval photo skipped: the previous one was still being saved"
                );
            }
            Due::OutsideWindows => counts.outside += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_first_then_busy() {
        let w = window::parse_all(&["09:00-18:00".into()]).unwrap();
        assert_eq!(decide(&w, 8 * 60 + 59, 59, false), Due::OutsideWindows);
        assert_eq!(decide(&w, 8 * 60 + 59, 59, true), Due::OutsideWindows);
        assert_eq!(decide(&w, 9 * 60, 0, false), Due::Shoot);
        assert_eq!(decide(&w, 9 * 60, 0, true), Due::Busy);
        assert_eq!(decide(&[], 3 * 60, 0, false), Due::Shoot);
    }
}
