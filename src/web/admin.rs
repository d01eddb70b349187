//! The operator console at `/admin`: a password (argon2 hash in `web.admin_password_file`,
//! owner-only, written by `postbooth web set-password`), a session cookie (HttpOnly,
//! SameSite=Strict, random 128 bits), a CSRF token required on every state-changing request
//! (plus a same-origin check), and failed logins limited to [`MAX_FAILURES`] a minute per
//! client address ([`super::ratelimit`]).
//! What it shows never holds a secret: no token, no S3 key, no password hash.

use super::ratelimit::LoginFailures;
pub use super::ratelimit::{FAILURE_WINDOW, MAX_FAILURES};
use super::App;
use crate::job::{Decision, Job};
use axum::extract::{ConnectInfo, Form, Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const LOGIN_HTML: &str = include_str!("assets/login.html");
const CONSOLE_HTML: &str = include_str!("assets/console.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");

/// A console session lasts a working day.
const SESSION_LIFE: Duration = Duration::from_secs(12 * 3600);
const COOKIE: &str = "postbooth_session";

#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    #[error("web.admin_password_file is not set: the console is off; run `postbooth web set-password` to turn it on")]
    NotSet,
    #[error(
        "web.admin_password_file {0} does not exist: run `postbooth web set-password` to write it"
    )]
    Missing(PathBuf),
    #[error("web.admin_password_file {path} can be read by other users (mode {mode:o}): run `chmod 600 {path}`")]
    Readable { path: PathBuf, mode: u32 },
    #[error(
        "web.admin_password_file {path}: {why}; write it again with `postbooth web set-password`"
    )]
    Bad { path: PathBuf, why: String },
}

/// Reads and checks the password file: owner-only, one argon2 PHC string.
pub fn read_password_file(path: &Path) -> Result<String, PasswordFileError> {
    use std::os::unix::fs::PermissionsExt;
    if path.as_os_str().is_empty() {
        return Err(PasswordFileError::NotSet);
    }
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PasswordFileError::Missing(path.to_path_buf()),
        _ => PasswordFileError::Bad {
            path: path.to_path_buf(),
            why: e.to_string(),
        },
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PasswordFileError::Readable {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| PasswordFileError::Bad {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let hash = text.trim().to_string();
    argon2::PasswordHash::new(&hash).map_err(|e| PasswordFileError::Bad {
        path: path.to_path_buf(),
        why: format!("not an argon2 hash ({e})"),
    })?;
    Ok(hash)
}

/// `postbooth web set-password`: hashes `password` (argon2id, random salt) into `path`,
/// owner-only from the first byte, atomically.
pub fn set_password(path: &Path, password: &str) -> anyhow::Result<()> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    if path.as_os_str().is_empty() {
        anyhow::bail!(
            "web.admin_password_file is not set: set it in the config (e.g. \"/etc/postbooth/admin-password\") first"
        );
    }
    if password.chars().count() < 8 {
        anyhow::bail!("the password is too short: use at least 8 characters");
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?
        .to_string();
    crate::publish::token::write_private_atomic(path, format!("{hash}\n").as_bytes()).map_err(
        |e| {
            anyhow::anyhow!(
                "cannot write web.admin_password_file {}: {e}",
                path.display()
            )
        },
    )?;
    Ok(())
}

fn verify(hash: &str, password: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

struct Session {
    csrf: String,
    expires: Instant,
}

/// Console state: the password hash (never sent anywhere), sessions, recent failures.
pub struct Admin {
    hash: Result<String, String>,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<LoginFailures>,
    /// The last run of doctor's checks and when it ran (one run at a time).
    doctor: tokio::sync::Mutex<Option<(Instant, serde_json::Value)>>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

impl Admin {
    pub fn open(path: &Path) -> Self {
        Self {
            hash: read_password_file(path).map_err(|e| e.to_string()),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(LoginFailures::default()),
            doctor: tokio::sync::Mutex::new(None),
        }
    }

    /// Why the console is off, if it is.
    pub fn problem(&self) -> Option<&str> {
        self.hash.as_ref().err().map(String::as_str)
    }

    fn session(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().expect("sessions lock");
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.get(&id).map(|s| s.csrf.clone())
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A state-changing request must come from a page of this booth: browsers say where a request
/// comes from (`Sec-Fetch-Site`, `Origin`), and a cross-site form post is refused even before
/// its CSRF token is looked at. Pure.
pub fn same_origin(headers: &HeaderMap) -> bool {
    // Browsers that send Sec-Fetch-Site say it exactly; their Origin may be "null" (a form
    // under a no-referrer policy), so it decides alone. Older ones: compare Origin with Host.
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let origin_host = origin.split_once("://").map(|(_, rest)| rest);
            host.is_some() && origin_host == host
        }
    }
}

fn refuse(code: StatusCode, why: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why.to_string(),
    )
        .into_response()
}

/// The session's CSRF token, or the refusal: no session, not same-origin, wrong token.
fn authorised(
    app: &App,
    headers: &HeaderMap,
    changes_state: bool,
) -> Result<String, Box<Response>> {
    let Some(csrf) = app.admin.session(headers) else {
        return Err(Box::new(refuse(StatusCode::UNAUTHORIZED, "log in first")));
    };
    if changes_state {
        if !same_origin(headers) {
            return Err(Box::new(refuse(
                StatusCode::FORBIDDEN,
                "cross-site request refused",
            )));
        }
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), csrf.as_bytes())) {
            return Err(Box::new(refuse(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token",
            )));
        }
    }
    Ok(csrf)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/admin", get(page))
        .route("/admin/", get(page))
        .route(
            "/admin/console.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    CONSOLE_JS,
                )
            }),
        )
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/api/state", get(api_state))
        .route("/admin/api/doctor", get(api_doctor))
        .route("/admin/api/jobs/{id}/{action}", post(api_job))
        .route("/admin/photo/{id}", get(photo))
}

async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let mut response = match app.admin.session(&headers) {
        Some(csrf) => Html(CONSOLE_HTML.replace("{{csrf}}", &csrf)).into_response(),
        None => {
            let note = app.admin.problem().unwrap_or("");
            Html(LOGIN_HTML.replace("{{note}}", &html_escape(note))).into_response()
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    response
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(serde::Deserialize)]
struct LoginForm {
    password: String,
}

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return refuse(StatusCode::FORBIDDEN, "cross-site request refused");
    }
    let Ok(hash) = app.admin.hash.clone() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            app.admin.problem().unwrap_or("the console is off"),
        );
    };
    // Per TCP peer address; see `ratelimit` for what that means behind a reverse proxy.
    let may = app
        .admin
        .failures
        .lock()
        .expect("failures lock")
        .may_try(peer.ip(), Instant::now());
    if !may {
        tracing::warn!(%peer, "console login refused: too many failed attempts from this address in the last minute");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed attempts: wait a minute",
        );
    }
    let password = form.password;
    let ok = tokio::task::spawn_blocking(move || verify(&hash, &password))
        .await
        .unwrap_or(false);
    if !ok {
        app.admin
            .failures
            .lock()
            .expect("failures lock")
            .record(peer.ip(), Instant::now());
        tracing::warn!(%peer, "console login failed: wrong password");
        return refuse(StatusCode::UNAUTHORIZED, "wrong password");
    }
    let id = random_token();
    app.admin.sessions.lock().expect("sessions lock").insert(
        id.clone(),
        Session {
            csrf: random_token(),
            expires: Instant::now() + SESSION_LIFE,
        },
    );
    tracing::info!(%peer, "operator logged in to the console");
    let mut response = Redirect::to("/admin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        format!(
            "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/admin; Max-Age={}",
            SESSION_LIFE.as_secs()
        )
        .parse()
        .expect("a valid cookie"),
    );
    response
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorised(&app, &headers, true) {
        return *r;
    }
    if let Some(id) = cookie(&headers, COOKIE) {
        app.admin
            .sessions
            .lock()
            .expect("sessions lock")
            .remove(&id);
    }
    let mut response = Redirect::to("/admin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0")
            .parse()
            .expect("a valid cookie"),
    );
    response
}

fn job_json(job: &Job) -> serde_json::Value {
    let mut v = crate::control::summary(job);
    // The caption and sha stay on the booth; the console needs neither.
    if let Some(o) = v.as_object_mut() {
        o.remove("sha256");
        o.insert("photo".into(), format!("/admin/photo/{}", job.id).into());
    }
    v
}

/// Everything the console shows, in one JSON object.
async fn api_state(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorised(&app, &headers, false) {
        return *r;
    }
    let jobs = app.store.blocking(|s| s.jobs()).await.unwrap_or_default();
    let gate = app.gate.info();
    let status = app.status.borrow().clone();
    let [top, bottom] = crate::ui::lines(&status);
    let root = app.store.root().to_path_buf();
    let token_file = app.config.instagram.access_token_file.clone();
    let (disk_free_mib, token_days) = tokio::task::spawn_blocking(move || {
        let disk = crate::store::durable::free_bytes(&root)
            .ok()
            .map(|b| b / (1024 * 1024));
        let days = crate::publish::graph::Token::load(&token_file)
            .ok()
            .map(|t| {
                crate::publish::token::load_record(&token_file, &t)
                    .days_left(crate::clock::system_ms() / 1000)
            });
        (disk, days)
    })
    .await
    .unwrap_or((None, None));
    let camera_ok = app.preview.subscribe().borrow().is_some()
        || !matches!(status.screen, crate::ui::Screen::CameraMissing);
    let offline = matches!(status.screen, crate::ui::Screen::Offline);
    let mut checks = vec![
        check(
            "camera",
            camera_ok,
            if camera_ok {
                "answering"
            } else {
                "missing: check the cable"
            },
        ),
        check(
            "network",
            !offline,
            if offline {
                "Instagram cannot be reached; photos are saved and posted later"
            } else {
                "Instagram reachable (or not needed yet)"
            },
        ),
    ];
    checks.push(match disk_free_mib {
        Some(m) if m >= app.config.store.min_free_mib => {
            check("disk", true, &format!("{m} MiB free"))
        }
        Some(m) => check(
            "disk",
            false,
            &format!("only {m} MiB free: new photos are refused"),
        ),
        None => check("disk", false, "cannot read the free space"),
    });
    checks.push(match token_days {
        Some(d) if d > crate::publish::token::WARN_DAYS_LEFT => {
            check("token", true, &format!("{d} days left"))
        }
        Some(d) => check(
            "token",
            false,
            &format!("{d} days left: refresh it (postbooth auth refresh)"),
        ),
        None => check("token", false, "the token file cannot be read"),
    });
    if let Some(why) = &gate.waiting_because {
        checks.push(check("publish", false, why));
    }
    let recent: Vec<serde_json::Value> = jobs.iter().rev().take(200).map(job_json).collect();
    let held = jobs.iter().filter(|j| j.state.name() == "Held").count();
    let waiting = jobs.iter().filter(|j| j.state.is_pending()).count();
    axum::Json(serde_json::json!({
        "screen": [top, bottom],
        "jobs": recent,
        "held": held,
        "waiting": waiting,
        "posts_left": gate.posts_left,
        "quota_total": gate.quota_total,
        "waiting_because": gate.waiting_because,
        "token_days_left": token_days,
        "disk_free_mib": disk_free_mib,
        "checks": checks,
        "review": app.config.publish.review,
        "log": super::logbuf::last(40),
    }))
    .into_response()
}

/// Doctor's results are reused this long: each run asks Instagram three questions and lists
/// the cameras, too much for every console refresh.
const DOCTOR_FRESH: Duration = Duration::from_secs(30);

/// `postbooth doctor`'s checks (all but the config file's, which the running booth has
/// already loaded), run on demand from the console. Read-only like doctor itself; the store
/// is asked through this booth's own control socket.
async fn api_doctor(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorised(&app, &headers, false) {
        return *r;
    }
    let mut last = app.admin.doctor.lock().await;
    if let Some((at, result)) = last.as_ref() {
        if at.elapsed() < DOCTOR_FRESH {
            return axum::Json(result.clone()).into_response();
        }
    }
    let config = app.config.clone();
    // Some checks run tools and open devices synchronously: off the async workers.
    let handle = tokio::runtime::Handle::current();
    let (checks, secrets) = tokio::task::spawn_blocking(move || {
        let checks = handle.block_on(crate::doctor::checks_of(&config));
        (checks, secrets_of(&config))
    })
    .await
    .unwrap_or_else(|e| {
        let failed = crate::doctor::Check {
            name: "doctor",
            verdict: crate::doctor::Verdict::Fail,
            message: format!("the checks stopped: {e}"),
        };
        (vec![failed], Vec::new())
    });
    let checks: Vec<serde_json::Value> = checks
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "verdict": c.verdict,
                "message": scrub(&c.message, &secrets),
            })
        })
        .collect();
    let result = serde_json::json!({ "checks": checks, "ran_at_ms": crate::clock::system_ms() });
    *last = Some((Instant::now(), result.clone()));
    axum::Json(result).into_response()
}

/// The secrets a check's words must never carry to a browser (none of doctor's messages
/// holds one today; this keeps it so if an error one day quotes a request).
fn secrets_of(config: &crate::config::Config) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(t) = crate::publish::graph::Token::load(&config.instagram.access_token_file) {
        out.push(t.expose().to_string());
    }
    for file in [
        &config.media.s3_secret_key_file,
        &config.media.s3_access_key_file,
        &config.web.admin_password_file,
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            out.push(text.trim().to_string());
        }
    }
    out.retain(|s| s.len() >= 8);
    out
}

/// `text` with every secret replaced. Pure.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "[secret]"))
}

fn check(name: &str, ok: bool, message: &str) -> serde_json::Value {
    serde_json::json!({"name": name, "ok": ok, "message": message})
}

/// retry / drop / story / approve / reject one job.
async fn api_job(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath((id, action)): UrlPath<(String, String)>,
) -> Response {
    if let Err(r) = authorised(&app, &headers, true) {
        return *r;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return refuse(StatusCode::NOT_FOUND, "no such job");
    };
    let quality = app.config.image.quality;
    let result: Result<Option<Job>, String> = match action.as_str() {
        "approve" | "reject" => {
            let decision = if action == "approve" {
                Decision::Approve
            } else {
                Decision::Reject
            };
            app.store
                .blocking(move |s| crate::review::decide(s, id, decision))
                .await
                .map(|d| Some(d.job))
                .map_err(|e| e.to_string())
        }
        "retry" => app
            .store
            .blocking(move |s| crate::queue_ops::retry(s, Some(id), false))
            .await
            .map(|_| None)
            .map_err(|e| e.to_string()),
        "drop" => app
            .store
            .blocking(move |s| s.drop_job(id))
            .await
            .map(Some)
            .map_err(|e| e.to_string()),
        "story" => app
            .store
            .blocking(move |s| crate::queue_ops::add_story(s, id, quality))
            .await
            .map(Some)
            .map_err(|e| format!("{e:#}")),
        _ => return refuse(StatusCode::NOT_FOUND, "no such action"),
    };
    app.wake.notify_one();
    match result {
        Ok(job) => {
            tracing::info!(job = %id, %action, "console action");
            axum::Json(serde_json::json!({"ok": true, "job": job.as_ref().map(job_json)}))
                .into_response()
        }
        Err(e) => (
            StatusCode::CONFLICT,
            axum::Json(serde_json::json!({"ok": false, "error": e})),
        )
            .into_response(),
    }
}

/// A job's photo for the gallery (session only: held and private photos are shown here).
async fn photo(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    if let Err(r) = authorised(&app, &headers, false) {
        return *r;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return refuse(StatusCode::NOT_FOUND, "no such photo");
    };
    let Ok(job) = app.store.blocking(move |s| s.get(id)).await else {
        return refuse(StatusCode::NOT_FOUND, "no such photo");
    };
    match tokio::fs::read(app.store.photo_path(&job)).await {
        Ok(bytes) if job.blob.file.ends_with(".jpg") => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, no-store"),
            ],
            bytes,
        )
            .into_response(),
        _ => refuse(StatusCode::NOT_FOUND, "no photo file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_from_check_messages() {
        let secrets = vec!["EAAGtoken123".to_string()];
        assert_eq!(
            scrub("GET /me?access_token=EAAGtoken123 failed", &secrets),
            "GET /me?access_token=[secret] failed"
        );
        assert_eq!(scrub("no secret here", &secrets), "no secret here");
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "booth:8080".parse().unwrap());
        assert!(same_origin(&h), "no Origin: a non-browser client");
        h.insert(header::ORIGIN, "http://booth:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(!same_origin(&h), "an opaque origin without Sec-Fetch-Site");
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&h), "a same-origin form whose Origin is null");
        h.insert(header::ORIGIN, "http://booth:8080".parse().unwrap());
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(
            !same_origin(&h),
            "another port or subdomain of the same site"
        );
    }

    #[test]
    fn the_password_file_is_written_owner_only_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin-password");
        assert!(matches!(
            read_password_file(&path),
            Err(PasswordFileError::Missing(_))
        ));
        assert!(set_password(&path, "short").is_err());
        set_password(&path, "correct horse").unwrap();
        let hash = read_password_file(&path).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify(&hash, "correct horse"));
        assert!(!verify(&hash, "wrong horse"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_password_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("web.admin_password_file") && e.contains("chmod 600"),
            "{e}"
        );
        assert!(read_password_file(Path::new(""))
            .unwrap_err()
            .to_string()
            .contains("web.admin_password_file"));
    }
}
