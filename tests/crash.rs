//! SIGKILL and fail points: the real binary is stopped at every state transition (and at
//! random moments), restarted, and in the end every acknowledged photo is published exactly
//! once. The simulator lives in the test process, so it survives every kill and counts.
//!
//! `POSTBOOTH_CRASH_CYCLES` sets the number of cycles (CI: 200).

use crate::helper::{answers, assert_published_once, env_number, eventually, setup_with};
use postbooth::control::{self, Request};
use postbooth::failpoint;
use postbooth::sim::{Fault, FaultPlan, SimOptions, Simulator};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_every_transition_loses_nothing_and_posts_nothing_twice() {
    let cycles: usize = env_number("POSTBOOTH_CRASH_CYCLES", 200);
    let seed: u64 = env_number("POSTBOOTH_CRASH_SEED", 20261127);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Lost publish answers and broken connections on top of the kills.
    let faults = FaultPlan {
        probability: 0.1,
        kinds: vec![
            Fault::PublishResponseLost,
            Fault::ResetMidResponse,
            Fault::ServerError,
        ],
        seed,
        slow_delay: Duration::from_millis(1500),
    };
    // A quota far above what the cycles post: this test is about crashes, not the quota.
    let sim = Simulator::start(SimOptions {
        faults,
        quota_total: 100_000,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    // Every post also gets a first comment, so kills around the comment are walked too.
    let s = setup_with(
        &sim.base_url(),
        &[("instagram", "first_comment", "\"#booth {n}\"")],
    );
    let socket = s.socket();
    // `queue list` (and `doctor`) all the time beside the restarts: none may fail, and no
    // daemon may exit at start because of them (issue 18).
    let racer = crate::helper::QueueRacer::start(&s.config, 10);

    // Job id -> sha256 of every photo the booth acknowledged as saved.
    let mut acknowledged: BTreeMap<uuid::Uuid, String> = BTreeMap::new();
    let (mut aborted_at_failpoint, mut killed) = (0, 0);
    for cycle in 0..cycles {
        // Walk the fail points in turn (at their 1st..3rd pass), with a plain random kill
        // every so often.
        let slot = cycle % (failpoint::ALL.len() + 1);
        let spec = failpoint::ALL
            .get(slot)
            .map(|name| format!("{name}:{}", rng.gen_range(1..=3)));
        // A "publish committed, answer lost" right before a kill at the publish fail points.
        if spec.as_deref().is_some_and(|s| s.starts_with("publish.")) && rng.gen_bool(0.5) {
            sim.inject(Fault::PublishResponseLost, 1);
        }
        let env: Vec<(&str, &str)> = spec
            .iter()
            .map(|s| ("POSTBOOTH_FAILPOINT", s.as_str()))
            .collect();
        let mut daemon = s.spawn_daemon("daemon", &env);
        let up = crate::helper::comes_up(&mut daemon, &socket, Duration::from_secs(30)).await;
        if up {
            for _ in 0..rng.gen_range(0..=2) {
                match tokio::time::timeout(
                    Duration::from_secs(20),
                    control::call(&socket, &Request::Shoot),
                )
                .await
                {
                    Ok(Ok(Some(resp))) if resp.ok => {
                        let job = &resp.jobs[0];
                        acknowledged.insert(job.id, job.blob.sha256.clone());
                    }
                    _ => break, // killed mid-shot: not acknowledged, but may still be posted
                }
            }
            let linger = Duration::from_millis(rng.gen_range(0..400));
            tokio::time::sleep(linger).await;
        }
        match daemon.child.try_wait().unwrap() {
            Some(status) => {
                // Only a fail point may stop it (abort: SIGABRT); an exit with an error,
                // at start or later, is a booth that stopped by itself.
                use std::os::unix::process::ExitStatusExt;
                assert!(
                    spec.is_some() && status.signal() == Some(libc::SIGABRT),
                    "cycle {cycle}: exited {status:?} (fail point {spec:?})\n{}",
                    daemon.log_text()
                );
                aborted_at_failpoint += 1;
            }
            None => {
                daemon.kill9();
                killed += 1;
            }
        }
    }

    // A clean run publishes whatever is left.
    let daemon = s.spawn_daemon("daemon", &[]);
    eventually(Duration::from_secs(30), "daemon up", || async {
        answers(&socket).await.then_some(())
    })
    .await;
    sim.set_faults(FaultPlan::none());
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let jobs = loop {
        let jobs = control::call(&socket, &Request::List)
            .await
            .ok()
            .flatten()
            .map(|r| r.jobs)
            .unwrap_or_default();
        let settled = !jobs.is_empty() && jobs.iter().all(|j| !j.state.is_pending());
        if settled || std::time::Instant::now() > deadline {
            break jobs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let not_done: Vec<String> = jobs
        .iter()
        .filter(|j| j.state.name() != "Done")
        .map(|j| {
            format!(
                "{} {:?} attempts={} last_error={:?}",
                j.id, j.state, j.attempts, j.last_error
            )
        })
        .collect();
    assert!(
        not_done.is_empty(),
        "jobs not posted:\n{}\nlog tail:\n{}",
        not_done.join("\n"),
        {
            let log = daemon.log_text();
            log.lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        }
    );
    let raced = racer.finish();
    assert!(
        raced.failed.is_empty(),
        "{} of {} queue list runs failed beside the restarts; the first:\n{}",
        raced.failed.len(),
        raced.lists,
        raced.failed[0]
    );
    let publishes = sim.publishes_by_image();
    for id in acknowledged.keys() {
        assert!(
            jobs.iter().any(|j| j.id == *id),
            "acknowledged job {id} lost"
        );
    }
    assert_published_once(&publishes, &acknowledged, &format!("seed {seed}"));
    // One first comment under each post: never none, never two.
    let comments = sim.comments();
    for job in &jobs {
        let media_id = job.state.media_id().expect("Done jobs have media");
        let n = comments.iter().filter(|c| c.media_id == media_id).count();
        assert_eq!(
            n, 1,
            "job {} has {n} first comments: {:?} {:?}",
            job.id, job.first_comment, job.last_error
        );
    }
    let unacknowledged_posted = jobs.len() - acknowledged.len();
    println!(
        "crash test: {cycles} cycles (seed {seed}), {aborted_at_failpoint} stopped at a fail point, {killed} SIGKILLed; \
         {} photos acknowledged, {unacknowledged_posted} more saved mid-kill and adopted; {} published, 0 lost, 0 duplicates, {} first comments (one per post); \
         {} queue commands raced the restarts, 0 failed",
        acknowledged.len(),
        publishes.len(),
        comments.len(),
        raced.lists
    );
    sim.shutdown().await;
}
