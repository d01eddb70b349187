//! The booth's local wall-clock time, for captions and the test pattern. `time`'s own local
//! offset is unavailable in multi-threaded programs on Linux, so ask libc (`localtime_r` is
//! the thread-safe variant); fall back to UTC if it fails.

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
    #[test]
    fn fields_are_in_range() {
        let t = super::now();
        assert!(t.year >= 2024);
        assert!((1..=12).contains(&t.month) && (1..=31).contains(&t.day));
        assert!(t.hour < 24 && t.minute < 60 && t.second < 61);
    }
}
