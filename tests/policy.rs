//! Publishing policy against the simulator over HTTP: caption templates, the daily publishing
//! quota, Meta's usage headers, publish windows and the build-date clock guard.

use crate::helper::*;
use postbooth::control::{self, Request};
use postbooth::daemon::Daemon;
use postbooth::sim::{SimOptions, Simulator};
use postbooth::ui::Screen;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// [`setup`]'s booth with more keys set (raw TOML values).
pub fn booth_with(graph_url: &str, extra: &[(&str, &str, Option<&str>)]) -> Booth {
    let mut overrides = PUBLISH_TEST_KEYS.to_vec();
    overrides.extend_from_slice(extra);
    Booth::new(graph_url, &overrides)
}

async fn publishing_info(socket: &std::path::Path) -> postbooth::publish::gate::GateInfo {
    control::call(socket, &Request::List)
        .await
        .unwrap()
        .expect("the daemon answers")
        .publishing
        .expect("list carries the publishing info")
}

#[test]
fn a_caption_instagram_would_refuse_is_a_config_error_naming_the_key() {
    let tags: String = (0..31).map(|i| format!("#tag{i} ")).collect();
    let cases = [
        (
            "\"{event} at {location}\"",
            Some(tags.as_str()),
            "31 hashtags",
        ),
        ("\"hello {evnt}\"", None, "{evnt}"),
    ];
    for (caption, event, words) in cases {
        let event = event.map(quoted);
        let booth = Booth::new(
            "http://127.0.0.1:9/v21.0",
            &[
                ("instagram", "caption", Some(caption)),
                ("instagram", "event", event.as_deref()),
            ],
        );
        let out = booth.postbooth(&["run"]);
        assert!(!out.status.success(), "{}", out.both());
        assert!(
            out.stderr.contains("instagram.caption") && out.stderr.contains(words),
            "{}",
            out.both()
        );
        assert!(!booth.socket().exists(), "run must not have started");
        let out = booth.postbooth(&["doctor"]);
        let line = out.failed_check("config");
        assert!(line.contains("instagram.caption"), "{}", out.both());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caption_placeholders_are_filled_in_the_post() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = booth_with(
        &sim.base_url(),
        &[
            (
                "instagram",
                "caption",
                Some("\"{event} #{n} {date} {time} @ {location}\""),
            ),
            ("instagram", "event", Some("\"Gala\"")),
            ("instagram", "location", Some("\"Hall B\"")),
        ],
    );
    let daemon = Daemon::start(s.config()).await.unwrap();
    let job = daemon.shoot().await.unwrap();
    eventually(Duration::from_secs(60), "posted", || async {
        (sim.media().len() == 1).then_some(())
    })
    .await;
    daemon.stop().await;
    let caption = &sim.media()[0].caption;
    assert_eq!(caption, &job.caption);
    assert!(caption.starts_with("Gala #1 20"), "{caption}");
    assert!(caption.ends_with(" @ Hall B"), "{caption}");
    assert!(!caption.contains('{'), "{caption}");
    sim.shutdown().await;
}

/// 60 photos, a quota of 25 under `wait`: 25 posts, then nothing (not even a container) until
/// the simulator's 24-hour window slides, then the next 25, then the last 10. Each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_photos_with_quota_25_wait_posts_25_and_resumes_when_the_window_slides() {
    let sim = Simulator::start(SimOptions {
        quota_total: 25,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let s = booth_with(
        &sim.base_url(),
        &[
            ("publish", "quota_policy", Some("\"wait\"")),
            ("publish", "quota_recheck_secs", Some("1")),
            // On a loaded machine a 1 s answer can come late: the booth then verifies and
            // publishes the container again (the sim refuses the second), one more call.
            ("instagram", "request_timeout_secs", Some("5")),
        ],
    );
    let daemon = Daemon::start(s.config()).await.unwrap();
    let mut saved = Vec::new();
    for _ in 0..60 {
        saved.push(daemon.shoot().await.unwrap());
    }
    let socket = s.socket();
    let count = |name: &str| sim.calls().get(name).copied().unwrap_or(0);

    for (round, expected) in [(1, 25), (2, 50)] {
        let info = eventually(Duration::from_secs(180), "quota used up", || async {
            let info = publishing_info(&socket).await;
            // The screen too: a shot still being saved may show "Saved" until the next recheck.
            (sim.media().len() == expected
                && daemon.status.borrow().screen == Screen::RateLimited
                && info.posts_left == Some(0)
                && info
                    .waiting_because
                    .as_deref()
                    .is_some_and(|w| w.contains("quota is used up")))
            .then_some(info)
        })
        .await;
        assert_eq!(info.quota_total, Some(25));
        // It asks Instagram again at each recheck, and still posts (or prepares) nothing.
        let asked = count("publishing_limit");
        let containers = count("create_container");
        let publishes = count("media_publish");
        eventually(Duration::from_secs(30), "a quota recheck", || async {
            (count("publishing_limit") > asked).then_some(())
        })
        .await;
        assert_eq!(sim.media().len(), expected, "round {round}");
        // A publish whose answer was lost may be asked again (and then found published), so
        // the calls are not counted per post; what must not happen is a publish the quota refuses.
        assert_eq!(sim.quota_refusals(), 0, "no publish refused by the quota");
        assert_eq!(
            count("media_publish"),
            publishes,
            "no publish while the quota is used up"
        );
        assert_eq!(
            count("create_container"),
            containers,
            "no container made while the quota is used up"
        );
        let out = s.postbooth(&["queue", "list"]);
        assert!(
            out.stdout.contains("Posts left today: 0 of 25"),
            "{}",
            out.both()
        );
        sim.advance_clock(DAY + Duration::from_secs(60));
    }
    all_done(&daemon, Duration::from_secs(180)).await;
    let info = publishing_info(&socket).await;
    assert_eq!(info.posts_left, Some(15));
    daemon.stop().await;
    let publishes = sim.publishes_by_image();
    assert_eq!(publishes.len(), 60);
    for job in &saved {
        assert_eq!(publishes.get(&job.blob.sha256), Some(&1), "job {}", job.id);
    }
    let out = s.postbooth(&["doctor"]);
    assert!(
        out.stdout
            .contains("15 posts left today (10 of 25 used in the last 24 h)"),
        "{}",
        out.both()
    );
    sim.shutdown().await;
}

/// The same 60 photos under `carousel`, taken while the booth was offline: once online,
/// everything is posted within the window, in at most 25 posts, every picture exactly once (a
/// carousel publishes each of its images once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_photos_with_quota_25_carousel_posts_everything_in_at_most_25_posts() {
    let sim = Simulator::start(SimOptions {
        quota_total: 25,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let (_, saved, jobs) = shoot_offline_then_post(
        &sim,
        60,
        &[("publish", "quota_policy", Some("\"carousel\""))],
    )
    .await;
    assert_eq!(sim.publishes_by_image().len(), 60);
    let posts = sim.media();
    let carousels = posts
        .iter()
        .filter(|m| m.media_type == "CAROUSEL_ALBUM")
        .count();
    println!(
        "carousel policy: 60 photos in {} posts ({carousels} carousels)",
        posts.len()
    );
    assert!(posts.len() <= 25, "{} posts", posts.len());
    assert!(
        posts.iter().any(|m| m.media_type == "CAROUSEL_ALBUM"),
        "the backlog was batched"
    );
    assert_eq!(jobs.len(), posts.len(), "one job per post");
    let publishes = sim.publishes_by_image();
    for job in &saved {
        assert_eq!(
            publishes.get(&job.blob.sha256),
            Some(&1),
            "photo {}",
            job.id
        );
    }
    assert!(publishes.values().all(|&n| n == 1), "{publishes:?}");
    sim.shutdown().await;
}

/// Takes `n` photos with the booth offline, then brings it online under quota policy `story`
/// and waits until every job is Done. Returns the photos as saved and the jobs at the end.
async fn story_policy_run(
    sim: &Simulator,
    n: usize,
    extra: &[(&str, &str, Option<&str>)],
) -> (Vec<postbooth::job::Job>, Vec<postbooth::job::Job>) {
    let mut keys = vec![
        ("publish", "quota_policy", Some("\"story\"")),
        ("publish", "quota_recheck_secs", Some("1")),
        ("instagram", "request_timeout_secs", Some("5")),
    ];
    keys.extend_from_slice(extra);
    let (s, saved, jobs) = shoot_offline_then_post(sim, n, &keys).await;
    let out = s.postbooth(&["queue", "list"]);
    assert!(out.stdout.contains("  story "), "{}", out.both());
    (saved, jobs)
}

/// A booth with `keys` takes `n` photos while Instagram is unreachable (nothing reaches the
/// simulator), then comes online and posts until every job is Done. Returns the booth, the
/// photos as saved and the jobs at the end.
async fn shoot_offline_then_post(
    sim: &Simulator,
    n: usize,
    keys: &[(&str, &str, Option<&str>)],
) -> (Booth, Vec<postbooth::job::Job>, Vec<postbooth::job::Job>) {
    let s = booth_with(&sim.base_url(), keys);
    let mut offline = s.config();
    offline.instagram.graph_url = format!("http://127.0.0.1:{}/v21.0", free_port());
    let daemon = Daemon::start(offline).await.unwrap();
    let mut saved = Vec::new();
    for _ in 0..n {
        saved.push(daemon.shoot().await.unwrap());
    }
    daemon.stop().await;
    assert!(
        sim.calls().is_empty(),
        "nothing reached Instagram while offline"
    );
    let daemon = Daemon::start(s.config()).await.unwrap();
    let jobs = all_done(&daemon, Duration::from_secs(240)).await;
    daemon.stop().await;
    (s, saved, jobs)
}

/// Each saved photo is posted exactly once: to the feed as taken, or (turned into a Story) as
/// its 9:16 copy and never to the feed. Returns (feed posts, Stories).
fn each_photo_once_as_feed_or_story(
    sim: &Simulator,
    saved: &[postbooth::job::Job],
    jobs: &[postbooth::job::Job],
) -> (usize, usize) {
    use postbooth::job::PostKind;
    let publishes = sim.publishes_by_image();
    assert!(publishes.values().all(|&n| n == 1), "{publishes:?}");
    assert_eq!(jobs.len(), saved.len(), "one job per photo");
    let (mut feed, mut stories) = (0, 0);
    for photo in saved {
        let job = jobs
            .iter()
            .find(|j| j.id == photo.id)
            .expect("the job stays");
        match job.kind {
            PostKind::Photo => {
                assert_eq!(publishes.get(&photo.blob.sha256), Some(&1), "{}", job.id);
                feed += 1;
            }
            PostKind::Story { overflow: true, .. } => {
                assert_eq!(
                    publishes.get(&photo.blob.sha256),
                    None,
                    "{} in the feed too",
                    job.id
                );
                assert_eq!(publishes.get(&job.blob.sha256), Some(&1), "{}", job.id);
                stories += 1;
            }
            ref other => panic!("job {} became a {other:?}", job.id),
        }
    }
    let media = sim.media();
    let count = |t: &str| media.iter().filter(|m| m.product_type == t).count();
    assert_eq!((count("FEED"), count("STORY")), (feed, stories));
    (feed, stories)
}

/// The same 60 photos with a quota of 25 under `story`, where Stories do not use up feed
/// posts: the oldest 25 go to the feed and the other 35 to Stories, at once, each exactly
/// once, and no publish is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_photos_with_quota_25_story_posts_25_to_the_feed_and_35_to_stories() {
    let sim = Simulator::start(SimOptions {
        quota_total: 25,
        stories_in_quota: false,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let (saved, jobs) = story_policy_run(&sim, 60, &[]).await;
    let (feed, stories) = each_photo_once_as_feed_or_story(&sim, &saved, &jobs);
    println!("story policy: 60 photos, quota 25: {feed} feed posts, {stories} Stories");
    assert_eq!((feed, stories), (25, 35));
    // The oldest keep their feed post.
    assert!(saved[..25]
        .iter()
        .all(|p| jobs.iter().any(|j| j.id == p.id && j.kind.is_photo())));
    assert_eq!(sim.quota_refusals(), 0);
    sim.shutdown().await;
}

/// If Instagram does count Stories against the quota, the overflow Stories are refused like
/// any post over the quota: they wait for the window to slide and are then posted, still once
/// each and never also to the feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_policy_when_stories_count_too_waits_and_posts_each_once() {
    let sim = Simulator::start(SimOptions {
        quota_total: 4,
        stories_in_quota: true,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let sliding = async {
        eventually(
            Duration::from_secs(120),
            "a Story refused by the quota",
            || async { (sim.quota_refusals() > 0).then_some(()) },
        )
        .await;
        assert_eq!(sim.media().len(), 4, "the feed posts went out first");
        sim.advance_clock(DAY + Duration::from_secs(60));
    };
    let ((saved, jobs), ()) = tokio::join!(story_policy_run(&sim, 6, &[]), sliding);
    let (feed, stories) = each_photo_once_as_feed_or_story(&sim, &saved, &jobs);
    assert_eq!((feed, stories), (4, 2));
    sim.shutdown().await;
}

/// Usage headers at 100 %: the booth stops calling, even when new photos wake the publisher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_usage_headers_stop_all_calls_while_capture_goes_on() {
    let sim = Simulator::start(SimOptions {
        calls_per_hour: 3,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let s = setup(&sim.base_url());
    let daemon = Daemon::start(s.config()).await.unwrap();
    daemon.shoot().await.unwrap();
    let socket = s.socket();
    eventually(Duration::from_secs(30), "throttled", || async {
        publishing_info(&socket)
            .await
            .waiting_because
            .filter(|w| w.contains("slow down"))
    })
    .await;
    let calls: u64 = sim.calls().values().sum();
    for _ in 0..3 {
        daemon.shoot().await.unwrap();
    }
    // Each shot woke the publisher; none of them may have reached Instagram.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sim.calls().values().sum::<u64>(),
        calls,
        "{:?}",
        sim.calls()
    );
    assert_eq!(daemon.store.jobs().unwrap().len(), 4, "capture goes on");
    daemon.stop().await;
    sim.shutdown().await;
}

/// A window that is closed now (it opens 12 hours from now): nothing is created or published,
/// `doctor` and `queue list` say why; a window that is open now posts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_publish_windows_posting_waits_and_says_so() {
    let now = postbooth::clock::now();
    let hm = |h: u32| format!("{:02}:00", h % 24);
    let h = u32::from(now.hour);
    let closed = format!("[\"{}-{}\"]", hm(h + 12), hm(h + 13));
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = booth_with(&sim.base_url(), &[("publish", "windows", Some(&closed))]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    daemon.shoot().await.unwrap();
    let socket = s.socket();
    let why = eventually(Duration::from_secs(30), "held by the window", || async {
        publishing_info(&socket)
            .await
            .waiting_because
            .filter(|w| w.contains("outside the publish windows"))
    })
    .await;
    assert!(why.contains(&hm(h + 12)), "{why}");
    assert_eq!(sim.calls().get("create_container"), None);
    let out = s.postbooth(&["queue", "list"]);
    assert!(
        out.stdout.contains("outside the publish windows"),
        "{}",
        out.both()
    );
    daemon.stop().await;
    let out = s.postbooth(&["doctor"]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("windows"))
        .unwrap_or_default();
    assert!(
        line.starts_with("WARN") && line.contains("outside"),
        "{}",
        out.both()
    );
    assert!(sim.media().is_empty());

    // The whole day as a window: it posts.
    let open = booth_with(
        &sim.base_url(),
        &[("publish", "windows", Some("[\"00:00-24:00\"]"))],
    );
    let daemon = Daemon::start(open.config()).await.unwrap();
    daemon.shoot().await.unwrap();
    eventually(
        Duration::from_secs(60),
        "posted inside the window",
        || async { (sim.media().len() == 1).then_some(()) },
    )
    .await;
    daemon.stop().await;
    sim.shutdown().await;
}

/// A clock before the build date (a Pi without RTC or network): capture goes on, nothing is
/// published, and both `doctor` and `queue list` say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_before_the_build_date_never_publishes_and_says_so() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup(&sim.base_url());
    // Pretend this binary was built ten years from now: the real clock is "before the build".
    let future = (postbooth::clock::system_ms() / 1000 + 10 * 365 * 86400).to_string();
    let env = [("POSTBOOTH_NOT_BEFORE", future.as_str())];
    let _daemon = s.spawn_daemon("clock", &env);
    let socket = s.socket();
    eventually(Duration::from_secs(30), "daemon up", || async {
        answers(&socket).await.then_some(())
    })
    .await;
    s.shoot();
    let why = eventually(Duration::from_secs(30), "held by the clock", || async {
        publishing_info(&socket)
            .await
            .waiting_because
            .filter(|w| w.contains("before this postbooth was built"))
    })
    .await;
    assert!(why.contains("NTP"), "{why}");
    assert_eq!(sim.calls().get("create_container"), None);
    assert_eq!(s.list().len(), 1, "the photo is saved");
    let mut doctor = s.command(&["doctor"]);
    doctor.env("POSTBOOTH_NOT_BEFORE", &future);
    let out = run_to_end(doctor);
    let line = out.failed_check("clock");
    assert!(
        line.contains("before this postbooth was built"),
        "{}",
        out.both()
    );
    sim.shutdown().await;
}
