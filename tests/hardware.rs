//! Missing hardware: a V4L2 camera, a GPIO chip or an I2C bus that is not there must give a
//! clear message naming the device and the usual fix, and never stop the booth.

use crate::helper::{quoted, Booth};
use postbooth::ui::canvas::Canvas;
use postbooth::ui::{screens, Screen, Status};
use std::time::{Duration, Instant};

/// Nothing listens on the discard port: publishing just waits, which these tests ignore.
const GRAPH: &str = "http://127.0.0.1:9/v21.0";

fn wait_for(what: &str, cond: impl Fn() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + crate::helper::DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "never saw {what}:\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn drawn(screen: Screen) -> Canvas {
    let mut c = Canvas::default();
    let status = Status {
        screen,
        ..Status::default()
    };
    screens::draw(&status, &mut c).unwrap();
    c
}

#[test]
fn v4l2_camera_missing_is_shown_and_the_booth_keeps_running() {
    let probe = tempfile::tempdir().unwrap();
    let frames = probe.path().join("frames");
    let booth = Booth::new(
        GRAPH,
        &[
            ("camera", "kind", Some(&quoted("v4l2"))),
            ("camera", "device", Some(&quoted("/dev/video9"))),
            ("display", "kind", Some(&quoted("png"))),
            (
                "display",
                "png_dir",
                Some(&quoted(&frames.display().to_string())),
            ),
        ],
    );
    let mut daemon = booth.start_daemon("v4l2");
    // The display says so, in words people understand (the PNG display is the same screen
    // code as the OLED).
    let latest = frames.join("latest.png");
    let missing = drawn(Screen::CameraMissing);
    wait_for(
        "the camera-missing screen",
        || {
            std::fs::read(&latest)
                .ok()
                .and_then(|b| Canvas::from_png(&b, 1))
                .is_some_and(|c| c == missing)
        },
        || daemon.log_text(),
    );
    // A shot says what is missing and how to fix it, and the booth stays up.
    let out = booth.postbooth(&["shoot"]);
    assert!(!out.status.success(), "{}", out.both());
    let said = out.both();
    assert!(
        said.contains("/dev/video9 is missing") && said.contains("cable"),
        "{said}"
    );
    assert!(daemon.is_running(), "{}", daemon.log_text());
    assert!(
        daemon.log_text().contains("camera missing"),
        "{}",
        daemon.log_text()
    );
    daemon.terminate();
    let doctor = booth.postbooth(&["doctor"]);
    let line = doctor.failed_check("camera ");
    assert!(line.contains("/dev/video9 is missing"), "{line}");
}

#[test]
fn missing_gpio_chip_is_named_and_the_socket_still_shoots() {
    let booth = Booth::new(
        GRAPH,
        &[
            ("trigger", "kinds", Some(r#"["gpio", "socket"]"#)),
            ("trigger", "gpio_chip", Some(&quoted("/dev/gpiochip9"))),
        ],
    );
    let mut daemon = booth.start_daemon("gpio");
    wait_for(
        "the button warning",
        || daemon.log_text().contains("button not available"),
        || daemon.log_text(),
    );
    let log = daemon.log_text();
    assert!(
        log.contains("GPIO chip /dev/gpiochip9 is missing") && log.contains("trigger.gpio_chip"),
        "{log}"
    );
    booth.shoot();
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.terminate();
    let doctor = booth.postbooth(&["doctor"]);
    let line = doctor.failed_check("gpio ");
    assert!(line.contains("/dev/gpiochip9 is missing"), "{line}");
}

/// An I2C display that is not there (no bus: I2C not enabled) is logged once, naming the bus
/// and raspi-config, and retried; the booth takes photos all the while.
#[test]
fn missing_i2c_bus_is_named_once_and_the_booth_keeps_shooting() {
    let booth = Booth::new(
        GRAPH,
        &[
            ("display", "kind", Some(&quoted("ssd1306"))),
            ("display", "i2c_bus", Some(&quoted("/dev/i2c-9"))),
            ("display", "retry_secs", Some("1")),
        ],
    );
    let mut daemon = booth.start_daemon("i2c");
    // Several screen changes, each a failed flush.
    booth.shoot();
    booth.shoot();
    booth.shoot();
    assert!(daemon.is_running(), "{}", daemon.log_text());
    assert_eq!(booth.list().len(), 3);
    let log = daemon.log_text();
    assert!(
        log.contains("I2C bus /dev/i2c-9 is missing") && log.contains("raspi-config"),
        "{log}"
    );
    assert_eq!(
        log.matches("display not working").count(),
        1,
        "one line per outage:\n{log}"
    );
    daemon.terminate();
    let doctor = booth.postbooth(&["doctor"]);
    let line = doctor.failed_check("display ");
    assert!(
        line.contains("/dev/i2c-9") && line.contains("raspi-config"),
        "{line}"
    );
}
