//! The soak: 72 simulated hours of a busy event on tokio's paused clock, in a few real minutes.
//!
//! In-process harness: the real store (sled + photo files), the real publisher loop, the real
//! `serve` media host and the Graph API simulator over real loopback HTTP — no daemon binary,
//! no camera, no encoder (shots are one small pre-encoded JPEG made unique by a comment
//! segment: the image pipeline is not what is soaked).
//!
//! Time: the runtime starts paused and auto-advances whenever every task waits on a timer, so
//! publisher backoffs, polls, quota rechecks and the shot schedule cost no real time. Real
//! I/O (loopback HTTP, file writes on the blocking pool) still takes real time, and tokio
//! does not advance the clock while a `spawn_blocking` task runs. The booth's store and the
//! simulator both read their wall clock from [`WallClock::follows_tokio`], so records age,
//! the quota window slides and the token expires by simulated time, coherently.
//!
//! What happens: shots at a busy event's pace (12 busy hours a day, a trickle at night);
//! a publishing quota below a busy day's shots, so the window closes each day and reopens as
//! it slides; the token expires at hour 30 and the operator replaces it an hour later; the
//! network drops every 3-8 minutes for 20-120 s (every connection refused), and 1 % of
//! requests meet a random fault (reset, 5xx, lost publish answer, an answer slower than the
//! timeout). Stores keep Done jobs one day (`store.keep_done_days = 1`).
//!
//! What is asserted: every shot published exactly once (simulator counts); the store
//! bounded (every hour each record is pending or done within the last day + the prune period,
//! or held by a publish being verified, and no publish stays unsettled for 6 hours;
//! a day after the last post nothing is left, and every pruned photo is intact in archive/);
//! bounded RSS (10 % against 100 % of the shots); nothing kept per shot (the live heap, once
//! everything is pruned and the simulator dropped, is back near where it started); no leaked
//! file descriptors.
//!
//! `POSTBOOTH_SOAK_SHOTS` sets the number of shots (CI default [`CI_SHOTS`]).

use crate::helper::heap::live_bytes;
use crate::helper::{command_for, env_number, test_runner};
use postbooth::clock::WallClock;
use postbooth::config::Config;
use postbooth::heartbeat::Heartbeat;
use postbooth::media::serve::ServeHost;
use postbooth::media::MediaHost;
use postbooth::publish::gate::Gate;
use postbooth::publish::graph::{GraphClient, Token};
use postbooth::publish::publisher::{Publisher, Settings};
use postbooth::sim::{Fault, FaultPlan, SimOptions, Simulator};
use postbooth::store::Store;
use postbooth::ui::{Screen, Status};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Shots when `POSTBOOTH_SOAK_SHOTS` is unset: keeps the CI step to a few minutes on two
/// cores in a debug build (see docs/RELIABILITY.md for measured times).
const CI_SHOTS: usize = 2_000;
const HOUR: Duration = Duration::from_secs(3600);
const SHOOTING: Duration = Duration::from_secs(72 * 3600);
const TOKEN_EXPIRES_AT: Duration = Duration::from_secs(30 * 3600);
const TOKEN_REPLACED_AT: Duration = Duration::from_secs(31 * 3600);
/// Instagram's long-lived token lifetime (the simulator's too).
const TOKEN_TTL: Duration = Duration::from_secs(60 * 24 * 3600);
const USER_ID: &str = "17841400000000000";
const FIRST_TOKEN: &str = "soak-token";
const NEW_TOKEN: &str = "soak-token-renewed-by-the-operator";
const CAPTION: &str = "Thanks for visiting! #booth";
const SEED: u64 = 20261127;

/// Runs the soak in a child process of this test binary, alone: the other tests of this binary
/// run as threads of *this* process and would move its RSS and descriptor counts.
#[test]
fn seventy_two_hours_of_a_busy_event() {
    let mut cmd = command_for(&std::env::current_exe().unwrap());
    cmd.args([
        "soak::soak_in_this_process",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    let status = cmd.status().expect("the test binary runs again");
    assert!(
        status.success(),
        "the soak failed ({status}): see its output above"
    );
}

/// Shots per hour are proportional to this: a busy event from 10:00 to 22:00, a trickle at night.
fn weight(hour_of_day: u64) -> f64 {
    if (10..22).contains(&hour_of_day) {
        3.0
    } else {
        0.25
    }
}

/// When shot `k` (1-based) of `shots` is taken: the 72 hours' weight shared out evenly, so
/// the shots follow the event's busy and quiet hours and the last one is at hour 72.
fn shot_time(k: usize, shots: usize) -> Duration {
    let total: f64 = (0..72).map(|h| weight(h % 24)).sum();
    let target = total * k as f64 / shots as f64;
    let mut acc = 0.0;
    for hour in 0..72u64 {
        let w = weight(hour % 24);
        if acc + w >= target {
            return Duration::from_secs_f64((hour as f64 + (target - acc) / w) * 3600.0);
        }
        acc += w;
    }
    SHOOTING
}

/// A small compliant JPEG (the simulator checks it like Instagram would).
fn base_jpeg() -> (Vec<u8>, u32, u32) {
    let (w, h) = (400, 400);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 60)
        .encode_image(&img)
        .unwrap();
    (out, w, h)
}

/// `base` with a JPEG comment segment naming shot `n` right after SOI: unique bytes.
fn unique_jpeg(base: &[u8], n: usize) -> Vec<u8> {
    let text = format!("postbooth soak shot {n}");
    let len = (text.len() + 2) as u16;
    let mut out = Vec::with_capacity(base.len() + text.len() + 4);
    out.extend_from_slice(&base[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&base[2..]);
    out
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Background faults between outages: 1 % of requests. Each plan gets its own seed: setting
/// a plan reseeds the simulator's draw, and the same seed after every outage would replay the
/// same (fault-free) first draws each time.
fn background_faults(seed: u64) -> FaultPlan {
    FaultPlan {
        probability: 0.01,
        kinds: vec![
            Fault::ResetMidResponse,
            Fault::ServerError,
            Fault::Unavailable,
            Fault::SlowResponse,
            Fault::PublishResponseLost,
        ],
        seed,
        // Longer than the client's 10 s timeout: a slow answer is a lost answer.
        slow_delay: Duration::from_secs(15),
    }
}

fn outage() -> FaultPlan {
    FaultPlan {
        probability: 1.0,
        kinds: vec![Fault::RefuseConnection],
        ..background_faults(0)
    }
}

/// One look at the process and the store.
#[derive(Debug, Clone, Copy)]
struct Sample {
    shots: usize,
    rss_kib: u64,
    heap_kib: usize,
    fds: usize,
}

#[tokio::test(start_paused = true)]
#[ignore = "run by soak::seventy_two_hours_of_a_busy_event in a process of its own"]
async fn soak_in_this_process() {
    // As the daemon's main does; the runtime's threads already exist, but none has allocated
    // in an arena of its own yet (glibc gives a thread one at its first contended malloc).
    postbooth::malloc::limit_arenas();
    let shots: usize = env_number("POSTBOOTH_SOAK_SHOTS", CI_SHOTS);
    assert!(shots >= 100, "POSTBOOTH_SOAK_SHOTS: use at least 100");
    let real_start = std::time::Instant::now();
    let start = tokio::time::Instant::now();
    let clock = WallClock::follows_tokio();
    let t0 = clock.now_ms() / 1000;
    // tmpfs when there is one: fsync is then free, and the soak is about long-running
    // behaviour, not the disk (the power-cut tests are about that).
    let base_dir = ["/dev/shm"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("postbooth-soak-")
        .tempdir_in(&base_dir)
        .unwrap();
    let per_day = shots / 3;
    let quota = (per_day * 4 / 5) as u32;
    println!(
        "soak: {shots} shots over 72 simulated hours, quota {quota} per 24 h, store in {}",
        dir.path().display()
    );

    let sim = Arc::new(
        Simulator::start(SimOptions {
            token: FIRST_TOKEN.into(),
            user_id: USER_ID.into(),
            quota_total: quota,
            containers_per_day: 10 * shots,
            token_age: TOKEN_TTL - TOKEN_EXPIRES_AT,
            clock,
            faults: background_faults(SEED),
            ..SimOptions::default()
        })
        .await
        .unwrap(),
    );

    let port = postbooth::demo::free_port().unwrap();
    let mut cfg = Config::default();
    cfg.instagram.graph_url = sim.base_url();
    cfg.instagram.user_id = Some(USER_ID.into());
    cfg.instagram.request_timeout_secs = 10;
    cfg.media.listen = format!("127.0.0.1:{port}");
    cfg.media.public_base_url = format!("http://127.0.0.1:{port}");
    cfg.store.dir = dir.path().join("store");
    cfg.store.min_free_mib = 0;
    cfg.store.keep_done_days = 1;
    cfg.validate(Path::new("soak")).unwrap();

    let (store, _) = Store::open_with_clock(&cfg.store, CAPTION, clock).unwrap();
    let graph = Arc::new(GraphClient::new(
        &cfg.instagram.graph_url,
        USER_ID,
        Token::new(FIRST_TOKEN),
        Duration::from_secs(cfg.instagram.request_timeout_secs),
    ));
    let serve = Arc::new(
        ServeHost::start(
            cfg.media.listen.parse().unwrap(),
            store.public_dir(),
            cfg.media.public_base_url.clone(),
        )
        .await
        .unwrap(),
    );
    let (status_tx, mut status_rx) = watch::channel(Status::default());
    let wake = Arc::new(Notify::new());
    let heart = Heartbeat::new();
    let publisher = Publisher {
        store: store.clone(),
        graph: graph.clone(),
        media: serve.clone() as Arc<dyn MediaHost>,
        status: status_tx,
        settings: Settings::from(&cfg),
        wake: wake.clone(),
        gate: Arc::new(Gate::new(graph.clone(), &cfg)),
        beat: heart.register("the publisher", HOUR),
        telemetry: Default::default(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let publishing = tokio::spawn(publisher.run(stop_rx.clone()));

    // What the display showed (the screens that matter here), counted as they appear.
    let screens: Arc<Mutex<BTreeMap<&'static str, u64>>> = Default::default();
    let watcher = tokio::spawn({
        let screens = screens.clone();
        async move {
            while status_rx.changed().await.is_ok() {
                let name = match status_rx.borrow_and_update().screen {
                    Screen::Offline => "offline",
                    Screen::LoginNeeded => "login needed",
                    Screen::RateLimited => "rate limited / quota",
                    Screen::Error(_) => "error",
                    _ => continue,
                };
                *screens.lock().unwrap().entry(name).or_default() += 1;
            }
        }
    });

    // The network drops every few minutes.
    let outages = Arc::new(AtomicU64::new(0));
    let flapper = tokio::spawn({
        let (sim, outages, mut stop) = (sim.clone(), outages.clone(), stop_rx.clone());
        async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
            loop {
                let up = Duration::from_secs(rng.gen_range(180..480));
                let down = Duration::from_secs(rng.gen_range(20..120));
                tokio::select! {
                    _ = tokio::time::sleep(up) => {}
                    _ = stop.changed() => return,
                }
                sim.set_faults(outage());
                let n = outages.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(down).await;
                sim.set_faults(background_faults(SEED + 1 + n));
            }
        }
    });

    // The token expires at hour 30 (the simulator's clock); the operator replaces it at 31.
    let operator = tokio::spawn({
        let (sim, graph, wake) = (sim.clone(), graph.clone(), wake.clone());
        async move {
            tokio::time::sleep_until(start + TOKEN_REPLACED_AT).await;
            sim.set_token(NEW_TOKEN);
            graph.set_token(Token::new(NEW_TOKEN));
            wake.notify_one();
        }
    });

    // Shoot.
    let heap_before_kib = live_bytes() / 1024;
    let (jpeg, w, h) = base_jpeg();
    let mut saved: BTreeMap<String, uuid::Uuid> = BTreeMap::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut hourly_records: Vec<(u64, usize, usize)> = Vec::new();
    let mut next_hourly = start + HOUR;
    for n in 1..=shots {
        tokio::time::sleep_until(start + shot_time(n, shots)).await;
        let bytes = unique_jpeg(&jpeg, n);
        let job = store
            .blocking(move |s| s.save_photo(&bytes, w, h, CAPTION.into()))
            .await
            .unwrap_or_else(|e| panic!("shot {n}: {e}"));
        saved.insert(job.blob.sha256.clone(), job.id);
        wake.notify_one();
        if n % (shots / 10) == 0 || n == shots {
            samples.push(Sample {
                shots: n,
                rss_kib: rss_kib(),
                heap_kib: live_bytes() / 1024,
                fds: open_fds(),
            });
        }
        if tokio::time::Instant::now() >= next_hourly {
            next_hourly += HOUR;
            hourly_records.push(check_bounded(&store, &sim, start).await);
        }
    }
    let shooting_took = start.elapsed();
    println!(
        "soak: {shots} shots saved in {:.1} simulated h ({:.0} s real)",
        shooting_took.as_secs_f64() / 3600.0,
        real_start.elapsed().as_secs_f64()
    );
    assert!(
        shooting_took <= SHOOTING + Duration::from_secs(60),
        "the shots took {shooting_took:?}"
    );

    // Let the backlog drain (the quota window slides), checking the store every hour.
    let drained = loop {
        tokio::time::sleep(HOUR).await;
        hourly_records.push(check_bounded(&store, &sim, start).await);
        let published = sim.publishes_by_image();
        if published.len() >= shots {
            let jobs = store.blocking(|s| s.jobs()).await.unwrap();
            if jobs.iter().all(|j| !j.state.is_pending()) {
                break start.elapsed();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(14 * 24 * 3600),
            "not drained after 14 simulated days: {} of {shots} published; screens {:?}",
            published.len(),
            screens.lock().unwrap()
        );
    };
    println!(
        "soak: all published after {:.1} simulated h ({:.0} s real)",
        drained.as_secs_f64() / 3600.0,
        real_start.elapsed().as_secs_f64()
    );
    // A day and two prune periods later, every Done job is pruned.
    tokio::time::sleep(Duration::from_secs(26 * 3600)).await;
    let left = store.blocking(|s| s.jobs()).await.unwrap();

    let _ = stop_tx.send(true);
    publishing.await.unwrap();
    flapper.await.unwrap();
    operator.await.unwrap();
    watcher.abort();
    let media = sim.media();
    let published = sim.publishes_by_image();
    let faults = sim.faults_injected();
    let calls = sim.calls();
    let screens = screens.lock().unwrap().clone();
    println!(
        "soak: outages {}, faults {faults:?}",
        outages.load(Ordering::Relaxed)
    );
    println!("soak: calls {calls:?}");
    println!("soak: screens seen {screens:?}");
    println!("soak: samples {samples:?}");
    let max_records = hourly_records.iter().map(|r| r.1).max().unwrap_or(0);
    let max_photos = hourly_records.iter().map(|r| r.2).max().unwrap_or(0);
    println!(
        "soak: records at most {max_records}, photos/ files at most {max_photos} (of {shots} shots); hourly (h, records, photos/ files): {hourly_records:?}"
    );

    // Exactly once: every shot's image published once, nothing else published.
    let twice: Vec<_> = published.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    let saved_keys: BTreeSet<&String> = saved.keys().collect();
    let published_keys: BTreeSet<&String> = published.keys().collect();
    assert_eq!(saved.len(), shots, "every shot is a different image");
    assert_eq!(
        saved_keys, published_keys,
        "every shot published, and nothing that was not shot"
    );
    assert_eq!(media.len(), shots, "one post per shot");

    // The conditions really happened.
    assert!(
        outages.load(Ordering::Relaxed) >= 72 * 60 / 8,
        "the network dropped every few minutes"
    );
    let refused = faults.get("refuse_connection").copied().unwrap_or(0);
    assert!(refused > 0, "outages refused connections: {faults:?}");
    // While the network is down the booth backs off as a whole (a few attempts per outage at
    // most), rather than trying every waiting photo in turn.
    assert!(
        refused <= 3 * outages.load(Ordering::Relaxed),
        "{refused} connection attempts in {} outages",
        outages.load(Ordering::Relaxed)
    );
    assert!(
        screens.contains_key("login needed"),
        "the expired token stopped publishing: {screens:?}"
    );
    let first_after_renewal = media
        .iter()
        .position(|m| posted_at(m, t0) >= TOKEN_REPLACED_AT.as_secs())
        .expect("posts after the token was replaced");
    let gap_before = media[..first_after_renewal]
        .last()
        .map(|m| posted_at(m, t0))
        .unwrap_or(0);
    assert!(
        gap_before <= TOKEN_EXPIRES_AT.as_secs() + 60,
        "nothing posted between the expiry and the new token (last before: {gap_before} s)"
    );
    let (closed_at, reopened_after) = quota_windows(&media, quota, t0);
    println!(
        "soak: quota first reached at {:.1} h; posts after it reopened: {reopened_after}",
        closed_at as f64 / 3600.0
    );
    assert!(
        closed_at < SHOOTING.as_secs(),
        "the quota window closed during the event"
    );
    assert!(reopened_after > 0, "the quota window reopened");

    // Bounded store: checked hourly above; at the end, a day after the last post, nothing is
    // left but the archive, which holds every photo intact.
    assert!(
        max_records < shots * 2 / 3,
        "records stayed well below the shots ({max_records} of {shots})"
    );
    assert!(
        left.is_empty(),
        "{} records left a day after the last post",
        left.len()
    );
    let photos = cfg.store.dir.join("photos");
    assert_eq!(count_files(&photos), 0, "photos/ is empty");
    let archive = cfg.store.dir.join("archive");
    assert_eq!(
        count_files(&archive),
        2 * shots,
        "every photo and sidecar archived"
    );
    for (sha, id) in &saved {
        let bytes = std::fs::read(archive.join(format!("{id}.jpg"))).unwrap();
        assert_eq!(
            &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            sha,
            "archived photo {id} intact"
        );
    }

    // Flat memory and no leaked descriptors, 10 % vs 100 % of the shots.
    // samples[0] is at 10 %, the last at 100 %; the ones between are printed above.
    let (early, late) = (samples[0], samples[samples.len() - 1]);
    let half = samples[samples.len() / 2 - 1];
    println!(
        "soak: RSS from 50 % to 100 %: {:.0} bytes per shot",
        (late.rss_kib.saturating_sub(half.rss_kib) * 1024) as f64
            / (late.shots - half.shots) as f64
    );
    // The live heap rightly grows while the shots go on: the simulator keeps every post and
    // the quota backlog holds more records at 100 %; the leak check is at the end.
    println!(
        "soak: live heap {} KiB at 10 %, {} KiB at 100 %",
        early.heap_kib, late.heap_kib
    );
    let grown_kib = late.rss_kib.saturating_sub(early.rss_kib);
    let per_shot = grown_kib as f64 * 1024.0 / (late.shots - early.shots) as f64;
    println!(
        "soak: RSS {} KiB at {} shots, {} KiB at {} shots: +{grown_kib} KiB, {per_shot:.0} bytes per shot; fds {} / {}",
        early.rss_kib, early.shots, late.rss_kib, late.shots, early.fds, late.fds
    );
    let allowed_kib =
        RSS_SLACK_KIB + (RSS_BYTES_PER_SHOT * (late.shots - early.shots) as f64 / 1024.0) as u64;
    // Under qemu-user (the ARM suite) the RSS is the emulator's: its translation cache grows
    // as new code paths run (83.6 -> 87.6 MiB between 30 and 60 shots, flat after that), which
    // says nothing about postbooth. Native runs check it.
    let emulated = test_runner().is_some();
    if emulated {
        println!("soak: SKIPPED the memory check under an emulator (its RSS is qemu's)");
    }
    assert!(
        emulated || grown_kib <= allowed_kib,
        "memory grows with the shots: +{grown_kib} KiB, {per_shot:.0} bytes per shot \
         (allowed {RSS_SLACK_KIB} KiB + {RSS_BYTES_PER_SHOT} bytes per shot = {allowed_kib} KiB)"
    );
    assert!(
        late.fds <= early.fds + FD_SLACK,
        "file descriptors leak: {} at 10 %, {} at 100 %",
        early.fds,
        late.fds
    );
    println!(
        "soak: passed in {:.0} s real for {:.1} simulated h",
        real_start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64() / 3600.0
    );
    drop(serve);
    match Arc::try_unwrap(sim) {
        Ok(sim) => sim.shutdown().await,
        Err(_) => panic!("the simulator is still shared"),
    }
    // What this test itself kept of the run (copies of the posts and of the shots' hashes).
    drop((media, published, saved, left, hourly_records));
    // Nothing kept per shot: with every record pruned and the simulator gone, the live heap is
    // back where it was before the first shot, but for caches of a fixed size.
    let heap_after_kib = live_bytes() / 1024;
    let allowed_kib = HEAP_SLACK_KIB + HEAP_BYTES_PER_SHOT * shots / 1024;
    println!(
        "soak: live heap {heap_before_kib} KiB before the first shot, {heap_after_kib} KiB at the end \
         without the simulator (allowed +{allowed_kib} KiB)"
    );
    assert!(
        heap_after_kib <= heap_before_kib + allowed_kib,
        "the booth keeps memory per shot: live heap {heap_before_kib} KiB before the first shot, \
         {heap_after_kib} KiB after {shots} shots were posted and pruned"
    );
}

/// Live heap the booth may hold after the run beyond what it held before the first shot, all
/// records pruned and the simulator dropped: sled's cache, pooled connections, tokio's
/// structures. Measured: +696 KiB after 300 shots, +713 and +1,265 after 600 (it varies with
/// timing), +845 after 2,000, +832 after 4,000, +1,612 and +1,113 after 10,000 (where what
/// goes beyond the 4,000-shot figure stays is not known, see docs/RELIABILITY.md), hence a
/// little per shot on top. Keeping a job record (~1 KB) per shot fails it at the CI's 2,000
/// shots; a leak of 256 bytes per shot fails it at 10,000.
const HEAP_SLACK_KIB: usize = 2048;
/// See [`HEAP_SLACK_KIB`].
const HEAP_BYTES_PER_SHOT: usize = 64;

/// RSS growth allowed between 10 % and 100 % of the shots whatever their number: caches and
/// allocator arenas still filling after 10 % (the busy hours start after it at small counts).
const RSS_SLACK_KIB: u64 = 4096;
/// RSS growth allowed between 10 % and 100 % of the shots, per shot in between. Two things
/// in this process rightly grow with the shots, both measured on their own (see
/// docs/RELIABILITY.md): the simulator remembers every post (1.4 KB each), and the store holds
/// more live records at 100 % (a day of posts plus the quota backlog, ~940 at 2,000 shots)
/// than at 10 % (~250; sled with the page cache, ~5 KB each, flat once the count is bounded).
/// Together ~3.3 KB per shot at 2,000 shots, less at 10,000. Keeping a job, a photo's bytes or
/// an answer's body per shot or per request adds ~1 KB or more per shot and fails this; a
/// smaller leak would not show at these counts.
const RSS_BYTES_PER_SHOT: f64 = 4096.0;
/// Descriptors that may be open at 100 % and not at 10 %: connections in flight or pooled at
/// the moment of the sample. A leak per shot, per request or per outage is far more.
const FD_SLACK: usize = 8;

/// Each record is pending, or done within the last day plus the prune period (and five
/// minutes of slack for a publisher pass in progress), or held by the pruning rule that keeps
/// media a publish being verified could be taken for (a job in `PublishIntent` whose attempt
/// is no later than the Done job's publish + the match slack). No job may sit in
/// `PublishIntent` for more than [`INTENT_LIMIT`]: a publish that is never settled also holds
/// pruning back. Returns (hour, records, files in photos/).
async fn check_bounded(
    store: &Store,
    sim: &Simulator,
    start: tokio::time::Instant,
) -> (u64, usize, usize) {
    use postbooth::job::{JobState, MEDIA_MATCH_SLACK_MS};
    let jobs = store.blocking(|s| s.jobs()).await.unwrap();
    let now = store.now_ms();
    let limit = 24 * 3600 * 1000 + HOUR.as_millis() as u64 + 5 * 60_000;
    let intents: Vec<(uuid::Uuid, u64, u32, Option<String>, String)> = jobs
        .iter()
        .filter_map(|j| match &j.state {
            JobState::PublishIntent {
                attempted_at_ms,
                container_id,
                ..
            } => Some((
                j.id,
                *attempted_at_ms,
                j.attempts,
                j.last_error.clone(),
                container_id.clone(),
            )),
            _ => None,
        })
        .collect();
    let hour = start.elapsed().as_secs() / 3600;
    for (id, attempted_at_ms, attempts, error, container) in &intents {
        if now - attempted_at_ms > INTENT_LIMIT.as_millis() as u64 {
            // What Instagram (the simulator) has for this container, and who owns it here.
            let media = sim.media();
            let posted = media.iter().find(|m| &m.container_id == container);
            let owner = posted.and_then(|m| {
                jobs.iter()
                    .find(|j| j.state.media_id() == Some(m.id.as_str()))
                    .map(|j| j.id)
            });
            let newer = posted.map(|m| media.iter().filter(|o| o.timestamp > m.timestamp).count());
            panic!(
                "hour {hour}: job {id} has been in PublishIntent for {} min ({attempts} attempts, \
                 last error {error:?}); its container {container} was posted as {:?} at {:?}, \
                 {newer:?} posts since, recorded by job {owner:?}",
                (now - attempted_at_ms) / 60_000,
                posted.map(|m| &m.id),
                posted.map(|m| &m.timestamp),
            );
        }
    }
    for job in &jobs {
        if let JobState::Done {
            done_at_ms,
            published_at_ms,
            ..
        } = job.state
        {
            let held = intents
                .iter()
                .any(|(_, attempt, ..)| *attempt <= published_at_ms + MEDIA_MATCH_SLACK_MS);
            assert!(
                now - done_at_ms <= limit || held,
                "hour {hour}: job {} done {} min ago is still kept (keep_done_days = 1); \
                 publishes being verified: {intents:?}",
                job.id,
                (now - done_at_ms) / 60_000
            );
        }
    }
    (hour, jobs.len(), count_files(&store.root().join("photos")))
}

/// Longest a publish may stay unsettled (`PublishIntent`): the token's hour-long gap plus
/// outages and backoffs fit well inside.
const INTENT_LIMIT: Duration = Duration::from_secs(6 * 3600);

/// Seconds after `t0` (the soak's start, Unix seconds) at which the simulator recorded `m`.
fn posted_at(m: &postbooth::sim::SimMedia, t0: u64) -> u64 {
    parse_graph_time(&m.timestamp).saturating_sub(t0)
}

fn parse_graph_time(text: &str) -> u64 {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
    );
    time::OffsetDateTime::parse(text, format)
        .unwrap_or_else(|e| panic!("graph time {text:?}: {e}"))
        .unix_timestamp() as u64
}

/// When (seconds into the soak) the posts in the last 24 h first reached the quota, and how
/// many posts came after that moment (only possible once the window slid).
fn quota_windows(media: &[postbooth::sim::SimMedia], quota: u32, t0: u64) -> (u64, usize) {
    let times: Vec<u64> = media.iter().map(|m| posted_at(m, t0)).collect();
    let day = 24 * 3600;
    let closed = (0..times.len())
        .find(|&i| {
            let since = times[i].saturating_sub(day - 1);
            times[..=i].iter().filter(|&&t| t >= since).count() >= quota as usize
        })
        .expect("the quota was reached");
    (times[closed], times.len() - closed - 1)
}
