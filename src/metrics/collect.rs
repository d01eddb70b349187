//! Gathers a [`Snapshot`] at scrape time: the live counters from [`Telemetry`], and the
//! gauges read where they live (the queue from the store, the quota from the gate, the token's
//! expiry from its record, free disk from the filesystem). Reads only; never blocks capture
//! (the queue is read on the blocking pool, like every other store read).

use super::render::Snapshot;
use crate::config::Config;
use crate::job::Job;
use crate::publish::gate::Gate;
use crate::publish::token::{self, Renewal};
use crate::store::Store;
use crate::telemetry::Telemetry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// Where a scrape reads from. Cheap to clone.
#[derive(Clone)]
pub struct Sources {
    pub telemetry: Arc<Telemetry>,
    pub store: Store,
    pub gate: Arc<Gate>,
    /// Knows which Graph API version served the last answer.
    pub graph: Arc<crate::publish::graph::GraphClient>,
    pub token_file: PathBuf,
    pub renewal: Renewal,
    pub graph_api_version: String,
    /// Set when MQTT is configured: `true` while connected.
    pub mqtt_connected: Option<watch::Receiver<bool>>,
    pub start_time_seconds: f64,
}

impl Sources {
    pub fn new(
        config: &Config,
        telemetry: Arc<Telemetry>,
        store: Store,
        gate: Arc<Gate>,
        graph: Arc<crate::publish::graph::GraphClient>,
    ) -> Self {
        Self {
            telemetry,
            store,
            gate,
            graph,
            token_file: config.instagram.access_token_file.clone(),
            renewal: token::renewal(config),
            graph_api_version: graph_api_version(&config.instagram.graph_url),
            mqtt_connected: None,
            start_time_seconds: crate::clock::system_ms() as f64 / 1000.0,
        }
    }

    pub async fn snapshot(&self) -> Snapshot {
        let now_ms = crate::clock::system_ms();
        let jobs = self.store.blocking(|s| s.jobs()).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "metrics: cannot read the queue");
            Vec::new()
        });
        let (queue, oldest) = queue_figures(&jobs, now_ms);
        let info = self.gate.info();
        let (free, size) = disk(self.store.root());
        let mut counters = self.telemetry.counters();
        counters.served_version = self.graph.served_version();
        Snapshot {
            counters,
            queue,
            oldest_waiting_seconds: oldest,
            posts_left: info.posts_left,
            quota_total: info.quota_total,
            publishing_held: info.waiting_because.is_some(),
            token_expires_in_seconds: self.token_expiry(now_ms / 1000),
            disk_free_bytes: free,
            disk_size_bytes: size,
            version: env!("CARGO_PKG_VERSION").to_string(),
            graph_api_version: self.graph_api_version.clone(),
            mqtt_connected: self.mqtt_connected.as_ref().map(|rx| *rx.borrow()),
            start_time_seconds: self.start_time_seconds,
        }
    }

    /// Seconds until the token expires; `None` for a token that does not (a Page token) or
    /// a token file that cannot be read (doctor says why).
    pub fn token_expiry(&self, now: u64) -> Option<i64> {
        if self.renewal == Renewal::FacebookPage {
            return None;
        }
        let token = crate::publish::graph::Token::load(&self.token_file).ok()?;
        let record = token::load_record(&self.token_file, &token);
        Some(record.expires_at() as i64 - now as i64)
    }
}

/// `v25.0` from `https://graph.facebook.com/v25.0` (empty when the URL names no version).
pub fn graph_api_version(graph_url: &str) -> String {
    graph_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| s.starts_with('v') && s[1..].chars().all(|c| c.is_ascii_digit() || c == '.'))
        .unwrap_or("")
        .to_string()
}

/// Jobs per state, and the age in seconds of the oldest job still waiting to be posted. Pure.
pub fn queue_figures(jobs: &[Job], now_ms: u64) -> (Vec<(String, u64)>, Option<f64>) {
    let mut queue: Vec<(String, u64)> = Vec::new();
    for job in jobs {
        let name = job.state.name();
        match queue.iter_mut().find(|(s, _)| s == name) {
            Some((_, n)) => *n += 1,
            None => queue.push((name.to_string(), 1)),
        }
    }
    let oldest = jobs
        .iter()
        .filter(|j| j.state.is_pending())
        .map(|j| j.created_at_ms)
        .min()
        .map(|created| now_ms.saturating_sub(created) as f64 / 1000.0);
    (queue, oldest)
}

/// Free bytes (for an unprivileged writer) and the size of the filesystem holding `path`.
fn disk(path: &Path) -> (Option<u64>, Option<u64>) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return (None, None);
    };
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and stat a valid out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return (None, None);
    }
    let unit = stat.f_frsize as u64;
    (
        Some(stat.f_bavail as u64 * unit),
        Some(stat.f_blocks as u64 * unit),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_the_last_path_segment() {
        assert_eq!(
            graph_api_version("https://graph.facebook.com/v25.0"),
            "v25.0"
        );
        assert_eq!(graph_api_version("http://127.0.0.1:9/v21.0/"), "v21.0");
        assert_eq!(graph_api_version("https://graph.instagram.com"), "");
    }
}
