//! One lock for the whole store, taken before anything in it is touched.
//!
//! The daemon, the offline `queue` commands and `doctor` may all open the same store. Every
//! clean-up step on open (temporary photo files, half-written sled snapshots, adopting orphan
//! photos, moving a damaged queue aside) deletes or rewrites files that another process could
//! be in the middle of writing, and sled's own lock is taken only after some of them. So each
//! process first takes an exclusive `flock` on `<store>/lock`, and holds it for as long as the
//! store is open. The holder writes its pid into the file, so a waiter can say who holds it.
//!
//! The booth (the daemon) goes first. Polling a lock is not fair: a loop of `queue list`
//! commands, each taking the store for a moment, can keep a starting booth out for its whole
//! wait (seen in the power-cut test, where opening the queue on a slow disk takes seconds).
//! So the booth first takes `<store>/lock.booth` and keeps it while it runs; a command that
//! finds it taken gives way as if the store were held, and asks the booth instead.

use super::StoreError;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const LOCK_FILE: &str = "lock";
/// Taken by the booth before it waits for [`LOCK_FILE`], held while it runs.
pub const BOOTH_FILE: &str = "lock.booth";

/// Who opens the store: the booth itself, or a command (or `doctor`), which gives way to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Opener {
    Booth,
    #[default]
    Command,
}

/// How often a waiter tries the lock again.
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// The held lock; dropping it (or the process ending, even by SIGKILL) releases it.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    /// The booth's claim ([`BOOTH_FILE`]), when the booth opened the store.
    _claim: Option<File>,
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
    /// process, or another open store in this one). Only the tests take it without
    /// [`acquire`](Self::acquire)'s rules (the booth first).
    #[cfg(test)]
    pub fn try_acquire(store_dir: &Path) -> Result<Option<Self>, StoreError> {
        Ok(lock_file(&lock_path(store_dir))?.map(|file| Self {
            _file: file,
            _claim: None,
        }))
    }

    /// Takes the lock, waiting up to `wait` for a holder to let go. `waiting` is called about
    /// every 50 ms while it waits (to log and show it); it may end the wait early by returning
    /// `false` (a daemon that finds another daemon answering). A holder that stays past `wait`
    /// is [`StoreError::InUse`], with its pid.
    pub fn acquire(
        store_dir: &Path,
        opener: Opener,
        wait: Duration,
        mut waiting: impl FnMut(Held) -> bool,
    ) -> Result<Self, StoreError> {
        let start = Instant::now();
        let mut claim = None;
        loop {
            if opener == Opener::Booth && claim.is_none() {
                claim = lock_file(&store_dir.join(BOOTH_FILE))?;
            }
            let my_turn = match opener {
                Opener::Booth => claim.is_some(),
                Opener::Command => !booth_claims(store_dir)?,
            };
            if my_turn {
                if let Some(file) = lock_file(&lock_path(store_dir))? {
                    return Ok(Self {
                        _file: file,
                        _claim: claim,
                    });
                }
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

/// Takes an exclusive `flock` on `path` (made if missing) and writes this pid into it;
/// `Ok(None)` while another open file holds it.
fn lock_file(path: &Path) -> Result<Option<File>, StoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(StoreError::at(path))?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Ok(None),
            _ => Err(StoreError::at(path)(e)),
        };
    }
    // Only for messages: nothing decides on it, so it need not be durable.
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(pid.as_bytes()))
        .map_err(StoreError::at(path))?;
    Ok(Some(file))
}

/// Whether a booth holds (or waits for) the store. Only looks: nothing is created.
fn booth_claims(store_dir: &Path) -> Result<bool, StoreError> {
    let path = store_dir.join(BOOTH_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::at(&path)(e)),
    };
    // A shared lock is refused only while the booth holds its exclusive one; closing the file
    // lets go of it again.
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Ok(true),
            _ => Err(StoreError::at(&path)(e)),
        };
    }
    Ok(false)
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
        let err = StoreLock::acquire(
            dir.path(),
            Opener::Command,
            Duration::from_millis(200),
            |held| {
                calls += 1;
                assert_eq!(held.pid, Some(std::process::id()));
                true
            },
        )
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
            StoreLock::acquire(&path, Opener::Command, Duration::from_secs(60), |_| true)
                .map(|_| ())
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
        waiter.join().unwrap().expect("the waiter takes the lock");
    }

    #[test]
    fn a_waiting_booth_is_not_overtaken_by_commands() {
        let dir = tempfile::tempdir().unwrap();
        let command = StoreLock::try_acquire(dir.path()).unwrap().expect("free");
        let path = dir.path().to_path_buf();
        let booth = std::thread::spawn(move || {
            StoreLock::acquire(&path, Opener::Booth, Duration::from_secs(60), |_| true)
        });
        while !booth_claims(dir.path()).unwrap() {
            std::thread::sleep(Duration::from_millis(5));
        }
        // The first command lets go; the next one gives way although the store is free now.
        drop(command);
        let err = StoreLock::acquire(dir.path(), Opener::Command, Duration::ZERO, |_| true);
        assert!(matches!(err, Err(StoreError::InUse { .. })), "{err:?}");
        let held = booth.join().unwrap().expect("the booth takes the store");
        assert!(booth_claims(dir.path()).unwrap());
        drop(held);
        assert!(!booth_claims(dir.path()).unwrap());
        StoreLock::acquire(dir.path(), Opener::Command, Duration::ZERO, |_| true)
            .expect("free again once the booth is gone");
    }

    #[test]
    fn a_waiter_can_give_up_early() {
        let dir = tempfile::tempdir().unwrap();
        let _first = StoreLock::try_acquire(dir.path()).unwrap().expect("free");
        let err = StoreLock::acquire(dir.path(), Opener::Command, Duration::from_secs(60), |_| {
            false
        })
        .unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }));
    }
}
