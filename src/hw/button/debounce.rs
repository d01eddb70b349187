//! Button debounce, lockout and ghost rejection as a pure state machine over edge events.
//!
//! Input: the line's edges with their time (milliseconds on a monotonic clock), already turned
//! into "pressed"/"released" (active-low is resolved by the backend). Output: [`Decision`]s.
//! Nothing here reads a clock or a device, so tests feed it synthetic timelines.
//!
//! The rules, and why:
//! - A press counts once the line has stayed pressed for `debounce_ms`: contacts bounce for a
//!   few milliseconds, and EMI on a long cable makes short spikes ("ghost triggers"). A pulse
//!   shorter than that is rejected and counted.
//! - A button held down is one press: after a press the line must stay released for
//!   `debounce_ms` before the next press can start.
//! - After a press, presses for `lockout_ms` are ignored (and counted): people press twice.

/// What the debouncer decided, at `at_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A real press: take a photo.
    Press { at_ms: u64 },
    /// A real press during the lockout after the last one.
    Locked { at_ms: u64 },
    /// A pulse shorter than the debounce time (bounce or interference).
    Ghost { at_ms: u64, width_ms: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub debounce_ms: u64,
    pub lockout_ms: u64,
}

#[derive(Clone, Debug)]
pub struct Debouncer {
    settings: Settings,
    /// The line as last seen: true = pressed.
    pressed: bool,
    /// When the line last changed.
    since_ms: u64,
    /// A press was reported (or locked out) and the line has not yet been released long enough.
    latched: bool,
    /// Presses before this time are locked out.
    lockout_until_ms: Option<u64>,
}

impl Debouncer {
    /// Starts with the line released (a button held at start-up gives no press until it has
    /// been released and pressed again).
    pub fn new(settings: Settings, pressed_at_start: bool) -> Self {
        Self {
            settings,
            pressed: pressed_at_start,
            since_ms: 0,
            latched: pressed_at_start,
            lockout_until_ms: None,
        }
    }

    /// When [`tick`](Self::tick) next has something to decide; `None` while nothing is pending.
    pub fn deadline(&self) -> Option<u64> {
        (self.pressed != self.latched).then(|| self.since_ms + self.settings.debounce_ms)
    }

    /// The line changed to `pressed` at `at_ms`. Decides at once only on a ghost pulse.
    pub fn edge(&mut self, at_ms: u64, pressed: bool) -> Option<Decision> {
        // Settle anything whose deadline passed before this edge arrived.
        let settled = self.tick(at_ms);
        if pressed == self.pressed {
            // A repeated edge (missed event in between): the line did not change for us.
            return settled;
        }
        let width_ms = at_ms.saturating_sub(self.since_ms);
        let ghost = !pressed && !self.latched;
        self.pressed = pressed;
        self.since_ms = at_ms;
        if ghost {
            // Released before the debounce time was up: never a press.
            return Some(Decision::Ghost { at_ms, width_ms });
        }
        settled
    }

    /// Time passed to `now_ms` with no edge. Returns a press (or a locked-out one) once the
    /// line has been stable for the debounce time.
    pub fn tick(&mut self, now_ms: u64) -> Option<Decision> {
        let due = self.deadline()?;
        if now_ms < due {
            return None;
        }
        if !self.pressed {
            // Released long enough: the next press may start.
            self.latched = false;
            return None;
        }
        self.latched = true;
        if self.lockout_until_ms.is_some_and(|until| due < until) {
            return Some(Decision::Locked { at_ms: due });
        }
        self.lockout_until_ms = Some(due + self.settings.lockout_ms);
        Some(Decision::Press { at_ms: due })
    }
}

/// Runs a whole timeline of edges `(at_ms, pressed)` (sorted by time) through a debouncer
/// that starts released, letting time run out after the last edge.
pub fn decide(settings: Settings, edges: &[(u64, bool)]) -> Vec<Decision> {
    let mut d = Debouncer::new(settings, false);
    let mut out = Vec::new();
    for &(at, pressed) in edges {
        out.extend(d.edge(at, pressed));
    }
    while let Some(due) = d.deadline() {
        out.extend(d.tick(due));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Settings = Settings {
        debounce_ms: 30,
        lockout_ms: 1500,
    };

    fn presses(decisions: &[Decision]) -> Vec<u64> {
        decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Press { at_ms } => Some(*at_ms),
                _ => None,
            })
            .collect()
    }

    /// A clean press and release: one press, debounce_ms after the edge.
    #[test]
    fn clean_press_is_one_press() {
        let d = decide(S, &[(1000, true), (1200, false)]);
        assert_eq!(d, vec![Decision::Press { at_ms: 1030 }]);
    }

    /// Contacts bounce for 8 ms on press and on release: still exactly one press.
    #[test]
    fn bounce_storm_on_press_and_release_is_one_press() {
        let mut edges = Vec::new();
        let mut t = 1000;
        for _ in 0..20 {
            edges.push((t, true));
            edges.push((t + 1, false));
            t += 2;
        }
        edges.push((t, true)); // settles pressed at 1040
        for i in 0..15 {
            edges.push((t + 300 + 2 * i, false));
            edges.push((t + 301 + 2 * i, true));
        }
        edges.push((t + 330, false));
        let d = decide(S, &edges);
        assert_eq!(presses(&d), vec![1040 + 30]);
        // Every short pulse of the storm was seen and rejected, none became a press.
        let ghosts = d
            .iter()
            .filter(|d| matches!(d, Decision::Ghost { .. }))
            .count();
        assert_eq!(ghosts, 20);
        assert!(!d.iter().any(|d| matches!(d, Decision::Locked { .. })));
    }

    /// A 10 ms spike (EMI on the cable) is a ghost, not a photo.
    #[test]
    fn short_pulse_is_a_ghost() {
        let d = decide(S, &[(500, true), (510, false)]);
        assert_eq!(
            d,
            vec![Decision::Ghost {
                at_ms: 510,
                width_ms: 10
            }]
        );
    }

    /// A pulse exactly as long as the debounce time counts (the boundary is inclusive).
    #[test]
    fn pulse_of_exactly_debounce_counts() {
        let d = decide(S, &[(500, true), (530, false)]);
        assert_eq!(presses(&d), vec![530]);
    }

    /// Someone leans on the button for a minute: one photo, not one per lockout.
    #[test]
    fn held_button_is_one_press() {
        let d = decide(S, &[(0, true), (60_000, false)]);
        assert_eq!(d, vec![Decision::Press { at_ms: 30 }]);
        // And the debouncer reports nothing while held, whenever asked.
        let mut deb = Debouncer::new(S, false);
        assert_eq!(deb.edge(0, true), None);
        assert_eq!(deb.tick(30), Some(Decision::Press { at_ms: 30 }));
        for t in (31..60_000).step_by(997) {
            assert_eq!(deb.tick(t), None);
            assert_eq!(deb.deadline(), None);
        }
    }

    /// A second press within the lockout is reported as locked, and the one after it counts.
    #[test]
    fn lockout_after_a_press() {
        let d = decide(
            S,
            &[
                (0, true),
                (200, false),
                (800, true),
                (900, false),
                (1600, true),
                (1700, false),
            ],
        );
        assert_eq!(
            d,
            vec![
                Decision::Press { at_ms: 30 },
                Decision::Locked { at_ms: 830 },
                Decision::Press { at_ms: 1630 },
            ]
        );
    }

    /// A press must be released (stably) before the next one: a bounce at release time is not
    /// a second press, even after the lockout.
    #[test]
    fn release_bounce_after_lockout_is_not_a_press() {
        let d = decide(S, &[(0, true), (2000, false), (2005, true), (2010, false)]);
        assert_eq!(presses(&d), vec![30]);
    }

    /// Held at start-up (a stuck button, or wired the wrong way): no photo until released.
    #[test]
    fn held_at_start_is_not_a_press() {
        let mut deb = Debouncer::new(S, true);
        assert_eq!(deb.tick(10_000), None);
        assert_eq!(deb.edge(10_000, false), None);
        assert_eq!(deb.tick(10_030), None);
        assert_eq!(deb.edge(11_000, true), None);
        assert_eq!(deb.tick(11_030), Some(Decision::Press { at_ms: 11_030 }));
    }

    /// With no debounce configured, every press edge is a press (kernel debounce only).
    #[test]
    fn zero_debounce_counts_every_press() {
        let s = Settings {
            debounce_ms: 0,
            lockout_ms: 0,
        };
        let d = decide(s, &[(0, true), (1, false), (2, true), (3, false)]);
        assert_eq!(presses(&d), vec![0, 2]);
    }
}
