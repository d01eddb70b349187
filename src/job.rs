//! A job is one saved photo on its way to Instagram. This module is pure: it says what a job
//! holds, what to do next for it, and what state an outcome leads to. The publisher does the
//! I/O and persists every new state *before* the side effect that depends on it.
//!
//! ```text
//! Captured → Staged → ContainerCreated → Ready → PublishIntent → Published → Done
//!     any of the first five may go to Failed (never once published)
//!
//! Held ──approve──> Captured          (publish.review = "operator" or "guest")
//!   ├──reject───> Rejected             never published
//!   └──guest's time up──> Private      never published
//! ```
//!
//! The review states are outside the publisher's world: not pending, no next action, and no
//! publisher outcome applies to them. Only [`review`] moves a job out of `Held`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Milliseconds since the Unix epoch. Plain integers keep records small and easy to read.
pub type Millis = u64;

/// How far before the recorded publish attempt a media's (or comment's) timestamp may be and
/// still be ours (clocks differ). Used when a lost publish is looked up among recent media, and
/// so also by pruning, which must not make another job's media look unowned.
pub const MEDIA_MATCH_SLACK_MS: Millis = 10 * 60 * 1000;

/// The JPEG a job publishes, as written in the store's blob directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobInfo {
    /// File name inside the blob directory (`<job id>.jpg`).
    pub file: String,
    /// Hex sha256 of the JPEG; also its staging key, so staging is idempotent.
    pub sha256: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// UUIDv7: sorts by creation time, so "oldest first" is key order.
    pub id: Uuid,
    pub created_at_ms: Millis,
    pub blob: BlobInfo,
    pub caption: String,
    pub state: JobState,
    /// Failed attempts at the current step; reset whenever the job makes progress.
    #[serde(default)]
    pub attempts: u32,
    /// How many times Instagram could not fetch or accept the staged media (re-staged each time).
    #[serde(default)]
    pub restages: u32,
    /// The last error seen, in words, for `queue list` and the journal.
    #[serde(default)]
    pub last_error: Option<String>,
    /// What kind of post this job makes. Records written before kinds existed are photos.
    #[serde(default, skip_serializing_if = "PostKind::is_photo")]
    pub kind: PostKind,
    /// The optional first comment, posted once after `Published` with its own intent record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_comment: Option<FirstComment>,
}

/// What a job posts. The states and the publish/verify path are the same for every kind; only
/// how the container is made differs (see [`Job::next_action`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PostKind {
    /// One feed photo (`image_url` + caption).
    #[default]
    Photo,
    /// 2..=10 photos in one post. `Job::blob` is the first item; `items` holds all of them,
    /// each with its child container once made, so a restart reuses every child.
    Carousel { items: Vec<CarouselItem> },
    /// A Story (`media_type=STORIES`, 9:16 JPEG, no caption), made from the photo job `of`.
    Story {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        of: Option<Uuid>,
        /// A feed photo turned into a Story because the feed quota was used up (quota policy
        /// `story`). The photo as it was taken stays on disk next to its Story copy.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        overflow: bool,
    },
    /// A Reel from an operator's MP4, sent with a resumable upload instead of staging.
    Reel,
}

impl PostKind {
    pub fn is_photo(&self) -> bool {
        matches!(self, Self::Photo)
    }

    /// Short name for `queue list` and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Carousel { .. } => "carousel",
            Self::Story { .. } => "story",
            Self::Reel => "reel",
        }
    }
}

/// One photo of a carousel and its child container (`is_carousel_item=true`, no caption).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarouselItem {
    pub blob: BlobInfo,
    /// Persisted as soon as the container exists: an account may make only 400 containers a
    /// day, so a restart polls this one instead of making another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The child container was seen `FINISHED` (the parent may only be made after that).
    #[serde(default)]
    pub finished: bool,
    /// The waiting photo job this item was combined from (quota policy `carousel`). If a
    /// crash leaves that job behind, opening the store removes it: it is posted here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Uuid>,
}

impl CarouselItem {
    pub fn new(blob: BlobInfo) -> Self {
        Self {
            blob,
            container_id: None,
            finished: false,
            from: None,
        }
    }
}

/// Instagram's carousel limits: 2 to 10 children.
pub const CAROUSEL_MIN: usize = 2;
pub const CAROUSEL_MAX: usize = 10;

/// The first comment and where it stands. Kept apart from [`JobState`]: the post is already
/// `Published`, and nothing about the comment may ever take the job back to a publish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstComment {
    pub text: String,
    #[serde(default)]
    pub state: CommentState,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state")]
pub enum CommentState {
    /// Not sent yet. Next: record the intent, then comment.
    #[default]
    Pending,
    /// A comment call may have been sent: look at the media's comments before sending again.
    Intent {
        attempted_at_ms: Millis,
    },
    Posted {
        comment_id: String,
    },
    /// Commenting failed for good (comments off, permission missing); the post stands.
    GaveUp {
        reason: String,
    },
}

impl FirstComment {
    pub fn new(text: String) -> Self {
        Self {
            text,
            state: CommentState::Pending,
        }
    }
}

/// Where a job is. Each variant carries what the next step needs, so a restart can resume
/// from the record alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state")]
pub enum JobState {
    /// The JPEG and this record are durable. Next: stage the JPEG at a public URL.
    Captured,
    /// The JPEG is at the media host under `key`; the URL is asked of the host when needed
    /// (a presigned URL may expire, the key does not).
    Staged { key: String },
    /// Reel: a resumable container exists and its bytes go to `uri`. Next: ask how many bytes
    /// Instagram has and send the rest.
    Uploading {
        key: String,
        container_id: String,
        uri: String,
        created_at_ms: Millis,
    },
    /// Instagram has a container for the media. Next: poll its status.
    ContainerCreated {
        key: String,
        container_id: String,
        created_at_ms: Millis,
    },
    /// The container is `FINISHED` and was not published. Next: record the intent, then publish.
    Ready { key: String, container_id: String },
    /// A publish call may have been sent. Never publish blindly from here: ask the container first.
    PublishIntent {
        key: String,
        container_id: String,
        attempted_at_ms: Millis,
    },
    /// Live on Instagram. Next: local clean-up.
    Published {
        media_id: String,
        permalink: Option<String>,
        published_at_ms: Millis,
    },
    Done {
        media_id: String,
        permalink: Option<String>,
        published_at_ms: Millis,
        done_at_ms: Millis,
    },
    /// Stopped until a person runs `queue retry`. Only entered where the photo is provably not
    /// published, so a retry starts again from the saved JPEG.
    Failed { reason: String },
    /// Saved, waiting for a person's yes (`publish.review` "operator" or "guest"). Nothing of
    /// it is staged or sent until [`review`] approves it. `guest_until_ms`: the end of the
    /// guest's time to press again ("guest" review); `None` waits for the operator.
    Held {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        guest_until_ms: Option<Millis>,
    },
    /// A person said no (`queue reject`, the console). Final: never published.
    Rejected { at_ms: Millis },
    /// The guest did not ask for it to be posted in time. Final: never published.
    Private { at_ms: Millis },
}

/// Container status as Instagram reports it (`status_code`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerStatus {
    InProgress,
    Finished,
    Published,
    Error(String),
    Expired,
}

impl ContainerStatus {
    pub fn parse(status_code: &str, detail: Option<&str>) -> Option<Self> {
        Some(match status_code {
            "IN_PROGRESS" => Self::InProgress,
            "FINISHED" => Self::Finished,
            "PUBLISHED" => Self::Published,
            "EXPIRED" => Self::Expired,
            "ERROR" => Self::Error(detail.unwrap_or("container ERROR").to_string()),
            _ => return None,
        })
    }
}

/// The one thing to do next for a job; the publisher turns it into API calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Stage,
    CreateContainer {
        key: String,
    },
    PollContainer {
        container_id: String,
    },
    /// Persist `PublishIntent` first, then call `media_publish`.
    RecordIntentThenPublish {
        container_id: String,
    },
    /// After a crash, a lost response or any publish error: ask the container before anything.
    VerifyContainer {
        container_id: String,
        attempted_at_ms: Millis,
    },
    Finish,
    Nothing,
    /// Carousel: make the child container for item `index` (`is_carousel_item=true`).
    CreateChild {
        index: usize,
    },
    /// Carousel: poll child `index` until `FINISHED`.
    PollChild {
        index: usize,
        container_id: String,
    },
    /// Persist the comment intent first, then `POST /{media-id}/comments`.
    RecordCommentIntentThenComment {
        media_id: String,
        text: String,
    },
    /// A comment may have been sent: look for it among the media's comments before anything.
    VerifyComment {
        media_id: String,
        text: String,
        attempted_at_ms: Millis,
    },
    /// Reel: the container exists with an upload URI; send the bytes Instagram does not have.
    Upload {
        container_id: String,
        uri: String,
    },
}

/// What the I/O for an [`Action`] found out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Staged {
        key: String,
    },
    ContainerCreated {
        container_id: String,
        at_ms: Millis,
    },
    Status(ContainerStatus),
    IntentRecorded {
        at_ms: Millis,
    },
    /// The media is live: from the publish response, or found by looking it up after a crash.
    Published {
        media_id: String,
        permalink: Option<String>,
        at_ms: Millis,
    },
    /// `media_publish` answered 9007/2207027: the container is not ready, poll again.
    NotReady,
    /// The container is gone (expired, or not found after retries): make a new one.
    ContainerGone,
    /// Instagram could not fetch the staged media (9004/36003-like): stage it again.
    MediaUnfetchable {
        reason: String,
    },
    /// The media or caption itself is invalid; no retry can help.
    Rejected {
        reason: String,
    },
    BlobMissing,
    Finished {
        at_ms: Millis,
    },
    /// Carousel: the child container for item `index` was made.
    ChildCreated {
        index: usize,
        container_id: String,
    },
    /// Carousel: what polling child `index` found.
    ChildStatus {
        index: usize,
        status: ContainerStatus,
    },
    CommentIntentRecorded {
        at_ms: Millis,
    },
    Commented {
        comment_id: String,
    },
    /// Verification found no comment of ours: it was never posted, send it.
    CommentMissing,
    CommentGaveUp {
        reason: String,
    },
    /// Reel: a resumable container was made; the bytes go to `uri`.
    UploadStarted {
        container_id: String,
        uri: String,
        at_ms: Millis,
    },
    /// Reel: Instagram has every byte of the video.
    Uploaded,
}

/// Instagram fetching fails this many times in a row before the job is `Failed`: a flaky
/// staging host looks the same as bad media, so a few re-stages come first.
pub const MAX_RESTAGES: u32 = 3;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("job in state {state} cannot take outcome {outcome}")]
pub struct InvalidTransition {
    pub state: &'static str,
    pub outcome: String,
}

impl JobState {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Captured => "Captured",
            Self::Staged { .. } => "Staged",
            Self::Uploading { .. } => "Uploading",
            Self::ContainerCreated { .. } => "ContainerCreated",
            Self::Ready { .. } => "Ready",
            Self::PublishIntent { .. } => "PublishIntent",
            Self::Published { .. } => "Published",
            Self::Done { .. } => "Done",
            Self::Failed { .. } => "Failed",
            Self::Held { .. } => "Held",
            Self::Rejected { .. } => "Rejected",
            Self::Private { .. } => "Private",
        }
    }

    /// Done and Failed wait for nobody, and the review states wait for a person, never for the
    /// publisher; everything else is the publisher's work.
    pub fn is_pending(&self) -> bool {
        !matches!(
            self,
            Self::Done { .. }
                | Self::Failed { .. }
                | Self::Held { .. }
                | Self::Rejected { .. }
                | Self::Private { .. }
        )
    }

    /// Held, rejected or private: a person has not allowed this photo to be posted.
    pub fn is_unapproved(&self) -> bool {
        matches!(
            self,
            Self::Held { .. } | Self::Rejected { .. } | Self::Private { .. }
        )
    }

    /// Has this job reached Instagram? Used to refuse drops/retries that could post twice.
    pub fn is_published(&self) -> bool {
        matches!(self, Self::Published { .. } | Self::Done { .. })
    }

    pub fn media_id(&self) -> Option<&str> {
        match self {
            Self::Published { media_id, .. } | Self::Done { media_id, .. } => Some(media_id),
            _ => None,
        }
    }

    pub fn permalink(&self) -> Option<&str> {
        match self {
            Self::Published { permalink, .. } | Self::Done { permalink, .. } => {
                permalink.as_deref()
            }
            _ => None,
        }
    }

    pub fn container_id(&self) -> Option<&str> {
        match self {
            Self::ContainerCreated { container_id, .. }
            | Self::Uploading { container_id, .. }
            | Self::Ready { container_id, .. }
            | Self::PublishIntent { container_id, .. } => Some(container_id),
            _ => None,
        }
    }

    /// The staging key, where the job has one.
    fn key(&self) -> Option<&str> {
        match self {
            Self::Staged { key }
            | Self::Uploading { key, .. }
            | Self::ContainerCreated { key, .. }
            | Self::Ready { key, .. }
            | Self::PublishIntent { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The next step for a job in `state`. Pure; the same answer after a restart as before it.
pub fn next_action(state: &JobState) -> Action {
    match state {
        JobState::Captured => Action::Stage,
        JobState::Staged { key } => Action::CreateContainer { key: key.clone() },
        JobState::Uploading {
            container_id, uri, ..
        } => Action::Upload {
            container_id: container_id.clone(),
            uri: uri.clone(),
        },
        JobState::ContainerCreated { container_id, .. } => Action::PollContainer {
            container_id: container_id.clone(),
        },
        JobState::Ready { container_id, .. } => Action::RecordIntentThenPublish {
            container_id: container_id.clone(),
        },
        JobState::PublishIntent {
            container_id,
            attempted_at_ms,
            ..
        } => Action::VerifyContainer {
            container_id: container_id.clone(),
            attempted_at_ms: *attempted_at_ms,
        },
        JobState::Published { .. } => Action::Finish,
        JobState::Done { .. }
        | JobState::Failed { .. }
        | JobState::Held { .. }
        | JobState::Rejected { .. }
        | JobState::Private { .. } => Action::Nothing,
    }
}

/// A person's (or the clock's) decision about a held photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The operator says yes (`queue approve`, the console).
    Approve,
    /// The operator says no (`queue reject`, the console).
    Reject,
    /// The guest pressed again in time ("guest" review).
    GuestConfirm,
    /// The guest's time may be up ("guest" review): checked against `now_ms`.
    GuestTimeout,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    #[error("it was rejected; a rejected photo is never posted")]
    WasRejected,
    #[error("the guest kept it private; a private photo is never posted")]
    IsPrivate,
    #[error("it is already approved and on its way to Instagram (state {0}); `queue drop` it before it is posted, if it still can be")]
    AlreadyApproved(&'static str),
    #[error("it is already on Instagram")]
    AlreadyPublished,
    #[error("the guest's time to press again is over")]
    TooLate,
    #[error("it waits for the operator's approval, not the guest's")]
    NotTheGuests,
}

/// Where a decision takes a job in `state`, at `now_ms`. Pure. `Ok(None)`: nothing changes
/// (the decision was already made: approving an approved photo, rejecting a rejected one, a
/// guest's time that is not up yet). Only `Held` ever moves; every other state refuses or
/// stays, so a decision that comes late (a second click, a retried command after a crash)
/// can never post a photo twice or pull back one that is on its way.
pub fn review(
    state: &JobState,
    decision: Decision,
    now_ms: Millis,
) -> Result<Option<JobState>, ReviewError> {
    use Decision as D;
    use JobState as S;
    match (state, decision) {
        (S::Held { .. }, D::Approve) => Ok(Some(S::Captured)),
        (S::Held { .. }, D::Reject) => Ok(Some(S::Rejected { at_ms: now_ms })),
        (
            S::Held {
                guest_until_ms: Some(until),
            },
            D::GuestConfirm,
        ) if now_ms <= *until => Ok(Some(S::Captured)),
        (
            S::Held {
                guest_until_ms: Some(_),
            },
            D::GuestConfirm,
        ) => Err(ReviewError::TooLate),
        (
            S::Held {
                guest_until_ms: None,
            },
            D::GuestConfirm,
        ) => Err(ReviewError::NotTheGuests),
        (
            S::Held {
                guest_until_ms: Some(until),
            },
            D::GuestTimeout,
        ) if now_ms > *until => Ok(Some(S::Private { at_ms: now_ms })),
        (_, D::GuestTimeout) => Ok(None),
        (S::Rejected { .. } | S::Private { .. }, D::Reject) => Ok(None),
        (S::Rejected { .. }, _) => Err(ReviewError::WasRejected),
        (S::Private { .. }, _) => Err(ReviewError::IsPrivate),
        (s, D::Reject) if s.is_published() => Err(ReviewError::AlreadyPublished),
        (s, D::Reject) => Err(ReviewError::AlreadyApproved(s.name())),
        // Approved before (by a person, or "auto"): nothing to do.
        (_, D::Approve | D::GuestConfirm) => Ok(None),
    }
}

/// The state a new photo is saved in: `Captured` ("auto"), or held for the operator, or held
/// for the guest until `now_ms + guest_secs`.
pub fn initial_state(review: crate::config::Review, now_ms: Millis, guest_secs: u64) -> JobState {
    use crate::config::Review as R;
    match review {
        R::Auto => JobState::Captured,
        R::Operator => JobState::Held {
            guest_until_ms: None,
        },
        R::Guest => JobState::Held {
            guest_until_ms: Some(now_ms + guest_secs * 1000),
        },
    }
}

/// The state an outcome leads to. Pure. Every rule of DESIGN.md's state table lives here.
pub fn apply(state: &JobState, outcome: &Outcome) -> Result<JobState, InvalidTransition> {
    use JobState as S;
    use Outcome as O;
    let invalid = || InvalidTransition {
        state: state.name(),
        outcome: format!("{outcome:?}"),
    };
    // Outcomes that mean the same from every pre-publish state.
    match (state, outcome) {
        (S::Published { .. } | S::Done { .. }, O::Rejected { .. } | O::BlobMissing) => {
            return Err(invalid())
        }
        (s, O::Rejected { reason }) if s.is_pending() => {
            return Ok(S::Failed {
                reason: reason.clone(),
            })
        }
        (s, O::BlobMissing) if s.is_pending() => {
            return Ok(S::Failed {
                reason: "the photo file is missing from the store".into(),
            })
        }
        _ => {}
    }
    let next = match (state, outcome) {
        (S::Captured, O::Staged { key }) => S::Staged { key: key.clone() },

        (
            S::Staged { key },
            O::ContainerCreated {
                container_id,
                at_ms,
            },
        ) => S::ContainerCreated {
            key: key.clone(),
            container_id: container_id.clone(),
            created_at_ms: *at_ms,
        },

        // Reel: the resumable container exists, then every byte has arrived.
        (
            S::Staged { key },
            O::UploadStarted {
                container_id,
                uri,
                at_ms,
            },
        ) => S::Uploading {
            key: key.clone(),
            container_id: container_id.clone(),
            uri: uri.clone(),
            created_at_ms: *at_ms,
        },
        (S::Uploading { .. }, O::Status(ContainerStatus::InProgress)) => state.clone(),
        (
            S::Uploading {
                key,
                container_id,
                created_at_ms,
                ..
            },
            O::Uploaded,
        ) => S::ContainerCreated {
            key: key.clone(),
            container_id: container_id.clone(),
            created_at_ms: *created_at_ms,
        },

        // Polling a container.
        (S::ContainerCreated { .. }, O::Status(ContainerStatus::InProgress)) => state.clone(),
        (
            S::ContainerCreated {
                key, container_id, ..
            },
            O::Status(ContainerStatus::Finished),
        ) => S::Ready {
            key: key.clone(),
            container_id: container_id.clone(),
        },
        // Only a publish of ours can make a container PUBLISHED: treat it as an intent whose
        // media id must be looked up, never as something to publish again.
        (
            S::ContainerCreated {
                key,
                container_id,
                created_at_ms,
            },
            O::Status(ContainerStatus::Published),
        ) => S::PublishIntent {
            key: key.clone(),
            container_id: container_id.clone(),
            attempted_at_ms: *created_at_ms,
        },

        // Recording the intent to publish.
        (S::Ready { key, container_id }, O::IntentRecorded { at_ms }) => S::PublishIntent {
            key: key.clone(),
            container_id: container_id.clone(),
            attempted_at_ms: *at_ms,
        },

        // Verifying a possibly-published container.
        (S::PublishIntent { .. }, O::Status(ContainerStatus::InProgress)) => state.clone(),
        // Not published (Instagram publishes a container at most once): publish it again,
        // through Ready so the intent is recorded afresh first.
        (
            S::PublishIntent {
                key, container_id, ..
            },
            O::Status(ContainerStatus::Finished),
        ) => S::Ready {
            key: key.clone(),
            container_id: container_id.clone(),
        },
        // PUBLISHED must be resolved to a media id by the caller (an `O::Published`); the
        // bare status leaves the intent in place so nothing is ever published again.
        (S::PublishIntent { .. }, O::Status(ContainerStatus::Published)) => state.clone(),
        (S::PublishIntent { .. } | S::Ready { .. }, O::NotReady) => match state {
            S::PublishIntent {
                key,
                container_id,
                attempted_at_ms,
            } => S::ContainerCreated {
                key: key.clone(),
                container_id: container_id.clone(),
                created_at_ms: *attempted_at_ms,
            },
            S::Ready { key, container_id } => S::ContainerCreated {
                key: key.clone(),
                container_id: container_id.clone(),
                created_at_ms: 0,
            },
            _ => unreachable!(),
        },

        (
            S::Ready { .. } | S::PublishIntent { .. } | S::ContainerCreated { .. },
            O::Published {
                media_id,
                permalink,
                at_ms,
            },
        ) => S::Published {
            media_id: media_id.clone(),
            permalink: permalink.clone(),
            published_at_ms: *at_ms,
        },

        // A container that expired or vanished was never published: make a new one.
        (
            S::Uploading { .. }
            | S::ContainerCreated { .. }
            | S::Ready { .. }
            | S::PublishIntent { .. },
            O::Status(ContainerStatus::Expired) | O::ContainerGone,
        ) => S::Staged {
            key: state.key().expect("these states have a key").to_string(),
        },
        (
            S::Uploading { .. }
            | S::ContainerCreated { .. }
            | S::Ready { .. }
            | S::PublishIntent { .. },
            O::Status(ContainerStatus::Error(detail)),
        ) => S::Failed {
            reason: format!("Instagram could not process the photo: {detail}"),
        },

        // Instagram could not fetch the media: stage it again from the saved JPEG.
        (
            S::Staged { .. } | S::ContainerCreated { .. } | S::Ready { .. },
            O::MediaUnfetchable { .. },
        ) => S::Captured,

        (
            S::Published {
                media_id,
                permalink,
                published_at_ms,
            },
            O::Finished { at_ms },
        ) => S::Done {
            media_id: media_id.clone(),
            permalink: permalink.clone(),
            published_at_ms: *published_at_ms,
            done_at_ms: *at_ms,
        },

        _ => return Err(invalid()),
    };
    Ok(next)
}

/// A carousel in `Staged`: make every child container, then see each `FINISHED`, then make
/// the parent. Children are made before any is polled so Instagram processes them together.
fn carousel_action(items: &[CarouselItem], key: &str) -> Action {
    if let Some(index) = items.iter().position(|i| i.container_id.is_none()) {
        return Action::CreateChild { index };
    }
    if let Some((index, item)) = items.iter().enumerate().find(|(_, i)| !i.finished) {
        return Action::PollChild {
            index,
            container_id: item.container_id.clone().expect("every child exists here"),
        };
    }
    Action::CreateContainer {
        key: key.to_string(),
    }
}

impl Job {
    /// The next step for this job: [`next_action`] of its state, except where the kind or the
    /// first comment decide. Pure; the same answer after a restart as before it.
    pub fn next_action(&self) -> Action {
        match (&self.kind, &self.state) {
            (PostKind::Carousel { items }, JobState::Staged { key }) => carousel_action(items, key),
            (_, JobState::Published { media_id, .. }) => match &self.first_comment {
                Some(FirstComment {
                    text,
                    state: CommentState::Pending,
                }) => Action::RecordCommentIntentThenComment {
                    media_id: media_id.clone(),
                    text: text.clone(),
                },
                Some(FirstComment {
                    text,
                    state: CommentState::Intent { attempted_at_ms },
                }) => Action::VerifyComment {
                    media_id: media_id.clone(),
                    text: text.clone(),
                    attempted_at_ms: *attempted_at_ms,
                },
                _ => Action::Finish,
            },
            (_, state) => next_action(state),
        }
    }

    /// The child container ids of a carousel, in order, once all exist.
    pub fn children(&self) -> Option<Vec<String>> {
        match &self.kind {
            PostKind::Carousel { items } => items.iter().map(|i| i.container_id.clone()).collect(),
            _ => None,
        }
    }

    /// Every photo file of the job: one, or each carousel item.
    pub fn blobs(&self) -> Vec<&BlobInfo> {
        match &self.kind {
            PostKind::Carousel { items } if !items.is_empty() => {
                items.iter().map(|i| &i.blob).collect()
            }
            _ => vec![&self.blob],
        }
    }

    /// Applies an outcome to the job: new state, and the bookkeeping that goes with progress.
    pub fn advance(&mut self, outcome: &Outcome) -> Result<(), InvalidTransition> {
        match outcome {
            Outcome::ChildCreated { .. } | Outcome::ChildStatus { .. } => {
                return self.advance_child(outcome)
            }
            Outcome::CommentIntentRecorded { .. }
            | Outcome::Commented { .. }
            | Outcome::CommentMissing
            | Outcome::CommentGaveUp { .. } => return self.advance_comment(outcome),
            _ => {}
        }
        // Making a carousel's parent failed because a child is not ready or is gone: poll every
        // child again (an expired one is then replaced) before the next parent.
        if let (JobState::Staged { .. }, PostKind::Carousel { items }) =
            (&self.state, &mut self.kind)
        {
            if matches!(
                outcome,
                Outcome::NotReady
                    | Outcome::ContainerGone
                    | Outcome::Status(ContainerStatus::Expired)
            ) {
                items.iter_mut().for_each(|i| i.finished = false);
                return Ok(());
            }
        }
        let next = apply(&self.state, outcome)?;
        if let Outcome::MediaUnfetchable { reason } = outcome {
            self.restages += 1;
            if self.restages > MAX_RESTAGES {
                self.state = JobState::Failed {
                    reason: format!(
                        "Instagram could not fetch the photo {} times: {reason}",
                        self.restages
                    ),
                };
                return Ok(());
            }
            self.last_error = Some(reason.clone());
        }
        // The parent container is gone (expired, not found): its children may be too, so each
        // is polled again before a new parent is made; expired ones are then replaced.
        if matches!(next, JobState::Staged { .. }) && self.state.container_id().is_some() {
            if let PostKind::Carousel { items } = &mut self.kind {
                items.iter_mut().for_each(|i| i.finished = false);
            }
        }
        if next != self.state {
            self.attempts = 0;
        }
        if let JobState::Failed { reason } = &next {
            self.last_error = Some(reason.clone());
        }
        self.state = next;
        Ok(())
    }

    /// Carousel children live in the kind; the job stays `Staged` until the parent is made.
    fn advance_child(&mut self, outcome: &Outcome) -> Result<(), InvalidTransition> {
        let invalid = || InvalidTransition {
            state: self.state.name(),
            outcome: format!("{outcome:?}"),
        };
        if !matches!(self.state, JobState::Staged { .. }) {
            return Err(invalid());
        }
        let PostKind::Carousel { items } = &mut self.kind else {
            return Err(invalid());
        };
        let (Outcome::ChildCreated { index, .. } | Outcome::ChildStatus { index, .. }) = outcome
        else {
            return Err(invalid());
        };
        let Some(item) = items.get_mut(*index) else {
            return Err(invalid());
        };
        match outcome {
            Outcome::ChildCreated { container_id, .. } if item.container_id.is_none() => {
                item.container_id = Some(container_id.clone());
                item.finished = false;
            }
            Outcome::ChildStatus { status, .. } if item.container_id.is_some() => match status {
                ContainerStatus::InProgress => return Ok(()),
                ContainerStatus::Finished => item.finished = true,
                // Expired, or used elsewhere: never ours to publish. Make a new child.
                ContainerStatus::Expired | ContainerStatus::Published => {
                    item.container_id = None;
                    item.finished = false;
                }
                ContainerStatus::Error(detail) => {
                    let reason = format!(
                        "Instagram could not process carousel photo {index}: {detail}",
                        index = index + 1
                    );
                    self.last_error = Some(reason.clone());
                    self.state = JobState::Failed { reason };
                    self.attempts = 0;
                    return Ok(());
                }
            },
            _ => return Err(invalid()),
        }
        self.attempts = 0;
        Ok(())
    }

    /// The first comment moves only while the post is `Published`; the post never moves back.
    fn advance_comment(&mut self, outcome: &Outcome) -> Result<(), InvalidTransition> {
        let invalid = || InvalidTransition {
            state: self.state.name(),
            outcome: format!("{outcome:?}"),
        };
        if !matches!(self.state, JobState::Published { .. }) {
            return Err(invalid());
        }
        let Some(comment) = &mut self.first_comment else {
            return Err(invalid());
        };
        use CommentState as C;
        let next = match (&comment.state, outcome) {
            (C::Pending, Outcome::CommentIntentRecorded { at_ms }) => C::Intent {
                attempted_at_ms: *at_ms,
            },
            (C::Intent { .. }, Outcome::Commented { comment_id }) => C::Posted {
                comment_id: comment_id.clone(),
            },
            (C::Intent { .. }, Outcome::CommentMissing) => C::Pending,
            (C::Pending | C::Intent { .. }, Outcome::CommentGaveUp { reason }) => {
                self.last_error = Some(format!("first comment not posted: {reason}"));
                C::GaveUp {
                    reason: reason.clone(),
                }
            }
            _ => return Err(invalid()),
        };
        comment.state = next;
        self.attempts = 0;
        Ok(())
    }

    /// A transient failure of the current step: count it (the backoff grows with it).
    pub fn record_transient(&mut self, error: &str) {
        self.attempts = self.attempts.saturating_add(1);
        self.last_error = Some(error.to_string());
    }

    /// `queue retry`: a failed job starts again from its saved JPEG.
    pub fn retry(&mut self) -> bool {
        if matches!(self.state, JobState::Failed { .. }) {
            self.state = JobState::Captured;
            // A fresh start: the old children may be why it failed.
            if let PostKind::Carousel { items } = &mut self.kind {
                for item in items {
                    item.container_id = None;
                    item.finished = false;
                }
            }
            self.attempts = 0;
            self.restages = 0;
            self.last_error = None;
            true
        } else {
            false
        }
    }
}

/// A photo job for the crate's unit tests, numbered `n`: its id, file and sha256 follow from
/// `n`, so jobs with different numbers never share one (the prune rules tell jobs apart by
/// id). Created at 0, no attempts, no first comment.
#[cfg(test)]
pub(crate) fn test_job(n: u128, state: JobState) -> Job {
    Job {
        id: Uuid::from_u128(n),
        created_at_ms: 0,
        blob: BlobInfo {
            file: format!("{n}.jpg"),
            sha256: format!("{n:064x}"),
            size: 1,
            width: 1080,
            height: 1080,
        },
        caption: "booth".into(),
        state,
        attempts: 0,
        restages: 0,
        last_error: None,
        kind: PostKind::Photo,
        first_comment: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        "abc123".into()
    }
    fn cid() -> String {
        "c-1".into()
    }
    fn created() -> JobState {
        JobState::ContainerCreated {
            key: key(),
            container_id: cid(),
            created_at_ms: 10,
        }
    }
    fn ready() -> JobState {
        JobState::Ready {
            key: key(),
            container_id: cid(),
        }
    }
    fn intent() -> JobState {
        JobState::PublishIntent {
            key: key(),
            container_id: cid(),
            attempted_at_ms: 20,
        }
    }
    fn published() -> JobState {
        JobState::Published {
            media_id: "m-1".into(),
            permalink: Some("https://instagram.com/p/x".into()),
            published_at_ms: 30,
        }
    }
    fn status(s: ContainerStatus) -> Outcome {
        Outcome::Status(s)
    }
    /// These tests follow one job at a time: its number does not matter.
    fn job(state: JobState) -> Job {
        test_job(1, state)
    }

    #[test]
    fn happy_path_walks_every_state_in_order() {
        let steps = [
            (
                Outcome::Staged { key: key() },
                JobState::Staged { key: key() },
            ),
            (
                Outcome::ContainerCreated {
                    container_id: cid(),
                    at_ms: 10,
                },
                created(),
            ),
            (status(ContainerStatus::InProgress), created()),
            (status(ContainerStatus::Finished), ready()),
            (Outcome::IntentRecorded { at_ms: 20 }, intent()),
            (
                Outcome::Published {
                    media_id: "m-1".into(),
                    permalink: Some("https://instagram.com/p/x".into()),
                    at_ms: 30,
                },
                published(),
            ),
        ];
        let mut state = JobState::Captured;
        for (outcome, expected) in steps {
            state = apply(&state, &outcome).unwrap();
            assert_eq!(state, expected);
        }
        let done = apply(&state, &Outcome::Finished { at_ms: 40 }).unwrap();
        assert_eq!(done.name(), "Done");
        assert_eq!(done.media_id(), Some("m-1"));
        assert_eq!(next_action(&done), Action::Nothing);
    }

    #[test]
    fn next_action_for_each_state() {
        assert_eq!(next_action(&JobState::Captured), Action::Stage);
        assert_eq!(
            next_action(&JobState::Staged { key: key() }),
            Action::CreateContainer { key: key() }
        );
        assert_eq!(
            next_action(&created()),
            Action::PollContainer {
                container_id: cid()
            }
        );
        assert_eq!(
            next_action(&ready()),
            Action::RecordIntentThenPublish {
                container_id: cid()
            }
        );
        assert_eq!(
            next_action(&intent()),
            Action::VerifyContainer {
                container_id: cid(),
                attempted_at_ms: 20
            }
        );
        assert_eq!(next_action(&published()), Action::Finish);
        assert_eq!(
            next_action(&JobState::Failed { reason: "x".into() }),
            Action::Nothing
        );
    }

    #[test]
    fn restart_in_publish_intent_never_publishes_blindly() {
        // The only action from PublishIntent is to ask the container.
        assert!(matches!(
            next_action(&intent()),
            Action::VerifyContainer { .. }
        ));
        // PUBLISHED without a media id keeps the intent: the caller must look the media up.
        assert_eq!(
            apply(&intent(), &status(ContainerStatus::Published)).unwrap(),
            intent()
        );
        // The looked-up media id completes it.
        let found = Outcome::Published {
            media_id: "m-9".into(),
            permalink: None,
            at_ms: 50,
        };
        assert_eq!(apply(&intent(), &found).unwrap().media_id(), Some("m-9"));
    }

    #[test]
    fn restart_in_publish_intent_with_finished_container_publishes_again_through_ready() {
        assert_eq!(
            apply(&intent(), &status(ContainerStatus::Finished)).unwrap(),
            ready()
        );
    }

    #[test]
    fn expired_container_goes_back_to_staged_from_every_container_state() {
        for s in [created(), ready(), intent()] {
            assert_eq!(
                apply(&s, &status(ContainerStatus::Expired)).unwrap(),
                JobState::Staged { key: key() },
                "from {s:?}"
            );
            assert_eq!(
                apply(&s, &Outcome::ContainerGone).unwrap(),
                JobState::Staged { key: key() }
            );
        }
    }

    #[test]
    fn container_error_fails_the_job_with_the_reason() {
        for s in [created(), intent()] {
            let next = apply(&s, &status(ContainerStatus::Error("bad aspect".into()))).unwrap();
            assert!(
                matches!(next, JobState::Failed { ref reason } if reason.contains("bad aspect"))
            );
        }
    }

    #[test]
    fn a_published_container_seen_while_polling_becomes_an_intent_not_a_publish() {
        let next = apply(&created(), &status(ContainerStatus::Published)).unwrap();
        assert_eq!(next.name(), "PublishIntent");
        assert!(matches!(next_action(&next), Action::VerifyContainer { .. }));
    }

    #[test]
    fn not_ready_on_publish_goes_back_to_polling() {
        assert_eq!(
            apply(&intent(), &Outcome::NotReady).unwrap().name(),
            "ContainerCreated"
        );
        assert_eq!(
            apply(&ready(), &Outcome::NotReady).unwrap().name(),
            "ContainerCreated"
        );
    }

    #[test]
    fn verifying_an_in_progress_container_keeps_the_intent() {
        assert_eq!(
            apply(&intent(), &status(ContainerStatus::InProgress)).unwrap(),
            intent()
        );
    }

    #[test]
    fn published_jobs_cannot_fail_or_go_back() {
        for outcome in [
            Outcome::Rejected { reason: "x".into() },
            Outcome::BlobMissing,
            Outcome::ContainerGone,
            Outcome::Staged { key: key() },
            status(ContainerStatus::Expired),
        ] {
            assert!(apply(&published(), &outcome).is_err(), "{outcome:?}");
        }
    }

    #[test]
    fn missing_blob_and_rejection_fail_any_pending_job() {
        for s in [
            JobState::Captured,
            JobState::Staged { key: key() },
            created(),
            ready(),
        ] {
            assert_eq!(apply(&s, &Outcome::BlobMissing).unwrap().name(), "Failed");
            assert_eq!(
                apply(&s, &Outcome::Rejected { reason: "r".into() })
                    .unwrap()
                    .name(),
                "Failed"
            );
        }
    }

    #[test]
    fn unfetchable_media_restages_then_fails_after_the_limit() {
        let mut j = job(JobState::Staged { key: key() });
        for n in 1..=MAX_RESTAGES {
            j.advance(&Outcome::MediaUnfetchable {
                reason: "404".into(),
            })
            .unwrap();
            assert_eq!(j.state, JobState::Captured, "restage {n}");
            j.advance(&Outcome::Staged { key: key() }).unwrap();
        }
        j.advance(&Outcome::MediaUnfetchable {
            reason: "404".into(),
        })
        .unwrap();
        assert_eq!(j.state.name(), "Failed");
        assert!(j.last_error.unwrap().contains("404"));
    }

    #[test]
    fn unfetchable_is_not_accepted_after_a_publish_may_have_happened() {
        assert!(apply(&intent(), &Outcome::MediaUnfetchable { reason: "x".into() }).is_err());
    }

    #[test]
    fn invalid_transitions_are_errors() {
        assert!(apply(&JobState::Captured, &Outcome::IntentRecorded { at_ms: 1 }).is_err());
        assert!(apply(
            &JobState::Staged { key: key() },
            &Outcome::Finished { at_ms: 1 }
        )
        .is_err());
        assert!(apply(&ready(), &status(ContainerStatus::Finished)).is_err());
        assert!(apply(
            &JobState::Failed { reason: "x".into() },
            &Outcome::Staged { key: key() }
        )
        .is_err());
    }

    #[test]
    fn attempts_reset_on_progress_and_count_transients() {
        let mut j = job(JobState::Captured);
        j.record_transient("timeout");
        j.record_transient("timeout");
        assert_eq!(j.attempts, 2);
        j.advance(&Outcome::Staged { key: key() }).unwrap();
        assert_eq!(j.attempts, 0);
    }

    #[test]
    fn retry_only_restarts_failed_jobs() {
        let mut j = job(JobState::Failed { reason: "x".into() });
        assert!(j.retry());
        assert_eq!(j.state, JobState::Captured);
        let mut p = job(published());
        assert!(!p.retry());
        assert_eq!(p.state, published());
    }

    #[test]
    fn records_round_trip_through_json() {
        for s in [
            JobState::Captured,
            created(),
            ready(),
            intent(),
            published(),
        ] {
            let j = job(s);
            let text = serde_json::to_string(&j).unwrap();
            assert!(text.len() < 4096, "records stay small");
            assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), j);
        }
    }

    #[test]
    fn container_status_parses_graph_values() {
        assert_eq!(
            ContainerStatus::parse("FINISHED", None),
            Some(ContainerStatus::Finished)
        );
        assert_eq!(
            ContainerStatus::parse("EXPIRED", None),
            Some(ContainerStatus::Expired)
        );
        assert_eq!(
            ContainerStatus::parse("ERROR", Some("2207009")),
            Some(ContainerStatus::Error("2207009".into()))
        );
        assert_eq!(ContainerStatus::parse("weird", None), None);
    }

    // --- carousels ---

    fn blob(n: u8) -> BlobInfo {
        BlobInfo {
            file: format!("x-{n}.jpg"),
            sha256: format!("sha{n}"),
            size: 1,
            width: 1080,
            height: 1350,
        }
    }

    fn carousel(n: u8) -> Job {
        let items: Vec<CarouselItem> = (1..=n).map(|i| CarouselItem::new(blob(i))).collect();
        let mut j = job(JobState::Staged { key: "sha1".into() });
        j.blob = blob(1);
        j.kind = PostKind::Carousel { items };
        j
    }

    fn child_created(index: usize) -> Outcome {
        Outcome::ChildCreated {
            index,
            container_id: format!("child-{index}"),
        }
    }

    fn child_status(index: usize, s: ContainerStatus) -> Outcome {
        Outcome::ChildStatus { index, status: s }
    }

    #[test]
    fn carousel_makes_every_child_then_polls_each_then_makes_the_parent() {
        let mut j = carousel(3);
        for i in 0..3 {
            assert_eq!(j.next_action(), Action::CreateChild { index: i });
            j.advance(&child_created(i)).unwrap();
        }
        assert_eq!(
            j.next_action(),
            Action::PollChild {
                index: 0,
                container_id: "child-0".into()
            }
        );
        j.advance(&child_status(0, ContainerStatus::InProgress))
            .unwrap();
        assert!(matches!(
            j.next_action(),
            Action::PollChild { index: 0, .. }
        ));
        for i in 0..3 {
            j.advance(&child_status(i, ContainerStatus::Finished))
                .unwrap();
        }
        assert_eq!(
            j.next_action(),
            Action::CreateContainer { key: "sha1".into() }
        );
        assert_eq!(j.children().unwrap(), vec!["child-0", "child-1", "child-2"]);
        assert_eq!(j.state.name(), "Staged");
        // The parent then walks the ordinary path.
        j.advance(&Outcome::ContainerCreated {
            container_id: "parent".into(),
            at_ms: 5,
        })
        .unwrap();
        assert!(matches!(j.next_action(), Action::PollContainer { .. }));
    }

    #[test]
    fn a_restarted_carousel_reuses_the_children_it_recorded() {
        let mut j = carousel(3);
        j.advance(&child_created(0)).unwrap();
        j.advance(&child_created(1)).unwrap();
        // The record round-trips (a restart reads it back) and asks only for the third child.
        let back: Job = serde_json::from_str(&serde_json::to_string(&j).unwrap()).unwrap();
        assert_eq!(back, j);
        assert_eq!(back.next_action(), Action::CreateChild { index: 2 });
        // A second ChildCreated for a child that exists is refused: never two containers.
        assert!(j.clone().advance(&child_created(0)).is_err());
    }

    #[test]
    fn an_expired_child_is_replaced_and_an_errored_child_fails_the_job() {
        let mut j = carousel(2);
        j.advance(&child_created(0)).unwrap();
        j.advance(&child_created(1)).unwrap();
        j.advance(&child_status(0, ContainerStatus::Expired))
            .unwrap();
        assert_eq!(j.next_action(), Action::CreateChild { index: 0 });
        let mut failed = j.clone();
        failed
            .advance(&child_status(1, ContainerStatus::Error("bad".into())))
            .unwrap();
        assert_eq!(failed.state.name(), "Failed");
        assert!(failed.last_error.unwrap().contains("carousel photo 2"));
        // A retry starts the children afresh.
        let mut retried = job(JobState::Failed { reason: "x".into() });
        retried.kind = j.kind.clone();
        assert!(retried.retry());
        retried
            .advance(&Outcome::Staged { key: "k".into() })
            .unwrap();
        assert_eq!(retried.next_action(), Action::CreateChild { index: 0 });
    }

    #[test]
    fn child_outcomes_are_refused_outside_a_staged_carousel() {
        let mut photo = job(JobState::Staged { key: key() });
        assert!(photo.advance(&child_created(0)).is_err());
        let mut j = carousel(2);
        assert!(j.advance(&child_created(5)).is_err(), "no such item");
        assert!(
            j.advance(&child_status(0, ContainerStatus::Finished))
                .is_err(),
            "status of a child that does not exist"
        );
        j.state = created();
        assert!(j.advance(&child_created(0)).is_err());
    }

    #[test]
    fn a_gone_parent_polls_its_children_again_before_a_new_parent() {
        let mut j = carousel(2);
        for i in 0..2 {
            j.advance(&child_created(i)).unwrap();
            j.advance(&child_status(i, ContainerStatus::Finished))
                .unwrap();
        }
        j.advance(&Outcome::ContainerCreated {
            container_id: "parent".into(),
            at_ms: 1,
        })
        .unwrap();
        j.advance(&status(ContainerStatus::Expired)).unwrap();
        assert_eq!(j.state.name(), "Staged");
        assert!(matches!(
            j.next_action(),
            Action::PollChild { index: 0, .. }
        ));
    }

    #[test]
    fn a_parent_refused_for_a_gone_child_polls_the_children_again() {
        let mut j = carousel(2);
        for i in 0..2 {
            j.advance(&child_created(i)).unwrap();
            j.advance(&child_status(i, ContainerStatus::Finished))
                .unwrap();
        }
        j.advance(&Outcome::ContainerGone).unwrap();
        assert_eq!(j.state.name(), "Staged");
        assert!(matches!(
            j.next_action(),
            Action::PollChild { index: 0, .. }
        ));
        // A photo in Staged still refuses it.
        assert!(job(JobState::Staged { key: key() })
            .advance(&Outcome::ContainerGone)
            .is_err());
    }

    #[test]
    fn old_records_without_a_kind_are_photos() {
        let j = job(JobState::Captured);
        let mut v = serde_json::to_value(&j).unwrap();
        assert!(v.get("kind").is_none(), "photos keep the old record shape");
        v.as_object_mut().unwrap().remove("first_comment");
        let back: Job = serde_json::from_value(v).unwrap();
        assert_eq!(back.kind, PostKind::Photo);
        assert_eq!(back.first_comment, None);
    }

    // --- first comment ---

    fn commented(state: CommentState) -> Job {
        let mut j = job(published());
        j.first_comment = Some(FirstComment {
            text: "#booth #party".into(),
            state,
        });
        j
    }

    #[test]
    fn first_comment_records_its_intent_then_comments_then_finishes() {
        let mut j = commented(CommentState::Pending);
        assert_eq!(
            j.next_action(),
            Action::RecordCommentIntentThenComment {
                media_id: "m-1".into(),
                text: "#booth #party".into()
            }
        );
        j.advance(&Outcome::CommentIntentRecorded { at_ms: 7 })
            .unwrap();
        assert_eq!(
            j.next_action(),
            Action::VerifyComment {
                media_id: "m-1".into(),
                text: "#booth #party".into(),
                attempted_at_ms: 7
            }
        );
        j.advance(&Outcome::Commented {
            comment_id: "c9".into(),
        })
        .unwrap();
        assert_eq!(j.next_action(), Action::Finish);
        assert_eq!(j.state, published(), "the post never moves for a comment");
    }

    #[test]
    fn a_comment_found_missing_is_sent_again_and_one_that_fails_is_given_up() {
        let mut j = commented(CommentState::Intent { attempted_at_ms: 7 });
        j.advance(&Outcome::CommentMissing).unwrap();
        assert!(matches!(
            j.next_action(),
            Action::RecordCommentIntentThenComment { .. }
        ));
        j.advance(&Outcome::CommentGaveUp {
            reason: "comments are off".into(),
        })
        .unwrap();
        assert_eq!(j.next_action(), Action::Finish);
        assert_eq!(j.state, published());
        assert!(j.last_error.unwrap().contains("comments are off"));
    }

    #[test]
    fn comment_outcomes_need_a_published_post_and_a_comment() {
        let mut j = commented(CommentState::Pending);
        j.state = intent();
        assert!(j
            .advance(&Outcome::CommentIntentRecorded { at_ms: 1 })
            .is_err());
        let mut none = job(published());
        assert!(none
            .advance(&Outcome::CommentIntentRecorded { at_ms: 1 })
            .is_err());
        assert_eq!(none.next_action(), Action::Finish);
        // Posted is final: no second comment.
        let mut posted = commented(CommentState::Posted {
            comment_id: "c".into(),
        });
        assert!(posted
            .advance(&Outcome::CommentIntentRecorded { at_ms: 1 })
            .is_err());
        assert!(posted.advance(&Outcome::CommentMissing).is_err());
    }

    // --- reels ---

    #[test]
    fn a_reel_uploads_into_its_container_then_walks_the_ordinary_path() {
        let staged = JobState::Staged { key: key() };
        let uploading = apply(
            &staged,
            &Outcome::UploadStarted {
                container_id: cid(),
                uri: "http://up/x".into(),
                at_ms: 3,
            },
        )
        .unwrap();
        assert_eq!(
            next_action(&uploading),
            Action::Upload {
                container_id: cid(),
                uri: "http://up/x".into()
            }
        );
        assert_eq!(
            apply(&uploading, &status(ContainerStatus::InProgress)).unwrap(),
            uploading
        );
        let created = apply(&uploading, &Outcome::Uploaded).unwrap();
        assert_eq!(
            created,
            JobState::ContainerCreated {
                key: key(),
                container_id: cid(),
                created_at_ms: 3
            }
        );
        assert_eq!(apply(&uploading, &Outcome::ContainerGone).unwrap(), staged);
        assert_eq!(
            apply(&uploading, &status(ContainerStatus::Error("x".into())))
                .unwrap()
                .name(),
            "Failed"
        );
        assert!(apply(&uploading, &Outcome::IntentRecorded { at_ms: 1 }).is_err());
        assert!(apply(&created, &Outcome::Uploaded).is_err());
    }

    // --- review before posting ---

    fn held(guest_until_ms: Option<Millis>) -> JobState {
        JobState::Held { guest_until_ms }
    }

    /// Every outcome the publisher can produce, for "none of them moves a review state".
    fn every_outcome() -> Vec<Outcome> {
        vec![
            Outcome::Staged { key: key() },
            Outcome::ContainerCreated {
                container_id: cid(),
                at_ms: 1,
            },
            status(ContainerStatus::InProgress),
            status(ContainerStatus::Finished),
            status(ContainerStatus::Published),
            status(ContainerStatus::Expired),
            status(ContainerStatus::Error("x".into())),
            Outcome::IntentRecorded { at_ms: 1 },
            Outcome::Published {
                media_id: "m".into(),
                permalink: None,
                at_ms: 1,
            },
            Outcome::NotReady,
            Outcome::ContainerGone,
            Outcome::MediaUnfetchable { reason: "x".into() },
            Outcome::Rejected { reason: "x".into() },
            Outcome::BlobMissing,
            Outcome::Finished { at_ms: 1 },
            child_created(0),
            child_status(0, ContainerStatus::Finished),
            Outcome::CommentIntentRecorded { at_ms: 1 },
            Outcome::Commented {
                comment_id: "c".into(),
            },
            Outcome::CommentMissing,
            Outcome::CommentGaveUp { reason: "x".into() },
            Outcome::UploadStarted {
                container_id: cid(),
                uri: "u".into(),
                at_ms: 1,
            },
            Outcome::Uploaded,
        ]
    }

    #[test]
    fn review_states_are_never_the_publishers_work() {
        for state in [
            held(None),
            held(Some(5)),
            JobState::Rejected { at_ms: 1 },
            JobState::Private { at_ms: 1 },
        ] {
            assert!(!state.is_pending(), "{state:?}");
            assert!(state.is_unapproved());
            assert!(!state.is_published());
            assert_eq!(next_action(&state), Action::Nothing);
            for kind in [PostKind::Photo, carousel(2).kind] {
                let mut j = job(state.clone());
                j.kind = kind;
                assert_eq!(j.next_action(), Action::Nothing);
                for outcome in every_outcome() {
                    let mut moved = j.clone();
                    assert!(
                        moved.advance(&outcome).is_err(),
                        "{state:?} took {outcome:?}"
                    );
                    assert_eq!(moved, j, "a refused outcome changes nothing");
                }
                // `queue retry` is for failed jobs only.
                assert!(!j.clone().retry());
            }
        }
    }

    #[test]
    fn the_operator_approves_or_rejects_a_held_photo() {
        assert_eq!(
            review(&held(None), Decision::Approve, 9),
            Ok(Some(JobState::Captured))
        );
        assert_eq!(
            review(&held(None), Decision::Reject, 9),
            Ok(Some(JobState::Rejected { at_ms: 9 }))
        );
        // The operator may decide for a guest too.
        assert_eq!(
            review(&held(Some(5)), Decision::Approve, 9),
            Ok(Some(JobState::Captured))
        );
        // The guest cannot approve what waits for the operator.
        assert_eq!(
            review(&held(None), Decision::GuestConfirm, 1),
            Err(ReviewError::NotTheGuests)
        );
        // The clock never moves an operator's hold.
        assert_eq!(
            review(&held(None), Decision::GuestTimeout, u64::MAX),
            Ok(None)
        );
    }

    #[test]
    fn the_guest_confirms_in_time_or_the_photo_stays_private() {
        let h = held(Some(100));
        assert_eq!(
            review(&h, Decision::GuestConfirm, 100),
            Ok(Some(JobState::Captured))
        );
        assert_eq!(
            review(&h, Decision::GuestConfirm, 101),
            Err(ReviewError::TooLate)
        );
        assert_eq!(review(&h, Decision::GuestTimeout, 100), Ok(None), "not yet");
        assert_eq!(
            review(&h, Decision::GuestTimeout, 101),
            Ok(Some(JobState::Private { at_ms: 101 }))
        );
    }

    #[test]
    fn rejected_and_private_are_final() {
        for (state, error) in [
            (JobState::Rejected { at_ms: 1 }, ReviewError::WasRejected),
            (JobState::Private { at_ms: 1 }, ReviewError::IsPrivate),
        ] {
            assert_eq!(review(&state, Decision::Approve, 2), Err(error.clone()));
            assert_eq!(review(&state, Decision::GuestConfirm, 2), Err(error));
            assert_eq!(review(&state, Decision::Reject, 2), Ok(None));
            assert_eq!(review(&state, Decision::GuestTimeout, 2), Ok(None));
        }
    }

    #[test]
    fn a_late_decision_never_pulls_back_or_reposts_an_approved_photo() {
        for state in [
            JobState::Captured,
            JobState::Staged { key: key() },
            created(),
            ready(),
            intent(),
            JobState::Failed { reason: "x".into() },
        ] {
            assert_eq!(review(&state, Decision::Approve, 1), Ok(None), "{state:?}");
            assert_eq!(review(&state, Decision::GuestConfirm, 1), Ok(None));
            assert_eq!(
                review(&state, Decision::Reject, 1),
                Err(ReviewError::AlreadyApproved(state.name()))
            );
        }
        assert_eq!(
            review(&published(), Decision::Reject, 1),
            Err(ReviewError::AlreadyPublished)
        );
    }

    /// Every sequence of up to four decisions at any of a few times: a photo leaves the review
    /// states only through an approval (or a guest's confirmation in time), and never after a
    /// rejection or the guest's time running out.
    #[test]
    fn every_decision_sequence_keeps_the_review_promise() {
        let decisions = [
            Decision::Approve,
            Decision::Reject,
            Decision::GuestConfirm,
            Decision::GuestTimeout,
        ];
        let times = [50, 100, 150];
        let steps: Vec<(Decision, Millis)> = decisions
            .iter()
            .flat_map(|d| times.iter().map(move |t| (*d, *t)))
            .collect();
        let mut checked = 0;
        for start in [held(None), held(Some(100))] {
            let mut paths: Vec<Vec<(Decision, Millis)>> = vec![vec![]];
            for _ in 0..4 {
                paths = paths
                    .into_iter()
                    .flat_map(|p| {
                        steps.iter().map(move |s| {
                            let mut q = p.clone();
                            q.push(*s);
                            q
                        })
                    })
                    .collect();
                for path in &paths {
                    let mut state = start.clone();
                    let mut closed = false;
                    for (decision, at) in path {
                        let before = state.clone();
                        if let Ok(Some(next)) = review(&state, *decision, *at) {
                            state = next;
                        }
                        if matches!(before, JobState::Held { .. }) && state == JobState::Captured {
                            assert!(!closed);
                            let in_time = match (decision, &before) {
                                (Decision::Approve, _) => true,
                                (
                                    Decision::GuestConfirm,
                                    JobState::Held {
                                        guest_until_ms: Some(u),
                                    },
                                ) => at <= u,
                                _ => false,
                            };
                            assert!(in_time, "{path:?} from {start:?}");
                        }
                        if matches!(state, JobState::Rejected { .. } | JobState::Private { .. }) {
                            closed = true;
                        }
                        if closed {
                            assert!(state.is_unapproved(), "{path:?} reopened");
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 40_000, "{checked}");
    }

    #[test]
    fn review_states_round_trip_and_held_keeps_a_small_shape() {
        for state in [
            held(None),
            held(Some(7)),
            JobState::Rejected { at_ms: 1 },
            JobState::Private { at_ms: 2 },
        ] {
            let j = job(state);
            let text = serde_json::to_string(&j).unwrap();
            assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), j);
        }
        let text = serde_json::to_string(&held(None)).unwrap();
        assert_eq!(text, r#"{"state":"Held"}"#);
    }

    #[test]
    fn new_photos_start_held_only_under_review() {
        use crate::config::Review;
        assert_eq!(initial_state(Review::Auto, 5, 10), JobState::Captured);
        assert_eq!(initial_state(Review::Operator, 5, 10), held(None));
        assert_eq!(initial_state(Review::Guest, 5, 10), held(Some(10_005)));
    }
}
