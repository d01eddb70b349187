//! Shared test set-up: a booth (config file, private token file, store dir) pointed at a Graph
//! API, the real `postbooth` binary run as a command or as a daemon child that is always
//! cleaned up, and polling helpers. Conditions are polled with generous deadlines, never timed.

#![allow(dead_code)]

pub const BIN: &str = env!("CARGO_BIN_EXE_postbooth");

pub mod heap;

use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `postbooth` binary as a command. When the suite runs under qemu-user for an ARM target
/// (scripts/cross-build.sh), the kernel cannot exec an ARM binary by itself (no binfmt_misc
/// on CI machines), so `POSTBOOTH_TEST_RUNNER` names the emulator to start it with, e.g.
/// `qemu-aarch64-static` (its library prefix comes from `QEMU_LD_PREFIX`).
pub fn postbooth_command() -> Command {
    command_for(Path::new(BIN))
}

/// A command that runs `program`, a binary of the target being tested (the `postbooth` binary,
/// or this test binary again), under `POSTBOOTH_TEST_RUNNER` when one is set.
pub fn command_for(program: &Path) -> Command {
    match test_runner() {
        Some(runner) => {
            let mut words = runner.split_whitespace();
            let mut cmd = Command::new(words.next().unwrap());
            cmd.args(words).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Starts `cmd`, a target binary. Under an emulator it also makes sure the program started:
/// qemu-user turns the spawn into a fork of this busy, many-threaded emulated process, and
/// that copy can hang before its exec, so the program never runs. The aarch64 suite once saw
/// a daemon silent for 60 s and still "running", with nothing of it in its log. Such a copy
/// (still this test binary after 20 s) is killed and the command started again, as said on
/// stderr. Natively, and once the program runs, nothing is retried.
pub fn spawn(cmd: &mut Command) -> Child {
    let mut child = cmd.spawn().expect("the postbooth binary starts");
    if test_runner().is_none() {
        return child;
    }
    for _ in 0..3 {
        if !hung_before_exec(&mut child, cmd, Duration::from_secs(20)) {
            return child;
        }
        eprintln!(
            "emulator: the child for {:?} hung before its exec (a copy of this test process \
             after 20 s); killed and started again",
            cmd.get_args().collect::<Vec<_>>()
        );
        let _ = child.kill();
        let _ = child.wait();
        child = cmd.spawn().expect("the postbooth binary starts");
    }
    child
}

/// Whether `child` is still a copy of this process `within` after its spawn: its command line
/// (the host's, as qemu-user does not fake another process') is not `cmd`'s yet and names
/// this test binary.
fn hung_before_exec(child: &mut Child, cmd: &Command, within: Duration) -> bool {
    let expected: Vec<std::ffi::OsString> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_os_string())
        .collect();
    let this_binary = std::env::current_exe().unwrap_or_default();
    let path = format!("/proc/{}/cmdline", child.id());
    let deadline = Instant::now() + within;
    loop {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            return false;
        };
        let args: Vec<std::ffi::OsString> = bytes
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| {
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(a).to_os_string()
            })
            .collect();
        if args == expected || !args.iter().any(|a| Path::new(a) == this_binary) {
            return false;
        }
        if Instant::now() > deadline {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The emulator the tests' target binaries run under (`POSTBOOTH_TEST_RUNNER`), if any.
pub fn test_runner() -> Option<String> {
    std::env::var("POSTBOOTH_TEST_RUNNER")
        .ok()
        .filter(|r| !r.trim().is_empty())
}

pub const USER_ID: &str = "17841400000000000";
pub const TOKEN: &str = "sim-token";
/// Generous: conditions are polled, never timed.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A TOML string literal.
pub fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

pub fn write_private(path: &Path, text: &str, mode: u32) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
    // The umask may have cleared bits of `mode`; set it exactly.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// What a finished command printed.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// `doctor` exited non-zero and its line for `check` says FAIL; returns that line.
    pub fn failed_check(&self, check: &str) -> &str {
        assert!(!self.status.success(), "{}", self.both());
        let line = self
            .stdout
            .lines()
            .find(|l| l.contains(check))
            .unwrap_or_else(|| panic!("no {check} line\n{}", self.both()));
        assert!(line.starts_with("FAIL"), "{}", self.both());
        line
    }

    /// The command exited non-zero and its stderr says each of `words` (what is wrong, where,
    /// how to fix it: what the operator reads).
    pub fn assert_refused_saying(&self, words: &[&str]) {
        assert!(!self.status.success(), "{}", self.both());
        for word in words {
            assert!(
                self.stderr.contains(word),
                "the error does not say {word:?}\n{}",
                self.both()
            );
        }
    }

    pub fn both(&self) -> String {
        format!(
            "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

pub fn without_proxies(cmd: &mut Command) -> &mut Command {
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env_remove("RUST_LOG").env_remove("JOURNAL_STREAM")
}

/// Runs a command to completion, killing it if it is still going after the deadline.
pub fn run_to_end(mut cmd: Command) -> Out {
    without_proxies(&mut cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut cmd);
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!(
                "command did not finish within 60 s ({status}); stderr so far: {}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs `cmd` to its end on a thread of its own; join the handle for its output.
pub fn in_background(cmd: Command) -> std::thread::JoinHandle<Out> {
    std::thread::spawn(move || run_to_end(cmd))
}

/// A config file, a 0600 token file and a store directory in a tempdir. The config points at
/// `graph_url`, the test-pattern camera, no display, the `serve` host on a free port and short
/// backoffs; `overrides` set (`Some`) or remove (`None`) keys, values written as raw TOML.
pub struct Booth {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub store: PathBuf,
    pub token: PathBuf,
}

impl Booth {
    pub fn new(graph_url: &str, overrides: &[(&str, &str, Option<&str>)]) -> Booth {
        let dir = tempfile::Builder::new()
            .prefix("postbooth-bad-input-")
            .tempdir()
            .unwrap();
        let config = dir.path().join("config.toml");
        let store = dir.path().join("store");
        let token = dir.path().join("token");
        write_private(&token, &format!("{TOKEN}\n"), 0o600);
        let port = free_port();
        let mut entries: Vec<(String, String, String)> = [
            ("instagram", "graph_url", quoted(graph_url)),
            ("instagram", "user_id", quoted(USER_ID)),
            (
                "instagram",
                "access_token_file",
                quoted(&token.display().to_string()),
            ),
            ("instagram", "request_timeout_secs", "2".into()),
            ("media", "host", quoted("serve")),
            ("media", "listen", quoted(&format!("127.0.0.1:{port}"))),
            (
                "media",
                "public_base_url",
                quoted(&format!("http://127.0.0.1:{port}")),
            ),
            ("camera", "kind", quoted("test-pattern")),
            ("display", "kind", quoted("none")),
            ("store", "dir", quoted(&store.display().to_string())),
            ("store", "min_free_mib", "1".into()),
            ("publish", "backoff_base_ms", "50".into()),
            ("publish", "backoff_cap_ms", "200".into()),
            ("publish", "poll_interval_ms", "50".into()),
            // Many booths run at once: no web pages unless a test asks for them.
            ("web", "listen", quoted("")),
        ]
        .into_iter()
        .map(|(s, k, v)| (s.to_string(), k.to_string(), v))
        .collect();
        for (section, key, value) in overrides {
            entries.retain(|(s, k, _)| !(s == section && k == key));
            if let Some(value) = value {
                entries.push((section.to_string(), key.to_string(), value.to_string()));
            }
        }
        // A store moved elsewhere (a tmpfs, the power-cut filesystem) is where the socket is.
        let store = entries
            .iter()
            .find(|(s, k, _)| s == "store" && k == "dir")
            .and_then(|(_, _, v)| serde_json::from_str::<String>(v).ok())
            .map_or(store, PathBuf::from);
        let mut text = String::new();
        let mut sections: Vec<&str> = Vec::new();
        for (s, _, _) in &entries {
            if !sections.contains(&s.as_str()) {
                sections.push(s);
            }
        }
        for section in sections {
            text.push_str(&format!("[{section}]\n"));
            for (_, key, value) in entries.iter().filter(|(s, _, _)| s == section) {
                text.push_str(&format!("{key} = {value}\n"));
            }
            text.push('\n');
        }
        std::fs::write(&config, text).unwrap();
        Booth {
            dir,
            config,
            store,
            token,
        }
    }

    /// Replaces the config file with `text`, as an operator's typo would.
    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn config_path(&self) -> String {
        self.config.display().to_string()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = postbooth_command();
        cmd.arg("--config").arg(&self.config).args(args);
        cmd
    }

    pub fn postbooth(&self, args: &[&str]) -> Out {
        run_to_end(self.command(args))
    }

    pub fn socket(&self) -> PathBuf {
        self.store.join("control.sock")
    }

    /// `queue list --json`, which must succeed.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let out = self.postbooth(&["queue", "list", "--json"]);
        assert!(out.status.success(), "queue list failed\n{}", out.both());
        out.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}\n{}", out.both()))
            })
            .collect()
    }

    /// `shoot`, which must succeed and print a job id.
    pub fn shoot(&self) -> String {
        let out = self.postbooth(&["shoot"]);
        assert!(out.status.success(), "shoot failed\n{}", out.both());
        let id = out.stdout.trim().to_string();
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "shoot printed {id:?}, not a job id\n{}",
            out.both()
        );
        id
    }

    /// Starts `postbooth run` with extra environment variables, without waiting for it. Its
    /// output is appended to `<name>.log`, so restarts under one name keep one log.
    pub fn spawn_daemon(&self, name: &str, env: &[(&str, &str)]) -> Daemon {
        let log = self.dir.path().join(format!("{name}.log"));
        let append = |path: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap()
        };
        let mut cmd = self.command(&["run"]);
        without_proxies(&mut cmd)
            .stdin(Stdio::null())
            .stdout(append(&self.dir.path().join(format!("{name}.out"))))
            .stderr(append(&log));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = spawn(&mut cmd);
        Daemon { child, log }
    }

    /// Starts `postbooth run` and waits for its control socket.
    pub fn start_daemon(&self, name: &str) -> Daemon {
        let mut daemon = self.spawn_daemon(name, &[]);
        let deadline = Instant::now() + DEADLINE;
        while !self.socket().exists() {
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!(
                    "postbooth run exited early ({status}):\n{}",
                    daemon.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no control socket after {DEADLINE:?}:\n{}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    /// The config as the daemon reads it, for starting one in-process.
    pub fn config(&self) -> postbooth::config::Config {
        postbooth::config::Config::load(&self.config).unwrap()
    }
}

/// A `postbooth run` child, killed on drop so a failing test leaves nothing behind.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, as systemd stops it; returns its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid; it has not been reaped yet (no wait so far
        // returned), so the pid cannot belong to another process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "postbooth run did not stop after SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal to the child.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Waits for the child to exit; `None` if it is still running at the deadline.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
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

    /// Where each of the running child's threads waits, one line each (name, state, kernel
    /// wait channel, syscall): for a test that finds the daemon silent, to tell a process
    /// stuck in the kernel (a FUSE request, a lock) from one that is only slow.
    pub fn threads(&self) -> String {
        let task = format!("/proc/{}/task", self.child.id());
        let Ok(entries) = std::fs::read_dir(&task) else {
            return format!("{task}: gone");
        };
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        let mut lines: Vec<String> = entries
            .flatten()
            .map(|t| {
                let dir = t.path();
                let stat = read(dir.join("stat"));
                // The state follows the ")" that ends the thread's name.
                let state = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .next();
                format!(
                    "{} {} state {} wchan {} syscall {}",
                    t.file_name().to_string_lossy(),
                    read(dir.join("comm")).trim(),
                    state.unwrap_or("?"),
                    read(dir.join("wchan")).trim(),
                    read(dir.join("syscall"))
                        .split_whitespace()
                        .next()
                        .unwrap_or("?"),
                )
            })
            .collect();
        lines.sort();
        // Under an emulator the child is a fork of the test's own process until its exec
        // (qemu-user runs exec as a new qemu): the command line tells which it still is.
        let cmdline = read(PathBuf::from(format!("/proc/{}/cmdline", self.child.id())));
        format!(
            "command line: {}\n{}",
            cmdline.replace('\0', " "),
            lines.join("\n")
        )
    }

    /// SIGKILL, as a crash or power cut stops it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after the deadline.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The keys every publishing test's booth sets: a smaller camera (fast encodes), a 1 s request
/// timeout and short pauses.
pub const PUBLISH_TEST_KEYS: &[(&str, &str, Option<&str>)] = &[
    ("instagram", "caption", Some("\"test booth #{n} {time}\"")),
    ("instagram", "request_timeout_secs", Some("1")),
    ("camera", "width", Some("640")),
    ("camera", "height", Some("480")),
    ("publish", "backoff_cap_ms", Some("400")),
    ("publish", "auth_pause_secs", Some("1")),
];

/// A booth for the publishing tests: [`Booth::new`] with [`PUBLISH_TEST_KEYS`].
pub fn setup(graph_url: &str) -> Booth {
    Booth::new(graph_url, PUBLISH_TEST_KEYS)
}

/// [`setup`] with more keys set, e.g. `("instagram", "carousel_shots", "3")`.
pub fn setup_with(graph_url: &str, extra: &[(&str, &str, &str)]) -> Booth {
    let mut overrides = PUBLISH_TEST_KEYS.to_vec();
    for (section, key, value) in extra {
        overrides.retain(|(s, k, _)| !(s == section && k == key));
        overrides.push((section, key, Some(value)));
    }
    Booth::new(graph_url, &overrides)
}

/// The number in the environment variable `name` (how long a run is, which seed reproduces
/// it), or `default` when it is unset. A value that is not a number stops the test: a typo
/// must not quietly run the default instead.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number: unset it or give one")),
        Err(_) => default,
    }
}

/// Exactly once: every acknowledged photo (job id -> sha256 of its image, as the simulator
/// counts `publishes` by image) was published once, and no image more than once. `context`
/// (the seed that reproduces the run) goes in every message.
pub fn assert_published_once(
    publishes: &std::collections::BTreeMap<String, u32>,
    acknowledged: &std::collections::BTreeMap<uuid::Uuid, String>,
    context: &str,
) {
    for (id, sha) in acknowledged {
        assert_eq!(
            publishes.get(sha),
            Some(&1),
            "{context}: acknowledged job {id} published {:?} times",
            publishes.get(sha)
        );
    }
    let duplicates: Vec<_> = publishes.iter().filter(|(_, &n)| n != 1).collect();
    assert!(
        duplicates.is_empty(),
        "{context}: images published more than once: {duplicates:?}"
    );
}

pub fn free_port() -> u16 {
    postbooth::demo::free_port().unwrap()
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

/// Waits (up to `within`) for a just-started daemon to answer on `socket`; `false` if it
/// exited first or never answered.
pub async fn comes_up(daemon: &mut Daemon, socket: &Path, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        while !answers(socket).await {
            if daemon.child.try_wait().unwrap().is_some() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    })
    .await
    .unwrap_or(false)
}

/// Is a daemon answering on `socket`?
pub async fn answers(socket: &Path) -> bool {
    matches!(
        postbooth::control::call(socket, &postbooth::control::Request::List).await,
        Ok(Some(_))
    )
}

/// Waits (up to `within`) until an in-process daemon's store holds jobs and every one is
/// `Done`, and returns them.
pub async fn all_done(
    daemon: &postbooth::daemon::Daemon,
    within: Duration,
) -> Vec<postbooth::job::Job> {
    let store = daemon.store.clone();
    eventually(within, "every job Done", || {
        let store = store.clone();
        async move {
            let jobs = store.blocking(|s| s.jobs()).await.unwrap();
            (!jobs.is_empty() && jobs.iter().all(|j| j.state.name() == "Done")).then_some(jobs)
        }
    })
    .await
}

/// `queue list --json` (and every `doctor_every`-th time `doctor`) run over and over in the
/// background, as a monitoring script or `watch` would, while a test starts and kills the
/// daemon. Every `queue list` must succeed: a starting booth makes it wait, never fail.
pub struct QueueRacer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<RaceCount>>,
}

#[derive(Debug, Default)]
pub struct RaceCount {
    pub lists: usize,
    pub doctors: usize,
    /// `queue list` runs that failed, with what they said.
    pub failed: Vec<String>,
}

impl QueueRacer {
    pub fn start(config: &Path, doctor_every: usize) -> QueueRacer {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let config = config.to_path_buf();
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut count = RaceCount::default();
                while !stop.load(Ordering::Relaxed) {
                    let mut cmd = postbooth_command();
                    cmd.arg("--config").arg(&config);
                    if doctor_every > 0 && (count.lists + 1) % doctor_every == 0 {
                        cmd.arg("doctor");
                        let _ = run_to_end(cmd);
                        count.doctors += 1;
                    } else {
                        cmd.args(["queue", "list", "--json"]);
                        let out = run_to_end(cmd);
                        if !out.status.success() {
                            count.failed.push(out.both());
                        }
                    }
                    count.lists += 1;
                }
                count
            }
        });
        QueueRacer {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> RaceCount {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for QueueRacer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
