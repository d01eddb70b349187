//! The job queue in sled 0.34, with the durability sled does not give by itself
//! (DESIGN.md, "sled 0.34.7 does not keep its own promise"): after every flush we fsync the
//! `db` file ourselves, new databases get their files and directories fsync'd, and a
//! half-written snapshot left by a crash is removed before opening.

use super::{durable, JobStore, StoreError};
use crate::job::Job;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use uuid::Uuid;

pub struct SledJobStore {
    dir: PathBuf,
    /// `None` after an I/O error: sled 0.34 remembers the first I/O error (a full disk, EIO)
    /// and fails every later call with it, so the booth would never recover without a
    /// restart. We drop that instance and open the queue again on the next call instead.
    open: RwLock<Option<Open>>,
}

struct Open {
    db: sled::Db,
    jobs: sled::Tree,
    /// sled's main file; `Db::flush` only `sync_file_range`s it, so we `sync_all` it too.
    db_file: File,
}

impl SledJobStore {
    /// Opens (or creates) the queue in `dir`. An error here means sled will not open; the
    /// caller decides whether to move the directory aside and rebuild.
    /// Without `create`, a queue that does not exist yet is [`StoreError::NoStore`].
    pub fn open(dir: &Path, create: bool) -> Result<Self, StoreError> {
        if !create && !dir.join("db").exists() {
            return Err(StoreError::NoStore(dir.to_path_buf()));
        }
        let open = open_db(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            open: RwLock::new(Some(open)),
        })
    }

    /// Runs `f` on the open database, reopening it first if an I/O error closed it. An I/O
    /// error from `f` closes it (what was not durable is lost, as after a power cut: nothing
    /// was acknowledged for it).
    fn with<T>(&self, f: impl FnOnce(&Open) -> Result<T, StoreError>) -> Result<T, StoreError> {
        {
            let guard = self.open.read().unwrap_or_else(|e| e.into_inner());
            if let Some(open) = guard.as_ref() {
                let result = f(open);
                if !result.as_ref().is_err_and(StoreError::is_io) {
                    return result;
                }
                drop(guard);
                let mut guard = self.open.write().unwrap_or_else(|e| e.into_inner());
                if guard.take().is_some() {
                    tracing::warn!(dir = %self.dir.display(), "the queue database hit an I/O error; it will be reopened on next use");
                }
                return result;
            }
        }
        let mut guard = self.open.write().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(open_db(&self.dir)?);
            tracing::info!(dir = %self.dir.display(), "reopened the queue database after an I/O error");
        }
        let open = guard.as_ref().expect("just opened");
        let result = f(open);
        if result.as_ref().is_err_and(StoreError::is_io) {
            *guard = None;
        }
        result
    }
}

/// sled's page cache. Its default (1 GiB) is more than a Pi Zero 2 W or a Pi 3 has: sled then
/// lowers it to the RAM size and logs an ERROR at every start (seen on the emulated 1 GiB board,
/// scripts/board-test.sh). The queue holds small records (never image bytes): a few MiB cache
/// thousands of them.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The caller holds the store lock (`store::lock`), so no other process has sled open here:
/// a `snap.*.generating` file is a crash's leftover, not a snapshot being written. Removing it
/// is not a repair (sled would misread it as the newest snapshot), so readers do it too.
fn open_db(dir: &Path) -> Result<Open, StoreError> {
    let fresh = !dir.join("db").exists();
    remove_half_written_snapshots(dir)?;
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(CACHE_BYTES)
        .flush_every_ms(Some(500))
        .open()
        .map_err(|e| open_error(dir, e))?;
    let jobs = db.open_tree("jobs").map_err(|e| open_error(dir, e))?;
    if fresh {
        db.flush().map_err(sled_err)?;
        sync_new_database(dir)?;
    }
    let db_path = dir.join("db");
    let db_file = File::open(&db_path).map_err(StoreError::at(&db_path))?;
    Ok(Open { db, jobs, db_file })
}

impl Open {
    /// Makes everything written so far durable.
    fn flush_durably(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(sled_err)?;
        self.db_file.sync_all()?;
        Ok(())
    }
}

impl JobStore for SledJobStore {
    fn put(&self, job: &Job) -> Result<(), StoreError> {
        let value = serde_json::to_vec(job).expect("jobs serialize");
        self.with(|o| {
            o.jobs.insert(job.id.as_bytes(), value).map_err(sled_err)?;
            o.flush_durably()
        })
    }

    fn get(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        self.with(|o| match o.jobs.get(id.as_bytes()).map_err(sled_err)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        })
    }

    fn list(&self) -> Result<Vec<Job>, StoreError> {
        // Keys are UUIDv7 bytes: key order is creation order, oldest first.
        self.with(|o| {
            o.jobs
                .iter()
                .values()
                .map(|v| decode(&v.map_err(sled_err)?))
                .collect()
        })
    }

    fn remove(&self, id: Uuid) -> Result<(), StoreError> {
        self.with(|o| {
            o.jobs.remove(id.as_bytes()).map_err(sled_err)?;
            o.flush_durably()
        })
    }
}

/// Sorts sled's open errors: another process holding sled's own lock is not damage (moving
/// the directory aside would be a disaster; our store lock makes it rare: an older postbooth,
/// say), nor is a permission problem; the rest is.
fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::InUse {
                dir: dir.to_path_buf(),
                pid: None,
            }
        }
        sled::Error::Io(io) if io.kind() != std::io::ErrorKind::InvalidData => StoreError::Io(io),
        other => StoreError::Corrupt {
            dir: dir.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

fn decode(bytes: &[u8]) -> Result<Job, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::BadRecord(e.to_string()))
}

fn sled_err(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) => StoreError::Io(io),
        other => StoreError::Sled(other.to_string()),
    }
}

/// sled picks the newest `snap.*` on open, even a `snap.*.generating` a crash left half
/// written, and then refuses to open (sled #1527, #1533). Those files are temporary by
/// definition; without them sled opens with the data intact.
fn remove_half_written_snapshots(dir: &Path) -> Result<(), StoreError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %entry.path().display(), "removing a half-written sled snapshot left by a crash");
            fs::remove_file(entry.path()).map_err(StoreError::at(&entry.path()))?;
        }
    }
    Ok(())
}

/// sled never fsyncs a new database's `conf`, its `blobs/` or the directories: do it once.
fn sync_new_database(dir: &Path) -> Result<(), StoreError> {
    for file in ["conf", "db"] {
        let path: PathBuf = dir.join(file);
        if path.exists() {
            File::open(&path)?.sync_all()?;
        }
    }
    if dir.join("blobs").is_dir() {
        durable::sync_dir(&dir.join("blobs"))?;
    }
    durable::sync_dir(dir)?;
    if let Some(parent) = dir.parent() {
        durable::sync_dir(parent)?;
    }
    Ok(())
}
