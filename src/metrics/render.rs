//! The Prometheus text exposition format (version 0.0.4), as a pure function over a
//! [`Snapshot`]. Names follow Prometheus' conventions: a `postbooth_` prefix, base units
//! (`_seconds`, `_bytes`), `_total` on counters only, `_info` for a constant 1 with labels.
//! `promtool check metrics` runs over a real scrape in the tests.

use crate::telemetry::histogram::Histogram;
use crate::telemetry::Counters;
use std::fmt::Write;

/// Every job state a queue can hold, so each has a series even at zero (a series that appears
/// only once a job reaches it makes alerts on it miss their first firing).
pub const STATES: &[&str] = &[
    "Captured",
    "Staged",
    "Uploading",
    "ContainerCreated",
    "Ready",
    "PublishIntent",
    "Published",
    "Done",
    "Failed",
    "Held",
    "Rejected",
    "Private",
];

/// The error classes of [`crate::publish::errors::ErrorClass`] plus the booth's own (network,
/// media host, store), listed so each counter starts at zero.
pub const ERROR_CLASSES: &[&str] = &[
    "transient",
    "network",
    "auth",
    "account",
    "rate_limit",
    "not_ready",
    "container_expired",
    "container_not_found",
    "media_unfetchable",
    "invalid",
    "media_host",
    "store",
    "other",
];

/// Everything one scrape shows. Gathered by [`super::collect`]; rendered by [`render`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub counters: Counters,
    /// Jobs per state (states missing here are shown as 0).
    pub queue: Vec<(String, u64)>,
    /// Age of the oldest photo not yet posted (none waiting: absent).
    pub oldest_waiting_seconds: Option<f64>,
    pub posts_left: Option<u32>,
    pub quota_total: Option<u32>,
    /// Publishing is held (quota, window, rate limit, auth...).
    pub publishing_held: bool,
    /// Seconds until the access token expires; negative once it has. None: no expiring token.
    pub token_expires_in_seconds: Option<i64>,
    pub disk_free_bytes: Option<u64>,
    pub disk_size_bytes: Option<u64>,
    pub version: String,
    /// The Graph API version asked for (from `instagram.graph_url`), e.g. "v25.0".
    pub graph_api_version: String,
    /// `Some` when MQTT is configured: whether the booth is connected to the broker.
    pub mqtt_connected: Option<bool>,
    /// Unix time the daemon started.
    pub start_time_seconds: f64,
}

/// One metric family: `# HELP`, `# TYPE`, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

fn family<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out }
}

/// Label values escape `\`, `"` and newlines.
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Help text escapes `\` and newlines.
fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

/// Prometheus numbers: integers without a fraction, `+Inf`/`-Inf`/`NaN` spelled its way.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    let mut f = family(out, name, "histogram", help);
    for (bound, count) in h.cumulative() {
        let le = number(bound);
        f.sample(&format!("{name}_bucket"), &[("le", &le)], count as f64);
    }
    f.sample(&format!("{name}_sum"), &[], h.sum);
    f.sample(&format!("{name}_count"), &[], h.count as f64);
}

fn by_class(
    out: &mut String,
    name: &str,
    help: &str,
    counts: &std::collections::BTreeMap<String, u64>,
) {
    let mut f = family(out, name, "counter", help);
    let mut classes: Vec<&str> = ERROR_CLASSES.to_vec();
    for extra in counts.keys() {
        if !classes.contains(&extra.as_str()) {
            classes.push(extra);
        }
    }
    for class in classes {
        let n = counts.get(class).copied().unwrap_or(0);
        f.sample(name, &[("class", class)], n as f64);
    }
}

/// The whole exposition for one scrape.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(4096);
    let c = &s.counters;

    family(
        &mut out,
        "postbooth_build_info",
        "gauge",
        "Constant 1; the labels say which build runs and which Graph API version it asks for.",
    )
    .sample(
        "postbooth_build_info",
        &[
            ("version", &s.version),
            ("graph_api_version", &s.graph_api_version),
        ],
        1.0,
    );
    family(
        &mut out,
        "postbooth_start_time_seconds",
        "gauge",
        "Unix time the daemon started.",
    )
    .sample("postbooth_start_time_seconds", &[], s.start_time_seconds);

    // Counters.
    family(
        &mut out,
        "postbooth_photos_saved_total",
        "counter",
        "Photos (or carousels of photos) saved durably since the daemon started.",
    )
    .sample("postbooth_photos_saved_total", &[], c.photos_saved as f64);
    family(
        &mut out,
        "postbooth_posts_published_total",
        "counter",
        "Posts that went live on Instagram since the daemon started.",
    )
    .sample(
        "postbooth_posts_published_total",
        &[],
        c.posts_published as f64,
    );
    by_class(
        &mut out,
        "postbooth_jobs_failed_total",
        "Jobs that ended Failed (until a person retries them), by the class of the error.",
        &c.jobs_failed,
    );
    by_class(
        &mut out,
        "postbooth_publish_errors_total",
        "Publishing steps that failed, by error class; most are retried.",
        &c.publish_errors,
    );
    family(
        &mut out,
        "postbooth_shots_skipped_total",
        "counter",
        "Interval shots not taken because the previous one was still being saved.",
    )
    .sample("postbooth_shots_skipped_total", &[], c.shots_skipped as f64);

    // The queue.
    {
        let mut f = family(
            &mut out,
            "postbooth_queue_jobs",
            "gauge",
            "Jobs in the queue, by state.",
        );
        let mut states: Vec<&str> = STATES.to_vec();
        for (state, _) in &s.queue {
            if !states.contains(&state.as_str()) {
                states.push(state);
            }
        }
        for state in states {
            let n = s
                .queue
                .iter()
                .find(|(q, _)| q == state)
                .map_or(0, |(_, n)| *n);
            f.sample("postbooth_queue_jobs", &[("state", state)], n as f64);
        }
    }
    family(
        &mut out,
        "postbooth_oldest_waiting_seconds",
        "gauge",
        "Age of the oldest photo saved and not yet posted; 0 when none waits.",
    )
    .sample(
        "postbooth_oldest_waiting_seconds",
        &[],
        s.oldest_waiting_seconds.unwrap_or(0.0),
    );
    family(
        &mut out,
        "postbooth_publishing_held",
        "gauge",
        "1 while publishing waits (quota, publish window, rate limit, login, disk).",
    )
    .sample(
        "postbooth_publishing_held",
        &[],
        bool_value(s.publishing_held),
    );
    if let Some(left) = s.posts_left {
        family(
            &mut out,
            "postbooth_posts_left",
            "gauge",
            "Posts Instagram still allows in the rolling 24 hours (content_publishing_limit).",
        )
        .sample("postbooth_posts_left", &[], left as f64);
    }
    if let Some(total) = s.quota_total {
        family(
            &mut out,
            "postbooth_posts_quota",
            "gauge",
            "Posts Instagram allows per rolling 24 hours.",
        )
        .sample("postbooth_posts_quota", &[], total as f64);
    }
    if let Some(secs) = s.token_expires_in_seconds {
        family(
            &mut out,
            "postbooth_token_expiry_seconds",
            "gauge",
            "Seconds until the Instagram access token expires (negative: expired).",
        )
        .sample("postbooth_token_expiry_seconds", &[], secs as f64);
    }
    if let Some(free) = s.disk_free_bytes {
        family(
            &mut out,
            "postbooth_disk_free_bytes",
            "gauge",
            "Bytes free for the booth on the store's filesystem.",
        )
        .sample("postbooth_disk_free_bytes", &[], free as f64);
    }
    if let Some(size) = s.disk_size_bytes {
        family(
            &mut out,
            "postbooth_disk_size_bytes",
            "gauge",
            "Size of the store's filesystem in bytes.",
        )
        .sample("postbooth_disk_size_bytes", &[], size as f64);
    }

    // Parts that answer or not.
    family(
        &mut out,
        "postbooth_camera_up",
        "gauge",
        "1 while the camera answers.",
    )
    .sample("postbooth_camera_up", &[], bool_value(c.camera_up));
    family(
        &mut out,
        "postbooth_display_up",
        "gauge",
        "1 while the display answers (also 1 with no display configured).",
    )
    .sample("postbooth_display_up", &[], bool_value(c.display_up));
    family(
        &mut out,
        "postbooth_network_up",
        "gauge",
        "0 after Instagram could not be reached, until a call gets through again.",
    )
    .sample("postbooth_network_up", &[], bool_value(c.network_up));
    if let Some(connected) = s.mqtt_connected {
        family(
            &mut out,
            "postbooth_mqtt_connected",
            "gauge",
            "1 while the booth is connected to its MQTT broker.",
        )
        .sample("postbooth_mqtt_connected", &[], bool_value(connected));
    }
    {
        let served = c.served_version.as_deref().unwrap_or(&s.graph_api_version);
        family(
            &mut out,
            "postbooth_graph_api_served_version_info",
            "gauge",
            "Constant 1; `served` is the Graph API version that answered (facebook-api-version \
             header), `asked` the one in instagram.graph_url. They differ once Meta retires the \
             version asked for: move instagram.graph_url to a current version.",
        )
        .sample(
            "postbooth_graph_api_served_version_info",
            &[("asked", &s.graph_api_version), ("served", served)],
            1.0,
        );
        family(
            &mut out,
            "postbooth_graph_api_version_mismatch",
            "gauge",
            "1 when the Graph API answered with another version than instagram.graph_url asks \
             for (Meta retired it): change instagram.graph_url.",
        )
        .sample(
            "postbooth_graph_api_version_mismatch",
            &[],
            bool_value(served != s.graph_api_version),
        );
    }

    histogram(
        &mut out,
        "postbooth_capture_duration_seconds",
        "Seconds from the shot to the photo being saved durably.",
        &c.capture,
    );
    histogram(
        &mut out,
        "postbooth_publish_duration_seconds",
        "Seconds from staging a photo to its post being live.",
        &c.publish,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let mut s = Snapshot {
            version: "0.1.0".into(),
            graph_api_version: "v25.0".into(),
            queue: vec![("Captured".into(), 2), ("Done".into(), 5)],
            oldest_waiting_seconds: Some(12.5),
            posts_left: Some(97),
            token_expires_in_seconds: Some(86_400),
            disk_free_bytes: Some(1 << 30),
            ..Snapshot::default()
        };
        s.counters.capture = Histogram::new(&[1.0, 2.0]);
        s.counters.capture.observe(0.4);
        s.counters.publish = Histogram::new(&[5.0]);
        s.counters.camera_up = true;
        s.counters.publish_errors.insert("transient".into(), 3);
        s
    }

    #[test]
    fn every_state_and_class_has_a_series() {
        let text = render(&snapshot());
        assert!(text.contains("postbooth_queue_jobs{state=\"Captured\"} 2\n"));
        assert!(text.contains("postbooth_queue_jobs{state=\"Failed\"} 0\n"));
        assert!(text.contains("postbooth_publish_errors_total{class=\"transient\"} 3\n"));
        assert!(text.contains("postbooth_jobs_failed_total{class=\"auth\"} 0\n"));
        assert!(text.contains("postbooth_oldest_waiting_seconds 12.5\n"));
        assert!(text.contains("postbooth_capture_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("postbooth_camera_up 1\n"));
        assert!(text.contains(
            "postbooth_graph_api_served_version_info{asked=\"v25.0\",served=\"v25.0\"} 1\n"
        ));
        // Unknown values are left out, not shown as zero.
        assert!(!text.contains("postbooth_posts_quota"));
        assert!(!text.contains("postbooth_mqtt_connected"));
    }

    #[test]
    fn each_family_has_help_and_type_once_and_counters_end_in_total() {
        let text = render(&snapshot());
        let mut seen = std::collections::HashSet::new();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut parts = line.split(' ').skip(2);
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(seen.insert(name.to_string()), "{name} twice");
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has help");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(3.0), "3");
    }
}
