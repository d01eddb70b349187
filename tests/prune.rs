//! Pruning `Done` jobs by age with the real daemon: a pruned photo is never posted again, not
//! after a restart and not after the daemon is killed between any two steps of the prune
//! (fail points `prune.photos-moved`, `prune.sidecars-moved`).

use crate::helper::{answers, setup_with, Booth, Daemon};
use postbooth::failpoint;
use postbooth::job::JobState;
use postbooth::sim::{SimOptions, Simulator};
use postbooth::store::{prune::DAY_MS, Store};
use std::time::{Duration, Instant};

/// Starts the daemon and waits until it answers (a stale socket file may still be there).
async fn up(s: &Booth) -> Daemon {
    let mut daemon = s.spawn_daemon("daemon", &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers(&s.socket()).await {
        assert!(daemon.is_running(), "daemon exited:\n{}", daemon.log_text());
        assert!(
            Instant::now() < deadline,
            "daemon not up:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon
}

/// Waits until every listed job is Done; returns `queue list --json`.
async fn all_done(s: &Booth, daemon: &Daemon) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = s.list();
        if jobs.iter().all(|j| j["state"] == "Done") {
            return jobs;
        }
        assert!(
            Instant::now() < deadline,
            "not all Done: {jobs:?}\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn files_of(dir: &std::path::Path, id: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(id))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_photo_is_never_posted_again_even_when_killed_mid_prune() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let kills = std::iter::once(None).chain(failpoint::PRUNE.iter().copied().map(Some));
    for kill in kills {
        let what = kill.unwrap_or("no kill");
        let s = setup_with(&sim.base_url(), &[("store", "keep_done_days", "1")]);
        let store_cfg = s.config().store;

        // Two photos posted and done.
        let mut daemon = up(&s).await;
        let (old, young) = (s.shoot(), s.shoot());
        all_done(&s, &daemon).await;
        daemon.terminate();

        // `old` was done two days ago (past keep_done_days = 1), `young` just now.
        let old_sha = {
            let (store, _) = Store::open(&store_cfg, "x").unwrap();
            let mut job = store.get(old.parse().unwrap()).unwrap();
            let JobState::Done {
                published_at_ms,
                done_at_ms,
                ..
            } = &mut job.state
            else {
                panic!("{what}: not done: {job:?}")
            };
            *published_at_ms -= 2 * DAY_MS;
            *done_at_ms -= 2 * DAY_MS;
            store.update(&job).unwrap();
            job.blob.sha256
        };

        if let Some(point) = kill {
            // The daemon prunes at start and is killed at the fail point.
            let mut daemon = s.spawn_daemon("daemon", &[("POSTBOOTH_FAILPOINT", point)]);
            let status = daemon
                .wait_timeout(Duration::from_secs(30))
                .unwrap_or_else(|| panic!("{what}: never reached:\n{}", daemon.log_text()));
            assert!(!status.success(), "{what}: {status}");
            assert!(
                daemon
                    .log_text()
                    .contains(&format!("fail point {point} reached")),
                "{what}:\n{}",
                daemon.log_text()
            );
            // What a restart finds: the record still there, nothing adopted.
            let (store, report) = Store::open(&store_cfg, "x").unwrap();
            assert!(
                report.adopted.is_empty() && report.missing.is_empty(),
                "{what}: {report:?}"
            );
            assert_eq!(
                store.get(old.parse().unwrap()).unwrap().state.name(),
                "Done",
                "{what}"
            );
        }

        // Restart (the prune completes), post a third photo; restart again, post a fourth.
        // The publisher goes oldest first, so a re-adopted `old` would be posted before these.
        let mut later = Vec::new();
        for _ in 0..2 {
            let mut daemon = up(&s).await;
            later.push(s.shoot());
            all_done(&s, &daemon).await;
            daemon.terminate();
        }

        assert_eq!(
            sim.publishes_by_image().get(&old_sha),
            Some(&1),
            "{what}: the pruned photo was posted once, never again"
        );
        let listed: Vec<String> = s
            .list()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            listed,
            vec![young.clone(), later[0].clone(), later[1].clone()],
            "{what}"
        );
        let photos = s.store.join("photos");
        let archive = s.store.join("archive");
        assert!(files_of(&photos, &old).is_empty(), "{what}");
        assert_eq!(
            files_of(&archive, &old),
            vec![format!("{old}.jpg"), format!("{old}.json")],
            "{what}"
        );
        let archived = std::fs::read(archive.join(format!("{old}.jpg"))).unwrap();
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&archived)),
            old_sha,
            "{what}: the archived photo is intact"
        );
    }
    let publishes = sim.publishes_by_image();
    assert_eq!(publishes.len(), 3 * 4, "every photo posted: {publishes:?}");
    assert!(
        publishes.values().all(|&n| n == 1),
        "nothing posted twice: {publishes:?}"
    );
    sim.shutdown().await;
}
