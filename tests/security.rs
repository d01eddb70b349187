//! Security checks on the real binary: the access token never leaves the token file except in
//! the Authorization header (not in logs at any level, not in `queue list`, `doctor` or error
//! messages, not in URLs: the simulator refuses `access_token` parameters); the control
//! socket is owner-only; the `serve` host serves staged photos only while a job needs them;
//! plain http to a non-local graph_url is refused.

use crate::helper::{eventually, setup, Booth, DEADLINE, TOKEN};
use postbooth::control::{self, Request};
use postbooth::sim::{SimOptions, Simulator};
use std::os::unix::fs::PermissionsExt;

/// Every place the booth may print, scanned for the token.
fn assert_no_token(what: &str, text: &str) {
    assert!(
        !text.contains(TOKEN),
        "the access token appears in {what}:\n{}",
        text.lines()
            .filter(|l| l.contains(TOKEN))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A simulator with a quota no test here reaches and a publishing booth ([`setup`]) on it.
async fn publishing_booth() -> (Simulator, Booth) {
    let sim = Simulator::start(SimOptions {
        quota_total: 100_000,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let booth = setup(&sim.base_url());
    (sim, booth)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_never_printed_and_the_control_socket_is_owner_only() {
    let (sim, booth) = publishing_booth().await;
    // The most verbose logging there is, including the HTTP client's.
    let mut daemon = booth.spawn_daemon("daemon", &[("RUST_LOG", "trace")]);
    let socket = booth.socket();
    eventually(DEADLINE, "daemon up", || async {
        crate::helper::answers(&socket).await.then_some(())
    })
    .await;

    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "control socket mode {mode:o}");

    let mut printed = Vec::new();
    for _ in 0..2 {
        let out = booth.postbooth(&["shoot"]);
        assert!(out.status.success(), "{}", out.both());
        printed.push(("shoot", out.both()));
    }
    eventually(DEADLINE, "both photos posted", || async {
        let jobs = control::call(&socket, &Request::List).await.ok()??.jobs;
        (jobs.len() == 2 && jobs.iter().all(|j| j.state.name() == "Done")).then_some(())
    })
    .await;
    // The token refused: auth errors are logged and shown, the token must not be.
    sim.set_token("another-token");
    let out = booth.postbooth(&["shoot"]);
    printed.push(("shoot", out.both()));
    eventually(DEADLINE, "the auth error logged", || async {
        daemon.log_text().contains("190").then_some(())
    })
    .await;
    for args in [
        &["queue", "list"][..],
        &["queue", "list", "--json"],
        &["doctor"],
        &["print-config"],
    ] {
        let out = booth.postbooth(args);
        printed.push((args[0], out.both()));
    }
    daemon.terminate();
    let out = booth.postbooth(&["queue", "list", "--json"]);
    printed.push(("queue list (no daemon)", out.both()));
    printed.push(("the daemon's log (RUST_LOG=trace)", daemon.log_text()));
    printed.push((
        "the daemon's stdout",
        std::fs::read_to_string(booth.dir.path().join("daemon.out")).unwrap_or_default(),
    ));
    let mut bytes = 0;
    for (what, text) in &printed {
        assert_no_token(what, text);
        bytes += text.len();
    }
    // The scan saw real output, not empty strings.
    assert!(bytes > 10_000, "only {bytes} bytes scanned");
    // URLs: the simulator refuses any request with an `access_token` parameter (query or
    // body), so the two posts above prove the token went only in the Authorization header.
    println!(
        "security: token absent from {} outputs ({} KiB, daemon at RUST_LOG=trace); control socket {:o}",
        printed.len(),
        bytes / 1024,
        mode & 0o777
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_host_serves_a_photo_only_while_its_job_needs_it() {
    let (sim, booth) = publishing_booth().await;
    let config = booth.config();
    let base = config.media.public_base_url.clone();
    let mut daemon = booth.start_daemon("daemon");
    let socket = booth.socket();
    let id = booth.shoot();
    let job = eventually(DEADLINE, "the photo posted", || async {
        let jobs = control::call(&socket, &Request::List).await.ok()??.jobs;
        jobs.into_iter()
            .find(|j| j.id.to_string() == id && j.state.name() == "Done")
    })
    .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{}{path}", base.trim_end_matches('/'));
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    // The simulator fetched it while the job needed it; published, it is gone.
    assert_eq!(get(format!("/{}.jpg", job.blob.sha256)).await, 404);
    assert!(!booth
        .store
        .join(format!("public/{}.jpg", job.blob.sha256))
        .exists());
    // Nothing else is reachable.
    for path in [
        "/token".to_string(),
        format!("/{}", booth.token.display()),
        "/photos".to_string(),
        format!("/photos/{id}.jpg"),
        "/%2e%2e/token".to_string(),
    ] {
        assert_eq!(get(path.clone()).await, 404, "{path}");
    }
    assert!(daemon.is_running());
    daemon.terminate();
    sim.shutdown().await;
}

#[test]
fn plain_http_to_a_non_local_graph_url_is_refused() {
    for (url, ok) in [
        ("http://graph.facebook.com/v21.0", false),
        ("http://10.0.0.5:8080/v21.0", false),
        ("ftp://graph.facebook.com/v21.0", false),
        ("https://graph.facebook.com/v21.0", true),
        ("http://127.0.0.1:9/v21.0", true),
        ("http://localhost:9/v21.0", true),
        ("http://[::1]:9/v21.0", true),
    ] {
        let booth = Booth::new(url, &[]);
        // `queue list` loads (and validates) the config, then reads the empty store.
        let out = booth.postbooth(&["queue", "list"]);
        let text = out.both();
        if ok {
            assert!(out.status.success(), "{url} refused: {text}");
        } else {
            assert!(!out.status.success(), "{url} accepted: {text}");
            assert!(
                text.contains("instagram.graph_url") && text.contains("https://"),
                "{url}: {text}"
            );
        }
    }
}
