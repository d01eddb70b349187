//! The booth's local wall-clock time, for captions and the test pattern. `time`'s own local
//! offset is unavailable in multi-threaded programs on Linux, so ask libc (`localtime_r` is
//! the thread-safe variant); fall back to UTC if it fails.
//!
//! Also [`WallClock`]: where the store and the publisher read "now" for the times they record
//! (saved, published, done) and for pruning by age. A booth uses the system clock; the soak
//! test uses one that follows tokio's paused clock, so 72 simulated hours age records by 72
//! hours while a few real minutes pass.

/// Milliseconds since the Unix epoch, from the system clock or from tokio's clock.
#[derive(Clone, Copy, Debug, Default)]
pub enum WallClock {
    /// `SystemTime::now()`: what a booth uses.
    #[default]
    System,
    /// The system time when it was made, plus the time tokio's clock has moved since. In a
    /// runtime with paused time (tests) that is simulated time; otherwise it is close to the
    /// system clock but never jumps when the system clock is set.
    FollowsTokio {
        start_ms: u64,
        start: tokio::time::Instant,
    },
}

impl WallClock {
    /// A clock that follows tokio's clock from now on (call it inside the runtime).
    pub fn follows_tokio() -> Self {
        Self::FollowsTokio {
            start_ms: system_ms(),
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        match self {
            Self::System => system_ms(),
            Self::FollowsTokio { start_ms, start } => start_ms + start.elapsed().as_millis() as u64,
        }
    }
}

/// Milliseconds since the Unix epoch by the system clock (0 if it is before 1970).
pub fn system_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

pub fn now() -> LocalTime {
    let utc = time::OffsetDateTime::now_utc();
    let t = utc.unix_timestamp() as libc::time_t;
    // SAFETY: `tm` is a plain C struct for which all-zero is valid; localtime_r only reads `t`
    // and writes `tm`, both valid for the call, and returns null on failure.
    let local = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&t, &mut tm).is_null()).then_some(tm)
    };
    match local {
        Some(tm) => LocalTime {
            year: tm.tm_year + 1900,
            month: (tm.tm_mon + 1) as u8,
            day: tm.tm_mday as u8,
            hour: tm.tm_hour as u8,
            minute: tm.tm_min as u8,
            second: tm.tm_sec as u8,
        },
        None => LocalTime {
            year: utc.year(),
            month: utc.month() as u8,
            day: utc.day(),
            hour: utc.hour(),
            minute: utc.minute(),
            second: utc.second(),
        },
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(start_paused = true)]
    async fn a_clock_that_follows_tokio_moves_with_paused_time_only() {
        let clock = super::WallClock::follows_tokio();
        let before = clock.now_ms();
        tokio::time::advance(std::time::Duration::from_secs(3 * 24 * 3600)).await;
        let after = clock.now_ms();
        assert_eq!(after - before, 3 * 24 * 3600 * 1000);
        // The system clock did not move by days meanwhile.
        assert!(super::WallClock::System.now_ms() < before + 3600 * 1000);
    }

    #[test]
    fn fields_are_in_range() {
        let t = super::now();
        assert!(t.year >= 2024);
        assert!((1..=12).contains(&t.month) && (1..=31).contains(&t.day));
        assert!(t.hour < 24 && t.minute < 60 && t.second < 61);
    }
}
