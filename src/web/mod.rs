//! The booth's web pages on `web.listen`: the guest screen at `/` (live preview, countdown,
//! the photo just taken, its QR code, a touch button, an idle slideshow), guests' download
//! pages at `/p/<link>`, and the operator console at `/admin` ([`admin`]). Every byte of the
//! pages is compiled in (`src/web/assets`), so they work with no internet. Live updates are
//! server-sent events; the preview is an MJPEG stream of the camera's live frames.
//!
//! A problem here (a port in use, a `public_url` that is not a URL, a bad password file) is
//! logged naming its key and stops only the web pages: the booth goes on taking photos.

pub mod admin;
pub mod links;
pub mod logbuf;
pub mod qr;
pub mod ratelimit;

use crate::config::{Config, TriggerKind};
use crate::hw::camera::preview::Preview;
use crate::hw::trigger::{Press, PressSender};
use crate::job::{Job, JobState};
use crate::publish::gate::Gate;
use crate::store::Store;
use crate::ui::{Screen, Status};
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use links::LinkKey;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch, Notify};

const GUEST_HTML: &str = include_str!("assets/guest.html");
const GUEST_JS: &str = include_str!("assets/guest.js");
const STYLE_CSS: &str = include_str!("assets/style.css");
const DOWNLOAD_HTML: &str = include_str!("assets/download.html");

/// What the web pages need from the running booth.
pub struct WebDeps {
    pub config: Config,
    pub store: Store,
    pub status: watch::Receiver<Status>,
    /// The last photo saved ([`crate::shoot::Shooter::subscribe_saved`]).
    pub saved: watch::Receiver<Option<Job>>,
    pub preview: Preview,
    pub presses: PressSender,
    pub gate: Arc<Gate>,
    /// Pokes the publisher after an approval or a retry in the console.
    pub wake: Arc<Notify>,
    /// Routes served beside the pages (`/metrics`).
    pub extra: Option<Router>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("web.listen is {0:?}: not an address and port like \"127.0.0.1:8080\" or \"0.0.0.0:8080\"; fix it in the config (\"\" turns the web pages off)")]
    BadListen(String),
    #[error("web.listen: cannot listen on {addr}: {source}; is another program (or another postbooth) using that port? Change web.listen to a free port")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("web.public_url is {value:?}: {why}; set it to the address guests' phones reach the booth at, like \"http://192.168.4.1:8080\" (\"\" uses web.listen)")]
    PublicUrl { value: String, why: String },
    #[error("cannot make the download-link key {path}: {source}")]
    LinkKey {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The running web server; stops when dropped.
pub struct WebServer {
    pub local_addr: SocketAddr,
    /// What QR codes point to.
    pub public_url: String,
    _stop: oneshot::Sender<()>,
}

/// Shared by every request.
pub(crate) struct App {
    pub config: Config,
    pub store: Store,
    pub status: watch::Receiver<Status>,
    pub saved: watch::Receiver<Option<Job>>,
    pub preview: Preview,
    pub presses: Option<PressSender>,
    pub gate: Arc<Gate>,
    pub wake: Arc<Notify>,
    pub links: LinkKey,
    pub public_url: String,
    pub admin: admin::Admin,
}

/// `web.public_url` checked: an http(s) URL without query or fragment, no trailing slash.
pub fn public_url(value: &str, local: SocketAddr) -> Result<String, WebError> {
    if value.is_empty() {
        return Ok(format!("http://{local}"));
    }
    let bad = |why: &str| WebError::PublicUrl {
        value: value.to_string(),
        why: why.to_string(),
    };
    let url = url::Url::parse(value).map_err(|e| bad(&format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            "it must start with http:// or https:// and name a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a ?query or #fragment"));
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// Starts the web pages, or `Ok(None)` when `web.listen` is "".
pub async fn start(deps: WebDeps) -> Result<Option<WebServer>, WebError> {
    let listen = deps.config.web.listen.trim().to_string();
    if listen.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| WebError::BadListen(listen.clone()))?;
    // Checked before binding, so a bad URL never leaves a half-started server.
    if !deps.config.web.public_url.is_empty() {
        public_url(&deps.config.web.public_url, addr)?;
    }
    let key_path = deps.store.root().join("web-link.key");
    let links = {
        let path = key_path.clone();
        tokio::task::spawn_blocking(move || LinkKey::load_or_create(&path))
            .await
            .expect("reading a key does not panic")
            .map_err(|source| WebError::LinkKey {
                path: key_path,
                source,
            })?
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Listen { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| WebError::Listen { addr, source })?;
    let public = public_url(&deps.config.web.public_url, local_addr)?;
    let admin = admin::Admin::open(&deps.config.web.admin_password_file);
    match admin.problem() {
        None => {}
        // Not set: the operator chose no console.
        Some(problem) if deps.config.web.admin_password_file.as_os_str().is_empty() => {
            tracing::info!(key = "web.admin_password_file", %problem, "the operator console is off");
        }
        Some(problem) => {
            tracing::error!(key = "web.admin_password_file", %problem, "the operator console is off; the guest screen and the booth go on");
        }
    }
    let presses = deps
        .config
        .clone()
        .trigger
        .kinds
        .contains(&TriggerKind::Web)
        .then_some(deps.presses);
    let app = Arc::new(App {
        config: deps.config,
        store: deps.store,
        status: deps.status,
        saved: deps.saved,
        preview: deps.preview,
        presses,
        gate: deps.gate,
        wake: deps.wake,
        links,
        public_url: public.clone(),
        admin,
    });
    let mut router = router(app);
    if let Some(extra) = deps.extra {
        router = router.merge(extra);
    }
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "web pages stopped");
        }
    });
    tracing::info!(%local_addr, public_url = %public, "web pages: guest screen at /, console at /admin");
    Ok(Some(WebServer {
        local_addr,
        public_url: public,
        _stop: stop,
    }))
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(guest_page))
        .route(
            "/app.js",
            get(|| asset(GUEST_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/style.css",
            get(|| asset(STYLE_CSS, "text/css; charset=utf-8")),
        )
        .route("/events", get(events))
        .route("/state", get(state_json))
        .route("/preview.mjpg", get(preview_stream))
        .route("/preview.jpg", get(preview_frame))
        .route("/press", post(press))
        .route("/slides", get(slides))
        .route("/p/{link}", get(download_page))
        .route("/p/{link}/photo.jpg", get(download_photo))
        .merge(admin::router())
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

/// Every response: no framing, no sniffing, no referrer to other sites, scripts and styles only from here.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn asset(text: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

async fn guest_page() -> Html<&'static str> {
    Html(GUEST_HTML)
}

impl App {
    /// The download link's path for a job (valid `web.link_hours` from when it was taken).
    pub(crate) fn link_of(&self, job: &Job) -> String {
        let expires = job.created_at_ms + self.config.web.link_hours * 3_600_000;
        self.links.link(job.id, expires)
    }
}

/// What the guest screen shows, as one JSON object (sent again whenever it changes).
fn guest_state(app: &App, status: &Status, last: Option<&Job>) -> serde_json::Value {
    let [top, bottom] = crate::ui::lines(status);
    let (screen, secs) = match &status.screen {
        Screen::Idle => ("idle", 0),
        Screen::Countdown { secs, .. } => ("countdown", *secs),
        Screen::Smile => ("smile", 0),
        Screen::Saving => ("saving", 0),
        Screen::Saved => ("saved", 0),
        Screen::AskToPost { secs } => ("ask", *secs),
        Screen::WillPost => ("willpost", 0),
        Screen::Publishing { .. } => ("publishing", 0),
        Screen::Posted { .. } => ("posted", 0),
        Screen::Offline => ("offline", 0),
        Screen::CameraMissing => ("camera", 0),
        _ => ("notice", 0),
    };
    let photo = last
        .filter(|j| !matches!(j.state, JobState::Rejected { .. }))
        .map(|job| {
            let link = app.link_of(job);
            let page = format!("{}/p/{link}", app.public_url);
            let permalink = job.state.permalink().map(str::to_string);
            // Posted: the post itself; otherwise the photo's own download page.
            let target = permalink.clone().unwrap_or_else(|| page.clone());
            serde_json::json!({
                "id": job.id,
                "src": format!("/p/{link}/photo.jpg"),
                "page": page,
                "state": job.state.name(),
                "posted": job.state.is_published(),
                "permalink": permalink,
                "qr_target": target,
                "qr": qr::svg(&target),
            })
        });
    serde_json::json!({
        "screen": screen,
        "secs": secs,
        "top": top,
        "bottom": bottom,
        "photo": photo,
        "press": app.presses.is_some(),
        "mirror": preview_flipped(app.config.web.mirror_preview, app.config.image.mirror),
        "slideshow_after_secs": app.config.web.slideshow_after_secs,
    })
}

/// Whether the page flips the preview: the camera's preview frames are already mirrored when
/// the photos are (`image.mirror`), so the page flips them only to make the difference.
fn preview_flipped(mirror_preview: bool, photo_mirrored: bool) -> bool {
    mirror_preview != photo_mirrored
}

/// The last photo as it is now in the store (it may have been posted since it was saved).
async fn last_photo(app: &App) -> Option<Job> {
    let saved = app.saved.borrow().clone()?;
    let id = saved.id;
    app.store
        .blocking(move |s| s.get(id).ok())
        .await
        .or(Some(saved))
}

async fn state_json(State(app): State<Arc<App>>) -> Response {
    let last = last_photo(&app).await;
    let status = app.status.borrow().clone();
    axum::Json(guest_state(&app, &status, last.as_ref())).into_response()
}

/// Server-sent events: the guest state now, then each time it changes (looked at on every
/// status or photo change, and every two seconds for a post that went live meanwhile).
async fn events(State(app): State<Arc<App>>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let (status, saved) = (app.status.clone(), app.saved.clone());
    let stream = futures_util::stream::unfold(
        (app, status, saved, None::<String>),
        |(app, mut status, mut saved, sent)| async move {
            loop {
                if sent.is_some() {
                    tokio::select! {
                        r = status.changed() => if r.is_err() { return None },
                        r = saved.changed() => if r.is_err() { return None },
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    }
                }
                let last = last_photo(&app).await;
                let now = status.borrow_and_update().clone();
                saved.borrow_and_update();
                let text = guest_state(&app, &now, last.as_ref()).to_string();
                if sent.as_deref() != Some(text.as_str()) {
                    let event = Event::default().event("state").data(text.clone());
                    return Some((
                        Ok::<_, std::convert::Infallible>(event),
                        (app, status, saved, Some(text)),
                    ));
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The live preview as an MJPEG stream (an `<img>` shows it; no script). A viewer is a
/// subscriber: the camera makes preview frames only while someone watches.
async fn preview_stream(State(app): State<Arc<App>>) -> Response {
    let rx = app.preview.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            // A quiet camera is waited for; a closed stream ends the response.
            if let Ok(Err(_)) = tokio::time::timeout(Duration::from_secs(10), rx.changed()).await {
                return None;
            }
            let frame = rx.borrow_and_update().clone();
            if let Some(frame) = frame {
                let mut part = Vec::with_capacity(frame.jpeg.len() + 100);
                part.extend_from_slice(
                    format!(
                        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        frame.jpeg.len()
                    )
                    .as_bytes(),
                );
                part.extend_from_slice(&frame.jpeg);
                part.extend_from_slice(b"\r\n");
                return Some((Ok::<_, std::io::Error>(bytes::Bytes::from(part)), rx));
            }
        }
    });
    (
        [
            (
                header::CONTENT_TYPE,
                "multipart/x-mixed-replace; boundary=frame",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// One preview frame (for a page that polls instead of streaming).
async fn preview_frame(State(app): State<Arc<App>>) -> Response {
    let mut rx = app.preview.subscribe();
    let now = rx.borrow_and_update().clone();
    let frame = match now {
        Some(f) => Some(f),
        None => tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .ok()
            .and_then(|_| rx.borrow().clone()),
    };
    match frame {
        Some(f) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            f.jpeg.clone(),
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no preview frame yet").into_response(),
    }
}

/// The touch button. Needs the `X-Postbooth: press` header: a cross-site form or image cannot
/// send it (a script would need CORS, which this server never allows), so no other site can
/// make the booth take photos.
async fn press(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if headers.get("x-postbooth").and_then(|v| v.to_str().ok()) != Some("press") {
        return (
            StatusCode::FORBIDDEN,
            "the press must come from the guest screen",
        )
            .into_response();
    }
    let Some(presses) = &app.presses else {
        return (
            StatusCode::FORBIDDEN,
            "the touch button is off: add \"web\" to trigger.kinds",
        )
            .into_response();
    };
    match presses.send(Press { done: None }) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({"ok": true})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the booth is shutting down",
        )
            .into_response(),
    }
}

/// Recent photos for the idle slideshow: only ones allowed to be posted, newest first.
async fn slides(State(app): State<Arc<App>>) -> Response {
    let jobs = app.store.blocking(|s| s.jobs()).await.unwrap_or_default();
    let now = app.store.now_ms();
    let max_age = app.config.web.link_hours * 3_600_000;
    let list: Vec<String> = jobs
        .iter()
        .rev()
        .filter(|j| !j.state.is_unapproved() && !matches!(j.state, JobState::Failed { .. }))
        .filter(|j| j.kind.is_photo() && now <= j.created_at_ms + max_age)
        .filter(|j| app.store.photo_path(j).exists())
        .take(20)
        .map(|j| format!("/p/{}/photo.jpg", app.link_of(j)))
        .collect();
    axum::Json(list).into_response()
}

/// The job a download link names, if the link checks out and the photo may be shown.
async fn linked_job(app: &App, link: &str) -> Result<Job, Box<Response>> {
    let refuse = |code: StatusCode, why: String| {
        Err(Box::new(
            (
                code,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                why,
            )
                .into_response(),
        ))
    };
    let checked = match app.links.check(link, app.store.now_ms()) {
        Ok(l) => l,
        Err(links::LinkError::Expired) => {
            return refuse(StatusCode::GONE, "this link has expired".into())
        }
        Err(_) => return refuse(StatusCode::NOT_FOUND, "no such photo".into()),
    };
    let id = checked.id;
    match app.store.blocking(move |s| s.get(id)).await {
        Ok(job) if matches!(job.state, JobState::Rejected { .. }) => {
            refuse(StatusCode::NOT_FOUND, "no such photo".into())
        }
        Ok(job) => Ok(job),
        Err(_) => refuse(StatusCode::NOT_FOUND, "no such photo".into()),
    }
}

async fn download_page(State(app): State<Arc<App>>, UrlPath(link): UrlPath<String>) -> Response {
    match linked_job(&app, &link).await {
        Ok(job) => {
            let html = DOWNLOAD_HTML
                .replace("{{photo}}", &format!("/p/{link}/photo.jpg"))
                .replace("{{name}}", &format!("postbooth-{}.jpg", job.id.simple()));
            Html(html).into_response()
        }
        Err(r) => *r,
    }
}

async fn download_photo(State(app): State<Arc<App>>, UrlPath(link): UrlPath<String>) -> Response {
    let job = match linked_job(&app, &link).await {
        Ok(job) => job,
        Err(r) => return *r,
    };
    // The path comes from the job record, never from the URL.
    let path = app.store.photo_path(&job);
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "the photo is no longer on the booth").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> SocketAddr {
        "127.0.0.1:8080".parse().unwrap()
    }

    #[test]
    fn the_preview_is_a_mirror_whatever_the_photos_are() {
        assert!(preview_flipped(true, false));
        assert!(!preview_flipped(true, true), "frames already mirrored");
        assert!(!preview_flipped(false, false));
        assert!(preview_flipped(false, true), "shown as the camera sees");
    }

    #[test]
    fn public_url_defaults_to_the_listen_address_and_refuses_non_urls() {
        assert_eq!(public_url("", local()).unwrap(), "http://127.0.0.1:8080");
        assert_eq!(
            public_url("http://192.168.4.1:8080/", local()).unwrap(),
            "http://192.168.4.1:8080"
        );
        for bad in ["booth.local", "ftp://x", "http://x/?a=1", "not a url"] {
            let e = public_url(bad, local()).unwrap_err().to_string();
            assert!(e.contains("web.public_url"), "{e}");
        }
    }
}
