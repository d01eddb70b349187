//! Fail points for crash tests. `POSTBOOTH_FAILPOINT=<name>` makes the process abort (as a
//! power cut or SIGKILL would stop it) the first time it passes the point called `<name>`;
//! `POSTBOOTH_FAILPOINT=<name>:<n>` aborts on the n-th pass. Unset, a fail point costs one
//! relaxed atomic load.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

struct Armed {
    name: String,
    /// Passes left before aborting.
    remaining: AtomicU32,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("POSTBOOTH_FAILPOINT").ok()?;
            let (name, n) = match spec.split_once(':') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Armed {
                name,
                remaining: AtomicU32::new(n),
            })
        })
        .as_ref()
}

/// Every fail point name, so tests can walk them all.
pub const ALL: &[&str] = &[
    "capture.blob-written",
    "capture.record-written",
    "stage.before-persist",
    "container.created-before-persist",
    "container.finished-before-persist",
    "publish.intent-persisted",
    "publish.response-received",
    "publish.published-persisted",
    "finish.before-persist",
    "carousel.child-created-before-persist",
    "carousel.child-persisted",
    "comment.intent-persisted",
    "comment.response-received",
    "upload.part-sent",
    "combine.carousel-saved",
    "story.sidecar-written",
];

/// Fail points of pruning (`Store::prune_done`), walked by `tests/prune.rs`. Not in [`ALL`]:
/// the crash test's booth never holds a job old enough to prune, so they would never fire there.
pub const PRUNE: &[&str] = &["prune.photos-moved", "prune.sidecars-moved"];

/// Aborts the process here if this fail point is armed and its count is reached.
pub fn hit(name: &str) {
    let Some(armed) = armed() else { return };
    if armed.name != name {
        return;
    }
    if armed.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
        eprintln!("postbooth: fail point {name} reached, aborting");
        std::process::abort();
    }
}
