//! The web pages over real HTTP (the browser tests are in `web_browser`): the guest screen's
//! state, press, photo and QR link; download links; the console's security (sessions, CSRF,
//! cross-site posts, login rate limit, no secret in any response); bad `[web]` settings that
//! stop only the pages.

use crate::helper::*;
use postbooth::daemon::Daemon;
use postbooth::sim::{SimOptions, Simulator};
use std::time::Duration;

pub const PASSWORD: &str = "booth operator 1";

/// A booth with web pages on a free port, the touch button on and a console password.
pub fn web_booth(sim: &Simulator, extra: &[(&str, &str, &str)]) -> Booth {
    // Held until the booth is set up, so the photo server's free port (picked in Booth::new)
    // cannot be this same port: a full run once got both and the web pages found it in use.
    let hold = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hold.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap().keep();
    let password = dir.join("admin-password");
    postbooth::web::admin::set_password(&password, PASSWORD).unwrap();
    let password = quoted(&password.display().to_string());
    let listen = quoted(&format!("127.0.0.1:{port}"));
    let mut keys: Vec<(&str, &str, &str)> = vec![
        ("web", "listen", &listen),
        ("web", "admin_password_file", &password),
        ("trigger", "kinds", "[\"socket\", \"web\"]"),
        ("trigger", "countdown_secs", "1"),
    ];
    for e in extra {
        keys.retain(|(s, k, _)| !(*s == e.0 && *k == e.1));
        keys.push(*e);
    }
    let booth = setup_with(&sim.base_url(), &keys);
    drop(hold);
    booth
}

/// GET `url` (a guest endpoint: no session) and parse its JSON answer.
pub async fn get_json<T: serde::de::DeserializeOwned>(url: String) -> T {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A client whose connections come from `ip` (any 127.x.y.z reaches the booth's 127.0.0.1).
pub fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from(ip))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Every body the tests receive, to search for secrets at the end.
#[derive(Default)]
pub struct Seen(pub Vec<String>);

impl Seen {
    pub async fn text(&mut self, r: reqwest::Response) -> (u16, String) {
        let status = r.status().as_u16();
        let mut headers = String::new();
        for (k, v) in r.headers() {
            headers.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("")));
        }
        let body = String::from_utf8_lossy(&r.bytes().await.unwrap()).into_owned();
        self.0.push(format!("{headers}\n{body}"));
        (status, body)
    }

    /// None of the booth's secrets is in anything received.
    pub fn assert_no_secret(&self, secrets: &[&str]) {
        for secret in secrets {
            for body in &self.0 {
                assert!(
                    !body.contains(secret),
                    "a response holds a secret: {secret}"
                );
            }
        }
        assert!(!self.0.is_empty());
    }
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("postbooth_session=") && !v.starts_with("postbooth_session=;"))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// Logs in; returns the cookie and the CSRF token from the console page.
pub async fn log_in(base: &str, seen: &mut Seen) -> (String, String) {
    let c = client();
    let r = c
        .post(format!("{base}/admin/login"))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let set = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for attr in ["HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = session_cookie(&r).unwrap();
    seen.text(r).await;
    let r = c
        .get(format!("{base}/admin"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let (_, page) = seen.text(r).await;
    let csrf = page
        .split("name=\"csrf\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(csrf.len(), 32);
    (cookie, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_screen_takes_a_photo_and_links_to_it() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = web_booth(
        &sim,
        &[("web", "public_url", "\"http://192.168.4.1:8080\"")],
    );
    let daemon = Daemon::start(s.config()).await.unwrap();
    let base = format!("http://{}", daemon.web_addr().unwrap());
    let c = client();
    let mut seen = Seen::default();

    let (code, page) = seen.text(c.get(&base).send().await.unwrap()).await;
    assert_eq!(code, 200);
    assert!(page.contains("id=\"press\"") && page.contains("/app.js"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external asset"
    );
    for path in ["/app.js", "/style.css"] {
        let (code, _) = seen
            .text(c.get(format!("{base}{path}")).send().await.unwrap())
            .await;
        assert_eq!(code, 200, "{path}");
    }
    // The live preview: a JPEG from the camera's stream.
    let r = c.get(format!("{base}/preview.jpg")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]));

    // Server-sent events: the state at once, then each change.
    let mut events = c.get(format!("{base}/events")).send().await.unwrap();
    assert_eq!(
        events.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let first = String::from_utf8(events.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(first.starts_with("event: state\ndata: {"), "{first}");
    assert!(first.contains("\"screen\":\"idle\""), "{first}");
    // A press without the guest screen's header (a cross-site form) takes no photo.
    let r = c.post(format!("{base}/press")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = c
        .post(format!("{base}/press"))
        .header("x-postbooth", "press")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    // The countdown arrives as an event.
    let mut received = String::new();
    while !received.contains("\"screen\":\"countdown\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), events.chunk())
            .await
            .expect("events keep coming")
            .unwrap()
            .unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(events);
    let jobs = all_done(&daemon, Duration::from_secs(60)).await;
    assert_eq!(jobs.len(), 1, "one press, one photo");

    let state: serde_json::Value = get_json(format!("{base}/state")).await;
    let photo = &state["photo"];
    assert_eq!(photo["id"], jobs[0].id.to_string());
    assert_eq!(photo["posted"], true);
    assert_eq!(photo["qr_target"], photo["permalink"]);
    let page_url = photo["page"].as_str().unwrap();
    assert!(
        page_url.starts_with("http://192.168.4.1:8080/p/"),
        "{page_url}"
    );
    let link = page_url.rsplit('/').next().unwrap();
    // >= 128 random bits in the link's tag.
    assert_eq!(link.rsplit('-').next().unwrap().len(), 32);
    let (code, html) = seen
        .text(c.get(format!("{base}/p/{link}")).send().await.unwrap())
        .await;
    assert_eq!(code, 200);
    assert!(html.contains(&format!("/p/{link}/photo.jpg")));
    let r = c
        .get(format!("{base}{}", photo["src"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, jobs[0].blob.size, "the photo as saved");
    // A forged or altered link finds nothing; path traversal finds nothing.
    let mut forged = link.to_string();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    for path in [
        format!("/p/{forged}"),
        format!("/p/{forged}/photo.jpg"),
        "/p/..%2F..%2Fconfig.toml".to_string(),
        "/p/../../etc/passwd".to_string(),
        "/..%2f..%2fetc%2fpasswd".to_string(),
        "/admin/photo/..%2F..%2Ftoken".to_string(),
    ] {
        let (code, body) = seen
            .text(c.get(format!("{base}{path}")).send().await.unwrap())
            .await;
        assert!(code == 404 || code == 401, "{path}: {code} {body}");
    }
    // The fleet's /metrics is served on this listener too.
    let (code, metrics) = seen
        .text(c.get(format!("{base}/metrics")).send().await.unwrap())
        .await;
    assert_eq!(code, 200);
    assert!(metrics.contains("# TYPE postbooth_"), "{metrics}");
    // The slideshow lists the posted photo.
    let slides: Vec<String> = get_json(format!("{base}/slides")).await;
    assert_eq!(slides, vec![photo["src"].as_str().unwrap().to_string()]);
    daemon.stop().await;
    seen.assert_no_secret(&[TOKEN]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_links_expire() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = web_booth(&sim, &[("web", "link_hours", "0")]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    let base = format!("http://{}", daemon.web_addr().unwrap());
    let job = daemon.shoot().await.unwrap();
    let state: serde_json::Value = get_json(format!("{base}/state")).await;
    assert_eq!(state["photo"]["id"], job.id.to_string());
    // Valid for 0 hours: expired as soon as a millisecond has passed.
    let src = state["photo"]["src"].as_str().unwrap().to_string();
    let expired = eventually(Duration::from_secs(10), "the link expired", || {
        let url = format!("{base}{src}");
        async move {
            let code = client().get(url).send().await.unwrap().status().as_u16();
            (code == 410).then_some(code)
        }
    })
    .await;
    assert_eq!(expired, 410);
    daemon.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_needs_a_session_a_csrf_token_and_the_same_origin() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = web_booth(&sim, &[("publish", "review", "\"operator\"")]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    let base = format!("http://{}", daemon.web_addr().unwrap());
    let held = daemon.shoot().await.unwrap();
    let c = client();
    let mut seen = Seen::default();

    // No session: the API and photos refuse, the page is the login form.
    let (code, _) = seen
        .text(
            c.get(format!("{base}/admin/api/state"))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 401);
    let (code, _) = seen
        .text(
            c.get(format!("{base}/admin/photo/{}", held.id))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 401);
    let approve = format!("{base}/admin/api/jobs/{}/approve", held.id);
    let (code, _) = seen.text(c.post(&approve).send().await.unwrap()).await;
    assert_eq!(code, 401);
    let (_, page) = seen
        .text(c.get(format!("{base}/admin")).send().await.unwrap())
        .await;
    assert!(page.contains("name=\"password\""));

    let (cookie, csrf) = log_in(&base, &mut seen).await;
    let (code, state) = seen
        .text(
            c.get(format!("{base}/admin/api/state"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 200);
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["held"], 1);
    assert!(state["token_days_left"].as_u64().unwrap() > 50);
    // Without the CSRF token, with a wrong one, or from another site: refused.
    let (code, _) = seen
        .text(
            c.post(&approve)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 403);
    let (code, _) = seen
        .text(
            c.post(&approve)
                .header("cookie", &cookie)
                .header("x-csrf-token", "0".repeat(32))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 403);
    let (code, body) = seen
        .text(
            c.post(&approve)
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .header("origin", "http://evil.example")
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 403, "{body}");
    // A cross-site login form is refused too.
    let (code, _) = seen
        .text(
            c.post(format!("{base}/admin/login"))
                .header("origin", "http://evil.example")
                .form(&[("password", PASSWORD)])
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 403);
    assert_eq!(sim.publishes_by_image().len(), 0, "nothing approved yet");
    // The real thing: approved once, published once.
    let (code, body) = seen
        .text(
            c.post(&approve)
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    all_done(&daemon, Duration::from_secs(60)).await;
    assert_eq!(sim.publishes_by_image().get(&held.blob.sha256), Some(&1));
    let (code, _) = seen
        .text(
            c.get(format!("{base}/admin/photo/{}", held.id))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 200);

    // Doctor's checks, on demand: only with a session, every check doctor runs, no secret.
    let (code, _) = seen
        .text(
            c.get(format!("{base}/admin/api/doctor"))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 401);
    let (code, body) = seen
        .text(
            c.get(format!("{base}/admin/api/doctor"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let doctor: serde_json::Value = serde_json::from_str(&body).unwrap();
    let found = |name: &str| {
        doctor["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {body}"))
            .clone()
    };
    for name in ["disk", "camera", "clock", "token"] {
        found(name);
    }
    // Asked through this booth's own control socket: the store is not opened a second time.
    let store = found("store");
    assert!(
        store["message"]
            .as_str()
            .unwrap()
            .contains("the booth is running"),
        "{store}"
    );
    // The simulator answered doctor's Graph calls.
    let network = found("network");
    assert_eq!(network["verdict"], "ok", "{network}");
    assert!(network["message"].as_str().unwrap().contains("account @"));

    // Five wrong passwords from one address (a guest guessing), then even the right one waits
    // there; the operator on another address still logs in.
    let guesser = client_from([127, 0, 0, 1]);
    for _ in 0..postbooth::web::admin::MAX_FAILURES {
        let (code, _) = seen
            .text(
                guesser
                    .post(format!("{base}/admin/login"))
                    .form(&[("password", "guess")])
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
        assert_eq!(code, 401);
    }
    let (code, _) = seen
        .text(
            guesser
                .post(format!("{base}/admin/login"))
                .form(&[("password", PASSWORD)])
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 429);
    let operator = client_from([127, 0, 0, 2]);
    let r = operator
        .post(format!("{base}/admin/login"))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        303,
        "another address is not locked out"
    );
    assert!(session_cookie(&r).is_some());
    seen.text(r).await;
    // A forged X-Forwarded-For does not give the guesser a fresh address.
    let (code, _) = seen
        .text(
            guesser
                .post(format!("{base}/admin/login"))
                .header("x-forwarded-for", "10.9.8.7")
                .form(&[("password", PASSWORD)])
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(code, 429);
    daemon.stop().await;
    let hash = std::fs::read_to_string(s.config().web.admin_password_file).unwrap();
    seen.assert_no_secret(&[TOKEN, hash.trim(), PASSWORD]);
    sim.shutdown().await;
}

/// A port in use, a public_url that is not a URL, a missing or world-readable password file:
/// each is said naming its key, and the booth goes on taking photos.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_web_settings_stop_only_the_pages() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let in_use = quoted(&format!("127.0.0.1:{port}"));
    let cases = [
        (("web", "listen", in_use.as_str()), "web.listen"),
        (
            ("web", "public_url", "\"booth.local:8080\""),
            "web.public_url",
        ),
    ];
    for (setting, key) in cases {
        let s = web_booth(&sim, &[setting]);
        let daemon = s.start_daemon("daemon");
        s.shoot();
        let log = daemon.log_text();
        assert!(
            log.contains(key) && log.contains("web pages are off"),
            "{key}:\n{log}"
        );
    }
    // A world-readable password file: the console is off, the guest screen and booth go on.
    let s = web_booth(&sim, &[]);
    let file = s.config().web.admin_password_file;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let daemon = s.start_daemon("daemon");
    s.shoot();
    let log = daemon.log_text();
    assert!(
        log.contains("web.admin_password_file") && log.contains("chmod 600"),
        "{log}"
    );
    let base = format!("http://{}", s.config().web.listen);
    let r = client()
        .post(format!("{base}/admin/login"))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.text().await.unwrap().contains("chmod 600"));
    // Missing: named too.
    std::fs::remove_file(&file).unwrap();
    drop(daemon);
    let daemon = s.spawn_daemon("daemon2", &[]);
    eventually(Duration::from_secs(30), "daemon up", || async {
        answers(&s.socket()).await.then_some(())
    })
    .await;
    s.shoot();
    assert!(
        daemon.log_text().contains("does not exist"),
        "{}",
        daemon.log_text()
    );
    drop(taken);
    sim.shutdown().await;
}
