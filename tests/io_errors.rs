//! EIO from the disk, injected through the power-cut filesystem with the power on: a write or
//! an fsync that fails while saving a photo means the photo is not acknowledged, the daemon
//! stays up and the next shot works; one that fails while publishing is retried and the photo
//! is still posted exactly once.

use crate::helper::{answers, assert_published_once, eventually, DEADLINE};
use crate::powercut::{self, FaultRule, Op, PowerCutBooth};
use postbooth::control::{self, Request};
use std::collections::BTreeMap;
use std::path::Path;

async fn shoot(socket: &Path) -> Result<postbooth::job::Job, String> {
    match control::call(socket, &Request::Shoot).await {
        Ok(Some(resp)) if resp.ok => Ok(resp.jobs.into_iter().next().unwrap()),
        Ok(Some(resp)) => Err(resp.error.unwrap_or_default()),
        other => Err(format!("no answer: {other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eio_on_write_or_fsync_is_not_acknowledged_and_the_next_shot_works() {
    if powercut::skip("eio_on_write_or_fsync_is_not_acknowledged_and_the_next_shot_works") {
        return;
    }
    let setup = PowerCutBooth::start(
        "postbooth-eio-",
        &[("instagram", "caption", Some("\"eio #{n} {time}\""))],
    )
    .await;
    let (booth, pc, sim) = (&setup.booth, &setup.pc, &setup.sim);
    let mut daemon = booth.start_daemon("daemon");
    let socket = booth.socket();
    let mut acked = BTreeMap::new();
    let first = shoot(&socket).await.expect("a shot with a healthy disk");
    acked.insert(first.id, first.blob.sha256.clone());

    // Each fault fails the next shot; once the disk is healthy again the next shot works.
    let faults = [
        (Op::Write, "*/photos/*.jpg.tmp"),
        (Op::Fsync, "*/photos/*.jpg.tmp"),
        (Op::Fsyncdir, "*/photos"),
        (Op::Write, "*/photos/*.json.tmp"),
        (Op::Fsync, "*/photos/*.json.tmp"),
        (Op::Fsync, "*/queue/db"),
    ];
    let mut refused = 0;
    for (op, pattern) in faults {
        // The queue idle first, so the fault hits the shot and not a publish in progress.
        all_done(&socket, &acked).await;
        pc.clear_faults();
        // Failing until cleared: sled's own flusher thread may take the first one.
        pc.inject(FaultRule::new(op, pattern, 1, u64::MAX / 2, libc::EIO));
        let injected_before = pc.errors_injected();
        match shoot(&socket).await {
            Err(e) => {
                refused += 1;
                assert!(
                    pc.errors_injected() > injected_before,
                    "{op:?} {pattern}: refused without an injected error: {e}"
                );
            }
            Ok(job) => panic!(
                "{op:?} {pattern}: acknowledged {} despite EIO ({} errors injected before, {} now)\n{}",
                job.id,
                injected_before,
                pc.errors_injected(),
                daemon.log_text()
            ),
        }
        pc.clear_faults();
        assert!(
            daemon.is_running() && answers(&socket).await,
            "daemon down after EIO on {op:?} {pattern}:\n{}",
            daemon.log_text()
        );
        let next = shoot(&socket)
            .await
            .unwrap_or_else(|e| panic!("the shot after EIO on {op:?} {pattern} failed: {e}"));
        acked.insert(next.id, next.blob.sha256.clone());
    }

    // EIO while publishing: the sidecar written on entering PublishIntent fails twice (the
    // shot's own sidecar is the 1st fsync of a sidecar, so the queue must be idle first).
    all_done(&socket, &acked).await;
    pc.clear_faults();
    pc.inject(FaultRule::new(
        Op::Fsync,
        "*/photos/*.json.tmp",
        2,
        2,
        libc::EIO,
    ));
    let job = shoot(&socket).await.expect("shot before the publish fault");
    acked.insert(job.id, job.blob.sha256.clone());
    let jobs = all_done(&socket, &acked).await;
    assert!(pc.errors_injected() >= 8, "the publish fault did not fire");
    let publishes = sim.publishes_by_image();
    assert_published_once(&publishes, &acked, "EIO test");
    println!(
        "EIO test: {refused} shots refused on EIO (write/fsync of photo, sidecar, directory and \
         queue), the next shot worked each time; {} photos acknowledged, {} jobs, {} injected \
         errors; each acknowledged photo published once",
        acked.len(),
        jobs.len(),
        pc.errors_injected()
    );
    daemon.terminate();
    setup.sim.shutdown().await;
}

async fn all_done(socket: &Path, acked: &BTreeMap<uuid::Uuid, String>) -> Vec<postbooth::job::Job> {
    eventually(DEADLINE, "every acknowledged photo published", || async {
        let jobs = control::call(socket, &Request::List)
            .await
            .ok()
            .flatten()?
            .jobs;
        let done = acked
            .keys()
            .all(|id| jobs.iter().any(|j| j.id == *id && j.state.name() == "Done"));
        let idle = jobs.iter().all(|j| !j.state.is_pending());
        (done && idle).then_some(jobs)
    })
    .await
}
