//! Golden snapshots of every screen: each is drawn to a 128×64 canvas and compared pixel for
//! pixel with the reviewed PNG in tests/snapshots/ (stored 3× so people can read them; the
//! README shows the same files).
//!
//! After changing a screen on purpose: `UPDATE_SNAPSHOTS=1 cargo test --all-targets screens`,
//! then LOOK at every changed PNG before committing it.

use postbooth::ui::canvas::Canvas;
use postbooth::ui::{screens, Screen, Status};
use std::path::PathBuf;

const SCALE: u32 = 3;
const PERMALINK: &str = "https://www.instagram.com/p/C0dEfGhIjKl/";

fn countdown(secs: u32, shot: usize, of: usize) -> Screen {
    Screen::Countdown { secs, shot, of }
}

/// Every screen the booth can show, with a file name.
pub fn gallery() -> Vec<(&'static str, Status)> {
    let s = |screen, waiting| Status {
        screen,
        waiting,
        notice: None,
    };
    vec![
        ("idle", s(Screen::Idle, 0)),
        (
            "idle-notice",
            Status {
                notice: Some("Login: 5 days left".into()),
                ..Status::default()
            },
        ),
        ("countdown-3", s(countdown(3, 1, 1), 0)),
        ("countdown-2", s(countdown(2, 1, 1), 0)),
        ("countdown-1", s(countdown(1, 1, 1), 0)),
        ("countdown-carousel", s(countdown(3, 2, 4), 0)),
        ("smile", s(Screen::Smile, 0)),
        ("saving", s(Screen::Saving, 0)),
        ("saved", s(Screen::Saved, 3)),
        ("publishing", s(Screen::Publishing { n: 2, of: 5 }, 5)),
        (
            "posted-qr",
            s(
                Screen::Posted {
                    permalink: Some(PERMALINK.into()),
                },
                2,
            ),
        ),
        ("posted", s(Screen::Posted { permalink: None }, 2)),
        ("offline", s(Screen::Offline, 7)),
        ("login-needed", s(Screen::LoginNeeded, 4)),
        ("account-problem", s(Screen::AccountProblem, 4)),
        ("rate-limited", s(Screen::RateLimited, 4)),
        ("disk-full", s(Screen::DiskFull, 0)),
        ("camera-missing", s(Screen::CameraMissing, 0)),
        ("starting", s(Screen::Starting, 0)),
        ("error", s(Screen::Error("E-STORE".into()), 0)),
    ]
}

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

#[test]
fn every_screen_matches_its_snapshot() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let dir = snapshot_dir();
    let mut problems = Vec::new();
    for (name, status) in gallery() {
        let mut canvas = Canvas::default();
        screens::draw(&status, &mut canvas).unwrap();
        let path = dir.join(format!("{name}.png"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, canvas.to_png(SCALE)).unwrap();
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            problems.push(format!("{name}: {} is missing", path.display()));
            continue;
        };
        match Canvas::from_png(&bytes, SCALE) {
            None => problems.push(format!("{name}: {} is not a 384x192 frame", path.display())),
            Some(golden) if golden != canvas => problems.push(format!(
                "{name}: {} pixels differ from {}",
                canvas.diff_count(&golden),
                path.display()
            )),
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "screens changed (if on purpose: UPDATE_SNAPSHOTS=1 cargo test --all-targets screens, \
         then look at the PNGs):\n{}",
        problems.join("\n")
    );
}

/// No two screens look the same: a person can tell every state apart.
#[test]
fn every_screen_is_distinct() {
    let frames: Vec<(&str, Canvas)> = gallery()
        .into_iter()
        .map(|(name, status)| {
            let mut c = Canvas::default();
            screens::draw(&status, &mut c).unwrap();
            (name, c)
        })
        .collect();
    for (i, (a, ca)) in frames.iter().enumerate() {
        for (b, cb) in &frames[i + 1..] {
            assert!(ca.diff_count(cb) > 20, "{a} and {b} look the same");
        }
    }
}

/// `postbooth demo` shows the real screens: the Braille frames it prints (66 columns, so
/// they fit an 80-column terminal) are, pixel for pixel, the countdown and the "Posted" screen with the QR code of the permalink it reports.
#[test]
fn the_demo_draws_the_real_screens_with_the_posts_qr_code() {
    // Through the test runner (qemu for an ARM build), like every other run of the binary.
    let mut cmd = crate::helper::postbooth_command();
    cmd.args(["demo", "--shots", "1", "--screens"]);
    crate::helper::without_proxies(&mut cmd);
    let out = crate::helper::run_to_end(cmd);
    assert!(out.status.success(), "{}", out.both());
    let lines: Vec<&str> = out.stdout.lines().collect();
    let frames: Vec<Canvas> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with('\u{250c}'))
        .filter_map(|(i, _)| lines.get(i..i + 18))
        .filter_map(|frame| Canvas::from_braille(&frame.join("\n")))
        .collect();
    assert!(
        frames.len() >= 4,
        "too few frames read back:\n{}",
        out.both()
    );
    let wide: Vec<&&str> = lines.iter().filter(|l| l.chars().count() > 80).collect();
    assert!(
        wide.iter()
            .all(|l| !"\u{250c}\u{2502}\u{2514}".contains(l.chars().next().unwrap())),
        "frame lines wider than 80 columns: {wide:?}"
    );
    let drawn = |screen| {
        let mut c = Canvas::default();
        screens::draw(
            &Status {
                screen,
                ..Status::default()
            },
            &mut c,
        )
        .unwrap();
        c
    };
    let at = |c: &Canvas| frames.iter().position(|f| f == c);
    let counted: Vec<Option<usize>> = [3, 2, 1]
        .map(|secs| at(&drawn(countdown(secs, 1, 1))))
        .to_vec();
    assert!(
        counted.iter().all(Option::is_some) && counted.windows(2).all(|w| w[0] < w[1]),
        "countdown frames 3, 2, 1 in order: {counted:?}\n{}",
        out.both()
    );
    let permalink = out
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no permalink printed\n{}", out.both()));
    let posted = drawn(Screen::Posted {
        permalink: Some(permalink.to_string()),
    });
    assert_eq!(
        frames.last(),
        Some(&posted),
        "the last frame is Posted with the QR code of {permalink}\n{}",
        out.both()
    );
}
