//! systemd's notify protocol (sd_notify(3)), for `Type=notify` and `WatchdogSec=`: one
//! datagram per message to the Unix socket named by `NOTIFY_SOCKET` (a path, or `@name` for an
//! abstract socket). `READY=1` once the booth can take photos, `STATUS=` with what the display
//! says (shown by `systemctl status`), `WATCHDOG=1` every half `WATCHDOG_USEC` while the
//! [`Heartbeat`] says no loop is stuck, and `STOPPING=1` on shutdown. Without `NOTIFY_SOCKET`
//! (not under systemd, or `Type=simple`) every call does nothing.

use crate::heartbeat::Heartbeat;
use crate::ui::{self, Status};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// Where `NOTIFY_SOCKET` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Path(PathBuf),
    /// The name without the leading `@` (Linux abstract namespace).
    Abstract(Vec<u8>),
}

/// Parses `NOTIFY_SOCKET`.
pub fn parse_socket(value: &str) -> Result<Target, String> {
    if let Some(name) = value.strip_prefix('@') {
        if name.is_empty() {
            return Err("NOTIFY_SOCKET is \"@\" with no name".into());
        }
        Ok(Target::Abstract(name.as_bytes().to_vec()))
    } else if value.starts_with('/') {
        Ok(Target::Path(PathBuf::from(value)))
    } else {
        Err(format!(
            "NOTIFY_SOCKET={value:?} is neither an absolute path nor an @abstract name \
             (vsock is not supported)"
        ))
    }
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
/// advises, so one late ping does not get the booth killed. `None` when systemd asked for no
/// watchdog, or asked another process (`WATCHDOG_PID` is not ours).
pub fn watchdog_interval(
    usec: Option<&str>,
    pid: Option<&str>,
    my_pid: u32,
) -> Result<Option<Duration>, String> {
    let Some(usec) = usec else { return Ok(None) };
    if let Some(pid) = pid {
        match pid.trim().parse::<u32>() {
            Ok(p) if p == my_pid => {}
            Ok(_) => return Ok(None),
            Err(_) => return Err(format!("WATCHDOG_PID={pid:?} is not a process id")),
        }
    }
    match usec.trim().parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(us) => Ok(Some(
            Duration::from_micros(us / 2).max(Duration::from_millis(1)),
        )),
        Err(_) => Err(format!(
            "WATCHDOG_USEC={usec:?} is not a number of microseconds"
        )),
    }
}

/// The `STATUS=` text: the display's two lines on one line.
pub fn status_text(status: &Status) -> String {
    let [top, bottom] = ui::lines(status);
    let text = if bottom.is_empty() {
        top
    } else {
        format!("{top}; {bottom}")
    };
    // A newline would start a new protocol field.
    text.replace('\n', " ")
}

/// What to do at one watchdog tick. Pure, so the "stuck loop stops the pings" rule is tested
/// without waiting for anything.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    /// Healthy: ping.
    Ping,
    /// Just became stuck: say so once (log and STATUS), no ping.
    BecameStuck(String),
    /// Still stuck: no ping, nothing new to say.
    StillStuck,
    /// Healthy again after being stuck: say so and ping.
    Recovered,
}

pub fn tick(health: Result<(), String>, was_stuck: bool) -> Tick {
    match (health, was_stuck) {
        (Ok(()), false) => Tick::Ping,
        (Ok(()), true) => Tick::Recovered,
        (Err(why), false) => Tick::BecameStuck(why),
        (Err(_), true) => Tick::StillStuck,
    }
}

/// The connection to systemd, or nothing.
pub struct Notifier {
    socket: Option<(UnixDatagram, Target)>,
    /// The last send failed: log only the first failure of a run of them.
    failing: std::sync::atomic::AtomicBool,
}

impl Notifier {
    fn none() -> Notifier {
        Notifier {
            socket: None,
            failing: Default::default(),
        }
    }

    fn new(socket: UnixDatagram, target: Target) -> Notifier {
        Notifier {
            socket: Some((socket, target)),
            failing: Default::default(),
        }
    }

    /// From `NOTIFY_SOCKET`. A bad value is logged and the notifier does nothing: the booth
    /// still runs (under `Type=notify` systemd will then time the start out and say so).
    pub fn from_env() -> Notifier {
        let Some(value) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier::none();
        };
        let value = value.to_string_lossy().into_owned();
        let target = match parse_socket(&value) {
            Ok(t) => t,
            Err(e) => {
                error!(error = %e, "cannot tell systemd anything");
                return Notifier::none();
            }
        };
        // Non-blocking: a notification is never worth stalling a runtime thread for. If the
        // receiver's queue is full the message is dropped (and logged); the next one follows.
        match UnixDatagram::unbound().and_then(|s| s.set_nonblocking(true).map(|()| s)) {
            Ok(socket) => Notifier::new(socket, target),
            Err(e) => {
                error!(error = %e, "cannot create a socket to talk to systemd");
                Notifier::none()
            }
        }
    }

    pub fn is_active(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends one message (`KEY=value` lines). Failures are logged, never fatal.
    pub fn send(&self, message: &str) {
        let Some((socket, target)) = &self.socket else {
            return;
        };
        let sent = match target {
            Target::Path(path) => socket.send_to(message.as_bytes(), path),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
                    .and_then(|addr| socket.send_to_addr(message.as_bytes(), &addr))
            }
        };
        use std::sync::atomic::Ordering;
        match sent {
            Ok(_) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    info!("notifications reach systemd again");
                }
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    warn!(error = %e, ?target, "cannot send a notification to systemd (dropped; not logged again until one gets through)");
                }
            }
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping: finishing the save in progress");
    }
}

/// Sends `STATUS=` whenever the display's words change, until the status channel closes.
pub fn spawn_status(
    notifier: std::sync::Arc<Notifier>,
    mut status: watch::Receiver<Status>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = String::new();
        loop {
            let text = status_text(&status.borrow_and_update());
            if text != last {
                notifier.status(&text);
                last = text;
            }
            if status.changed().await.is_err() {
                return;
            }
        }
    })
}

/// Pings the watchdog every `interval` while `heart` is healthy, until `shutdown`.
pub fn spawn_watchdog(
    notifier: std::sync::Arc<Notifier>,
    interval: Duration,
    heart: Heartbeat,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        info!(
            interval_ms = interval.as_millis() as u64,
            "systemd watchdog on"
        );
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stuck = false;
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = ticker.tick() => {}
            }
            match tick(heart.check(), stuck) {
                Tick::Ping => notifier.send("WATCHDOG=1"),
                Tick::Recovered => {
                    stuck = false;
                    info!("no loop is stuck any more; pinging the systemd watchdog again");
                    notifier.send("WATCHDOG=1");
                }
                Tick::BecameStuck(why) => {
                    stuck = true;
                    error!(%why, "stuck: no more watchdog pings, systemd will restart the booth (queued photos are safe)");
                    notifier.status(&format!("stuck: {why}"));
                }
                Tick::StillStuck => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::Screen;

    #[test]
    fn socket_paths_and_abstract_names() {
        assert_eq!(
            parse_socket("/run/systemd/notify"),
            Ok(Target::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            parse_socket("@/org/freedesktop/systemd1/notify/1"),
            Ok(Target::Abstract(
                b"/org/freedesktop/systemd1/notify/1".to_vec()
            ))
        );
        assert!(parse_socket("@").is_err());
        let relative = parse_socket("run/notify").unwrap_err();
        assert!(relative.contains("absolute path"), "{relative}");
        assert!(parse_socket("vsock:2:1234").is_err());
    }

    #[test]
    fn watchdog_pings_at_half_the_timeout_for_this_process_only() {
        assert_eq!(watchdog_interval(None, None, 7), Ok(None));
        assert_eq!(
            watchdog_interval(Some("30000000"), None, 7),
            Ok(Some(Duration::from_secs(15)))
        );
        assert_eq!(
            watchdog_interval(Some("30000000"), Some("7"), 7),
            Ok(Some(Duration::from_secs(15)))
        );
        // Meant for another process (e.g. a wrapper that exec'd us under another pid).
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), Ok(None));
        assert_eq!(watchdog_interval(Some("0"), None, 7), Ok(None));
        // Never a zero interval, which would spin.
        assert_eq!(
            watchdog_interval(Some("1"), None, 7),
            Ok(Some(Duration::from_millis(1)))
        );
        let bad = watchdog_interval(Some("30s"), None, 7).unwrap_err();
        assert!(bad.contains("WATCHDOG_USEC"), "{bad}");
        assert!(watchdog_interval(Some("1000"), Some("x"), 7).is_err());
    }

    #[test]
    fn a_stuck_loop_stops_the_pings_until_it_recovers() {
        assert_eq!(tick(Ok(()), false), Tick::Ping);
        assert_eq!(
            tick(Err("publisher busy".into()), false),
            Tick::BecameStuck("publisher busy".into())
        );
        assert_eq!(tick(Err("publisher busy".into()), true), Tick::StillStuck);
        assert_eq!(tick(Ok(()), true), Tick::Recovered);
    }

    #[test]
    fn status_text_is_one_line_of_display_words() {
        let status = Status {
            screen: Screen::Idle,
            waiting: 2,
            ..Status::default()
        };
        assert_eq!(status_text(&status), "Press the button; 2 photos waiting");
        assert_eq!(status_text(&Status::default()), "Press the button");
    }

    #[test]
    fn sends_datagrams_to_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::new(UnixDatagram::unbound().unwrap(), Target::Path(path));
        notifier.ready("Press the button");
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=Press the button");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("postbooth-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let notifier = Notifier::new(
            UnixDatagram::unbound().unwrap(),
            parse_socket(&format!("@{name}")).unwrap(),
        );
        notifier.send("WATCHDOG=1");
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }
}
