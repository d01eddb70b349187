//! Two processes, one store (issue 18): queue commands and `doctor` run by operators and
//! monitoring scripts while the booth starts, restarts and is killed. The store lock makes
//! them take turns: a starting booth waits for a short-lived command, a command waits for a
//! starting booth, and no clean-up deletes a file another process is writing.
//!
//! `POSTBOOTH_LOCK_CYCLES` sets the number of daemon starts (CI: 100).

use crate::helper::{
    answers, assert_published_once, env_number, eventually, in_background, setup, Booth, QueueRacer,
};
use postbooth::control::{self, Request};
use postbooth::sim::{SimOptions, Simulator};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_commands_racing_restarts_never_stop_the_booth_from_starting() {
    let cycles: usize = env_number("POSTBOOTH_LOCK_CYCLES", 100);
    let seed: u64 = env_number("POSTBOOTH_LOCK_SEED", 20261206);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let sim = Simulator::start(SimOptions {
        quota_total: 100_000,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let s = setup(&sim.base_url());
    let socket = s.socket();
    // A `queue list --json` loop, with a `doctor` every 10th run, for the whole test.
    let racer = QueueRacer::start(&s.config, 10);

    let mut acknowledged: BTreeMap<uuid::Uuid, String> = BTreeMap::new();
    let mut exits_at_start = Vec::new();
    for cycle in 0..cycles {
        let mut daemon = s.spawn_daemon("daemon", &[]);
        let up = crate::helper::comes_up(&mut daemon, &socket, Duration::from_secs(60)).await;
        if !up {
            let log = daemon.log_text();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            exits_at_start.push(format!("cycle {cycle}: {tail:?}"));
            daemon.kill9();
            continue;
        }
        if rng.gen_bool(0.5) {
            if let Ok(Ok(Some(resp))) = tokio::time::timeout(
                Duration::from_secs(20),
                control::call(&socket, &Request::Shoot),
            )
            .await
            {
                if resp.ok {
                    let job = &resp.jobs[0];
                    acknowledged.insert(job.id, job.blob.sha256.clone());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..300))).await;
        daemon.kill9();
    }
    assert!(
        exits_at_start.is_empty(),
        "{} of {cycles} starts did not come up:\n{}",
        exits_at_start.len(),
        exits_at_start.join("\n")
    );

    // A last run, with the racer still going, publishes every acknowledged photo once.
    let daemon = s.spawn_daemon("daemon", &[]);
    eventually(Duration::from_secs(60), "daemon up", || async {
        answers(&socket).await.then_some(())
    })
    .await;
    let jobs = eventually(Duration::from_secs(180), "every job Done", || async {
        let jobs = control::call(&socket, &Request::List)
            .await
            .ok()
            .flatten()?
            .jobs;
        jobs.iter()
            .all(|j| j.state.name() == "Done")
            .then_some(jobs)
    })
    .await;
    let count = racer.finish();
    for id in acknowledged.keys() {
        assert!(
            jobs.iter().any(|j| j.id == *id),
            "acknowledged job {id} lost"
        );
    }
    assert_published_once(
        &sim.publishes_by_image(),
        &acknowledged,
        &format!("seed {seed}"),
    );
    assert!(
        count.failed.is_empty(),
        "{} of {} queue list runs failed; the first:\n{}",
        count.failed.len(),
        count.lists,
        count.failed[0]
    );
    assert!(
        count.lists > cycles,
        "the racer ran only {} times",
        count.lists
    );
    println!(
        "two processes: {cycles} daemon starts (seed {seed}) beside {} queue lists and {} doctors: \
         0 exits at start, 0 failed commands; {} photos acknowledged, all published once",
        count.lists - count.doctors,
        count.doctors,
        acknowledged.len()
    );
    drop(daemon);
    sim.shutdown().await;
}

/// While one process holds the store, the files it may be writing (a sled snapshot being
/// generated, a photo's temp file) are left alone by every other process: a read, a repair
/// command, `doctor` and a starting daemon all wait instead. Once the holder lets go, the
/// daemon comes up, and only then clears what the holder left.
#[test]
fn files_in_use_by_the_holder_are_never_deleted() {
    let s = setup("http://127.0.0.1:9");
    // The first process: this test, holding the store as a daemon would.
    let config = s.config();
    let (store, _) = postbooth::store::Store::open(&config.store, "x").unwrap();
    let snapshot = s
        .store
        .join("queue")
        .join("snap.00000000000FFFF.generating");
    let temp = s
        .store
        .join("photos")
        .join("0190f2c4-0000-7000-8000-000000000000.jpg.tmp");
    std::fs::write(&snapshot, b"half a snapshot").unwrap();
    std::fs::write(&temp, b"half a photo").unwrap();

    let list = in_background(s.command(&["queue", "list", "--json"]));
    let retry = in_background(s.command(&["queue", "retry", "--all-failed"]));
    let doctor = in_background(s.command(&["doctor"]));
    let mut daemon = s.spawn_daemon("daemon", &[]);
    // Each of them is now trying the lock; give them time to do damage if they could.
    crate::helper::wait_for("the daemon to say it waits", || {
        daemon
            .log_text()
            .contains("held by another postbooth process")
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(snapshot.exists(), "a snapshot being written was deleted");
    assert!(temp.exists(), "a photo being written was deleted");
    assert!(daemon.is_running(), "{}", daemon.log_text());
    let doctor = doctor.join().unwrap();
    assert!(
        doctor.stdout.contains("in use by postbooth process")
            && doctor.stdout.contains(&std::process::id().to_string()),
        "doctor should name the holder:\n{}",
        doctor.both()
    );
    assert!(snapshot.exists() && temp.exists());

    drop(store);
    // The daemon takes the store, clears the holder's leftovers and answers; the commands
    // that waited are answered too.
    crate::helper::wait_for("the daemon's control socket", || {
        std::os::unix::net::UnixStream::connect(s.socket())
            .ok()
            .map(|_| ())
    });
    let list = list.join().unwrap();
    assert!(list.status.success(), "{}", list.both());
    let retry = retry.join().unwrap();
    assert!(retry.status.success(), "{}", retry.both());
    assert!(
        !snapshot.exists() && !temp.exists(),
        "leftovers cleared by the new holder"
    );
    assert!(daemon.is_running());
}

/// A cause is said once, with the file it is about.
#[test]
fn a_store_that_cannot_be_made_says_why_once_and_where() {
    let s = setup("http://127.0.0.1:9");
    let blocker = s.dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let store_dir = blocker.join("store");
    let booth = Booth::new(
        "http://127.0.0.1:9",
        &[(
            "store",
            "dir",
            Some(&crate::helper::quoted(&store_dir.display().to_string())),
        )],
    );
    let out = booth.postbooth(&["run"]);
    assert!(!out.status.success());
    assert_eq!(
        out.stderr.matches("os error").count(),
        1,
        "the cause twice:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&store_dir.display().to_string()),
        "{}",
        out.stderr
    );
}

/// `queue list` on a booth that never ran: an empty list, and no store made behind its back.
#[test]
fn listing_a_store_that_does_not_exist_yet_is_empty_and_creates_nothing() {
    let s = setup("http://127.0.0.1:9");
    assert!(s.list().is_empty());
    assert!(!s.store.exists(), "queue list created the store");
}
