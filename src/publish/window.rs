//! Publish windows: local-time ranges (store hours, event hours) outside of which publishing
//! waits. Capture is never affected. Pure functions over minutes of the day.

use std::time::Duration;

const DAY_MINUTES: u32 = 24 * 60;

/// `start..end` in minutes after local midnight; `end < start` wraps past midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: u32,
    pub end: u32,
}

impl Window {
    fn contains(&self, minute: u32) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

/// Parses `"HH:MM-HH:MM"` (`24:00` allowed as an end).
pub fn parse(text: &str) -> Result<Window, String> {
    let bad = |why: &str| {
        Err(format!(
            "has {text:?}: {why}; write windows as \"HH:MM-HH:MM\" in local time, e.g. \"09:00-18:00\""
        ))
    };
    let Some((a, b)) = text.trim().split_once('-') else {
        return bad("no '-' between start and end");
    };
    let time = |t: &str, is_end: bool| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        let ok = m < 60 && (h < 24 || is_end && h == 24 && m == 0);
        ok.then_some(h * 60 + m)
    };
    let (Some(start), Some(end)) = (time(a, false), time(b, true)) else {
        return bad("not a time of day");
    };
    if start == end % DAY_MINUTES && end != DAY_MINUTES {
        return bad("start and end are the same");
    }
    Ok(Window { start, end })
}

pub fn parse_all(texts: &[String]) -> Result<Vec<Window>, String> {
    texts.iter().map(|t| parse(t)).collect()
}

/// `None` when publishing may happen at `minute` (of the local day, plus `second`), else how
/// long until the next window opens. No windows means always open.
pub fn wait_until_open(windows: &[Window], minute: u32, second: u32) -> Option<Duration> {
    if windows.is_empty() || windows.iter().any(|w| w.contains(minute)) {
        return None;
    }
    let minutes = windows
        .iter()
        .map(|w| (w.start % DAY_MINUTES + DAY_MINUTES - minute) % DAY_MINUTES)
        .min()
        .unwrap_or(0);
    Some(Duration::from_secs(
        u64::from(minutes) * 60 - u64::from(second.min(59)),
    ))
}

/// The windows as `09:00-18:00, 20:00-22:00`, for messages.
pub fn describe(windows: &[Window]) -> String {
    windows
        .iter()
        .map(Window::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Window {
        parse(s).unwrap()
    }

    #[test]
    fn parses_and_rejects_with_the_value_named() {
        assert_eq!(
            w("09:00-18:30"),
            Window {
                start: 540,
                end: 1110
            }
        );
        assert_eq!(w("22:00-24:00").end, 1440);
        for bad in [
            "9-18",
            "09:00",
            "25:00-26:00",
            "09:60-10:00",
            "10:00-10:00",
            "x-y",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("HH:MM-HH:MM"), "{e}");
        }
    }

    #[test]
    fn inside_a_window_is_open() {
        let ws = [w("09:00-18:00")];
        assert_eq!(wait_until_open(&ws, 9 * 60, 0), None);
        assert_eq!(wait_until_open(&ws, 18 * 60 - 1, 59), None);
        assert_eq!(wait_until_open(&[], 3 * 60, 0), None);
    }

    #[test]
    fn outside_waits_until_the_next_start_even_across_midnight() {
        let ws = [w("09:00-18:00"), w("20:00-21:00")];
        assert_eq!(
            wait_until_open(&ws, 18 * 60, 0),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            wait_until_open(&ws, 21 * 60, 30),
            Some(Duration::from_secs(12 * 3600 - 30))
        );
        let night = [w("22:00-02:00")];
        assert_eq!(wait_until_open(&night, 23 * 60, 0), None);
        assert_eq!(wait_until_open(&night, 60, 0), None);
        assert_eq!(
            wait_until_open(&night, 2 * 60, 0),
            Some(Duration::from_secs(20 * 3600))
        );
    }
}
