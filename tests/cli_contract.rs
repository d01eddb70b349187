//! The contract outside checks rely on: `run` + `shoot` + `queue list --json` against any
//! Graph-API-compatible server on loopback.

use crate::helper::{answers, eventually, setup};
use postbooth::sim::{SimOptions, Simulator};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_shoot_and_queue_list_report_done_with_media_id() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup(&sim.base_url());
    let mut daemon = s.spawn_daemon("daemon", &[]);
    let socket = s.socket();
    eventually(Duration::from_secs(30), "daemon socket", || async {
        answers(&socket).await.then_some(())
    })
    .await;

    let mut ids = Vec::new();
    for _ in 0..3 {
        let shot = s.postbooth(&["shoot"]);
        let (ok, out, err) = (shot.status.success(), shot.stdout, shot.stderr);
        assert!(ok, "shoot failed: {err}");
        ids.push(out.trim().to_string());
        uuid::Uuid::parse_str(out.trim()).expect("shoot prints the job id");
    }
    let lines = eventually(Duration::from_secs(60), "all Done", || async {
        let list = s.postbooth(&["queue", "list", "--json"]);
        let (ok, out) = (list.status.success(), list.stdout);
        let jobs: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (ok && jobs.len() == 3 && jobs.iter().all(|j| j["state"] == "Done")).then_some(jobs)
    })
    .await;
    for job in &lines {
        for key in ["id", "state", "attempts", "media_id", "permalink", "error"] {
            assert!(job.get(key).is_some(), "queue list --json has {key}: {job}");
        }
        assert!(ids.contains(&job["id"].as_str().unwrap().to_string()));
        let media_id = job["media_id"].as_str().unwrap();
        assert!(
            sim.media().iter().any(|m| m.id == media_id),
            "media id comes from Instagram"
        );
    }
    assert!(sim.publishes_by_image().values().all(|&n| n == 1));
    assert_eq!(sim.publishes_by_image().len(), 3);

    // SIGTERM: a clean stop, exit 0, within a few seconds.
    daemon.signal(libc::SIGTERM);
    let status = daemon
        .wait_timeout(Duration::from_secs(10))
        .expect("stops after SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        daemon.log_text()
    );
    // With the daemon stopped, the queue is read from the store directly.
    let list = s.postbooth(&["queue", "list", "--json"]);
    let (ok, out, err) = (list.status.success(), list.stdout, list.stderr);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3);
    sim.shutdown().await;
}
