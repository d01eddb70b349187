//! `/metrics`: a real scrape of a running `postbooth run` checked by Prometheus' own
//! `promtool check metrics`, the values after real posts through the simulator, the bearer
//! token, and the alert rules in contrib/ checked and unit-tested by `promtool`.

use crate::helper::*;
use postbooth::sim::{SimOptions, Simulator};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// promtool from the `prometheus` package (scripts/install-test-tools.sh installs it).
fn promtool() -> Command {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("promtool").is_file()));
    assert!(
        found,
        "promtool is not on PATH: run scripts/install-test-tools.sh (Debian package prometheus)"
    );
    Command::new("promtool")
}

/// `promtool check metrics` over `text` (stdin); returns its output when it finds problems.
fn promtool_check_metrics(text: &str) -> Result<(), String> {
    let mut child = promtool()
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // promtool exits 0 with lint findings on stdout in some versions: both must be clean.
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(said)
    }
}

/// The value of the sample `series` (name with labels exactly as exposed).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn scrape(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_booth_exposes_metrics_that_promtool_accepts() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let s = setup_with(
        &sim.base_url(),
        &[
            ("metrics", "listen", &quoted(&listen)),
            ("metrics", "token_file", &quoted("TOKEN_FILE")),
        ],
    );
    // The bearer token file, 0600 like the Instagram token.
    let bearer = s.dir.path().join("metrics-token");
    write_private(&bearer, "s3cret-scrape-token\n", 0o600);
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("TOKEN_FILE", &bearer.display().to_string());
    s.write_config(&text);

    let daemon = s.start_daemon("daemon");
    let url = format!("http://{listen}/metrics");
    // Before any photo: every family is there, and promtool is content.
    let before = eventually(Duration::from_secs(20), "first scrape", || async {
        let r = scrape(&url, Some("s3cret-scrape-token")).await;
        (r.status() == 200).then_some(())?;
        Some(r.text().await.unwrap())
    })
    .await;
    promtool_check_metrics(&before).unwrap_or_else(|e| panic!("promtool:\n{e}\n---\n{before}"));
    assert_eq!(value(&before, "postbooth_photos_saved_total"), Some(0.0));

    // Without the token, or with a wrong one: 401, and no figures.
    for token in [None, Some("wrong")] {
        let r = scrape(&url, token).await;
        assert_eq!(r.status(), 401, "token {token:?}");
        assert!(!r.text().await.unwrap().contains("postbooth_"));
    }

    for _ in 0..2 {
        s.shoot();
    }
    let after = eventually(
        Duration::from_secs(60),
        "two posts in the metrics",
        || async {
            let text = scrape(&url, Some("s3cret-scrape-token"))
                .await
                .text()
                .await
                .unwrap();
            (value(&text, "postbooth_posts_published_total") == Some(2.0)
                && value(&text, "postbooth_queue_jobs{state=\"Done\"}") == Some(2.0))
            .then_some(text)
        },
    )
    .await;
    promtool_check_metrics(&after).unwrap_or_else(|e| panic!("promtool:\n{e}\n---\n{after}"));
    assert_eq!(value(&after, "postbooth_photos_saved_total"), Some(2.0));
    assert_eq!(
        value(&after, "postbooth_capture_duration_seconds_count"),
        Some(2.0)
    );
    assert_eq!(
        value(&after, "postbooth_publish_duration_seconds_count"),
        Some(2.0)
    );
    assert_eq!(value(&after, "postbooth_oldest_waiting_seconds"), Some(0.0));
    assert_eq!(value(&after, "postbooth_camera_up"), Some(1.0));
    assert_eq!(value(&after, "postbooth_network_up"), Some(1.0));
    // The simulator's quota (content_publishing_limit) and the fresh 60-day token.
    let left = value(&after, "postbooth_posts_left").expect("posts left after posting");
    let total = value(&after, "postbooth_posts_quota").expect("quota after posting");
    assert_eq!(left, total - 2.0, "{after}");
    let token_secs = value(&after, "postbooth_token_expiry_seconds").unwrap();
    assert!(
        (59.0 * 86_400.0..=60.0 * 86_400.0).contains(&token_secs),
        "{token_secs}"
    );
    assert!(value(&after, "postbooth_disk_free_bytes").unwrap() > 0.0);
    assert!(after.contains("postbooth_build_info{version=\""));
    drop(daemon);
    sim.shutdown().await;
}

#[test]
fn a_world_readable_metrics_token_stops_the_booth_with_the_fix() {
    let port = free_port();
    let s = setup_with(
        "http://127.0.0.1:9/v25.0",
        &[("metrics", "listen", &quoted(&format!("127.0.0.1:{port}")))],
    );
    let bearer = s.dir.path().join("metrics-token");
    write_private(&bearer, "t\n", 0o644);
    let text = std::fs::read_to_string(&s.config).unwrap().replace(
        "[metrics]\n",
        &format!(
            "[metrics]\ntoken_file = {}\n",
            quoted(&bearer.display().to_string())
        ),
    );
    s.write_config(&text);
    let out = s.postbooth(&["run"]);
    out.assert_refused_saying(&["metrics.token_file", "chmod 600"]);
}

fn contrib(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(path)
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_when_they_should() {
    let rules = contrib("prometheus/postbooth-alerts.yml");
    let out = promtool()
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The example scrape job (it loads the rules by a path relative to itself).
    let out = promtool()
        .args(["check", "config", "--syntax-only"])
        .arg(contrib("prometheus/scrape.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check config:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Unit tests of the rules over made-up series: each alert fires, and only when it should.
    let out = promtool()
        .arg("test")
        .arg("rules")
        .arg(contrib("prometheus/postbooth-alerts.test.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_the_booth_exposes() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(contrib("grafana/postbooth.json")).unwrap())
            .expect("the dashboard is JSON");
    let exposed = postbooth::metrics::render(&postbooth::metrics::Snapshot {
        posts_left: Some(1),
        quota_total: Some(1),
        token_expires_in_seconds: Some(1),
        disk_free_bytes: Some(1),
        disk_size_bytes: Some(1),
        mqtt_connected: Some(true),
        ..Default::default()
    });
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(exprs.len() >= 8, "{exprs:?}");
    for expr in &exprs {
        for name in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("postbooth_"))
        {
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                exposed.contains(&format!("# TYPE {family} ")),
                "the dashboard queries {name}, which the booth does not expose ({expr})"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_graph_api_version_is_noticed_logged_once_and_shown() {
    // Meta serves calls to a retired version with the next oldest usable one, and its answers
    // name that version in `facebook-api-version`: the simulator can be told to answer so.
    let sim = Simulator::start(SimOptions {
        served_version: Some("v25.0".into()),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let retired = sim.base_url().replace("/v25.0", "/v21.0");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let s = setup_with(&retired, &[("metrics", "listen", &quoted(&listen))]);

    // doctor says it, with the key to change.
    let out = s.postbooth(&["doctor"]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(" api "))
        .unwrap_or_else(|| panic!("no api line\n{}", out.both()))
        .to_string();
    assert!(line.starts_with("WARN"), "{line}");
    for words in ["v21.0", "v25.0", "instagram.graph_url", "retired"] {
        assert!(line.contains(words), "{line}");
    }

    let daemon = s.start_daemon("daemon");
    for _ in 0..2 {
        s.shoot();
    }
    let url = format!("http://{listen}/metrics");
    let text = eventually(Duration::from_secs(60), "two posts", || async {
        let text = scrape(&url, None).await.text().await.unwrap();
        (value(&text, "postbooth_posts_published_total") == Some(2.0)).then_some(text)
    })
    .await;
    assert_eq!(
        value(&text, "postbooth_graph_api_version_mismatch"),
        Some(1.0)
    );
    assert!(text
        .contains("postbooth_graph_api_served_version_info{asked=\"v21.0\",served=\"v25.0\"} 1"));
    promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool:\n{e}"));
    // Logged once, however many calls were answered that way.
    let log = daemon.log_text();
    assert_eq!(
        log.matches("but Instagram answered with v25.0").count(),
        1,
        "{log}"
    );
    drop(daemon);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_version_raises_no_notice() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    assert!(
        sim.base_url().ends_with("/v25.0"),
        "the simulator's default"
    );
    let s = setup(&sim.base_url());
    let out = s.postbooth(&["doctor"]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(" api "))
        .unwrap_or_else(|| panic!("no api line\n{}", out.both()))
        .to_string();
    assert!(line.starts_with("ok"), "{line}");
    assert_eq!(
        postbooth::config::Config::default().instagram.graph_url,
        "https://graph.facebook.com/v25.0"
    );
    sim.shutdown().await;
}

#[test]
fn the_demo_says_where_its_metrics_are() {
    let mut cmd = postbooth_command();
    cmd.args(["demo", "--shots", "1", "--json"]);
    let out = run_to_end(cmd);
    assert!(out.status.success(), "{}", out.both());
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let url = summary["metrics_url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
}
