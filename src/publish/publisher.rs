//! The publisher: one task per account, one job at a time, oldest first. Each step asks
//! [`job::next_action`] what to do, does the I/O, and persists the new state *before* the next
//! side effect. After a crash it simply starts again: every job resumes from its record.

use super::backoff;
use super::errors::ErrorClass;
use super::gate::Gate;
use super::graph::{ApiError, CommentInfo, GraphClient, MediaInfo};
use crate::failpoint;
use crate::job::{Action, ContainerStatus, Job, Outcome, PostKind, MEDIA_MATCH_SLACK_MS};
use crate::media::{MediaError, MediaHost};
use crate::store::{Store, StoreError};
use crate::ui::{Screen, StatusSender};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tracing::{error, info, warn};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct Settings {
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub poll_interval: Duration,
    /// How long to stop publishing after an auth or account error before trying again.
    pub auth_pause: Duration,
    pub delete_published: bool,
    pub quota_recheck: Duration,
    pub quota_policy: crate::config::QuotaPolicy,
    /// Reels: how often to poll processing (Meta suggests about once a minute).
    pub video_poll_interval: Duration,
    /// Reels: bytes per upload request; a cut connection costs at most this much again.
    pub upload_chunk_bytes: usize,
    /// JPEG quality for Stories made from waiting photos (quota policy `story`).
    pub quality: u8,
    /// How long a new container usually needs: the first status question waits that long.
    pub ready: Arc<super::ready_wait::ReadyWait>,
    /// Something shows a post's permalink (the QR code on the display or the guest screen,
    /// MQTT events): read it after publishing. Otherwise it is one Graph call for nothing.
    pub want_permalink: bool,
}

/// Whether anything this config turns on shows a post's permalink.
pub fn permalink_shown(c: &crate::config::Config) -> bool {
    use crate::config::DisplayKind;
    let display_qr = !matches!(c.display.kind, DisplayKind::None);
    display_qr || !c.web.listen.is_empty() || !c.mqtt.url.is_empty()
}

impl From<&crate::config::Config> for Settings {
    fn from(c: &crate::config::Config) -> Self {
        Self {
            backoff_base: Duration::from_millis(c.publish.backoff_base_ms),
            backoff_cap: Duration::from_millis(c.publish.backoff_cap_ms),
            poll_interval: Duration::from_millis(c.publish.poll_interval_ms),
            auth_pause: Duration::from_secs(c.publish.auth_pause_secs),
            delete_published: c.store.delete_published,
            quota_recheck: Duration::from_secs(c.publish.quota_recheck_secs),
            quota_policy: c.publish.quota_policy,
            video_poll_interval: Duration::from_millis(c.publish.video_poll_interval_ms),
            upload_chunk_bytes: c.publish.upload_chunk_bytes as usize,
            quality: c.image.quality,
            want_permalink: permalink_shown(c),
            ready: Arc::new(super::ready_wait::ReadyWait::new(Duration::from_millis(
                c.publish.poll_interval_ms,
            ))),
        }
    }
}

/// How often Done jobs older than `store.keep_done_days` are pruned (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// A container id unknown to Instagram (24/2207008) is retried this often before a new one.
const CONTAINER_NOT_FOUND_RETRIES: u32 = 3;

/// How far back a lost publish is looked for: pages of 50 posts (one call each).
const MEDIA_PAGES: usize = 40;

/// The first comment is tried this often before the booth gives it up (the post stands).
const MAX_COMMENT_ATTEMPTS: u32 = 10;

pub struct Publisher {
    pub store: Store,
    pub graph: Arc<GraphClient>,
    pub media: Arc<dyn MediaHost>,
    pub status: StatusSender,
    pub settings: Settings,
    /// Poked when a new photo is saved or a person retries a job.
    pub wake: Arc<Notify>,
    /// Quota, usage headers, publish windows and the clock: may we call Instagram now?
    pub gate: Arc<Gate>,
    /// Busy while a pass runs, idle while it waits: a pass that never ends stops the
    /// systemd watchdog pings (see [`crate::heartbeat`]).
    pub beat: crate::heartbeat::Beat,
    /// Counts posts, failures and publish durations for `/metrics` and MQTT events.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
}

/// Why a step did not finish.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read the video file: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "Instagram shows the photo as published but it is not in the account's recent media yet"
    )]
    MediaNotListed,
}

impl StepError {
    /// The error's class as metrics and events name it.
    fn class_name(&self) -> &'static str {
        match self {
            Self::Api(ApiError::Network(_) | ApiError::CaptivePortal(_)) => "network",
            Self::Api(api) => api.class().name(),
            Self::Media(_) => "media_host",
            Self::Store(_) => "store",
            Self::Io(_) => "other",
            Self::MediaNotListed => "transient",
        }
    }
}

/// What the loop does after a failed step. Pure decision, see [`on_error`].
#[derive(Debug, PartialEq, Eq)]
enum Response {
    /// Apply this outcome to the job (the error told us where it stands).
    Advance(Outcome),
    /// Try this job again after a backoff.
    Retry,
    /// Stop all publishing for a while.
    Pause(Screen),
}

/// What an error during `action` means. The publish and verify steps never turn an error into
/// a new container or a failure: only the container's own status may say it was not published.
fn on_error(action: &Action, class: ErrorClass, attempts: u32, message: &str) -> Response {
    use ErrorClass::*;
    match class {
        Auth => return Response::Pause(Screen::LoginNeeded),
        Account => return Response::Pause(Screen::AccountProblem),
        RateLimit => return Response::Pause(Screen::RateLimited),
        _ => {}
    }
    // The first comment: the post is live whatever happens here, so no error can lead back
    // to a publish. Invalid input or too many failures give the comment up.
    if matches!(
        action,
        Action::RecordCommentIntentThenComment { .. } | Action::VerifyComment { .. }
    ) {
        return if class == Invalid || attempts + 1 >= MAX_COMMENT_ATTEMPTS {
            Response::Advance(Outcome::CommentGaveUp {
                reason: message.to_string(),
            })
        } else {
            Response::Retry
        };
    }
    // A carousel child that expired or vanished is replaced; the others are kept.
    if let Action::PollChild { index, .. } = action {
        let gone = class == ContainerExpired
            || class == ContainerNotFound && attempts + 1 >= CONTAINER_NOT_FOUND_RETRIES;
        return if gone {
            Response::Advance(Outcome::ChildStatus {
                index: *index,
                status: ContainerStatus::Expired,
            })
        } else {
            Response::Retry
        };
    }
    let may_be_published = matches!(
        action,
        Action::RecordIntentThenPublish { .. } | Action::VerifyContainer { .. }
    );
    match class {
        // 9007/2207027 means "not FINISHED": certainly not published, poll again.
        NotReady if !matches!(action, Action::VerifyContainer { .. }) => {
            Response::Advance(Outcome::NotReady)
        }
        _ if may_be_published => Response::Retry,
        ContainerExpired => Response::Advance(Outcome::ContainerGone),
        ContainerNotFound if attempts + 1 >= CONTAINER_NOT_FOUND_RETRIES => {
            Response::Advance(Outcome::ContainerGone)
        }
        MediaUnfetchable => Response::Advance(Outcome::MediaUnfetchable {
            reason: message.to_string(),
        }),
        Invalid => Response::Advance(Outcome::Rejected {
            reason: message.to_string(),
        }),
        _ => Response::Retry,
    }
}

/// A step that did not finish: the job as it now is, a pause for every job (auth, rate limit,
/// quota, a store that cannot write), and whether the network was unreachable.
struct Failed {
    job: Job,
    pause: Option<Duration>,
    offline: bool,
}

enum Step {
    /// The job moved on; take the next step now.
    Moved,
    /// The container is still being processed: come back after the poll interval.
    Poll,
    /// The same, after this long (photo containers: see [`super::ready_wait`]).
    PollAfter(Duration),
}

impl Publisher {
    /// Runs until `shutdown` turns true. Stopping mid-step is safe: every state is persisted
    /// before the side effect that depends on it, exactly as after a power cut.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut not_before: HashMap<Uuid, Instant> = HashMap::new();
        let mut paused_until: Option<Instant> = None;
        let mut pruned_at: Option<Instant> = None;
        // Network failures in a row, whichever jobs met them.
        let mut offline_streak: u32 = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(Instant::now());
                self.prune().await;
            }
            let wait = match paused_until {
                Some(until) if until > Instant::now() => Some(until - Instant::now()),
                _ => {
                    paused_until = None;
                    let _working = self.beat.working();
                    self.work_once(&mut not_before, &mut paused_until, &mut offline_streak)
                        .await
                }
            };
            let Some(wait) = wait else { continue };
            // Wake for the next prune even in a long wait, so Done jobs go on time.
            let until_prune =
                pruned_at.map_or(Duration::ZERO, |t| PRUNE_EVERY.saturating_sub(t.elapsed()));
            let wait = wait.min(until_prune);
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = self.wake.notified() => {
                    // A person may have fixed the token: try again now.
                    paused_until = None;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Drives the oldest job that is due. Returns how long to wait, or `None` to go on at once.
    async fn work_once(
        &self,
        not_before: &mut HashMap<Uuid, Instant>,
        paused_until: &mut Option<Instant>,
        offline_streak: &mut u32,
    ) -> Option<Duration> {
        let jobs = match self.store.blocking(|s| s.jobs()).await {
            Ok(jobs) => jobs,
            Err(e) => {
                error!(error = %e, "cannot read the queue; trying again shortly");
                return Some(self.settings.backoff_cap.min(Duration::from_secs(5)));
            }
        };
        let pending: Vec<Job> = jobs.into_iter().filter(|j| j.state.is_pending()).collect();
        self.status.send_modify(|s| s.waiting = pending.len());
        if self.combine_over_quota(&pending).await || self.overflow_to_stories(&pending).await {
            // The queue changed: look at it again.
            return None;
        }
        not_before.retain(|id, _| pending.iter().any(|j| j.id == *id));
        let now = Instant::now();
        let Some(job) = pending
            .iter()
            .find(|j| not_before.get(&j.id).is_none_or(|t| *t <= now))
        else {
            // Nothing due: sleep until the earliest job is, or until woken.
            return Some(
                not_before
                    .values()
                    .min()
                    .map_or(Duration::from_secs(3600), |t| {
                        t.saturating_duration_since(now)
                    }),
            );
        };
        let of = pending.len();
        // While offline the screens keep saying so ("will post when online") until a try gets
        // through, instead of flickering to "Posting" and back at every retry.
        if *offline_streak == 0 {
            self.status
                .send_modify(|s| s.screen = Screen::Publishing { n: 1, of });
        }
        match self.drive(job.clone()).await {
            Ok(Some(poll)) => {
                *offline_streak = 0;
                not_before.insert(job.id, Instant::now() + poll);
            }
            Ok(None) => {
                *offline_streak = 0;
                not_before.remove(&job.id);
            }
            Err(Failed {
                job,
                pause,
                offline,
            }) => {
                *offline_streak = if offline { *offline_streak + 1 } else { 0 };
                if let Some(pause) = pause {
                    *paused_until = Some(Instant::now() + pause);
                    return Some(pause);
                }
                let delay = backoff::delay(
                    job.attempts,
                    self.settings.backoff_base,
                    self.settings.backoff_cap,
                );
                not_before.insert(job.id, Instant::now() + delay);
                if offline {
                    // No network is no network for every job: hold them all for a backoff
                    // that grows with the failures in a row. Going straight on to the next
                    // waiting job instead cost a connection attempt, a queue read and a record
                    // write per waiting job per round, in every network drop (the soak test).
                    // The failed job also waits its own backoff, so a job whose calls fail
                    // for reasons of its own does not hold up the others.
                    let pause = backoff::delay(
                        *offline_streak,
                        self.settings.backoff_base,
                        self.settings.backoff_cap,
                    );
                    *paused_until = Some(Instant::now() + pause);
                    return Some(pause);
                }
            }
        }
        None
    }

    /// Takes one job as far as it can go now. `Ok(Some(d))`: poll again after `d`;
    /// `Ok(None)`: the job is done, failed or moved on; `Err`: it failed a step (with a pause
    /// for everyone, or `None` for a per-job backoff).
    async fn drive(&self, mut job: Job) -> Result<Option<Duration>, Failed> {
        loop {
            let action = job.next_action();
            if action == Action::Nothing {
                return Ok(None);
            }
            if let Err(hold) = self.gate.check(&action, &job.kind).await {
                info!(job = %job.id, reason = %hold.reason, wait_secs = hold.wait.as_secs(), "publishing waits; capture goes on");
                self.status.send_modify(|s| s.screen = hold.screen.clone());
                return Err(Failed {
                    job,
                    pause: Some(hold.wait),
                    offline: false,
                });
            }
            if !job.state.is_published() {
                self.telemetry.publishing(job.id);
            }
            let result = self.step(&mut job, &action).await;
            self.gate.after_call();
            if result.is_ok() {
                self.telemetry.network(true);
            }
            match result {
                // Asking about a container at once would find it still in progress: wait
                // about as long as containers have recently needed (Reels poll their own way).
                Ok(Step::Moved)
                    if job.kind != PostKind::Reel
                        && matches!(action, Action::CreateContainer { .. })
                        && matches!(job.state, crate::job::JobState::ContainerCreated { .. }) =>
                {
                    return Ok(Some(self.settings.ready.first_wait()))
                }
                Ok(Step::Moved) => continue,
                Ok(Step::Poll) if job.kind == PostKind::Reel => {
                    return Ok(Some(self.settings.video_poll_interval))
                }
                Ok(Step::Poll) => return Ok(Some(self.settings.poll_interval)),
                Ok(Step::PollAfter(wait)) => return Ok(Some(wait)),
                Err(e) => return Err(self.handle_error(job, &action, e).await),
            }
        }
    }

    async fn handle_error(&self, mut job: Job, action: &Action, e: StepError) -> Failed {
        let message = e.to_string();
        let class = e.class_name();
        self.telemetry.publish_error(class);
        if class == "network" {
            self.telemetry.network(false);
        }
        let response = match &e {
            StepError::Api(api) => {
                if api.class() == ErrorClass::RateLimit {
                    self.gate.on_rate_limit(api);
                }
                on_error(action, api.class(), job.attempts, &message)
            }
            StepError::Media(MediaError::Io(io)) | StepError::Io(io)
                if io.kind() == std::io::ErrorKind::NotFound =>
            {
                Response::Advance(Outcome::BlobMissing)
            }
            // The store cannot record states (disk full, I/O errors): every job would hit the
            // same wall, and a retry that cannot record its progress repeats its side effects
            // (the disk-full test saw 400 containers burnt in seconds). Pause them all.
            StepError::Store(store) => Response::Pause(store_screen(store)),
            _ => Response::Retry,
        };
        match response {
            Response::Pause(screen) => {
                let pause = match screen {
                    Screen::RateLimited => self.rate_limit_pause(),
                    Screen::DiskFull | Screen::Error(_) => self.store_pause(),
                    _ => self.settings.auth_pause,
                };
                let pause = match &e {
                    // Used up: wait for the window (the gate asks again at each recheck).
                    StepError::Api(ApiError::Graph { error, .. })
                        if error.code == 9 && error.error_subcode == Some(2207042) =>
                    {
                        self.settings.quota_recheck
                    }
                    _ => pause,
                };
                error!(job = %job.id, error = %message, pause_secs = pause.as_secs(), "publishing paused for all photos; capture goes on");
                self.status.send_modify(|s| s.screen = screen);
                job.record_transient(&message);
                self.persist(&job).await;
                Failed {
                    job,
                    pause: Some(pause),
                    offline: false,
                }
            }
            Response::Advance(outcome) => {
                warn!(job = %job.id, error = %message, ?outcome, "step failed; the job moves on accordingly");
                if let Err(invalid) = job.advance(&outcome) {
                    error!(job = %job.id, %invalid, "ignoring an outcome that does not fit the job");
                }
                self.persist(&job).await;
                if let crate::job::JobState::Failed { reason } = &job.state {
                    error!(job = %job.id, %reason, "job failed; `postbooth queue retry` starts it again");
                    self.telemetry.failed(job.id, class, reason);
                    self.status
                        .send_modify(|s| s.screen = Screen::Error("POST".into()));
                }
                // The job moved; its next step may go now.
                job.attempts = 0;
                Failed {
                    job,
                    pause: None,
                    offline: false,
                }
            }
            Response::Retry => {
                job.record_transient(&message);
                warn!(job = %job.id, attempt = job.attempts, error = %message, "step failed; will retry");
                let offline = matches!(
                    e,
                    StepError::Api(ApiError::Network(_) | ApiError::CaptivePortal(_))
                );
                if offline {
                    self.status.send_modify(|s| s.screen = Screen::Offline);
                }
                self.persist(&job).await;
                Failed {
                    job,
                    pause: None,
                    offline,
                }
            }
        }
    }

    /// Lets go of Done jobs older than `store.keep_done_days` (see `Store::prune_done`). A
    /// failure costs nothing but space: it is tried again at the next round.
    async fn prune(&self) {
        match self.store.blocking(|s| s.prune_done()).await {
            Ok(ids) if ids.is_empty() => {}
            Ok(ids) => info!(jobs = ids.len(), "pruned old published jobs"),
            Err(e) => warn!(error = %e, "could not prune old published jobs; trying again later"),
        }
    }

    /// Quota policy `carousel`: when more photos wait than the quota allows, combine the
    /// oldest into one carousel (it counts once). True when the queue changed.
    async fn combine_over_quota(&self, pending: &[Job]) -> bool {
        if self.settings.quota_policy != crate::config::QuotaPolicy::Carousel {
            return false;
        }
        // With no post left, nothing can be posted anyway: let the backlog grow, and combine
        // it when the window frees a post, into as few carousels as it then needs.
        let Some(left) = self.gate.info().posts_left.filter(|l| *l > 0) else {
            return false;
        };
        let Some(ids) = super::gate::carousel_batch(pending, left) else {
            return false;
        };
        let n = ids.len();
        match self
            .store
            .blocking(move |s| s.combine_into_carousel(&ids))
            .await
        {
            Ok(job) => {
                info!(job = %job.id, photos = n, posts_left = left, waiting = pending.len(), "more photos wait than the quota allows: combined into one carousel");
                true
            }
            Err(e) => {
                warn!(error = %e, photos = n, "could not combine waiting photos into a carousel; posting them one by one");
                false
            }
        }
    }

    /// Quota policy `story`: the waiting photos the quota has no room for today are posted
    /// as Stories instead. True when the queue changed.
    async fn overflow_to_stories(&self, pending: &[Job]) -> bool {
        if self.settings.quota_policy != crate::config::QuotaPolicy::Story {
            return false;
        }
        let Some(left) = self.gate.info().posts_left else {
            return false;
        };
        let ids = super::gate::story_overflow(pending, left);
        if ids.is_empty() {
            return false;
        }
        let quality = self.settings.quality;
        let turned = self
            .store
            .blocking(move |s| crate::queue_ops::turn_into_stories(s, &ids, quality))
            .await;
        for (id, result) in &turned {
            match result {
                Ok(job) => {
                    info!(job = %id, posts_left = left, width = job.blob.width, height = job.blob.height, "no feed post left today for this photo: it goes to Stories instead")
                }
                Err(e) => {
                    warn!(job = %id, error = %e, "could not turn this photo into a Story; it waits for a feed post")
                }
            }
        }
        turned.iter().any(|(_, r)| r.is_ok())
    }

    /// A container whose id cannot be recorded is wasted, and the retry would make another
    /// (at most 400 a day per account; the disk-full test saw them all burnt in seconds).
    /// So before creating one, prove the store can write now: a full or failing disk stops
    /// here, before Instagram is called.
    async fn prove_store_writable(&self, job: &Job) -> Result<(), StepError> {
        let copy = job.clone();
        self.store.blocking(move |s| s.update(&copy)).await?;
        Ok(())
    }

    /// After the store failed to record a state: short, since space may come back any moment.
    fn store_pause(&self) -> Duration {
        self.settings
            .backoff_cap
            .min(Duration::from_secs(30))
            .max(self.settings.backoff_base)
    }

    /// After a rate-limit answer: what Meta's headers ask for, else the backoff cap.
    fn rate_limit_pause(&self) -> Duration {
        super::usage::throttle(&self.graph.last_usage())
            .unwrap_or(self.settings.backoff_cap)
            .max(self.settings.backoff_base)
    }

    async fn persist(&self, job: &Job) {
        let copy = job.clone();
        if let Err(e) = self.store.blocking(move |s| s.update(&copy)).await {
            error!(job = %job.id, error = %e, "cannot record the job's state");
        }
    }

    /// Applies an outcome and makes it durable before anything else happens.
    async fn advance(&self, job: &mut Job, outcome: Outcome) -> Result<(), StepError> {
        let before = job.state.name();
        job.advance(&outcome)
            .expect("the publisher only produces outcomes that fit the action it took");
        let copy = job.clone();
        self.store.blocking(move |s| s.update(&copy)).await?;
        info!(job = %job.id, from = before, to = job.state.name(), "job moved");
        if let (crate::job::JobState::Published { .. }, false) = (&job.state, before == "Published")
        {
            let media_id = job.state.media_id().unwrap_or_default();
            self.telemetry
                .published(job.id, media_id, job.state.permalink());
        }
        Ok(())
    }

    async fn step(&self, job: &mut Job, action: &Action) -> Result<Step, StepError> {
        match action {
            Action::Stage => {
                let paths: Vec<_> = job
                    .blobs()
                    .into_iter()
                    .map(|b| (b.sha256.clone(), self.store.blob_path(b)))
                    .collect();
                if paths.iter().any(|(_, path)| !path.is_file()) {
                    self.advance(job, Outcome::BlobMissing).await?;
                    return Ok(Step::Moved);
                }
                // A Reel's bytes go straight to Instagram's upload host, not a media host.
                if job.kind != PostKind::Reel {
                    for (key, path) in &paths {
                        self.media.stage(key, path).await?;
                    }
                }
                failpoint::hit("stage.before-persist");
                let key = job.blob.sha256.clone();
                self.advance(job, Outcome::Staged { key }).await?;
            }
            Action::CreateChild { index } => {
                let PostKind::Carousel { items } = &job.kind else {
                    unreachable!("only carousels have children")
                };
                let key = items[*index].blob.sha256.clone();
                self.prove_store_writable(job).await?;
                let url = self.media.public_url(&key).await?;
                let container_id = self.graph.create_carousel_item(&url).await?;
                failpoint::hit("carousel.child-created-before-persist");
                info!(job = %job.id, child = index + 1, container = %container_id, "carousel child container created");
                self.advance(
                    job,
                    Outcome::ChildCreated {
                        index: *index,
                        container_id,
                    },
                )
                .await?;
                failpoint::hit("carousel.child-persisted");
            }
            Action::PollChild {
                index,
                container_id,
            } => {
                let status = self.graph.container_status(container_id).await?;
                if status == ContainerStatus::InProgress {
                    return Ok(Step::Poll);
                }
                self.advance(
                    job,
                    Outcome::ChildStatus {
                        index: *index,
                        status,
                    },
                )
                .await?;
            }
            Action::CreateContainer { .. } if job.kind == PostKind::Reel => {
                self.prove_store_writable(job).await?;
                let (container_id, uri) = self.graph.create_reel_upload(&job.caption).await?;
                failpoint::hit("container.created-before-persist");
                info!(job = %job.id, container = %container_id, "reel upload container created");
                self.advance(
                    job,
                    Outcome::UploadStarted {
                        container_id,
                        uri,
                        at_ms: self.store.now_ms(),
                    },
                )
                .await?;
            }
            Action::Upload { container_id, uri } => {
                self.upload(job, container_id, uri).await?;
                self.advance(job, Outcome::Uploaded).await?;
            }
            Action::CreateContainer { key } => {
                self.prove_store_writable(job).await?;
                let container_id = match &job.kind {
                    PostKind::Carousel { .. } => {
                        let children = job.children().expect("every child exists here");
                        self.graph.create_carousel(&children, &job.caption).await?
                    }
                    PostKind::Story { .. } => {
                        let url = self.media.public_url(key).await?;
                        self.graph.create_story(&url).await?
                    }
                    PostKind::Photo | PostKind::Reel => {
                        let url = self.media.public_url(key).await?;
                        self.graph.create_container(&url, &job.caption).await?
                    }
                };
                failpoint::hit("container.created-before-persist");
                info!(job = %job.id, container = %container_id, "container created");
                self.advance(
                    job,
                    Outcome::ContainerCreated {
                        container_id,
                        at_ms: self.store.now_ms(),
                    },
                )
                .await?;
            }
            Action::PollContainer { container_id } => {
                let status = self.graph.container_status(container_id).await?;
                // Reels take minutes and poll at their own pace; the rest learn the wait.
                let learn = job.kind != PostKind::Reel;
                if status == ContainerStatus::InProgress && !learn {
                    return Ok(Step::Poll);
                }
                if status == ContainerStatus::InProgress {
                    let wait = self.settings.ready.still_in_progress(container_id);
                    return Ok(Step::PollAfter(wait));
                }
                if let (true, crate::job::JobState::ContainerCreated { created_at_ms, .. }) =
                    (learn, &job.state)
                {
                    let took = self.store.now_ms().saturating_sub(*created_at_ms);
                    self.settings
                        .ready
                        .finished(container_id, Duration::from_millis(took));
                }
                failpoint::hit("container.finished-before-persist");
                self.advance(job, Outcome::Status(status)).await?;
            }
            Action::RecordIntentThenPublish { container_id } => {
                self.advance(
                    job,
                    Outcome::IntentRecorded {
                        at_ms: self.store.now_ms(),
                    },
                )
                .await?;
                failpoint::hit("publish.intent-persisted");
                let media_id = self.graph.publish(container_id).await?;
                self.gate.published(&job.kind);
                failpoint::hit("publish.response-received");
                info!(job = %job.id, media = %media_id, "published");
                let permalink = match self.settings.want_permalink {
                    true => self.permalink(&job.id, &media_id).await,
                    false => None,
                };
                self.published(job, media_id, permalink).await?;
            }
            Action::VerifyContainer {
                container_id,
                attempted_at_ms,
            } => {
                let status = self.graph.container_status(container_id).await?;
                info!(job = %job.id, container = %container_id, ?status, "checked a container that may have been published");
                match status {
                    ContainerStatus::Published => {
                        self.gate.forget_quota();
                        let found = self.find_published_media(job, *attempted_at_ms).await?;
                        info!(job = %job.id, media = %found.id, "it was published: recording it, not publishing again");
                        self.published(job, found.id, found.permalink).await?;
                    }
                    ContainerStatus::InProgress => return Ok(Step::Poll),
                    other => self.advance(job, Outcome::Status(other)).await?,
                }
            }
            Action::RecordCommentIntentThenComment { media_id, text } => {
                self.advance(
                    job,
                    Outcome::CommentIntentRecorded {
                        at_ms: self.store.now_ms(),
                    },
                )
                .await?;
                failpoint::hit("comment.intent-persisted");
                let comment_id = self.graph.comment(media_id, text).await?;
                failpoint::hit("comment.response-received");
                info!(job = %job.id, media = %media_id, comment = %comment_id, "first comment posted");
                self.advance(job, Outcome::Commented { comment_id }).await?;
            }
            Action::VerifyComment {
                media_id,
                text,
                attempted_at_ms,
            } => {
                let comments = self.graph.comments(media_id).await?;
                match find_comment(&comments, text, *attempted_at_ms) {
                    Some(found) => {
                        info!(job = %job.id, comment = %found.id, "the first comment was posted: recording it, not posting again");
                        let comment_id = found.id.clone();
                        self.advance(job, Outcome::Commented { comment_id }).await?;
                    }
                    None => {
                        info!(job = %job.id, "the first comment is not there: posting it");
                        self.advance(job, Outcome::CommentMissing).await?;
                    }
                }
            }
            Action::Finish => {
                let keys: Vec<String> = job.blobs().iter().map(|b| b.sha256.clone()).collect();
                for key in keys.iter().filter(|_| job.kind != PostKind::Reel) {
                    if let Err(e) = self.media.unstage(key).await {
                        warn!(job = %job.id, error = %e, "could not remove the staged copy; it is harmless");
                    }
                }
                if self.settings.delete_published {
                    let copy = job.clone();
                    self.store.blocking(move |s| s.remove_photo(&copy)).await?;
                }
                failpoint::hit("finish.before-persist");
                self.advance(
                    job,
                    Outcome::Finished {
                        at_ms: self.store.now_ms(),
                    },
                )
                .await?;
                self.status.send_modify(|s| {
                    s.screen = Screen::Posted {
                        permalink: job.state.permalink().map(str::to_string),
                    }
                });
            }
            Action::Nothing => {}
        }
        Ok(Step::Moved)
    }

    /// Sends the Reel's bytes Instagram does not have yet, one chunk per request. Always asks
    /// first: after a cut connection (or a restart) the upload resumes from the byte Instagram
    /// last acknowledged, never from the start.
    async fn upload(&self, job: &Job, container_id: &str, uri: &str) -> Result<(), StepError> {
        let path = self.store.photo_path(job);
        let size = job.blob.size;
        let mut offset = self.graph.uploaded_bytes(container_id).await?;
        if offset > size {
            return Err(StepError::Api(ApiError::Unexpected {
                status: 200,
                detail: format!("Instagram reports {offset} bytes of a {size}-byte video"),
            }));
        }
        if offset > 0 {
            info!(job = %job.id, offset, size, "resuming the video upload");
        }
        let chunk = self.settings.upload_chunk_bytes.max(1) as u64;
        while offset < size {
            let len = chunk.min(size - offset);
            let part = read_part(&path, offset, len).await?;
            self.graph.upload_part(uri, part, offset, size).await?;
            offset += len;
            failpoint::hit("upload.part-sent");
        }
        info!(job = %job.id, bytes = size, "video uploaded");
        Ok(())
    }

    async fn published(
        &self,
        job: &mut Job,
        media_id: String,
        permalink: Option<String>,
    ) -> Result<(), StepError> {
        self.advance(
            job,
            Outcome::Published {
                media_id,
                permalink,
                at_ms: self.store.now_ms(),
            },
        )
        .await?;
        failpoint::hit("publish.published-persisted");
        Ok(())
    }

    /// The permalink is nice to have (QR code, `queue list`); failing to get it costs nothing.
    async fn permalink(&self, job: &Uuid, media_id: &str) -> Option<String> {
        match self.graph.media(media_id).await {
            Ok(info) => info.permalink,
            Err(e) => {
                warn!(job = %job, error = %e, "published, but could not read the permalink");
                None
            }
        }
    }

    /// The account's posts, newest first, paging back until one is older than the attempt
    /// (less the clock slack): a verify delayed by backoff and outages while other photos were
    /// posted must still see its own post (the 10,000-shot soak saw one 888 posts deep).
    /// At most `MEDIA_PAGES` pages of 50.
    async fn media_back_to(&self, attempted_at_ms: u64) -> Result<Vec<MediaInfo>, StepError> {
        let earliest = attempted_at_ms.saturating_sub(MEDIA_MATCH_SLACK_MS);
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MEDIA_PAGES {
            let (page, next) = self.graph.media_page(50, after.as_deref()).await?;
            let reached_older = page.iter().any(|m| {
                m.timestamp
                    .as_deref()
                    .and_then(parse_graph_time)
                    .is_some_and(|t| t < earliest)
            });
            all.extend(page);
            match next {
                Some(cursor) if !reached_older => after = Some(cursor),
                _ => break,
            }
        }
        Ok(all)
    }

    /// A container is PUBLISHED but we lost the answer that named the media: find it among
    /// the account's recent posts by caption and time, skipping media other jobs own.
    async fn find_published_media(
        &self,
        job: &Job,
        attempted_at_ms: u64,
    ) -> Result<MediaInfo, StepError> {
        let recent = match job.kind {
            PostKind::Story { .. } => self.graph.recent_stories().await?,
            _ => self.media_back_to(attempted_at_ms).await?,
        };
        let own_id = job.id;
        let claimed: Vec<String> = self
            .store
            .blocking(move |s| s.jobs())
            .await?
            .into_iter()
            .filter(|j| j.id != own_id)
            .filter_map(|j| j.state.media_id().map(str::to_string))
            .collect();
        pick_media(recent, &job.caption, attempted_at_ms, &claimed).ok_or(StepError::MediaNotListed)
    }
}

/// What the display says when the store cannot record a state.
fn store_screen(e: &StoreError) -> Screen {
    match e {
        StoreError::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => Screen::DiskFull,
        StoreError::DiskFull { .. } | StoreError::CapReached { .. } => Screen::DiskFull,
        _ => Screen::Error("STORE".into()),
    }
}

/// Our first comment among the media's comments: the same text, made no earlier than the
/// attempt (with slack for clock skew). A person commenting the same words before us is
/// possible but harmless: we then record theirs and post none.
fn find_comment<'a>(
    comments: &'a [CommentInfo],
    text: &str,
    attempted_at_ms: u64,
) -> Option<&'a CommentInfo> {
    let earliest = attempted_at_ms.saturating_sub(MEDIA_MATCH_SLACK_MS);
    comments.iter().find(|c| {
        c.text == text
            && c.timestamp
                .as_deref()
                .and_then(parse_graph_time)
                .is_none_or(|t| t >= earliest)
    })
}

/// Our media among recent posts: same caption, posted no earlier than the attempt (with
/// slack for clock skew), not owned by another job; of those, the one posted nearest to our
/// attempt. Not the earliest: when two jobs with the same caption both lost their answers a
/// few minutes apart, the later job would take the earlier one's post, and the earlier job,
/// finding its own post taken, would never settle (the 10,000-shot soak found this).
fn pick_media(
    recent: Vec<MediaInfo>,
    caption: &str,
    attempted_at_ms: u64,
    claimed: &[String],
) -> Option<MediaInfo> {
    let earliest = attempted_at_ms.saturating_sub(MEDIA_MATCH_SLACK_MS);
    let mut candidates: Vec<(u64, MediaInfo)> = recent
        .into_iter()
        .filter(|m| m.caption.as_deref().unwrap_or("") == caption)
        .filter(|m| !claimed.contains(&m.id))
        .map(|m| {
            (
                m.timestamp
                    .as_deref()
                    .and_then(parse_graph_time)
                    .unwrap_or(u64::MAX),
                m,
            )
        })
        .filter(|(t, _)| *t >= earliest)
        .collect();
    candidates.sort_by_key(|(t, _)| t.abs_diff(attempted_at_ms));
    candidates.into_iter().next().map(|(_, m)| m)
}

/// `len` bytes of the file at `path` from `offset`, read off the async workers.
async fn read_part(path: &std::path::Path, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut part = Vec::with_capacity(len as usize);
        file.take(len).read_to_end(&mut part)?;
        Ok(part)
    })
    .await
    .expect("reading a file does not panic")
}

/// Graph timestamps look like `2026-11-27T11:00:00+0000`. Milliseconds since the epoch.
fn parse_graph_time(text: &str) -> Option<u64> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
    );
    let t = time::OffsetDateTime::parse(text, format).ok()?;
    u64::try_from(t.unix_timestamp()).ok().map(|s| s * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    fn publish() -> Action {
        Action::RecordIntentThenPublish {
            container_id: "c".into(),
        }
    }
    fn verify() -> Action {
        Action::VerifyContainer {
            container_id: "c".into(),
            attempted_at_ms: 0,
        }
    }
    fn create() -> Action {
        Action::CreateContainer { key: "k".into() }
    }

    #[test]
    fn auth_rate_and_account_errors_pause_everything_from_any_step() {
        for action in [Action::Stage, create(), publish(), verify()] {
            assert_eq!(
                on_error(&action, Auth, 0, ""),
                Response::Pause(Screen::LoginNeeded)
            );
            assert_eq!(
                on_error(&action, RateLimit, 0, ""),
                Response::Pause(Screen::RateLimited)
            );
            assert_eq!(
                on_error(&action, Account, 0, ""),
                Response::Pause(Screen::AccountProblem)
            );
        }
    }

    #[test]
    fn errors_after_a_possible_publish_never_fail_or_recreate() {
        for class in [
            Transient,
            ContainerExpired,
            ContainerNotFound,
            MediaUnfetchable,
            Invalid,
        ] {
            assert_eq!(
                on_error(&publish(), class, 9, "x"),
                Response::Retry,
                "{class:?}"
            );
            assert_eq!(
                on_error(&verify(), class, 9, "x"),
                Response::Retry,
                "{class:?}"
            );
        }
        assert_eq!(on_error(&verify(), NotReady, 0, ""), Response::Retry);
    }

    #[test]
    fn not_ready_on_publish_goes_back_to_polling() {
        assert_eq!(
            on_error(&publish(), NotReady, 0, ""),
            Response::Advance(Outcome::NotReady)
        );
    }

    #[test]
    fn container_not_found_is_retried_briefly_then_replaced() {
        let poll = Action::PollContainer {
            container_id: "c".into(),
        };
        assert_eq!(on_error(&poll, ContainerNotFound, 0, ""), Response::Retry);
        assert_eq!(
            on_error(
                &poll,
                ContainerNotFound,
                CONTAINER_NOT_FOUND_RETRIES - 1,
                ""
            ),
            Response::Advance(Outcome::ContainerGone)
        );
    }

    #[test]
    fn bad_media_restages_and_invalid_input_fails_before_publishing() {
        assert!(matches!(
            on_error(&create(), MediaUnfetchable, 0, "9004"),
            Response::Advance(Outcome::MediaUnfetchable { .. })
        ));
        assert!(matches!(
            on_error(&create(), Invalid, 0, "too big"),
            Response::Advance(Outcome::Rejected { .. })
        ));
        assert_eq!(on_error(&create(), Transient, 0, ""), Response::Retry);
    }

    fn media(id: &str, caption: &str, ts: &str) -> MediaInfo {
        MediaInfo {
            id: id.into(),
            caption: Some(caption.into()),
            timestamp: Some(ts.into()),
            permalink: None,
        }
    }

    #[test]
    fn graph_time_parses() {
        assert_eq!(parse_graph_time("1970-01-01T00:01:00+0000"), Some(60_000));
        assert_eq!(parse_graph_time("garbage"), None);
    }

    #[test]
    fn lost_publish_is_matched_by_caption_time_and_ownership() {
        let at = parse_graph_time("2026-11-27T12:00:00+0000").unwrap();
        let recent = vec![
            media("3", "booth #3", "2026-11-27T12:00:05+0000"),
            media("2", "booth #2", "2026-11-27T12:00:01+0000"),
            media("1", "booth #2", "2026-11-26T09:00:00+0000"), // a day old: an earlier post
        ];
        assert_eq!(
            pick_media(recent.clone(), "booth #2", at, &[]).unwrap().id,
            "2"
        );
        assert_eq!(
            pick_media(recent.clone(), "booth #2", at, &["2".into()]),
            None
        );
        assert_eq!(pick_media(recent, "other", at, &[]), None);
    }

    /// Two jobs with the same caption lost their publish answers a minute apart: each finds
    /// its own post, whichever settles first.
    #[test]
    fn same_caption_lost_answers_each_find_their_own_post() {
        let first = parse_graph_time("2026-11-27T12:00:00+0000").unwrap();
        let second = parse_graph_time("2026-11-27T12:01:00+0000").unwrap();
        let recent = vec![
            media("11", "booth", "2026-11-27T12:01:02+0000"),
            media("10", "booth", "2026-11-27T12:00:02+0000"),
        ];
        assert_eq!(
            pick_media(recent.clone(), "booth", second, &[]).unwrap().id,
            "11"
        );
        assert_eq!(
            pick_media(recent.clone(), "booth", first, &[]).unwrap().id,
            "10"
        );
        assert_eq!(
            pick_media(recent.clone(), "booth", first, &["11".into()])
                .unwrap()
                .id,
            "10"
        );
        assert_eq!(
            pick_media(recent, "booth", second, &["10".into()])
                .unwrap()
                .id,
            "11"
        );
    }
}
