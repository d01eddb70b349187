//! Posts beyond one photo, against the simulator over HTTP: carousels (one press, N shots,
//! one post), the first comment, Stories and Reels. Crash tests stop the real binary at the
//! new fail points and check that nothing is posted twice and nothing is left behind.

use crate::helper::{all_done, answers, eventually, setup_with, Booth};
use postbooth::control::{self, Request};
use postbooth::daemon::Daemon;
use postbooth::job::{CommentState, Job, PostKind};
use postbooth::sim::{SimOptions, Simulator};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(120);

fn carousel_booth(sim: &Simulator, shots: &str, extra: &[(&str, &str, &str)]) -> Booth {
    let mut keys = vec![
        ("instagram", "carousel_shots", shots),
        ("instagram", "carousel_countdown_ms", "20"),
    ];
    keys.extend_from_slice(extra);
    setup_with(&sim.base_url(), &keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_press_makes_one_carousel_of_same_size_photos_posted_once() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = carousel_booth(&sim, "3", &[]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    let job = daemon.shoot().await.unwrap();
    let PostKind::Carousel { items } = &job.kind else {
        panic!("carousel mode saved a {:?}", job.kind)
    };
    assert_eq!(items.len(), 3);
    let jobs = all_done(&daemon, SETTLE).await;
    daemon.stop().await;

    assert_eq!(jobs.len(), 1, "one press, one job");
    let media = sim.media();
    assert_eq!(media.len(), 1, "one post: {media:?}");
    let post = &media[0];
    assert_eq!(post.media_type, "CAROUSEL_ALBUM");
    assert_eq!(post.caption, job.caption, "the caption is on the parent");
    let shas: Vec<&str> = items.iter().map(|i| i.blob.sha256.as_str()).collect();
    let posted: Vec<&str> = post.images.iter().map(|i| i.sha256.as_str()).collect();
    assert_eq!(posted, shas, "every shot, in order");
    let first = (post.images[0].width, post.images[0].height);
    assert!(
        post.images.iter().all(|i| (i.width, i.height) == first),
        "all the same size: {:?}",
        post.images
    );
    for sha in shas {
        assert_eq!(sim.publishes_by_image().get(sha), Some(&1));
    }
    // Three children and one parent: no container made twice.
    assert_eq!(sim.calls().get("create_container"), Some(&4));
    assert_eq!(sim.calls().get("media_publish"), Some(&1));
    sim.shutdown().await;
}

/// Starts `postbooth run` with a fail point, takes one carousel (or photo) through the control
/// socket, and waits for the process to abort at the fail point.
async fn shoot_until_abort(s: &Booth, failpoint: &str) {
    let mut daemon = s.spawn_daemon("daemon", &[("POSTBOOTH_FAILPOINT", failpoint)]);
    let socket = s.socket();
    eventually(Duration::from_secs(30), "daemon up", || async {
        answers(&socket).await.then_some(())
    })
    .await;
    let resp = control::call(&socket, &Request::Shoot)
        .await
        .unwrap()
        .unwrap();
    assert!(resp.ok, "{:?}", resp.error);
    let status = daemon.wait_timeout(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| !s.success()),
        "postbooth did not stop at {failpoint}: {status:?}\n{}",
        daemon.log_text()
    );
}

/// Runs a clean daemon until every job is Done, then stops it.
async fn finish_cleanly(s: &Booth) -> Vec<Job> {
    let mut daemon = s.spawn_daemon("daemon", &[]);
    let socket = s.socket();
    let jobs = eventually(SETTLE, "every job Done after a restart", || async {
        let jobs = control::call(&socket, &Request::List)
            .await
            .ok()
            .flatten()?
            .jobs;
        (!jobs.is_empty() && jobs.iter().all(|j| j.state.name() == "Done")).then_some(jobs)
    })
    .await;
    daemon.terminate();
    jobs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carousel_killed_after_some_children_exist_reuses_them_and_posts_once() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = carousel_booth(&sim, "3", &[]);
    // Killed right after the second child's container id is durable: both are reused.
    shoot_until_abort(&s, "carousel.child-persisted:2").await;
    assert_eq!(sim.calls().get("create_container"), Some(&2));
    let jobs = finish_cleanly(&s).await;
    assert_eq!(
        sim.calls().get("create_container"),
        Some(&4),
        "one more child and the parent; the two children made before the kill are reused"
    );
    check_carousels_posted_once(&sim, &jobs);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carousel_killed_at_every_step_is_posted_exactly_once() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = carousel_booth(&sim, "2", &[]);
    let points = [
        "carousel.child-created-before-persist:2",
        "carousel.child-persisted:1",
        "container.created-before-persist",
        "container.finished-before-persist",
        "publish.intent-persisted",
        "publish.response-received",
        "publish.published-persisted",
        "finish.before-persist",
    ];
    for point in points {
        shoot_until_abort(&s, point).await;
        finish_cleanly(&s).await;
    }
    let jobs = finish_cleanly(&s).await;
    assert_eq!(jobs.len(), points.len());
    check_carousels_posted_once(&sim, &jobs);
    // Each carousel: 2 children + 1 parent, plus at most one orphan made just before a kill.
    let containers = sim.calls().get("create_container").copied().unwrap_or(0);
    assert!(
        containers as usize <= points.len() * 3 + 2,
        "{containers} containers for {} carousels",
        points.len()
    );
    println!(
        "carousel crash test: {} kill points, {containers} containers, {} posts",
        points.len(),
        sim.media().len()
    );
    sim.shutdown().await;
}

fn check_carousels_posted_once(sim: &Simulator, jobs: &[Job]) {
    let media = sim.media();
    assert_eq!(media.len(), jobs.len(), "one post per carousel: {media:?}");
    let publishes = sim.publishes_by_image();
    for job in jobs {
        let PostKind::Carousel { items } = &job.kind else {
            panic!("not a carousel: {job:?}")
        };
        for item in items {
            assert_eq!(
                publishes.get(&item.blob.sha256),
                Some(&1),
                "job {} photo published once",
                job.id
            );
        }
        let post = media
            .iter()
            .find(|m| Some(m.id.as_str()) == job.state.media_id())
            .expect("the job's media exists");
        assert_eq!(post.media_type, "CAROUSEL_ALBUM");
        assert_eq!(post.images.len(), items.len());
    }
}

// --- first comment ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_comment_is_posted_once_under_each_post() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup_with(
        &sim.base_url(),
        &[("instagram", "first_comment", "\"#booth #photo{n}\"")],
    );
    let daemon = Daemon::start(s.config()).await.unwrap();
    let a = daemon.shoot().await.unwrap();
    let b = daemon.shoot().await.unwrap();
    let jobs = all_done(&daemon, SETTLE).await;
    daemon.stop().await;
    let comments = sim.comments();
    assert_eq!(comments.len(), 2, "{comments:?}");
    for (job, n) in [(a, 1), (b, 2)] {
        let done = jobs.iter().find(|j| j.id == job.id).unwrap();
        let media_id = done.state.media_id().unwrap();
        let mine: Vec<_> = comments.iter().filter(|c| c.media_id == media_id).collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].text, format!("#booth #photo{n}"));
        assert!(matches!(
            done.first_comment.as_ref().unwrap().state,
            CommentState::Posted { ref comment_id } if *comment_id == mine[0].id
        ));
        // The caption stays clean.
        assert!(!done.caption.contains("#photo"));
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_around_the_first_comment_never_comments_twice_or_posts_again() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup_with(
        &sim.base_url(),
        &[("instagram", "first_comment", "\"#booth\"")],
    );
    // Sent and not recorded; recorded and not sent.
    for point in ["comment.response-received", "comment.intent-persisted"] {
        shoot_until_abort(&s, point).await;
    }
    let jobs = finish_cleanly(&s).await;
    assert_eq!(jobs.len(), 2);
    let comments = sim.comments();
    for job in &jobs {
        let media_id = job.state.media_id().unwrap();
        assert_eq!(
            comments.iter().filter(|c| c.media_id == media_id).count(),
            1,
            "one comment under {media_id}: {comments:?}"
        );
        assert_eq!(sim.publishes_by_image().get(&job.blob.sha256), Some(&1));
    }
    assert_eq!(sim.calls().get("media_publish"), Some(&2));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_instagram_refuses_is_given_up_and_the_photo_stays_posted_once() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    sim.refuse_comments(true);
    let s = setup_with(
        &sim.base_url(),
        &[("instagram", "first_comment", "\"#booth\"")],
    );
    let daemon = Daemon::start(s.config()).await.unwrap();
    let job = daemon.shoot().await.unwrap();
    let jobs = all_done(&daemon, SETTLE).await;
    daemon.stop().await;
    assert!(sim.comments().is_empty());
    assert_eq!(sim.publishes_by_image().get(&job.blob.sha256), Some(&1));
    assert_eq!(sim.calls().get("media_publish"), Some(&1));
    let done = &jobs[0];
    assert!(matches!(
        done.first_comment.as_ref().unwrap().state,
        CommentState::GaveUp { .. }
    ));
    assert!(
        done.last_error
            .as_deref()
            .unwrap_or("")
            .contains("first comment"),
        "{:?}",
        done.last_error
    );
    sim.shutdown().await;
}

// --- Stories ---

/// `postbooth queue story ID`: the operator picks photos for Stories, with the booth running
/// (control socket) or stopped (store opened directly). Each pick is its own job, posted once;
/// a second pick of the same photo is refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_story_posts_only_the_chosen_photos_to_stories_once() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup_with(&sim.base_url(), &[]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    let chosen = daemon.shoot().await.unwrap();
    let other = daemon.shoot().await.unwrap();
    let id = chosen.id.to_string();
    let out = s.postbooth(&["queue", "story", &id]);
    assert!(out.status.success(), "{}", out.both());
    assert!(out.stdout.contains("queued Story"), "{}", out.both());
    let again = s.postbooth(&["queue", "story", &id]);
    assert!(!again.status.success(), "{}", again.both());
    assert!(again.stderr.contains("already has one"), "{}", again.both());
    let jobs = all_done(&daemon, SETTLE).await;
    daemon.stop().await;
    // The booth is stopped: the pick goes straight into the store and is posted on start.
    let late = daemon_less_pick(&s, &other.id.to_string());
    assert!(late.status.success(), "{}", late.both());
    let daemon = Daemon::start(s.config()).await.unwrap();
    let jobs_after = all_done(&daemon, SETTLE).await;
    daemon.stop().await;
    assert_eq!(jobs.len(), 3, "two photos and one Story: {jobs:?}");
    assert_eq!(jobs_after.len(), 4);
    let stories: Vec<_> = jobs_after
        .iter()
        .filter(|j| matches!(j.kind, PostKind::Story { .. }))
        .collect();
    let of: Vec<_> = stories
        .iter()
        .map(|j| match j.kind {
            PostKind::Story { of, overflow } => {
                assert!(!overflow);
                of.unwrap()
            }
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(of, [chosen.id, other.id]);
    let publishes = sim.publishes_by_image();
    for job in &jobs_after {
        assert_eq!(publishes.get(&job.blob.sha256), Some(&1), "{}", job.id);
    }
    let media = sim.media();
    assert_eq!(
        media.iter().filter(|m| m.product_type == "STORY").count(),
        2
    );
    assert_eq!(media.len(), 4);
    sim.shutdown().await;
}

fn daemon_less_pick(s: &Booth, id: &str) -> crate::helper::Out {
    assert!(!s.socket().exists() || std::os::unix::net::UnixStream::connect(s.socket()).is_err());
    s.postbooth(&["queue", "story", id])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn also_story_posts_a_9_by_16_copy_as_its_own_job_once() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup_with(&sim.base_url(), &[("instagram", "also_story", "true")]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    let photo = daemon.shoot().await.unwrap();
    let jobs = all_done(&daemon, SETTLE).await;
    daemon.stop().await;
    assert_eq!(jobs.len(), 2, "the photo and its story: {jobs:?}");
    let story = jobs.iter().find(|j| j.id != photo.id).unwrap();
    assert_eq!(
        story.kind,
        PostKind::Story {
            of: Some(photo.id),
            overflow: false
        }
    );
    assert_eq!(story.caption, "");
    assert_ne!(
        story.state.media_id(),
        jobs.iter()
            .find(|j| j.id == photo.id)
            .unwrap()
            .state
            .media_id()
    );
    let media = sim.media();
    assert_eq!(media.len(), 2);
    let posted = media.iter().find(|m| m.product_type == "STORY").unwrap();
    assert_eq!(posted.images[0].sha256, story.blob.sha256);
    assert_eq!(posted.caption, "");
    let (w, h) = (posted.images[0].width, posted.images[0].height);
    assert_eq!(u64::from(w) * 16 / 9, u64::from(h), "9:16, got {w}x{h}");
    let feed = media.iter().find(|m| m.product_type == "FEED").unwrap();
    assert_eq!(feed.images[0].sha256, photo.blob.sha256);
    for sha in [&photo.blob.sha256, &story.blob.sha256] {
        assert_eq!(sim.publishes_by_image().get(sha), Some(&1));
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_whose_publish_answer_was_lost_is_found_in_stories_not_posted_again() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup_with(&sim.base_url(), &[("instagram", "also_story", "true")]);
    // The second publish is the story's (jobs go oldest first): killed after it went through.
    shoot_until_abort(&s, "publish.response-received:2").await;
    let jobs = finish_cleanly(&s).await;
    assert_eq!(jobs.len(), 2);
    assert!(
        sim.calls().get("list_stories").copied().unwrap_or(0) >= 1,
        "{:?}",
        sim.calls()
    );
    for job in &jobs {
        assert_eq!(sim.publishes_by_image().get(&job.blob.sha256), Some(&1));
    }
    assert_eq!(sim.media().len(), 2);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_photos_combined_into_a_carousel_are_posted_once_as_one_post() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    // Publishing is held up (the booth's token is refused) while three photos wait.
    sim.set_token("not-the-booth-token");
    let s = setup_with(&sim.base_url(), &[]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    let mut photos = Vec::new();
    for _ in 0..3 {
        photos.push(daemon.shoot().await.unwrap());
    }
    daemon.stop().await;
    let config = s.config();
    let ids: Vec<uuid::Uuid> = photos.iter().map(|j| j.id).collect();
    let carousel = tokio::task::spawn_blocking(move || {
        let (store, _) = postbooth::store::Store::open(&config.store, "").unwrap();
        store.combine_into_carousel(&ids).unwrap()
    })
    .await
    .unwrap();
    sim.set_token("sim-token");
    let daemon = Daemon::start(s.config()).await.unwrap();
    let jobs = all_done(&daemon, SETTLE).await;
    daemon.stop().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, carousel.id);
    let media = sim.media();
    assert_eq!(media.len(), 1, "one post for three photos: {media:?}");
    assert_eq!(media[0].media_type, "CAROUSEL_ALBUM");
    for photo in &photos {
        assert_eq!(sim.publishes_by_image().get(&photo.blob.sha256), Some(&1));
    }
    sim.shutdown().await;
}

// --- Reels ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reel_upload_cut_at_random_offsets_resumes_and_posts_once() {
    use rand::{Rng, SeedableRng};
    let seed = 8u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let payload: Vec<u8> = (0..1_500_000).map(|_| rng.gen()).collect();
    let mp4 = postbooth::video::synthetic_mp4(12, &payload);
    let size = mp4.len() as u64;
    const CHUNK: u64 = 256 * 1024;
    const CUTS: usize = 5;
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup_with(
        &sim.base_url(),
        &[
            ("publish", "upload_chunk_bytes", &CHUNK.to_string()),
            ("publish", "video_poll_interval_ms", "50"),
        ],
    );
    let video = s.dir.path().join("clip.mp4");
    std::fs::write(&video, &mp4).unwrap();
    // Queued with the booth stopped (the CLI opens the store itself).
    let out = s.postbooth(&["post", "--video", video.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.both());
    // Cuts at random offsets; the upload must resume exactly where each one left it.
    let mut cuts: Vec<u64> = Vec::new();
    while cuts.len() < CUTS {
        let at = rng.gen_range(1..size);
        if !cuts.contains(&at) {
            cuts.push(at);
        }
    }
    cuts.sort();
    sim.cut_uploads_at(cuts.clone());

    let daemon = Daemon::start(s.config()).await.unwrap();
    let jobs = all_done(&daemon, SETTLE).await;
    daemon.stop().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, PostKind::Reel);
    let media = sim.media();
    assert_eq!(media.len(), 1);
    assert_eq!(
        (media[0].media_type, media[0].product_type),
        ("VIDEO", "REELS")
    );
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&mp4));
    assert_eq!(
        media[0].images[0].sha256, sha,
        "Instagram got the whole file intact"
    );
    assert_eq!(sim.publishes_by_image().get(&sha), Some(&1));
    assert_eq!(
        sim.faults_injected().get("upload_cut"),
        Some(&(CUTS as u64)),
        "every planned cut happened"
    );
    let received = sim.upload_bytes_received();
    let offered = sim.upload_bytes_offered();
    println!(
        "reel upload: {size} bytes, {CUTS} cuts at {cuts:?}, chunk {CHUNK}: {received} bytes reached the upload host, {offered} bytes sent by the booth, {} upload requests",
        sim.calls().get("upload").copied().unwrap_or(0)
    );
    assert!(
        received <= size + CHUNK,
        "{received} bytes reached the host for a {size}-byte file"
    );
    assert_eq!(received, size, "no byte that arrived was sent again");
    // What the booth sent: at most the rest of the cut chunk again per cut, never the whole file.
    assert!(
        offered <= size + CUTS as u64 * CHUNK,
        "{offered} bytes sent for a {size}-byte file"
    );
    assert!(offered < 2 * size, "the upload never starts over");
    sim.shutdown().await;
}

#[test]
fn post_video_refuses_what_is_not_a_reel_and_says_why() {
    let s = setup_with("http://127.0.0.1:9/v21.0", &[]);
    let text = s.dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video").unwrap();
    let out = s.postbooth(&["post", "--video", text.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("not an MP4"), "{}", out.both());
    let short = s.dir.path().join("short.mp4");
    std::fs::write(&short, postbooth::video::synthetic_mp4(2, &[0; 100])).unwrap();
    let out = s.postbooth(&["post", "--video", short.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("3 to 90 s"), "{}", out.both());
    let out = s.postbooth(&["post", "--video", "/nonexistent/clip.mp4"]);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("/nonexistent/clip.mp4"),
        "{}",
        out.both()
    );
    assert!(s.list().is_empty(), "nothing queued");
    // Instagram Login has no resumable upload: said before anything is queued.
    let ig = setup_with("https://graph.instagram.com/v21.0", &[]);
    let good = ig.dir.path().join("good.mp4");
    std::fs::write(&good, postbooth::video::synthetic_mp4(10, &[0; 100])).unwrap();
    let out = ig.postbooth(&["post", "--video", good.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("instagram.graph_url"), "{}", out.both());
    assert!(ig.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reel_killed_mid_upload_resumes_where_instagram_stopped_and_posts_once() {
    let payload: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let mp4 = postbooth::video::synthetic_mp4(30, &payload);
    let size = mp4.len() as u64;
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup_with(
        &sim.base_url(),
        &[
            ("publish", "upload_chunk_bytes", "65536"),
            ("publish", "video_poll_interval_ms", "50"),
        ],
    );
    let video = s.dir.path().join("clip.mp4");
    std::fs::write(&video, &mp4).unwrap();
    let out = s.postbooth(&["post", "--video", video.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.both());
    // Killed after the fourth part reached Instagram and before the booth went on.
    let mut daemon = s.spawn_daemon("daemon", &[("POSTBOOTH_FAILPOINT", "upload.part-sent:4")]);
    let status = daemon.wait_timeout(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| !s.success()),
        "{}",
        daemon.log_text()
    );
    assert_eq!(sim.upload_bytes_received(), 4 * 65536);
    let jobs = finish_cleanly(&s).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        sim.upload_bytes_received(),
        size,
        "nothing sent twice after the restart"
    );
    assert_eq!(sim.media().len(), 1);
    assert_eq!(
        sim.calls().get("create_container"),
        Some(&1),
        "the same container"
    );
    sim.shutdown().await;
}
