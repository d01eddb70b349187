//! The daemon in-process against the simulator with every fault kind: every saved photo is
//! published exactly once, none lost.

use crate::helper::{all_done, eventually, setup};
use postbooth::daemon::Daemon;
use postbooth::sim::{Fault, FaultPlan, SimOptions, Simulator};
use postbooth::ui::Screen;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_kind_and_still_every_photo_posted_exactly_once() {
    let mut faults = FaultPlan::all(0.3, 11);
    // Longer than the client's 1 s timeout: a slow answer is a lost answer.
    faults.slow_delay = Duration::from_millis(1500);
    let sim = Simulator::start(SimOptions {
        faults,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    // Scripted too, so every kind certainly happens at least once.
    for fault in Fault::ALL {
        sim.inject(fault, 1);
    }
    let s = setup(&sim.base_url());
    let daemon = Daemon::start(s.config()).await.unwrap();
    let mut saved = Vec::new();
    for _ in 0..8 {
        saved.push(daemon.shoot().await.unwrap());
    }
    let jobs = all_done(&daemon, Duration::from_secs(240)).await;
    daemon.stop().await;

    let injected = sim.faults_injected();
    for fault in Fault::ALL {
        assert!(
            injected.get(fault.name()).copied().unwrap_or(0) >= 1,
            "{} never happened: {injected:?}",
            fault.name()
        );
    }
    let publishes = sim.publishes_by_image();
    assert_eq!(jobs.len(), saved.len(), "nothing lost, nothing invented");
    for job in &saved {
        assert_eq!(
            publishes.get(&job.blob.sha256),
            Some(&1),
            "job {} published exactly once",
            job.id
        );
    }
    assert!(
        publishes.values().all(|&n| n == 1),
        "no image published twice: {publishes:?}"
    );
    let media_ids: std::collections::HashSet<_> =
        jobs.iter().filter_map(|j| j.state.media_id()).collect();
    assert_eq!(media_ids.len(), jobs.len(), "each job has its own media");
    println!("faults injected: {injected:?}; calls: {:?}", sim.calls());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_pauses_publishing_keeps_capturing_and_resumes() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    sim.set_token("a-new-token-the-booth-does-not-have");
    let s = setup(&sim.base_url());
    let daemon = Daemon::start(s.config()).await.unwrap();
    let first = daemon.shoot().await.unwrap();
    let mut status = daemon.status.clone();
    eventually(Duration::from_secs(30), "login-needed screen", || {
        let seen = status.borrow_and_update().screen.clone();
        async move { (seen == Screen::LoginNeeded).then_some(()) }
    })
    .await;
    // Capture goes on while publishing is paused.
    let second = daemon.shoot().await.unwrap();
    assert!(sim.publishes_by_image().is_empty());
    // The operator fixes the token: Instagram accepts the booth's token again.
    sim.set_token("sim-token");
    daemon.wake_publisher();
    all_done(&daemon, Duration::from_secs(60)).await;
    daemon.stop().await;
    let publishes = sim.publishes_by_image();
    assert_eq!(publishes.get(&first.blob.sha256), Some(&1));
    assert_eq!(publishes.get(&second.blob.sha256), Some(&1));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_container_is_replaced_not_published() {
    // Containers never finish on their own here: they expire first.
    let sim = Simulator::start(SimOptions {
        polls_until_finished: 1_000_000,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let s = setup(&sim.base_url());
    let daemon = Daemon::start(s.config()).await.unwrap();
    let job = daemon.shoot().await.unwrap();
    let store = daemon.store.clone();
    eventually(Duration::from_secs(30), "container created", || {
        let store = store.clone();
        async move {
            (store
                .blocking(move |s| s.get(job.id))
                .await
                .unwrap()
                .state
                .name()
                == "ContainerCreated")
                .then_some(())
        }
    })
    .await;
    sim.expire_all_containers();
    eventually(Duration::from_secs(30), "a second container", || async {
        (sim.calls().get("create_container").copied().unwrap_or(0) >= 2).then_some(())
    })
    .await;
    daemon.stop().await;
    assert!(sim.publishes_by_image().is_empty());
    sim.shutdown().await;
}
