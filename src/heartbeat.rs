//! Is the daemon healthy? Each long-running loop (the publisher, a photo being taken) marks
//! itself busy while it works and idle while it waits for something to happen. A loop that
//! waits is healthy however long it waits (the publisher may sleep for an hour with nothing
//! to do); a loop that has been busy for longer than its limit is stuck: every step it takes
//! is bounded (requests have timeouts, files are local), so that only happens on a bug, a
//! hung device or a hung disk. [`crate::notify`] stops the systemd watchdog pings while
//! anything is stuck, and systemd then restarts the process (queued photos are safe on disk).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the publisher may spend on one pass before it counts as stuck. A pass is a handful
/// of Graph API calls (stage, create, poll, publish, permalink, comment), each bounded by
/// `request_timeout`: allow twelve of them, and never less than 15 minutes.
pub fn publisher_limit(request_timeout: Duration) -> Duration {
    request_timeout
        .checked_mul(12)
        .unwrap_or(Duration::MAX)
        .max(Duration::from_secs(15 * 60))
}

/// How long taking and saving one photo may take (camera, encode, fsync).
pub const SHOOT_LIMIT: Duration = Duration::from_secs(3 * 60);

/// The loops of one daemon.
#[derive(Clone)]
pub struct Heartbeat {
    start: Instant,
    loops: Arc<Mutex<Vec<Arc<Slot>>>>,
}

struct Slot {
    name: &'static str,
    limit: Duration,
    /// Milliseconds since `start` + 1 when the loop became busy; 0 while it waits.
    busy_since: AtomicU64,
}

/// One loop's handle.
#[derive(Clone)]
pub struct Beat {
    start: Instant,
    slot: Arc<Slot>,
}

/// A loop that is busy right now, as the pure check sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Busy {
    pub name: &'static str,
    pub limit: Duration,
    pub for_: Duration,
}

/// What is stuck, if anything: the first loop busy for longer than its limit.
pub fn stuck(busy: &[Busy]) -> Option<&Busy> {
    busy.iter().find(|b| b.for_ > b.limit)
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

impl Heartbeat {
    pub fn new() -> Heartbeat {
        Heartbeat {
            start: Instant::now(),
            loops: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Registers a loop that counts as stuck when busy for longer than `limit`.
    pub fn register(&self, name: &'static str, limit: Duration) -> Beat {
        let slot = Arc::new(Slot {
            name,
            limit,
            busy_since: AtomicU64::new(0),
        });
        self.loops.lock().unwrap().push(slot.clone());
        Beat {
            start: self.start,
            slot,
        }
    }

    /// The loops that are busy now, and for how long.
    pub fn busy(&self) -> Vec<Busy> {
        let now = self.start.elapsed().as_millis() as u64;
        self.loops
            .lock()
            .unwrap()
            .iter()
            .filter_map(|slot| {
                let since = slot.busy_since.load(Ordering::Acquire);
                (since != 0).then(|| Busy {
                    name: slot.name,
                    limit: slot.limit,
                    for_: Duration::from_millis(now.saturating_sub(since - 1)),
                })
            })
            .collect()
    }

    /// `Err` names the stuck loop and says for how long it has been busy.
    pub fn check(&self) -> Result<(), String> {
        match stuck(&self.busy()) {
            None => Ok(()),
            Some(b) => Err(format!(
                "{} has been busy for {} s (limit {} s)",
                b.name,
                b.for_.as_secs(),
                b.limit.as_secs()
            )),
        }
    }
}

impl Beat {
    /// The loop starts working. Keeps the earlier start if it is already busy.
    pub fn busy(&self) {
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let _ = self
            .slot
            .busy_since
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The loop waits for something to happen.
    pub fn idle(&self) {
        self.slot.busy_since.store(0, Ordering::Release);
    }

    /// Busy until the guard is dropped (also on early returns and `?`).
    pub fn working(&self) -> Working<'_> {
        self.busy();
        Working(self)
    }
}

pub struct Working<'a>(&'a Beat);

impl Drop for Working<'_> {
    fn drop(&mut self) {
        self.0.idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(name: &'static str, limit: u64, for_: u64) -> Busy {
        Busy {
            name,
            limit: Duration::from_secs(limit),
            for_: Duration::from_secs(for_),
        }
    }

    #[test]
    fn a_loop_busy_past_its_limit_is_stuck_and_waiting_ones_never_are() {
        assert_eq!(stuck(&[]), None);
        assert_eq!(stuck(&[b("publisher", 60, 60)]), None);
        assert_eq!(
            stuck(&[b("publisher", 60, 10), b("shoot", 5, 6)])
                .unwrap()
                .name,
            "shoot"
        );
    }

    #[test]
    fn publisher_limit_grows_with_the_request_timeout() {
        assert_eq!(
            publisher_limit(Duration::from_secs(30)),
            Duration::from_secs(900)
        );
        assert_eq!(
            publisher_limit(Duration::from_secs(120)),
            Duration::from_secs(1440)
        );
    }

    #[test]
    fn busy_and_idle_are_seen_by_the_check() {
        let heart = Heartbeat::new();
        let publisher = heart.register("publisher", Duration::ZERO);
        let shoot = heart.register("shoot", Duration::from_secs(3600));
        assert!(heart.busy().is_empty());
        assert!(heart.check().is_ok());
        {
            let _working = shoot.working();
            assert_eq!(heart.busy().len(), 1);
            // Busy within its limit: healthy.
            assert!(heart.check().is_ok());
        }
        assert!(heart.busy().is_empty());
        publisher.busy();
        // A zero limit is passed as soon as any time goes by.
        std::thread::sleep(Duration::from_millis(5));
        let err = heart.check().unwrap_err();
        assert!(err.starts_with("publisher has been busy"), "{err}");
        publisher.idle();
        assert!(heart.check().is_ok());
    }

    #[test]
    fn busy_twice_keeps_the_first_start() {
        let heart = Heartbeat::new();
        let beat = heart.register("publisher", Duration::from_secs(60));
        beat.busy();
        let first = beat.slot.busy_since.load(Ordering::Acquire);
        std::thread::sleep(Duration::from_millis(3));
        beat.busy();
        assert_eq!(beat.slot.busy_since.load(Ordering::Acquire), first);
    }
}
