//! Interval shots on tokio's paused clock: the cadence, skipping (never queueing) while the
//! previous shot is saving, the windows, and no burst after the wall clock jumps forward or
//! back (a Pi without a real-time clock that hears from NTP) or the runtime stalls.

use postbooth::hw::interval::{self, Counts, Shots};
use postbooth::publish::window;
use postbooth::telemetry::Telemetry;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A shooter stand-in: each shot keeps it busy for `takes` (of tokio's clock), like a slow save.
#[derive(Clone)]
struct SlowShots {
    takes: Duration,
    started: Arc<Mutex<Vec<Instant>>>,
}

impl Shots for SlowShots {
    fn busy(&self) -> bool {
        self.started
            .lock()
            .unwrap()
            .last()
            .is_some_and(|t| t.elapsed() < self.takes)
    }
    fn start(&self) {
        self.started.lock().unwrap().push(Instant::now());
    }
}

/// A wall clock that follows tokio's clock from `start` (seconds into the local day), and
/// that the test can set like NTP does.
#[derive(Clone)]
struct Wall {
    offset: Arc<AtomicI64>,
    origin: Instant,
}

impl Wall {
    fn at(hh: i64, mm: i64) -> Wall {
        Wall {
            offset: Arc::new(AtomicI64::new(hh * 3600 + mm * 60)),
            origin: Instant::now(),
        }
    }
    fn clock(&self) -> interval::WallClock {
        let w = self.clone();
        Box::new(move || {
            let secs = (w.offset.load(Ordering::SeqCst) + w.origin.elapsed().as_secs() as i64)
                .rem_euclid(86_400) as u32;
            (secs / 60, secs % 60)
        })
    }
}

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Counts>,
}

fn start(
    every: u64,
    windows: &[&str],
    shots: SlowShots,
    wall: &Wall,
    t: Arc<Telemetry>,
) -> Running {
    let windows =
        window::parse_all(&windows.iter().map(|w| w.to_string()).collect::<Vec<_>>()).unwrap();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(interval::run(
        Duration::from_secs(every),
        windows,
        shots,
        wall.clock(),
        t,
        rx,
    ));
    Running { stop, task }
}

impl Running {
    async fn stop(self) -> Counts {
        self.stop.send(true).unwrap();
        self.task.await.unwrap()
    }
}

fn gaps(started: &[Instant]) -> Vec<u64> {
    started
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_shot_due_while_the_previous_is_saving_is_skipped_and_counted() {
    let shots = SlowShots {
        takes: Duration::from_secs(150),
        started: Arc::default(),
    };
    let telemetry = Arc::new(Telemetry::default());
    let wall = Wall::at(12, 0);
    let run = start(60, &[], shots.clone(), &wall, telemetry.clone());
    tokio::time::sleep(Duration::from_secs(601)).await;
    let counts = run.stop().await;
    // Due at 60, 120, ..., 600 s; each shot keeps the booth busy 150 s.
    assert_eq!(
        counts,
        Counts {
            taken: 4,
            skipped: 6,
            outside: 0
        }
    );
    assert_eq!(gaps(&shots.started.lock().unwrap()), vec![180, 180, 180]);
    assert_eq!(telemetry.counters().shots_skipped, 6);
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_jump_forward_or_back_causes_no_burst() {
    let shots = SlowShots {
        takes: Duration::from_secs(1),
        started: Arc::default(),
    };
    // Booted with an old time, 08:00, outside the window. The jumps are part of the clock
    // (by tokio's elapsed time), so they happen at these instants whatever runs first:
    // NTP answers at 330 s, 3 hours forward (11:05:30, inside); at 930 s the time is set back
    // 5 hours (06:15:30, outside); at 1530 s forward 4 hours (10:25:30, inside again).
    let origin = Instant::now();
    let jumps: [(u64, i64); 3] = [(330, 3 * 3600), (930, -5 * 3600), (1530, 4 * 3600)];
    let wall: interval::WallClock = Box::new(move || {
        let t = origin.elapsed().as_secs();
        let jumped: i64 = jumps
            .iter()
            .filter(|(at, _)| t >= *at)
            .map(|(_, by)| by)
            .sum();
        let secs = (8 * 3600 + t as i64 + jumped).rem_euclid(86_400) as u32;
        (secs / 60, secs % 60)
    });
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(interval::run(
        Duration::from_secs(60),
        window::parse_all(&["09:00-18:00".to_string()]).unwrap(),
        shots.clone(),
        wall,
        Arc::new(Telemetry::default()),
        rx,
    ));
    tokio::time::sleep(Duration::from_secs(1830)).await;
    stop.send(true).unwrap();
    let counts = task.await.unwrap();
    let at: Vec<u64> = shots
        .started
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t - origin).as_secs())
        .collect();
    // One shot per interval while inside, none outside, and nothing made up for the hours
    // the clock skipped or repeated.
    let expected: Vec<u64> = (360..=900)
        .step_by(60)
        .chain((1560..=1800).step_by(60))
        .collect();
    assert_eq!(at, expected, "{counts:?}");
    assert_eq!(counts.outside, 15);
    assert_eq!(counts.skipped, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_runtime_fires_one_shot_not_the_missed_ones() {
    let shots = SlowShots {
        takes: Duration::from_secs(1),
        started: Arc::default(),
    };
    let wall = Wall::at(12, 0);
    let run = start(
        60,
        &[],
        shots.clone(),
        &wall,
        Arc::new(Telemetry::default()),
    );
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(shots.started.lock().unwrap().len(), 1);
    // Ten intervals pass at once (a suspended board, a stalled runtime).
    tokio::time::advance(Duration::from_secs(600)).await;
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        shots.started.lock().unwrap().len(),
        2,
        "one late shot, not a burst of ten"
    );
    run.stop().await;
}

/// The daemon wiring: `postbooth run` with an interval trigger takes photos by itself and
/// posts them (real time: one 10-second interval).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booth_with_an_interval_trigger_takes_and_posts_photos_by_itself() {
    use crate::helper::*;
    let sim = postbooth::sim::Simulator::start(postbooth::sim::SimOptions::default())
        .await
        .unwrap();
    let b = setup_with(
        &sim.base_url(),
        &[
            ("trigger", "kinds", "[\"socket\", \"interval\"]"),
            ("trigger", "interval_secs", "10"),
        ],
    );
    let daemon = b.start_daemon("daemon");
    let jobs = eventually(
        Duration::from_secs(60),
        "an interval photo posted",
        || async {
            let jobs = b.list();
            jobs.iter().any(|j| j["state"] == "Done").then_some(jobs)
        },
    )
    .await;
    assert!(!jobs.is_empty());
    assert!(daemon.log_text().contains("interval photos on"));
    drop(daemon);
    sim.shutdown().await;
}
