//! The control socket: a Unix socket in the store directory, owner-only, one JSON line per
//! request and per answer. `postbooth shoot` and the `queue` commands talk to a running
//! daemon through it (sled lets only one process open the queue).

use crate::job::Job;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Shoot,
    List,
    Retry {
        id: Option<Uuid>,
        all_failed: bool,
    },
    Drop {
        id: Uuid,
    },
    /// Post a saved photo to Stories too (`postbooth queue story ID`).
    Story {
        id: Uuid,
    },
    /// Queue an operator's MP4 as a Reel (`postbooth post --video`).
    PostVideo {
        path: std::path::PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    /// Post a held photo (`postbooth queue approve ID`, `publish.review`).
    Approve {
        id: Uuid,
    },
    /// Never post a held photo (`postbooth queue reject ID`).
    Reject {
        id: Uuid,
    },
    /// The token file changed (`postbooth auth refresh`): read it again.
    ReloadToken,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// With `list`: what the publisher knows about the quota and why it waits, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishing: Option<crate::publish::gate::GateInfo>,
}

impl Response {
    pub fn jobs(jobs: Vec<Job>) -> Self {
        Self {
            ok: true,
            error: None,
            jobs,
            count: None,
            publishing: None,
        }
    }
    pub fn count(count: usize) -> Self {
        Self {
            ok: true,
            error: None,
            jobs: Vec::new(),
            count: Some(count),
            publishing: None,
        }
    }
    pub fn error(e: impl ToString) -> Self {
        Self {
            ok: false,
            error: Some(e.to_string()),
            jobs: Vec::new(),
            count: None,
            publishing: None,
        }
    }
}

/// One line of `queue list --json`: the names outside checks rely on, plus a few more.
pub fn summary(job: &Job) -> serde_json::Value {
    serde_json::json!({
        "id": job.id,
        "state": job.state.name(),
        "attempts": job.attempts,
        "media_id": job.state.media_id(),
        "permalink": job.state.permalink(),
        "error": match &job.state {
            crate::job::JobState::Failed { reason } => Some(reason.clone()),
            _ => job.last_error.clone(),
        },
        "container_id": job.state.container_id(),
        "caption": job.caption,
        "created_at_ms": job.created_at_ms,
        "sha256": job.blob.sha256,
        "kind": job.kind.name(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("another postbooth is already running with this store ({0} answers): stop it first")]
    AlreadyRunning(String),
    #[error("cannot create the control socket {path}: {error}")]
    Bind { path: String, error: std::io::Error },
}

/// Binds the control socket, replacing a stale one left by a crash, owner-only.
pub fn bind(path: &Path) -> Result<UnixListener, SocketError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display().to_string();
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(SocketError::AlreadyRunning(shown));
        }
        let _ = std::fs::remove_file(path);
    }
    let bind_err = |error| SocketError::Bind {
        path: shown.clone(),
        error,
    };
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(listener)
}

/// Sends one request to a running daemon. `Ok(None)` when no daemon is listening.
pub async fn call(socket: &Path, request: &Request) -> std::io::Result<Option<Response>> {
    let mut stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let mut line = serde_json::to_vec(request).expect("requests serialize");
    line.push(b'\n');
    stream.write_all(&line).await?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).await?;
    serde_json::from_str(&answer).map(Some).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad answer from the daemon: {e}"),
        )
    })
}

/// Reads one request from a connection and writes the handler's answer.
pub async fn handle_connection<F, Fut>(stream: UnixStream, handler: F)
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let response = match BufReader::new(read).read_line(&mut line).await {
        Ok(_) => match serde_json::from_str::<Request>(&line) {
            Ok(request) => handler(request).await,
            Err(e) => Response::error(format!("bad request: {e}")),
        },
        Err(e) => Response::error(format!("cannot read request: {e}")),
    };
    let mut out = serde_json::to_vec(&response).expect("responses serialize");
    out.push(b'\n');
    let _ = write.write_all(&out).await;
}
