//! Camera tools run as child processes (rpicam-vid, rpicam-still, gphoto2): found on `PATH`,
//! never waited for without a deadline, killed and reaped before the next one starts.
//!
//! A child process is the failure boundary: a camera library that hangs (libgphoto2 on a
//! confused USB camera, libcamera on a stuck sensor) hangs its own process, which is killed
//! after a timeout; the daemon, its button and its watchdog go on.

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines of a tool's stderr kept for error messages.
const STDERR_LINES: usize = 20;

/// The first of `names` found in a `PATH` directory as an executable file.
pub fn find_tool(names: &[&str]) -> Option<PathBuf> {
    find_tool_in(&std::env::var_os("PATH")?, names)
}

/// [`find_tool`] in the directories of `path` (a `PATH` value).
pub fn find_tool_in(path: &std::ffi::OsStr, names: &[&str]) -> Option<PathBuf> {
    for name in names {
        for dir in std::env::split_paths(path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running tool. Dropping it stops it (SIGTERM, then SIGKILL) and reaps it, so the camera is
/// free once the drop returns.
pub struct Proc {
    child: Child,
    name: String,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_thread: Option<std::thread::JoinHandle<()>>,
    reaped: Option<ExitStatus>,
}

impl Proc {
    /// Starts `program args` with stdout piped (take it with [`take_stdout`](Self::take_stdout))
    /// and stderr collected. The child gets SIGKILL if the thread that started it dies, so a
    /// crashed daemon leaves no camera tool holding the camera.
    pub fn spawn(program: &Path, args: &[String]) -> std::io::Result<Proc> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe and touches only the new process.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let name = program.file_name().map_or_else(
            || program.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let pipe = child.stderr.take();
        let lines = stderr.clone();
        let stderr_thread = std::thread::Builder::new()
            .name(format!("{name}-stderr"))
            .spawn(move || {
                let Some(mut pipe) = pipe else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Lines as they come, so a running tool's errors can be read while it runs.
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(i) = buf.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=i).collect();
                        push_line(&lines, &line);
                    }
                }
                if !buf.is_empty() {
                    push_line(&lines, &buf);
                }
            })
            .ok();
        Ok(Proc {
            child,
            name,
            stderr,
            stderr_thread,
            reaped: None,
        })
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What it printed on stderr so far (the last lines), one line per line.
    pub fn stderr_text(&self) -> String {
        let lines = self.stderr.lock().expect("stderr lines");
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Its exit status if it has exited (reaping it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().ok().flatten();
        }
        self.reaped
    }

    /// Waits until it exits, at most `timeout`; then the stderr reader has seen everything.
    pub fn wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                if let Some(t) = self.stderr_thread.take() {
                    let _ = t.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Asks it to stop (SIGTERM: the tools release the camera cleanly), kills it after a
    /// second, and reaps it. Returns its exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        // SAFETY: kill(2) on our own child, not yet reaped (try_wait said it runs).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        if let Some(status) = self.wait_for(Duration::from_secs(1)) {
            return Some(status);
        }
        tracing::warn!(tool = %self.name, pid = self.child.id(), "did not stop on SIGTERM: killed");
        let _ = self.child.kill();
        self.reaped = self.child.wait().ok();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        self.reaped
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn push_line(lines: &Mutex<VecDeque<String>>, line: &[u8]) {
    let text = String::from_utf8_lossy(line).trim_end().to_string();
    if text.is_empty() {
        return;
    }
    let mut lines = lines.lock().expect("stderr lines");
    if lines.len() == STDERR_LINES {
        lines.pop_front();
    }
    lines.push_back(text);
}

/// What a tool run to its end left.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub took: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{tool} could not be started: {source}")]
    Spawn {
        tool: String,
        source: std::io::Error,
    },
    #[error("{tool} did not finish within {} s and was killed{}", .after.as_secs(), stderr_suffix(.stderr))]
    TimedOut {
        tool: String,
        after: Duration,
        stderr: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    match stderr.lines().last() {
        Some(line) => format!(" (it said: {line})"),
        None => String::new(),
    }
}

/// Runs `program args` to its end, collecting stdout in memory (at most `max_stdout` bytes;
/// more is an error the caller sees as a truncated file). Kills it after `timeout`.
pub fn run(
    program: &Path,
    args: &[String],
    timeout: Duration,
    max_stdout: usize,
) -> Result<Ran, RunError> {
    let start = Instant::now();
    let tool = program.file_name().map_or_else(
        || program.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let mut proc = Proc::spawn(program, args).map_err(|source| RunError::Spawn {
        tool: tool.clone(),
        source,
    })?;
    let stdout = proc.take_stdout();
    let reader = std::thread::Builder::new()
        .name(format!("{tool}-stdout"))
        .spawn(move || {
            let mut out = Vec::new();
            if let Some(pipe) = stdout {
                let _ = pipe.take(max_stdout as u64).read_to_end(&mut out);
            }
            out
        })
        .expect("spawning a reader thread");
    match proc.wait_for(timeout) {
        Some(status) => {
            let stdout = reader.join().unwrap_or_default();
            Ok(Ran {
                status,
                stdout,
                stderr: proc.stderr_text(),
                took: start.elapsed(),
            })
        }
        None => {
            proc.stop();
            let _ = reader.join();
            Err(RunError::TimedOut {
                tool,
                after: timeout,
                stderr: proc.stderr_text(),
            })
        }
    }
}

/// Splits a tool's stdout into JPEG frames on a thread of its own (`name`), handing each
/// whole frame over a small channel; the thread ends when the pipe closes or the receiver
/// is dropped. Both streaming tools (rpicam-vid, gphoto2's live view) are read this way.
pub fn read_frames(
    name: &str,
    stdout: Option<ChildStdout>,
) -> std::io::Result<std::sync::mpsc::Receiver<Vec<u8>>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let Some(mut pipe) = stdout else { return };
            let mut splitter = crate::pipeline::mjpeg::Splitter::new();
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                for frame in splitter.feed(&buf[..n]) {
                    if tx.send(frame).is_err() {
                        return;
                    }
                }
            }
        })?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> (PathBuf, Vec<String>) {
        (PathBuf::from("/bin/sh"), vec!["-c".into(), script.into()])
    }

    #[test]
    fn a_tool_is_found_on_path_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("rpicam-vid");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        let empty = tempfile::tempdir().unwrap();
        let path = std::env::join_paths([empty.path(), dir.path()]).unwrap();
        // Not executable: not a tool.
        assert_eq!(find_tool_in(&path, &["rpicam-vid"]), None);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            find_tool_in(&path, &["libcamera-vid", "rpicam-vid"]),
            Some(tool)
        );
    }

    #[test]
    fn run_collects_output_and_kills_what_hangs() {
        let (p, a) = sh("printf 'abc'; echo 'ERROR: *** bad ***' >&2; exit 3");
        let ran = run(&p, &a, Duration::from_secs(20), 1 << 20).unwrap();
        assert_eq!(ran.stdout, b"abc");
        assert_eq!(ran.status.code(), Some(3));
        assert_eq!(ran.stderr, "ERROR: *** bad ***");

        let (p, a) = sh("echo waiting >&2; exec sleep 30");
        let err = run(&p, &a, Duration::from_millis(300), 1 << 20).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("did not finish") && msg.contains("waiting"),
            "{msg}"
        );
    }

    #[test]
    fn stop_reaps_even_a_tool_that_ignores_sigterm() {
        let (p, a) = sh("trap '' TERM; while true; do sleep 0.05; done");
        let mut proc = Proc::spawn(&p, &a).unwrap();
        let pid = proc.id() as libc::pid_t;
        std::thread::sleep(Duration::from_millis(100));
        let status = proc.stop().expect("reaped");
        assert!(!status.success());
        // SAFETY: probing a pid we reaped; 0 = exists.
        assert_eq!(unsafe { libc::kill(pid, 0) }, -1, "gone and reaped");
    }
}
