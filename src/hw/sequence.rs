//! Press → countdown → smile → capture → saved, as a pure state machine. A press while a
//! sequence runs is ignored and counted (people press twice, children press ten times).

use crate::ui::Screen;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// Seconds left.
    Countdown(u32),
    /// The flash: the frame is taken now.
    Smile,
    /// The photo is being saved; the shooter shows Saving/Saved itself.
    Capturing,
}

#[derive(Clone, Debug)]
pub struct Sequence {
    countdown_secs: u32,
    phase: Phase,
    /// Presses ignored because a sequence was running, since start.
    ignored: u64,
}

/// What a press did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pressed {
    Started(Phase),
    /// Ignored: a photo is already on its way. Carries the running total, for the log.
    Ignored {
        total: u64,
    },
}

impl Sequence {
    pub fn new(countdown_secs: u32) -> Self {
        Self {
            countdown_secs,
            phase: Phase::Idle,
            ignored: 0,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    pub fn press(&mut self) -> Pressed {
        if self.phase != Phase::Idle {
            self.ignored += 1;
            return Pressed::Ignored {
                total: self.ignored,
            };
        }
        self.phase = if self.countdown_secs > 0 {
            Phase::Countdown(self.countdown_secs)
        } else {
            Phase::Smile
        };
        Pressed::Started(self.phase)
    }

    /// One step on: a second of the countdown passed, the flash was shown, or the capture
    /// ended.
    pub fn advance(&mut self) -> Phase {
        self.phase = match self.phase {
            Phase::Countdown(n) if n > 1 => Phase::Countdown(n - 1),
            Phase::Countdown(_) => Phase::Smile,
            Phase::Smile => Phase::Capturing,
            Phase::Capturing | Phase::Idle => Phase::Idle,
        };
        self.phase
    }

    /// The screen for a phase; `None` where the shooter or the publisher decide.
    pub fn screen(phase: Phase) -> Option<Screen> {
        match phase {
            Phase::Countdown(secs) => Some(Screen::Countdown {
                secs,
                shot: 1,
                of: 1,
            }),
            Phase::Smile => Some(Screen::Smile),
            Phase::Idle | Phase::Capturing => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn countdown(secs: u32) -> Screen {
        Screen::Countdown {
            secs,
            shot: 1,
            of: 1,
        }
    }

    #[test]
    fn a_press_runs_the_countdown_then_the_capture() {
        let mut s = Sequence::new(3);
        assert_eq!(s.press(), Pressed::Started(Phase::Countdown(3)));
        let mut phases = vec![s.phase()];
        while s.phase() != Phase::Idle {
            phases.push(s.advance());
        }
        assert_eq!(
            phases,
            vec![
                Phase::Countdown(3),
                Phase::Countdown(2),
                Phase::Countdown(1),
                Phase::Smile,
                Phase::Capturing,
                Phase::Idle
            ]
        );
        let screens: Vec<Screen> = phases.into_iter().filter_map(Sequence::screen).collect();
        assert_eq!(
            screens,
            vec![countdown(3), countdown(2), countdown(1), Screen::Smile]
        );
    }

    #[test]
    fn presses_during_a_sequence_are_ignored_and_counted() {
        let mut s = Sequence::new(3);
        assert!(matches!(s.press(), Pressed::Started(_)));
        assert_eq!(s.press(), Pressed::Ignored { total: 1 });
        s.advance();
        s.advance();
        s.advance(); // smile
        assert_eq!(s.press(), Pressed::Ignored { total: 2 });
        s.advance(); // capturing
        assert_eq!(s.press(), Pressed::Ignored { total: 3 });
        assert_eq!(s.advance(), Phase::Idle);
        // Once idle, the next press starts a new sequence; the count is kept for the log.
        assert_eq!(s.press(), Pressed::Started(Phase::Countdown(3)));
        assert_eq!(s.ignored(), 3);
    }

    #[test]
    fn no_countdown_goes_straight_to_smile() {
        let mut s = Sequence::new(0);
        assert_eq!(s.press(), Pressed::Started(Phase::Smile));
        assert_eq!(s.advance(), Phase::Capturing);
    }
}
