//! Cameras: the live-frame stream (preview), and the libcamera and gphoto2 cameras driven
//! through stand-ins of their command-line tools.

use crate::helper::{eventually, quoted, setup_with};
use postbooth::daemon::Daemon;
use postbooth::hw::camera::preview::PreviewReceiver;
use postbooth::sim::{SimOptions, Simulator};
use std::time::Duration;

/// The next preview frame a receiver sees, decoded: (seq, width, height).
async fn next_preview(rx: &mut PreviewReceiver) -> (u64, u32, u32) {
    tokio::time::timeout(Duration::from_secs(30), rx.changed())
        .await
        .expect("a preview frame within 30 s")
        .expect("the preview stream is open");
    let frame = rx.borrow_and_update().clone().expect("a frame, not None");
    let img = image::load_from_memory(&frame.jpeg).expect("preview frames are JPEGs");
    assert_eq!((img.width(), img.height()), (frame.width, frame.height));
    (frame.seq, frame.width, frame.height)
}

/// The test pattern and the folder camera both feed the daemon's one preview stream: small
/// JPEGs, several per watcher, and a shot in between changes nothing about the photo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_frames_reach_the_daemon_from_test_pattern_and_folder() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup_with(&sim.base_url(), &[]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    let preview = daemon.preview();
    let mut rx = preview.subscribe();
    let (a, w, h) = next_preview(&mut rx).await;
    assert_eq!((w, h), (640, 480), "640x480 camera, preview 640 wide");
    let job = daemon.shoot().await.unwrap();
    let (b, _, _) = next_preview(&mut rx).await;
    assert!(b > a, "frames keep coming: {a} then {b}");
    assert_eq!(job.blob.width, 640, "the photo is made as before");
    drop(rx);
    daemon.stop().await;

    // A folder: the preview shows the photo the next press would take.
    let incoming = s.dir.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    let img = image::RgbImage::from_pixel(1200, 800, image::Rgb([200, 30, 30]));
    img.save(incoming.join("a.jpg")).unwrap();
    let s2 = setup_with(
        &sim.base_url(),
        &[
            ("camera", "kind", &quoted("dir")),
            ("camera", "dir", &quoted(&incoming.display().to_string())),
        ],
    );
    let daemon = Daemon::start(s2.config()).await.unwrap();
    let mut rx = daemon.preview().subscribe();
    let (_, w, h) = next_preview(&mut rx).await;
    assert_eq!((w, h), (640, 427), "the folder's 3:2 photo, 640 wide");
    // Taken: the folder is empty, the preview says there is nothing to show.
    daemon.shoot().await.unwrap();
    eventually(Duration::from_secs(30), "an empty preview", || {
        let empty = rx.borrow().is_none();
        async move { empty.then_some(()) }
    })
    .await;
    daemon.stop().await;
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Camera tools through stand-ins (tests/standins): the booth finds them first on PATH.

/// A directory for the stand-ins: frames the camera "sees", plans, and their log.
pub struct Standins {
    pub dir: tempfile::TempDir,
}

impl Standins {
    /// `count` different JPEG frames of `w`x`h` (a real camera's frames differ each time).
    pub fn new(w: u32, h: u32, count: u8) -> Standins {
        let dir = tempfile::Builder::new()
            .prefix("postbooth-standins-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join("frames")).unwrap();
        for i in 0..count {
            // Gradients with sensor-like noise (a frame of flat colour has no detail for the
            // stand-ins to vary, see standins/standin.py `unique`).
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 27;
                image::Rgb([
                    (x * 200 / w + noise) as u8,
                    (y * 200 / h + noise) as u8,
                    (u32::from(i) * 40 + (h - y) * 150 / h) as u8,
                ])
            });
            img.save(dir.path().join(format!("frames/{i:03}.jpg")))
                .unwrap();
        }
        // Each set of stand-ins sees its own scene (a shared simulator counts by image).
        let tint: u8 = rand::random();
        let still = image::RgbImage::from_fn(w * 2, h * 2, |x, y| {
            let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 26;
            image::Rgb([(x % 192 + noise) as u8, (y % 192 + noise) as u8, tint])
        });
        still.save(dir.path().join("still.jpg")).unwrap();
        Standins { dir }
    }

    /// The environment a daemon needs to use them: PATH with the stand-ins first.
    pub fn env(&self) -> Vec<(String, String)> {
        let standins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins");
        let path = format!(
            "{}:{}",
            standins.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        vec![
            ("PATH".into(), path),
            (
                "POSTBOOTH_STANDIN_DIR".into(),
                self.dir.path().display().to_string(),
            ),
        ]
    }

    /// Sets what the next runs of `tool` do, one line per run.
    pub fn plan(&self, tool: &str, runs: &[&str]) {
        let text: String = runs.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(self.dir.path().join(format!("{tool}.plan")), text).unwrap();
    }

    /// Every event the stand-ins logged.
    pub fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Events of `tool` named `event`.
    pub fn count(&self, tool: &str, event: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e["tool"] == tool && e["event"] == event)
            .count()
    }

    /// No camera was ever held by two processes at once.
    pub fn assert_never_two_at_once(&self) {
        let overlaps: Vec<_> = self
            .events()
            .into_iter()
            .filter(|e| e["event"] == "overlap")
            .collect();
        assert!(
            overlaps.is_empty(),
            "two camera processes at once: {overlaps:?}"
        );
    }

    /// The pid of the newest `start` of `tool`.
    pub fn last_pid(&self, tool: &str) -> Option<i32> {
        self.events()
            .iter()
            .rev()
            .find(|e| e["tool"] == tool && e["event"] == "start")
            .and_then(|e| e["pid"].as_i64())
            .map(|p| p as i32)
    }
}

/// `postbooth shoot` through the control socket; the saved job's id and image sha256.
async fn shoot(socket: &std::path::Path) -> Result<(uuid::Uuid, String), String> {
    use postbooth::control::{self, Request};
    match tokio::time::timeout(
        Duration::from_secs(60),
        control::call(socket, &Request::Shoot),
    )
    .await
    {
        Ok(Ok(Some(resp))) if resp.ok => {
            let job = &resp.jobs[0];
            Ok((job.id, job.blob.sha256.clone()))
        }
        Ok(Ok(Some(resp))) => Err(format!("{:?}", resp.error)),
        other => Err(format!("{other:?}")),
    }
}

/// Waits until the daemon answers on its socket.
async fn wait_up(socket: &std::path::Path, daemon: &mut crate::helper::Daemon) {
    let up = tokio::time::timeout(Duration::from_secs(30), async {
        while !crate::helper::answers(socket).await {
            assert!(daemon.is_running(), "daemon exited:\n{}", daemon.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(up.is_ok(), "daemon not up:\n{}", daemon.log_text());
}

/// Every acknowledged photo is published exactly once (after the booth had time to post).
async fn posted_once(
    sim: &Simulator,
    acknowledged: &std::collections::BTreeMap<uuid::Uuid, String>,
    what: &str,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let all_posted = || {
        let posted = sim.publishes_by_image();
        acknowledged.values().all(|sha| posted.contains_key(sha))
    };
    while !all_posted() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {} images posted, {} photos acknowledged: {:?} vs {:?}",
            sim.publishes_by_image().len(),
            acknowledged.len(),
            sim.publishes_by_image(),
            acknowledged
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    crate::helper::assert_published_once(&sim.publishes_by_image(), acknowledged, what);
}

/// `kind = "libcamera"` with rpicam-vid and rpicam-still stand-ins: every shot is saved and
/// posted once; the stream is restarted after it is killed and after a full still; damaged
/// MJPEG frames never become photos; never two camera processes at once; autofocus is waited
/// for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libcamera_stream_and_stills_every_shot_posted_once() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let tools = Standins::new(640, 480, 4);
    let port = crate::helper::free_port();
    let booth = setup_with(
        &sim.base_url(),
        &[
            ("camera", "kind", &quoted("libcamera")),
            ("camera", "warmup_frames", "2"),
            // The guest screen's touch button: a press with a 1 s countdown.
            ("web", "listen", &quoted(&format!("127.0.0.1:{port}"))),
            ("trigger", "kinds", "[\"socket\", \"web\"]"),
            ("trigger", "countdown_secs", "1"),
        ],
    );
    let env = tools.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let socket = booth.socket();
    let mut daemon = booth.spawn_daemon("libcamera", &env);
    wait_up(&socket, &mut daemon).await;
    let mut acknowledged = std::collections::BTreeMap::new();
    for _ in 0..3 {
        let (id, sha) = shoot(&socket).await.expect("shot from the stream");
        acknowledged.insert(id, sha);
    }
    assert_eq!(
        tools.count("rpicam-vid", "start"),
        1,
        "one stream for all shots"
    );
    let args = tools.events()[0]["args"].clone();
    let args: Vec<&str> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["-q", "90"])
            && args.windows(2).any(|w| w == ["--width", "640"]),
        "quality and size from the config: {args:?}"
    );

    // Killed mid-stream: restarted (its next run sends every other frame damaged, in bursts
    // of a whole frame then a damaged one, so the newest frame at a press is most often the
    // damaged one), and shots go on: the retry takes the whole frame just before. A damaged frame is
    // never a photo (the saved photos all decode cleanly, as the simulator checks each one
    // it posts).
    tools.plan("rpicam-vid", &["damaged-bursts"]);
    let pid = tools.last_pid("rpicam-vid").unwrap();
    // SAFETY: kill(2) on the stand-in's pid, read from its log; it is our grandchild.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    eventually(Duration::from_secs(30), "the stream restarted", || {
        let n = tools.count("rpicam-vid", "start");
        async move { (n >= 2).then_some(()) }
    })
    .await;
    for _ in 0..3 {
        let (id, sha) = shoot(&socket)
            .await
            .unwrap_or_else(|e| panic!("shot after the restart: {e}\n{}", daemon.log_text()));
        acknowledged.insert(id, sha);
    }
    assert!(
        daemon.log_text().contains("camera stream ended"),
        "{}",
        daemon.log_text()
    );
    daemon.terminate();

    // Full stills: the stream stops, rpicam-still focuses (slowly) and captures, the stream
    // starts again.
    let text = std::fs::read_to_string(&booth.config).unwrap();
    std::fs::write(
        &booth.config,
        text.replace("[camera]\n", "[camera]\nstill = \"full\"\n"),
    )
    .unwrap();
    tools.plan("rpicam-still", &["slow-af", "ok"]);
    let mut daemon = booth.spawn_daemon("libcamera", &env);
    wait_up(&socket, &mut daemon).await;
    let before = tools.count("rpicam-vid", "start");
    eventually(Duration::from_secs(30), "the stream running", || {
        let n = tools.count("rpicam-vid", "start");
        async move { (n > 0).then_some(()) }
    })
    .await;
    for _ in 0..2 {
        let (id, sha) = shoot(&socket).await.expect("full still");
        acknowledged.insert(id, sha);
    }
    let stills: Vec<_> = tools
        .events()
        .into_iter()
        .filter(|e| e["tool"] == "rpicam-still" && e["event"] == "captured")
        .collect();
    assert_eq!(stills.len(), 2, "{stills:?}");
    assert!(
        stills.iter().all(|e| e["focused"] == true),
        "the booth waited for autofocus (2 s scan): {stills:?}"
    );
    eventually(
        Duration::from_secs(30),
        "the stream restarted after the stills",
        || {
            let n = tools.count("rpicam-vid", "start");
            async move { (n >= before + 2).then_some(()) }
        },
    )
    .await;
    assert!(daemon.log_text().contains("full-resolution still taken"));

    // A press with a countdown: rpicam-still starts (signal mode) when the countdown does and
    // takes its still on SIGUSR1 at the end, focused first; the stream comes back after.
    let before = tools.count("rpicam-vid", "start");
    let pressed = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://127.0.0.1:{port}/press"))
        .header("X-Postbooth", "press")
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 202);
    let want = acknowledged.len() + 1;
    eventually(Duration::from_secs(30), "the press's photo saved", || {
        let n = booth.list().len();
        async move { (n == want).then_some(()) }
    })
    .await;
    let events = tools.events();
    let signalled: Vec<_> = events
        .iter()
        .filter(|e| e["tool"] == "rpicam-still" && e["event"] == "start")
        .filter(|e| e["args"].as_array().unwrap().iter().any(|a| a == "-s"))
        .collect();
    assert_eq!(
        signalled.len(),
        1,
        "one still in signal mode: {signalled:?}"
    );
    let pid = &signalled[0]["pid"];
    let of_it = |event: &str| {
        events
            .iter()
            .filter(|e| &e["pid"] == pid && e["event"] == event)
            .count()
    };
    assert_eq!(
        (of_it("signal"), of_it("af-scan-done"), of_it("captured")),
        (1, 1, 1),
        "{events:?}"
    );
    eventually(
        Duration::from_secs(30),
        "the stream after the press",
        || {
            let n = tools.count("rpicam-vid", "start");
            async move { (n > before).then_some(()) }
        },
    )
    .await;
    assert!(daemon
        .log_text()
        .contains("full-resolution still taken at the end of the countdown"));
    for job in booth.list() {
        let id: uuid::Uuid = job["id"].as_str().unwrap().parse().unwrap();
        if let std::collections::btree_map::Entry::Vacant(v) = acknowledged.entry(id) {
            v.insert(job["sha256"].as_str().unwrap().to_string());
        }
    }
    tools.assert_never_two_at_once();
    posted_once(&sim, &acknowledged, "libcamera").await;
    daemon.terminate();
    sim.shutdown().await;
}

/// The newest frame of the PNG display shows `screen`.
/// How many frames the PNG display has written so far (`frame-NNNNNN.png`).
fn frames_written(frames: &std::path::Path) -> usize {
    std::fs::read_dir(frames).map_or(0, |dir| {
        dir.filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("frame-") && name.ends_with(".png")
            })
            .count()
    })
}

/// Whether the display drew `screen` in a frame after the first `since` ones. Every frame is
/// looked at, not only the latest: the post of an earlier photo may draw "Posted" over a
/// camera error a moment after it was shown.
fn display_shows(frames: &std::path::Path, since: usize, screen: postbooth::ui::Screen) -> bool {
    use postbooth::ui::canvas::Canvas;
    let mut want = Canvas::default();
    let status = postbooth::ui::Status {
        screen,
        ..postbooth::ui::Status::default()
    };
    postbooth::ui::screens::draw(&status, &mut want).unwrap();
    // The display draws on its own task: give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let shown = (since + 1..=frames_written(frames)).any(|n| {
            std::fs::read(frames.join(format!("frame-{n:06}.png")))
                .ok()
                .and_then(|b| Canvas::from_png(&b, 1))
                .is_some_and(|c| c == want)
        });
        if shown || std::time::Instant::now() > deadline {
            return shown;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fake systemd `NOTIFY_SOCKET` that notes when each `WATCHDOG=1` ping came (seconds since
/// the epoch, the clock of the stand-ins' log), read on its own thread as systemd does.
struct WatchdogPings {
    socket: std::path::PathBuf,
    times: std::sync::Arc<std::sync::Mutex<Vec<f64>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl WatchdogPings {
    fn listen(socket: std::path::PathBuf) -> WatchdogPings {
        let sock = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (t, st) = (times.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    if String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .any(|l| l == "WATCHDOG=1")
                    {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_secs_f64();
                        t.lock().unwrap().push(now);
                    }
                }
            }
        });
        WatchdogPings {
            socket,
            times,
            stop,
        }
    }

    /// Pings that came after `from` and before `to` (stand-in log times).
    fn between(&self, from: f64, to: f64) -> usize {
        let times = self.times.lock().unwrap();
        times.iter().filter(|&&t| from < t && t < to).count()
    }

    fn count(&self) -> usize {
        self.times.lock().unwrap().len()
    }
}

impl Drop for WatchdogPings {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `kind = "gphoto2"` with a gphoto2 stand-in and each DSLR error injected: busy and focus
/// failures are retried, a hung capture is killed and the port reset, a camera claimed by
/// gvfs or asleep is said on the display, in the shot's error and in `doctor`; the daemon stays
/// up and the systemd watchdog keeps being pinged (during the hang too), every acknowledged
/// photo is posted once, live view and photos never overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gphoto2_errors_are_said_and_nothing_acknowledged_is_lost() {
    use postbooth::ui::{CameraTrouble, Screen};
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let tools = Standins::new(640, 480, 3);
    let png = tools.dir.path().join("display");
    let booth = setup_with(
        &sim.base_url(),
        &[
            ("camera", "kind", &quoted("gphoto2")),
            ("camera", "capture_timeout_secs", "3"),
            ("display", "kind", &quoted("png")),
            ("display", "png_dir", &quoted(&png.display().to_string())),
        ],
    );
    // Under systemd with a watchdog: a ping every 0.2 s (half of WATCHDOG_USEC).
    let pings = WatchdogPings::listen(tools.dir.path().join("notify.sock"));
    let mut env = tools.env();
    env.push(("NOTIFY_SOCKET".into(), pings.socket.display().to_string()));
    env.push(("WATCHDOG_USEC".into(), "400000".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let socket = booth.socket();
    tools.plan(
        "gphoto2",
        &[
            "ok", "busy", "ok", "nofocus", "nofocus", "nofocus", "hang", "ok",
        ],
    );
    let mut daemon = booth.spawn_daemon("gphoto2", &env);
    wait_up(&socket, &mut daemon).await;
    let mut acknowledged = std::collections::BTreeMap::new();
    let mut ok = |r: Result<(uuid::Uuid, String), String>| {
        let (id, sha) = r.expect("a DSLR photo");
        acknowledged.insert(id, sha);
    };
    ok(shoot(&socket).await);
    // PTP Device Busy once: tried again, saved.
    ok(shoot(&socket).await);
    // No focus three times: the guest is asked to press again.
    let since = frames_written(&png);
    let e = shoot(&socket).await.unwrap_err();
    assert!(e.contains("could not focus"), "{e}");
    assert!(display_shows(
        &png,
        since,
        Screen::CameraTrouble(CameraTrouble::TryAgain)
    ));
    // A hung capture: killed after 3 s, the port reset, the booth answers.
    let e = shoot(&socket).await.unwrap_err();
    assert!(e.contains("did not deliver the photo within 3 s"), "{e}");
    assert_eq!(tools.count("gphoto2", "reset"), 1);
    // The watchdog was pinged all the while the capture hung (a ping every 0.2 s for 3 s; a
    // daemon frozen by the hung camera would send none and systemd would restart it).
    let when = |event: &str| {
        tools
            .events()
            .iter()
            .find(|e| e["tool"] == "gphoto2" && e["event"] == event)
            .and_then(|e| e["t"].as_f64())
            .unwrap_or_else(|| panic!("no gphoto2 {event} event"))
    };
    let during_hang = pings.between(when("hang"), when("reset"));
    assert!(
        during_hang >= 3,
        "{during_hang} watchdog pings while the capture hung:\n{}",
        daemon.log_text()
    );
    ok(shoot(&socket).await);
    assert!(daemon.is_running());

    // Claimed by gvfs: said in words with the fix.
    std::fs::write(tools.dir.path().join("dslr.state"), "claimed").unwrap();
    let since = frames_written(&png);
    let e = shoot(&socket).await.unwrap_err();
    assert!(
        e.contains("gvfs-gphoto2-volume-monitor") && e.contains("mask"),
        "{e}"
    );
    assert!(display_shows(
        &png,
        since,
        Screen::CameraTrouble(CameraTrouble::InUse)
    ));
    // Asleep or off.
    std::fs::write(tools.dir.path().join("dslr.state"), "asleep").unwrap();
    let since = frames_written(&png);
    let e = shoot(&socket).await.unwrap_err();
    assert!(e.contains("switch it on"), "{e}");
    assert!(display_shows(
        &png,
        since,
        Screen::CameraTrouble(CameraTrouble::Asleep)
    ));
    // Woken up: photos again.
    std::fs::write(tools.dir.path().join("dslr.state"), "ok").unwrap();
    ok(shoot(&socket).await);
    assert!(daemon.is_running(), "{}", daemon.log_text());
    // And the watchdog is still pinged after every error.
    let so_far = pings.count();
    eventually(Duration::from_secs(30), "more watchdog pings", || {
        let n = pings.count();
        async move { (n > so_far + 1).then_some(()) }
    })
    .await;
    let captured: Vec<_> = tools
        .events()
        .into_iter()
        .filter(|e| e["event"] == "captured")
        .collect();
    assert!(
        captured.iter().all(|e| e["keep"] == false),
        "nothing kept on the card"
    );
    tools.assert_never_two_at_once();
    posted_once(&sim, &acknowledged, "gphoto2").await;
    daemon.terminate();

    // doctor says the same words.
    let doctor = |state: &str| {
        std::fs::write(tools.dir.path().join("dslr.state"), state).unwrap();
        let mut cmd = booth.command(&["doctor"]);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        crate::helper::run_to_end(cmd)
    };
    let out = doctor("claimed");
    let line = out.failed_check("camera ");
    assert!(line.contains("gvfs-gphoto2-volume-monitor"), "{line}");
    let out = doctor("asleep");
    assert!(
        out.failed_check("camera ").contains("switch it on"),
        "{}",
        out.both()
    );
    let out = doctor("ok");
    assert!(out.stdout.contains("Canon EOS 600D"), "{}", out.both());
    sim.shutdown().await;
}

/// The pid of every `gphoto2 --capture-movie` (live view) the stand-in started.
fn live_views(tools: &Standins) -> Vec<i64> {
    tools
        .events()
        .iter()
        .filter(|e| {
            e["tool"] == "gphoto2"
                && e["event"] == "start"
                && e["args"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "--capture-movie"))
        })
        .filter_map(|e| e["pid"].as_i64())
        .collect()
}

/// A DSLR's live view runs only while someone watches the preview: not at start, not after a
/// photo nobody watched; started for a viewer of /preview.mjpg, stopped and restarted around a
/// photo taken while watched, stopped once the viewer has gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gphoto2_live_view_runs_only_while_someone_watches() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let tools = Standins::new(640, 480, 3);
    let port = crate::helper::free_port();
    let booth = setup_with(
        &sim.base_url(),
        &[
            ("camera", "kind", &quoted("gphoto2")),
            ("web", "listen", &quoted(&format!("127.0.0.1:{port}"))),
        ],
    );
    let env = tools.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let socket = booth.socket();
    let mut daemon = booth.spawn_daemon("liveview", &env);
    wait_up(&socket, &mut daemon).await;
    let mut acknowledged = std::collections::BTreeMap::new();
    let (id, sha) = shoot(&socket).await.expect("a DSLR photo");
    acknowledged.insert(id, sha);
    assert_eq!(
        live_views(&tools),
        Vec::<i64>::new(),
        "live view ran with nobody watching:\n{}",
        daemon.log_text()
    );

    // Someone opens the guest screen's preview: live view starts and frames arrive.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut stream = client
        .get(format!("http://127.0.0.1:{port}/preview.mjpg"))
        .send()
        .await
        .unwrap();
    let mut seen = Vec::new();
    while !seen.windows(2).any(|w| w == [0xFF, 0xD9]) {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.chunk())
            .await
            .expect("a preview frame within 30 s")
            .unwrap()
            .expect("the stream goes on");
        seen.extend_from_slice(&chunk);
    }
    assert_eq!(live_views(&tools).len(), 1);
    // A photo while watched: live view lets go of the camera, then starts again.
    let (id, sha) = shoot(&socket).await.expect("a DSLR photo while watched");
    acknowledged.insert(id, sha);
    eventually(
        Duration::from_secs(30),
        "live view again after the photo",
        || {
            let n = live_views(&tools).len();
            async move { (n == 2).then_some(()) }
        },
    )
    .await;
    tools.assert_never_two_at_once();

    // The viewer goes: live view is stopped (SIGTERM, which the stand-in logs).
    drop(stream);
    let pid = *live_views(&tools).last().unwrap();
    eventually(Duration::from_secs(30), "live view stopped", || {
        let stopped = tools
            .events()
            .iter()
            .any(|e| e["pid"] == pid && e["event"] == "exit");
        async move { stopped.then_some(()) }
    })
    .await;
    assert!(
        daemon
            .log_text()
            .contains("live view stopped: nobody watches the preview"),
        "{}",
        daemon.log_text()
    );
    let (id, sha) = shoot(&socket).await.expect("a DSLR photo after");
    acknowledged.insert(id, sha);
    assert_eq!(live_views(&tools).len(), 2, "not restarted for nobody");
    posted_once(&sim, &acknowledged, "gphoto2 live view").await;
    daemon.terminate();
    sim.shutdown().await;
}

/// `kind = "auto"` takes the DSLR when one answers, else the Pi camera, and says so;
/// `camera.preview = "libcamera"` runs the Pi camera for the live view while the DSLR takes
/// the photos (no DSLR live view then); `doctor` lists every camera it sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_picks_a_camera_hybrid_preview_and_doctor_lists_them() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let tools = Standins::new(640, 480, 3);
    let env = tools.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let auto = setup_with(&sim.base_url(), &[("camera", "kind", &quoted("auto"))]);
    let mut daemon = auto.spawn_daemon("auto", &env);
    wait_up(&auto.socket(), &mut daemon).await;
    shoot(&auto.socket()).await.expect("a photo from the DSLR");
    assert!(
        daemon.log_text().contains("chose kind=Gphoto2"),
        "{}",
        daemon.log_text()
    );
    daemon.terminate();
    std::fs::write(tools.dir.path().join("dslr.state"), "asleep").unwrap();
    let mut daemon = auto.spawn_daemon("auto2", &env);
    wait_up(&auto.socket(), &mut daemon).await;
    shoot(&auto.socket())
        .await
        .expect("a photo from the Pi camera");
    assert!(
        daemon.log_text().contains("chose kind=Libcamera"),
        "{}",
        daemon.log_text()
    );
    daemon.terminate();
    std::fs::write(tools.dir.path().join("dslr.state"), "ok").unwrap();

    // Hybrid: the DSLR takes the photo, the Pi camera streams for the live view.
    let hybrid = setup_with(
        &sim.base_url(),
        &[
            ("camera", "kind", &quoted("gphoto2")),
            ("camera", "preview", &quoted("libcamera")),
        ],
    );
    let before = tools.count("rpicam-vid", "start");
    let mut daemon = hybrid.spawn_daemon("hybrid", &env);
    wait_up(&hybrid.socket(), &mut daemon).await;
    eventually(Duration::from_secs(30), "the preview stream", || {
        let n = tools.count("rpicam-vid", "start");
        async move { (n > before).then_some(()) }
    })
    .await;
    let movies_before = tools
        .events()
        .iter()
        .filter(|e| e["tool"] == "gphoto2" && e["event"] == "start")
        .filter(|e| e["args"].to_string().contains("capture-movie"))
        .count();
    shoot(&hybrid.socket()).await.expect("a DSLR photo");
    let movies_after = tools
        .events()
        .iter()
        .filter(|e| e["tool"] == "gphoto2" && e["event"] == "start")
        .filter(|e| e["args"].to_string().contains("capture-movie"))
        .count();
    assert_eq!(
        movies_before, movies_after,
        "no DSLR live view beside a preview camera"
    );
    tools.assert_never_two_at_once();
    daemon.terminate();

    let mut cmd = auto.command(&["doctor"]);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let out = crate::helper::run_to_end(cmd);
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no {name} line\n{}", out.both()))
            .to_string()
    };
    assert!(line("cameras (gphoto2)").contains("Canon EOS 600D usb:001,004"));
    let pi = line("cameras (libcamera)");
    assert!(pi.contains("imx708") && pi.contains("4608x2592"), "{pi}");
    sim.shutdown().await;
}

/// Shutter-to-saved through `postbooth shoot` (its wall time: it returns once the photo is
/// durable), libcamera stream mode against the folder camera on the same 1920x1080 frames, in
/// one run; the medians go to docs/PERFORMANCE.md. Run by hand:
/// `cargo test --test main -- --ignored camera::measure_shutter_to_saved --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_shutter_to_saved() {
    let shots: usize = crate::helper::env_number("POSTBOOTH_MEASURE_SHOTS", 15);
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let tools = Standins::new(1920, 1080, 4);
    let env = tools.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let keys = |kind: &str, dir: &str| {
        vec![
            ("camera", "kind", quoted(kind)),
            ("camera", "width", "1920".to_string()),
            ("camera", "height", "1080".to_string()),
            ("camera", "dir", quoted(dir)),
        ]
    };
    let mut medians = Vec::new();
    for kind in ["libcamera", "dir"] {
        let incoming = tools.dir.path().join(format!("incoming-{kind}"));
        std::fs::create_dir_all(&incoming).unwrap();
        let k = keys(kind, &incoming.display().to_string());
        let k: Vec<(&str, &str, &str)> = k.iter().map(|(s, k, v)| (*s, *k, v.as_str())).collect();
        let booth = setup_with(&sim.base_url(), &k);
        let mut daemon = booth.spawn_daemon(kind, &env);
        wait_up(&booth.socket(), &mut daemon).await;
        let mut times = Vec::new();
        for i in 0..shots {
            if kind == "dir" {
                // The same frames as the stream, one file per shot.
                let src = tools.dir.path().join(format!("frames/{:03}.jpg", i % 4));
                std::fs::copy(src, incoming.join(format!("{i:03}.jpg"))).unwrap();
            }
            let started = std::time::Instant::now();
            let out = booth.postbooth(&["shoot"]);
            assert!(out.status.success(), "{}", out.both());
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        daemon.terminate();
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = times[times.len() / 2];
        println!("{kind}: median shutter-to-saved {median:.0} ms over {shots} shots (min {:.0}, max {:.0})", times[0], times[times.len() - 1]);
        medians.push(median);
    }
    println!("ratio libcamera/dir: {:.2}", medians[0] / medians[1]);
    sim.shutdown().await;
}

/// `camera.still = "full"`: how long after the shutter the still is exposed (the stand-in's
/// "captured", after its autofocus scan and mode switch), taken at once (`postbooth shoot`:
/// the stream is stopped and rpicam-still started at the shutter) and after a 3 s countdown (a
/// press: both happen during the countdown, SIGUSR1 at its end). Run by hand:
/// `cargo test --test main -- --ignored camera::measure_full_still_gap --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_full_still_gap() {
    let shots: usize = crate::helper::env_number("POSTBOOTH_MEASURE_SHOTS", 5);
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let tools = Standins::new(1920, 1080, 4);
    let port = crate::helper::free_port();
    let booth = setup_with(
        &sim.base_url(),
        &[
            ("camera", "kind", &quoted("libcamera")),
            ("camera", "still", &quoted("full")),
            ("camera", "width", "1920"),
            ("camera", "height", "1080"),
            ("web", "listen", &quoted(&format!("127.0.0.1:{port}"))),
            ("trigger", "kinds", "[\"socket\", \"web\"]"),
            ("trigger", "countdown_secs", "3"),
        ],
    );
    let env = tools.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let socket = booth.socket();
    let mut daemon = booth.spawn_daemon("gap", &env);
    wait_up(&socket, &mut daemon).await;
    let wall = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let last = |event: &str| {
        tools
            .events()
            .iter()
            .rev()
            .find(|e| e["tool"] == "rpicam-still" && e["event"] == event)
            .map(|e| e["t"].as_f64().unwrap())
            .unwrap()
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let mut at_once = Vec::new();
    for _ in 0..shots {
        // Let the stream run again (warm-up) before the next shutter.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let shutter = wall();
        shoot(&socket).await.expect("a full still");
        at_once.push((last("captured") - shutter) * 1000.0);
    }
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut counted = Vec::new();
    for _ in 0..shots {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let n = booth.list().len();
        let r = client
            .post(format!("http://127.0.0.1:{port}/press"))
            .header("X-Postbooth", "press")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        eventually(Duration::from_secs(60), "the press's photo", || {
            let saved = booth.list().len();
            async move { (saved > n).then_some(()) }
        })
        .await;
        counted.push((last("captured") - last("signal")) * 1000.0);
    }
    let log = daemon.log_text();
    let field = |name: &str| -> Vec<f64> {
        log.lines()
            .filter_map(|l| l.split(&format!("{name}=")).nth(1))
            .filter_map(|v| v.split_whitespace().next()?.parse().ok())
            .collect()
    };
    let (m, lo, hi) = median(at_once);
    println!(
        "at once: shutter to exposure median {m:.0} ms (min {lo:.0}, max {hi:.0}) over {shots}"
    );
    let (m, lo, hi) = median(counted);
    println!("3 s countdown: shutter (end of countdown) to exposure median {m:.0} ms (min {lo:.0}, max {hi:.0}) over {shots}");
    for name in [
        "stream_stop_ms",
        "gap_ms",
        "ready_ms",
        "shutter_to_still_ms",
    ] {
        let v = field(name);
        if !v.is_empty() {
            let (m, lo, hi) = median(v);
            println!("daemon {name}: median {m:.0} (min {lo:.0}, max {hi:.0})");
        }
    }
    daemon.terminate();
    sim.shutdown().await;
}

/// SIGKILL with both camera tools: the daemon is killed at random moments (mid-shot, mid-
/// stream, mid-still), restarted, and in the end every acknowledged photo is posted once; the
/// killed daemon's camera tool dies with it (no second process on the camera after a restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_libcamera_and_gphoto2_loses_nothing() {
    use rand::{Rng, SeedableRng};
    let cycles: usize = crate::helper::env_number("POSTBOOTH_CAMERA_CRASH_CYCLES", 8);
    let seed: u64 = crate::helper::env_number("POSTBOOTH_CRASH_SEED", 20261206);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for (kind, still) in [("libcamera", "full"), ("gphoto2", "stream")] {
        // One simulator per camera: it counts publishes per image, and both stand-ins start
        // from the same still picture.
        let sim = Simulator::start(SimOptions {
            quota_total: 100_000,
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let tools = Standins::new(640, 480, 3);
        let env = tools.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let booth = setup_with(
            &sim.base_url(),
            &[
                ("camera", "kind", &quoted(kind)),
                ("camera", "still", &quoted(still)),
            ],
        );
        let socket = booth.socket();
        let mut acknowledged = std::collections::BTreeMap::new();
        for _ in 0..cycles {
            let mut daemon = booth.spawn_daemon(kind, &env);
            wait_up(&socket, &mut daemon).await;
            let shot = tokio::spawn({
                let socket = socket.clone();
                async move { shoot(&socket).await }
            });
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..2500))).await;
            daemon.kill9();
            if let Ok(Ok((id, sha))) = shot.await {
                acknowledged.insert(id, sha);
            }
        }
        let mut daemon = booth.spawn_daemon(kind, &env);
        wait_up(&socket, &mut daemon).await;
        let (id, sha) = shoot(&socket).await.expect("a photo after the kills");
        acknowledged.insert(id, sha);
        tools.assert_never_two_at_once();
        posted_once(&sim, &acknowledged, &format!("{kind}, seed {seed}")).await;
        daemon.terminate();
        sim.shutdown().await;
    }
}
