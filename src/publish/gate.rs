//! Whether the publisher may call Instagram now, and if not, for how long to wait and why:
//! Meta's usage headers and rate-limit answers, the clock (never before the build date), the
//! operator's publish windows, and the daily publishing quota (`content_publishing_limit`).
//! The decisions are pure functions; [`Gate`] holds what was last learned and does the one
//! call it needs (the quota). Capture is never gated.

use super::graph::{ApiError, GraphClient, Quota};
use super::usage;
use super::window::{self, Window};
use crate::job::{Action, PostKind};
use crate::ui::Screen;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// When the embedded build time cannot be believed (a test can set an earlier or later
/// bound with `POSTBOOTH_NOT_BEFORE`, seconds since the epoch).
pub fn not_before_unix() -> u64 {
    std::env::var("POSTBOOTH_NOT_BEFORE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(build_unix)
}

/// When this binary was built (seconds since the epoch), from build.rs.
pub fn build_unix() -> u64 {
    env!("POSTBOOTH_BUILD_UNIX").parse().unwrap_or(0)
}

/// `2026-11-27 12:00 UTC`, for messages.
pub fn utc_text(unix: u64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{unix} s after 1970"))
}

/// The clock problem in words, if the clock says a time before `not_before`.
pub fn clock_problem(now_unix: u64, not_before: u64) -> Option<String> {
    (now_unix < not_before).then(|| {
        format!(
            "the clock says {}, before this postbooth was built ({}): publishing waits until \
             the clock is set (enable NTP: timedatectl set-ntp true, or add an RTC)",
            utc_text(now_unix),
            utc_text(not_before)
        )
    })
}

/// Why publishing waits, for how long, and what the display shows meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub wait: Duration,
    pub screen: Screen,
    pub reason: String,
}

/// What the publishing quota was when last read.
#[derive(Clone, Copy, Debug)]
struct KnownQuota {
    quota: Quota,
    read_at: Instant,
}

/// Publishing quota decision: `Ok(true)` = go, `Ok(false)` = read it again first,
/// `Err(wait)` = used up, do not ask again for `wait`.
fn quota_decision(
    known: Option<KnownQuota>,
    now: Instant,
    max_age: Duration,
    recheck: Duration,
) -> Result<bool, Duration> {
    let Some(k) = known else { return Ok(false) };
    let age = now.saturating_duration_since(k.read_at);
    if k.quota.usage < k.quota.total {
        return Ok(age < max_age);
    }
    if age < recheck {
        Err(recheck - age)
    } else {
        Ok(false)
    }
}

/// What `doctor`, `queue list` and the display are told.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GateInfo {
    /// Posts left in the rolling 24 hours, when known.
    pub posts_left: Option<u32>,
    pub quota_total: Option<u32>,
    /// Why publishing waits right now, if it does.
    pub waiting_because: Option<String>,
}

#[derive(Default)]
struct GateState {
    quota: Option<KnownQuota>,
    throttled_until: Option<Instant>,
    waiting_because: Option<String>,
}

pub struct Gate {
    graph: Arc<GraphClient>,
    windows: Vec<Window>,
    not_before: u64,
    quota_max_age: Duration,
    quota_recheck: Duration,
    /// The longest pause after a rate-limit answer that named no wait.
    rate_limit_pause: Duration,
    /// Quota policy `story` counts on Stories not using up feed posts: they are not held by
    /// the quota we read (if Instagram does count them, its refusal holds them like any post).
    stories_outside_quota: bool,
    state: Mutex<GateState>,
    /// An operator paused publishing (MQTT `pause`) until `resume`; capture goes on.
    paused: std::sync::atomic::AtomicBool,
}

/// A quota read is trusted this long while posts are left (each publish counts itself down).
const QUOTA_MAX_AGE: Duration = Duration::from_secs(600);
/// How often the clock guard looks again.
const CLOCK_RECHECK: Duration = Duration::from_secs(30);

impl Gate {
    pub fn new(graph: Arc<GraphClient>, config: &crate::config::Config) -> Self {
        Gate {
            graph,
            // Validated at config load.
            windows: window::parse_all(&config.publish.windows).unwrap_or_default(),
            not_before: not_before_unix(),
            quota_max_age: QUOTA_MAX_AGE,
            quota_recheck: Duration::from_secs(config.publish.quota_recheck_secs),
            rate_limit_pause: Duration::from_millis(config.publish.backoff_cap_ms),
            stories_outside_quota: config.publish.quota_policy == crate::config::QuotaPolicy::Story,
            state: Mutex::new(GateState::default()),
            paused: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Holds (or lets go) every new container and publish until told otherwise. Not kept
    /// across a restart: a booth that restarts publishes again.
    pub fn pause(&self, paused: bool) {
        self.paused
            .store(paused, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn info(&self) -> GateInfo {
        let s = self.state();
        GateInfo {
            posts_left: s.quota.map(|k| k.quota.total.saturating_sub(k.quota.usage)),
            quota_total: s.quota.map(|k| k.quota.total),
            waiting_because: s.waiting_because.clone(),
        }
    }

    /// Is every call held by Meta's usage headers or a rate-limit answer right now?
    pub fn throttled(&self) -> bool {
        self.state()
            .throttled_until
            .is_some_and(|t| t > Instant::now())
    }

    /// May `action` call Instagram now? Every network step is held while Meta throttles us;
    /// steps that create or publish are also held by the clock, the windows and the quota.
    /// Polling and verifying a possible publish are never held by the quota: they settle what
    /// already happened.
    pub async fn check(&self, action: &Action, kind: &PostKind) -> Result<(), Hold> {
        let result = self.decide(action, kind).await;
        self.state().waiting_because = result.as_ref().err().map(|h| h.reason.clone());
        result
    }

    async fn decide(&self, action: &Action, kind: &PostKind) -> Result<(), Hold> {
        let now = Instant::now();
        if let Some(until) = self.state().throttled_until.filter(|t| *t > now) {
            return Err(Hold {
                wait: until - now,
                screen: Screen::RateLimited,
                reason:
                    "Instagram asked this app to slow down (usage headers or a rate-limit answer)"
                        .into(),
            });
        }
        // Steps that make containers or publish; polling, verifying, uploading bytes to a
        // container that exists, and comments on published media settle what already began.
        if !matches!(
            action,
            Action::CreateContainer { .. }
                | Action::CreateChild { .. }
                | Action::RecordIntentThenPublish { .. }
        ) {
            return Ok(());
        }
        if self.is_paused() {
            return Err(Hold {
                // Woken at once by `resume` (the publisher's wake).
                wait: Duration::from_secs(3600),
                screen: Screen::RateLimited,
                reason:
                    "publishing paused by an operator (MQTT command \"pause\"); send \"resume\""
                        .into(),
            });
        }
        let now_unix = crate::clock::system_ms() / 1000;
        if let Some(reason) = clock_problem(now_unix, self.not_before) {
            return Err(Hold {
                wait: CLOCK_RECHECK,
                screen: Screen::Error("CLOCK".into()),
                reason,
            });
        }
        let local = crate::clock::now();
        let minute = u32::from(local.hour) * 60 + u32::from(local.minute);
        if let Some(wait) = window::wait_until_open(&self.windows, minute, local.second.into()) {
            return Err(Hold {
                wait,
                screen: Screen::RateLimited,
                reason: format!(
                    "outside the publish windows ({}); the next opens in {} min",
                    window::describe(&self.windows),
                    wait.as_secs().div_ceil(60)
                ),
            });
        }
        if self.counts_in_quota(kind) {
            self.check_quota().await
        } else {
            Ok(())
        }
    }

    fn counts_in_quota(&self, kind: &PostKind) -> bool {
        !(self.stories_outside_quota && matches!(kind, PostKind::Story { .. }))
    }

    async fn check_quota(&self) -> Result<(), Hold> {
        let known = self.state().quota;
        let decision = quota_decision(
            known,
            Instant::now(),
            self.quota_max_age,
            self.quota_recheck,
        );
        let go = match decision {
            Ok(go) => go,
            Err(wait) => return Err(self.quota_hold(wait)),
        };
        if go {
            return Ok(());
        }
        match self.graph.publishing_limit().await {
            Ok(quota) => {
                info!(
                    used = quota.usage,
                    total = quota.total,
                    posts_left = quota.total.saturating_sub(quota.usage),
                    "read the publishing quota"
                );
                self.state().quota = Some(KnownQuota {
                    quota,
                    read_at: Instant::now(),
                });
                if quota.usage >= quota.total {
                    return Err(self.quota_hold(self.quota_recheck));
                }
                Ok(())
            }
            Err(e) => {
                // The publish itself will meet the quota if there is none left.
                warn!(error = %e, "could not read the publishing quota; publishing anyway");
                Ok(())
            }
        }
    }

    fn quota_hold(&self, wait: Duration) -> Hold {
        let total = self.state().quota.map(|k| k.quota.total).unwrap_or(0);
        Hold {
            wait,
            screen: Screen::RateLimited,
            reason: format!(
                "the publishing quota is used up ({total} posts in the last 24 h); posting \
                 resumes as the window slides (asking again in {} s)",
                wait.as_secs()
            ),
        }
    }

    /// After every call: a usage reading that says "slow down" holds all calls for a while.
    pub fn after_call(&self) {
        if let Some(wait) = self
            .graph
            .take_fresh_usage()
            .as_ref()
            .and_then(usage::throttle)
        {
            warn!(
                wait_secs = wait.as_secs(),
                "Instagram usage is high; holding calls"
            );
            self.state().throttled_until = Some(Instant::now() + wait);
        }
    }

    /// A rate-limit answer: 9/2207042 means the quota is used up; the other codes (4, 17,
    /// 32, 613, 80002, HTTP 429) hold every call for what the headers say, or the cap.
    pub fn on_rate_limit(&self, e: &ApiError) {
        let quota_reached = matches!(e, ApiError::Graph { error, .. } if error.code == 9 && error.error_subcode == Some(2207042));
        let mut s = self.state();
        if quota_reached {
            // Used up as of now; the real numbers are read again at the next recheck.
            let total = s.quota.map(|k| k.quota.total).unwrap_or(0);
            s.quota = Some(KnownQuota {
                quota: Quota {
                    usage: total,
                    total,
                },
                read_at: Instant::now(),
            });
        } else {
            let wait = usage::throttle(&self.graph.last_usage()).unwrap_or(self.rate_limit_pause);
            s.throttled_until = Some(Instant::now() + wait);
        }
    }

    /// One post more counts against the quota.
    pub fn published(&self, kind: &PostKind) {
        if !self.counts_in_quota(kind) {
            return;
        }
        if let Some(k) = self.state().quota.as_mut() {
            k.quota.usage += 1;
        }
    }

    /// A publish may have happened without us counting it: read the quota again.
    pub fn forget_quota(&self) {
        self.state().quota = None;
    }
}

/// Quota policy `carousel`: when more posts wait than `posts_left` allows, the oldest photo
/// jobs that have no container yet (same size, as a carousel needs) to combine into one
/// carousel, just enough of them (at most 10) to bring the backlog within the quota. `None`
/// when the backlog fits or fewer than two photos can be combined.
pub fn carousel_batch(pending: &[crate::job::Job], posts_left: u32) -> Option<Vec<uuid::Uuid>> {
    use crate::job::JobState;
    let unposted = pending
        .iter()
        .filter(|j| j.state.media_id().is_none())
        .count();
    let excess = unposted
        .checked_sub(posts_left as usize)
        .filter(|e| *e > 0)?;
    let mut photos = pending.iter().filter(|j| {
        j.kind.is_photo() && matches!(j.state, JobState::Captured | JobState::Staged { .. })
    });
    let first = photos.next()?;
    let size = (first.blob.width, first.blob.height);
    // Combining k photos saves k - 1 posts.
    let want = (excess + 1).min(crate::job::CAROUSEL_MAX);
    let batch: Vec<uuid::Uuid> = std::iter::once(first)
        .chain(photos.filter(|j| (j.blob.width, j.blob.height) == size))
        .take(want)
        .map(|j| j.id)
        .collect();
    (batch.len() >= 2).then_some(batch)
}

/// Quota policy `story`: the waiting feed photos the quota has no room for, newest first out:
/// the oldest `posts_left` unposted jobs keep their feed post, and the photos after them that
/// have no container yet go to Stories instead. A photo that already has a Story of its own
/// (`also_story`, `queue story`) waits for the feed: it would be in Stories twice. Empty when
/// the backlog fits.
pub fn story_overflow(pending: &[crate::job::Job], posts_left: u32) -> Vec<uuid::Uuid> {
    use crate::job::{JobState, PostKind};
    let has_story: Vec<uuid::Uuid> = pending
        .iter()
        .filter_map(|j| match j.kind {
            PostKind::Story { of, .. } => of,
            _ => None,
        })
        .collect();
    let feed = pending
        .iter()
        .filter(|j| !matches!(j.kind, PostKind::Story { .. }) && j.state.media_id().is_none());
    feed.skip(posts_left as usize)
        .filter(|j| {
            j.kind.is_photo()
                && matches!(j.state, JobState::Captured | JobState::Staged { .. })
                && !has_story.contains(&j.id)
        })
        .map(|j| j.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A captured photo `w` pixels wide: carousels only combine photos of one size.
    fn photo(n: u8, w: u32) -> crate::job::Job {
        let mut job = crate::job::test_job(u128::from(n), crate::job::JobState::Captured);
        job.created_at_ms = u64::from(n);
        job.blob.width = w;
        job.blob.height = 800;
        job
    }

    #[test]
    fn carousels_only_as_many_as_the_quota_needs() {
        let jobs: Vec<_> = (0..6).map(|n| photo(n, 1080)).collect();
        assert_eq!(carousel_batch(&jobs, 6), None);
        assert_eq!(carousel_batch(&jobs, 10), None);
        // 6 waiting, 4 left: combine 3 into one (saves 2 posts).
        let batch = carousel_batch(&jobs, 4).unwrap();
        assert_eq!(batch, [jobs[0].id, jobs[1].id, jobs[2].id]);
        // Used up: as many as a carousel takes.
        let many: Vec<_> = (0..30).map(|n| photo(n, 1080)).collect();
        assert_eq!(carousel_batch(&many, 0).unwrap().len(), 10);
        // Only photos of the first one's size.
        let mixed = vec![photo(0, 1080), photo(1, 640), photo(2, 1080)];
        assert_eq!(
            carousel_batch(&mixed, 0).unwrap(),
            [mixed[0].id, mixed[2].id]
        );
        assert_eq!(carousel_batch(&[photo(0, 1080), photo(1, 640)], 0), None);
    }

    #[test]
    fn the_overflow_beyond_the_posts_left_goes_to_stories_newest_first() {
        use crate::job::{JobState, PostKind};
        let jobs: Vec<_> = (0..6).map(|n| photo(n, 1080)).collect();
        assert!(story_overflow(&jobs, 6).is_empty());
        assert!(story_overflow(&jobs, 9).is_empty());
        let ids =
            |range: std::ops::Range<usize>| jobs[range].iter().map(|j| j.id).collect::<Vec<_>>();
        assert_eq!(story_overflow(&jobs, 4), ids(4..6));
        assert_eq!(story_overflow(&jobs, 0), ids(0..6));
        // A job already on its way (container made) keeps its feed post and takes a place;
        // Stories already queued do not count against the feed quota.
        let mut mixed = jobs.clone();
        mixed[0].state = JobState::Ready {
            key: "k".into(),
            container_id: "c".into(),
        };
        mixed[1].kind = PostKind::Story {
            of: None,
            overflow: false,
        };
        assert_eq!(
            story_overflow(&mixed, 2),
            [mixed[3].id, mixed[4].id, mixed[5].id]
        );
        // Carousels and Reels are never turned into Stories.
        mixed[5].kind = PostKind::Reel;
        assert_eq!(story_overflow(&mixed, 2), [mixed[3].id, mixed[4].id]);
        // Nor is a photo that has a Story of its own already.
        mixed[1].kind = PostKind::Story {
            of: Some(mixed[4].id),
            overflow: false,
        };
        assert_eq!(story_overflow(&mixed, 2), [mixed[3].id]);
    }

    fn known(usage: u32, total: u32, read_at: Instant) -> Option<KnownQuota> {
        Some(KnownQuota {
            quota: Quota { usage, total },
            read_at,
        })
    }

    #[test]
    fn quota_is_read_when_unknown_or_stale_and_holds_when_used_up() {
        let t = Instant::now();
        let (max_age, recheck) = (Duration::from_secs(600), Duration::from_secs(900));
        assert_eq!(quota_decision(None, t, max_age, recheck), Ok(false));
        assert_eq!(
            quota_decision(known(3, 25, t), t, max_age, recheck),
            Ok(true)
        );
        assert_eq!(
            quota_decision(known(3, 25, t), t + max_age, max_age, recheck),
            Ok(false)
        );
        assert_eq!(
            quota_decision(
                known(25, 25, t),
                t + Duration::from_secs(100),
                max_age,
                recheck
            ),
            Err(Duration::from_secs(800))
        );
        assert_eq!(
            quota_decision(known(25, 25, t), t + recheck, max_age, recheck),
            Ok(false)
        );
    }

    #[test]
    fn the_clock_must_not_be_before_the_build() {
        let built = 1_795_000_000;
        assert_eq!(clock_problem(built + 1, built), None);
        let e = clock_problem(0, built).unwrap();
        assert!(e.contains("1970-01-01") && e.contains("NTP"), "{e}");
        assert!(
            build_unix() > 1_700_000_000,
            "build.rs embeds the build time"
        );
    }
}
