//! Shared test set-up: a config file pointed at a simulator, a private token file, and the
//! real `postbooth` binary as a child process that is always cleaned up.

#![allow(dead_code)]

use postbooth::config::Config;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_postbooth");

/// A store directory, a token file and a config file, in a temp dir that goes away with it.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub store_dir: PathBuf,
}

/// Writes a config for `postbooth run` against the simulator at `graph_url`: test-pattern
/// camera, `serve` media host on a free port, no display, short waits.
pub fn setup(graph_url: &str, extra: &str) -> Setup {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "sim-token").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let store_dir = dir.path().join("store");
    let port = free_port();
    let text = format!(
        r#"[instagram]
graph_url = "{graph_url}"
user_id = "17841400000000000"
access_token_file = "{token}"
caption = "test booth #{{n}} {{time}}"
request_timeout_secs = 1

[media]
host = "serve"
listen = "127.0.0.1:{port}"
public_base_url = "http://127.0.0.1:{port}"

[camera]
kind = "test-pattern"
width = 640
height = 480

[display]
kind = "none"

[store]
dir = "{store}"
min_free_mib = 1

[publish]
backoff_base_ms = 50
backoff_cap_ms = 400
poll_interval_ms = 50
auth_pause_secs = 1
{extra}"#,
        token = token.display(),
        store = store_dir.display(),
    );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, text).unwrap();
    Setup {
        dir,
        config_path,
        store_dir,
    }
}

impl Setup {
    pub fn config(&self) -> Config {
        Config::load(&self.config_path).unwrap()
    }

    pub fn socket(&self) -> PathBuf {
        postbooth::store::control_socket_path(&self.store_dir)
    }

    /// Starts `postbooth run` with extra environment variables.
    pub fn spawn_daemon(&self, env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config_path)
            .arg("run")
            .env("RUST_LOG", "postbooth=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().unwrap(),
        }
    }

    /// Runs a CLI command against this config; (exit ok, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }
}

/// A child daemon, killed when dropped so a failing test leaves nothing running.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits for the child to exit; `None` if it is still running at the deadline.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Is a daemon answering on `socket`?
pub async fn answers(socket: &Path) -> bool {
    matches!(
        postbooth::control::call(socket, &postbooth::control::Request::List).await,
        Ok(Some(_))
    )
}
