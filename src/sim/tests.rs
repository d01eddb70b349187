//! The simulator over real HTTP, seen from a reqwest client, as the publisher will see it.

use std::time::{Duration, Instant};

use axum::routing::get;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;

const TOKEN: &str = "sim-token";

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([30, 120, 200]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&img)
        .unwrap();
    out
}

/// A stand-in for the media host: `/good.jpg`, `/narrow.jpg`, anything else is 404.
async fn image_server() -> (String, String) {
    let good = jpeg(400, 400);
    let sha = hex::encode(Sha256::digest(&good));
    let narrow = jpeg(200, 200);
    let app = axum::Router::new()
        .route("/good.jpg", get(move || async move { good }))
        .route("/narrow.jpg", get(move || async move { narrow }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, sha)
}

struct Fixture {
    sim: Simulator,
    images: String,
    good_sha: String,
    client: reqwest::Client,
}

async fn fixture_with(opts: SimOptions) -> Fixture {
    let (images, good_sha) = image_server().await;
    Fixture {
        sim: Simulator::start(opts).await.unwrap(),
        images,
        good_sha,
        client: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    }
}

async fn fixture() -> Fixture {
    fixture_with(SimOptions::default()).await
}

impl Fixture {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.sim.base_url())
    }

    fn user(&self) -> String {
        SimOptions::default().user_id
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Result<reqwest::Response> {
        self.client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .query(query)
            .send()
            .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .form(form)
            .send()
            .await
    }

    async fn json(&self, response: reqwest::Result<reqwest::Response>) -> (u16, Value) {
        let response = response.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn create(&self, image: &str) -> (u16, Value) {
        let image_url = format!("{}/{image}", self.images);
        let path = format!("{}/media", self.user());
        self.json(
            self.post(&path, &[("image_url", &image_url), ("caption", "Cheese!")])
                .await,
        )
        .await
    }

    async fn status(&self, container: &str) -> String {
        let (_, v) = self
            .json(
                self.get(container, &[("fields", "status_code,status")])
                    .await,
            )
            .await;
        v["status_code"].as_str().unwrap().to_string()
    }

    /// A container polled until FINISHED.
    async fn ready(&self) -> String {
        let (status, v) = self.create("good.jpg").await;
        assert_eq!(status, 200, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        while self.status(&id).await != "FINISHED" {}
        id
    }

    async fn publish(&self, container: &str) -> reqwest::Result<reqwest::Response> {
        let path = format!("{}/media_publish", self.user());
        self.post(&path, &[("creation_id", container)]).await
    }
}

fn code(v: &Value) -> (i64, i64) {
    let e = &v["error"];
    (
        e["code"].as_i64().unwrap(),
        e["error_subcode"].as_i64().unwrap_or(0),
    )
}

#[tokio::test]
async fn a_photo_goes_through_container_status_publish_and_list() {
    let f = fixture().await;
    let (status, v) = f.create("good.jpg").await;
    assert_eq!(status, 200, "{v}");
    let container = v["id"].as_str().unwrap().to_string();
    assert_eq!(f.status(&container).await, "IN_PROGRESS");
    assert_eq!(f.status(&container).await, "FINISHED");
    let (status, v) = f.json(f.publish(&container).await).await;
    assert_eq!(status, 200, "{v}");
    let media_id = v["id"].as_str().unwrap().to_string();
    assert_ne!(media_id, container);
    assert_eq!(f.status(&container).await, "PUBLISHED");

    let fields = [("fields", "id,caption,timestamp,permalink"), ("limit", "5")];
    let path = format!("{}/media", f.user());
    let (_, list) = f.json(f.get(&path, &fields).await).await;
    assert_eq!(list["data"][0]["id"], media_id.as_str());
    assert_eq!(list["data"][0]["caption"], "Cheese!");
    let (_, media) = f.json(f.get(&media_id, &fields[..1]).await).await;
    assert!(media["permalink"]
        .as_str()
        .unwrap()
        .starts_with("https://www.instagram.com/p/"));
    assert_eq!(media["timestamp"].as_str().unwrap().len(), 24);

    assert_eq!(f.sim.publishes_by_image()[&f.good_sha], 1);
    assert_eq!(f.sim.media()[0].id, media_id);
    let calls = f.sim.calls();
    assert_eq!(calls["create_container"], 1);
    assert_eq!(calls["container_status"], 3);
    assert_eq!(calls["media_publish"], 1);
    assert_eq!(calls["list_media"], 1);
    assert_eq!(calls["media"], 1);
}

#[tokio::test]
async fn user_limit_and_me_answer() {
    let f = fixture().await;
    let (_, me) = f.json(f.get("me", &[]).await).await;
    assert_eq!(me["username"], "postbooth_sim");
    assert_eq!(me["id"], f.user().as_str());
    let path = format!("{}/content_publishing_limit", f.user());
    let (_, limit) = f
        .json(f.get(&path, &[("fields", "config,quota_usage")]).await)
        .await;
    assert_eq!(limit["data"][0]["config"]["quota_total"], 100);
    assert_eq!(limit["data"][0]["quota_usage"], 0);
    let (status, v) = f.json(f.get("v1/999/media", &[]).await).await;
    assert_eq!((status, code(&v).0), (400, 100));
}

#[tokio::test]
async fn publishing_before_finished_answers_9007() {
    let f = fixture().await;
    let (_, v) = f.create("good.jpg").await;
    let (status, v) = f.json(f.publish(v["id"].as_str().unwrap()).await).await;
    assert_eq!(status, 400);
    assert_eq!(code(&v), (9007, 2207027));
    assert_eq!(v["error"]["message"], "Media ID is not available");
    assert!(f.sim.media().is_empty());
}

#[tokio::test]
async fn publishing_twice_answers_an_error_and_creates_one_media() {
    let f = fixture().await;
    let id = f.ready().await;
    let (first, _) = f.json(f.publish(&id).await).await;
    let (second, v) = f.json(f.publish(&id).await).await;
    assert_eq!((first, second), (200, 400));
    assert_eq!(code(&v).0, 100);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already been published"));
    assert_eq!(f.sim.media().len(), 1);
    assert_eq!(f.sim.publishes_by_image()[&f.good_sha], 1);
}

#[tokio::test]
async fn every_graph_response_carries_usage_headers() {
    let f = fixture().await;
    for response in [f.get("me", &[]).await, f.get("404", &[]).await] {
        let response = response.unwrap();
        let headers = response.headers();
        let app: Value = serde_json::from_str(headers["x-app-usage"].to_str().unwrap()).unwrap();
        assert!(app["call_count"].is_u64());
        let buc: Value =
            serde_json::from_str(headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
        let entry = &buc[f.user()][0];
        assert_eq!(entry["type"], "instagram");
        assert_eq!(entry["estimated_time_to_regain_access"], 0);
    }
}

#[tokio::test]
async fn an_unfetchable_image_answers_9004() {
    let f = fixture().await;
    let (status, v) = f.create("missing.jpg").await;
    assert_eq!((status, code(&v)), (400, (9004, 2207052)));
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/x.jpg", closed.local_addr().unwrap());
    drop(closed);
    let path = format!("{}/media", f.user());
    let (_, v) = f.json(f.post(&path, &[("image_url", &dead)]).await).await;
    assert_eq!(code(&v), (9004, 2207052));
    assert_eq!(f.sim.calls()["create_container"], 2);
}

#[tokio::test]
async fn a_non_compliant_jpeg_answers_36003() {
    let f = fixture().await;
    let (status, v) = f.create("narrow.jpg").await;
    assert_eq!((status, code(&v)), (400, (36003, 2207009)));
}

#[tokio::test]
async fn tokens_must_be_valid_and_in_the_header() {
    let f = fixture().await;
    let no_token = f.client.get(f.url("me")).send().await;
    let (status, v) = f.json(no_token).await;
    assert_eq!((status, code(&v).0), (400, 190));
    assert_eq!(v["error"]["type"], "OAuthException");

    let in_url = f
        .client
        .get(f.url("me"))
        .query(&[("access_token", TOKEN)])
        .send()
        .await;
    let (status, v) = f.json(in_url).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Authorization: Bearer"));

    f.sim.set_token("new-token");
    let (_, v) = f.json(f.get("me", &[]).await).await;
    assert_eq!(code(&v), (190, 460));
}

#[tokio::test]
async fn quota_and_expiry_answer_their_codes() {
    let f = fixture_with(SimOptions {
        quota_total: 1,
        polls_until_finished: 0,
        ..SimOptions::default()
    })
    .await;
    let (a, b) = (f.ready().await, f.ready().await);
    assert_eq!(f.json(f.publish(&a).await).await.0, 200);
    let (_, v) = f.json(f.publish(&b).await).await;
    assert_eq!(code(&v), (9, 2207042));
    f.sim.expire_all_containers();
    assert_eq!(f.status(&b).await, "EXPIRED");
    assert_eq!(f.status(&a).await, "PUBLISHED");
    let (_, v) = f.json(f.publish(&b).await).await;
    assert_eq!(code(&v), (-2, 2207020));
}

#[tokio::test]
async fn refused_connection_is_a_transport_error() {
    let f = fixture().await;
    f.sim.inject(Fault::RefuseConnection, 1);
    assert!(f.get("me", &[]).await.is_err());
    assert!(f.get("me", &[]).await.unwrap().status().is_success());
    assert_eq!(f.sim.faults_injected()["refuse_connection"], 1);
    assert_eq!(f.sim.calls()["user"], 1);
}

#[tokio::test]
async fn reset_mid_response_still_commits_the_publish() {
    let f = fixture().await;
    let id = f.ready().await;
    f.sim.inject(Fault::ResetMidResponse, 1);
    // The status line and headers arrive, the body breaks off half way.
    let response = f.publish(&id).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.is_err(),
        "the body should be cut off"
    );
    assert_eq!(f.sim.media().len(), 1);
    assert_eq!(f.status(&id).await, "PUBLISHED");
    assert_eq!(f.sim.faults_injected()["reset_mid_response"], 1);
}

#[tokio::test]
async fn server_errors_are_transient_envelopes() {
    let f = fixture().await;
    f.sim.inject(Fault::ServerError, 1);
    f.sim.inject(Fault::Unavailable, 1);
    for expected in [500, 503] {
        let response = f.get("me", &[]).await.unwrap();
        assert!(response.headers().contains_key("x-app-usage"));
        let (status, v) = f.json(Ok(response)).await;
        assert_eq!(status, expected);
        assert_eq!(v["error"]["is_transient"], true);
    }
    assert_eq!(f.json(f.get("me", &[]).await).await.0, 200);
}

#[tokio::test]
async fn slow_response_arrives_late_but_correct() {
    let f = fixture().await;
    let delay = Duration::from_millis(300);
    f.sim.set_faults(FaultPlan {
        slow_delay: delay,
        ..FaultPlan::none()
    });
    f.sim.inject(Fault::SlowResponse, 1);
    let started = Instant::now();
    let (status, _) = f.json(f.get("me", &[]).await).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= delay);
}

#[tokio::test]
async fn captive_portal_answers_html_with_200() {
    let f = fixture().await;
    f.sim.inject(Fault::CaptivePortal, 1);
    let response = f.get("me", &[]).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"));
    let body = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&body).is_err());
    assert!(body.contains("Wi-Fi"));
}

#[tokio::test]
async fn a_lost_publish_response_still_publishes_exactly_once() {
    let f = fixture().await;
    let id = f.ready().await;
    f.sim.inject(Fault::PublishResponseLost, 1);
    // Publish-only faults let other requests through untouched.
    assert_eq!(f.json(f.get("me", &[]).await).await.0, 200);
    assert!(f.publish(&id).await.is_err());
    assert_eq!(f.sim.media().len(), 1);
    // The recovery the publisher must do: ask the container, never blindly re-publish.
    assert_eq!(f.status(&id).await, "PUBLISHED");
    let (_, v) = f.json(f.publish(&id).await).await;
    assert_eq!(code(&v).0, 100);
    assert_eq!(f.sim.publishes_by_image()[&f.good_sha], 1);
    assert_eq!(f.sim.faults_injected()["publish_response_lost"], 1);
}

/// Same seed, same sequential requests → same faults, so a failing soak run can be replayed.
#[tokio::test]
async fn random_faults_are_reproducible_from_the_seed() {
    async fn outcomes(seed: u64) -> (Vec<String>, BTreeMap<String, u64>) {
        let plan = FaultPlan {
            probability: 0.5,
            kinds: vec![
                Fault::RefuseConnection,
                Fault::ServerError,
                Fault::Unavailable,
                Fault::CaptivePortal,
            ],
            ..FaultPlan::all(0.5, seed)
        };
        let f = fixture_with(SimOptions {
            faults: plan,
            ..SimOptions::default()
        })
        .await;
        let mut seen = Vec::new();
        for _ in 0..30 {
            seen.push(match f.get("me", &[]).await {
                Ok(r) => r.status().to_string(),
                Err(_) => "transport error".to_string(),
            });
        }
        (seen, f.sim.faults_injected())
    }
    let (a, faults_a) = outcomes(9).await;
    let (b, faults_b) = outcomes(9).await;
    assert_eq!(a, b);
    assert_eq!(faults_a, faults_b);
    assert!(faults_a.values().sum::<u64>() > 0);
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let addr = sim.local_addr();
    sim.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
