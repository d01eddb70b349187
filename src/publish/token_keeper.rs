//! The daemon's token task: picks up a token file changed on disk (`postbooth auth refresh`, or
//! an operator's new token), refreshes the token well before it expires, and puts the days
//! left on the display when fewer than a week remain. Publishing never waits for it.

use super::graph::{GraphClient, Token};
use super::token::{self, Renewal};
use crate::config::Config;
use crate::ui::StatusSender;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

/// How often the token file is looked at without being asked (a local read).
const CHECK_EVERY: Duration = Duration::from_secs(60);
/// After a failed refresh, the next try (a Graph call) waits this long.
const REFRESH_RETRY: Duration = Duration::from_secs(3600);

pub async fn run(
    config: Config,
    graph: Arc<GraphClient>,
    status: StatusSender,
    wake_publisher: Arc<Notify>,
    reload: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let file = config.instagram.access_token_file.clone();
    let renewal = token::renewal(&config);
    let mut next_refresh_try = tokio::time::Instant::now();
    loop {
        if let Ok(on_disk) = Token::load(&file) {
            if token::token_hash(&on_disk) != token::token_hash(&graph.token()) {
                info!(file = %file.display(), "the token file changed: using the new token");
                graph.set_token(on_disk);
                wake_publisher.notify_one();
            }
        }
        let now = crate::clock::system_ms() / 1000;
        let mut record = token::load_record(&file, &graph.token());
        if token::refresh_due(renewal, &record, now)
            && tokio::time::Instant::now() >= next_refresh_try
        {
            next_refresh_try = tokio::time::Instant::now() + REFRESH_RETRY;
            match token::refresh(&config, &graph, now).await {
                Ok(new) => {
                    info!(
                        days_left = new.days_left(now),
                        "access token refreshed and written to the token file"
                    );
                    record = new;
                    wake_publisher.notify_one();
                }
                Err(e) => {
                    warn!(error = %e, days_left = record.days_left(now), "could not refresh the access token; trying again later")
                }
            }
        }
        let left = record.days_left(now);
        let notice = (renewal != Renewal::FacebookPage && left < token::WARN_DAYS_LEFT).then(
            || match left {
                0 => "Login expires today".to_string(),
                1 => "Login: 1 day left".to_string(),
                n => format!("Login: {n} days left"),
            },
        );
        // A login warning wins over the likes line; without one, the likes line stays.
        status.send_modify(|s| match notice {
            Some(n) => s.notice = Some(n),
            None if s.notice.as_deref().is_some_and(|n| n.starts_with("Login")) => s.notice = None,
            None => {}
        });
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = reload.notified() => {}
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}
