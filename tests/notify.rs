//! systemd's notify protocol against a fake `NOTIFY_SOCKET`: the real `postbooth run` says
//! READY=1 once the store is open and the camera answered, then pings the watchdog at half of
//! WATCHDOG_USEC, and says STOPPING=1 on SIGTERM. Both socket kinds systemd uses are covered:
//! a path and an abstract (`@name`) socket.

use crate::helper::{Booth, DEADLINE};
use std::os::unix::net::UnixDatagram;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Reads every datagram on its own thread (as systemd does, so the daemon's queue never
/// fills), until the test drops the receiver.
struct Listener {
    messages: mpsc::Receiver<String>,
    log: std::path::PathBuf,
}

impl Listener {
    fn new(socket: UnixDatagram, log: std::path::PathBuf) -> Listener {
        let (tx, messages) = mpsc::channel();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        if tx
                            .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                            .is_err()
                        {
                            return;
                        }
                    }
                    // A timeout: is anyone still listening?
                    Err(_) => {
                        if tx.send(String::new()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Listener { messages, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Messages until one has the line `field`; returns them all, that one last.
    fn until(&self, field: &str) -> Vec<String> {
        self.until_line(field, |l| l == field)
    }

    /// Messages until one has a line that `wanted` accepts; returns them all, that one last.
    fn until_line(&self, field: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "no {field} within {DEADLINE:?}; got {seen:?}:\n{}",
                self.log()
            );
            let message = self.messages.recv().unwrap();
            if message.is_empty() {
                continue;
            }
            let done = message.lines().any(&wanted);
            seen.push(message);
            if done {
                return seen;
            }
        }
    }
}

fn booth() -> Booth {
    // Nothing is published here; an address that refuses connections is enough.
    Booth::new("http://127.0.0.1:9/v21.0", &[])
}

#[test]
fn ready_after_the_store_opens_then_watchdog_pings_then_stopping() {
    let b = booth();
    let path = b.dir.path().join("notify.sock");
    let listener = Listener::new(
        UnixDatagram::bind(&path).unwrap(),
        b.dir.path().join("notify.log"),
    );
    let mut daemon = b.spawn_daemon(
        "notify",
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            // 0.4 s: a ping every 0.2 s.
            ("WATCHDOG_USEC", "400000"),
        ],
    );

    let before_ready = listener.until("READY=1");
    // READY (with its STATUS) comes first: no watchdog ping before it.
    assert_eq!(before_ready.len(), 1, "{before_ready:?}");
    assert!(
        before_ready[0].lines().any(|l| l.starts_with("STATUS=")),
        "READY carries a status: {before_ready:?}"
    );
    // READY means the store is open and the booth answers.
    assert!(
        b.socket().exists(),
        "READY=1 before the control socket exists"
    );

    let pings = listener.until("WATCHDOG=1");
    // And it keeps pinging, not just once.
    let more = listener.until("WATCHDOG=1");
    assert!(
        pings.iter().chain(&more).all(|m| !m.contains("READY=1")),
        "READY sent twice: {pings:?} {more:?}"
    );

    // The booth works while watched, and the display's words reach `systemctl status` (the
    // status may come before or after the next ping: both are sent as they happen).
    b.shoot();
    listener.until_line("STATUS=", |l| l.starts_with("STATUS="));
    listener.until("WATCHDOG=1");

    let status = daemon.terminate();
    assert!(status.success(), "exit {status}:\n{}", listener.log());
    listener.until("STOPPING=1");
}

#[test]
fn abstract_notify_socket_gets_ready() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let b = booth();
    let name = format!(
        "postbooth-test-notify-{}-{}",
        std::process::id(),
        b.dir.path().display()
    );
    let socket = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
    let listener = Listener::new(socket, b.dir.path().join("notify.log"));
    // As under systemd: stderr goes to the journal, which says so with JOURNAL_STREAM.
    let mut daemon = b.spawn_daemon(
        "notify",
        &[
            ("NOTIFY_SOCKET", &format!("@{name}")),
            ("JOURNAL_STREAM", "8:12345"),
        ],
    );
    listener.until("READY=1");
    // SIGTERM right after READY=1 is a clean stop, as systemd may send it at once.
    let status = daemon.terminate();
    assert!(status.success(), "exit {status}:\n{}", listener.log());
    listener.until("STOPPING=1");
    // Journal lines: plain text, no time stamp (the journal adds its own), one per event.
    let log = listener.log();
    assert!(log.contains("postbooth is running"), "{log}");
    for line in log.lines() {
        assert!(
            !line.contains('\u{1b}'),
            "colour codes in the journal: {line:?}"
        );
        assert!(
            !line.starts_with(|c: char| c.is_ascii_digit()),
            "time stamp in the journal: {line:?}"
        );
    }
}

#[test]
fn without_watchdog_usec_there_are_no_pings() {
    let b = booth();
    let path = b.dir.path().join("notify.sock");
    let listener = Listener::new(
        UnixDatagram::bind(&path).unwrap(),
        b.dir.path().join("notify.log"),
    );
    let mut daemon = b.spawn_daemon("notify", &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    listener.until("READY=1");
    // A photo proves the daemon's loops ran for a while.
    b.shoot();
    let status = daemon.terminate();
    assert!(status.success(), "exit {status}:\n{}", listener.log());
    // Everything from READY to STOPPING (the last message).
    let rest = listener.until("STOPPING=1");
    assert!(
        rest.iter().all(|m| !m.contains("WATCHDOG=1")),
        "pinged without a watchdog: {rest:?}"
    );
}
