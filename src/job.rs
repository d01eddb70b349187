//! A job is one saved photo on its way to Instagram. This module is pure: it says what a job
//! holds, what to do next for it, and what state an outcome leads to. The publisher does the
//! I/O and persists every new state *before* the side effect that depends on it.
//!
//! ```text
//! Captured → Staged → ContainerCreated → Ready → PublishIntent → Published → Done
//!     any of the first five may go to Failed (never once published)
//! ```

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Milliseconds since the Unix epoch. Plain integers keep records small and easy to read.
pub type Millis = u64;

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
            Self::ContainerCreated { .. } => "ContainerCreated",
            Self::Ready { .. } => "Ready",
            Self::PublishIntent { .. } => "PublishIntent",
            Self::Published { .. } => "Published",
            Self::Done { .. } => "Done",
            Self::Failed { .. } => "Failed",
        }
    }

    /// Done and Failed wait for nobody; everything else is the publisher's work.
    pub fn is_pending(&self) -> bool {
        !matches!(self, Self::Done { .. } | Self::Failed { .. })
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
            | Self::Ready { container_id, .. }
            | Self::PublishIntent { container_id, .. } => Some(container_id),
            _ => None,
        }
    }

    /// The staging key, where the job has one.
    fn key(&self) -> Option<&str> {
        match self {
            Self::Staged { key }
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
        JobState::Done { .. } | JobState::Failed { .. } => Action::Nothing,
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
            S::ContainerCreated { .. } | S::Ready { .. } | S::PublishIntent { .. },
            O::Status(ContainerStatus::Expired) | O::ContainerGone,
        ) => S::Staged {
            key: state.key().expect("these states have a key").to_string(),
        },
        (
            S::ContainerCreated { .. } | S::Ready { .. } | S::PublishIntent { .. },
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

impl Job {
    /// Applies an outcome to the job: new state, and the bookkeeping that goes with progress.
    pub fn advance(&mut self, outcome: &Outcome) -> Result<(), InvalidTransition> {
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
        if next != self.state {
            self.attempts = 0;
        }
        if let JobState::Failed { reason } = &next {
            self.last_error = Some(reason.clone());
        }
        self.state = next;
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
            self.attempts = 0;
            self.restages = 0;
            self.last_error = None;
            true
        } else {
            false
        }
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
    fn job(state: JobState) -> Job {
        Job {
            id: Uuid::now_v7(),
            created_at_ms: 1,
            blob: BlobInfo {
                file: "x.jpg".into(),
                sha256: key(),
                size: 1,
                width: 1080,
                height: 1080,
            },
            caption: "hi".into(),
            state,
            attempts: 0,
            restages: 0,
            last_error: None,
        }
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
}
