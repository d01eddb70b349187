//! The token's life against the simulator: automatic refresh before expiry, `auth refresh`
//! for both logins, an expired token pausing publishing while capture goes on, and the days
//! left on the display. The token never appears in any output.

use crate::helper::*;
use crate::policy::booth_with;
use postbooth::daemon::Daemon;
use postbooth::publish::graph::Token;
use postbooth::publish::token::{self, TokenRecord};
use postbooth::sim::{SimOptions, Simulator};
use postbooth::ui::{self, Screen};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const DAY: u64 = 24 * 60 * 60;

fn now() -> u64 {
    postbooth::clock::system_ms() / 1000
}

/// Says (in the record next to the token file) that the token was obtained `days` ago.
fn obtained_days_ago(s: &Booth, days: u64) {
    let record = TokenRecord {
        obtained_at: now() - days * DAY,
        expires_at: None,
        token_hash: token::token_hash(&Token::new(TOKEN)),
    };
    token::write_private_atomic(
        &token::record_path(&s.token),
        &serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
}

/// A booth on a simulator whose current token is `sim_days` old, its token record saying the
/// token was obtained `record_days` ago (the two differ where a test wants the simulator to
/// refuse a refresh the booth thinks is due), and an in-process daemon started on it.
async fn daemon_with_token_age(sim_days: u64, record_days: u64) -> (Simulator, Booth, Daemon) {
    let sim = Simulator::start(SimOptions {
        token_age: Duration::from_secs(sim_days * DAY),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let s = setup(&sim.base_url());
    obtained_days_ago(&s, record_days);
    let daemon = Daemon::start(s.config()).await.unwrap();
    (sim, s, daemon)
}

fn token_file(s: &Booth) -> (String, u32) {
    let text = std::fs::read_to_string(&s.token).unwrap();
    let mode = std::fs::metadata(&s.token).unwrap().permissions().mode() & 0o777;
    (text.trim().to_string(), mode)
}

/// A token 55 days old is refreshed by the running booth, written 0600, and the booth goes on
/// posting after the old token has expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booth_refreshes_an_old_token_before_it_expires_and_keeps_posting() {
    let (sim, s, daemon) = daemon_with_token_age(55, 55).await;
    let new = eventually(Duration::from_secs(30), "token refreshed", || async {
        let (text, _) = token_file(&s);
        (text != TOKEN).then_some(text)
    })
    .await;
    assert_eq!(new, sim.current_token());
    assert_eq!(token_file(&s).1, 0o600);
    let record = token::load_record(&s.token, &Token::new(new.clone()));
    assert_eq!(record.days_left(now()), 60);
    assert_eq!(sim.calls().get("refresh_access_token"), Some(&1));
    // Six days on, the old token is past its 60 days: only the new one works.
    sim.advance_clock(Duration::from_secs(6 * DAY));
    let job = daemon.shoot().await.unwrap();
    eventually(
        Duration::from_secs(60),
        "posted with the new token",
        || async { (sim.publishes_by_image().get(&job.blob.sha256) == Some(&1)).then_some(()) },
    )
    .await;
    daemon.stop().await;
    sim.shutdown().await;
}

#[test]
fn auth_refresh_writes_a_new_private_token_and_never_prints_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimOptions::default()))
        .unwrap();
    let _guard = rt.enter();
    let s = setup(&sim.base_url());
    let out = s.postbooth(&["auth", "refresh"]);
    assert!(out.status.success(), "{}", out.both());
    assert!(
        out.stdout.contains("token refreshed: 60 days left"),
        "{}",
        out.both()
    );
    let (new, mode) = token_file(&s);
    assert_eq!(new, sim.current_token());
    assert_ne!(new, TOKEN);
    assert_eq!(mode, 0o600);
    assert!(
        !out.both().contains(&new) && !out.both().contains(TOKEN),
        "{}",
        out.both()
    );
    let out = s.postbooth(&["doctor"]);
    let line = out.stdout.lines().find(|l| l.contains(" token ")).unwrap();
    assert!(
        line.starts_with("ok") && line.contains("60 days left"),
        "{}",
        out.both()
    );
    assert!(!out.both().contains(&new), "{}", out.both());

    // Instagram refuses to refresh a token less than a day old, and says so.
    let out = s.postbooth(&["auth", "refresh"]);
    assert!(!out.status.success(), "{}", out.both());
    assert!(out.stderr.contains("24 hours old"), "{}", out.both());
    assert_eq!(token_file(&s).0, new, "the token file is untouched");
    rt.block_on(sim.shutdown());
}

#[test]
fn facebook_login_renews_with_fb_exchange_token_or_says_a_page_token_does_not_expire() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimOptions::default()))
        .unwrap();
    let _guard = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("app-secret");
    write_private(&secret, "sim-app-secret\n", 0o600);
    let secret_value = quoted(&secret.display().to_string());
    let s = booth_with(
        &sim.base_url(),
        &[
            ("instagram", "login", Some("\"facebook\"")),
            ("instagram", "app_id", Some("\"sim-app\"")),
            ("instagram", "app_secret_file", Some(&secret_value)),
        ],
    );
    let out = s.postbooth(&["auth", "refresh"]);
    assert!(out.status.success(), "{}", out.both());
    assert_eq!(sim.calls().get("oauth_access_token"), Some(&1));
    assert_eq!(token_file(&s).0, sim.current_token());
    assert!(!out.both().contains("sim-app-secret"), "{}", out.both());

    let page = booth_with(
        &sim.base_url(),
        &[("instagram", "login", Some("\"facebook\""))],
    );
    let out = page.postbooth(&["auth", "refresh"]);
    assert!(!out.status.success(), "{}", out.both());
    assert!(out.stderr.contains("does not expire"), "{}", out.both());
    rt.block_on(sim.shutdown());
}

/// A token past its 60 days (190/463): "Instagram login needed", capture goes on, `doctor`
/// says the token expired; once the operator puts a new token in the file, posting resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_pauses_posting_with_login_needed_and_a_new_file_resumes_it() {
    let (sim, s, daemon) = daemon_with_token_age(61, 61).await;
    let first = daemon.shoot().await.unwrap();
    let mut status = daemon.status.clone();
    eventually(Duration::from_secs(30), "login-needed screen", || {
        let screen = status.borrow_and_update().screen.clone();
        async move { (screen == Screen::LoginNeeded).then_some(()) }
    })
    .await;
    assert_eq!(
        ui::lines(&daemon.status.borrow())[0],
        "Instagram login needed"
    );
    let second = daemon.shoot().await.unwrap();
    assert!(sim.publishes_by_image().is_empty());
    let out = s.postbooth(&["doctor"]);
    let line = out.failed_check("token");
    assert!(line.contains("expired"), "{}", out.both());

    // The operator makes a new token and puts it in the file; the booth picks it up.
    sim.set_token("fresh-token");
    token::write_private_atomic(&s.token, b"fresh-token\n").unwrap();
    let socket = s.socket();
    postbooth::control::call(&socket, &postbooth::control::Request::ReloadToken)
        .await
        .unwrap();
    eventually(Duration::from_secs(60), "both posted", || async {
        let p = sim.publishes_by_image();
        (p.get(&first.blob.sha256) == Some(&1) && p.get(&second.blob.sha256) == Some(&1))
            .then_some(())
    })
    .await;
    daemon.stop().await;
    sim.shutdown().await;
}

/// Fewer than 7 days left and the refresh fails (here Instagram says the token is too new):
/// the idle screen says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_seven_days_left_the_display_says_so() {
    let (sim, s, daemon) = daemon_with_token_age(0, 55).await;
    let mut status = daemon.status.clone();
    let bottom = eventually(Duration::from_secs(30), "days-left notice", || {
        let [_, bottom] = ui::lines(&status.borrow_and_update());
        async move { bottom.contains("days left").then_some(bottom) }
    })
    .await;
    assert_eq!(bottom, "Login: 5 days left");
    assert_eq!(
        token_file(&s).0,
        TOKEN,
        "a failed refresh leaves the token alone"
    );
    daemon.stop().await;
    sim.shutdown().await;
}
