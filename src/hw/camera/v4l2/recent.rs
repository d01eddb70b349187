//! The frames a press may take: the newest, and for a moment the few before it.
//!
//! A press takes the newest frame. The shooter then walks its JPEG scan
//! ([`crate::pipeline::scan`]); when the walk refuses it (bits lost on the USB cable or in the
//! pipe), the press asks again ([`Camera::reject`](crate::hw::camera::Camera::reject), then
//! [`Camera::capture`](crate::hw::camera::Camera::capture)). Waiting for the next frame is not
//! always enough: a reader that gets the stream in bursts (a busy or emulated machine) keeps
//! each burst's last frame, and if that one is the damaged one every time, all the press's
//! tries meet damaged frames while whole ones went by. So the frames that arrived just before
//! the press's first frame are kept for the press, and a retry takes the untried frame closest
//! in time to the first one: the newest of those before it, as long as it is at most
//! [`MAX_AGE_FRAMES`] frame intervals older; when none is left, the oldest one after it that
//! is still held (a frame that came in the same burst as a damaged one is often whole).
//!
//! Why not walk every frame's scan as it arrives: that costs a full Huffman walk per frame at
//! 30 frames a second, on the core that also decodes and encodes the photo; walking only what
//! a press takes costs nothing while nobody presses.
//!
//! Raw frames (YUYV, NV12, YU12) have no scan to walk: a short one is refused by the grabber
//! ([`super::live::is_whole`]) before it gets here, so only the newest is kept (4 MB each at
//! 1080p).

use super::live::RawFrame;
use super::negotiate::FourCc;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How much older than the press's first frame a fallback may be, in frame intervals. One
/// interval is the frame just before; frames reach the reader with jitter (a pipe or USB read
/// can bring two at once, or one late), so one interval exactly would refuse that frame at
/// random. Two keeps it and refuses the frame before it, which at 30 fps is 100 ms older than
/// what the guest heard the shutter for: long enough for a blink or a jump to show.
pub const MAX_AGE_FRAMES: u32 = 2;
/// Frames kept for the next press at most, whatever their age: a burst can bring many at once.
pub const KEEP: usize = 4;

/// A held frame as [`choose`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Counts up with every frame received.
    pub seq: u64,
    pub arrived: Instant,
}

/// The press in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Press {
    /// Frames up to this one were handed out before the press: never again.
    pub after: u64,
    /// Frames this press took (and the shooter refused).
    pub tried: Vec<u64>,
    /// The press's first frame: fallbacks are measured from it.
    pub first: Option<Seen>,
}

impl Press {
    /// Whether `f` is a fallback of this press: it came before the first frame, at most
    /// `max_age` before it, and was not tried.
    fn fallback(&self, f: &Seen, max_age: Duration) -> bool {
        self.first.is_some_and(|first| {
            f.seq < first.seq
                && f.arrived + max_age >= first.arrived
                && f.seq > self.after
                && !self.tried.contains(&f.seq)
        })
    }
}

/// Which of `held` (oldest first) the press takes, or `None` (wait for the next frame). The
/// first try takes the newest frame not handed out before, whatever its age (as without
/// fallbacks). A retry takes the untried frame closest in time to the first: the newest
/// fallback (see [`Press`]), else the oldest untried frame that came after the first.
pub fn choose(held: &[Seen], press: &Press, max_age: Duration) -> Option<usize> {
    let Some(first) = press.first else {
        return held.iter().rposition(|f| f.seq > press.after);
    };
    held.iter()
        .rposition(|f| press.fallback(f, max_age))
        .or_else(|| {
            held.iter()
                .position(|f| f.seq > first.seq && !press.tried.contains(&f.seq))
        })
}

struct Held {
    seen: Seen,
    frame: RawFrame,
}

/// The held frames and the press in progress.
pub struct Recent {
    held: VecDeque<Held>,
    max_age: Duration,
    received: u64,
    /// The newest frame handed out so far.
    handed_out: u64,
    press: Press,
}

impl Recent {
    /// `interval` is the time between frames (1 / frame rate).
    pub fn new(interval: Duration) -> Self {
        Recent {
            held: VecDeque::new(),
            max_age: interval.saturating_mul(MAX_AGE_FRAMES),
            received: 0,
            handed_out: 0,
            press: Press::default(),
        }
    }

    /// A whole frame arrived now.
    pub fn push(&mut self, frame: RawFrame, now: Instant) {
        if frame.format.fourcc != FourCc::MJPG {
            self.held.clear();
        }
        self.received += 1;
        self.held.push_back(Held {
            seen: Seen {
                seq: self.received,
                arrived: now,
            },
            frame,
        });
        // The press's fallbacks stay (a slow scan walk must not lose them to newer frames);
        // of the others, the newest KEEP younger than max_age: a press takes the newest first.
        let (press, max_age) = (&self.press, self.max_age);
        let mut others = self
            .held
            .iter()
            .filter(|h| !press.fallback(&h.seen, max_age))
            .count();
        self.held.retain(|h| {
            if press.fallback(&h.seen, max_age) {
                return true;
            }
            let keep = others <= KEEP && h.seen.arrived + max_age >= now;
            others -= 1;
            keep
        });
    }

    /// Forgets every frame (the device closed, or failed).
    pub fn clear(&mut self) {
        self.held.clear();
    }

    /// Starts a press; a `retry` continues the last one (its frame was refused).
    pub fn begin(&mut self, retry: bool) {
        if !retry {
            self.press = Press {
                after: self.handed_out,
                tried: Vec::new(),
                first: None,
            };
        }
    }

    /// Whether [`take`](Self::take) would give a frame now.
    pub fn ready(&self) -> bool {
        self.pick().is_some()
    }

    /// The frame the press takes, if there is one now.
    pub fn take(&mut self) -> Option<RawFrame> {
        let i = self.pick()?;
        let Held { seen, frame } = self.held.remove(i)?;
        self.press.tried.push(seen.seq);
        self.press.first.get_or_insert(seen);
        self.handed_out = self.handed_out.max(seen.seq);
        Some(frame)
    }

    fn pick(&self) -> Option<usize> {
        let seen: Vec<Seen> = self.held.iter().map(|h| h.seen).collect();
        choose(&seen, &self.press, self.max_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::camera::v4l2::negotiate::Format;

    const FRAME: Duration = Duration::from_millis(33);

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn seen(t0: Instant, list: &[(u64, u64)]) -> Vec<Seen> {
        list.iter()
            .map(|&(seq, ms)| Seen {
                seq,
                arrived: at(t0, ms),
            })
            .collect()
    }

    #[test]
    fn a_press_takes_the_newest_frame_not_handed_out_before() {
        let t0 = Instant::now();
        let held = seen(t0, &[(1, 0), (2, 33), (3, 66)]);
        let fresh = Press::default();
        assert_eq!(choose(&held, &fresh, 2 * FRAME), Some(2));
        // Frame 3 went to the last press: the next waits for frame 4, never takes 1 or 2.
        let after = Press {
            after: 3,
            ..Press::default()
        };
        assert_eq!(choose(&held, &after, 2 * FRAME), None);
        // However old the newest frame is, the first try takes it (as before fallbacks).
        let old = seen(t0, &[(7, 0)]);
        assert_eq!(choose(&old, &fresh, Duration::ZERO), Some(0));
    }

    #[test]
    fn a_retry_takes_the_newest_untried_frame_within_the_age_limit() {
        let t0 = Instant::now();
        // Frame 4 (at 99 ms) was the press's first and was refused.
        let press = Press {
            after: 0,
            tried: vec![4],
            first: Some(Seen {
                seq: 4,
                arrived: at(t0, 99),
            }),
        };
        let held = seen(t0, &[(1, 0), (2, 33), (3, 66)]);
        assert_eq!(
            choose(&held, &press, 2 * FRAME),
            Some(2),
            "frame 3, 33 ms older"
        );
        // Frame 3 refused too: frame 2 is 66 ms older, just within two intervals.
        let press2 = Press {
            tried: vec![4, 3],
            ..press.clone()
        };
        assert_eq!(choose(&held, &press2, 2 * FRAME), Some(1));
        // Frame 2 refused too: frame 1 is 99 ms older than the shutter's frame: stale, wait.
        let press3 = Press {
            tried: vec![4, 3, 2],
            ..press.clone()
        };
        assert_eq!(choose(&held, &press3, 2 * FRAME), None);
        // Then the frame that came next after the first (closest to the shutter).
        let later = seen(t0, &[(1, 0), (5, 132), (6, 165)]);
        assert_eq!(choose(&later, &press3, 2 * FRAME), Some(1));
        // A fallback comes before newer frames: it is closer to the shutter.
        let both = seen(t0, &[(3, 66), (5, 132), (6, 165)]);
        assert_eq!(choose(&both, &press, 2 * FRAME), Some(0));
    }

    #[test]
    fn a_retry_never_takes_what_an_earlier_press_had() {
        let t0 = Instant::now();
        let press = Press {
            after: 2,
            tried: vec![3],
            first: Some(Seen {
                seq: 3,
                arrived: at(t0, 66),
            }),
        };
        assert_eq!(
            choose(&seen(t0, &[(1, 0), (2, 33)]), &press, 10 * FRAME),
            None
        );
    }

    fn mjpeg(n: u8) -> RawFrame {
        RawFrame {
            format: Format {
                fourcc: FourCc::MJPG,
                width: 2,
                height: 2,
            },
            bytes_per_line: 0,
            full_range: false,
            data: vec![0xFF, 0xD8, n, 0xFF, 0xD9],
        }
    }

    /// The case seen under qemu: frames come in bursts of two, the second damaged, and each
    /// try's scan walk takes longer than a burst. The press takes the damaged one; its retry
    /// takes the whole one from the same burst, even after newer bursts came.
    #[test]
    fn bursts_ending_in_a_damaged_frame_still_give_a_photo() {
        let t0 = Instant::now();
        let mut r = Recent::new(FRAME);
        r.push(mjpeg(1), at(t0, 0));
        r.push(mjpeg(2), at(t0, 1));
        r.begin(false);
        assert_eq!(r.take().unwrap().data[2], 2, "the newest first");
        // Slow walk: more bursts than KEEP frames arrive meanwhile.
        for (i, ms) in [(3, 200), (4, 201), (5, 400), (6, 401), (7, 600), (8, 601)] {
            r.push(mjpeg(i), at(t0, ms));
        }
        r.begin(true);
        assert_eq!(
            r.take().unwrap().data[2],
            1,
            "the whole one of the first burst"
        );
        r.begin(true);
        // No fallback left: the oldest frame still held after the first (5 and 6 are more
        // than two intervals older than 8 and were let go).
        assert_eq!(r.take().unwrap().data[2], 7);
        r.begin(true);
        assert_eq!(r.take().unwrap().data[2], 8);
        // A new press never goes back to a frame older than one handed out.
        r.begin(false);
        assert!(!r.ready());
        r.push(mjpeg(9), at(t0, 633));
        assert_eq!(r.take().unwrap().data[2], 9);
    }

    #[test]
    fn frames_too_old_or_too_many_are_let_go() {
        let t0 = Instant::now();
        let mut r = Recent::new(FRAME);
        for i in 0..10u8 {
            r.push(mjpeg(i), at(t0, u64::from(i)));
        }
        assert_eq!(r.held.len(), KEEP);
        r.push(mjpeg(10), at(t0, 500));
        assert_eq!(r.held.len(), 1, "the others are 490 ms older");
        // Raw frames: only the newest.
        let mut raw = mjpeg(11);
        raw.format.fourcc = FourCc::YUYV;
        r.push(mjpeg(12), at(t0, 501));
        r.push(raw, at(t0, 502));
        assert_eq!(r.held.len(), 1);
        r.clear();
        r.begin(false);
        assert!(r.take().is_none());
    }
}
