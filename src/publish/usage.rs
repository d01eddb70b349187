//! Meta's usage headers (`X-App-Usage`, `X-Business-Use-Case-Usage`): how close the app and
//! the account are to their rate limits. We slow down before 100 %, not after.

use std::time::Duration;

/// The highest usage percentage seen in the headers, and any wait Meta asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub percent: f64,
    pub regain_access_in: Option<Duration>,
}

/// The longest wait a header can ask for; Meta's blocks last minutes to an hour.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Reads the two headers; malformed or absent ones count as "no information".
pub fn parse(app_usage: Option<&str>, business_usage: Option<&str>) -> Usage {
    let mut usage = Usage::default();
    if let Some(value) = app_usage.and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok()) {
        usage.percent = usage.percent.max(max_percent(&value));
    }
    if let Some(value) =
        business_usage.and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
    {
        for entries in value.as_object().into_iter().flat_map(|o| o.values()) {
            for entry in entries.as_array().into_iter().flatten() {
                usage.percent = usage.percent.max(max_percent(entry));
                let minutes = entry
                    .get("estimated_time_to_regain_access")
                    .and_then(|m| m.as_f64())
                    .unwrap_or(0.0);
                if minutes > 0.0 {
                    // A header is outside input: 1e300 minutes made from_secs_f64 panic (found
                    // by fuzzing) and a typo of days would park the booth for months.
                    let wait = Duration::try_from_secs_f64(minutes * 60.0)
                        .unwrap_or(MAX_WAIT)
                        .min(MAX_WAIT);
                    usage.regain_access_in =
                        Some(usage.regain_access_in.map_or(wait, |w| w.max(wait)));
                }
            }
        }
    }
    usage
}

fn max_percent(entry: &serde_json::Value) -> f64 {
    ["call_count", "total_cputime", "total_time"]
        .iter()
        .filter_map(|k| entry.get(k).and_then(|v| v.as_f64()))
        .fold(0.0, f64::max)
}

/// How long to hold off before the next call, if at all.
pub fn throttle(usage: &Usage) -> Option<Duration> {
    if let Some(wait) = usage.regain_access_in {
        return Some(wait);
    }
    match usage.percent {
        p if p >= 100.0 => Some(Duration::from_secs(600)),
        p if p >= 90.0 => Some(Duration::from_secs(60)),
        p if p >= 75.0 => Some(Duration::from_secs(10)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_headers_and_takes_the_worst() {
        let u = parse(
            Some(r#"{"call_count":12,"total_cputime":40,"total_time":3}"#),
            Some(
                r#"{"1784":[{"type":"instagram","call_count":80,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0}]}"#,
            ),
        );
        assert_eq!(u.percent, 80.0);
        assert_eq!(u.regain_access_in, None);
        assert_eq!(throttle(&u), Some(Duration::from_secs(10)));
    }

    #[test]
    fn regain_time_is_obeyed() {
        let u = parse(
            None,
            Some(r#"{"1":[{"call_count":100,"estimated_time_to_regain_access":7}]}"#),
        );
        assert_eq!(throttle(&u), Some(Duration::from_secs(420)));
    }

    #[test]
    fn absurd_regain_times_are_capped_not_a_panic() {
        for minutes in ["1e300", "100000", "1.7976931348623157e308"] {
            let header = format!(r#"{{"1":[{{"estimated_time_to_regain_access":{minutes}}}]}}"#);
            assert_eq!(throttle(&parse(None, Some(&header))), Some(MAX_WAIT));
        }
    }

    #[test]
    fn garbage_and_absence_mean_no_throttle() {
        assert_eq!(throttle(&parse(Some("not json"), Some("[1,2"))), None);
        assert_eq!(throttle(&parse(None, None)), None);
    }
}
