//! What the booth has done since it started, for the people who watch many booths: counters
//! and duration histograms (read by [`crate::metrics`]), whether the camera, display and network
//! answer, and a stream of [`Event`]s (a photo saved, a post made) that MQTT forwards.
//!
//! Capture and the publisher only *record* here; nothing here drives them. Every call is a few
//! atomic operations or a short lock, so recording never slows a shot down.

pub mod histogram;

use histogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Seconds from the shot to "Saved": a few hundred milliseconds to several seconds on a Pi.
pub const CAPTURE_BUCKETS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0];
/// Seconds from staging to the post being live: polling alone takes seconds, a slow network
/// or a Reel's processing minutes.
pub const PUBLISH_BUCKETS: &[f64] = &[1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0];

/// Something that happened to one photo, for MQTT subscribers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The photo is durable: it will be posted.
    Saved {
        job: Uuid,
        kind: &'static str,
        bytes: u64,
    },
    /// The post is live.
    Posted {
        job: Uuid,
        media_id: String,
        permalink: Option<String>,
    },
    /// The job failed for good (until a person retries it).
    Failed {
        job: Uuid,
        class: String,
        reason: String,
    },
    /// An interval shot fell due while the previous one was still being saved.
    Skipped { reason: String },
}

/// The booth's live counters. One per daemon, shared as `Arc<Telemetry>`.
pub struct Telemetry {
    photos_saved: AtomicU64,
    posts_published: AtomicU64,
    shots_skipped: AtomicU64,
    /// Jobs that ended `Failed`, by the class of the error that failed them.
    jobs_failed: Mutex<BTreeMap<String, u64>>,
    /// Every failed publishing step, by error class (most are retried).
    publish_errors: Mutex<BTreeMap<String, u64>>,
    capture: Mutex<Histogram>,
    publish: Mutex<Histogram>,
    /// When the publisher first staged each job in this process.
    publishing_since: Mutex<HashMap<Uuid, Instant>>,
    camera_up: AtomicBool,
    display_up: AtomicBool,
    network_up: AtomicBool,
    events: broadcast::Sender<Event>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            photos_saved: AtomicU64::new(0),
            posts_published: AtomicU64::new(0),
            shots_skipped: AtomicU64::new(0),
            jobs_failed: Mutex::default(),
            publish_errors: Mutex::default(),
            capture: Mutex::new(Histogram::new(CAPTURE_BUCKETS)),
            publish: Mutex::new(Histogram::new(PUBLISH_BUCKETS)),
            publishing_since: Mutex::default(),
            // Up until something says otherwise: a booth that has not tried yet is not down.
            camera_up: AtomicBool::new(true),
            display_up: AtomicBool::new(true),
            network_up: AtomicBool::new(true),
            // Subscribers that fall this far behind miss events (and are told so), they never
            // hold capture up.
            events: broadcast::channel(64).0,
        }
    }
}

/// The counters at one moment, for the metrics renderer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counters {
    pub photos_saved: u64,
    pub posts_published: u64,
    pub shots_skipped: u64,
    pub jobs_failed: BTreeMap<String, u64>,
    pub publish_errors: BTreeMap<String, u64>,
    pub capture: Histogram,
    pub publish: Histogram,
    pub camera_up: bool,
    pub display_up: bool,
    pub network_up: bool,
    pub served_version: Option<String>,
}

impl Telemetry {
    /// A photo (or a carousel of them) is durable, `took` after the shot began.
    pub fn saved(&self, job: Uuid, kind: &'static str, bytes: u64, took: Duration) {
        self.photos_saved.fetch_add(1, Ordering::Relaxed);
        lock(&self.capture).observe(took.as_secs_f64());
        self.camera_up.store(true, Ordering::Relaxed);
        let _ = self.events.send(Event::Saved { job, kind, bytes });
    }

    /// The publisher begins on a job (its first staging step in this process).
    pub fn publishing(&self, job: Uuid) {
        lock(&self.publishing_since)
            .entry(job)
            .or_insert_with(Instant::now);
    }

    /// The post is live.
    pub fn published(&self, job: Uuid, media_id: &str, permalink: Option<&str>) {
        self.posts_published.fetch_add(1, Ordering::Relaxed);
        if let Some(since) = lock(&self.publishing_since).remove(&job) {
            lock(&self.publish).observe(since.elapsed().as_secs_f64());
        }
        let _ = self.events.send(Event::Posted {
            job,
            media_id: media_id.to_string(),
            permalink: permalink.map(str::to_string),
        });
    }

    /// A publishing step failed with an error of `class` (it may well be retried).
    pub fn publish_error(&self, class: &str) {
        *lock(&self.publish_errors)
            .entry(class.to_string())
            .or_default() += 1;
    }

    /// The job ended `Failed`.
    pub fn failed(&self, job: Uuid, class: &str, reason: &str) {
        *lock(&self.jobs_failed)
            .entry(class.to_string())
            .or_default() += 1;
        lock(&self.publishing_since).remove(&job);
        let _ = self.events.send(Event::Failed {
            job,
            class: class.to_string(),
            reason: reason.to_string(),
        });
    }

    /// A shot that fell due was not taken (the previous one was still being saved).
    pub fn skipped(&self, reason: &str) {
        self.shots_skipped.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(Event::Skipped {
            reason: reason.to_string(),
        });
    }

    pub fn camera(&self, up: bool) {
        self.camera_up.store(up, Ordering::Relaxed);
    }

    pub fn display(&self, up: bool) {
        self.display_up.store(up, Ordering::Relaxed);
    }

    pub fn network(&self, up: bool) {
        self.network_up.store(up, Ordering::Relaxed);
    }

    pub fn network_is_up(&self) -> bool {
        self.network_up.load(Ordering::Relaxed)
    }

    pub fn camera_is_up(&self) -> bool {
        self.camera_up.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn counters(&self) -> Counters {
        Counters {
            photos_saved: self.photos_saved.load(Ordering::Relaxed),
            posts_published: self.posts_published.load(Ordering::Relaxed),
            shots_skipped: self.shots_skipped.load(Ordering::Relaxed),
            jobs_failed: lock(&self.jobs_failed).clone(),
            publish_errors: lock(&self.publish_errors).clone(),
            capture: lock(&self.capture).clone(),
            publish: lock(&self.publish).clone(),
            camera_up: self.camera_up.load(Ordering::Relaxed),
            display_up: self.display_up.load(Ordering::Relaxed),
            network_up: self.network_up.load(Ordering::Relaxed),
            // Known to the Graph client; metrics::collect fills it in.
            served_version: None,
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update of a counter: keep counting.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_observes_the_time_since_its_staging_began() {
        let t = Telemetry::default();
        let job = Uuid::now_v7();
        let mut events = t.subscribe();
        t.saved(job, "photo", 100, Duration::from_millis(300));
        t.publishing(job);
        t.publishing(job); // a second step does not restart the clock
        t.published(job, "1789", Some("https://instagram.com/p/x"));
        let c = t.counters();
        assert_eq!((c.photos_saved, c.posts_published), (1, 1));
        assert_eq!(c.capture.count, 1);
        assert_eq!(c.publish.count, 1);
        assert!(matches!(events.try_recv(), Ok(Event::Saved { .. })));
        assert!(
            matches!(events.try_recv(), Ok(Event::Posted { media_id, .. }) if media_id == "1789")
        );
    }

    #[test]
    fn failures_are_counted_by_class() {
        let t = Telemetry::default();
        t.publish_error("transient");
        t.publish_error("transient");
        t.failed(Uuid::now_v7(), "invalid", "too big");
        let c = t.counters();
        assert_eq!(c.publish_errors["transient"], 2);
        assert_eq!(c.jobs_failed["invalid"], 1);
    }
}
