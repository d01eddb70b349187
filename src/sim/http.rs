//! Sockets: our own accept loop so faults can refuse, cut or drop a connection, and hyper
//! serving one request per connection on each.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::Rng;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::api::{self, ApiRequest};
use super::error::GraphError;
use super::faults::Fault;
use super::Shared;

const MAX_BODY: usize = 1024 * 1024;
/// Long enough for the client to have read the first half of a cut response.
const CUT_PAUSE: Duration = Duration::from_millis(50);

const CAPTIVE_PORTAL: &str = "<!DOCTYPE html>\n<html><head><title>Welcome to Grand Hotel Wi-Fi\
</title></head><body><h1>Welcome, guest!</h1><p>Please accept the terms of use to connect to \
the Internet.</p><form method=\"post\" action=\"/login\"><input name=\"room\" placeholder=\"Room \
number\"><input name=\"surname\" placeholder=\"Surname\"><button>Connect</button></form></body>\
</html>\n";

pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // An error means the `Simulator` was dropped: stop as well.
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let drawn = shared.faults().on_accept();
                    if drawn == Some(Fault::RefuseConnection) {
                        shared.state().record_fault(Fault::RefuseConnection.name());
                        drop(stream);
                        continue;
                    }
                    connections.spawn(serve_connection(stream, shared.clone(), drawn));
                }
                Err(e) => {
                    // Usually EMFILE: pause instead of spinning on the error.
                    tracing::warn!(error = %e, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Serves one request. Keep-alive is off so that each request arrives on a fresh connection
/// and connection-level faults (refuse, drop) hit exactly the request they were meant for.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, drawn: Option<Fault>) {
    let kill = Arc::new(Notify::new());
    let drawn = Arc::new(Mutex::new(drawn));
    let service = {
        let kill = kill.clone();
        hyper::service::service_fn(move |req| {
            let drawn = drawn.lock().map(|mut d| d.take()).unwrap_or(None);
            serve_request(shared.clone(), req, drawn, kill.clone())
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "simulator connection ended with an error");
            }
        }
        // Dropping the connection closes the socket without a response.
        _ = kill.notified() => {}
    }
}

async fn serve_request(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    drawn: Option<Fault>,
    kill: Arc<Notify>,
) -> Result<Response<Body>, Infallible> {
    if req.uri().path().starts_with(UPLOAD_PREFIX) {
        return serve_upload(&shared, req, &kill).await;
    }
    let req = read_request(req).await;
    let route = {
        let mut state = shared.state();
        let route = api::route(&req.method, &req.path, &state);
        let now = state.now();
        state.record_call(route.name(), now);
        route
    };
    let fault = shared
        .faults()
        .on_request(drawn, route == api::Route::Publish);
    if let Some(fault) = fault {
        shared.state().record_fault(fault.name());
    }
    match fault {
        Some(Fault::ServerError) => {
            return Ok(graph_response(
                &shared,
                &req.path,
                Err(GraphError::server_error()),
            ))
        }
        Some(Fault::Unavailable) => {
            return Ok(graph_response(
                &shared,
                &req.path,
                Err(GraphError::unavailable()),
            ))
        }
        Some(Fault::CaptivePortal) => return Ok(captive_portal()),
        // Only reachable when a refusal was injected while this connection was being accepted.
        Some(Fault::RefuseConnection) => return drop_connection(&kill).await,
        Some(Fault::SlowResponse) => {
            let delay = shared.faults().slow_delay();
            tokio::time::sleep(delay).await;
        }
        Some(Fault::ResetMidResponse) | Some(Fault::PublishResponseLost) | None => {}
    }
    let reply = api::handle(&shared, &req, &route).await;
    let response = graph_response(&shared, &req.path, reply);
    match fault {
        Some(Fault::PublishResponseLost) => drop_connection(&kill).await,
        Some(Fault::ResetMidResponse) => Ok(cut_short(response).await),
        _ => Ok(response),
    }
}

/// Where the simulated upload host (rupload.facebook.com) takes Reel bytes.
const UPLOAD_PREFIX: &str = "/ig-api-upload/";

/// The resumable upload host: `POST /ig-api-upload/<version>/<container>` with
/// `Authorization: OAuth <token>`, `offset` and `file_size` headers and the bytes as the body.
/// The body is read as it arrives and kept, so a planned cut (see
/// [`super::Simulator::cut_uploads_at`]) leaves the bytes before it in place, as the real host
/// does; the client then asks `video_status` where to resume.
async fn serve_upload(
    shared: &Shared,
    req: Request<Incoming>,
    kill: &Notify,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    {
        let mut state = shared.state();
        let now = state.now();
        state.record_call("upload", now);
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let token = header("authorization").and_then(|h| h.strip_prefix("OAuth "));
    let token_ok = {
        let state = shared.state();
        state.check_token(token, state.now()).is_ok()
    };
    if !token_ok {
        return Ok(upload_refused(
            401,
            false,
            "AuthError",
            "Authorization: OAuth <token> is missing or invalid",
        ));
    }
    let container = parts
        .uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    let (Some(offset), Some(file_size)) = (
        header("offset").and_then(|v| v.parse::<u64>().ok()),
        header("file_size").and_then(|v| v.parse::<u64>().ok()),
    ) else {
        return Ok(upload_refused(
            400,
            false,
            "ProcessingFailedError",
            "the offset and file_size headers are required",
        ));
    };
    if let Some(n) = header("content-length").and_then(|v| v.parse::<u64>().ok()) {
        shared.state().record_upload_offered(n);
    }
    if let Err(r) = shared.state().upload_begin(&container, offset, file_size) {
        return Ok(upload_refused(400, r.retriable, r.kind, &r.message));
    }
    let mut at = offset;
    let mut stream = Body::new(body).into_data_stream();
    while let Some(frame) = stream.next().await {
        // The client went away: what arrived is kept.
        let Ok(bytes) = frame else { break };
        // A planned cut inside these bytes: what came before it arrived, the rest was lost
        // with the connection.
        let taken = {
            let mut state = shared.state();
            let cut = state.take_upload_cut(at, at + bytes.len() as u64);
            let arrived = match cut {
                Some(x) => &bytes[..(x - at) as usize],
                None => &bytes[..],
            };
            if cut.is_some() {
                state.record_fault("upload_cut");
            }
            state
                .upload_bytes(&container, arrived)
                .map(|_| (arrived.len() as u64, cut.is_some()))
        };
        match taken {
            Err(r) => return Ok(upload_refused(400, r.retriable, r.kind, &r.message)),
            Ok((n, cut)) => {
                at += n;
                if cut {
                    return drop_connection(kill).await;
                }
            }
        }
    }
    let mut response = Response::new(Body::from(
        json!({"success": true, "message": "Upload successful."}).to_string(),
    ));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// The upload host's error body: `{"debug_info":{"retriable":…,"type":…,"message":…}}`.
fn upload_refused(status: u16, retriable: bool, kind: &str, message: &str) -> Response<Body> {
    let body = json!({"debug_info": {"retriable": retriable, "type": kind, "message": message}});
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Tells the connection task to drop the socket, and never answers.
async fn drop_connection(kill: &Notify) -> Result<Response<Body>, Infallible> {
    kill.notify_one();
    std::future::pending().await
}

async fn read_request(req: Request<Incoming>) -> ApiRequest {
    let (parts, body) = req.into_parts();
    let bearer = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let is_json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let body = axum::body::to_bytes(Body::new(body), MAX_BODY)
        .await
        .unwrap_or_default();
    ApiRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parse_form(parts.uri.query().unwrap_or("").as_bytes()),
        body: if is_json {
            parse_json_params(&body)
        } else {
            parse_form(&body)
        },
        bearer,
    }
}

fn bearer_token(header: &str) -> Option<String> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// The Graph API also takes JSON bodies; non-string values are passed on as their JSON text.
fn parse_json_params(bytes: &[u8]) -> Vec<(String, String)> {
    let Ok(Value::Object(map)) = serde_json::from_slice(bytes) else {
        return Vec::new();
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

/// `v25.0` from `/v25.0/1784/media` (Meta answers unversioned calls with its oldest usable
/// version; the simulator then says v25.0).
fn asked_version(path: &str) -> &str {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .filter(|s| {
            s.starts_with('v')
                && s.len() > 1
                && s[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .unwrap_or(super::GRAPH_VERSION)
}

fn graph_response(shared: &Shared, path: &str, reply: Result<Value, GraphError>) -> Response<Body> {
    let (status, body) = match reply {
        Ok(value) => (200, value),
        Err(e) => (e.http_status, e.envelope(&fbtrace_id())),
    };
    let (user_id, percent) = {
        let mut state = shared.state();
        (state.user_id().to_string(), {
            let now = state.now();
            state.usage_percent(now)
        })
    };
    let app_usage = json!({"call_count": percent, "total_cputime": percent, "total_time": percent});
    let buc_usage = json!({ user_id: [{
        "type": "instagram",
        "call_count": percent,
        "total_cputime": percent,
        "total_time": percent,
        "estimated_time_to_regain_access": 0,
    }]});
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    for (name, value) in [
        ("x-app-usage", app_usage.to_string()),
        ("x-business-use-case-usage", buc_usage.to_string()),
        ("x-fb-trace-id", fbtrace_id()),
        (
            "facebook-api-version",
            shared
                .served_version
                .clone()
                .unwrap_or_else(|| asked_version(path).to_string()),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

fn fbtrace_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..23)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A hotel login page: no Graph headers, because it never came from the Graph API.
fn captive_portal() -> Response<Body> {
    let mut response = Response::new(Body::from(CAPTIVE_PORTAL));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Announces the full length, sends half the body, then fails the body so hyper aborts the
/// connection: the client sees headers and then a broken body.
async fn cut_short(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = full.slice(..full.len() / 2);
    let chunks = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(half)]).chain(
        futures_util::stream::once(async {
            tokio::time::sleep(CUT_PAUSE).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "simulated reset mid-response",
            ))
        }),
    );
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(full.len()));
    Response::from_parts(parts, Body::from_stream(chunks))
}
