//! What an operator sees when the input is bad: a broken config, a missing account, a token
//! file others can read, no network, a Wi-Fi login page, a full store, a damaged queue, a
//! second daemon. Each test checks the words of the message and that nothing saved is lost.

use crate::helper::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A graph_url where nothing answers: the discard port, not a "free" port that a concurrent
/// test (or this booth's own media server, which also asks for a free port) may bind and
/// answer 404 on.
fn unreachable_graph_url() -> String {
    "http://127.0.0.1:9/v21.0".to_string()
}

/// The damaged queues the store moved aside (`queue.damaged-<time>`), kept for a person to
/// look at.
fn damaged_queues(store: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("queue.damaged-")
        })
        .collect()
}

fn ids(jobs: &[serde_json::Value]) -> Vec<String> {
    jobs.iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1–3: the config file

#[test]
fn malformed_toml_names_the_file_and_line() {
    let booth = Booth::new(&unreachable_graph_url(), &[]);
    booth.write_config("[instagram]\nuser_id = \"17841400000000000\"\ncaption = \n");
    let path = booth.config_path();

    let out = booth.postbooth(&["print-config"]);
    out.assert_refused_saying(&[&format!("config file {path} is not valid"), "line 3"]);
    assert!(
        out.stdout.trim().is_empty(),
        "no config printed\n{}",
        out.both()
    );

    let out = booth.postbooth(&["doctor"]);
    let line = out.failed_check("config");
    assert!(line.contains(&path), "{}", out.both());
    assert!(line.contains("line 3"), "{}", out.both());
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let booth = Booth::new(&unreachable_graph_url(), &[]);
    booth.write_config(
        "[instagram]\nuser_id = \"17841400000000000\"\n\n[camera]\nkind = \"test-pattern\"\nkindd = \"dir\"\n",
    );
    let path = booth.config_path();
    for args in [&["print-config"][..], &["run"], &["doctor"]] {
        let out = booth.postbooth(args);
        assert!(!out.status.success(), "{args:?}\n{}", out.both());
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(
            text.contains("unknown key camera.kindd at line 6"),
            "{args:?}\n{}",
            out.both()
        );
        assert!(text.contains(&path), "{args:?}\n{}", out.both());
        // It says what the right keys are.
        assert!(text.contains("kind"), "{args:?}\n{}", out.both());
    }
    assert!(!booth.socket().exists(), "run must not have started");
}

#[test]
fn missing_user_id_fails_fast_and_says_what_to_set() {
    let booth = Booth::new(&unreachable_graph_url(), &[("instagram", "user_id", None)]);
    let out = booth.postbooth(&["run"]);
    out.assert_refused_saying(&["instagram.user_id is missing", &booth.config_path()]);
    assert!(!booth.socket().exists(), "run must not have started");
}

#[test]
fn run_without_a_config_file_says_so_once_and_what_to_do() {
    let booth = Booth::new(&unreachable_graph_url(), &[]);
    let missing = booth.dir.path().join("nowhere.toml");
    let mut cmd = postbooth_command();
    cmd.args(["--config", missing.to_str().unwrap(), "run"]);
    let out = run_to_end(cmd);
    out.assert_refused_saying(&[
        &format!("there is no config file at {}", missing.display()),
        "--config PATH",
        "config/example.toml",
    ]);
    // The cause once, not "No such file or directory (os error 2)" twice.
    assert_eq!(
        out.stderr.matches("config file").count(),
        1,
        "{}",
        out.both()
    );
    assert!(!out.stderr.contains("os error 2"), "{}", out.both());
}

// ---------------------------------------------------------------------------------------------
// 4: the token file

#[test]
fn world_readable_token_is_refused_with_the_chmod_to_run() {
    let booth = Booth::new(&unreachable_graph_url(), &[]);
    std::fs::set_permissions(&booth.token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let advice = format!("chmod 600 {}", booth.token.display());

    let out = booth.postbooth(&["run"]);
    out.assert_refused_saying(&[&advice, "can be read by other users"]);
    assert!(!booth.socket().exists(), "run must not have started");

    let out = booth.postbooth(&["doctor"]);
    let line = out.failed_check("token");
    assert!(line.contains(&advice), "{}", out.both());
}

// ---------------------------------------------------------------------------------------------
// 5: no network

#[test]
fn doctor_says_it_cannot_reach_an_unreachable_graph_url() {
    let url = unreachable_graph_url();
    let booth = Booth::new(&url, &[]);
    let out = booth.postbooth(&["doctor"]);
    let line = out.failed_check("network");
    assert!(
        line.contains(&format!("cannot reach {url}")),
        "{}",
        out.both()
    );
    // The other checks still ran and passed: only the network is wrong.
    for name in ["config", "store", "camera", "token"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(name)),
            "{name} should be ok\n{}",
            out.both()
        );
    }
}

#[test]
fn daemon_without_network_still_takes_and_keeps_photos() {
    let booth = Booth::new(&unreachable_graph_url(), &[]);
    let mut daemon = booth.start_daemon("daemon");
    let first = booth.shoot();
    let second = booth.shoot();
    assert_ne!(first, second);

    let jobs = wait_for("both jobs to have tried the network", || {
        let jobs = booth.list();
        let tried = jobs.len() == 2
            && jobs.iter().all(|j| {
                j["attempts"].as_u64().unwrap_or(0) >= 1
                    || j["error"].as_str().is_some_and(|e| e.contains("network"))
            });
        tried.then_some(jobs)
    });
    assert_eq!(ids(&jobs), [first.clone(), second.clone()]);
    for job in &jobs {
        assert_ne!(job["state"], "Done", "{job}");
        assert_ne!(
            job["state"], "Failed",
            "no network is not a reason to give up: {job}"
        );
        let error = job["error"].as_str().unwrap_or_default();
        assert!(error.contains("network"), "{job}");
    }
    // The photos are on disk.
    for id in [&first, &second] {
        assert!(booth
            .store
            .join("photos")
            .join(format!("{id}.jpg"))
            .is_file());
    }

    assert!(daemon.is_running(), "{}", daemon.log_text());
    let status = daemon.terminate();
    assert!(status.success(), "{status}\n{}", daemon.log_text());
    // Still there after the stop, read from the store directly.
    assert_eq!(ids(&booth.list()), [first, second]);
}

// ---------------------------------------------------------------------------------------------
// 6: a Wi-Fi login page in the way

#[tokio::test(flavor = "multi_thread")]
async fn doctor_recognises_a_captive_portal() {
    use postbooth::sim::{Fault, SimOptions, Simulator};
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let booth = Booth::new(&sim.base_url(), &[]);
    sim.inject(Fault::CaptivePortal, 1);
    let cmd = booth.command(&["doctor"]);
    let out = tokio::task::spawn_blocking(move || run_to_end(cmd))
        .await
        .unwrap();
    let line = out.failed_check("network");
    assert!(line.contains("login web page"), "{}", out.both());
    assert!(
        line.contains("log the booth in to the Wi-Fi"),
        "{}",
        out.both()
    );
    assert_eq!(
        sim.faults_injected().get("captive_portal"),
        Some(&1),
        "the doctor met the portal"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_gets_past_a_captive_portal_and_publishes_once() {
    use postbooth::sim::{Fault, SimOptions, Simulator};
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let booth = Booth::new(&sim.base_url(), &[]);
    let config = postbooth::demo::demo_config(
        &booth.store,
        &sim.base_url(),
        USER_ID,
        &booth.token,
        free_port(),
        true,
    );
    let daemon = postbooth::daemon::Daemon::start(config).await.unwrap();
    // The daemon's first Graph request gets a login page.
    sim.inject(Fault::CaptivePortal, 1);
    let job = daemon.shoot().await.unwrap();

    let deadline = tokio::time::Instant::now() + DEADLINE;
    let done = loop {
        let id = job.id;
        let now = daemon.store.blocking(move |s| s.get(id)).await.unwrap();
        if now.state.name() == "Done" {
            break now;
        }
        assert!(
            now.state.name() != "Failed" && tokio::time::Instant::now() < deadline,
            "job not Done: {now:?}; simulator calls {:?}",
            sim.calls()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sim.faults_injected().get("captive_portal"), Some(&1));
    let publishes = sim.publishes_by_image();
    assert_eq!(
        publishes.get(&done.blob.sha256),
        Some(&1),
        "published exactly once: {publishes:?}"
    );
    assert_eq!(publishes.values().sum::<u32>(), 1, "{publishes:?}");
    assert_eq!(sim.media().len(), 1);
    daemon.stop().await;
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 7: a full store

#[test]
fn full_store_refuses_new_photos_in_words_and_keeps_the_old_ones() {
    let booth = Booth::new(
        &unreachable_graph_url(),
        &[
            ("store", "max_blob_mib", Some("1")),
            // The test pattern compresses well (about 45 KB at the defaults); at full quality
            // and width a photo is about 100 KB, so 1 MiB is full after about ten.
            ("image", "width", Some("1440")),
            ("image", "quality", Some("100")),
        ],
    );
    let mut daemon = booth.start_daemon("daemon");
    let mut saved = Vec::new();
    let mut refused = None;
    for _ in 0..20 {
        let out = booth.postbooth(&["shoot"]);
        if out.status.success() {
            saved.push(out.stdout.trim().to_string());
        } else {
            refused = Some(out);
            break;
        }
    }
    let refused = refused.unwrap_or_else(|| {
        panic!(
            "20 photos of about 100 KB each all fitted in 1 MiB: {:?}",
            booth.list()
        )
    });
    assert!(!saved.is_empty(), "{}", refused.both());
    assert!(
        refused.stderr.contains("photo space full"),
        "{}",
        refused.both()
    );
    assert!(
        refused.stderr.contains("store.max_blob_mib"),
        "{}",
        refused.both()
    );
    assert!(refused.stdout.trim().is_empty(), "{}", refused.both());

    // Nothing saved was lost, and the daemon still answers.
    assert_eq!(ids(&booth.list()), saved);
    for id in &saved {
        assert!(booth
            .store
            .join("photos")
            .join(format!("{id}.jpg"))
            .is_file());
    }
    // A full store keeps refusing. The test pattern's size varies a little from shot to shot,
    // so a smaller photo may still fit in what is left: that one is saved like any other.
    let mut again = booth.postbooth(&["shoot"]);
    for _ in 0..10 {
        if !again.status.success() {
            break;
        }
        saved.push(again.stdout.trim().to_string());
        again = booth.postbooth(&["shoot"]);
    }
    assert!(
        !again.status.success() && again.stderr.contains("photo space full"),
        "{}",
        again.both()
    );
    assert!(daemon.is_running(), "{}", daemon.log_text());
    assert_eq!(ids(&booth.list()), saved);

    let status = daemon.terminate();
    assert!(status.success(), "{status}\n{}", daemon.log_text());
}

// ---------------------------------------------------------------------------------------------
// 8: a damaged queue database

fn small_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 128]));
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&img)
        .unwrap();
    bytes
}

#[test]
fn damaged_queue_is_moved_aside_and_rebuilt_from_the_photos() {
    let booth = Booth::new(&unreachable_graph_url(), &[]);
    let store_cfg = postbooth::config::StoreConfig {
        dir: booth.store.clone(),
        min_free_mib: 1,
        max_blob_mib: 0,
        delete_published: false,
        keep_done_days: 0,
    };
    let job = {
        let (store, _) = postbooth::store::Store::open(&store_cfg, "booth").unwrap();
        store
            .save_photo(&small_jpeg(), 64, 64, "before the damage".into())
            .unwrap()
    };
    let queue = booth.store.join("queue");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 13) as u8).collect();
    for file in ["conf", "db"] {
        assert!(queue.join(file).is_file(), "sled wrote {file}");
        std::fs::write(queue.join(file), &garbage).unwrap();
    }

    // Reading repairs nothing: `queue list` says what is wrong and what to do.
    let out = booth.postbooth(&["queue", "list", "--json"]);
    out.assert_refused_saying(&["damaged", "postbooth run"]);
    assert!(
        damaged_queues(&booth.store).is_empty(),
        "a read moved the queue"
    );
    // A command that changes the queue repairs it first, as the booth does when it starts.
    let out = booth.postbooth(&["queue", "retry", "--all-failed"]);
    assert!(out.status.success(), "{}", out.both());
    let jobs = booth.list();
    assert_eq!(ids(&jobs), [job.id.to_string()], "{jobs:?}");
    assert_eq!(jobs[0]["sha256"], job.blob.sha256.as_str());
    assert_eq!(jobs[0]["caption"], "before the damage");
    assert!(booth.store.join("photos").join(&job.blob.file).is_file());

    let damaged = damaged_queues(&booth.store);
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert!(damaged[0].is_dir());
    // Kept as it was, for a person to look at.
    assert_eq!(std::fs::read(damaged[0].join("db")).unwrap(), garbage);
    assert!(queue.is_dir(), "a new queue was made");

    // The rebuilt queue is durable: listing again finds the same job, no new repair.
    assert_eq!(ids(&booth.list()), [job.id.to_string()]);
    assert_eq!(damaged_queues(&booth.store).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 9: two daemons, one store

#[test]
fn second_daemon_on_the_same_store_is_refused_and_the_first_keeps_working() {
    let booth = Booth::new(&unreachable_graph_url(), &[]);
    let mut first = booth.start_daemon("first");
    let before = booth.shoot();

    let out = booth.postbooth(&["run"]);
    // The second run says another postbooth has the store.
    out.assert_refused_saying(&["another postbooth"]);
    assert!(
        out.stderr.contains("in use") || out.stderr.contains("already running"),
        "{}",
        out.both()
    );
    // Being locked out is not damage: the queue was not moved aside.
    let damaged = damaged_queues(&booth.store);
    assert!(damaged.is_empty(), "{damaged:?}");

    assert!(first.is_running(), "{}", first.log_text());
    assert!(booth.socket().exists());
    let after = booth.shoot();
    assert_eq!(ids(&booth.list()), [before, after]);

    let status = first.terminate();
    assert!(status.success(), "{status}\n{}", first.log_text());
}
