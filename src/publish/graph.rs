//! The Graph API calls postbooth makes, over reqwest with rustls. The token travels only in
//! the `Authorization` header; it is never put in a URL or a log line.

use super::errors::{classify, ErrorClass, GraphError};
use super::usage::{self, Usage};
use crate::job::ContainerStatus;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

/// An access token. Its `Debug` hides it, so it cannot end up in a log by accident.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token file {path} does not exist: put your Instagram access token in it, then run chmod 600 {path}", path = .0.display())]
    Missing(PathBuf),
    #[error("token file {path} can be read by other users (mode {mode:o}): run chmod 600 {path}", path = .path.display())]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("token file {path} is empty: put your Instagram access token in it", path = .0.display())]
    Empty(PathBuf),
    #[error("cannot read token file {path}: {source}", path = .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Token {
    /// Reads the token file, refusing one that other users can read.
    pub fn load(path: &Path) -> Result<Token, TokenError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TokenError::Missing(path.to_path_buf()))
            }
            Err(source) => {
                return Err(TokenError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TokenError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(TokenError::Empty(path.to_path_buf()));
        }
        Ok(Token(token.to_string()))
    }

    pub fn new(token: impl Into<String>) -> Self {
        Token(token.into())
    }
}

/// Why a call failed, with enough detail to classify it and to say it in words.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Could not connect, timed out, or the connection broke.
    #[error("network problem: {0}")]
    Network(String),
    /// A 2xx answer that is not JSON: a hotel or venue Wi-Fi login page in the way.
    #[error(
        "the network answered with a web page instead of Instagram (a Wi-Fi login page?): {0}"
    )]
    CaptivePortal(String),
    #[error("Instagram error {code}/{sub}: {message}", code = .error.code, sub = .error.error_subcode.unwrap_or(0), message = .error.message)]
    Graph { status: u16, error: GraphError },
    /// The video upload host refused a part; `retriable` is its own word on trying again.
    #[error("the video upload was refused: {message}")]
    Upload { retriable: bool, message: String },
    /// An answer we cannot read; treated as transient.
    #[error("unexpected answer from Instagram (HTTP {status}): {detail}")]
    Unexpected { status: u16, detail: String },
}

impl ApiError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Graph { status, error } => classify(*status, error),
            Self::Unexpected { status: 429, .. } => ErrorClass::RateLimit,
            Self::Upload {
                retriable: false, ..
            } => ErrorClass::Invalid,
            _ => ErrorClass::Transient,
        }
    }
}

/// A comment on a media object.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CommentInfo {
    pub id: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// Is `uri` somewhere the token may go? Instagram's upload host over HTTPS, or the host
/// `graph_url` names (the simulator in tests and `postbooth sim` plays both).
pub fn upload_host_trusted(uri: &str, graph_url: &str) -> bool {
    let (Ok(uri), Ok(graph)) = (url::Url::parse(uri), url::Url::parse(graph_url)) else {
        return false;
    };
    (uri.scheme() == "https" && uri.host_str() == Some("rupload.facebook.com"))
        || uri.origin() == graph.origin()
}

/// The upload host's answer: `{"success":true}` or `{"debug_info":{"retriable":…,"message":…}}`.
pub fn parse_upload_answer(status: u16, body: &[u8]) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    struct DebugInfo {
        #[serde(default)]
        retriable: bool,
        #[serde(default, rename = "type")]
        kind: String,
        #[serde(default)]
        message: String,
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        success: bool,
        #[serde(default)]
        debug_info: Option<DebugInfo>,
    }
    match serde_json::from_slice::<Answer>(body) {
        Ok(Answer {
            debug_info: Some(d),
            ..
        }) => Err(ApiError::Upload {
            retriable: d.retriable,
            message: format!("{} {}", d.kind, d.message).trim().to_string(),
        }),
        Ok(Answer { success: true, .. }) if (200..300).contains(&status) => Ok(()),
        _ => Err(ApiError::Unexpected {
            status,
            detail: String::from_utf8_lossy(body).chars().take(120).collect(),
        }),
    }
}

/// A published media object.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct MediaInfo {
    pub id: String,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub permalink: Option<String>,
}

/// `content_publishing_limit`: how many posts the account made in the rolling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub usage: u32,
    pub total: u32,
}

pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    user_id: String,
    /// Replaced in place when the token is refreshed or the operator puts a new one in place.
    token: RwLock<Token>,
    last_usage: Mutex<Usage>,
    /// The usage of answers not yet looked at by [`GraphClient::take_fresh_usage`].
    fresh_usage: Mutex<Option<Usage>>,
    /// The Graph API version named in `base` (`v25.0`), and the one the last answer said
    /// served it (`facebook-api-version`) when that differs.
    asked_version: String,
    served_version: Mutex<Option<String>>,
}

/// What to say when the Graph API answered with another version than the one asked for:
/// Meta serves calls to a retired version with the next oldest usable one. `None` when they
/// match (or the answer named none). Pure.
pub fn version_notice(asked: &str, served: Option<&str>) -> Option<String> {
    let served = served?.trim();
    if served.is_empty() || asked.is_empty() || served == asked {
        return None;
    }
    Some(format!(
        "instagram.graph_url asks for Graph API {asked}, but Instagram answered with {served}: \
         {asked} is retired (calls go to the next oldest usable version). Set \
         instagram.graph_url to a current version, e.g. .../{} or later",
        crate::sim::GRAPH_VERSION
    ))
}

/// A new token from `refresh_access_token` or `fb_exchange_token`.
#[derive(Clone, Debug, Deserialize)]
pub struct NewToken {
    pub access_token: Token,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Token)
    }
}

impl Token {
    /// The secret itself, for writing the token file. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl GraphClient {
    pub fn new(base: &str, user_id: &str, token: Token, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("postbooth/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with rustls");
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            user_id: user_id.to_string(),
            token: RwLock::new(token),
            last_usage: Mutex::new(Usage::default()),
            fresh_usage: Mutex::new(None),
            asked_version: crate::metrics::collect::graph_api_version(base),
            served_version: Mutex::new(None),
        }
    }

    /// The Graph API version that served the last answer, when it is not the one
    /// `instagram.graph_url` asks for (a retired version); `None` while they match.
    pub fn served_version(&self) -> Option<String> {
        self.served_version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Notes the `facebook-api-version` of an answer; says so once when it changes.
    fn note_version(&self, served: Option<&str>) {
        let Some(served) = served else { return };
        let notice = version_notice(&self.asked_version, Some(served));
        let mut known = self
            .served_version
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = notice.as_ref().map(|_| served.trim().to_string());
        if *known != now {
            if let Some(notice) = &notice {
                tracing::warn!(asked = %self.asked_version, served = %served, "{notice}");
            }
            *known = now;
        }
    }

    /// Replaces the token (after a refresh, or when the operator renews it).
    pub fn set_token(&self, token: Token) {
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token;
    }

    /// The token in use (its `Debug` hides it).
    pub fn token(&self) -> Token {
        self.token.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The usage headers of answers since the last call of this, if any: the publisher reads
    /// each reading once, so one high reading causes one pause, not a pause per loop.
    pub fn take_fresh_usage(&self) -> Option<Usage> {
        self.fresh_usage.lock().expect("usage lock").take()
    }

    /// The API's host without the version (`https://graph.instagram.com`), where
    /// `refresh_access_token` lives.
    fn origin(&self) -> String {
        match self.base.rsplit_once('/') {
            Some((origin, last))
                if last.starts_with('v')
                    && last[1..].chars().all(|c| c.is_ascii_digit() || c == '.') =>
            {
                origin.to_string()
            }
            _ => self.base.clone(),
        }
    }

    /// Instagram Login: `GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token`.
    /// The token goes in the `Authorization` header like every other call.
    pub async fn refresh_instagram_token(&self) -> Result<NewToken, ApiError> {
        let url = format!("{}/refresh_access_token", self.origin());
        let req = self
            .http
            .get(url)
            .query(&[("grant_type", "ig_refresh_token")]);
        self.send(req).await
    }

    /// Facebook Login: `oauth/access_token` with `grant_type=fb_exchange_token`. Sent as a POST
    /// form so that neither the token nor the app secret is ever part of a URL.
    pub async fn exchange_facebook_token(
        &self,
        app_id: &str,
        app_secret: &str,
    ) -> Result<NewToken, ApiError> {
        let url = format!("{}/oauth/access_token", self.base);
        let token = self.token();
        let req = self.http.post(url).form(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", app_id),
            ("client_secret", app_secret),
            ("fb_exchange_token", token.expose()),
        ]);
        self.send(req).await
    }

    /// `GET /{path}` with query parameters, for the operator's read-only commands.
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, ApiError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        self.send(self.http.get(url).query(query)).await
    }

    /// `POST /{path}` with a form body.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<serde_json::Value, ApiError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        self.send(self.http.post(url).form(form)).await
    }

    /// `DELETE /{path}`.
    pub async fn delete(&self, path: &str) -> Result<serde_json::Value, ApiError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        self.send(self.http.delete(url)).await
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The usage headers of the last answer.
    pub fn last_usage(&self) -> Usage {
        *self.last_usage.lock().expect("usage lock")
    }

    /// `POST /{ig-user-id}/media`: a container for the photo at `image_url`.
    pub async fn create_container(
        &self,
        image_url: &str,
        caption: &str,
    ) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let url = format!("{}/{}/media", self.base, self.user_id);
        let req = self
            .http
            .post(url)
            .form(&[("image_url", image_url), ("caption", caption)]);
        let created: Created = self.send(req).await?;
        Ok(created.id)
    }

    /// `POST /{ig-user-id}/media` with any parameters: the container id.
    async fn create_media(&self, params: &[(&str, &str)]) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let url = format!("{}/{}/media", self.base, self.user_id);
        let created: Created = self.send(self.http.post(url).form(params)).await?;
        Ok(created.id)
    }

    /// A carousel child: `is_carousel_item=true`, and no caption (the parent has it).
    pub async fn create_carousel_item(&self, image_url: &str) -> Result<String, ApiError> {
        self.create_media(&[("image_url", image_url), ("is_carousel_item", "true")])
            .await
    }

    /// The carousel itself: `media_type=CAROUSEL`, the children in order, the caption.
    pub async fn create_carousel(
        &self,
        children: &[String],
        caption: &str,
    ) -> Result<String, ApiError> {
        let children = children.join(",");
        self.create_media(&[
            ("media_type", "CAROUSEL"),
            ("children", &children),
            ("caption", caption),
        ])
        .await
    }

    /// A Story: `media_type=STORIES`, no caption (Stories have none).
    pub async fn create_story(&self, image_url: &str) -> Result<String, ApiError> {
        self.create_media(&[("media_type", "STORIES"), ("image_url", image_url)])
            .await
    }

    /// A Reel container for a resumable upload: its id and the `uri` the bytes go to.
    pub async fn create_reel_upload(&self, caption: &str) -> Result<(String, String), ApiError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
            uri: String,
        }
        let url = format!("{}/{}/media", self.base, self.user_id);
        let req = self.http.post(url).form(&[
            ("media_type", "REELS"),
            ("upload_type", "resumable"),
            ("caption", caption),
        ]);
        let created: Created = self.send(req).await?;
        Ok((created.id, created.uri))
    }

    /// `GET /{container-id}?fields=video_status`: how many bytes of the upload Instagram has.
    pub async fn uploaded_bytes(&self, container_id: &str) -> Result<u64, ApiError> {
        #[derive(Deserialize)]
        struct Phase {
            #[serde(default)]
            bytes_transferred: u64,
        }
        #[derive(Deserialize)]
        struct VideoStatus {
            uploading_phase: Phase,
        }
        #[derive(Deserialize)]
        struct Answer {
            video_status: VideoStatus,
        }
        let url = format!("{}/{}", self.base, container_id);
        let req = self.http.get(url).query(&[("fields", "video_status")]);
        let a: Answer = self.send(req).await?;
        Ok(a.video_status.uploading_phase.bytes_transferred)
    }

    /// Sends `bytes` (the file from `offset` on) to the upload host. The token goes in an
    /// `Authorization: OAuth` header, as the upload host wants it; never in the URL.
    pub async fn upload_part(
        &self,
        uri: &str,
        bytes: Vec<u8>,
        offset: u64,
        file_size: u64,
    ) -> Result<(), ApiError> {
        if !upload_host_trusted(uri, &self.base) {
            return Err(ApiError::Upload {
                retriable: false,
                message: format!(
                    "the upload address is not Instagram's upload host (rupload.facebook.com), \
                     so the token is not sent there: {}",
                    url::Url::parse(uri).map_or("unreadable".to_string(), |u| u
                        .origin()
                        .ascii_serialization())
                ),
            });
        }
        let resp = self
            .http
            .post(uri)
            .header("Authorization", format!("OAuth {}", self.token().0))
            .header("offset", offset.to_string())
            .header("file_size", file_size.to_string())
            .header("Content-Type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| ApiError::Network(describe_reqwest(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ApiError::Network(describe_reqwest(&e)))?;
        parse_upload_answer(status, &body)
    }

    /// `POST /{media-id}/comments`: the new comment's id.
    pub async fn comment(&self, media_id: &str, message: &str) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let url = format!("{}/{}/comments", self.base, media_id);
        let created: Created = self
            .send(self.http.post(url).form(&[("message", message)]))
            .await?;
        Ok(created.id)
    }

    /// `GET /{media-id}/comments`: the media's comments, newest first.
    pub async fn comments(&self, media_id: &str) -> Result<Vec<CommentInfo>, ApiError> {
        #[derive(Deserialize)]
        struct Page {
            data: Vec<CommentInfo>,
        }
        let url = format!("{}/{}/comments", self.base, media_id);
        let req = self
            .http
            .get(url)
            .query(&[("fields", "id,text,timestamp,username"), ("limit", "50")]);
        let page: Page = self.send(req).await?;
        Ok(page.data)
    }

    /// `GET /{ig-user-id}/stories`: the account's live Stories (they are not in `/media`).
    pub async fn recent_stories(&self) -> Result<Vec<MediaInfo>, ApiError> {
        #[derive(Deserialize)]
        struct Page {
            data: Vec<MediaInfo>,
        }
        let url = format!("{}/{}/stories", self.base, self.user_id);
        let req = self
            .http
            .get(url)
            .query(&[("fields", "id,caption,timestamp,permalink")]);
        let page: Page = self.send(req).await?;
        Ok(page.data)
    }

    /// `GET /{container-id}?fields=status_code,status`.
    pub async fn container_status(&self, container_id: &str) -> Result<ContainerStatus, ApiError> {
        #[derive(Deserialize)]
        struct Status {
            status_code: String,
            #[serde(default)]
            status: Option<String>,
        }
        let url = format!("{}/{}", self.base, container_id);
        let req = self
            .http
            .get(url)
            .query(&[("fields", "status_code,status")]);
        let s: Status = self.send(req).await?;
        ContainerStatus::parse(&s.status_code, s.status.as_deref()).ok_or(ApiError::Unexpected {
            status: 200,
            detail: format!("unknown container status {:?}", s.status_code),
        })
    }

    /// `POST /{ig-user-id}/media_publish`: returns the new media id.
    pub async fn publish(&self, container_id: &str) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Published {
            id: String,
        }
        let url = format!("{}/{}/media_publish", self.base, self.user_id);
        let req = self.http.post(url).form(&[("creation_id", container_id)]);
        let published: Published = self.send(req).await?;
        Ok(published.id)
    }

    /// `GET /{media-id}?fields=id,permalink,timestamp,caption`.
    pub async fn media(&self, media_id: &str) -> Result<MediaInfo, ApiError> {
        let url = format!("{}/{}", self.base, media_id);
        let req = self
            .http
            .get(url)
            .query(&[("fields", "id,permalink,timestamp,caption")]);
        self.send(req).await
    }

    /// `GET /{ig-user-id}/media`: one page of the account's posts, newest first, and the
    /// cursor of the next (older) page if there is one.
    pub async fn media_page(
        &self,
        limit: u32,
        after: Option<&str>,
    ) -> Result<(Vec<MediaInfo>, Option<String>), ApiError> {
        #[derive(Deserialize)]
        struct Cursors {
            after: Option<String>,
        }
        #[derive(Deserialize)]
        struct Paging {
            cursors: Option<Cursors>,
            next: Option<String>,
        }
        #[derive(Deserialize)]
        struct Page {
            data: Vec<MediaInfo>,
            paging: Option<Paging>,
        }
        let url = format!("{}/{}/media", self.base, self.user_id);
        let mut query = vec![
            ("fields", "id,caption,timestamp,permalink".to_string()),
            ("limit", limit.to_string()),
        ];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        let page: Page = self.send(self.http.get(url).query(&query)).await?;
        // Meta leaves `next` out on the last page; the cursors may still be there.
        let next = page
            .paging
            .filter(|p| p.next.is_some())
            .and_then(|p| p.cursors)
            .and_then(|c| c.after);
        Ok((page.data, next))
    }

    /// `GET /{ig-user-id}/content_publishing_limit`.
    pub async fn publishing_limit(&self) -> Result<Quota, ApiError> {
        #[derive(Deserialize)]
        struct Config {
            quota_total: u32,
        }
        #[derive(Deserialize)]
        struct Entry {
            quota_usage: u32,
            config: Config,
        }
        #[derive(Deserialize)]
        struct Page {
            data: Vec<Entry>,
        }
        let url = format!("{}/{}/content_publishing_limit", self.base, self.user_id);
        let req = self
            .http
            .get(url)
            .query(&[("fields", "config,quota_usage")]);
        let page: Page = self.send(req).await?;
        let entry = page.data.into_iter().next().ok_or(ApiError::Unexpected {
            status: 200,
            detail: "content_publishing_limit returned no data".into(),
        })?;
        Ok(Quota {
            usage: entry.quota_usage,
            total: entry.config.quota_total,
        })
    }

    /// `GET /{ig-user-id}?fields=id,username`: checks the token and the account (`doctor`).
    pub async fn username(&self) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct User {
            #[serde(default)]
            username: Option<String>,
            id: String,
        }
        let url = format!("{}/{}", self.base, self.user_id);
        let req = self.http.get(url).query(&[("fields", "id,username")]);
        let user: User = self.send(req).await?;
        Ok(user.username.unwrap_or(user.id))
    }

    /// Sends a request with the token and turns the answer into a value or an [`ApiError`].
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let resp = req
            .bearer_auth(self.token().0)
            .send()
            .await
            .map_err(|e| ApiError::Network(describe_reqwest(&e)))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let usage = usage::parse(
            header("x-app-usage").as_deref(),
            header("x-business-use-case-usage").as_deref(),
        );
        *self.last_usage.lock().expect("usage lock") = usage;
        *self.fresh_usage.lock().expect("usage lock") = Some(usage);
        self.note_version(header("facebook-api-version").as_deref());
        let content_type = header("content-type").unwrap_or_default();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ApiError::Network(describe_reqwest(&e)))?;
        parse_answer(status, &content_type, &body)
    }
}

/// Turns an HTTP answer into a value or an error. Pure, so every odd answer can be tested.
pub fn parse_answer<T: serde::de::DeserializeOwned>(
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<T, ApiError> {
    #[derive(Deserialize)]
    struct Envelope {
        error: GraphError,
    }
    let looks_like_html = content_type.contains("html")
        || body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'<');
    if looks_like_html {
        let snippet: String = String::from_utf8_lossy(body).chars().take(80).collect();
        return Err(if (200..300).contains(&status) {
            ApiError::CaptivePortal(snippet)
        } else {
            ApiError::Unexpected {
                status,
                detail: snippet,
            }
        });
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        return Err(ApiError::Graph {
            status,
            error: env.error,
        });
    }
    if !(200..300).contains(&status) {
        return Err(ApiError::Unexpected {
            status,
            detail: String::from_utf8_lossy(body).chars().take(120).collect(),
        });
    }
    serde_json::from_slice(body).map_err(|e| ApiError::Unexpected {
        status,
        detail: format!("{e}"),
    })
}

/// reqwest's errors, without the URL (it may carry a presigned signature).
fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection broke during the answer"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Id {
        id: String,
    }

    #[test]
    fn success_is_parsed() {
        let id: Id = parse_answer(200, "application/json", br#"{"id":"17"}"#).unwrap();
        assert_eq!(id.id, "17");
    }

    #[test]
    fn error_envelope_is_classified() {
        let body = br#"{"error":{"message":"Media ID is not available","type":"OAuthException","code":9007,"error_subcode":2207027,"is_transient":false,"fbtrace_id":"x"}}"#;
        let e = parse_answer::<Id>(400, "application/json", body).unwrap_err();
        assert_eq!(e.class(), ErrorClass::NotReady);
        assert!(e.to_string().contains("9007/2207027"));
    }

    #[test]
    fn captive_portal_page_with_200_is_recognised() {
        let e = parse_answer::<Id>(
            200,
            "text/html",
            b"<html><body>Hotel Wi-Fi login</body></html>",
        )
        .unwrap_err();
        assert!(matches!(e, ApiError::CaptivePortal(_)));
        assert_eq!(e.class(), ErrorClass::Transient);
        // Even without a content type.
        let e = parse_answer::<Id>(200, "", b"  <!DOCTYPE html>").unwrap_err();
        assert!(matches!(e, ApiError::CaptivePortal(_)));
    }

    #[test]
    fn non_json_errors_are_transient_and_429_is_a_rate_limit() {
        let e = parse_answer::<Id>(502, "text/plain", b"bad gateway").unwrap_err();
        assert_eq!(e.class(), ErrorClass::Transient);
        let e = parse_answer::<Id>(429, "text/plain", b"slow down").unwrap_err();
        assert_eq!(e.class(), ErrorClass::RateLimit);
        let e = parse_answer::<Id>(200, "application/json", b"{\"nope\":1}").unwrap_err();
        assert!(matches!(e, ApiError::Unexpected { .. }));
    }

    #[test]
    fn a_different_served_version_is_a_notice_naming_the_key() {
        assert_eq!(version_notice("v25.0", Some("v25.0")), None);
        assert_eq!(version_notice("v25.0", None), None);
        assert_eq!(version_notice("", Some("v22.0")), None);
        let n = version_notice("v21.0", Some("v22.0")).unwrap();
        assert!(
            n.contains("instagram.graph_url") && n.contains("v21.0 is retired"),
            "{n}"
        );
    }

    #[test]
    fn the_token_goes_only_to_instagrams_upload_host() {
        let graph = "https://graph.facebook.com/v21.0";
        assert!(upload_host_trusted(
            "https://rupload.facebook.com/ig-api-upload/v21.0/17900",
            graph
        ));
        assert!(!upload_host_trusted("http://rupload.facebook.com/x", graph));
        assert!(!upload_host_trusted(
            "https://rupload.facebook.com.evil.net/x",
            graph
        ));
        assert!(!upload_host_trusted("https://example.com/x", graph));
        let sim = "http://127.0.0.1:8099/v21.0";
        assert!(upload_host_trusted(
            "http://127.0.0.1:8099/ig-api-upload/v21.0/1",
            sim
        ));
        assert!(!upload_host_trusted(
            "http://127.0.0.1:8100/ig-api-upload/v21.0/1",
            sim
        ));
    }

    #[test]
    fn upload_host_answers_are_read() {
        assert!(
            parse_upload_answer(200, br#"{"success":true,"message":"Upload successful."}"#).is_ok()
        );
        let e = parse_upload_answer(
            400,
            br#"{"debug_info":{"retriable":false,"type":"ProcessingFailedError","message":"Request processing failed"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.class(), ErrorClass::Invalid);
        assert!(e.to_string().contains("ProcessingFailedError"), "{e}");
        let e = parse_upload_answer(
            500,
            br#"{"debug_info":{"retriable":true,"type":"x","message":"y"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.class(), ErrorClass::Transient);
        let e = parse_upload_answer(502, b"<html>bad gateway</html>").unwrap_err();
        assert_eq!(e.class(), ErrorClass::Transient);
    }

    #[test]
    fn token_file_must_be_private_and_say_how_to_fix_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let e = Token::load(&path).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        std::fs::write(&path, "secret-value\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Token::load(&path).unwrap_err().to_string();
        assert!(e.contains(&format!("chmod 600 {}", path.display())), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let token = Token::load(&path).unwrap();
        assert_eq!(token.0, "secret-value");
        assert!(!format!("{token:?}").contains("secret"));
        std::fs::write(&path, "  \n").unwrap();
        assert!(Token::load(&path)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
