//! `GET /metrics` over HTTP: [`router`] is an axum `Router` that the web listener can merge,
//! and [`serve`] runs it on its own listener (`metrics.listen`) when the web screen is off.

use super::collect::Sources;
use super::render::render;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone)]
struct MetricsState {
    sources: Sources,
    /// The bearer token a scrape must send, when one is configured.
    bearer: Option<Arc<str>>,
}

/// `GET /metrics`, answered from `sources`; with `bearer`, only for `Authorization: Bearer
/// <it>` (401 otherwise). Merge it into another router, or [`serve`] it on its own.
pub fn router(sources: Sources, bearer: Option<Arc<str>>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(MetricsState { sources, bearer })
}

async fn scrape(State(state): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.bearer {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same_secret(sent.trim().as_bytes(), expected.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "send the token of metrics.token_file as `Authorization: Bearer <token>`\n",
            )
                .into_response();
        }
    }
    let text = render(&state.sources.snapshot().await);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Compares in time that depends only on the length, so a scraper cannot guess the token
/// byte by byte.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Reads the bearer token file (`metrics.token_file`); like the Instagram token, it must not
/// be readable by other users.
pub fn load_bearer(path: &Path) -> anyhow::Result<Arc<str>> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read metrics.token_file {}: {e}; write the token a scraper must send there \
             (chmod 600), or set metrics.token_file = \"\" for no token",
            path.display()
        )
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "metrics.token_file {} can be read by other users (mode {mode:o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let token = std::fs::read_to_string(path)?.trim().to_string();
    if token.is_empty() {
        anyhow::bail!(
            "metrics.token_file {} is empty: write the token a scraper must send",
            path.display()
        );
    }
    Ok(token.into())
}

/// Serves `router` on `listen` until `shutdown` turns true. Returns the bound address.
pub async fn serve(
    listen: &str,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let addr: SocketAddr = listen.parse().map_err(|e| {
        anyhow::anyhow!("metrics.listen = {listen:?} is not an address like 127.0.0.1:9464: {e}")
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr} for /metrics: {e}; is another program using that port? \
             Change metrics.listen to a free address"
        )
    })?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "metrics at http://{local}/metrics");
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok((local, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
    }
}
