//! Queue commands shared by the control socket (daemon running) and the CLI (daemon stopped).

use crate::job::JobState;
use crate::store::{Store, StoreError};
use uuid::Uuid;

/// Retries one job, or every failed one. Returns how many were restarted.
pub fn retry(store: &Store, id: Option<Uuid>, all_failed: bool) -> Result<usize, StoreError> {
    if let Some(id) = id {
        return Ok(usize::from(store.retry(id)?));
    }
    let mut n = 0;
    if all_failed {
        for job in store.jobs()? {
            if matches!(job.state, JobState::Failed { .. }) && store.retry(job.id)? {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Answers a queue request with the daemon stopped, by opening the store directly.
pub async fn offline(
    config: &crate::config::Config,
    request: crate::control::Request,
) -> anyhow::Result<crate::control::Response> {
    use crate::control::{Request, Response};
    let store_cfg = config.store.clone();
    let caption = config.instagram.caption.clone();
    tokio::task::spawn_blocking(move || {
        let (store, _) = Store::open(&store_cfg, &caption)?;
        Ok(match request {
            Request::List => Response::jobs(store.jobs()?),
            Request::Retry { id, all_failed } => Response::count(retry(&store, id, all_failed)?),
            Request::Drop { id } => Response::jobs(vec![store.drop_job(id)?]),
            Request::Shoot | Request::ReloadToken => Response::error("the booth is not running"),
        })
    })
    .await?
}
