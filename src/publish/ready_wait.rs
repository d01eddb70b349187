//! How long to wait after creating a container before asking for its status.
//!
//! Asking at once almost always answers `IN_PROGRESS` (Instagram fetches and checks the image
//! first), which costs a Graph call and a slice of the hourly call budget for nothing. So the
//! publisher waits about as long as containers have recently needed, learned from what it saw:
//! a container still in progress at the first look teaches the time it really took; one
//! already finished at the first look lets the wait shrink a little, so a slow spell is
//! forgotten. The learning is pure ([`next_estimate`]); [`ReadyWait`] holds it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Never wait longer than this before a look, whatever was seen.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// First looks that found the container finished, in a row, before the wait is tried 10 %
/// shorter. Trying shorter on every success would look too early one post in four or so
/// (the steady-container test below: 121 looks for 100 containers with 5, 114 with 10).
pub const SHRINK_AFTER: u32 = 10;

/// What was learned so far.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// How long a container has recently needed; `None` before the first one finished.
    pub ready_after: Option<Duration>,
    /// First looks in a row that found the container finished.
    pub streak: u32,
}

/// The estimate after one container finished, `took` after it was made; `first_look` when
/// the first status question already found it finished.
pub fn learn(before: Estimate, took: Duration, first_look: bool) -> Estimate {
    if !first_look {
        // Looked too early: it took (at most) `took`; aim 10 % past it.
        return Estimate {
            ready_after: Some(took.mul_f64(1.1).min(MAX_WAIT)),
            streak: 0,
        };
    }
    let known = before.ready_after.unwrap_or(took);
    if before.streak + 1 >= SHRINK_AFTER {
        // It may have been ready well before we looked: try a little shorter.
        Estimate {
            ready_after: Some(known.min(took).mul_f64(0.9)),
            streak: 0,
        }
    } else {
        Estimate {
            ready_after: Some(known),
            streak: before.streak + 1,
        }
    }
}

/// The wait before look number `looks + 1` at a container still in progress: doubling from
/// `floor`, so a container that needs far longer than expected costs a few looks, not many.
pub fn next_look(floor: Duration, looks: u32) -> Duration {
    floor.saturating_mul(1 << looks.min(16)).min(MAX_WAIT)
}

/// Containers tracked between looks at most (see `still_in_progress`).
const MAX_TRACKED: usize = 64;

/// The learned wait, shared by the publisher's steps.
#[derive(Debug)]
pub struct ReadyWait {
    /// Never less than the configured poll interval.
    floor: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    estimate: Estimate,
    /// Containers asked about already, and how many times they answered `IN_PROGRESS`.
    looked_at: HashMap<String, u32>,
}

impl ReadyWait {
    pub fn new(poll_interval: Duration) -> Self {
        Self {
            floor: poll_interval,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long to wait after creating a container before the first status question.
    pub fn first_wait(&self) -> Duration {
        let ready_after = self.state().estimate.ready_after;
        ready_after.unwrap_or(self.floor).max(self.floor)
    }

    /// A status answer said `IN_PROGRESS`: how long to wait before asking again.
    pub fn still_in_progress(&self, container_id: &str) -> Duration {
        let mut state = self.state();
        // A container whose job was dropped or failed never reaches `finished`; only a few are
        // in flight at once, so a map this full holds mostly such leftovers. Forgetting them
        // costs at most a few looks that start their doubling again.
        if state.looked_at.len() >= MAX_TRACKED && !state.looked_at.contains_key(container_id) {
            state.looked_at.clear();
        }
        let looks = state.looked_at.entry(container_id.to_string()).or_default();
        *looks += 1;
        next_look(self.floor, *looks)
    }

    /// A status answer said the container is done processing, `took` after it was created.
    pub fn finished(&self, container_id: &str, took: Duration) {
        let mut state = self.state();
        let first_look = state.looked_at.remove(container_id).is_none();
        state.estimate = learn(state.estimate, took, first_look);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(f64) -> Duration = Duration::from_secs_f64;

    fn known(secs: f64, streak: u32) -> Estimate {
        Estimate {
            ready_after: Some(S(secs)),
            streak,
        }
    }

    #[test]
    fn containers_that_never_finish_do_not_pile_up() {
        let wait = ReadyWait::new(S(1.0));
        for i in 0..10 * MAX_TRACKED {
            wait.still_in_progress(&format!("dropped-{i}"));
        }
        assert!(wait.state().looked_at.len() <= MAX_TRACKED);
        // One still being looked at keeps doubling while the others come and go.
        wait.still_in_progress("live");
        assert_eq!(wait.still_in_progress("live"), next_look(S(1.0), 2));
    }

    #[test]
    fn a_container_seen_in_progress_teaches_how_long_it_took() {
        assert_eq!(learn(Estimate::default(), S(4.0), false), known(4.4, 0));
        assert_eq!(learn(known(1.0, 3), S(4.0), false), known(4.4, 0));
    }

    #[test]
    fn the_wait_is_tried_shorter_only_after_a_streak_of_first_looks() {
        let mut e = known(10.0, 0);
        for streak in 1..SHRINK_AFTER {
            e = learn(e, S(10.0), true);
            assert_eq!(e, known(10.0, streak));
        }
        assert_eq!(learn(e, S(10.0), true), known(9.0, 0));
    }

    #[test]
    fn a_steady_container_time_is_learned_and_rarely_missed() {
        // Containers that really need 3 s; the booth starts knowing nothing.
        let floor = S(0.05);
        let mut e = Estimate::default();
        let mut looks = 0;
        for _ in 0..100 {
            let mut at = e.ready_after.unwrap_or(floor).max(floor);
            let mut n = 0;
            while at < S(3.0) {
                n += 1;
                at += next_look(floor, n);
            }
            looks += n + 1;
            e = learn(e, at, n == 0);
        }
        // The first container costs a few looks; after that, about one look each.
        println!("{looks} looks for 100 containers");
        assert!(looks <= 120, "{looks} looks for 100 containers");
        let wait = e.ready_after.unwrap();
        assert!(wait >= S(2.9) && wait <= S(4.5), "{wait:?}");
    }

    #[test]
    fn looks_double_and_waits_are_bounded_and_never_below_the_poll_interval() {
        assert_eq!(next_look(S(0.05), 1), S(0.1));
        assert_eq!(next_look(S(0.05), 3), S(0.4));
        assert_eq!(next_look(S(2.0), 40), MAX_WAIT);
        assert_eq!(
            learn(Estimate::default(), S(600.0), false).ready_after,
            Some(MAX_WAIT)
        );
        let wait = ReadyWait::new(S(2.0));
        assert_eq!(wait.first_wait(), S(2.0));
        wait.finished("c1", S(0.1));
        assert_eq!(wait.first_wait(), S(2.0));
        assert_eq!(wait.still_in_progress("c2"), S(4.0));
        wait.finished("c2", S(5.0));
        assert_eq!(wait.first_wait(), S(5.5));
    }
}
