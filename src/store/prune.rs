//! Which `Done` jobs may be pruned: a booth that runs for days keeps its queue and its photo
//! folder bounded by letting go of jobs that were published and finished more than
//! `store.keep_done_days` ago. Pure: the store does the I/O ([`super::Store::prune_done`]).

use crate::job::{CommentState, Job, JobState, Millis, PostKind, MEDIA_MATCH_SLACK_MS};
use uuid::Uuid;

pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// The jobs to prune now, oldest first. A job is prunable only when all of these hold:
///
/// - it is `Done` (published, cleaned up) and was done at least `keep_done_ms` before `now_ms`
///   (a `done_at` in the future, a clock set back, is age 0: kept);
/// - its first comment, if any, is posted or given up (never pending or in flight);
/// - no pending Story job was made from it (`Story { of }` still on its way);
/// - no job waits in `PublishIntent` whose verification could match this job's media: a lost
///   publish is found among recent media *not owned by another job*, posted no earlier than
///   the attempt minus [`MEDIA_MATCH_SLACK_MS`]. Pruned, this job's media would look unowned
///   and could be taken for the other job's post, which would then never be posted.
///
/// `keep_done_ms = None` keeps everything (`store.keep_done_days = 0`). `Failed` jobs are
/// never pruned: a person decides about them.
pub fn prunable(jobs: &[Job], now_ms: Millis, keep_done_ms: Option<Millis>) -> Vec<Uuid> {
    let Some(keep) = keep_done_ms else {
        return Vec::new();
    };
    let story_pending_of = |id: Uuid| {
        jobs.iter().any(|j| {
            j.state.is_pending()
                && matches!(j.kind, PostKind::Story { of: Some(of), .. } if of == id)
        })
    };
    let earliest_intent = jobs
        .iter()
        .filter_map(|j| match j.state {
            JobState::PublishIntent {
                attempted_at_ms, ..
            } => Some(attempted_at_ms),
            _ => None,
        })
        .min();
    jobs.iter()
        .filter(|job| {
            let JobState::Done {
                done_at_ms,
                published_at_ms,
                ..
            } = job.state
            else {
                return false;
            };
            let old_enough = now_ms.saturating_sub(done_at_ms) >= keep;
            let comment_settled = job.first_comment.as_ref().is_none_or(|c| {
                matches!(
                    c.state,
                    CommentState::Posted { .. } | CommentState::GaveUp { .. }
                )
            });
            let could_be_matched = earliest_intent
                .is_some_and(|attempt| attempt <= published_at_ms + MEDIA_MATCH_SLACK_MS);
            old_enough && comment_settled && !could_be_matched && !story_pending_of(job.id)
        })
        .map(|job| job.id)
        .collect()
}

/// `store.keep_done_days` as milliseconds; 0 means keep forever.
pub fn keep_done_ms(keep_done_days: u32) -> Option<Millis> {
    (keep_done_days > 0).then(|| u64::from(keep_done_days) * DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{test_job, FirstComment};

    const NOW: Millis = 100 * DAY_MS;
    const KEEP: Option<Millis> = Some(30 * DAY_MS);

    fn done(n: u128, done_at_ms: Millis) -> Job {
        test_job(
            n,
            JobState::Done {
                media_id: format!("m{n}"),
                permalink: None,
                published_at_ms: done_at_ms - 1000,
                done_at_ms,
            },
        )
    }

    fn ids(ns: &[u128]) -> Vec<Uuid> {
        ns.iter().map(|n| Uuid::from_u128(*n)).collect()
    }

    #[test]
    fn done_jobs_older_than_the_keep_time_are_pruned_and_nothing_else() {
        let jobs = vec![
            done(1, NOW - 31 * DAY_MS),
            done(2, NOW - 30 * DAY_MS), // exactly the keep time: old enough
            done(3, NOW - 30 * DAY_MS + 1),
            test_job(4, JobState::Failed { reason: "x".into() }),
            test_job(5, JobState::Captured),
            test_job(
                6,
                JobState::Published {
                    media_id: "m6".into(),
                    permalink: None,
                    published_at_ms: 1,
                },
            ),
        ];
        assert_eq!(prunable(&jobs, NOW, KEEP), ids(&[1, 2]));
    }

    #[test]
    fn zero_days_keeps_everything_and_a_future_done_time_is_not_old() {
        let jobs = vec![done(1, DAY_MS), done(2, NOW + DAY_MS)];
        assert_eq!(prunable(&jobs, NOW, keep_done_ms(0)), ids(&[]));
        assert_eq!(prunable(&jobs, NOW, keep_done_ms(1)), ids(&[1]));
    }

    #[test]
    fn a_first_comment_not_settled_keeps_the_job() {
        let with = |n, state| {
            let mut j = done(n, DAY_MS);
            j.first_comment = Some(FirstComment {
                text: "hi".into(),
                state,
            });
            j
        };
        let jobs = vec![
            with(1, CommentState::Pending),
            with(2, CommentState::Intent { attempted_at_ms: 5 }),
            with(
                3,
                CommentState::Posted {
                    comment_id: "c".into(),
                },
            ),
            with(4, CommentState::GaveUp { reason: "x".into() }),
        ];
        assert_eq!(prunable(&jobs, NOW, KEEP), ids(&[3, 4]));
    }

    #[test]
    fn a_photo_whose_story_is_still_on_its_way_is_kept() {
        let mut story = test_job(9, JobState::Captured);
        story.kind = PostKind::Story {
            of: Some(Uuid::from_u128(1)),
            overflow: false,
        };
        let mut jobs = vec![done(1, DAY_MS), done(2, DAY_MS), story.clone()];
        assert_eq!(prunable(&jobs, NOW, KEEP), ids(&[2]));
        // Once the story is done too, both go (the story by its own age).
        jobs[2] = Job {
            kind: story.kind,
            ..done(9, DAY_MS)
        };
        assert_eq!(prunable(&jobs, NOW, KEEP), ids(&[1, 2, 9]));
    }

    #[test]
    fn a_publish_being_verified_keeps_media_it_could_be_taken_for() {
        let intent = |attempted_at_ms| {
            test_job(
                7,
                JobState::PublishIntent {
                    key: "k".into(),
                    container_id: "c".into(),
                    attempted_at_ms,
                },
            )
        };
        let old = done(1, 2 * DAY_MS); // published at 2 days - 1 s
        let older = done(2, DAY_MS);
        // An attempt from before job 1 was published (or within the slack after): job 1's
        // media would be a candidate, so it stays; job 2 was published too early to match.
        let attempt = 2 * DAY_MS - 1000 + MEDIA_MATCH_SLACK_MS;
        let jobs = vec![older.clone(), old.clone(), intent(attempt)];
        assert_eq!(prunable(&jobs, NOW, KEEP), ids(&[2]));
        let jobs = vec![older, old, intent(attempt + 1)];
        assert_eq!(prunable(&jobs, NOW, KEEP), ids(&[2, 1]));
    }
}
