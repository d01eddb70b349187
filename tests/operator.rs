//! The operator's commands against the simulator over HTTP: `insights`, `comments
//! list|reply|hide|delete`, their rate-limit guard, and the idle screen's likes line.

use crate::helper::*;
use crate::policy::booth_with;
use postbooth::daemon::Daemon;
use postbooth::sim::{SimMetrics, SimOptions, Simulator};
use postbooth::ui;
use std::time::Duration;

/// Two photos posted by a booth that is then stopped; returns their media ids.
async fn posted_two(sim: &Simulator, s: &Booth) -> Vec<String> {
    let daemon = Daemon::start(s.config()).await.unwrap();
    daemon.shoot().await.unwrap();
    daemon.shoot().await.unwrap();
    eventually(Duration::from_secs(60), "both posted", || async {
        (sim.media().len() == 2).then_some(())
    })
    .await;
    all_done(&daemon, Duration::from_secs(30)).await;
    daemon.stop().await;
    sim.media().into_iter().map(|m| m.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_shows_the_day_and_the_booths_posts() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup(&sim.base_url());
    let media = posted_two(&sim, &s).await;
    sim.set_metrics(
        &media[0],
        SimMetrics {
            likes: 400,
            saved: 3,
            reach: 900,
            views: 1200,
        },
    );
    sim.set_metrics(
        &media[1],
        SimMetrics {
            likes: 12,
            saved: 1,
            reach: 100,
            views: 150,
        },
    );
    sim.comment_as(&media[1], None, "ann", "love it");

    let out = s.postbooth(&["insights", "--json"]);
    assert!(out.status.success(), "{}", out.both());
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["account_today"]["reach"], 1000);
    assert_eq!(v["account_today"]["views"], 1350);
    let posts = v["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 2);
    // Newest first.
    assert_eq!(posts[0]["media_id"], media[1].as_str());
    assert_eq!(posts[0]["likes"], 12);
    assert_eq!(posts[0]["comments"], 1);
    assert_eq!(posts[1]["likes"], 400);
    assert_eq!(posts[1]["saved"], 3);
    assert!(posts[1]["permalink"]
        .as_str()
        .unwrap()
        .starts_with("https://www.instagram.com/p/"));
    assert!(v.get("stopped_early").is_none());

    let out = s.postbooth(&["insights"]);
    assert!(out.status.success(), "{}", out.both());
    assert!(
        out.stdout.contains("Today: reach 1000, views 1350"),
        "{}",
        out.both()
    );
    assert!(out.stdout.contains(&media[0]), "{}", out.both());
    sim.shutdown().await;
}

/// Past half of Meta's budget, reading stops (and says so) rather than eat into publishing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_stop_early_when_the_budget_is_half_used() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup(&sim.base_url());
    posted_two(&sim, &s).await;
    sim.force_usage(Some(60));
    let before = sim.calls().get("media_insights").copied().unwrap_or(0);
    let out = s.postbooth(&["insights", "--json"]);
    assert!(out.status.success(), "{}", out.both());
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(v["posts"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["stopped_early"].as_str().unwrap().contains("60 %"), "{v}");
    assert_eq!(
        sim.calls().get("media_insights").copied().unwrap_or(0),
        before
    );
    sim.shutdown().await;
}

/// While the running booth is held by Meta's rate limits, the operator's commands make no
/// call at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_booth_refuses_operator_reads() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    sim.force_usage(Some(100));
    let s = setup(&sim.base_url());
    let daemon = Daemon::start(s.config()).await.unwrap();
    daemon.shoot().await.unwrap();
    let socket = s.socket();
    eventually(Duration::from_secs(30), "throttled", || async {
        let resp = postbooth::control::call(&socket, &postbooth::control::Request::List)
            .await
            .unwrap()
            .unwrap();
        resp.publishing?
            .waiting_because
            .filter(|w| w.contains("slow down"))
    })
    .await;
    let calls: u64 = sim.calls().values().sum();
    let out = s.postbooth(&["insights"]);
    assert!(!out.status.success(), "{}", out.both());
    assert!(out.stderr.contains("not now"), "{}", out.both());
    let out = s.postbooth(&["comments", "list", "18000000000000001"]);
    assert!(out.stderr.contains("not now"), "{}", out.both());
    assert_eq!(sim.calls().values().sum::<u64>(), calls);
    daemon.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_can_be_listed_replied_to_hidden_and_deleted() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup(&sim.base_url());
    let media = posted_two(&sim, &s).await;
    let nice = sim.comment_as(&media[0], None, "ann", "Great booth!");
    let spam = sim.comment_as(&media[0], None, "spammer", "buy followers");

    let out = s.postbooth(&["comments", "list", &media[0], "--json"]);
    assert!(out.status.success(), "{}", out.both());
    let listed: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["username"], "ann");
    assert_eq!(listed[0]["text"], "Great booth!");

    let out = s.postbooth(&["comments", "reply", &nice, "Thank you!"]);
    assert!(out.status.success(), "{}", out.both());
    let reply = sim
        .comments()
        .into_iter()
        .find(|c| c.parent_id.as_deref() == Some(nice.as_str()))
        .expect("a reply to ann");
    assert_eq!(reply.text, "Thank you!");

    let out = s.postbooth(&["comments", "hide", &spam]);
    assert!(out.status.success(), "{}", out.both());
    assert!(sim.comments().iter().any(|c| c.id == spam && c.hidden));
    let out = s.postbooth(&["comments", "list", &media[0]]);
    assert!(
        out.stdout.contains("@spammer (hidden): buy followers"),
        "{}",
        out.both()
    );

    let out = s.postbooth(&["comments", "delete", &spam]);
    assert!(out.status.success(), "{}", out.both());
    assert!(sim.comments().iter().all(|c| c.id != spam));
    let out = s.postbooth(&["comments", "delete", &spam]);
    assert!(
        !out.status.success(),
        "deleting twice is an error\n{}",
        out.both()
    );
    assert!(out.stderr.contains(&spam), "{}", out.both());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_screen_can_show_todays_likes() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = booth_with(&sim.base_url(), &[("insights", "idle_likes", Some("true"))]);
    let media = posted_two(&sim, &s).await;
    sim.set_metrics(
        &media[0],
        SimMetrics {
            likes: 400,
            ..SimMetrics::default()
        },
    );
    sim.set_metrics(
        &media[1],
        SimMetrics {
            likes: 12,
            ..SimMetrics::default()
        },
    );
    let daemon = Daemon::start(s.config()).await.unwrap();
    let mut status = daemon.status.clone();
    let bottom = eventually(Duration::from_secs(30), "likes line", || {
        let [_, bottom] = ui::lines(&status.borrow_and_update());
        async move { bottom.contains("likes").then_some(bottom) }
    })
    .await;
    assert_eq!(bottom, "412 likes today");
    daemon.stop().await;
    sim.shutdown().await;
}
