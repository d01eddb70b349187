//! Review before posting (`publish.review`): the operator's approve and reject, the guest's
//! confirmation, and the guest's time running out. The rules are [`job::review`] (pure); this
//! module reads the job, applies the decision and persists it, for the control socket, the
//! offline `queue` commands, the console and the trigger sequence alike.

use crate::job::{self, Decision, Job, JobState, PostKind, ReviewError};
use crate::store::{Store, StoreError};
use std::sync::Mutex;
use uuid::Uuid;

/// Decisions are read-decide-write; two at once about the same photo (an approve and a reject
/// clicked together, the guest's press at the last moment against the timer) must not both
/// read `Held`. The publisher never writes a held job, so this lock is the only one needed:
/// a job leaves `Held` only under it, and nothing but the publisher touches it after that.
static DECIDING: Mutex<()> = Mutex::new(());

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("job {id}: {why}")]
    Refused { id: Uuid, why: ReviewError },
}

/// What a decision did: the job as it now is, and whether it changed (false: it was already
/// decided that way).
#[derive(Debug)]
pub struct Decided {
    pub job: Job,
    pub changed: bool,
}

/// Applies `decision` to job `id` (and to the Story copy made of it at the same time, which
/// was held with it). Durable when it returns.
pub fn decide(store: &Store, id: Uuid, decision: Decision) -> Result<Decided, DecideError> {
    let _one_at_a_time = DECIDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut job = store.get(id)?;
    let now = store.now_ms();
    let next =
        job::review(&job.state, decision, now).map_err(|why| DecideError::Refused { id, why })?;
    let Some(next) = next else {
        return Ok(Decided {
            job,
            changed: false,
        });
    };
    let copies: Vec<Job> = store
        .jobs()?
        .into_iter()
        .filter(|j| matches!(j.kind, PostKind::Story { of: Some(of), .. } if of == id))
        .filter(|j| matches!(j.state, JobState::Held { .. }))
        .collect();
    job.state = next.clone();
    job.attempts = 0;
    store.record_review(&job)?;
    tracing::info!(job = %id, state = job.state.name(), ?decision, "review decision recorded");
    for mut copy in copies {
        copy.state = next.clone();
        store.record_review(&copy)?;
        tracing::info!(job = %copy.id, photo = %id, state = copy.state.name(), "the Story copy follows its photo");
    }
    Ok(Decided { job, changed: true })
}

/// "guest" review: every held photo whose guest's time is up becomes private; with
/// `keep_private` off, private photos are then deleted (record and files). Returns the ids
/// made private now. Safe to kill anywhere: `Private` is durable before anything is deleted,
/// and a later sweep deletes what an earlier one did not.
pub fn expire_guests(store: &Store, keep_private: bool) -> Result<Vec<Uuid>, DecideError> {
    let mut made_private = Vec::new();
    for job in store.jobs()? {
        match &job.state {
            JobState::Held {
                guest_until_ms: Some(until),
            } if store.now_ms() > *until => {
                // Through `decide`: the guest's press may have won the race meanwhile.
                let decided = decide(store, job.id, Decision::GuestTimeout)?;
                if decided.changed {
                    tracing::info!(job = %job.id, "the guest did not ask to post it: kept private");
                    made_private.push(job.id);
                    if !keep_private {
                        store.drop_job(job.id)?;
                        tracing::info!(job = %job.id, "private photo deleted (publish.keep_private = false)");
                    }
                }
            }
            JobState::Private { .. } if !keep_private => {
                store.drop_job(job.id)?;
                tracing::info!(job = %job.id, "private photo deleted (publish.keep_private = false)");
            }
            _ => {}
        }
    }
    Ok(made_private)
}

/// The earliest end of a guest's time among held photos, if any wait for a guest.
pub fn next_guest_deadline(jobs: &[Job]) -> Option<job::Millis> {
    jobs.iter()
        .filter_map(|j| match j.state {
            JobState::Held {
                guest_until_ms: Some(until),
            } => Some(until),
            _ => None,
        })
        .min()
}

/// Runs [`expire_guests`] as each guest's time ends, until shutdown (and once at start, for
/// the photos whose time ended while the booth was down). It looks at least every second, so
/// a photo saved meanwhile is never missed.
pub async fn run_guest_timer(
    store: Store,
    keep_private: bool,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use std::time::Duration;
    loop {
        let result = store
            .blocking(move |s| {
                expire_guests(s, keep_private)?;
                Ok::<_, DecideError>(next_guest_deadline(&s.jobs()?).map(|d| (d, s.now_ms())))
            })
            .await;
        let wait = match result {
            Ok(Some((deadline, now))) if deadline > now + 1000 => Duration::from_secs(1),
            Ok(Some((deadline, now))) => Duration::from_millis(deadline.saturating_sub(now) + 1),
            Ok(None) => Duration::from_secs(1),
            Err(e) => {
                tracing::error!(error = %e, "cannot check the guests' time to post; trying again shortly");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
