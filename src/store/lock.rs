//! One lock for the whole store, taken before anything in it is touched.
//!
//! The daemon, the offline `queue` commands and `doctor` may all open the same store. Every
//! clean-up step on open (temporary photo files, half-written sled snapshots, adopting orphan
//! photos, moving a damaged queue aside) deletes or rewrites files that another process could
//! be in the middle of writing, and sled's own lock is taken only after some of them. So each
//! process first takes an exclusive `flock` on `<store>/lock`, and holds it for as long as the
//! store is open. The holder writes its pid into the file, so a waiter can say who holds it.

use super::StoreError;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const LOCK_FILE: &str = "lock";

/// How often a waiter tries the lock again.
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// The held lock; dropping it (or the process ending, even by SIGKILL) releases it.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// What a waiter learns each time the lock is still held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The holder's pid, when it has written it yet.
    pub pid: Option<u32>,
    /// How long this waiter has waited so far.
    pub waited: Duration,
}

pub fn lock_path(store_dir: &Path) -> PathBuf {
    store_dir.join(LOCK_FILE)
}

impl StoreLock {
    /// Takes the lock if nobody holds it. `Ok(None)` while another open file holds it (another
    /// process, or another open store in this one).
    pub fn try_acquire(store_dir: &Path) -> Result<Option<Self>, StoreError> {
        let path = lock_path(store_dir);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(StoreError::at(&path))?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => Ok(None),
                _ => Err(StoreError::at(&path)(e)),
            };
        }
        // Only for messages: nothing decides on it, so it need not be durable.
        let pid = std::process::id().to_string();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(pid.as_bytes()))
            .map_err(StoreError::at(&path))?;
        Ok(Some(Self { _file: file }))
    }

    /// Takes the lock, waiting up to `wait` for a holder to let go. `waiting` is called about
    /// every 50 ms while it waits (to log and show it); it may end the wait early by returning
    /// `false` (a daemon that finds another daemon answering). A holder that stays past `wait`
    /// is [`StoreError::InUse`], with its pid.
    pub fn acquire(
        store_dir: &Path,
        wait: Duration,
        mut waiting: impl FnMut(Held) -> bool,
    ) -> Result<Self, StoreError> {
        let start = Instant::now();
        loop {
            if let Some(lock) = Self::try_acquire(store_dir)? {
                return Ok(lock);
            }
            let held = Held {
                pid: holder_pid(store_dir),
                waited: start.elapsed(),
            };
            if held.waited >= wait || !waiting(held) {
                return Err(StoreError::InUse {
                    dir: store_dir.to_path_buf(),
                    pid: held.pid,
                });
            }
            std::thread::sleep(RETRY_EVERY.min(wait.saturating_sub(held.waited)));
        }
    }
}

/// The pid the lock's holder wrote, if any (it may not have written it yet).
pub fn holder_pid(store_dir: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(lock_path(store_dir))
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_is_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = StoreLock::try_acquire(dir.path()).unwrap().expect("free");
        // flock is per open file: a second open in this process is refused like another process.
        assert!(StoreLock::try_acquire(dir.path()).unwrap().is_none());
        assert_eq!(holder_pid(dir.path()), Some(std::process::id()));
        let mut calls = 0;
        let err = StoreLock::acquire(dir.path(), Duration::from_millis(200), |held| {
            calls += 1;
            assert_eq!(held.pid, Some(std::process::id()));
            true
        })
        .unwrap_err();
        assert!(calls >= 1);
        let text = err.to_string();
        assert!(text.contains(&std::process::id().to_string()), "{text}");
        assert!(text.contains("in use"), "{text}");
        drop(first);
        assert!(StoreLock::try_acquire(dir.path()).unwrap().is_some());
    }

    #[test]
    fn a_waiter_gets_the_lock_once_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = StoreLock::try_acquire(dir.path()).unwrap().expect("free");
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            StoreLock::acquire(&path, Duration::from_secs(60), |_| true).map(|_| ())
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
        waiter.join().unwrap().expect("the waiter takes the lock");
    }

    #[test]
    fn a_waiter_can_give_up_early() {
        let dir = tempfile::tempdir().unwrap();
        let _first = StoreLock::try_acquire(dir.path()).unwrap().expect("free");
        let err = StoreLock::acquire(dir.path(), Duration::from_secs(60), |_| false).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }));
    }
}
