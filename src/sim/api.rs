//! The Graph API surface: which endpoint a request names (pure) and what it answers.

use std::time::Duration;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::error::GraphError;
use super::state::{ContainerKind, NodeKind, SimImage, SimMedia, SimState};
use super::Shared;
use crate::pipeline::compliance::check_jpeg;

pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const USERNAME: &str = "postbooth_sim";
const DEFAULT_PAGE: usize = 25;
const MAX_PAGE: usize = 100;

/// A request reduced to what the Graph API looks at.
#[derive(Clone, Debug, Default)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Vec<(String, String)>,
    pub bearer: Option<String>,
}

impl ApiRequest {
    /// Body parameters win over query parameters, as on the real API.
    fn param(&self, name: &str) -> Option<&str> {
        fn find<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
            list.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
        find(&self.body, name).or_else(|| find(&self.query, name))
    }

    fn required(&self, name: &str) -> Result<&str, GraphError> {
        self.param(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| GraphError::missing_param(name))
    }

    /// `fields=a,b` as a list; `None` when absent so endpoints can pick their defaults.
    fn fields(&self) -> Option<Vec<&str>> {
        self.param("fields").map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .collect()
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    CreateContainer,
    Publish,
    ListMedia,
    PublishingLimit,
    User,
    ContainerStatus(String),
    MediaObject(String),
    /// `GET graph.instagram.com/refresh_access_token` (Instagram Login).
    RefreshToken,
    /// `oauth/access_token` with `grant_type=fb_exchange_token` (Facebook Login).
    ExchangeToken,
    AccountInsights,
    MediaInsights(String),
    ListComments(String),
    CreateComment(String),
    Reply(String),
    HideComment(String),
    DeleteComment(String),
    ListStories,
    UnknownObject(String),
    Unsupported,
}

impl Route {
    /// The key used in `Simulator::calls`.
    pub fn name(&self) -> &'static str {
        match self {
            Route::CreateContainer => "create_container",
            Route::Publish => "media_publish",
            Route::ListMedia => "list_media",
            Route::PublishingLimit => "publishing_limit",
            Route::User => "user",
            Route::ContainerStatus(_) => "container_status",
            Route::MediaObject(_) => "media",
            Route::RefreshToken => "refresh_access_token",
            Route::ExchangeToken => "oauth_access_token",
            Route::AccountInsights => "account_insights",
            Route::MediaInsights(_) => "media_insights",
            Route::ListComments(_) => "list_comments",
            Route::CreateComment(_) => "create_comment",
            Route::Reply(_) => "reply",
            Route::HideComment(_) => "hide_comment",
            Route::DeleteComment(_) => "delete_comment",
            Route::ListStories => "list_stories",
            Route::UnknownObject(_) | Route::Unsupported => "unknown",
        }
    }
}

/// Names the endpoint. Any leading `/v<anything>/` is a version and is ignored.
pub fn route(method: &str, path: &str, state: &SimState) -> Route {
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.first().is_some_and(|s| s.starts_with('v')) {
        segments.remove(0);
    }
    match (method, segments.as_slice()) {
        ("GET", ["refresh_access_token"]) => return Route::RefreshToken,
        ("GET" | "POST", ["oauth", "access_token"]) => return Route::ExchangeToken,
        _ => {}
    }
    let (node, edge) = match segments.as_slice() {
        [node] => (*node, None),
        [node, edge] => (*node, Some(*edge)),
        _ => return Route::Unsupported,
    };
    let kind = state.node_kind(node);
    if kind == NodeKind::Unknown {
        return Route::UnknownObject(node.to_string());
    }
    match (method, kind, edge) {
        ("GET", NodeKind::User, None) => Route::User,
        ("GET", NodeKind::Container, None) => Route::ContainerStatus(node.to_string()),
        ("GET", NodeKind::Media, None) => Route::MediaObject(node.to_string()),
        ("POST", NodeKind::User, Some("media")) => Route::CreateContainer,
        ("GET", NodeKind::User, Some("media")) => Route::ListMedia,
        ("POST", NodeKind::User, Some("media_publish")) => Route::Publish,
        ("GET", NodeKind::User, Some("content_publishing_limit")) => Route::PublishingLimit,
        ("GET", NodeKind::User, Some("insights")) => Route::AccountInsights,
        ("GET", NodeKind::Media, Some("insights")) => Route::MediaInsights(node.to_string()),
        ("GET", NodeKind::Media, Some("comments")) => Route::ListComments(node.to_string()),
        ("POST", NodeKind::Media, Some("comments")) => Route::CreateComment(node.to_string()),
        ("POST", NodeKind::Comment, Some("replies")) => Route::Reply(node.to_string()),
        ("GET", NodeKind::Comment, Some("replies")) => Route::ListComments(node.to_string()),
        ("POST", NodeKind::Comment, None) => Route::HideComment(node.to_string()),
        ("DELETE", NodeKind::Comment, None) => Route::DeleteComment(node.to_string()),
        ("GET", NodeKind::User, Some("stories")) => Route::ListStories,
        _ => Route::Unsupported,
    }
}

/// Answers one request. Only `create_container` awaits (it downloads the image); the state
/// lock is never held across that await.
pub async fn handle(shared: &Shared, req: &ApiRequest, route: &Route) -> Result<Value, GraphError> {
    if req
        .query
        .iter()
        .chain(&req.body)
        .any(|(k, _)| k == "access_token")
    {
        return Err(GraphError::token_in_url());
    }
    if *route == Route::ExchangeToken {
        // Facebook's token exchange authenticates with the app's id and secret instead.
        let mut state = shared.state();
        let now = state.now();
        return exchange_token(&mut state, req, now);
    }
    let now = shared.state().now();
    shared.state().check_token(req.bearer.as_deref(), now)?;
    if *route == Route::CreateContainer {
        return create_container(shared, req).await;
    }
    answer(&mut shared.state(), req, route, now)
}

/// Every endpoint except container creation: pure over the state.
fn answer(
    state: &mut SimState,
    req: &ApiRequest,
    route: &Route,
    now: OffsetDateTime,
) -> Result<Value, GraphError> {
    match route {
        Route::User => Ok(project(
            user_object(state.user_id()),
            req.fields(),
            &["id", "username"],
        )),
        Route::ContainerStatus(id) => {
            let status = state
                .poll_status(id, now)
                .ok_or_else(|| GraphError::unknown_object(id))?;
            let mut full =
                json!({"id": id, "status_code": status.code(), "status": status.description()});
            if let Some((bytes, done)) = state.upload_progress(id) {
                full["video_status"] = json!({
                    "uploading_phase": {
                        "status": if done { "complete" } else { "in_progress" },
                        "bytes_transferred": bytes,
                    },
                    "processing_phase": {
                        "status": if !done { "not_started" } else if status.code() == "IN_PROGRESS" { "in_progress" } else { "complete" },
                    },
                });
            }
            Ok(project(full, req.fields(), &["id"]))
        }
        Route::MediaObject(id) => {
            let media = state
                .find_media(id)
                .ok_or_else(|| GraphError::unknown_object(id))?;
            let full = media_object(media, state);
            Ok(project(full, req.fields(), &["id"]))
        }
        Route::ListMedia => {
            let feed: Vec<SimMedia> = state
                .media()
                .into_iter()
                .filter(|m| m.product_type != "STORY")
                .collect();
            Ok(list_media(state, &feed, req))
        }
        // Stories live 24 h and are listed apart from the feed.
        Route::ListStories => {
            let stories: Vec<SimMedia> = state
                .media()
                .into_iter()
                .filter(|m| m.product_type == "STORY")
                .collect();
            Ok(list_media(state, &stories, req))
        }
        Route::CreateComment(media) => {
            let comment = state.add_comment(media, req.required("message")?, now)?;
            Ok(json!({"id": comment.id}))
        }
        Route::PublishingLimit => {
            let full = json!({
                "quota_usage": state.quota_usage(now),
                "config": {"quota_total": state.quota_total(), "quota_duration": 86400},
            });
            Ok(json!({"data": [project(full, req.fields(), &["quota_usage"])]}))
        }
        Route::Publish => {
            let media = state.publish(req.required("creation_id")?, now)?;
            Ok(json!({"id": media.id}))
        }
        Route::RefreshToken => {
            if req.param("grant_type") != Some("ig_refresh_token") {
                return Err(GraphError::missing_param("grant_type=ig_refresh_token"));
            }
            let token = req.bearer.clone().unwrap_or_default();
            let new = state.refresh_token(&token, now)?;
            Ok(token_answer(&new))
        }
        Route::AccountInsights => account_insights(state, req),
        Route::MediaInsights(id) => media_insights(state, id, req),
        Route::ListComments(id) => {
            let comments: Vec<Value> = state
                .comments()
                .into_iter()
                .filter(|c| {
                    // A media id lists top-level comments; a comment id lists its replies.
                    (c.media_id == *id && c.parent_id.is_none()) || c.parent_id.as_ref() == Some(id)
                })
                .map(|c| {
                    project(
                        json!({"id": c.id, "text": c.text, "username": c.username,
                               "timestamp": c.timestamp, "hidden": c.hidden,
                               "like_count": 0}),
                        req.fields(),
                        &["id", "text", "timestamp"],
                    )
                })
                .collect();
            Ok(json!({"data": comments}))
        }
        Route::Reply(parent) => {
            let text = req.required("message")?;
            let media_id = state
                .comments()
                .into_iter()
                .find(|c| c.id == *parent)
                .map(|c| c.media_id)
                .unwrap_or_default();
            let id = state.add_comment_by(&media_id, Some(parent), USERNAME, text, now);
            Ok(json!({"id": id}))
        }
        Route::HideComment(id) => {
            let hide = match req.required("hide")? {
                "true" => true,
                "false" => false,
                other => {
                    return Err(GraphError::missing_param(&format!(
                        "hide (true or false, not {other:?})"
                    )))
                }
            };
            let comment = state
                .comment_mut(id)
                .ok_or_else(|| GraphError::unknown_object(id))?;
            comment.hidden = hide;
            Ok(json!({"success": true}))
        }
        Route::DeleteComment(id) => {
            if state.delete_comment(id) {
                Ok(json!({"success": true}))
            } else {
                Err(GraphError::unknown_object(id))
            }
        }
        Route::CreateContainer | Route::ExchangeToken => {
            Err(GraphError::unsupported(&req.method, &req.path))
        }
        Route::UnknownObject(id) => Err(GraphError::unknown_object(id)),
        Route::Unsupported => Err(GraphError::unsupported(&req.method, &req.path)),
    }
}

fn token_answer(token: &str) -> Value {
    let expires_in = super::state::TOKEN_TTL.as_secs();
    json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in})
}

fn exchange_token(
    state: &mut SimState,
    req: &ApiRequest,
    now: OffsetDateTime,
) -> Result<Value, GraphError> {
    if req.param("grant_type") != Some("fb_exchange_token") {
        return Err(GraphError::missing_param("grant_type=fb_exchange_token"));
    }
    state.check_app(req.required("client_id")?, req.required("client_secret")?)?;
    let new = state.refresh_token(req.required("fb_exchange_token")?, now)?;
    Ok(token_answer(&new))
}

/// `metric=reach,views&period=day&metric_type=total_value`: the account's totals over its posts.
fn account_insights(state: &SimState, req: &ApiRequest) -> Result<Value, GraphError> {
    let metrics = req.required("metric")?;
    let all: Vec<_> = state.media().iter().map(|m| state.metrics(&m.id)).collect();
    let mut data = Vec::new();
    for name in metrics.split(',').map(str::trim) {
        let value: u64 = match name {
            "reach" => all.iter().map(|m| m.reach).sum(),
            "views" => all.iter().map(|m| m.views).sum(),
            "likes" => all.iter().map(|m| m.likes).sum(),
            other => return Err(GraphError::bad_metric(other)),
        };
        data.push(json!({
            "name": name,
            "period": req.param("period").unwrap_or("day"),
            "total_value": {"value": value},
            "id": format!("{}/insights/{name}/day", state.user_id()),
        }));
    }
    Ok(json!({"data": data}))
}

/// `metric=likes,comments,saved,reach,views` for one post.
fn media_insights(state: &SimState, id: &str, req: &ApiRequest) -> Result<Value, GraphError> {
    let m = state.metrics(id);
    let mut data = Vec::new();
    for name in req.required("metric")?.split(',').map(str::trim) {
        let value = match name {
            "likes" => m.likes,
            "comments" => state.comment_count(id) as u64,
            "saved" => m.saved,
            "reach" => m.reach,
            "views" => m.views,
            other => return Err(GraphError::bad_metric(other)),
        };
        data.push(json!({
            "name": name,
            "period": "lifetime",
            "values": [{"value": value}],
            "id": format!("{id}/insights/{name}/lifetime"),
        }));
    }
    Ok(json!({"data": data}))
}

/// `POST /{ig-user-id}/media`: a photo, a carousel item, a carousel, a Story or a Reel upload,
/// told apart by `media_type` and `is_carousel_item` as on the real API.
async fn create_container(shared: &Shared, req: &ApiRequest) -> Result<Value, GraphError> {
    let caption = req.param("caption").unwrap_or("");
    let now = shared.state().now();
    let media_type = req.param("media_type").unwrap_or("IMAGE");
    let is_item = req.param("is_carousel_item") == Some("true");
    match media_type {
        "CAROUSEL" => {
            let children = req
                .required("children")?
                .split(',')
                .map(|c| {
                    c.trim()
                        .parse::<u64>()
                        .map_err(|_| GraphError::container_not_found(c))
                })
                .collect::<Result<Vec<u64>, _>>()?;
            let id = shared
                .state()
                .create(ContainerKind::Carousel { children }, caption, now)?;
            return Ok(json!({"id": id}));
        }
        "REELS" => {
            if req.param("upload_type") != Some("resumable") {
                return Err(GraphError::invalid_param(
                    "This simulator takes Reels only with upload_type=resumable.",
                ));
            }
            let id = shared.state().create_reel_upload(caption, now)?;
            let uri = format!(
                "{}/ig-api-upload/{}/{id}",
                shared.upload_base,
                super::GRAPH_VERSION
            );
            return Ok(json!({"id": id, "uri": uri}));
        }
        "IMAGE" | "STORIES" => {}
        other => {
            return Err(GraphError::invalid_param(format!(
                "media_type {other} is not supported here"
            )))
        }
    }
    let image_url = req.required("image_url")?;
    shared.state().check_can_create(caption, now)?;
    let bytes = fetch(&shared.http, image_url)
        .await
        .map_err(|_| GraphError::fetch_failed(image_url))?;
    let image = if media_type == "STORIES" {
        check_story_jpeg(&bytes)?
    } else {
        let checked = check_jpeg(&bytes).map_err(|e| {
            let (code, subcode) = e.graph_code();
            GraphError::bad_media(code, subcode, &e.to_string())
        })?;
        (checked.width, checked.height)
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    if let Some(dir) = &shared.keep_images {
        // Best effort: the file is for a later look; the Graph API answer does not depend on it.
        let path = dir.join(format!("{sha256}.jpg"));
        if let Err(e) = std::fs::write(&path, &bytes) {
            tracing::warn!(path = %path.display(), error = %e, "cannot keep a fetched image");
        }
    }
    let image = SimImage {
        sha256,
        width: image.0,
        height: image.1,
    };
    let kind = match (media_type, is_item) {
        ("STORIES", _) => ContainerKind::Story(image),
        (_, true) => ContainerKind::CarouselItem(image),
        _ => ContainerKind::Image(image),
    };
    let id = shared.state().create(kind, caption, now)?;
    Ok(json!({"id": id}))
}

/// A Story image: a JPEG within 8 MiB. Any aspect is taken (9:16 is recommended; Instagram
/// letterboxes others), so the feed's 4:5..1.91:1 rule does not apply.
fn check_story_jpeg(bytes: &[u8]) -> Result<(u32, u32), GraphError> {
    use crate::pipeline::compliance::{ComplianceError, MAX_BYTES};
    let refuse = |e: ComplianceError| {
        let (code, subcode) = e.graph_code();
        GraphError::bad_media(code, subcode, &e.to_string())
    };
    if bytes.len() > MAX_BYTES {
        return Err(refuse(ComplianceError::TooLarge { bytes: bytes.len() }));
    }
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(refuse(ComplianceError::NotJpeg));
    }
    image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Jpeg)
        .into_dimensions()
        .map_err(|e| refuse(ComplianceError::Unreadable(e.to_string())))
}

async fn fetch(client: &reqwest::Client, url: &str) -> reqwest::Result<bytes::Bytes> {
    client
        .get(url)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await
}

fn user_object(user_id: &str) -> Value {
    json!({
        "id": user_id,
        "username": USERNAME,
        "name": "postbooth simulator",
        "account_type": "BUSINESS",
        "media_count": 0,
    })
}

fn media_object(m: &SimMedia, state: &SimState) -> Value {
    json!({
        "like_count": state.metrics(&m.id).likes,
        "comments_count": state.comment_count(&m.id),
        "id": m.id,
        "caption": m.caption,
        "permalink": m.permalink,
        "timestamp": m.timestamp,
        "media_type": m.media_type,
        "media_product_type": m.product_type,
        "username": USERNAME,
    })
}

/// Newest first, `limit` per page, `after` is the opaque cursor of the previous page.
fn list_media(state: &SimState, media: &[SimMedia], req: &ApiRequest) -> Value {
    let limit = req
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(DEFAULT_PAGE)
        .clamp(1, MAX_PAGE);
    let start = req
        .param("after")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(0);
    let fields = req.fields();
    let data: Vec<Value> = media
        .iter()
        .rev()
        .skip(start)
        .take(limit)
        .map(|m| project(media_object(m, state), fields.clone(), &["id"]))
        .collect();
    let end = start + data.len();
    let mut page = json!({"data": data});
    if !data_is_empty(&page) {
        page["paging"] =
            json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
        if end < media.len() {
            page["paging"]["next"] = json!(format!("{}?after={end}&limit={limit}", req.path));
        }
    }
    page
}

fn data_is_empty(page: &Value) -> bool {
    page["data"].as_array().is_none_or(Vec::is_empty)
}

/// Keeps the requested fields (or `default`), and always `id`, like the Graph API.
fn project(full: Value, fields: Option<Vec<&str>>, default: &[&str]) -> Value {
    let Value::Object(full) = full else {
        return full;
    };
    let wanted = fields.unwrap_or_else(|| default.to_vec());
    let mut out = Map::new();
    for (key, value) in full {
        if key == "id" || wanted.contains(&key.as_str()) {
            out.insert(key, value);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimOptions;

    fn state() -> SimState {
        SimState::new(SimOptions {
            user_id: "1784".into(),
            token: "tok".into(),
            polls_until_finished: 0,
            container_ttl: Duration::from_secs(86400),
            token_age: Duration::ZERO,
            calls_per_hour: 200,
            app_id: "app".into(),
            app_secret: "secret".into(),
            ..SimOptions::default()
        })
    }

    fn get(path: &str, query: &[(&str, &str)]) -> ApiRequest {
        ApiRequest {
            method: "GET".into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ApiRequest::default()
        }
    }

    #[test]
    fn routes_ignore_the_version_and_know_their_nodes() {
        let mut s = state();
        let c = s
            .create_container("aa", "", OffsetDateTime::now_utc())
            .unwrap();
        assert_eq!(route("GET", "/v21.0/me", &s), Route::User);
        assert_eq!(route("GET", "/1784", &s), Route::User);
        assert_eq!(
            route("POST", "/v19.0/1784/media", &s),
            Route::CreateContainer
        );
        assert_eq!(
            route("POST", "/v21.0/1784/media_publish", &s),
            Route::Publish
        );
        assert_eq!(route("GET", "/v21.0/1784/media", &s), Route::ListMedia);
        assert_eq!(
            route("GET", "/v21.0/1784/content_publishing_limit", &s),
            Route::PublishingLimit
        );
        assert_eq!(
            route("GET", &format!("/v21.0/{c}"), &s),
            Route::ContainerStatus(c)
        );
        assert_eq!(
            route("POST", "/v21.0/999/media", &s),
            Route::UnknownObject("999".into())
        );
        assert_eq!(route("DELETE", "/v21.0/1784", &s), Route::Unsupported);
        assert_eq!(
            route("GET", "/refresh_access_token", &s),
            Route::RefreshToken
        );
        assert_eq!(
            route("POST", "/v21.0/oauth/access_token", &s),
            Route::ExchangeToken
        );
        assert_eq!(
            route("GET", "/v21.0/1784/insights", &s),
            Route::AccountInsights
        );
    }

    #[test]
    fn comments_and_insights_answer_like_the_graph_api() {
        let mut s = state();
        let now = OffsetDateTime::now_utc();
        let c = s.create_container("aa", "hi", now).unwrap();
        let m = s.publish(&c, now).unwrap().id;
        s.set_metrics(
            &m,
            super::super::state::SimMetrics {
                likes: 7,
                saved: 2,
                reach: 30,
                views: 40,
            },
        );
        let cid = s.add_comment_by(&m, None, "ann", "great", now);
        assert_eq!(
            route("GET", &format!("/v21.0/{m}/comments"), &s),
            Route::ListComments(m.clone())
        );
        assert_eq!(
            route("POST", &format!("/v21.0/{cid}"), &s),
            Route::HideComment(cid.clone())
        );
        assert_eq!(
            route("DELETE", &format!("/v21.0/{cid}"), &s),
            Route::DeleteComment(cid.clone())
        );
        let req = get("/x", &[("metric", "likes,comments,saved,reach")]);
        let v = answer(&mut s, &req, &Route::MediaInsights(m.clone()), now).unwrap();
        let values: Vec<u64> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["values"][0]["value"].as_u64().unwrap())
            .collect();
        assert_eq!(values, [7, 1, 2, 30]);
        let req = get(
            "/x",
            &[
                ("metric", "reach,views"),
                ("period", "day"),
                ("metric_type", "total_value"),
            ],
        );
        let v = answer(&mut s, &req, &Route::AccountInsights, now).unwrap();
        assert_eq!(v["data"][1]["total_value"]["value"], 40);
        let req = get("/x", &[("metric", "impressions")]);
        assert_eq!(
            answer(&mut s, &req, &Route::MediaInsights(m), now)
                .unwrap_err()
                .code,
            100
        );
    }

    #[test]
    fn list_is_newest_first_with_projection_and_paging() {
        let mut s = state();
        let now = OffsetDateTime::now_utc();
        for caption in ["one", "two", "three"] {
            let c = s.create_container("aa", caption, now).unwrap();
            s.publish(&c, now).unwrap();
        }
        let req = get(
            "/v21.0/1784/media",
            &[("fields", "id,caption"), ("limit", "2")],
        );
        let page = answer(&mut s, &req, &Route::ListMedia, now).unwrap();
        let captions: Vec<&str> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["caption"].as_str().unwrap())
            .collect();
        assert_eq!(captions, ["three", "two"]);
        assert!(page["data"][0].get("permalink").is_none());
        assert_eq!(page["paging"]["cursors"]["after"], "2");
        let req = get(
            "/v21.0/1784/media",
            &[("fields", "caption"), ("after", "2")],
        );
        let page = answer(&mut s, &req, &Route::ListMedia, now).unwrap();
        assert_eq!(page["data"][0]["caption"], "one");
        assert!(page["paging"].get("next").is_none());
    }

    #[test]
    fn publishing_limit_has_the_documented_shape() {
        let mut s = state();
        let req = get("/x", &[("fields", "config,quota_usage")]);
        let v = answer(
            &mut s,
            &req,
            &Route::PublishingLimit,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"data":[{"quota_usage":0,"config":{"quota_total":100,"quota_duration":86400}}]})
        );
    }
}
