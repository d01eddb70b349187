//! The web pages in a real headless Chromium (Debian's `chromium` + `chromium-driver`, installed
//! by scripts/install-test-tools.sh), driven over WebDriver with fantoccini (chosen over
//! chromiumoxide by measurement, docs/PERFORMANCE.md): a guest presses
//! the touch button and sees the countdown, the photo and a QR code that decodes (rqrr) to the
//! expected URL; the operator logs in and approves a held photo, which the simulator then sees
//! published exactly once; the idle slideshow and the offline "will post when online" screen are
//! shown with fixed photos (the folder camera), so their snapshots hold no clock. Screenshots are
//! compared with the reviewed ones in
//! tests/snapshots/web/ (tolerant of anti-aliasing; `POSTBOOTH_UPDATE_SNAPSHOTS=1` rewrites them
//! for review).

use crate::helper::*;
use crate::web::{client, get_json, web_booth, PASSWORD};
use fantoccini::{Client, ClientBuilder, Locator};
use postbooth::daemon::Daemon;
use postbooth::sim::{SimOptions, Simulator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WIDTH: u32 = 1024;
const HEIGHT: u32 = 640;

/// chromedriver on a free port, stopped when dropped, and a browser session on it.
struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/lib/chromium"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} not found: run scripts/install-test-tools.sh (it installs Debian's chromium and chromium-driver)");
}

async fn browser() -> Browser {
    let port = free_port();
    let driver = Command::new(tool("chromedriver"))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let caps: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": tool("chromium").display().to_string(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--font-render-hinting=none",
                    format!("--window-size={WIDTH},{HEIGHT}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }))
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = eventually(Duration::from_secs(30), "chromedriver session", || {
        let (url, caps) = (url.clone(), caps.clone());
        async move {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&url)
                .await
                .ok()
        }
    })
    .await;
    // A page that never finishes loading fails the test in half a minute, not five.
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            None,
            Some(Duration::from_secs(30)),
            None,
        ))
        .await
        .unwrap();
    Browser {
        driver,
        client,
        _profile: profile,
    }
}

/// The page's text for `css`, once it satisfies `ok`.
async fn wait_text(c: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if ok(&t) {
                    return t;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Decodes the one QR code in a PNG screenshot.
fn decode_qr(png: &[u8]) -> String {
    let img = image::load_from_memory(png).unwrap().to_luma8();
    let (w, h) = img.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            img.get_pixel(x as u32, y as u32)[0]
        });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the screen");
    grids[0].decode().expect("the QR code decodes").1
}

/// Compares a screenshot with the reviewed snapshot `tests/snapshots/web/<name>.png`: the mean
/// difference of 8x8-pixel block averages must stay small (anti-aliasing, a clock digit) and
/// no block may change completely (a missing button, a moved panel).
fn assert_snapshot(name: &str, png: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/web");
    let path = dir.join(format!("{name}.png"));
    if std::env::var_os("POSTBOOTH_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, png).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}: run with POSTBOOTH_UPDATE_SNAPSHOTS=1, look at it, commit it",
            path.display()
        )
    });
    let blocks = |png: &[u8]| {
        let img = image::load_from_memory(png).unwrap().to_luma8();
        let (w, h) = img.dimensions();
        let mut out = Vec::new();
        for by in 0..h / 8 {
            for bx in 0..w / 8 {
                let mut sum = 0u32;
                for y in 0..8 {
                    for x in 0..8 {
                        sum += u32::from(img.get_pixel(bx * 8 + x, by * 8 + y)[0]);
                    }
                }
                out.push(sum as f64 / 64.0);
            }
        }
        ((w, h), out)
    };
    let (size_a, a) = blocks(png);
    let (size_b, b) = blocks(&expected);
    assert_eq!(size_a, size_b, "{name}: screenshot size changed");
    let diffs: Vec<f64> = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).collect();
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    let changed = diffs.iter().filter(|d| **d > 96.0).count();
    if mean > 6.0 || changed > diffs.len() * 3 / 100 {
        let seen = std::env::temp_dir().join(format!("postbooth-{name}-seen.png"));
        std::fs::write(&seen, png).unwrap();
        panic!(
            "{name}: screenshot differs from {} (mean block difference {mean:.2}, {changed} blocks changed); this run's is {}",
            path.display(),
            seen.display()
        );
    }
}

async fn screenshot(c: &Client) -> Vec<u8> {
    c.screenshot().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_presses_the_button_and_scans_the_qr_code() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    // Held for the operator, so the photo waits with the download page's QR code.
    let s = web_booth(
        &sim,
        &[
            ("web", "public_url", "\"http://192.168.4.1:8080\""),
            ("trigger", "countdown_secs", "3"),
            ("publish", "review", "\"operator\""),
            ("web", "slideshow_after_secs", "0"),
        ],
    );
    let daemon = Daemon::start(s.config()).await.unwrap();
    let base = format!("http://{}", daemon.web_addr().unwrap());
    let b = browser().await;
    let c = &b.client;
    c.goto(&format!("{base}/")).await.unwrap();
    let press = c
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#press:not([hidden])"))
        .await
        .unwrap();
    assert_eq!(press.text().await.unwrap(), "Take a photo");
    // The live preview is showing camera frames.
    eventually(Duration::from_secs(30), "preview frames", || async {
        let w = c
            .execute(
                "return document.getElementById('preview').naturalWidth",
                vec![],
            )
            .await
            .ok()?;
        (w.as_u64()? > 0).then_some(())
    })
    .await;
    press.click().await.unwrap();
    // The countdown, in step with the booth's.
    let n = wait_text(c, "#count", "the countdown", |t| {
        ["3", "2", "1"].contains(&t)
    })
    .await;
    assert!(!n.is_empty());
    let shot = screenshot(c).await;
    assert_snapshot("guest-countdown", &shot);
    // The photo just taken, "Saved", and the download page's QR code.
    wait_text(c, "#status-text", "Saved", |t| t.contains("Saved")).await;
    let jobs = daemon.store.blocking(|s| s.jobs()).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let state: serde_json::Value = get_json(format!("{base}/state")).await;
    let page = state["photo"]["page"].as_str().unwrap().to_string();
    assert!(page.starts_with("http://192.168.4.1:8080/p/"), "{page}");
    eventually(Duration::from_secs(30), "the photo shown", || async {
        let w = c
            .execute(
                "return document.getElementById('photo-img').naturalWidth",
                vec![],
            )
            .await
            .ok()?;
        (w.as_u64()? > 0).then_some(())
    })
    .await;
    let shot = screenshot(c).await;
    assert_eq!(
        decode_qr(&shot),
        page,
        "the QR code leads to the download page"
    );
    assert_snapshot("guest-saved-held", &shot);
    // The download page the QR code leads to, on this booth's own address.
    let local_page = page.replace("http://192.168.4.1:8080", &base);
    c.goto(&local_page).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#download"))
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "the photo on its page", || async {
        let w = c
            .execute(
                "return document.getElementById('download-img').naturalWidth",
                vec![],
            )
            .await
            .ok()?;
        (w.as_u64()? == u64::from(jobs[0].blob.width)).then_some(())
    })
    .await;
    // Approved: posted, and the QR code now leads to the post.
    postbooth::review::decide(&daemon.store, jobs[0].id, postbooth::job::Decision::Approve)
        .unwrap();
    daemon.wake_publisher();
    c.goto(&format!("{base}/")).await.unwrap();
    wait_text(c, "#status-text", "Posted", |t| t.contains("Posted")).await;
    let done = all_done(&daemon, Duration::from_secs(60)).await;
    let permalink = done[0].state.permalink().unwrap().to_string();
    let shot = screenshot(c).await;
    assert_eq!(decode_qr(&shot), permalink, "the QR code leads to the post");
    assert_snapshot("guest-posted", &shot);
    let _ = b.client.clone().close().await;
    daemon.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_logs_in_and_approves_a_held_photo_posted_once() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = web_booth(&sim, &[("publish", "review", "\"operator\"")]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    let base = format!("http://{}", daemon.web_addr().unwrap());
    let held = daemon.shoot().await.unwrap();
    let b = browser().await;
    let c = &b.client;
    c.goto(&format!("{base}/admin")).await.unwrap();
    let password = c
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#password"))
        .await
        .unwrap();
    assert_snapshot("console-login", &screenshot(c).await);
    password.send_keys(PASSWORD).await.unwrap();
    c.find(Locator::Css("#login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let row = format!("tr[data-id='{}'][data-state='Held']", held.id);
    if c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(&row))
        .await
        .is_err()
    {
        panic!(
            "no held row at {}:\n{}",
            c.current_url().await.unwrap(),
            c.source().await.unwrap()
        );
    }
    // The cookie is not readable by scripts (HttpOnly).
    let cookies = c.execute("return document.cookie", vec![]).await.unwrap();
    assert_eq!(cookies, "");
    assert_eq!(sim.publishes_by_image().len(), 0, "held: not posted");
    c.find(Locator::Css(&format!(
        "{row} button[data-action='approve']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let done = format!("tr[data-id='{}'][data-state='Done']", held.id);
    c.wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(&done))
        .await
        .unwrap();
    assert_eq!(sim.publishes_by_image().get(&held.blob.sha256), Some(&1));
    assert_eq!(sim.publishes_by_image().len(), 1, "published exactly once");
    let page = c.source().await.unwrap();
    assert!(!page.contains(TOKEN), "no token in the console");
    // The gallery's photo loaded.
    eventually(Duration::from_secs(30), "the gallery photo", || async {
        let w = c
            .execute(
                "const i = document.querySelector('#gallery img'); return i ? i.naturalWidth : 0",
                vec![],
            )
            .await
            .ok()?;
        (w.as_u64()? > 0).then_some(())
    })
    .await;
    assert_snapshot("console", &screenshot(c).await);
    // Doctor's checks, on demand (below the fold: after the snapshot, since it scrolls).
    c.find(Locator::Css("#doctor-run"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(
            "#doctor tr[data-name='network'][data-verdict='ok']",
        ))
        .await
        .unwrap();
    assert!(!c.source().await.unwrap().contains(TOKEN));
    let _ = b.client.clone().close().await;
    daemon.stop().await;
    sim.shutdown().await;
}

/// `publish.review = "guest"`: after the shot the screen asks to press again; the same touch
/// button ("Post it!") posts the photo, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_posts_the_photo_by_pressing_again() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = web_booth(
        &sim,
        &[
            ("publish", "review", "\"guest\""),
            // Long enough for a loaded machine; the test never waits it out.
            ("publish", "guest_confirm_secs", "60"),
            ("web", "slideshow_after_secs", "0"),
        ],
    );
    let daemon = Daemon::start(s.config()).await.unwrap();
    let base = format!("http://{}", daemon.web_addr().unwrap());
    let b = browser().await;
    let c = &b.client;
    c.goto(&format!("{base}/")).await.unwrap();
    let press = c
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#press:not([hidden])"))
        .await
        .unwrap();
    press.click().await.unwrap();
    wait_text(c, "#status-text", "press again", |t| {
        t.contains("Press again")
    })
    .await;
    wait_text(c, "#press", "the post button", |t| t == "Post it!").await;
    eventually(Duration::from_secs(30), "the photo shown", || async {
        let w = c
            .execute(
                "return document.getElementById('photo-img').naturalWidth",
                vec![],
            )
            .await
            .ok()?;
        (w.as_u64()? > 0).then_some(())
    })
    .await;
    assert_snapshot("guest-ask-to-post", &screenshot(c).await);
    let held = daemon.store.blocking(|s| s.jobs()).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].state.name(), "Held");
    assert_eq!(
        sim.publishes_by_image().len(),
        0,
        "not posted before the guest says so"
    );
    c.find(Locator::Css("#press"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "#status-text", "Posted", |t| t.contains("Posted")).await;
    let done = all_done(&daemon, Duration::from_secs(60)).await;
    assert_eq!(done.len(), 1, "the second press took no photo");
    assert_eq!(sim.publishes_by_image().get(&done[0].blob.sha256), Some(&1));
    let _ = b.client.clone().close().await;
    daemon.stop().await;
    sim.shutdown().await;
}

/// A fixed photo for the folder camera (no clock, no counter: the same pixels every run): a
/// sky, a sun and hills, in one of two palettes.
fn fixed_photo(path: &Path, variant: u8) {
    let (w, h) = (800u32, 600u32);
    let (sky, sun, hill): ([f32; 3], [u8; 3], [u8; 3]) = match variant {
        0 => ([40.0, 110.0, 200.0], [250, 200, 60], [40, 140, 70]),
        _ => ([120.0, 40.0, 120.0], [255, 120, 90], [30, 60, 110]),
    };
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let ground = 420.0 + 60.0 * (fx / 130.0).sin();
        if fy > ground {
            return image::Rgb(hill);
        }
        let (dx, dy) = (fx - 560.0, fy - 200.0);
        if dx * dx + dy * dy < 90.0 * 90.0 {
            return image::Rgb(sun);
        }
        let t = fy / ground;
        image::Rgb(sky.map(|c| (c + (255.0 - c) * t * 0.6) as u8))
    });
    img.save(path).unwrap();
}

/// A booth with the folder camera and these fixed photos waiting in its folder.
fn booth_with_fixed_photos(
    graph_url_sim: &Simulator,
    photos: u8,
    extra: &[(&str, &str, &str)],
) -> Booth {
    let folder = tempfile::tempdir().unwrap().keep();
    for n in 0..photos {
        fixed_photo(&folder.join(format!("photo-{n}.png")), n);
    }
    let dir = quoted(&folder.display().to_string());
    let mut keys = vec![
        ("camera", "kind", "\"dir\""),
        ("camera", "dir", dir.as_str()),
    ];
    keys.extend_from_slice(extra);
    web_booth(graph_url_sim, &keys)
}

/// Waits until `#id` shows a loaded image; returns its `src`.
async fn loaded_image(c: &Client, id: &str) -> String {
    let script = format!(
        "const i = document.getElementById('{id}'); \
         return (i && i.complete && i.naturalWidth > 0 && !i.closest('[hidden]')) ? i.getAttribute('src') : null"
    );
    eventually(Duration::from_secs(30), id, || async {
        let v = c.execute(&script, vec![]).await.ok()?;
        v.as_str().map(str::to_string)
    })
    .await
}

/// Idle: a slideshow of the recent photos, newest first, one after the other. The photos were
/// taken before the booth (re)started, so the screen has no "photo just taken" to show first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_screen_shows_a_slideshow_of_recent_photos() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = booth_with_fixed_photos(&sim, 2, &[("web", "slideshow_after_secs", "1")]);
    let first = Daemon::start(s.config()).await.unwrap();
    first.shoot().await.unwrap();
    first.shoot().await.unwrap();
    let done = all_done(&first, Duration::from_secs(60)).await;
    assert_eq!(done.len(), 2);
    first.stop().await;
    let daemon = Daemon::start(s.config()).await.unwrap();
    let base = format!("http://{}", daemon.web_addr().unwrap());
    let slides: Vec<String> = get_json(format!("{base}/slides")).await;
    assert_eq!(slides.len(), 2, "{slides:?}");
    let b = browser().await;
    let c = &b.client;
    c.goto(&format!("{base}/")).await.unwrap();
    // The newest photo first; a screenshot taken while the slide changed is taken again.
    let shot = loop {
        let before = loaded_image(c, "slide").await;
        let shot = screenshot(c).await;
        if before == slides[0] && loaded_image(c, "slide").await == before {
            break shot;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_snapshot("guest-slideshow", &shot);
    // Then the next one.
    eventually(Duration::from_secs(30), "the second slide", || async {
        (loaded_image(c, "slide").await == slides[1]).then_some(())
    })
    .await;
    let _ = b.client.clone().close().await;
    daemon.stop().await;
    sim.shutdown().await;
}

/// Offline (the network to Instagram is down): "will post when online", with the QR code of the
/// photo's own download page under `web.public_url`, so the guest takes the photo home now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_the_guest_screen_says_will_post_and_links_to_the_photo() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = booth_with_fixed_photos(
        &sim,
        1,
        &[
            ("web", "public_url", "\"http://192.168.4.1:8080\""),
            ("web", "slideshow_after_secs", "0"),
        ],
    );
    let mut config = s.config();
    // Nothing listens there: every call fails to connect, as with the network down.
    config.instagram.graph_url = format!("http://127.0.0.1:{}/v21.0", free_port());
    let daemon = Daemon::start(config).await.unwrap();
    let base = format!("http://{}", daemon.web_addr().unwrap());
    let job = daemon.shoot().await.unwrap();
    let b = browser().await;
    let c = &b.client;
    c.goto(&format!("{base}/")).await.unwrap();
    wait_text(c, "#status-sub", "will post when online", |t| {
        t == "will post when online"
    })
    .await;
    loaded_image(c, "photo-img").await;
    let shot = screenshot(c).await;
    let state: serde_json::Value = get_json(format!("{base}/state")).await;
    assert_eq!(state["screen"], "offline");
    assert_eq!(state["photo"]["id"], job.id.to_string());
    let page = state["photo"]["page"].as_str().unwrap();
    let link = page
        .strip_prefix("http://192.168.4.1:8080/p/")
        .unwrap_or_else(|| panic!("{page} is not under web.public_url"));
    assert!(!link.is_empty() && !link.contains('/'), "{page}");
    assert_eq!(
        decode_qr(&shot),
        page,
        "the QR code leads to the photo's download page"
    );
    assert_snapshot("guest-offline", &shot);
    // The link the QR code holds serves this photo (on the booth's own address here).
    let photo = client()
        .get(format!("{base}/p/{link}/photo.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status().as_u16(), 200);
    let bytes = photo.bytes().await.unwrap();
    assert_eq!(
        bytes.len() as u64,
        std::fs::metadata(daemon.store.photo_path(&job))
            .unwrap()
            .len()
    );
    assert_eq!(sim.publishes_by_image().len(), 0);
    let _ = b.client.clone().close().await;
    daemon.stop().await;
    sim.shutdown().await;
}
